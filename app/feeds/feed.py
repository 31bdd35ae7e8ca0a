"""VenueFeed: the I/O around a FeedCore — websocket connections, REST snapshots and
klines, subscriptions, keepalives, raw capture and the per-stream staleness watchdog."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable

from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectGate, ConnectionSettings, WsConnection
from app.feeds.core import FeedCore, FeedStats
from app.feeds.health import FeedHealth
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient, RestError
from app.market.instruments import Instrument
from app.venues.base import STALE_SNAPSHOT, ConnectionPlan, Venue

log = logging.getLogger(__name__)


class VenueFeed:
    def __init__(self, venue: Venue, hub: MarketHub, ws_url: str, rest: RestClient,
                 instruments: list[Instrument], intervals: tuple[str, ...] = ("1m",),
                 settings: ConnectionSettings | None = None, kline_history: int = 500,
                 stream_stale_after: float = 15.0,
                 clock: Callable[[], float] = time.monotonic,
                 capture: CaptureWriter | None = None, gate: ConnectGate | None = None) -> None:
        self.venue = venue
        self.hub = hub
        self.ws_url = ws_url
        self.rest = rest
        self.settings = settings or ConnectionSettings()
        self.kline_history = kline_history
        self.stream_stale_after = stream_stale_after
        self.clock = clock
        self.capture = capture
        self.gate = gate  # shared by every feed of one venue
        self._instruments = {i.id: i for i in instruments}
        self._intervals: dict[str, set[str]] = {i.id: set(intervals) for i in instruments}
        self.core = FeedCore(venue, hub, instruments, self._request_snapshot, self._resubscribe)
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._conns: list[tuple[WsConnection, ConnectionPlan]] = []
        self._book_owner: dict[str, WsConnection] = {}  # instrument id -> conn carrying its book
        self._stopping = False
        self._started = False

    @property
    def stats(self) -> FeedStats:
        return self.core.stats

    @property
    def _syncs(self):
        return self.core.syncs

    @property
    def _depth_owner(self) -> dict[str, WsConnection]:
        return self._book_owner

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        insts = list(self._instruments.values())
        for plan in self.venue.connection_plans(self.ws_url, insts, ["1m"]):
            self._open_connection(plan, insts)
        if self.capture is not None:
            self.rest.on_response = self.capture.rest_recorder(self.venue.name, self.venue.market)
        loop = asyncio.get_running_loop()
        self._started = True
        self._tasks = [loop.create_task(conn.run(), name=conn.name) for conn, _ in self._conns]
        self._tasks.append(loop.create_task(self._stream_watchdog()))
        if self.venue.keepalive is not None:
            self._tasks.append(loop.create_task(self._keepalive()))
        for inst in insts:
            for interval in sorted(self._intervals[inst.id]):
                self._build_from_trades(inst.id, interval)
                self._tasks.append(loop.create_task(self._load_klines(inst, interval)))

    async def stop(self) -> None:
        self._stopping = True
        for conn, _ in self._conns:
            await conn.stop()
        for task in [*self._tasks, *self._snapshot_tasks.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._snapshot_tasks.values(), return_exceptions=True)

    def connections(self) -> list[WsConnection]:
        return [c for c, _ in self._conns]

    # -- subscriptions -------------------------------------------------------------

    async def _on_open(self, conn: WsConnection) -> None:
        plan = next(p for c, p in self._conns if c is conn)
        # every (re)connect rebuilds the books this connection carries from scratch
        owned = [i for i, owner in self._book_owner.items() if owner is conn]
        for inst_id in owned:
            task = self._snapshot_tasks.pop(inst_id, None)
            if task is not None:
                task.cancel()
        self.core.reset_books(owned)
        for msg in self.venue.subscribe_messages(plan.streams):
            await conn.send(msg)

    def _on_conn_close(self, conn: WsConnection) -> None:
        with self.hub.lock:
            for inst_id, owner in self._book_owner.items():
                if owner is conn:
                    self.core.mark_unsynced(inst_id)

    def _resubscribe(self, inst_ids: list[str]) -> None:
        """Venues that rebuild books from a fresh subscription (OKX, Bybit, Coinbase):
        one unsubscribe and one subscribe batch per connection."""
        by_conn: dict[WsConnection, list[str]] = {}
        for inst_id in inst_ids:
            conn = self._book_owner.get(inst_id)
            inst = self._instruments.get(inst_id)
            if conn is not None and inst is not None and conn.is_open:
                by_conn.setdefault(conn, []).extend(self.venue.book_streams(inst))

        async def again(conn: WsConnection, streams: list[str]) -> None:
            for msg in self.venue.subscribe_messages(streams, "UNSUBSCRIBE"):
                await conn.send(msg)
            for msg in self.venue.subscribe_messages(streams):
                await conn.send(msg)

        loop = asyncio.get_running_loop()
        for conn, streams in by_conn.items():
            self._tasks.append(loop.create_task(again(conn, streams)))

    def watch(self, instrument_id: str, interval: str) -> None:
        """Stream klines of ``interval`` for an instrument and load their history."""
        inst = self._instruments.get(instrument_id)
        if inst is None or interval in self._intervals[instrument_id]:
            return
        self._intervals[instrument_id].add(interval)
        self._build_from_trades(instrument_id, interval)
        stream, group = self.venue.kline_stream(inst, interval)
        for conn, plan in self._conns:
            if self.venue.stream_group(plan.streams[0]) == group:
                plan.streams.append(stream)
                loop = asyncio.get_running_loop()
                if conn.is_open:
                    for msg in self.venue.subscribe_messages([stream]):
                        self._tasks.append(loop.create_task(conn.send(msg)))
                self._tasks.append(loop.create_task(self._load_klines(inst, interval)))
                return

    def add_instrument(self, inst: Instrument) -> None:
        """Stream one more instrument: its streams join the connection of the same path
        that has room, or a new connection when none has (the venue's stream limits)."""
        if inst.id in self._instruments:
            return
        self._instruments[inst.id] = inst
        self._intervals[inst.id] = {"1m"}
        self.core.add_instrument(inst)
        loop = asyncio.get_running_loop()
        for plan in self.venue.connection_plans(self.ws_url, [inst], ["1m"]):
            group = self.venue.stream_group(plan.streams[0])
            target = next((c for c, p in self._conns
                           if p.url == plan.url and self.venue.stream_group(p.streams[0]) == group
                           and len(p.streams) + len(plan.streams) <= self.venue.max_streams(group)),
                          None)
            if target is None:
                target = self._open_connection(plan, [inst])
            else:
                existing = next(p for c, p in self._conns if c is target)
                existing.streams.extend(plan.streams)
                if target.is_open:
                    for msg in self.venue.subscribe_messages(plan.streams):
                        self._tasks.append(loop.create_task(target.send(msg)))
            if any(s in plan.streams for s in self.venue.book_streams(inst)):
                self._book_owner[inst.id] = target
                self.core.health_of[inst.id] = target.health
                with self.hub.lock:
                    self.hub.add_instrument(inst, target.health)
                    self.core.mark_unsynced(inst.id)
        self._build_from_trades(inst.id, "1m")
        self._tasks.append(loop.create_task(self._load_klines(inst, "1m")))

    def _build_from_trades(self, instrument_id: str, interval: str) -> None:
        """A venue whose stream lacks ``interval`` (Coinbase streams 5m only) gets its
        live candle built from trades, on top of the REST history."""
        live = self.venue.live_kline_intervals
        if live is not None and interval not in live:
            with self.hub.lock:
                st = self.hub.state(instrument_id)
                if st is not None:
                    st.trade_built.add(interval)

    def _open_connection(self, plan: ConnectionPlan, insts: list[Instrument]) -> WsConnection:
        settings = self.settings
        if self.venue.ws_ping_interval is None and settings.ping_interval is not None:
            settings = dataclasses.replace(settings, ping_interval=None)
        pace = getattr(self.venue, "control_msgs_per_sec", None)  # the venue's inbound limit
        if pace is not None and pace != settings.control_msgs_per_sec:
            settings = dataclasses.replace(settings, control_msgs_per_sec=pace)
        health = FeedHealth(plan.name, clock=self.clock)
        handler = self.core.frame_handler(self.venue.new_decoder())
        if self.capture is not None:
            handler = self.capture.wrap(self.venue.name, self.venue.market, handler)
        conn = WsConnection(plan.name, plan.url, health, self._on_open, handler,
                            on_close=self._on_conn_close, settings=settings, gate=self.gate)
        self._conns.append((conn, plan))
        with self.hub.lock:
            self.hub.add_health(health)
            for inst in insts:
                if any(s in plan.streams for s in self.venue.book_streams(inst)):
                    self._book_owner[inst.id] = conn
                    self.core.health_of[inst.id] = health
                    self.hub.add_instrument(inst, health)
        if self._started:
            self._tasks.append(asyncio.get_running_loop().create_task(conn.run(), name=conn.name))
        return conn

    async def _keepalive(self) -> None:
        """Text pings for venues that want them (OKX ``ping``, Bybit ``{"op":"ping"}``),
        on a fixed beat whatever the traffic: Bybit wants one every 20 s regardless."""
        interval, text = self.venue.keepalive  # type: ignore[misc]
        while not self._stopping:
            await asyncio.sleep(interval)
            for conn, _ in self._conns:
                if conn.is_open:
                    try:
                        await conn.send(text)
                    except Exception as exc:  # a dead socket is the connection's business
                        log.debug("%s: keepalive failed: %s", conn.name, exc)

    # -- REST ----------------------------------------------------------------------

    async def _load_klines(self, inst: Instrument, interval: str) -> None:
        try:
            path = self.venue.klines_path(inst, interval, self.kline_history)
        except (ValueError, KeyError, NotImplementedError) as exc:
            log.info("%s: no %s kline history from %s: %s", inst.id, interval, self.venue.name, exc)
            return
        for attempt in range(5):
            try:
                text = await self.rest.get_text(path, weight=2)
                klines = self.venue.parse_klines(text, inst, interval)
            except (RestError, ValueError, KeyError, IndexError, TypeError) as exc:
                log.warning("%s %s klines: %s", inst.id, interval, exc)
                await asyncio.sleep(min(30.0, 2.0 ** attempt))
                continue
            with self.hub.lock:
                st = self.hub.state(inst.id)
                if st is not None:
                    existing = st.klines.get(interval, {})
                    streamed = interval not in st.trade_built
                    for k in klines:
                        # a streamed candle may be fresher than REST's copy; one built
                        # from trades holds only the trades since we connected
                        if not streamed or k.open_time not in existing:
                            st.put_kline(k)
                    st.seq += 1
            return

    def _request_snapshot(self, inst_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._fetch_snapshot(inst_id))
        self._snapshot_tasks[inst_id] = task
        task.add_done_callback(lambda t, i=inst_id: self._snapshot_tasks.pop(i, None)
                               if self._snapshot_tasks.get(i) is t else None)

    async def _fetch_snapshot(self, inst_id: str) -> None:
        inst = self._instruments[inst_id]
        owner = self._book_owner.get(inst_id)
        for attempt in range(10):
            try:
                text = await self.rest.get_text(self.venue.snapshot_path(inst),
                                                weight=self.venue.snapshot_weight())
            except RestError as exc:
                log.warning("%s: snapshot failed: %s", inst_id, exc)
                if owner is not None:
                    owner.health.error = f"{inst.symbol} book snapshot failed: {exc}"
                await asyncio.sleep(min(10.0, 0.5 * 2 ** attempt))
                continue
            if self.core.on_snapshot_text(inst_id, text) != STALE_SNAPSHOT:
                return
            # the snapshot predates the first buffered diff: ask again, a little later
            await asyncio.sleep(0.2 * (attempt + 1))

    # -- watchdog ------------------------------------------------------------------

    async def _stream_watchdog(self) -> None:
        """A book stream silent while its connection lives is a stale book: say so."""
        last_book = self.core.last_book_message
        while not self._stopping:
            await asyncio.sleep(1.0)
            now = self.clock()
            for inst_id, conn in self._book_owner.items():
                if not conn.is_open or conn.connected_at is None:
                    continue
                last = max(last_book.get(inst_id, conn.connected_at), conn.connected_at)
                if now - last > self.stream_stale_after and conn.health.state == "connected":
                    conn.health.state = "stale"
                    conn.health.error = f"no book updates for {now - last:.0f}s"
                elif now - last <= self.stream_stale_after and conn.health.state == "stale":
                    conn.health.state = "connected"
                    conn.health.error = None
