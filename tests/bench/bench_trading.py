"""Trading latencies.

1. Validation + paper fill per order (PaperAccount alone, a 50-level book): market
   orders that walk the book, limit orders that rest, and validation-only rejects.
2. Order submit -> visible in open orders in the demo: engine + simulator + TradingService
   on the engine thread, timed from ``service.place(...)`` on the caller's thread until the
   order is in ``service.view().open_orders`` (what the UI reads each frame).

    python -m tests.bench.bench_trading [--orders 20000] [--demo-orders 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal

from app.market.events import Trade
from app.trading.errors import ValidationFailed
from app.trading.models import OrderRequest
from app.trading.paper import PaperAccount
from app.trading.validation import MarketRules

D = Decimal
SPOT = "cryptopair_binance_btcusdt"
RULES = MarketRules(SPOT, "BTC/USDT", "spot", "BTC", "USDT", D("0.01"), D("0.00001"),
                    D("0.00001"), D("5"), 1)
BOOK = ([(97_000.0 - i * 0.5, 0.05 + 0.01 * i) for i in range(50)],
        [(97_000.5 + i * 0.5, 0.05 + 0.01 * i) for i in range(50)])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_paper(n: int) -> dict[str, list[float]]:
    acc = PaperAccount(lambda iid: RULES, lambda iid: BOOK, balances={"USDT": D(10) ** 12, "BTC": D(10) ** 6})
    out: dict[str, list[float]] = {"market (walks ~3 levels)": [], "limit (rests)": [],
                                   "rejected by validation": [], "limit fill on trade-through": []}
    clock = time.perf_counter_ns
    for i in range(n):
        req = OrderRequest(SPOT, "buy" if i % 2 else "sell", "market", D("0.2"))
        t = clock()
        acc.place(req)
        out["market (walks ~3 levels)"].append((clock() - t) / 1000)
        req = OrderRequest(SPOT, "buy", "limit", D("0.01"), D("96000.00"))
        t = clock()
        acc.place(req)
        out["limit (rests)"].append((clock() - t) / 1000)
        bad = OrderRequest(SPOT, "buy", "limit", D("0.000001"), D("96000.001"))
        t = clock()
        try:
            acc.place(bad)
        except ValidationFailed:
            pass
        out["rejected by validation"].append((clock() - t) / 1000)
        if i % 50 == 49:  # fill the resting ones: one trade through their price
            t = clock()
            acc.on_trade(Trade(SPOT, 0, 95_999.0, 1.0, "sell"))
            out["limit fill on trade-through"].append((clock() - t) / 1000 / 50)
    return out


def bench_demo(n: int) -> list[float]:
    from app.config import Endpoint, load_config
    from app.feeds.connection import ConnectionSettings
    from app.feeds.engine import Engine
    from app.sim.binance_server import BinanceSimThread
    from app.sim.market import default_demo_symbols
    from app.trading.service import TradingService

    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=40.0).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"],
                    settings=ConnectionSettings(backoff_base=0.05))
    service = TradingService()
    engine.attach(service)
    engine.start()
    try:
        while not (engine.hub.book_top(SPOT) and service.view().ready):
            time.sleep(0.02)
        bid = engine.hub.book_top(SPOT, 1)[0][0][0]
        price = D(str(round(bid * 0.8, 2)))
        latencies = []
        for _ in range(n):
            req = OrderRequest(SPOT, "buy", "limit", D("0.001"), price)
            t = time.perf_counter()
            service.place(req)
            while not any(o.client_order_id == req.client_order_id
                          for o in service.view().open_orders):
                time.sleep(0)  # spin: we measure the engine, not our sleep granularity
            latencies.append((time.perf_counter() - t) * 1000)
            service.cancel(req.client_order_id).result(5)
        return latencies
    finally:
        engine.stop()
        sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--demo-orders", type=int, default=200)
    args = ap.parse_args()
    print(f"paper account, {args.orders} orders of each kind (µs per order)")
    for name, values in bench_paper(args.orders).items():
        print(f"  {name:30} median {statistics.median(values):7.1f}  p99 {pct(values, 0.99):7.1f}")
    lat = bench_demo(args.demo_orders)
    print(f"demo: submit -> in open orders, {len(lat)} orders (ms): median "
          f"{statistics.median(lat):.2f}  p95 {pct(lat, 0.95):.2f}  max {max(lat):.2f}")


if __name__ == "__main__":
    main()
