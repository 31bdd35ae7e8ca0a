"""Backtest throughput.

1. One year of 1m bars (525,600) through a no-op strategy and the shipped SMA-crossover
   example; bars/s and the ratio to a bare Python loop over the same bars (one that reads
   each bar's close and compares it, nothing more). Budget: the SMA year < 10 s.
2. A 100-run grid (fast x slow, 10 x 10) of the SMA crossover on one year of 1h bars over
   all cores. Budget: < 60 s.

    python -m tests.bench.bench_backtest [--bars 525600] [--grid-bars 8760] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import textwrap
import time
from decimal import Decimal
from importlib.resources import files

from app.backtest.bars import Bars
from app.backtest.engine import Backtest, Settings
from app.backtest.grid import run_grid
from app.backtest.metrics import summarize
from app.backtest.strategy import load, load_source
from app.trading.validation import MarketRules

D = Decimal
RULES = MarketRules("cryptopair_binance_btcusdt", "BTC/USDT", "spot", "BTC", "USDT", D("0.01"),
                    D("0.00001"), D("0.00001"), D("5"))
T0 = 1_704_067_200_000
NOOP = textwrap.dedent("""
    class Strategy:
        def on_bar(self, ctx, bar):
            pass
""")


def make_bars(n: int, step: int, seed: int = 7) -> Bars:
    """A seeded random walk around 40,000 with a little drift and realistic ranges."""
    rng = random.Random(seed)
    bars = Bars(step)
    price = 40_000.0
    vol = 0.0008 * (step / 60_000) ** 0.5
    for i in range(n):
        o = price
        c = max(1.0, o * (1 + rng.gauss(0, vol)))
        h = max(o, c) * (1 + abs(rng.gauss(0, vol / 3)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, vol / 3)))
        bars.append(T0 + i * step, round(o, 2), round(h, 2), round(lo, 2), round(c, 2),
                    round(rng.uniform(1, 50), 5))
        price = c
    return bars


def bare_loop(bars: Bars) -> float:
    t = time.perf_counter()
    close = bars.close
    above = 0
    prev = close[0]
    for i in range(len(close)):
        c = close[i]
        if c > prev:
            above += 1
        prev = c
    return time.perf_counter() - t


def timed(loaded, bars: Bars, params=None) -> tuple[float, dict]:
    t = time.perf_counter()
    res = Backtest(loaded, bars, RULES, Settings(), params).run()
    return time.perf_counter() - t, summarize(res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bars", type=int, default=525_600)
    ap.add_argument("--grid-bars", type=int, default=8_760)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()

    bars = make_bars(args.bars, 60_000)
    n = len(bars)
    bare = min(bare_loop(bars) for _ in range(3))
    print(f"{n:,} 1m bars; bare Python loop {bare:.3f} s = {n / bare:,.0f} bars/s")
    sma = load(str(files("app.backtest.examples") / "sma_crossover.py"))
    for name, loaded, params in (("no-op", load_source(NOOP, "<noop>"), None),
                                 ("SMA crossover 10/30", sma, None)):
        secs, m = timed(loaded, bars, params)
        print(f"{name:22s} {secs:6.2f} s  {n / secs:>10,.0f} bars/s  "
              f"{bare / secs:.3f}x the bare loop  ({m['trades']} fills, "
              f"return {m['return_pct']:+.2f} %)")

    hourly = make_bars(args.grid_bars, 3_600_000, seed=11)
    grid = {"fast": list(range(5, 55, 5)), "slow": list(range(20, 220, 20))}
    workers = args.workers or os.cpu_count() or 1
    t = time.perf_counter()
    rows = run_grid(sma, hourly, RULES, Settings(), grid, workers=workers)
    secs = time.perf_counter() - t
    failed = sum(1 for r in rows if "error" in r)
    print(f"grid {len(rows)} runs x {len(hourly):,} 1h bars on {workers} processes: "
          f"{secs:.2f} s ({len(rows) * len(hourly) / secs:,.0f} bars/s overall, {failed} failed)")


if __name__ == "__main__":
    main()
