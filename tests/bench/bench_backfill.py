"""Bulk backfill benchmark: N symbols x D days of 1m klines from the Binance simulator into
SQLite (default 50 x 180 = 12.96M rows), through the same code as `cryptoterm backfill`
(storage.bulk_backfill under the venue's REST weight budget, the simulator enforcing
Binance's own limit: 429 then 418).

Phase 1, clean: wall time, rows/s, requests/s, coverage (must be 100%), 429/418 counts.
Phase 2, faulty: a fresh database, the simulator failing 1% of requests with 503 and 0.5%
with 429 (seeded), the first pass with no retries so the faults leave holes; then one
`gaps --all --fill-gaps` pass: coverage must be 100% after it.

The simulator runs in a child process (``--in-process``: in this one, as ``--demo`` does),
so its candle generation and JSON encoding, which cost more than the client's work, do
not share the client's interpreter. ``--budget`` overrides the venue's weight budget per minute
(default: Binance spot's 5000 of its 6000) to separate client speed from the venue's pace.

    nice python -m tests.bench.bench_backfill [--symbols 50] [--days 180] [--budget N] [--skip-clean] [--skip-faulty]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from app.commands.bulk_backfill import VenueMarket, backfill_markets, fetcher
from app.commands.coverage_report import fill, repair_targets
from app.config import Endpoint, load_config
from app.feeds.rest import RestClient, WeightBudget
from app.market.instruments import Instrument
from app.market.klines import bucket_start
from app.sim.binance_server import BinanceSimThread
from app.sim.universe import universe_symbols
from app.venues import registry
from storage import queries
from storage.db import open_database

DAY = 86_400_000
VENUE_LIMIT = 6000  # Binance spot's request weight per minute per IP


class SimProcess:
    """The Binance simulator in a child process, driven over a pipe: the same knobs and
    counters the tests read from a SimThread."""

    def __init__(self, n: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_sim, args=(child, n), daemon=True)
        self._proc.start()
        self.rest_url, self.ws_url, self.now_ms = self._conn.recv()

    def call(self, name: str, *args):
        self._conn.send((name, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(value)
        return value

    def counters(self) -> dict:
        return self.call("counters")

    def stop(self) -> None:
        self._conn.send(("stop", ()))
        self._proc.join(10)


def _serve_sim(conn, n: int) -> None:
    symbols = [s for s in universe_symbols("binance", n) if s.market == "spot"]
    with BinanceSimThread(symbols, rate=0.0, paused=True) as sim:
        conn.send((sim.rest_url, sim.ws_url, sim.sim.market.now_ms))
        while True:
            name, args = conn.recv()
            if name == "stop":
                return
            try:
                if name == "counters":
                    s = sim.sim
                    value = {"limited": s.rest_limited, "banned": s.rest_banned, "refused": s.rest_refused,
                             "max_window": s.max_window_weight, "requests": s.rest_requests}
                else:
                    value = getattr(sim, name)(*args)
                conn.send((True, value))
            except Exception as exc:  # the bench's own driver: report, keep serving
                conn.send((False, repr(exc)))


class SimInThread:
    """The same face over a SimThread in this process."""

    def __init__(self, n: int) -> None:
        symbols = [s for s in universe_symbols("binance", n) if s.market == "spot"]
        self._sim = BinanceSimThread(symbols, rate=0.0, paused=True).start()
        self.rest_url, self.ws_url, self.now_ms = self._sim.rest_url, self._sim.ws_url, self._sim.sim.market.now_ms

    def call(self, name: str, *args):
        return getattr(self._sim, name)(*args)

    def counters(self) -> dict:
        s = self._sim.sim
        return {"limited": s.rest_limited, "banned": s.rest_banned, "refused": s.rest_refused,
                "max_window": s.max_window_weight, "requests": s.rest_requests}

    def stop(self) -> None:
        self._sim.stop()


def instruments(n: int) -> list[Instrument]:
    return [Instrument("binance", "spot", s.base, "USDT", s.symbol)
            for s in universe_symbols("binance", n) if s.market == "spot"]


def coverage(engine, insts: list[Instrument], since: int, until: int) -> tuple[float, int]:
    """(lowest coverage %, candles missing) over every instrument."""
    worst, missing = 100.0, 0
    for inst in insts:
        cov = queries.coverage(engine, inst.id, "1m", since, until)
        assert cov is not None
        worst = min(worst, cov.percent)
        missing += cov.missing + cov.partial
    return worst, missing


def run_pass(engine, sim, insts, since, until, budget, retries, concurrency):
    rest = RestClient(sim.rest_url, WeightBudget(budget))

    async def go():
        try:
            return await backfill_markets(engine, [VenueMarket("binance", "spot", insts, rest)], "1m",
                                          since, until, concurrency=concurrency, retries=retries)
        finally:
            await rest.close()

    started = time.perf_counter()
    (run,) = asyncio.run(go())
    return run, time.perf_counter() - started


def phase(name, sim, insts, since, until, budget, concurrency, faulty: bool, db: Path) -> dict:
    engine = open_database(db, db.parent)
    try:
        sim.call("random_rest_faults", 0.01 if faulty else 0.0, 0.005 if faulty else 0.0, 11)
        before = sim.counters()
        run, wall = run_pass(engine, sim, insts, since, until, budget, 0 if faulty else 3, concurrency)
        worst, missing = coverage(engine, insts, since, until)
        out = {"phase": name, "rows": run.rows, "requests": run.requests, "wall_s": round(wall, 1),
               "rows_per_s": round(run.rows / wall), "requests_per_s": round(run.requests / wall, 1),
               "pages_failed": len(run.failed), "coverage_pct": worst, "candles_missing": missing}
        if faulty:
            sim.call("random_rest_faults", 0.01, 0.005, 12)  # the faults go on during the repair
            cfg = load_config()
            cfg.set_endpoint("binance", "live", Endpoint(sim.ws_url, sim.rest_url))
            covs = queries.coverage_all(engine, since, until)
            started = time.perf_counter()
            runs = asyncio.run(fill(cfg, engine, repair_targets(engine, covs), retries=3,
                                    concurrency=concurrency, display=None))
            out["fill_wall_s"] = round(time.perf_counter() - started, 1)
            out["fill_rows"] = sum(r.rows for r in runs)
            out["fill_pages_failed"] = sum(len(r.failed) for r in runs)
            out["coverage_after_fill_pct"], out["missing_after_fill"] = coverage(engine, insts, since, until)
        after = sim.counters()
        for key, name in (("limited", "sim_429_limit"), ("banned", "sim_418"), ("refused", "sim_faults")):
            out[name] = after[key] - before[key]
        out["sim_max_weight_per_min"] = after["max_window"]
        return out
    finally:
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--days", type=float, default=180.0)
    p.add_argument("--budget", type=int, default=registry.facts("binance", "spot").rest_weight_per_minute)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--skip-faulty", action="store_true")
    p.add_argument("--skip-clean", action="store_true")
    p.add_argument("--in-process", action="store_true", help="run the simulator in this process")
    p.add_argument("--dir", type=Path, default=None, help="where the databases go (default: a temp dir)")
    a = p.parse_args()
    insts = instruments(a.symbols)
    sim = SimInThread(a.symbols) if a.in_process else SimProcess(a.symbols)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            where = a.dir or Path(tmp)
            where.mkdir(parents=True, exist_ok=True)
            sim.call("limit_rest_weight", VENUE_LIMIT)
            until = bucket_start(sim.now_ms, "1m") - 60_000  # the last closed minute
            since = until - int(a.days * DAY) + 60_000
            print(json.dumps({"symbols": len(insts), "days": a.days,
                              "candles": len(insts) * ((until - since) // 60_000 + 1),
                              "budget_per_min": a.budget, "sim": "thread" if a.in_process else "process"}),
                  flush=True)
            if not a.skip_clean:
                print(json.dumps(phase("clean", sim, insts, since, until, a.budget, a.concurrency, False,
                                       where / "clean.db")), flush=True)
            if not a.skip_faulty:
                print(json.dumps(phase("faulty", sim, insts, since, until, a.budget, a.concurrency, True,
                                       where / "faulty.db")), flush=True)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
