"""A local exchange: a seeded synthetic market served over each venue's own wire
protocol on 127.0.0.1, for tests, benchmarks and ``--demo``. Never imports textual."""

from app.sim.binance_server import BinanceSim, BinanceSimThread
from app.sim.market import SimMarket, SimSymbol, default_demo_symbols
from app.sim.serving import SimThread

__all__ = ["BinanceSim", "BinanceSimThread", "SimMarket", "SimSymbol", "SimThread",
           "default_demo_symbols"]
