"""500-kline queries (``HistoryReader.klines``, what the history screen asks) against a
SQLite file while a recorder writes into it. Budget: p99 < 10 ms.

Two writers, one after the other, each in its own process so the reader measures the
database and not a shared interpreter lock:

* ``live``: ``cryptoterm record --store`` of 4 venues x 25 symbols, the rate a real
  recorder writes. The venues are the simulators, in processes of their own and niced
  (as in bench_recorder and bench_watchlist): on this 2-core machine an un-niced
  simulator takes the core the reader would have, and a real venue costs the machine
  nothing; the recorder itself runs at normal priority;
* ``flat-out``: ``Recorder.ingest`` of synthetic trades as fast as it goes (trades plus
  the 1m klines rebuilt from them): the worst a writer can do to a reader.

The file holds 1M 1m klines of 10 instruments first (the query picks one of them and a
random 500-candle window, or the newest 500).

    python -m tests.bench.bench_query_while_writing [--seconds 30] [--klines 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage.db import open_database
from storage.history import HistoryReader
from tests.bench.bench_recorder import Sims
from tests.bench.bench_storage import T0, build_klines

ROOT = Path(__file__).resolve().parents[2]
QUERY = 500

_FLAT_OUT = """
import random, sys, time
from pathlib import Path
from app.market.events import Trade
from app.market.instruments import Instrument
from storage.db import open_database
from storage.recorder import Recorder
db = open_database(Path(sys.argv[1]), Path(sys.argv[1]).parent)
rec = Recorder(db)
inst = Instrument("binance", "spot", "W", "USDT", "WUSDT")
rec.register(inst)
rng, ts, n, price = random.Random(1), int(time.time() * 1000), 0, 100.0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    batch = []
    for _ in range(20_000):
        ts += rng.randint(0, 3)
        price = max(1.0, price + rng.choice((-0.01, 0.0, 0.01)))
        n += 1
        batch.append(Trade(inst.id, ts, price, 0.01 + rng.random(), "buy", str(n)))
    rec.ingest(batch, batch_size=20_000)
print(n)
"""


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _query_loop(db_path: Path, ids: list[str], proc: subprocess.Popen | None, seconds: float,
                per_instrument: int) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) of each query: on a shared machine the wall time includes waiting
    for a core, which the CPU time does not."""
    db = open_database(db_path, db_path.parent)
    reader = HistoryReader(db)
    rng = random.Random(3)
    timings: list[float] = []
    cpu: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        inst = rng.choice(ids)
        c = time.process_time()
        t = time.perf_counter()
        if rng.random() < 0.5:
            got = reader.klines(inst, "1m", limit=QUERY)  # the newest 500
        else:
            start = T0 + rng.randrange(0, per_instrument - QUERY) * 60_000
            got = reader.klines(inst, "1m", since=start, until=start + (QUERY - 1) * 60_000)
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert len(got) == QUERY, len(got)
        time.sleep(0.005)
    db.dispose()
    return timings, cpu


def _report(name: str, measured: tuple[list[float], list[float]], wrote: str) -> bool:
    timings, cpu = measured
    p50, p99 = statistics.median(timings), _percentile(timings, 0.99)
    ok = p99 < 10.0
    print(f"{name:9s} {len(timings):6d} queries of {QUERY} klines: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {max(timings):.1f} ms (CPU p50 {statistics.median(cpu):.2f}, p99 "
          f"{_percentile(cpu, 0.99):.2f} ms)  [{'ok' if ok else 'OVER BUDGET'}: p99 < 10 ms]  "
          f"writer: {wrote}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="per writer (default 30)")
    ap.add_argument("--klines", type=int, default=1_000_000)
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-qww-") as tmp:
        db_path = Path(tmp) / "qww.db"
        ids = build_klines(db_path, args.klines, instruments=10)
        per_instrument = args.klines // 10
        print(f"{args.klines:,} klines of {len(ids)} instruments in {db_path.name}; "
              f"each writer {args.seconds:.0f} s")

        ok &= _report("idle", _query_loop(db_path, ids, None, min(10.0, args.seconds), per_instrument),
                      "none (baseline: the machine's own noise)")
        world = Sims(universe=25, rate=40.0, nice=10)
        try:
            live = subprocess.Popen(
                world.record_command(tmp, db_path), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(8.0)  # the venues' market lists, books and first flushes
            timings = _query_loop(db_path, ids, live, args.seconds, per_instrument)
            live.terminate()
            _, err = live.communicate(timeout=60)
        finally:
            world.stop()
        import sqlite3

        with sqlite3.connect(db_path) as con:
            trades = con.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        ok &= _report("live", timings, f"{trades:,} trades stored" if live.returncode == 0
                      else f"exit {live.returncode}: {err[-200:]}")
        load = os.getloadavg()[0]
        print(f"load average {load:.1f} on {os.cpu_count()} cores")

        flat = subprocess.Popen([sys.executable, "-c", _FLAT_OUT, str(db_path), str(args.seconds + 5)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(2.0)
        timings = _query_loop(db_path, ids, flat, args.seconds, per_instrument)
        out, err = flat.communicate(timeout=120)
        wrote = f"{int(out.strip() or 0):,} trades in {args.seconds + 5:.0f} s" if flat.returncode == 0 \
            else f"exit {flat.returncode}: {err[-200:]}"
        ok &= _report("flat-out", timings, wrote)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
