"""`cryptoterm record --store`: headless recording into the history store, checked
against the simulator's own ids; SIGTERM flushes and exits 0; kill -9 loses at most the
last second; a restart fills the hole it left from REST."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from tests.waiting import wait

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def sim_config(tmp_path: Path, sim, book_interval: float = 1.0) -> Path:
    cfg = tmp_path / "sim.toml"
    cfg.write_text(f'[venues.binance.live]\nws_url = "{sim.ws_url}"\nrest_url = "{sim.rest_url}"\n'
                   f'[venues.binanceusdm.live]\nws_url = "{sim.ws_url}"\nrest_url = "{sim.rest_url}"\n'
                   f'[storage]\nbook_snapshot_interval = {book_interval}\n')
    return cfg


def rows(db: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def trade_ids(db: Path, instrument_id: str) -> list[int]:
    return sorted(int(r[0]) for r in rows(
        db, "SELECT t.trade_id FROM trades t JOIN instruments i ON i.key = t.inst WHERE i.id = ?",
        instrument_id))


def next_agg_id(sim, symbol: str = "BTCUSDT", market: str = "spot") -> int:
    """The aggregate trade id the simulator hands out next (read on its own loop)."""
    return sim.call(lambda: sim.sim.market.sim(symbol, market).agg_id)


@pytest.fixture
def sim():
    thread = BinanceSimThread(default_demo_symbols(), seed=5, rate=60.0).start()
    yield thread
    thread.stop()


def test_needs_store_or_raw_and_db_needs_store(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "record", "--demo", "--duration", "1")
    assert rc == 2 and "record needs somewhere to write: --store" in err and "--raw FILE" in err
    rc, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "record", "--demo", "--raw",
                         str(tmp_path / "r.jsonl"), "--db", str(tmp_path / "x.db"), "--duration", "1")
    assert rc == 2 and "add --store to record into it" in err
    assert not (tmp_path / "x.db").exists()
    rc, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "record", "--store",
                         "--metrics-port", "70000", "--duration", "1")
    assert rc == 2 and "--metrics-port 70000: must be from 0 to 65535" in err


def test_store_records_trades_klines_funding_and_books(tmp_path, capsys, sim):
    db = tmp_path / "rec.db"
    raw = tmp_path / "rec.jsonl"
    rc, _, err = run_cli(capsys, "--config", str(sim_config(tmp_path, sim)), "--data-dir",
                         str(tmp_path / "data"), "record", "--store", "--db", str(db), "--raw", str(raw),
                         "--symbols", "BTC/USDT,BTC/USDT:USDT", "--duration", "4",
                         "--status-every", "1")
    assert rc == 0, err
    produced = next_agg_id(sim)
    status = [line for line in err.splitlines() if " msg/s " in line]
    assert status and all("binance" in line and "rows/s" in line and "lag " in line
                          and "reconn 0" in line for line in status), err
    assert "into sqlite:///" in err and f"to {raw}" in err
    for inst in ("cryptopair_binance_btcusdt", "cryptoperp_binance_btcusdt"):
        ids = trade_ids(db, inst)
        assert len(ids) > 20
        assert ids == list(range(ids[0], ids[-1] + 1))  # no trade lost or doubled in between
    assert trade_ids(db, "cryptopair_binance_btcusdt")[-1] < produced
    sources = dict(rows(db, "SELECT source, COUNT(*) FROM klines WHERE interval = '1m' GROUP BY 1"))
    assert sources.get("ws", 0) >= 2  # the venue's own candle of each instrument
    assert rows(db, "SELECT COUNT(*) FROM funding f JOIN instruments i ON i.key = f.inst "
                    "WHERE i.id = 'cryptoperp_binance_btcusdt'")[0][0] >= 1
    books = rows(db, "SELECT i.id, COUNT(*), MAX(b.depth) FROM book_snapshots b "
                     "JOIN instruments i ON i.key = b.inst GROUP BY 1")
    assert {b[0] for b in books} == {"cryptopair_binance_btcusdt", "cryptoperp_binance_btcusdt"}
    assert all(n >= 2 and depth == 20 for _, n, depth in books)  # one a second, top 20
    assert raw.stat().st_size > 0


def test_a_slow_market_list_is_not_reported_as_a_feed_without_data(tmp_path, capsys, sim):
    """The perp market list fails once, then loads: its step ("binance perp") hands over to
    the connections "binance perp public"/"market", which stream: nothing to report."""
    sim.call(lambda: sim.sim.fail_rest(503, 4.0, "/fapi/v1/exchangeInfo"))
    rc, _, err = run_cli(capsys, "--config", str(sim_config(tmp_path, sim)), "--data-dir",
                         str(tmp_path / "data"), "record", "--store", "--db", str(tmp_path / "s.db"),
                         "--symbols", "BTC/USDT:USDT", "--duration", "9")
    assert rc == 0, err
    assert sim.sim.rest_refused > 0  # the market list did fail first
    assert trade_ids(tmp_path / "s.db", "cryptoperp_binance_btcusdt")
    assert "binance perp" not in err, err


def _recorder(tmp_path: Path, sim, db: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(sim_config(tmp_path, sim)),
         "--data-dir", str(tmp_path / "data"), "record", "--store", "--db", str(db),
         "--symbols", "BTC/USDT", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored_count(db: Path) -> int:
    try:
        return rows(db, "SELECT COUNT(*) FROM trades")[0][0]
    except sqlite3.Error:
        return 0


def test_sigterm_flushes_and_exits_zero(tmp_path, sim):
    db = tmp_path / "term.db"
    proc = _recorder(tmp_path, sim, db, "--quiet")
    try:
        wait(lambda: _stored_count(db) > 10, timeout=30, what="trades in the store")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert err == ""  # --quiet: nothing on stderr
    produced = next_agg_id(sim)
    ids = trade_ids(db, "cryptopair_binance_btcusdt")
    assert ids == list(range(ids[0], ids[-1] + 1))
    assert produced - 1 - ids[-1] < 60 * 2  # what arrived before the signal is all there
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_kill_9_loses_at_most_the_last_second(tmp_path, sim):
    db = tmp_path / "kill.db"
    proc = _recorder(tmp_path, sim, db, "--quiet")
    try:
        wait(lambda: _stored_count(db) > 10, timeout=30, what="trades in the store")
        timeline: list[tuple[float, int]] = []  # (monotonic, next agg id) as the sim runs
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            timeline.append((time.monotonic(), next_agg_id(sim)))
            time.sleep(0.02)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
        proc.communicate()
    ids = trade_ids(db, "cryptopair_binance_btcusdt")
    assert ids == list(range(ids[0], ids[-1] + 1))  # a kill leaves no hole before the end
    # every trade the sim had printed a second before the kill is stored
    second_before = max(agg for t, agg in timeline if t <= killed_at - 1.0) - 1
    assert ids[-1] >= second_before, (ids[-1], second_before)
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_restart_backfills_the_klines_it_missed(tmp_path, capsys):
    """The sim runs 5 minutes behind the wall clock; between two recordings it is moved
    forward 3 minutes (the downtime): the restart fetches those minutes from REST before
    it streams, so the stored 1m klines run without a hole."""
    now = int(time.time() * 1000)
    sim = BinanceSimThread(default_demo_symbols(), seed=9, rate=60.0,
                           start_time_ms=now - 5 * 60_000).start()
    try:
        db = tmp_path / "restart.db"
        cfg = sim_config(tmp_path, sim)
        argv = ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "record", "--store",
                "--db", str(db), "--symbols", "BTC/USDT", "--duration", "3"]
        assert main(argv) == 0
        first = rows(db, "SELECT MIN(open_time), MAX(open_time) FROM klines WHERE interval = '1m'")[0]
        sim.call(lambda: sim.sim.pump(steps=5, dt_ms=3 * 60_000))  # the downtime
        assert main(argv) == 0
        err = capsys.readouterr().err
    finally:
        sim.stop()
    assert "catching up 1 instrument(s)" in err and "caught up" in err
    opens = [r[0] for r in rows(db, "SELECT k.open_time FROM klines k JOIN instruments i "
                                    "ON i.key = k.inst WHERE i.id = 'cryptopair_binance_btcusdt' "
                                    "AND k.interval = '1m' ORDER BY 1")]
    assert opens[0] == first[0] and opens[-1] >= first[1] + 3 * 60_000
    assert opens == list(range(opens[0], opens[-1] + 60_000, 60_000))  # no hole
    sources = dict(rows(db, "SELECT source, COUNT(*) FROM klines GROUP BY 1"))
    assert sources.get("rest", 0) >= 3  # the missed minutes came from REST


def test_top_n_records_each_venues_most_traded_markets(tmp_path, capsys):
    from app.sim.universe import listings, universe_symbols

    sim = BinanceSimThread(universe_symbols("binance", 8), seed=2, rate=20.0).start()
    try:
        db = tmp_path / "top.db"
        rc, _, err = run_cli(capsys, "--config", str(sim_config(tmp_path, sim)), "--data-dir",
                             str(tmp_path / "data"), "record", "--store", "--db", str(db),
                             "--top", "2", "--duration", "3")
    finally:
        sim.stop()
    assert rc == 0, err
    bases = [x.base.lower() for x in listings(8)[:2]]  # the universe's most traded first
    expected = {f"cryptopair_binance_{b}usdt" for b in bases} | {
        f"cryptoperp_binance_{b}usdt" for b in bases}
    traded = {r[0] for r in rows(db, "SELECT DISTINCT i.id FROM trades t "
                                     "JOIN instruments i ON i.key = t.inst")}
    assert traded == expected
    assert "binance: top 2: " in err
    rc, _, err = run_cli(capsys, "record", "--store", "--top", "2", "--symbols", "BTC/USDT")
    assert rc == 2 and "--top and --symbols both pick the symbols: give one of them" in err



def test_restart_catches_up_on_every_simulated_venue(tmp_path, capsys):
    """The catch-up fetches through each venue's own REST codec, so the venues whose
    REST ccxt cannot load from the simulators (Bybit's categories, Coinbase's products)
    are caught up like Binance and OKX: every venue's missing minutes come back."""
    from app.config import load_config
    from app.feeds.catchup import catch_up, stored_targets
    from app.feeds.engine import preliminary_instruments
    from app.sim.world import DemoWorld
    from storage.db import open_database

    db_path = tmp_path / "demo.db"
    argv = ["--data-dir", str(tmp_path / "data"), "record", "--store", "--demo", "--db",
            str(db_path), "--symbols", "BTC/USDT", "--duration", "3"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 0  # the restart: its catch-up must reach every venue
    err = capsys.readouterr().err
    assert "catch-up" not in err, err  # neither "catch-up skipped" nor "catch-up failed"
    assert "catching up 4 instrument(s)" in err and "klines of 4 instrument(s)" in err, err

    # a hole of ten minutes before what is stored, filled on every venue
    venues = ["binance", "okx", "bybit", "coinbase"]
    (tmp_path / "empty.toml").write_text("")
    cfg = load_config(tmp_path / "empty.toml", tmp_path / "data")
    world = DemoWorld(seed=7, rate=0.0, venues=venues).start()
    db = open_database(db_path, tmp_path)
    try:
        world.configure(cfg)
        targets = stored_targets(db, [i for v in venues
                                      for i in preliminary_instruments([v], ["BTC/USDT"])])
        now = int(time.time() * 1000) // 60_000 * 60_000
        since = {t.id: now - 10 * 60_000 for t in targets}
        result = catch_up(db, cfg, targets, since, until_ms=now - 60_000)
    finally:
        world.stop()
        db.dispose()
    assert result.problems == [] and result.instruments == 4
    assert {name.split()[0] for name, n in result.rows.items() if n >= 9} == set(venues), result.rows
