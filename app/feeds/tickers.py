"""TickerFeed: tickers (and perps' funding) of markets streamed without books.

The watchlist lists every market of every venue; a book for each would mean hundreds of
subscriptions, snapshots and resyncs. These rows get the venue's all-market ticker
streams instead (Binance ``!miniTicker@arr``, Coinbase ``ticker_batch``), or batched
per-symbol ticker subscriptions where a venue has no such stream (OKX, Bybit), plus an
hour of 1m klines over REST for the sparkline. Nothing here touches a book.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from app.feeds.connection import ConnectGate, ConnectionSettings, WsConnection
from app.feeds.health import FeedHealth
from app.feeds.hub import SPARK_MINUTES, MarketHub
from app.feeds.rest import RestClient, RestError
from app.market.events import Funding, Ticker
from app.market.instruments import Instrument
from app.venues.base import Ack, ConnectionPlan, Events, Venue

log = logging.getLogger(__name__)

HISTORY_CONCURRENCY = 4  # kline requests in flight per market (the REST budget paces them)


class TickerVenue(Venue, Protocol):
    """A venue codec that can stream tickers without books."""

    def ticker_plans(self, ws_url: str, instruments: list[Instrument]) -> list[ConnectionPlan]: ...


def supports_tickers(venue: Venue) -> bool:
    return callable(getattr(venue, "ticker_plans", None))


class TickerFeed:
    def __init__(self, venue: TickerVenue, hub: MarketHub, ws_url: str, rest: RestClient | None,
                 instruments: list[Instrument], settings: ConnectionSettings | None = None,
                 clock: Callable[[], float] = time.monotonic, gate: ConnectGate | None = None,
                 history: bool = True) -> None:
        self.venue = venue
        self.hub = hub
        self.ws_url = ws_url
        self.rest = rest
        self.settings = settings or ConnectionSettings()
        self.clock = clock
        self.gate = gate
        self.history = history and rest is not None
        self.instruments = {i.id: i for i in instruments}
        self._conns: list[tuple[WsConnection, ConnectionPlan]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self.messages = 0

    async def start(self) -> None:
        insts = list(self.instruments.values())
        settings = self.settings
        if self.venue.ws_ping_interval is None and settings.ping_interval is not None:
            settings = dataclasses.replace(settings, ping_interval=None)
        pace = getattr(self.venue, "control_msgs_per_sec", None)
        if pace is not None and pace != settings.control_msgs_per_sec:
            settings = dataclasses.replace(settings, control_msgs_per_sec=pace)
        for plan in self.venue.ticker_plans(self.ws_url, insts):
            health = FeedHealth(plan.name, clock=self.clock)
            conn = WsConnection(plan.name, plan.url, health, self._on_open,
                                self._handler(self.venue.new_decoder()), settings=settings,
                                gate=self.gate)
            self._conns.append((conn, plan))
            ids = set(self._ids_of(plan))
            with self.hub.lock:
                self.hub.add_health(health)
                for inst in insts:
                    if inst.id in ids:
                        self.hub.add_ticker_instrument(inst, health)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(conn.run(), name=conn.name) for conn, _ in self._conns]
        if self.venue.keepalive is not None:
            self._tasks.append(loop.create_task(self._keepalive()))
        if self.history:
            self._tasks.append(loop.create_task(self._load_history(insts)))

    def _ids_of(self, plan: ConnectionPlan) -> list[str]:
        """The instruments a plan carries: an all-market stream carries all of them."""
        if any(s.startswith("!") for s in plan.streams):
            return list(self.instruments)
        # "tickers:BTC-USDT" (OKX), "tickers.BTCUSDT" (Bybit), "ticker_batch:BTC-USD"
        symbols = {(s.rpartition(":")[2] if ":" in s else s.rpartition(".")[2]).upper()
                   for s in plan.streams}
        return [i.id for i in self.instruments.values() if i.venue_symbol.upper() in symbols]

    async def stop(self) -> None:
        self._stopping = True
        for conn, _ in self._conns:
            await conn.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def connections(self) -> list[WsConnection]:
        return [c for c, _ in self._conns]

    async def _on_open(self, conn: WsConnection) -> None:
        plan = next(p for c, p in self._conns if c is conn)
        for msg in self.venue.subscribe_messages(plan.streams):
            await conn.send(msg)

    def _handler(self, decode: Callable[[str | bytes], object]) -> Callable[[str | bytes, float], None]:
        hub = self.hub
        wanted = self.instruments
        name = self.venue.name

        def route(msg: object) -> None:
            if type(msg) is Ticker or type(msg) is Funding:
                if msg.id in wanted:  # an all-market stream also carries the booked ones
                    with hub.lock:
                        hub.on_ticker_event(msg)
            elif type(msg) is Ack and msg.error:
                log.warning("%s rejected a ticker subscription: %s", name, msg.error)

        def on_frame(raw: str | bytes, now: float) -> None:
            self.messages += 1
            msg = decode(raw)
            if type(msg) is Events:
                for item in msg.items:
                    route(item)
            else:
                route(msg)

        return on_frame

    async def _keepalive(self) -> None:
        interval, text = self.venue.keepalive  # type: ignore[misc]  # started only for venues with one
        while not self._stopping:
            await asyncio.sleep(interval)
            for conn, _ in self._conns:
                if conn.is_open:
                    try:
                        await conn.send(text)
                    except Exception as exc:  # a dead socket is the connection's business
                        log.debug("%s: keepalive failed: %s", conn.name, exc)

    async def _load_history(self, insts: list[Instrument]) -> None:
        """An hour of 1m closes per market, a few requests at a time (the REST client's
        weight budget keeps them under the venue's limit); a market whose history fails
        keeps the closes its ticker builds."""
        queue: asyncio.Queue[Instrument] = asyncio.Queue()
        for inst in insts:
            queue.put_nowait(inst)

        async def worker() -> None:
            while not queue.empty():
                await self._history_of(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(HISTORY_CONCURRENCY)))

    async def _history_of(self, inst: Instrument) -> None:
        assert self.rest is not None
        try:
            path = self.venue.klines_path(inst, "1m", SPARK_MINUTES)
            text = await self.rest.get_text(path, weight=2, retries=1)
            klines = self.venue.parse_klines(text, inst, "1m")
        except (RestError, ValueError, KeyError, IndexError, TypeError, NotImplementedError) as exc:
            log.info("%s: no 1m history for the watchlist: %s", inst.id, exc)
            return
        with self.hub.lock:
            st = self.hub.ticker_state(inst.id)
            if st is None:
                return
            for k in klines[-SPARK_MINUTES:]:
                if k.open_time not in st.closes:  # a live close is fresher than REST's
                    st.put_close(k.open_time, k.close)
            st.seq += 1
