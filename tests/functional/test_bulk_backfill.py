"""Bulk backfill against the simulators: venues and symbols at once, never over the
venue's weight limit, Retry-After honoured, resumable, and the command's output."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timezone

import pytest

from app.cli import main
from app.commands.bulk_backfill import VenueMarket, backfill_markets, fetcher
from app.feeds.rest import RestClient, WeightBudget
from app.market.instruments import Instrument
from app.market.klines import bucket_start
from app.sim.binance_server import BinanceSimThread
from app.sim.serving import FROZEN_NOW_MS
from app.sim.universe import universe_symbols
from storage import queries
from storage.bulk_backfill import FetchFailed, MarketRun, bulk_backfill, plan_targets
from storage.db import open_database

MIN = 60_000
NOW = bucket_start(FROZEN_NOW_MS, "1m")


@pytest.fixture(scope="module")
def sim():
    symbols = [s for s in universe_symbols("binance", 6) if s.market == "spot"]
    with BinanceSimThread(symbols, rate=0.0, start_time_ms=NOW, paused=True) as thread:
        yield thread


def spot(base: str) -> Instrument:
    return Instrument("binance", "spot", base, "USDT", f"{base}USDT")


BASES = ["BTC", "ETH", "SOL", "BNB", "XRP", "DOGE"]


def run(engine, sim, *, budget: int, window: float, since: int, concurrency: int = 4, retries: int = 3):
    rest = RestClient(sim.rest_url, WeightBudget(budget, window))

    async def go():
        try:
            market = VenueMarket("binance", "spot", [spot(b) for b in BASES], rest)
            return await backfill_markets(engine, [market], "1m", since, NOW - MIN,
                                          concurrency=concurrency, retries=retries)
        finally:
            await rest.close()

    (result,) = asyncio.run(go())
    return result


def complete(engine, since: int) -> bool:
    for base in BASES:
        inst = spot(base)
        if queries.gaps(engine, inst.id, "1m", since, NOW - MIN):
            return False
    return True


def test_the_budget_keeps_the_venue_from_ever_refusing(sim, tmp_path):
    engine = open_database(tmp_path / "a.db", tmp_path)
    sim.limit_rest_weight(60, window_s=2.0)
    try:
        since = NOW - 4_000 * MIN  # 4 pages per symbol, weight 2 each: 48 weight, two windows
        result = run(engine, sim, budget=40, window=2.0, since=since)
        assert (sim.sim.rest_limited, sim.sim.rest_banned) == (0, 0)
        assert 0 < sim.sim.max_window_weight <= 60
        assert result.requests == 6 * 4 and not result.failed
        assert complete(engine, since)
    finally:
        sim.limit_rest_weight(None)
        engine.dispose()


def test_an_eager_client_backs_off_on_429_and_is_never_banned(sim, tmp_path):
    engine = open_database(tmp_path / "b.db", tmp_path)
    sim.limit_rest_weight(16, window_s=1.0, ban_s=30.0)
    try:
        since = NOW - 3_000 * MIN
        result = run(engine, sim, budget=1_000, window=1.0, since=since, retries=6)
        assert sim.sim.rest_limited > 0  # it did hit the limit...
        assert sim.sim.rest_banned == 0  # ...and waited as told, never earning the 418
        assert not result.failed and complete(engine, since)
    finally:
        sim.limit_rest_weight(None)
        engine.dispose()


def test_an_interrupted_run_resumes_where_it_stopped(sim, tmp_path):
    engine = open_database(tmp_path / "c.db", tmp_path)
    since = NOW - 5_000 * MIN
    rest = RestClient(sim.rest_url)
    calls = 0

    async def fetch_then_stop(path: str, weight: int) -> str:
        nonlocal calls
        calls += 1
        if calls > 7:
            raise KeyboardInterrupt  # Ctrl+C in the middle of the run
        return await rest.get_text(path, weight=weight)

    async def first():
        try:
            targets = plan_targets(engine, [spot(b) for b in BASES], "1m", since, NOW - MIN)
            await bulk_backfill(engine, [(MarketRun("binance", "spot", targets), fetch_then_stop)],
                                concurrency=1)
        finally:
            await rest.close()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(first())
    stored = sqlite3.connect(tmp_path / "c.db").execute("SELECT COUNT(*) FROM klines").fetchone()[0]
    assert stored == 7 * 1000  # every page fetched before the interrupt is in the store
    again = run(engine, sim, budget=5_000, window=60.0, since=since)
    assert again.requests == 6 * 5 - 7 and complete(engine, since)
    engine.dispose()


def test_a_page_that_keeps_failing_is_a_counted_hole(tmp_path, sim):
    engine = open_database(tmp_path / "d.db", tmp_path)

    async def failing(path: str, weight: int) -> str:
        raise FetchFailed("api.binance.com answered HTTP 503 Service Unavailable")

    targets = plan_targets(engine, [spot("BTC")], "1m", NOW - 1_500 * MIN, NOW - MIN)
    (r,) = asyncio.run(bulk_backfill(engine, [(MarketRun("binance", "spot", targets), failing)]))
    assert len(r.failed) == 2 and r.rows == 0 and r.done == r.total == 1_500
    assert "503" in r.failed[0].reason
    engine.dispose()


def rows_by_symbol(path) -> dict[str, int]:
    con = sqlite3.connect(path)
    return dict(con.execute("SELECT i.id, COUNT(*) FROM klines k JOIN instruments i ON i.key = k.inst "
                            "GROUP BY i.id").fetchall())


def test_the_command_fills_venues_in_parallel_and_a_rerun_skips_what_is_stored(tmp_path, capsys):
    db = tmp_path / "e.db"
    argv = ["backfill", "binance,bybit,coinbase", "BTC/USDT,ETH/USDT:USDT", "1h", "--since",
            "2026-10-01", "--until", "2026-11-01", "--demo", "--quiet", "--db", str(db)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "stored 3,725 1h klines of 5 instrument(s)" in out  # 31 days + 1 h, coinbase: no perp
    assert rows_by_symbol(db) == {i: 745 for i in (
        "cryptopair_binance_btcusdt", "cryptoperp_binance_ethusdt", "cryptopair_bybit_btcusdt",
        "cryptoperp_bybit_ethusdt", "cryptopair_coinbase_btcusd")}
    assert main(argv) == 0
    assert "nothing to fetch: 1h klines of all 5 instrument(s) are already stored" in capsys.readouterr().out


def test_top_n_from_the_demo_tickers(tmp_path, capsys):
    db = tmp_path / "f.db"
    assert main(["backfill", "okx", "1d", "--top", "2", "--since", "2026-06-01", "--until",
                 "2026-06-10", "--demo", "--quiet", "--db", str(db)]) == 0
    assert sorted(rows_by_symbol(db)) == ["cryptopair_okx_btcusdt", "cryptopair_okx_ethusdt",
                                          "cryptoperp_okx_btcusdt", "cryptoperp_okx_ethusdt"]



def test_okx_minutes_older_than_its_latest_1440_come_from_history_candles(tmp_path, capsys):
    """The OKX simulator, like OKX, answers /market/candles with the latest 1440 bars
    only: three days of 1m klines are whole only because the older pages go to
    history-candles."""
    db = tmp_path / "okx.db"
    now = bucket_start(int(time.time() * 1000), "1m")
    since, until = now - 3 * 86_400_000, now - 2 * MIN

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()

    argv = ["backfill", "okx", "BTC/USDT", "1m", "--since", iso(since), "--until", iso(until),
            "--demo", "--quiet", "--db", str(db)]
    assert main(argv) == 0, capsys.readouterr().err
    engine = open_database(db, tmp_path)
    try:
        assert queries.gaps(engine, "cryptopair_okx_btcusdt", "1m", since, until) == []
        assert len(queries.klines(engine, "cryptopair_okx_btcusdt", "1m", since=since,
                                  until=until)) == (until - since) // MIN + 1
    finally:
        engine.dispose()

@pytest.mark.parametrize("argv,said", [
    (["binance", "BTC/USDT", "1m", "--top", "3"], "give SYMBOLS or --top N, not both"),
    (["binance", "1m"], "give SYMBOLS (e.g. BTC/USDT,ETH/USDT) or --top N"),
    (["binance,kraken", "BTC/USDT,ETH/USDT", "1m"], "unknown venue 'kraken'"),
    (["binance", "BTC/USDT,ETHUSDT", "1m", "--demo"], "ETHUSDT"),
    (["binance", "1m", "--top", "0", "--demo"], "--top 0: must be from 1 to 1000"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, argv, said):
    assert main(["backfill", *argv, "--since", "2026-01-01", "--db", str(tmp_path / "g.db")]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err
