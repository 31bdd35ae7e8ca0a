"""Bulk backfill: the missing klines of many instruments on many venues at once.

Each venue market is one ``MarketRun``: its instruments' missing ranges (``plan``, so a
re-run or a run after an interruption fetches only what is not stored) cut into pages of
the venue's row limit, fetched by a few concurrent workers through the ``fetch``
function the caller gives (the feeds' REST client: its weight budget keeps every
venue under its limit, and 429/418 with Retry-After are honoured there). Markets run
side by side on one event loop; one writer thread batches every page into the store
(executemany, large transactions), so fetching never waits on the database.

A page that still fails after the client's retries is given up, counted and left as a
hole: ``cryptoterm gaps --all --fill-gaps`` repairs it later. The store stays consistent
either way; writes are the same idempotent upserts as every other writer's.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from app.errors import CryptotermError
from app.market.instruments import Instrument, MarketType
from app.market.klines import interval_ms
from app.venues import registry
from app.venues.base import Venue
from storage.backfill import plan
from storage.instrument_keys import InstrumentKeys
from storage.queries import Gap
from storage.statements import statements_for

# (path with query, request weight) -> response text; raises FetchFailed when it gives up
Fetch = Callable[[str, int], Awaitable[str]]

DEFAULT_CONCURRENCY = 4  # requests in flight per venue market; the weight budget paces them
WRITE_BATCH_ROWS = 50_000  # rows per transaction at most


class FetchFailed(CryptotermError):
    """A page the fetch function gave up on; the message says why in plain words."""

    default_title = "Backfill"


@dataclass(slots=True)
class Target:
    """One instrument and interval to fill, and the ranges it is missing."""

    instrument: Instrument
    interval: str
    ranges: list[Gap]

    @property
    def candles(self) -> int:
        return sum(g.candles for g in self.ranges)


@dataclass(slots=True)
class FailedPage:
    target: Target
    start: int
    end: int  # exclusive
    reason: str


@dataclass(slots=True)
class MarketRun:
    """The work and progress of one venue market."""

    venue: str
    market: MarketType
    targets: list[Target]
    total: int = 0  # candles asked for
    done: int = 0  # candles covered (stored, or confirmed absent at the venue)
    rows: int = 0  # rows handed to the store
    requests: int = 0
    failed: list[FailedPage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.total = sum(t.candles for t in self.targets)

    @property
    def label(self) -> str:
        return f"{self.venue} {self.market}"


def plan_targets(engine: Engine, instruments: list[Instrument], interval: str, since: int,
                 until: int) -> list[Target]:
    """What each instrument is missing in [since, until]: nothing stored twice."""
    out = []
    for inst in instruments:
        ranges = plan(engine, inst.id, interval, since, until)
        if ranges:
            out.append(Target(inst, interval, ranges))
    return out


def pages(target: Target, rows: int) -> list[tuple[int, int]]:
    """The target's ranges cut into [start, end) pages of at most ``rows`` candles."""
    step = interval_ms(target.interval)
    out = []
    for gap in target.ranges:
        cursor = gap.start
        while cursor < gap.end:
            end = min(gap.end, cursor + rows * step)
            out.append((cursor, end))
            cursor = end
    return out


class KlineWriter:
    """One thread that writes every page into the store, batching pages into large
    transactions. ``close`` writes what is queued before it returns: an interrupted run
    keeps every page it fetched."""

    def __init__(self, engine: Engine, batch_rows: int = WRITE_BATCH_ROWS) -> None:
        self._engine = engine
        self._sql = statements_for(engine).upsert_klines
        self._batch_rows = batch_rows
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=256)
        self.written = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backfill-writer", daemon=True)
        self._thread.start()

    def put(self, rows: list[tuple[Any, ...]]) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(rows)

    def _run(self) -> None:
        q = self._queue
        done = False
        while not done:
            batch = q.get()
            if batch is None:
                break
            # drain what else is waiting, up to the batch size: one transaction for all
            while len(batch) < self._batch_rows:
                try:
                    more = q.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    done = True
                    break
                batch.extend(more)
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(self._sql, batch)
                self.written += len(batch)
            except BaseException as exc:  # handed to the fetching side by put/close
                self.error = exc
                return

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error


