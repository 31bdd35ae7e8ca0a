"""Memory: the engine streaming 4 venues x 25 symbols with 1000-level books (budget: RSS
< 300 MB). The simulators run in a separate process so only the app is measured.

    python -m tests.bench.bench_memory [--symbols 25] [--levels 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASES = ["BTC", "ETH", "SOL", "XRP", "BNB", "DOGE", "ADA", "AVAX", "LINK", "DOT", "TRX", "LTC",
         "BCH", "ATOM", "NEAR", "APT", "ARB", "OP", "FIL", "ICP", "ETC", "UNI", "XLM", "HBAR",
         "SUI", "INJ", "AAVE", "SEI", "TIA", "RNDR"]


def price_of(i: int) -> float:
    return [97_000.0, 3_400.0, 180.0, 2.2, 650.0, 0.35][i] if i < 6 else 5.0 + 7.0 * i


def world_symbols(n: int) -> dict[str, list]:
    from app.sim.market import SimSymbol
    from app.sim.okx_server import OkxSymbol

    spot_n = (n + 1) // 2
    perp_n = n - spot_n
    bases = BASES[:max(spot_n, perp_n)]
    binance, okx, bybit, coinbase = [], [], [], []
    for i, b in enumerate(bases):
        p = price_of(i)
        tick = 0.01 if p > 1 else 0.0001
        if i < spot_n:
            binance.append(SimSymbol(f"{b}USDT", b, "USDT", "spot", p, tick, 0.001))
            bybit.append(SimSymbol(f"{b}USDT", b, "USDT", "spot", p, tick, 0.001))
            okx.append(OkxSymbol(f"{b}-USDT", b, "USDT", "spot", p, tick, 0.001, 0.001))
        if i < perp_n:
            binance.append(SimSymbol(f"{b}USDT", b, "USDT", "perp", p, tick, 0.001))
            bybit.append(SimSymbol(f"{b}USDT", b, "USDT", "perp", p, tick, 0.001))
            okx.append(OkxSymbol(f"{b}-USDT-SWAP", b, "USDT", "perp", p, tick, 1, 1, "0.01"))
    for i, b in enumerate(BASES[:n]):
        p = price_of(i)
        coinbase.append(SimSymbol(f"{b}-USD", b, "USD", "spot", p, 0.01 if p > 1 else 0.0001, 0.0001))
    return {"binance": binance, "okx": okx, "bybit": bybit, "coinbase": coinbase}


def serve(n: int, levels: int) -> None:
    """Child process: run every venue's simulator and print their endpoints."""
    from app.sim.world import SIMULATORS
    import importlib

    threads = {}
    for venue, symbols in world_symbols(n).items():
        module, cls, _, keys = SIMULATORS[venue]
        thread_cls = getattr(importlib.import_module(module), cls)
        threads[venue] = (thread_cls(symbols, seed=3, rate=20.0, levels=levels).start(), keys)
    print(json.dumps({v: [t.ws_url, t.rest_url, list(keys)] for v, (t, keys) in threads.items()}),
          flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    for t, _ in threads.values():
        t.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=25)
    ap.add_argument("--levels", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.symbols, args.levels)
        return
    child = subprocess.Popen([sys.executable, "-m", "tests.bench.bench_memory", "--serve",
                              "--symbols", str(args.symbols), "--levels", str(args.levels)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    endpoints = json.loads(child.stdout.readline())
    from app.config import Endpoint, load_config
    from app.feeds.engine import Engine

    cfg = load_config(None, Path(tempfile.mkdtemp(prefix="ct-bench-")))
    for venue, (ws, rest, keys) in endpoints.items():
        for key in keys:
            cfg.set_endpoint(key, "live", Endpoint(ws, rest))
    symbols = world_symbols(args.symbols)
    # every symbol any venue lists (USD quotes match USDT ones across venues)
    wanted = sorted({f"{s.base}/USDT" + (":USDT" if s.market == "perp" else "")
                     for listed in symbols.values() for s in listed})
    before = rss_mb(os.getpid())
    engine = Engine(cfg, wanted, venues=list(endpoints))
    engine.start()
    start = time.monotonic()
    peak = 0.0
    while time.monotonic() - start < args.seconds:
        time.sleep(0.5)
        peak = max(peak, rss_mb(os.getpid()))
    overview = engine.overview()
    synced = sum(1 for s in overview if s.synced)
    with engine.hub.lock:
        levels = [len(engine.hub.state(s.instrument.id).book) for s in overview]
    engine.stop()
    child.stdin.close()
    child.wait(10)
    print(f"{len(overview)} instruments on {len(endpoints)} venues, {synced} synced, "
          f"median book {sorted(levels)[len(levels) // 2]} levels, largest {max(levels)}, "
          f"{sum(levels):,} levels in all")
    print(f"RSS: {before:.0f} MB before the engine, peak {peak:.0f} MB streaming (budget < 300 MB)")


if __name__ == "__main__":
    main()
