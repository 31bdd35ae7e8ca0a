"""The engine: feeds and hub on their own thread with their own asyncio loop, so a
20k msgs/s blast never makes a keypress wait. Implements ``MarketSource`` for the UI."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import orjson

from app.config import AppConfig
from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectionSettings
from app.feeds.feed import VenueFeed
from app.feeds.health import FeedHealth, HealthView
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient, RestError, WeightBudget
from app.feeds.views import InstrumentView
from app.market.instruments import Instrument, MarketType, parse_display_symbol
from app.venues.binance import BinanceVenue, instruments_from_exchange_info

log = logging.getLogger(__name__)

# Binance request-weight budgets per minute (we use most, never all, of each).
WEIGHT_PER_MINUTE = {"spot": 5000, "perp": 2000}


def preliminary_instruments(venue: str, symbols: list[str]) -> list[Instrument]:
    """Instruments from the user's display symbols, before the venue's metadata arrives."""
    out = []
    for text in symbols:
        market, base, quote = parse_display_symbol(text)
        out.append(Instrument(venue, market, base, quote, f"{base}{quote}"))
    return out


class Engine:
    def __init__(self, cfg: AppConfig, symbols: list[str] | None = None,
                 settings: ConnectionSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 capture: CaptureWriter | None = None) -> None:
        self.cfg = cfg
        self.hub = MarketHub()
        self.settings = settings or ConnectionSettings()
        self.clock = clock  # feed health ages and rates; frozen in screenshot tests
        self.capture = capture  # raw capture (format v1), written on the engine thread
        self._wanted = preliminary_instruments(cfg.venue, symbols or cfg.symbols)
        self._feeds: dict[MarketType, VenueFeed] = {}
        self._rests: list[RestClient] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop_event: asyncio.Event | None = None
        self._watched: set[tuple[str, str]] = set()  # touched only on the engine loop
        self.problems: list[str] = []  # plain-words startup problems, e.g. unknown symbols
        self.trading = None  # the trading runtime (app.trading.service), set by attach()
        with self.hub.lock:
            for inst in self._wanted:
                self.hub.add_instrument(inst)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="cryptoterm-engine", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        loop = self._loop
        if loop is not None and self._stop_event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def attach(self, service) -> None:
        """Attach the trading runtime before ``start``: it runs on this loop (``astart`` as the
        loop starts, ``aclose`` before it ends) and the UI reaches it as ``engine.trading``."""
        self.trading = service
        service.bind(self)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except Exception:  # the UI must learn the engine died, not freeze silently
            log.exception("engine crashed")
            self.problems.append("the market engine stopped unexpectedly; see the log file")
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        self._ready.set()
        by_market: dict[MarketType, list[Instrument]] = {}
        for inst in self._wanted:
            by_market.setdefault(inst.market, []).append(inst)
        boot = [asyncio.get_running_loop().create_task(self._start_market(m, insts))
                for m, insts in by_market.items()]
        if self.trading is not None:
            boot.append(asyncio.get_running_loop().create_task(self.trading.astart()))
        await self._stop_event.wait()
        for task in boot:
            task.cancel()
        await asyncio.gather(*boot, return_exceptions=True)
        if self.trading is not None:
            try:
                await self.trading.aclose()
            except Exception:  # closing venue sessions must not keep the feeds open
                log.exception("closing trading failed")
        for feed in self._feeds.values():
            await feed.stop()
        for rest in self._rests:
            await rest.close()
        if self.capture is not None:
            self.capture.close()

    async def _start_market(self, market: MarketType, wanted: list[Instrument]) -> None:
        venue_key = "binance" if market == "spot" else "binanceusdm"
        endpoint = self.cfg.endpoint(venue_key)
        rest = RestClient(endpoint.rest_url, WeightBudget(WEIGHT_PER_MINUTE[market]),
                          on_response=None if self.capture is None else
                          self.capture.rest_recorder("binance", market))
        self._rests.append(rest)
        health = FeedHealth(f"binance {market}", clock=self.clock)
        with self.hub.lock:
            self.hub.add_health(health)
            for inst in wanted:
                st = self.hub.state(inst.id)
                if st is not None:
                    st.health = health
        probe = BinanceVenue(market, wanted)
        attempt = 0
        while True:
            try:
                # unfiltered: a filter naming one unlisted symbol fails the whole request
                text = await rest.get_text(probe.exchange_info_path(), weight=20, retries=1)
                info = orjson.loads(text)
                break
            except (RestError, orjson.JSONDecodeError) as exc:
                health.state = "reconnecting"
                health.error = f"cannot load market list: {exc}"
                log.warning("binance %s: %s", market, health.error)
                await asyncio.sleep(min(30.0, 1.0 * 2 ** attempt))
                attempt += 1
        found = instruments_from_exchange_info(info, market, {i.venue_symbol for i in wanted})
        found_ids = {i.id for i in found}
        with self.hub.lock:
            self.hub.remove_health(health)
            for inst in wanted:
                if inst.id not in found_ids:
                    self.problems.append(f"{inst.symbol} is not traded on binance {market}")
                    self.hub.remove_instrument(inst.id)
        if not found:
            return
        venue = BinanceVenue(market, found)
        feed = VenueFeed(venue, self.hub, endpoint.ws_url, rest, found, settings=self.settings,
                         clock=self.clock, capture=self.capture)
        self._feeds[market] = feed
        await feed.start()
        for instrument_id, interval in self._watched:
            feed.watch(instrument_id, interval)

    # -- MarketSource --------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return self.hub.instruments()

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        return self.hub.view(instrument_id, depth, group, interval, trades)

    def health(self) -> list[HealthView]:
        return self.hub.health()

    def watch(self, instrument_id: str, interval: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def _watch() -> None:
            # remembered, so a feed still loading its market list applies it when it starts
            self._watched.add((instrument_id, interval))
            for feed in self._feeds.values():
                feed.watch(instrument_id, interval)

        loop.call_soon_threadsafe(_watch)

    def call(self, coro) -> Future:
        """Run a coroutine on the engine loop from another thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)