def _codec(venue: str, market: MarketType, instruments: list[Instrument]) -> Venue:
    return registry.make_venue(venue, market, instruments)


async def run_market(run: MarketRun, fetch: Fetch, writer: KlineWriter, keys: dict[str, int], *,
                     concurrency: int = DEFAULT_CONCURRENCY, page_rows: int | None = None,
                     now_ms: Callable[[], int] | None = None,
                     on_progress: Callable[[MarketRun], None] | None = None) -> MarketRun:
    """Fetch every page of one venue market with ``concurrency`` workers."""
    facts = registry.facts(run.venue, run.market)
    rows_per_page = page_rows or facts.kline_page_limit
    weight = facts.kline_weight
    codec = _codec(run.venue, run.market, [t.instrument for t in run.targets])
    # a codec may read rows straight into values (Binance); the others give Klines
    fast: Callable[[str], list[tuple[int, float, float, float, float, float]]] | None = getattr(
        codec, "parse_kline_values", None)
    clock = now_ms or (lambda: int(time.time() * 1000))
    # instrument by instrument, oldest first: workers walk neighbouring pages together
    work = [(t, start, end) for t in run.targets for start, end in pages(t, rows_per_page)]
    position = 0

    def report() -> None:
        if on_progress is not None:
            on_progress(run)

    async def worker() -> None:
        nonlocal position
        while position < len(work):
            target, start, end = work[position]
            position += 1
            inst, interval = target.instrument, target.interval
            step = interval_ms(interval)
            count = (end - start) // step
            path = codec.klines_path(inst, interval, count, start, end - step)
            try:
                text = await fetch(path, weight)
                if fast is not None:
                    values = fast(text)
                else:
                    values = [(k.open_time, k.open, k.high, k.low, k.close, k.volume)
                              for k in codec.parse_klines(text, inst, interval)]
            except FetchFailed as exc:
                run.failed.append(FailedPage(target, start, end, str(exc)))
                run.done += count
                report()
                continue
            except ValueError as exc:  # an answer the codec cannot read: a hole, said why
                run.failed.append(FailedPage(target, start, end, f"unreadable answer: {exc}"))
                run.done += count
                report()
                continue
            run.requests += 1
            closed_before = clock() - step  # a candle opened before this has ended
            key = keys[inst.id]
            batch = [(key, interval, t, o, h, lo, c, v, 1 if t <= closed_before else 0, "rest", 0)
                     for t, o, h, lo, c, v in values if start <= t < end]
            if batch:
                writer.put(batch)
                run.rows += len(batch)
            run.done += count
            report()

    report()
    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
    return run


def instrument_keys(engine: Engine, runs: list[MarketRun]) -> dict[str, int]:
    """The store's key of every instrument to fill (registering new ones)."""
    keys = InstrumentKeys(engine)
    out = {}
    for run in runs:
        for t in run.targets:
            keys.remember(t.instrument)
            out[t.instrument.id] = keys.key(t.instrument.id)
    return out


async def bulk_backfill(engine: Engine, runs: list[tuple[MarketRun, Fetch]], *,
                        concurrency: int = DEFAULT_CONCURRENCY, page_rows: int | None = None,
                        now_ms: Callable[[], int] | None = None,
                        on_progress: Callable[[MarketRun], None] | None = None) -> list[MarketRun]:
    """Every venue market side by side, one writer for all; returns their runs."""
    keys = instrument_keys(engine, [r for r, _ in runs])
    writer = KlineWriter(engine)
    try:
        await asyncio.gather(*(run_market(run, fetch, writer, keys, concurrency=concurrency,
                                          page_rows=page_rows, now_ms=now_ms, on_progress=on_progress)
                               for run, fetch in runs))
    finally:
        writer.close()
    return [r for r, _ in runs]
