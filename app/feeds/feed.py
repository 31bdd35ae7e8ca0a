"""VenueFeed: the I/O around a FeedCore — websocket connections, REST snapshots and
klines, subscriptions, keepalives, raw capture and the per-stream staleness watchdog."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any, cast

from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectGate, ConnectionSettings, WsConnection, retry_delay
from app.feeds.core import FeedCore, FeedStats
from app.feeds.health import FeedHealth
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient, RestError
from app.market.instruments import Instrument
from app.venues.base import GAP, STALE_SNAPSHOT, BookSync, ConnectionPlan, Venue

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
        self._snapshot_tasks: dict[str, asyncio.Task[Any]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._conns: list[tuple[WsConnection, ConnectionPlan]] = []
        self._book_owner: dict[str, WsConnection] = {}  # instrument id -> conn carrying its book
        self._rng = random.Random()
        self._rest_back = asyncio.Event()  # set (and replaced) when a snapshot request succeeds
        # book watchdog state, all touched by timers only (the hot path stores one timestamp)
        self._seen: dict[str, float] = {}  # last book message time the watchdog has seen
        self._usual_gap: dict[str, float] = {}  # decaying peak of the gaps between them
        self._silenced: dict[str, float] = {}  # inst id -> when its silent channel was resubscribed
        # inst id -> (when its channel last went silent, slack): a channel that a
        # resubscription revives but that keeps falling silent is slow, not dead; each
        # repeat within a minute doubles the silence it is allowed (up to 8x)
        self._slack: dict[str, tuple[float, int]] = {}
        self._resubscribed: dict[str, tuple[float, int]] = {}  # inst id -> (when, how many times)
        self._stopping = False
        self._started = False

    @property
    def stats(self) -> FeedStats:
        return self.core.stats

    @property
    def _syncs(self) -> dict[str, BookSync]:
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
        with self.hub.lock:
            for inst_id in owned:  # connected again: "reconnecting" no longer says why
                self.hub.note_sync(inst_id, None)
        for inst_id in owned:
            self._resubscribed.pop(inst_id, None)
            self._silenced.pop(inst_id, None)
            self._slack.pop(inst_id, None)
        for msg in self.venue.subscribe_messages(plan.streams):
            await conn.send(msg)

    def _on_conn_close(self, conn: WsConnection) -> None:
        with self.hub.lock:
            for inst_id, owner in self._book_owner.items():
                if owner is conn:
                    self.core.mark_unsynced(inst_id)
                    if not self._stopping:
                        self.hub.note_sync(inst_id, "resync: connection lost, reconnecting")

    def _resubscribe(self, inst_ids: list[str]) -> None:
        """Venues that rebuild books from a fresh subscription (OKX, Bybit, Coinbase):
        one unsubscribe and one subscribe batch per connection."""
        by_conn: dict[WsConnection, list[str]] = {}
        now = self.clock()
        for inst_id in inst_ids:
            _, times = self._resubscribed.get(inst_id, (now, 0))
            self._resubscribed[inst_id] = (now, times + 1)
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
        interval, text = self.venue.keepalive  # type: ignore[misc]  # this loop is started only for venues with a keepalive
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
        running = self._snapshot_tasks.get(inst_id)
        if running is not None and not running.done():
            return  # its loop fetches a snapshot that meets the current buffer
        task = asyncio.get_running_loop().create_task(self._fetch_snapshot(inst_id))
        self._snapshot_tasks[inst_id] = task
        def forget(t: asyncio.Task[Any], i: str = inst_id) -> None:
            if self._snapshot_tasks.get(i) is t:
                self._snapshot_tasks.pop(i, None)
        task.add_done_callback(forget)

    async def _fetch_snapshot(self, inst_id: str) -> None:
        """Fetch REST snapshots until the book is synced or its connection ends (a new
        connection starts its own). Failures back off (equal jitter, capped small so a
        venue that answers again gets its book back within seconds), honour the venue's
        Retry-After, and are paced to use only a share of the REST weight budget."""
        inst = self._instruments[inst_id]
        owner = self._book_owner.get(inst_id)
        sync = self.core.syncs[inst_id]
        settings = self.settings
        weight = self.venue.snapshot_weight()
        failures = stale = 0
        try:
            while not self._stopping and owner is not None and owner.is_open and not sync.synced:
                if sync.first_buffered is None:
                    await asyncio.sleep(0.05)  # a gap emptied the buffer: wait for the next diff
                    continue
                # retries of a failing endpoint get only a share of the weight budget
                wait = self.rest.budget.wait_for_share(weight, settings.resync_budget_share) \
                    if failures else 0.0
                if wait > 0:
                    self._note(inst_id, "resync: waiting for REST weight budget", wait)
                    await asyncio.sleep(wait)
                    continue
                try:
                    text = await self.rest.get_text(self.venue.snapshot_path(inst), weight=weight,
                                                    retries=0)
                except RestError as exc:
                    failures += 1
                    delay = max(exc.retry_after or 0.0,
                                retry_delay(failures - 1, settings.resync_base, settings.resync_cap,
                                            self._rng),
                                self.rest.budget.retry_pace(weight, settings.resync_budget_share))
                    what = f"REST {exc.status}" if exc.status is not None else str(exc)
                    log.warning("%s: snapshot failed (%s); next try in %.1fs", inst_id, exc, delay)
                    self._note(inst_id, f"resync: {what}", delay)
                    if owner is not None:
                        owner.health.error = f"{inst.symbol} book snapshot failed: {exc}"
                    await self._until_rest_answers(delay)
                    continue
                # the venue answers again: every book waiting out its backoff tries now
                self._rest_back.set()
                self._rest_back = asyncio.Event()
                result = self.core.on_snapshot_text(inst_id, text)
                if result not in (STALE_SNAPSHOT, GAP):
                    if owner is not None and owner.health.error is not None \
                            and owner.health.error.startswith(f"{inst.symbol} book snapshot failed"):
                        owner.health.error = None
                    return
                # the snapshot predates the first buffered diff (or missed the buffer):
                # ask again, a little later
                stale += 1
                self._note(inst_id, "resync: snapshot older than the stream", None)
                await asyncio.sleep(min(settings.resync_cap, 0.2 * stale))
        finally:
            if not sync.synced:
                with self.hub.lock:
                    self.core.snapshot_pending.discard(inst_id)

    async def _until_rest_answers(self, delay: float) -> None:
        """Sleep ``delay``, or less if another book's snapshot request succeeds: while the
        endpoint is down the books' tries share the budget, and once it is up, none of
        them waits out a long backoff."""
        try:
            await asyncio.wait_for(self._rest_back.wait(), delay)
        except asyncio.TimeoutError:
            pass

    def _note(self, inst_id: str, note: str | None, wait: float | None) -> None:
        with self.hub.lock:
            self.hub.note_sync(inst_id, note, None if wait is None else self.clock() + wait)

    # -- watchdog ------------------------------------------------------------------

    def _silence_limit(self, inst_id: str, with_slack: bool = True) -> float:
        """How long this book channel may be quiet: a multiple of its usual gap, within
        [book_silence_min, stream_stale_after], times the slack it earned by being slow."""
        s = self.settings
        slack = self._slack.get(inst_id, (0.0, 1))[1] if with_slack else 1
        usual = self._usual_gap.get(inst_id)
        if usual is None:
            return self.stream_stale_after * slack
        return min(self.stream_stale_after, max(s.book_silence_min, s.book_silence_factor * usual)) * slack

    async def _stream_watchdog(self) -> None:
        """Every book is either synced and streaming or being worked on. A book channel
        silent (for its own rate) while its connection lives is resubscribed, and its
        connection reconnected if that does not bring it back; an unsynced book whose
        recovery stalled is asked for again."""
        tick = self.settings.watchdog_tick
        marked: set[WsConnection] = set()
        while not self._stopping:
            await asyncio.sleep(tick)
            now = self.clock()
            if len(self._tasks) > 64:  # resubscribes and closes are one-shot tasks: drop the done
                self._tasks = [t for t in self._tasks if not t.done()]
            silent: set[WsConnection] = set()
            for inst_id, conn in list(self._book_owner.items()):
                if not conn.is_open or conn.connected_at is None:
                    continue
                if self._watch_book(inst_id, conn, now):
                    silent.add(conn)
                self._supervise(inst_id, conn, now)
            for conn in silent - marked:
                if conn.health.state == "connected":
                    conn.health.state = "stale"
                    marked.add(conn)
            for conn in marked - silent:  # only what this watchdog marked stale
                marked.discard(conn)
                if conn.is_open and conn.health.state == "stale":
                    conn.health.state = "connected"
                    conn.health.error = None

    def _watch_book(self, inst_id: str, conn: WsConnection, now: float) -> bool:
        """Learn the channel's usual gap, act on a silence; True while it is silent."""
        opened = cast(float, conn.connected_at)  # only open connections are watched
        last = max(self.core.last_book_message.get(inst_id, opened), opened)
        seen = self._seen.get(inst_id)
        if seen is None or last < seen:
            self._seen[inst_id] = last
        elif last > seen:
            self._seen[inst_id] = last
            if self._silenced.pop(inst_id, None) is not None:
                log.info("%s: book channel is streaming again", inst_id)
            elif seen > opened:  # a silence we acted on, or a reconnect, teaches nothing
                gap = last - seen
                usual = self._usual_gap.get(inst_id, gap)
                # a decaying peak: a long gap counts at once, the memory of it fades slowly
                self._usual_gap[inst_id] = max(gap, usual * 0.98)
        resubscribed_at = self._silenced.get(inst_id)
        # a fresh subscription must answer within the plain limit; slack is for the stream
        limit = self._silence_limit(inst_id, with_slack=resubscribed_at is None)
        since = last if resubscribed_at is None else max(last, resubscribed_at)
        if now - since <= limit:
            return resubscribed_at is not None and last < resubscribed_at
        inst = self._instruments.get(inst_id)
        name = inst.symbol if inst is not None else inst_id
        if resubscribed_at is None:
            previous, slack = self._slack.get(inst_id, (-1e9, 1))
            self._slack[inst_id] = (now, min(8, slack * 2) if now - previous < 60.0 else 1)
            log.warning("%s: no book updates for %.1fs; resubscribing", inst_id, now - last)
            conn.health.error = f"{name}: no book updates for {now - last:.0f}s; resubscribing"
            self._silenced[inst_id] = now
            with self.hub.lock:
                self.core.book_stale(inst_id)
                self.hub.note_sync(inst_id, f"stale: no book updates for {now - last:.0f} s, resubscribing")
            self._resubscribe([inst_id])
            return True
        # resubscribing brought nothing back: the connection is the problem
        log.warning("%s: book channel still silent after resubscribing; reconnecting", inst_id)
        conn.health.error = f"{name}: book still silent after resubscribing; reconnecting"
        with self.hub.lock:
            self.core.book_stale(inst_id)
            self.hub.note_sync(inst_id, "stale: book channel dead, reconnecting")
        self._silenced.pop(inst_id, None)
        self._tasks.append(asyncio.get_running_loop().create_task(conn.close()))
        return True

    def _supervise(self, inst_id: str, conn: WsConnection, now: float) -> None:
        """An unsynced book must have its recovery under way: restart one that stalled."""
        sync = self.core.syncs.get(inst_id)
        if sync is not None and sync.synced:
            self._resubscribed.pop(inst_id, None)  # the next loss starts a fresh schedule
            return
        if sync is None or inst_id in self._silenced:
            return
        if self.venue.recovery == "snapshot":
            running = self._snapshot_tasks.get(inst_id)
            if (running is None or running.done()) and sync.first_buffered is not None:
                with self.hub.lock:
                    self.core.snapshot_pending.add(inst_id)
                self._request_snapshot(inst_id)
            return
        when, times = self._resubscribed.get(inst_id, (conn.connected_at or now, 0))
        timeout = self.settings.resubscribe_timeout * min(8, 2 ** max(0, times - 1))
        if now - max(when, conn.connected_at or when) > timeout:
            log.warning("%s: book not rebuilt %.0fs after subscribing; resubscribing", inst_id, timeout)
            with self.hub.lock:
                self.hub.note_sync(inst_id, "resync: no snapshot from the venue, resubscribing")
            self._resubscribe([inst_id])
