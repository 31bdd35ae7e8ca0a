"""DemoWorld: every venue's simulator at once, sharing one underlying price per base
asset, each on its own thread — what `cryptoterm --demo` and the benchmarks run."""

from __future__ import annotations

import importlib
from typing import Any

from app.config import AppConfig, Endpoint
from app.sim.underlying import Anchors
from app.sim.universe import listings, universe_symbols

# venue -> (module, thread class, demo-symbols function, config keys it serves)
SIMULATORS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "binance": ("app.sim.binance_server", "BinanceSimThread", "app.sim.market:default_demo_symbols",
                ("binance", "binanceusdm")),
    "okx": ("app.sim.okx_server", "OkxSimThread", "app.sim.okx_server:okx_demo_symbols", ("okx",)),
    "bybit": ("app.sim.bybit_server", "BybitSimThread", "app.sim.bybit_server:bybit_demo_symbols",
              ("bybit",)),
    "coinbase": ("app.sim.coinbase_server", "CoinbaseSimThread",
                 "app.sim.coinbase_server:default_coinbase_symbols", ("coinbase",)),
}
DEMO_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def available_venues() -> list[str]:
    """Venues whose simulator module is installed (all four in a full checkout)."""
    out = []
    for venue, (module, cls, _, _) in SIMULATORS.items():
        try:
            getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            continue
        out.append(venue)
    return out


class DemoWorld:
    def __init__(self, seed: int = 7, rate: float = 40.0, depth_interval_ms: int = 100,
                 venues: tuple[str, ...] | list[str] | None = None, universe: int | None = None,
                 **kwargs: Any) -> None:
        """``universe=N`` lists the N most traded base assets of ``app.sim.universe`` on
        every venue instead of the small demo sets."""
        self.anchors = Anchors(seed)
        self._universe = universe
        self._seed = seed
        self._rate = rate
        self._depth_interval_ms = depth_interval_ms
        self._venues = list(venues) if venues is not None else available_venues()
        self._kwargs = kwargs
        self.threads: dict[str, Any] = {}

    def start(self) -> "DemoWorld":
        try:
            for venue in self._venues:
                module, cls, symbols_ref, _ = SIMULATORS[venue]
                thread_cls = getattr(importlib.import_module(module), cls)
                kwargs = dict(self._kwargs, seed=self._seed, rate=self._rate)
                if venue in ("binance", "bybit"):
                    kwargs["depth_interval_ms"] = self._depth_interval_ms
                symbols = (universe_symbols(venue, self._universe) if self._universe
                           else _load(symbols_ref)())
                thread = thread_cls(symbols, **kwargs).start()
                self.threads[venue] = thread
                # venues track one underlying price per base asset (on the sim's own loop)
                thread.call(lambda t=thread, v=venue: t.sim.market.anchor_to(self.anchors, v))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for thread in self.threads.values():
            thread.stop()

    def __enter__(self) -> "DemoWorld":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def venues(self) -> list[str]:
        return list(self.threads)

    def symbols(self) -> list[str]:
        """Unified symbols the world lists on at least one venue (the demo set, or the
        universe's spot pairs and USDT perps, most traded first)."""
        if not self._universe:
            return list(DEMO_SYMBOLS)
        out: dict[str, None] = {}
        for listing in listings(self._universe):
            out[f"{listing.base}/USDT"] = None
        for listing in listings(self._universe)[:max(1, self._universe // 2)]:
            out[f"{listing.base}/USDT:USDT"] = None
        return list(out)

    def push_venue(self, venue: str, offset_bps: float) -> None:
        """Move one venue's prices away from the others (the deviation-alert knob)."""
        self.anchors.push_venue(venue, offset_bps)

    def set_funding(self, venue: str, rate: float | None) -> None:
        """Pin one venue's perp funding rate (a fraction; None frees it): the funding-alert knob."""
        self.anchors.set_funding(venue, rate)

    def widen_venue(self, venue: str, spread_bps: float) -> None:
        """Keep one venue's books at least this wide in bp (0 puts them back): the spread knob."""
        self.anchors.widen_venue(venue, spread_bps)

    def configure(self, cfg: AppConfig) -> None:
        """Point the live endpoints of every simulated venue at its simulator (and keep
        the simulators' market lists out of the metadata cache: they are not the venue's)."""
        cfg.metadata_cache = False
        for venue, thread in self.threads.items():
            for key in SIMULATORS[venue][3]:
                cfg.set_endpoint(key, "live", Endpoint(thread.ws_url, thread.rest_url))
        cfg.venues = self.venues()
