"""Pre-trade risk check time (seeds: < 5 ms per order; expect microseconds).

1. ``risk.check`` alone, every limit on, inputs gathered: the pure Decimal arithmetic.
2. ``TradingService.check_risk`` as an order meets it: gathering the inputs from a paper
   account with open orders and positions (open-order scan, position, best bid/ask and
   last trade from the hub under its lock, the day's PnL valued at marks) plus the check.

    python -m tests.bench.bench_risk [--orders 20000] [--open 50]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

from app.feeds.hub import MarketHub
from app.market.events import Trade
from app.market.instruments import Instrument
from app.trading.models import OrderRequest
from app.trading.risk import RiskInputs, RiskLimits, check
from app.trading.service import TradingOptions, TradingService

D = Decimal
LIMITS = RiskLimits(max_order_notional=D(10 ** 9), max_position_notional=D(10 ** 9),
                    max_open_orders=100_000, max_daily_loss=D(10 ** 9), price_band_pct=D(50))
SPOT = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_pure(n: int) -> list[float]:
    x = RiskInputs(SPOT, "buy", D("0.25"), D("97000.5"), D("97000.5"), D("97000.25"), D(1),
                   D("1.5"), D("0.75"), 12, D("-120.5"))
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        refused = check(LIMITS, x)
        out.append((time.perf_counter_ns() - t) / 1000)
        assert not refused
    return out


def service_with(open_orders: int) -> TradingService:
    service = TradingService(TradingOptions(paper_balance=D(10) ** 9, risk=LIMITS))
    hub = MarketHub()
    for inst in (Instrument("binance", "spot", "btc", "usdt", "BTCUSDT", 0.01, 0.00001),
                 Instrument("binance", "perp", "btc", "usdt", "BTCUSDT", 0.1, 0.001),
                 Instrument("binance", "spot", "eth", "usdt", "ETHUSDT", 0.01, 0.0001)):
        st = hub.add_instrument(inst)
        mid = 97_000.0 if inst.base == "btc" else 3_500.0
        st.book.load_snapshot([(mid - 0.5 - i, 1.0) for i in range(50)],
                              [(mid + 0.5 + i, 1.0) for i in range(50)])
        st.synced = True
        hub.on_event(Trade(inst.id, 1, mid, 0.1, "buy"))
    service.hub = hub
    service._start_paper()
    service._publish()  # as astart does: the day's baseline needs a first view

    async def setup() -> None:
        await service._place(OrderRequest(PERP, "buy", "market", D("0.5")))
        await service._place(OrderRequest(SPOT, "buy", "market", D("0.5")))
        for i in range(open_orders):
            await service._place(OrderRequest(SPOT, "buy", "limit", D("0.01"), D(90_000 + i)))

    asyncio.run(setup())
    return service


def bench_service(n: int, open_orders: int) -> list[float]:
    service = service_with(open_orders)
    req = OrderRequest(SPOT, "buy", "limit", D("0.01"), D("96950"))
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        service.check_risk(req)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def report(name: str, us: list[float]) -> None:
    print(f"{name:<58} p50 {pct(us, 0.5):8.1f} µs  p99 {pct(us, 0.99):8.1f} µs  "
          f"max {max(us):8.1f} µs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--open", type=int, default=50, help="open orders on the paper account")
    args = ap.parse_args()
    report("risk.check, every limit on", bench_pure(args.orders))
    us = bench_service(args.orders, args.open)
    report(f"service.check_risk ({args.open} open orders, 2 positions)", us)
    worst = pct(us, 0.99) / 1000
    print(f"budget 5 ms per order: p99 {worst:.3f} ms -> {'ok' if worst < 5 else 'OVER'}")


if __name__ == "__main__":
    main()
