"""A paper-trading engine over a local Binance simulator: the setup the order-entry,
trading-UI and key tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from app.trading.service import TradingOptions, TradingService


@contextmanager
def trading_demo(symbols: list[str]) -> Iterator[tuple[Engine, TradingService, BinanceSimThread]]:
    """Stream ``symbols`` from a seeded simulator (spot and USD-M) with a paper account attached."""
    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=40.0).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, symbols, settings=ConnectionSettings(backoff_base=0.05))
    service = TradingService(TradingOptions())
    engine.attach(service)
    engine.start()
    try:
        yield engine, service, sim
    finally:
        engine.stop()
        sim.stop()
