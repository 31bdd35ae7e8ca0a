"""Reading the store: instruments, klines, trades, funding and coverage.

Every query names an instrument by canonical id, or by venue + display symbol, and
returns rows ordered by time (oldest first). With a ``limit`` and no ``since`` the
newest ``limit`` rows are returned, which is what "show me the last N candles" means.
All reads are primary-key range scans (see storage.models).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, Select, and_, func, or_, select

from app.errors import CryptotermError
from app.market.events import BookTop, Funding, Kline, Trade
from app.market.instruments import canonical_id, parse_display_symbol
from app.market.klines import INTERVAL_MS, bucket_start, interval_ms
from storage.models import (STALE_OPEN_MS, BookSnapshotRow, FundingRow, InstrumentRow, KlineRow,
                            TradeRow)
from storage.tables import table_of

_I = table_of(InstrumentRow)
_K = table_of(KlineRow)
_T = table_of(TradeRow)
_F = table_of(FundingRow)
_B = table_of(BookSnapshotRow)


class QueryError(CryptotermError, ValueError):
    """A query that cannot be answered as asked; the message is fit to show a user."""

    default_title = "History"


@dataclass(frozen=True, slots=True)
class StoredInstrument:
    key: int
    id: str
    venue: str
    market: str
    base: str
    quote: str
    symbol: str
    venue_symbol: str | None
    tick_size: float | None = None  # None: the venue's metadata was never stored
    lot_size: float | None = None

    @property
    def label(self) -> str:
        return f"{self.symbol} · {self.venue} {self.market}"


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    """What is stored of one instrument's klines of one interval."""

    interval: str
    count: int
    first: int  # open time of the oldest candle
    last: int  # open time of the newest candle


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing candles: open times ``start`` .. ``end - step`` (``end`` exclusive)."""

    start: int
    end: int
    step: int

    @property
    def candles(self) -> int:
        return (self.end - self.start) // self.step


# -- instruments -------------------------------------------------------------------

def _stored(row: Any) -> StoredInstrument:
    return StoredInstrument(row.key, row.id, row.venue, row.market, row.base, row.quote,
                            row.symbol, row.venue_symbol, row.tick_size, row.lot_size)


def instruments(engine: Engine, venue: str | None = None) -> list[StoredInstrument]:
    stmt = select(_I).order_by(_I.c.venue, _I.c.market, _I.c.symbol)
    if venue is not None:
        stmt = stmt.where(_I.c.venue == venue)
    with engine.connect() as conn:
        return [_stored(r) for r in conn.execute(stmt)]


def venues(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(_I.c.venue).distinct().order_by(_I.c.venue)).scalars())


def instrument(engine: Engine, instrument_id: str) -> StoredInstrument | None:
    with engine.connect() as conn:
        row = conn.execute(select(_I).where(_I.c.id == instrument_id)).first()
    return None if row is None else _stored(row)


def find_instrument(engine: Engine, venue: str, symbol: str) -> StoredInstrument:
    """The stored instrument for ``venue`` + display ``symbol``; QueryError naming what
    is stored when there is no such instrument."""
    try:
        market, base, quote = parse_display_symbol(symbol)
    except ValueError as exc:
        raise QueryError(str(exc)) from None
    found = instrument(engine, canonical_id(venue, market, base, quote))
    if found is None:
        stored = [i.symbol for i in instruments(engine, venue)]
        listing = ", ".join(stored[:12]) + (" …" if len(stored) > 12 else "")
        raise QueryError(f"no recorded data for {symbol.upper()} on {venue}"
                         + (f" (stored: {listing})" if stored else " (nothing stored for this venue)"))
    return found


def _by_name(engine: Engine, venue: str | None, symbol: str | None) -> StoredInstrument:
    """The instrument a query without an id names by venue and symbol."""
    if venue is None or symbol is None:
        raise QueryError("name an instrument by id, or by venue and symbol")
    return find_instrument(engine, venue, symbol)


def _named(engine: Engine, instrument_id: str | None, venue: str | None,
           symbol: str | None) -> str:
    """The id a query names, by id (no lookup: the read's subquery finds the key) or by
    venue and symbol (one lookup, QueryError naming what is stored)."""
    return instrument_id if instrument_id is not None else _by_name(engine, venue, symbol).id


def resolve_key(engine: Engine, instrument_id: str | None = None, venue: str | None = None,
                symbol: str | None = None) -> int | None:
    if instrument_id is None:
        return _by_name(engine, venue, symbol).key
    found = instrument(engine, instrument_id)
    return None if found is None else found.key


# -- klines ------------------------------------------------------------------------

def series(engine: Engine, instrument_id: str) -> list[SeriesInfo]:
    """Stored kline intervals of an instrument with their extent, shortest first."""
    key = resolve_key(engine, instrument_id)
    if key is None:
        return []
    stmt = (select(_K.c.interval, func.count(), func.min(_K.c.open_time), func.max(_K.c.open_time))
            .where(_K.c.inst == key).group_by(_K.c.interval))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = [SeriesInfo(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]
    return sorted(out, key=lambda s: INTERVAL_MS.get(s.interval, 0))


def _window(stmt: Select[Any], col: ColumnElement[Any], since: int | None, until: int | None,
            limit: int | None, conn: Connection) -> Sequence[Any]:
    """Apply a time range and limit; newest ``limit`` when no ``since``."""
    if since is not None:
        stmt = stmt.where(col >= since)
    if until is not None:
        stmt = stmt.where(col <= until)
    if limit is not None and since is None:
        return list(reversed(conn.execute(stmt.order_by(col.desc()).limit(limit)).all()))
    stmt = stmt.order_by(col)
    if limit is not None:
        stmt = stmt.limit(limit)
    return conn.execute(stmt).all()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _inst_key(instrument_id: str) -> Any:
    """The instrument key of ``instrument_id`` as a scalar subquery: one round trip for the
    reads the history screen and the data API make many times a second."""
    return select(_I.c.key).where(_I.c.id == instrument_id).scalar_subquery()


def klines(engine: Engine, instrument_id: str | None = None, interval: str = "1m", *,
           venue: str | None = None, symbol: str | None = None, since: int | None = None,
           until: int | None = None, limit: int | None = None,
           now_ms: int | None = None) -> list[Kline]:
    """Stored klines of one interval, oldest first. ``since``/``until`` bound the open time.

    ``partial`` is set on candles stored as partial and on open ones whose interval ended
    more than STALE_OPEN_MS before ``now_ms`` (default: the wall clock): nothing is going
    to complete those."""
    step = interval_ms(interval)  # a clear ValueError for an unknown interval
    instrument_id = _named(engine, instrument_id, venue, symbol)
    stmt = (select(_K.c.open_time, _K.c.open, _K.c.high, _K.c.low, _K.c.close, _K.c.volume,
                   _K.c.closed, _K.c.partial)
            .where(and_(_K.c.inst == _inst_key(instrument_id), _K.c.interval == interval)))
    with engine.connect() as conn:
        rows = _window(stmt, _K.c.open_time, since, until, limit, conn)
    stale = (_now_ms() if now_ms is None else now_ms) - STALE_OPEN_MS - step  # open before: stale
    iid = instrument_id
    # unpacking beats indexing a Row ten times; this loop is most of a 500-candle read
    return [Kline(iid, interval, t, o, h, lo, c, v, bool(closed),
                  bool(partial) or (not closed and t < stale))
            for t, o, h, lo, c, v, closed, partial in rows]


def incomplete(engine: Engine, instrument_id: str, interval: str, since: int | None = None,
               until: int | None = None, now_ms: int | None = None) -> list[int]:
    """Open times of the partial candles (see ``klines``) between ``since`` and ``until``."""
    step = interval_ms(interval)
    key = resolve_key(engine, instrument_id)
    if key is None:
        return []
    stale = (_now_ms() if now_ms is None else now_ms) - STALE_OPEN_MS - step
    cond = [_K.c.inst == key, _K.c.interval == interval,
            or_(_K.c.partial == 1, and_(_K.c.closed == 0, _K.c.open_time < stale))]
    if since is not None:
        cond.append(_K.c.open_time >= since)
    if until is not None:
        cond.append(_K.c.open_time <= until)
    with engine.connect() as conn:
        rows = conn.execute(select(_K.c.open_time).where(and_(*cond)).order_by(_K.c.open_time))
        return [int(t) for t in rows.scalars()]


def runs(open_times: Sequence[int], step: int) -> list[Gap]:
    """Consecutive open times as [start, end) ranges (for fetching them in few requests)."""
    out: list[Gap] = []
    for t in open_times:
        if out and out[-1].end == t:
            out[-1] = Gap(out[-1].start, t + step, step)
        else:
            out.append(Gap(t, t + step, step))
    return out


def rollup(source: Sequence[Kline], interval: str) -> list[Kline]:
    """Klines of a longer ``interval`` built from shorter ones (oldest first in, out).
    A bucket is closed only when its last constituent candle is closed and present, and
    partial when any constituent is."""
    step = interval_ms(interval)
    out: list[Kline] = []
    cur: Kline | None = None
    last_end = 0
    for k in source:
        start = bucket_start(k.open_time, interval)
        if cur is None or start != cur.open_time:
            if cur is not None:
                cur.closed = cur.closed and last_end >= cur.open_time + step
                out.append(cur)
            cur = Kline(k.id, interval, start, k.open, k.high, k.low, k.close, k.volume, k.closed,
                        k.partial)
        else:
            cur.high = max(cur.high, k.high)
            cur.low = min(cur.low, k.low)
            cur.close = k.close
            cur.volume += k.volume
            cur.closed = k.closed
            cur.partial = cur.partial or k.partial
        last_end = k.open_time + interval_ms(k.interval)
    if cur is not None:
        cur.closed = cur.closed and last_end >= cur.open_time + step
        out.append(cur)
    return out


def klines_or_rollup(engine: Engine, instrument_id: str, interval: str, *,
                     since: int | None = None, until: int | None = None,
                     limit: int | None = None, base: str = "1m",
                     now_ms: int | None = None) -> tuple[list[Kline], bool]:
    """Stored klines of ``interval``, or when none are stored in the range, ones rolled
    up from ``base`` klines. Returns (klines, rolled_up)."""
    stored = klines(engine, instrument_id, interval, since=since, until=until, limit=limit,
                    now_ms=now_ms)
    if stored or interval == base or interval_ms(interval) <= interval_ms(base):
        return stored, False
    factor = interval_ms(interval) // interval_ms(base)
    base_since = None if since is None else bucket_start(since, interval)
    base_limit = None if limit is None else (limit + 1) * factor
    rows = klines(engine, instrument_id, base, since=base_since, until=until, limit=base_limit,
                  now_ms=now_ms)
    rolled = rollup(rows, interval)
    if limit is not None:
        rolled = rolled[:limit] if since is not None else rolled[-limit:]
    return rolled, bool(rolled)


def gaps(engine: Engine, instrument_id: str, interval: str, since: int | None = None,
         until: int | None = None) -> list[Gap]:
    """Missing candles between ``since`` and ``until`` (default: the stored extent).

    Computed in the database with LAG over the primary-key order, so only the gaps come
    back, not every candle."""
    step = interval_ms(interval)
    key = resolve_key(engine, instrument_id)
    if key is None:
        return []
    lo = None if since is None else bucket_start(since + step - 1, interval)  # first whole candle
    hi = None if until is None else bucket_start(until, interval)
    cond = [_K.c.inst == key, _K.c.interval == interval]
    if lo is not None:
        cond.append(_K.c.open_time >= lo)
    if hi is not None:
        cond.append(_K.c.open_time <= hi)
    inner = (select(_K.c.open_time.label("t"),
                    func.lag(_K.c.open_time).over(order_by=_K.c.open_time).label("prev"))
             .where(and_(*cond)).subquery())
    holes = select(inner.c.prev, inner.c.t).where(inner.c.t - inner.c.prev > step).order_by(inner.c.t)
    extent = select(func.min(_K.c.open_time), func.max(_K.c.open_time)).where(and_(*cond))
    with engine.connect() as conn:
        first, last = conn.execute(extent).one()
        inside = conn.execute(holes).all()
    if first is None:
        if lo is not None and hi is not None and hi >= lo:
            return [Gap(lo, hi + step, step)]
        return []
    out: list[Gap] = []
    if lo is not None and first > lo:
        out.append(Gap(lo, int(first), step))
    out.extend(Gap(int(prev) + step, int(t), step) for prev, t in inside)
    if hi is not None and last < hi:
        out.append(Gap(int(last) + step, hi + step, step))
    return out


# -- trades, funding, books --------------------------------------------------------

def trades(engine: Engine, instrument_id: str | None = None, *, venue: str | None = None,
           symbol: str | None = None, since: int | None = None, until: int | None = None,
           limit: int | None = None) -> list[Trade]:
    iid = _named(engine, instrument_id, venue, symbol)
    stmt = (select(_T.c.ts, _T.c.price, _T.c.amount, _T.c.side, _T.c.trade_id)
            .where(_T.c.inst == _inst_key(iid)))
    with engine.connect() as conn:
        rows = _window(stmt, _T.c.ts, since, until, limit, conn)
    # trade ids made up for venues that send none start with "~": not the venue's
    return [Trade(iid, ts, price, amount, side, None if tid.startswith("~") else tid)
            for ts, price, amount, side, tid in rows]


def funding(engine: Engine, instrument_id: str | None = None, *, venue: str | None = None,
            symbol: str | None = None, since: int | None = None, until: int | None = None,
            limit: int | None = None) -> list[Funding]:
    iid = _named(engine, instrument_id, venue, symbol)
    stmt = (select(_F.c.ts, _F.c.rate, _F.c.next_funding_time, _F.c.mark_price, _F.c.index_price)
            .where(_F.c.inst == _inst_key(iid)))
    with engine.connect() as conn:
        rows = _window(stmt, _F.c.ts, since, until, limit, conn)
    return [Funding(iid, *r) for r in rows]


def book_snapshots(engine: Engine, instrument_id: str, *, since: int | None = None,
                   until: int | None = None, limit: int | None = None) -> list[BookTop]:
    stmt = select(_B.c.ts, _B.c.bids, _B.c.asks).where(_B.c.inst == _inst_key(instrument_id))
    with engine.connect() as conn:
        rows = _window(stmt, _B.c.ts, since, until, limit, conn)
    return [BookTop(instrument_id, r[0], [tuple(x) for x in orjson.loads(r[1])],
                    [tuple(x) for x in orjson.loads(r[2])]) for r in rows]


def newest_kline(engine: Engine, instrument_id: str, interval: str,
                 now_ms: int | None = None) -> Kline | None:
    """The newest stored candle of one interval (one primary-key lookup), or None."""
    found = klines(engine, instrument_id, interval, limit=1, now_ms=now_ms)
    return found[-1] if found else None


# -- coverage ----------------------------------------------------------------------

def coverage_percent(expected: int, missing: int, partial: int = 0) -> float:
    """Whole candles as a share of ``expected``, rounded down to 0.01 %: 100 only when
    nothing is missing or partial (``gaps --all`` and the history screen's strip)."""
    whole = max(0, expected - missing - partial)
    return int(whole * 10_000 / expected) / 100 if expected > 0 else 0.0


def coverage_figure(percent: float, holes: int) -> str:
    """``99.02% · 2 holes``: the coverage figure as both places print it."""
    return f"{percent:.2f}% · {holes:,} hole{'' if holes == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class Coverage:
    """How complete one stored series is over a span of open times [first, last]: the
    candles stored, those the span should hold, and the holes between. What
    ``cryptoterm gaps --all`` reports and the history screen's coverage strip draws."""

    instrument_id: str
    interval: str
    first: int  # open time of the span's first candle
    last: int  # open time of its last candle
    stored: int  # candles stored in the span (partial ones included)
    holes: tuple[Gap, ...]
    partial: int = 0  # stored, but recorded over part of their interval only

    @property
    def expected(self) -> int:
        return (self.last - self.first) // interval_ms(self.interval) + 1

    @property
    def missing(self) -> int:
        return sum(g.candles for g in self.holes)

    @property
    def percent(self) -> float:
        return coverage_percent(self.expected, self.missing, self.partial)


def coverage(engine: Engine, instrument_id: str, interval: str, since: int | None = None,
             until: int | None = None, now_ms: int | None = None) -> Coverage | None:
    """Coverage of one series over [since, until] (default: its stored extent); None when
    nothing of it is stored and no span is given."""
    step = interval_ms(interval)
    key = resolve_key(engine, instrument_id)
    if key is None:
        return None
    cond = [_K.c.inst == key, _K.c.interval == interval]
    lo = None if since is None else bucket_start(since + step - 1, interval)
    hi = None if until is None else bucket_start(until, interval)
    if lo is not None:
        cond.append(_K.c.open_time >= lo)
    if hi is not None:
        cond.append(_K.c.open_time <= hi)
    stmt = select(func.count(), func.min(_K.c.open_time), func.max(_K.c.open_time)).where(and_(*cond))
    with engine.connect() as conn:
        count, first, last = conn.execute(stmt).one()
    if first is None and (lo is None or hi is None):
        return None
    span_first = int(first) if lo is None else lo
    span_last = int(last) if hi is None else hi
    if span_last < span_first:
        return None
    holes = gaps(engine, instrument_id, interval, span_first, span_last)
    partial = len(incomplete(engine, instrument_id, interval, span_first, span_last, now_ms))
    return Coverage(instrument_id, interval, span_first, span_last, int(count or 0), tuple(holes), partial)


def coverage_all(engine: Engine, since: int | None = None, until: int | None = None,
                 now_ms: int | None = None) -> list[tuple[StoredInstrument, Coverage]]:
    """Every stored series' coverage, by venue, market, symbol and interval."""
    out = []
    for inst in instruments(engine):
        for info in series(engine, inst.id):
            cov = coverage(engine, inst.id, info.interval, since, until, now_ms)
            if cov is not None:
                out.append((inst, cov))
    return out
