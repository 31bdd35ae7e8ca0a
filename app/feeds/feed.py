"""VenueFeed: runs one venue market's connections, book syncs and REST calls, and
writes what it decodes into the MarketHub."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from app.feeds.connection import ConnectionSettings, WsConnection
from app.feeds.health import FeedHealth
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient, RestError
from app.market.instruments import Instrument
from app.venues.base import APPLIED, GAP, STALE_SNAPSHOT, SYNCED, Ack, ConnectionPlan, Unknown
from app.venues.binance import BinanceBookSync, BinanceVenue

log = logging.getLogger(__name__)


class FeedStats:
    """Counts that `replay --emit stats` and the benchmarks report."""

    __slots__ = ("messages", "events", "gaps", "resyncs", "malformed", "unknown")

    def __init__(self) -> None:
        self.messages = self.events = self.gaps = self.resyncs = 0
        self.malformed = self.unknown = 0


class VenueFeed:
    def __init__(self, venue: BinanceVenue, hub: MarketHub, ws_url: str, rest: RestClient,
                 instruments: list[Instrument], intervals: tuple[str, ...] = ("1m",),
                 settings: ConnectionSettings | None = None, kline_history: int = 500,
                 stream_stale_after: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.venue = venue
        self.hub = hub
        self.ws_url = ws_url
        self.rest = rest
        self.settings = settings or ConnectionSettings()
        self.kline_history = kline_history
        self.stream_stale_after = stream_stale_after
        self.clock = clock
        self.stats = FeedStats()
        self._instruments = {i.id: i for i in instruments}
        self._intervals: dict[str, set[str]] = {i.id: set(intervals) for i in instruments}
        self._syncs: dict[str, BinanceBookSync] = {}
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        self._tasks: list[asyncio.Task] = []
        self._conns: list[tuple[WsConnection, ConnectionPlan]] = []
        self._depth_owner: dict[str, WsConnection] = {}  # instrument id -> conn with its depth
        self._last_depth: dict[str, float] = {}
        self._synced_once: set[str] = set()  # a later sync of these counts as a resync
        self._stopping = False

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        insts = list(self._instruments.values())
        with self.hub.lock:
            for inst in insts:
                sync = self.venue.new_book_sync(inst)
                self._syncs[inst.id] = sync
                self.hub.add_instrument(inst).book = sync.book
        on_frame = self._make_on_frame()
        for plan in self.venue.connection_plans(self.ws_url, insts, ["1m"]):
            health = FeedHealth(plan.name, clock=self.clock)
            conn = WsConnection(plan.name, plan.url, health, self._on_open, on_frame,
                                on_close=self._on_conn_close, settings=self.settings)
            self._conns.append((conn, plan))
            with self.hub.lock:
                self.hub.add_health(health)
                for inst in insts:
                    if f"{inst.venue_symbol.lower()}@depth@100ms" in plan.streams:
                        self._depth_owner[inst.id] = conn
                        self.hub.add_instrument(inst, health)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(conn.run(), name=conn.name) for conn, _ in self._conns]
        self._tasks.append(loop.create_task(self._stream_watchdog()))
        for inst in insts:
            for interval in sorted(self._intervals[inst.id]):
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
        # Every (re)connect rebuilds the books this connection carries from scratch.
        with self.hub.lock:
            for inst_id, owner in self._depth_owner.items():
                if owner is conn:
                    self._mark_unsynced(inst_id, conn.health)
                    self._syncs[inst_id].reset()
                    task = self._snapshot_tasks.pop(inst_id, None)
                    if task is not None:
                        task.cancel()
        for msg in self.venue.subscribe_messages(plan.streams):
            await conn.send(msg)

    def _on_conn_close(self, conn: WsConnection) -> None:
        with self.hub.lock:
            for inst_id, owner in self._depth_owner.items():
                if owner is conn:
                    self._mark_unsynced(inst_id, conn.health)

    def watch(self, instrument_id: str, interval: str) -> None:
        """Stream klines of ``interval`` for an instrument and load their history."""
        inst = self._instruments.get(instrument_id)
        if inst is None or interval in self._intervals[instrument_id]:
            return
        self._intervals[instrument_id].add(interval)
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

    async def _load_klines(self, inst: Instrument, interval: str) -> None:
        path = self.venue.klines_path(inst, interval, self.kline_history)
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
                    for k in klines:
                        # the stream may already have a fresher copy of the newest candle
                        if k.open_time not in existing:
                            st.put_kline(k)
                    st.seq += 1
            return

    # -- the hot path --------------------------------------------------------------

    def _make_on_frame(self):
        decode = self.venue.decode
        depth_type = self.venue.depth_type
        hub = self.hub
        stats = self.stats
        # the hot path looks syncs and states up by the venue's own symbol
        by_symbol = {self._instruments[i].venue_symbol.upper(): (i, sync, hub.state(i))
                     for i, sync in self._syncs.items()}
        last_depth = self._last_depth

        def on_frame(raw: str | bytes, now: float) -> None:
            stats.messages += 1
            msg = decode(raw)
            if type(msg) is depth_type:
                entry = by_symbol.get(msg.symbol)
                if entry is None:
                    stats.unknown += 1
                    return
                inst_id, sync, state = entry
                last_depth[inst_id] = now
                with hub.lock:
                    result = sync.on_diff(msg)
                    if result == APPLIED:
                        state.seq += 1
                        return
                    if result == GAP:
                        self._on_gap(inst_id)
                if sync.needs_snapshot and inst_id not in self._snapshot_tasks:
                    self._request_snapshot(inst_id)
                return
            if msg is None:
                return
            if isinstance(msg, Unknown):
                if msg.malformed:
                    stats.malformed += 1
                    log.warning("malformed frame skipped: %s", msg.reason)
                else:
                    stats.unknown += 1
                return
            if isinstance(msg, Ack):
                if msg.error:
                    log.warning("venue rejected a request: %s", msg.error)
                return
            stats.events += 1
            with hub.lock:
                hub.on_event(msg)

        return on_frame

    def _mark_unsynced(self, inst_id: str, health: FeedHealth | None) -> None:
        self.hub.touch(inst_id, synced=False)
        if health is not None:
            health.unsynced.add(inst_id)

    def _on_gap(self, inst_id: str) -> None:
        """A lost diff: hide the book, count it, and let the next diff trigger a snapshot."""
        self.stats.gaps += 1
        owner = self._depth_owner.get(inst_id)
        if owner is not None:
            owner.health.gaps += 1
        self._mark_unsynced(inst_id, owner.health if owner else None)
        task = self._snapshot_tasks.pop(inst_id, None)
        if task is not None:
            task.cancel()
        log.warning("%s: sequence gap; resyncing the book", inst_id)

    def _request_snapshot(self, inst_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._fetch_snapshot(inst_id))
        self._snapshot_tasks[inst_id] = task
        task.add_done_callback(lambda t, i=inst_id: self._snapshot_tasks.pop(i, None)
                               if self._snapshot_tasks.get(i) is t else None)

    async def _fetch_snapshot(self, inst_id: str) -> None:
        inst = self._instruments[inst_id]
        sync = self._syncs[inst_id]
        owner = self._depth_owner.get(inst_id)
        for attempt in range(10):
            try:
                text = await self.rest.get_text(self.venue.snapshot_path(inst),
                                                weight=self.venue.snapshot_weight())
                snap = self.venue.parse_snapshot(text)
            except (RestError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: snapshot failed: %s", inst_id, exc)
                if owner is not None:
                    owner.health.error = f"{inst.symbol} book snapshot failed: {exc}"
                await asyncio.sleep(min(10.0, 0.5 * 2 ** attempt))
                continue
            with self.hub.lock:
                try:
                    result = sync.on_snapshot(snap)
                except ValueError as exc:
                    log.warning("%s: corrupt snapshot (%s)", inst_id, exc)
                    sync.reset()
                    result = STALE_SNAPSHOT
                if result == SYNCED:
                    was_resync = inst_id in self._synced_once
                    self.hub.touch(inst_id, synced=True)
                    if owner is not None:
                        owner.health.unsynced.discard(inst_id)
                    if was_resync:
                        self.stats.resyncs += 1
                        if owner is not None:
                            owner.health.resyncs += 1
                    self._synced_once.add(inst_id)
                    return
                if result == GAP:
                    self._on_gap(inst_id)
                    return
            # STALE_SNAPSHOT: the snapshot predates the first buffered diff; ask again
            await asyncio.sleep(0.2 * (attempt + 1))

    async def _stream_watchdog(self) -> None:
        """A depth stream silent while its connection lives is a stale book: say so."""
        while not self._stopping:
            await asyncio.sleep(1.0)
            now = self.clock()
            for inst_id, conn in self._depth_owner.items():
                if not conn.is_open or conn.connected_at is None:
                    continue
                last = self._last_depth.get(inst_id, conn.connected_at)
                if now - last > self.stream_stale_after and conn.health.state == "connected":
                    conn.health.state = "stale"
                    conn.health.error = f"no book updates for {now - last:.0f}s"
                elif now - last <= self.stream_stale_after and conn.health.state == "stale":
                    conn.health.state = "connected"
                    conn.health.error = None
