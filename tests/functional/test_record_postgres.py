"""Several recorders, one PostgreSQL: two `record --store` processes with overlapping
symbols write at once into a fresh database (a real server started by the test); no row
is doubled or lost (the simulator's trade ids run without a hole per instrument), and
the history CLI reads the result through the same URL the TUI's --db takes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from tests.functional.test_record_store import next_agg_id, sim_config
from tests.pg import fresh_database_url
from tests.waiting import wait

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = ("cryptopair_binance_btcusdt", "cryptopair_binance_ethusdt", "cryptopair_binance_solusdt")


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def _trades(url: str) -> int:
    try:
        return _query(url, "SELECT COUNT(DISTINCT inst) FROM trades")[0][0]
    except Exception:  # tables not created yet
        return 0


def test_two_recorders_with_overlapping_symbols_share_one_database(tmp_path, capsys):
    url = fresh_database_url()
    sim = BinanceSimThread(default_demo_symbols(), seed=8, rate=80.0).start()
    procs = []
    try:
        cfg = sim_config(tmp_path, sim)
        for n, symbols in enumerate(("BTC/USDT,ETH/USDT", "ETH/USDT,SOL/USDT")):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "app.cli", "--config", str(cfg), "--data-dir",
                 str(tmp_path / f"data{n}"), "record", "--store", "--db", url, "--symbols", symbols,
                 "--quiet"],
                cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        try:
            wait(lambda: _trades(url) == 3, timeout=40, what="both recorders writing")
            wait(lambda: _query(url, "SELECT COUNT(*) FROM trades")[0][0] > 600, timeout=30,
                 what="a few seconds of trades")
        except AssertionError as exc:
            for p in procs:
                p.terminate()
            raise AssertionError(f"{exc}: " + " / ".join(p.communicate(timeout=30)[1][-800:]
                                                         for p in procs)) from None
        for p in procs:
            p.send_signal(signal.SIGTERM)
        results = [p.communicate(timeout=30) for p in procs]
        produced = {s: next_agg_id(sim, s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    finally:
        for p in procs:
            p.kill()
        sim.stop()
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert err == ""
    ids = dict(_query(url, "SELECT id, key FROM instruments"))
    assert sorted(ids) == sorted(INSTRUMENTS)  # one row each, though both wrote ETH
    for inst, symbol in zip(INSTRUMENTS, ("BTCUSDT", "ETHUSDT", "SOLUSDT")):
        stored = [int(r[0]) for r in _query(
            url, f"SELECT trade_id FROM trades WHERE inst = {ids[inst]} ORDER BY ts, trade_id")]
        assert len(stored) == len(set(stored)) > 20  # nothing doubled
        assert sorted(stored) == list(range(min(stored), max(stored) + 1))  # nothing lost
        assert max(stored) < produced[symbol]
    dup = _query(url, "SELECT inst, interval, open_time, COUNT(*) FROM klines "
                      "GROUP BY 1, 2, 3 HAVING COUNT(*) > 1")
    assert dup == []
    # what the TUI's --db postgresql+psycopg://... reads: the same store
    capsys.readouterr()
    assert main(["--data-dir", str(tmp_path / "reader"), "history", "binance", "ETH/USDT", "1m",
                 "--db", url, "--format", "json"]) == 0
    out = capsys.readouterr().out
    stored_minutes = [r[0] for r in _query(url, "SELECT open_time FROM klines WHERE inst = "
                                                f"{ids[INSTRUMENTS[1]]} AND interval = '1m'")]
    assert stored_minutes and all(str(t) in out for t in stored_minutes), out


def test_recorders_starting_at_once_create_the_schema_once():
    """Several processes opening one fresh database at the same moment (recorders started
    together by systemd): each waits for the one creating the schema, none fails."""
    import threading

    from sqlalchemy import text

    from storage.db import create_db_engine
    from storage.migrations import latest_version, migrate

    for _ in range(3):
        url = fresh_database_url()
        engines = [create_db_engine(url) for _ in range(4)]
        barrier = threading.Barrier(len(engines))
        errors: list[BaseException] = []

        def open_it(engine) -> None:
            barrier.wait()
            try:
                migrate(engine)
            except BaseException as exc:  # collected: the assertion names it
                errors.append(exc)

        threads = [threading.Thread(target=open_it, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with engines[0].connect() as conn:
            stamps = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
        for e in engines:
            e.dispose()
        assert errors == []
        assert stamps == [latest_version()]


async def test_the_tui_browses_what_a_recorder_wrote_to_postgresql(tmp_path):
    """`cryptoterm --db postgresql+psycopg://...` then `h`: the history screen shows the
    candles a headless recorder stored there."""
    from app.ui import CryptotermApp
    from storage.db import open_database
    from tests.functional.test_history_screen import SIZE, RecordingSource, open_history
    from tests.harness import screen_text

    url = fresh_database_url()
    sim = BinanceSimThread(default_demo_symbols(), seed=6, rate=60.0).start()
    try:
        assert main(["--config", str(sim_config(tmp_path, sim)), "--data-dir", str(tmp_path / "d"),
                     "record", "--store", "--db", url, "--symbols", "BTC/USDT", "--duration", "3",
                     "--quiet"]) == 0
    finally:
        sim.stop()
    stored = [r[0] for r in _query(url, "SELECT k.open_time FROM klines k JOIN instruments i "
                                        "ON i.key = k.inst WHERE i.id = 'cryptopair_binance_btcusdt' "
                                        "AND k.interval = '1m' ORDER BY 1")]
    assert stored
    db = open_database(url, tmp_path)
    try:
        app = CryptotermApp(RecordingSource(db), "cryptopair_binance_btcusdt")
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_history(pilot)
            assert [k.open_time for k in screen.loaded.klines] == stored
            assert "History · BTC/USDT · binance spot · 1m" in screen_text(app)
    finally:
        db.dispose()
