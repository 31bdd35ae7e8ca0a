"""The recorder: normalized events in, batched idempotent upserts out.

Two ways in, one way down:

* live: ``on_event`` is a MarketHub listener. It runs on the engine thread with the hub's
  lock held, so it only filters and appends to a deque; a writer thread drains the deque
  every ``flush_interval`` (0.5 s: a killed process loses at most that plus one commit)
  or sooner when a batch fills, and writes it in one transaction. The UI thread never
  waits for the disk.
* bulk: ``ingest(events)`` (replay --record, tests, benchmarks) converts and writes on
  the calling thread in large transactions.

Both end in ``_write``: trades are inserted with ``ON CONFLICT DO NOTHING`` on
(instrument, trade id), so a reconnect overlap or a capture replayed twice adds nothing.
One-minute klines are then rebuilt *from the stored trades* of every minute the batch
touched (source ``agg``), which makes them idempotent too: volume is a sum over
distinct trades, never an accumulation of what passed by. A venue's own candles
(source ``ws``) outrank aggregated ones (see storage.statements), so aggregation only
shows where the venue's kline stream is unavailable or not subscribed. Minutes without
trades get no kline: a gap stays visible as a gap instead of becoming a made-up flat
candle.

Live recordings also say which candles they did not see whole (``klines.partial``): a
minute aggregated from trades that the recording started inside, and every candle still
open when the recording of its instrument stops. Start and stop travel through the queue
as ``Coverage`` marks, so they apply in order with the events around them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from types import TracebackType
from typing import Any

import orjson
from sqlalchemy import Connection, Engine

from app.market.health import FeedState, HealthView
from app.market.events import BookTop, Funding, Kline, Trade
from app.market.instruments import Instrument
from app.market.klines import INTERVAL_MS
from storage.instrument_keys import InstrumentKeys
from storage.models import STALE_OPEN_MS
from storage.statements import Statements, statements_for

log = logging.getLogger(__name__)

AGG_INTERVAL = "1m"
AGG_STEP = 60_000
# a trade may arrive this late (venue clock skew, network); the minute stays open until then
CLOSE_GRACE_MS = 2_000
INF = float("inf")

BookSource = Callable[[str, int], "tuple[list[Any], list[Any]] | None"]


# the recorder's own states as the status bar shows a connection's
_HEALTH_STATE: dict[str, FeedState] = {"running": "connected", "failed": "failed"}


@dataclass(slots=True, frozen=True)
class RecorderStats:
    state: str  # running | stopped | failed
    rows_per_sec: float
    backlog: int  # events waiting to be written
    rows: int  # rows written since start (all tables)
    events: int  # events accepted
    rejected: int  # events with unusable values (NaN, negative), skipped
    dropped: int  # events discarded because the backlog hit its cap
    last_flush_age: float | None
    error: str | None


@dataclass(slots=True, frozen=True)
class Coverage:
    """The live recording of instrument ``id`` started (``on``) or stopped at wall time ``ts``."""

    id: str
    ts: int
    on: bool


@dataclass(slots=True)
class IngestResult:
    events: int = 0
    trades: int = 0
    klines: int = 0
    funding: int = 0
    books: int = 0
    rejected: int = 0
    seconds: float = 0.0


class _Batch:
    """Rows of one transaction, converted from events."""

    __slots__ = ("trades", "klines", "funding", "books", "spans", "stops", "counts", "kline_rows",
                 "rejected_ids")

    def __init__(self) -> None:
        self.trades: list[tuple[Any, ...]] = []
        self.klines: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # latest version of each candle wins
        self.funding: list[tuple[Any, ...]] = []
        self.books: list[tuple[Any, ...]] = []
        self.spans: dict[int, list[int]] = {}  # instrument key -> [min ts, max ts] of trades
        self.stops: list[tuple[int, int]] = []  # (instrument key, wall ms) recordings stopped
        self.counts = IngestResult()
        self.kline_rows: list[tuple[Any, ...]] = []  # every kline row written (venue's and built)
        self.rejected_ids: list[str] = []  # instrument of each rejected event (rare)

    def __len__(self) -> int:
        return len(self.trades) + len(self.klines) + len(self.funding) + len(self.books)


class Recorder:
    def __init__(self, engine: Engine, *, flush_interval: float = 0.5, max_batch: int = 50_000,
                 max_backlog: int = 2_000_000, book_interval: float = 5.0, book_depth: int = 20,
                 funding_interval: float = 60.0, record: Iterable[str] | None = None,
                 clock_ms: Callable[[], int] | None = None) -> None:
        """``record``: instrument ids to record, or None for everything the hub sees.
        ``clock_ms``: wall clock for closing quiet minutes and book timestamps (live);
        None in bulk ingest, where time is what the events say."""
        self.engine = engine
        self.sql: Statements = statements_for(engine)
        self.keys = InstrumentKeys(engine)
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.book_interval_ms = int(book_interval * 1000)
        self.book_depth = book_depth
        self.funding_interval_ms = int(funding_interval * 1000)
        self.clock_ms = clock_ms
        self._record: frozenset[str] | None = None if record is None else frozenset(record)
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self.book_source: BookSource | None = None
        self.instruments_source: Callable[[], list[Instrument]] | None = None
        # per instrument key: newest trade ts seen, open aggregated minute, last book/funding
        self._newest: dict[int, int] = {}
        self._open_minute: dict[int, int] = {}
        self._last_book: dict[int, int] = {}
        self._last_funding: dict[int, tuple[Any, ...]] = {}
        self._last_book_sample = 0.0
        # live coverage: wall ms the recording began (the session, or per instrument key)
        self._session_start: int | None = None
        self._started: dict[int, int] = {}
        self._seen: set[str] = set()  # ids written this session (stop marks when recording all)
        self._stopped_keys: set[int] = set()  # keys whose recording stopped (until it starts again)
        # stats
        self._rows = 0
        self._events = 0
        self._rejected = 0
        self._dropped = 0
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=64)
        self._last_flush: float | None = None
        self._error: str | None = None
        self._state = "stopped"
        # per (venue, table) rows written, and per instrument id events dropped or rejected:
        # what the metrics endpoint serves, labelled by venue
        self._venue_of: dict[int, str] = {}
        self._rows_by: dict[tuple[str, str], int] = {}
        self._dropped_ids: dict[str, int] = {}
        self._rejected_ids: dict[str, int] = {}
        # called on the writer thread after each commit with the trade rows it wrote and
        # the wall ms of the commit (the metrics' and benchmarks' end-to-end lag)
        self.on_commit: Callable[[list[tuple[Any, ...]], int], None] | None = None

    # -- what to record (any thread) -----------------------------------------------

    def recording(self) -> set[str] | None:
        """Ids being recorded, or None when everything is."""
        record = self._record
        return None if record is None else set(record)

    def set_recording(self, instrument_id: str, on: bool) -> None:
        current = set(self._record or ())
        was = instrument_id in current
        if on:
            current.add(instrument_id)
        else:
            current.discard(instrument_id)
        self._record = frozenset(current)  # one reference swap: on_event never sees a half-set
        if was != on and self._live():
            # after the swap: every event of the instrument queued so far is ahead of the mark
            self._queue.append(Coverage(instrument_id, self.clock_ms(), on))  # type: ignore[misc]  # coverage marks are queued only by a live recorder, which has clock_ms
            self._wake.set()

    def _live(self) -> bool:
        return self._thread is not None and self.clock_ms is not None

    def register(self, instrument: Instrument) -> None:
        """Venue metadata (base, quote, venue symbol) for an instrument's first row."""
        self.keys.remember(instrument)

    # -- live path -----------------------------------------------------------------

    def on_event(self, ev: Any) -> None:
        """MarketHub listener: engine thread, hub lock held. Filter and enqueue only."""
        record = self._record
        if record is not None and ev.id not in record:
            return
        queue = self._queue
        if len(queue) >= self.max_backlog:
            self._dropped += 1
            self._dropped_ids[ev.id] = self._dropped_ids.get(ev.id, 0) + 1
            return
        queue.append(ev)
        if len(queue) >= self.max_batch:
            self._wake.set()

    def start(self) -> Recorder:
        if self._thread is None:
            self._stop.clear()
            self._state = "running"
            if self.clock_ms is not None:
                now = self.clock_ms()
                self._session_start = now
                for instrument_id in sorted(self._record or ()):
                    self._queue.append(Coverage(instrument_id, now, True))
            self._thread = threading.Thread(target=self._run, name="cryptoterm-recorder", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the writer thread."""
        thread = self._thread
        if thread is None:
            return
        if self.clock_ms is not None:
            now = self.clock_ms()
            record = self._record
            for instrument_id in sorted(self._seen if record is None else record):
                self._queue.append(Coverage(instrument_id, now, False))
        self._stop.set()
        self._wake.set()
        thread.join(timeout)
        self._thread = None
        self._stopped_keys.clear()  # the session is over; a bulk ingest after it records all
        if self._state == "running":
            self._state = "stopped"

    def _run(self) -> None:
        next_flush = time.monotonic() + self.flush_interval
        while True:
            wait = max(0.0, next_flush - time.monotonic())
            self._wake.wait(wait)
            self._wake.clear()
            stopping = self._stop.is_set()
            next_flush = time.monotonic() + self.flush_interval
            try:
                self._sample_books()
                while True:
                    written = self.flush()
                    if written < self.max_batch or stopping:
                        break
                if self._state == "failed":
                    self._state = "running"
                    self._error = None
            except Exception as exc:  # keep the queue and retry; the status bar shows why
                self._state = "failed"
                self._error = f"{exc.__class__.__name__}: {exc}".splitlines()[0][:200]
                log.exception("recorder flush failed; will retry")
                if stopping:
                    return
            if stopping and not self._queue:
                return

    def flush(self) -> int:
        """Write up to ``max_batch`` queued events now; returns how many were taken."""
        queue = self._queue
        events = []
        take = min(len(queue), self.max_batch)
        popleft = queue.popleft
        for _ in range(take):
            events.append(popleft())
        if not events and not self._closable_minutes():
            return 0
        try:
            self._write_events(events)
        except Exception:
            queue.extendleft(reversed(events))  # nothing is lost: retried next flush
            raise
        return len(events)

    def _sample_books(self) -> None:
        """Every ``book_interval``, store the top of each recorded book."""
        source = self.book_source
        if source is None or self.clock_ms is None:
            return
        now = time.monotonic()
        if now - self._last_book_sample < self.book_interval_ms / 1000.0:
            return
        self._last_book_sample = now
        record = self._record
        if record is None:
            insts = self.instruments_source() if self.instruments_source else []
            ids = [i.id for i in insts]
        else:
            ids = sorted(record)
        ts = self.clock_ms()
        for instrument_id in ids:
            top = source(instrument_id, self.book_depth)
            if top is not None:
                bids, asks = top
                self._queue.append(BookTop(instrument_id, ts, list(bids), list(asks)))

    # -- bulk path -----------------------------------------------------------------

    def ingest(self, events: Iterable[Any], batch_size: int = 100_000,
               progress: Callable[[IngestResult], None] | None = None) -> IngestResult:
        """Write ``events`` on this thread, ``batch_size`` per transaction. Events of
        instruments not being recorded are skipped when a recording set is in force."""
        total = IngestResult()
        started = time.perf_counter()
        record = self._record
        source = iter(events)
        if record is not None:
            source = (ev for ev in source if ev.id in record)
        while True:
            chunk = list(islice(source, batch_size))  # batching in C: no per-event Python step
            if not chunk:
                break
            self._merge(total, self._write_events(chunk))
            if progress is not None and len(chunk) == batch_size:
                progress(total)
        total.seconds = time.perf_counter() - started
        if progress is not None:
            progress(total)
        return total

    def sink(self, batch_size: int = 100_000) -> IngestSink:
        """A callable taking one event at a time (for push-style producers such as
        ``replay_file(path, on_event)``), writing every ``batch_size``; use it as a
        context manager so the last partial batch is written on exit."""
        return IngestSink(self, batch_size)

    @staticmethod
    def _merge(total: IngestResult, part: IngestResult) -> None:
        total.events += part.events
        total.trades += part.trades
        total.klines += part.klines
        total.funding += part.funding
        total.books += part.books
        total.rejected += part.rejected

    # -- conversion and writing ----------------------------------------------------

    def _write_events(self, events: list[Any]) -> IngestResult:
        batch = self._convert(events)
        if self.sql.dialect == "postgresql":
            # several recorders may write the same instruments at once: rows in primary-key
            # order take their row locks in one order, so two writers never deadlock
            batch.trades.sort(key=_TRADE_PK)
        with self._write_lock:
            with self.engine.begin() as conn:
                self._write(conn, batch)
        self._account(batch)
        on_commit = self.on_commit
        if on_commit is not None and batch.trades:
            on_commit(batch.trades, int(time.time() * 1000))
        return batch.counts

    def _convert(self, events: list[Any]) -> _Batch:
        batch = _Batch()
        trades = batch.trades
        spans = batch.spans
        counts = batch.counts
        key_cache: dict[str, int] = {}
        key_of = self.keys.key
        stopped = self._stopped_keys
        rejected = 0
        for ev in events:
            kind = type(ev)
            key = key_cache.get(ev.id)
            if key is None:
                try:
                    key = key_of(ev.id)
                except ValueError:  # not a canonical id and no metadata: unusable, not fatal
                    log.warning("skipping events of unknown instrument %r", ev.id)
                    key = -1
                else:
                    if key not in self._venue_of:
                        self._venue_of[key] = _venue_of_id(ev.id)
                key_cache[ev.id] = key
            if key < 0:
                rejected += 1
                batch.rejected_ids.append(ev.id)
                continue
            if key in stopped and kind is not Coverage:
                # queued after its recording stopped (the engine thread read the old set
                # an instant before the swap): not part of what was recorded
                continue
            if kind is Trade:
                price = ev.price
                amount = ev.amount
                ts = ev.ts
                if not (0.0 < price < INF and 0.0 <= amount < INF):
                    rejected += 1
                    batch.rejected_ids.append(ev.id)
                    continue
                tid = ev.trade_id
                if tid is None:
                    # no venue id: the trade's content is its identity (a replayed copy matches)
                    tid = f"~{ts}:{price!r}:{amount!r}:{ev.side}"
                trades.append((key, tid, ts, price, amount, ev.side))
                span = spans.get(key)
                if span is None:
                    spans[key] = [ts, ts]
                elif ts < span[0]:
                    span[0] = ts
                elif ts > span[1]:
                    span[1] = ts
            elif kind is Kline:
                if not (0.0 < ev.low <= ev.high < INF and ev.volume >= 0.0):
                    rejected += 1
                    batch.rejected_ids.append(ev.id)
                    continue
                # a venue's candle is whole from its open, however late we started listening
                batch.klines[(key, ev.interval, ev.open_time)] = (
                    key, ev.interval, ev.open_time, ev.open, ev.high, ev.low, ev.close, ev.volume,
                    1 if ev.closed else 0, "ws", 0)
            elif kind is Funding:
                state = (ev.rate, ev.next_funding_time)
                last = self._last_funding.get(key)
                # markPrice comes every second; keep a row per change of rate or schedule,
                # and at least one a funding_interval for the mark/index price history
                if last is not None and last[1] == state and ev.ts - last[0] < self.funding_interval_ms:
                    continue
                self._last_funding[key] = (ev.ts, state)
                batch.funding.append((key, ev.ts, ev.rate, ev.next_funding_time, ev.mark_price,
                                      ev.index_price))
            elif kind is BookTop:
                last_ts = self._last_book.get(key)
                if last_ts is not None and ev.ts - last_ts < self.book_interval_ms:
                    continue
                self._last_book[key] = ev.ts
                batch.books.append((key, ev.ts, max(len(ev.bids), len(ev.asks)),
                                    orjson.dumps(ev.bids[: self.book_depth]).decode(),
                                    orjson.dumps(ev.asks[: self.book_depth]).decode()))
            elif kind is Coverage:
                if ev.on:
                    self._started[key] = ev.ts  # applies to the trades aggregated from here on
                    stopped.discard(key)
                else:
                    batch.stops.append((key, ev.ts))
                    stopped.add(key)
                continue
            # tickers are not stored: they are derivable from trades and klines
        if self._session_start is not None:
            self._seen.update(i for i, k in key_cache.items() if k >= 0)
        counts.events = len(events)
        counts.rejected = rejected
        counts.trades = len(trades)
        counts.funding = len(batch.funding)
        counts.books = len(batch.books)
        return batch

    def _write(self, conn: Connection, batch: _Batch) -> None:
        sql = self.sql
        if batch.trades:
            conn.exec_driver_sql(sql.insert_trades, batch.trades)
        agg = self._aggregate(conn, batch.spans)
        # the venue's candles and the ones built from trades in one statement, in key
        # order (the venue's first where both name a minute: the upsert keeps it anyway)
        klines = list(batch.klines.values()) + agg
        if klines:
            if sql.dialect == "postgresql":
                klines.sort(key=_KLINE_PK)
            conn.exec_driver_sql(sql.upsert_klines, klines)
        if batch.funding:
            conn.exec_driver_sql(sql.upsert_funding, batch.funding)
        if batch.books:
            conn.exec_driver_sql(sql.insert_books, batch.books)
        batch.kline_rows = klines
        batch.counts.klines = len(klines)
        for key, ts in batch.stops:
            self._stopped(conn, key, ts)

    def _stopped(self, conn: Connection, key: int, ts: int) -> None:
        """The recording of instrument ``key`` stopped at ``ts``: a minute aggregated from
        trades and over by then is whole (close it without waiting for the grace); every
        candle still open is partial, since nothing will complete it now."""
        self._open_minute.pop(key, None)
        self._started.pop(key, None)
        mark = "?" if self.sql.dialect == "sqlite" else "%s"
        conn.exec_driver_sql(
            f"UPDATE klines SET closed = 1 WHERE inst = {mark} AND interval = {mark} "
            f"AND source = 'agg' AND closed = 0 AND open_time >= {mark} AND open_time <= {mark}",
            (key, AGG_INTERVAL, ts - AGG_STEP - STALE_OPEN_MS, ts - AGG_STEP))
        # per interval, so each is one primary-key range scan however long the history
        conn.exec_driver_sql(
            f"UPDATE klines SET partial = 1 WHERE inst = {mark} AND interval = {mark} "
            f"AND closed = 0 AND open_time > {mark} AND open_time <= {mark}",
            [(key, iv, ts - step - STALE_OPEN_MS, ts) for iv, step in INTERVAL_MS.items()])

    def _closable_minutes(self) -> bool:
        if self.clock_ms is None or not self._open_minute:
            return False
        horizon = self.clock_ms() - CLOSE_GRACE_MS
        return any(start + AGG_STEP <= horizon for start in self._open_minute.values())

    def _aggregate(self, conn: Connection, spans: dict[int, list[int]]) -> list[tuple[Any, ...]]:
        """One-minute klines rebuilt from the stored trades of every touched minute."""
        horizon = None if self.clock_ms is None else self.clock_ms() - CLOSE_GRACE_MS
        work: dict[int, tuple[int, int]] = {}
        for key, (lo, hi) in spans.items():
            newest = max(hi, self._newest.get(key, hi))
            self._newest[key] = newest
            work[key] = (lo - lo % AGG_STEP, hi - hi % AGG_STEP + AGG_STEP)
        if horizon is not None:
            # a quiet market still closes its minute when the clock passes it
            for key, start in list(self._open_minute.items()):
                if start + AGG_STEP <= horizon:
                    lo, hi = work.get(key, (start, start + AGG_STEP))
                    work[key] = (min(lo, start), max(hi, start + AGG_STEP))
        rows: list[tuple[Any, ...]] = []
        sql = self.sql
        for key, (lo, hi) in work.items():
            buckets = conn.exec_driver_sql(sql.agg_trades, (AGG_STEP, key, lo, hi)).all()
            if not buckets:
                continue
            edge_ts = sorted({b[4] for b in buckets} | {b[5] for b in buckets})
            edges: dict[int, list[tuple[str, float]]] = {}
            query = sql.edge_trades.format(ts_list=", ".join(str(int(t)) for t in edge_ts))
            for ts, tid, price in conn.exec_driver_sql(query, (key, lo, hi)):
                edges.setdefault(ts, []).append((tid, price))
            newest = self._newest.get(key, 0)
            watermark = newest if horizon is None else max(newest, horizon)
            started = self._started.get(key, self._session_start or 0)
            for start, high, low, volume, first_ts, last_ts in buckets:
                start = int(start)
                # ties within a millisecond: numeric venue ids order by length, then text
                first = min(edges[first_ts], key=_id_order)[1]
                last = max(edges[last_ts], key=_id_order)[1]
                closed = 1 if start + AGG_STEP <= watermark else 0
                partial = 1 if start < started < start + AGG_STEP else 0  # began inside it
                rows.append((key, AGG_INTERVAL, start, first, high, low, last, volume, closed, "agg",
                             partial))
                if closed:
                    if self._open_minute.get(key) == start:
                        del self._open_minute[key]
                elif start >= self._open_minute.get(key, start):
                    self._open_minute[key] = start
        return rows

    def _account(self, batch: _Batch) -> None:
        counts = batch.counts
        rows = counts.trades + counts.klines + counts.funding + counts.books
        now = time.monotonic()
        self._rows += rows
        self._events += counts.events
        self._rejected += counts.rejected
        self._rate_window.append((now, self._rows))
        self._last_flush = now
        venue_of = self._venue_of
        by = self._rows_by
        for table, written in (("trades", batch.trades), ("klines", batch.kline_rows),
                               ("funding", batch.funding), ("books", batch.books)):
            if written:
                for key, n in Counter(map(_FIRST, written)).items():
                    slot = (venue_of.get(key, ""), table)
                    by[slot] = by.get(slot, 0) + n
        for instrument_id in batch.rejected_ids:
            self._rejected_ids[instrument_id] = self._rejected_ids.get(instrument_id, 0) + 1

    def rows_by_venue(self) -> dict[tuple[str, str], int]:
        """Rows written since start per (venue, table): trades, klines, funding, books."""
        return dict(self._rows_by)

    def lost_by_venue(self) -> dict[tuple[str, str], int]:
        """Events not written per (venue, reason): ``backlog`` (the queue was full) or
        ``invalid`` (unusable values or an unknown instrument)."""
        out: dict[tuple[str, str], int] = {}
        for reason, ids in (("backlog", self._dropped_ids), ("invalid", self._rejected_ids)):
            for instrument_id, n in list(ids.items()):
                slot = (_venue_of_id(instrument_id), reason)
                out[slot] = out.get(slot, 0) + n
        return out

    # -- health --------------------------------------------------------------------

    def stats(self) -> RecorderStats:
        now = time.monotonic()
        window = [(t, r) for t, r in self._rate_window if now - t <= 5.0]
        rate = 0.0
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            rate = (window[-1][1] - window[0][1]) / max(1.0, now - window[0][0])
        elif window and self._last_flush is not None:
            rate = 0.0
        age = None if self._last_flush is None else now - self._last_flush
        return RecorderStats(self._state, rate, len(self._queue), self._rows, self._events,
                             self._rejected, self._dropped, age, self._error)

    def health_view(self) -> HealthView:
        """The recorder as a status-bar entry: rows/s in ``msgs_per_sec``, rows written
        in ``messages``, and the queue in ``backlog``."""
        s = self.stats()
        state = _HEALTH_STATE.get(s.state, "stopped")
        return HealthView("recorder", state, s.last_flush_age, s.rows_per_sec, s.rows,
                          0, 0, 0, (), s.error, backlog=s.backlog)


class IngestSink:
    """Push-style front of ``Recorder.ingest``; see ``Recorder.sink``."""

    def __init__(self, recorder: Recorder, batch_size: int) -> None:
        self.recorder = recorder
        self.batch_size = batch_size
        self.result = IngestResult()
        self._chunk: list[Any] = []
        self._record = recorder._record
        self._started = time.perf_counter()

    def __call__(self, ev: Any) -> None:
        record = self._record
        if record is not None and ev.id not in record:
            return
        chunk = self._chunk
        chunk.append(ev)
        if len(chunk) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self._chunk:
            Recorder._merge(self.result, self.recorder._write_events(self._chunk))
            self._chunk = []
        self.result.seconds = time.perf_counter() - self._started

    def __enter__(self) -> IngestSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.flush()  # what was read before an error or Ctrl+C is kept
        except Exception:
            if exc_type is None:
                raise
            log.exception("could not write the last batch")  # the first error is the story


_FIRST = itemgetter(0)
_TRADE_PK = itemgetter(0, 2, 1)  # (inst, ts, trade_id): the trades table's primary key
_KLINE_PK = itemgetter(0, 1, 2)  # (inst, interval, open_time)


def _venue_of_id(instrument_id: str) -> str:
    """The venue of a canonical id (``cryptopair_binance_btcusdt`` -> ``binance``)."""
    parts = instrument_id.split("_", 2)
    return parts[1] if len(parts) == 3 else ""


def _id_order(entry: tuple[str, float]) -> tuple[int, str]:
    return (len(entry[0]), entry[0])
