"""The history store as its readers see it: typed reads over storage.queries.

One ``HistoryReader`` per store serves the history screen (from its worker threads) and
the data API (issue #14) alike; neither holds the SQLAlchemy engine nor writes a query.
Every call opens its own connection, so calls from several threads are safe.

``load_range`` answers "the newest span of this interval", rolled up from 1m when that
interval is not stored, with the range's gaps; ``refresh_range`` brings such an answer
up to what the recorder has stored since, re-reading only from its last candle on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from app.market.events import Funding, Kline
from app.market.instruments import Instrument
from app.market.klines import bucket_start, interval_ms
from app.market.precision import decimals_of
from storage import queries
from storage.queries import Gap, SeriesInfo, StoredInstrument

__all__ = ["MAX_CANDLES", "Gap", "HistoryReader", "KlineRange", "SeriesInfo", "StoredInstrument",
           "as_instrument", "signature"]

MAX_CANDLES = 100_000  # per range; the newest are kept when there are more
DEFAULT_TICK = 0.01
DEFAULT_LOT = 0.00001

Signature = tuple[int, float, float, float, float, float, bool, bool]


def signature(k: Kline | None) -> Signature | None:
    """What tells a stored candle changed (a recorder rewrites the open one as it grows)."""
    if k is None:
        return None
    return (k.open_time, k.open, k.high, k.low, k.close, k.volume, k.closed, k.partial)


@dataclass(slots=True)
class KlineRange:
    """The candles of one instrument and interval over a range, with its coverage."""

    instrument: Instrument
    interval: str
    klines: list[Kline]
    start: int  # the range covered, [start, end)
    end: int
    gaps: list[tuple[int, int]] = field(default_factory=list)  # missing [start, end) inside it
    rolled_up: bool = False  # built from 1m candles (the interval itself is not stored)
    truncated: bool = False  # more than MAX_CANDLES: only the newest are here
    span: int | None = None  # the range's length asked for (None: all)
    base: str = "1m"  # the stored interval the candles come from (itself, or 1m when rolled up)
    newest: Signature | None = None  # the newest stored base candle when read
    partial: int = field(init=False, default=0)  # candles recorded over part of their interval

    def __post_init__(self) -> None:
        self.partial = sum(1 for k in self.klines if k.partial)

    def coverage_text(self) -> str:
        """The range's coverage as ``cryptoterm gaps --all`` prints it: whole candles (of
        the stored interval) as a share of the range, and its holes."""
        step = interval_ms(self.base)
        expected = (self.end - self.start) // step
        missing = sum((b - a) // step for a, b in self.gaps)
        # rolled-up candles mark partial in the shown interval, not in the stored one's unit
        partial = 0 if self.rolled_up else self.partial
        return queries.coverage_figure(queries.coverage_percent(expected, missing, partial), len(self.gaps))


def as_instrument(stored: StoredInstrument, klines: Sequence[Kline] = ()) -> Instrument:
    """The stored instrument with its tick size, or (never stored) the finest step its
    prices use, so every digit the data has is shown and none it has not."""
    tick = stored.tick_size
    if not tick:
        sample = [v for k in klines[-500:] for v in (k.open, k.high, k.low, k.close)]
        tick = 10.0 ** -decimals_of(sample) if sample else DEFAULT_TICK
    return Instrument(stored.venue, stored.market, stored.base, stored.quote,  # type: ignore[arg-type]  # the stored market was written from a MarketType
                      stored.venue_symbol or f"{stored.base}{stored.quote}", tick_size=tick,
                      lot_size=stored.lot_size or DEFAULT_LOT)


class HistoryReader:
    """Typed, read-only access to one history store."""

    def __init__(self, db: Engine, max_candles: int = MAX_CANDLES) -> None:
        self._db = db
        self.max_candles = max_candles

    def export_dir(self) -> Path:
        """Where exports go: next to a SQLite store (``<data dir>/exports``), else the
        working directory."""
        url = self._db.url
        if self._db.dialect.name == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).expanduser().resolve().parent / "exports"
        return Path.cwd() / "exports"

    # -- what is stored ---------------------------------------------------------------

    def instruments(self, venue: str | None = None) -> list[StoredInstrument]:
        return queries.instruments(self._db, venue)

    def instrument(self, instrument_id: str) -> StoredInstrument | None:
        return queries.instrument(self._db, instrument_id)

    def series(self, instrument_id: str) -> list[SeriesInfo]:
        """Stored kline intervals of an instrument with their extent, shortest first."""
        return queries.series(self._db, instrument_id)

    def klines(self, instrument_id: str, interval: str, *, since: int | None = None,
               until: int | None = None, limit: int | None = None,
               now_ms: int | None = None) -> list[Kline]:
        """Stored klines of ``interval`` (oldest first; the newest ``limit`` without ``since``)."""
        return queries.klines(self._db, instrument_id, interval, since=since, until=until,
                              limit=limit, now_ms=now_ms)

    def newest(self, instrument_id: str, interval: str, now_ms: int | None = None) -> Kline | None:
        """The newest stored candle of ``interval``, or None."""
        return queries.newest_kline(self._db, instrument_id, interval, now_ms)

    def gaps(self, instrument_id: str, interval: str, since: int | None = None,
             until: int | None = None) -> list[Gap]:
        """Missing candles between ``since`` and ``until`` (default: the stored extent)."""
        return queries.gaps(self._db, instrument_id, interval, since, until)

    def funding(self, instrument_id: str, since: int | None = None,
                until: int | None = None) -> list[Funding]:
        """Stored funding events of a perpetual, oldest first (the backtester's schedule)."""
        return queries.funding(self._db, instrument_id, since=since, until=until)

    # -- ranges -----------------------------------------------------------------------

    def load_range(self, stored: StoredInstrument, interval: str, span: int | None,
                   now_ms: int | None = None) -> KlineRange:
        """Klines of ``interval`` in the newest ``span`` ms of what is stored (all if None),
        rolled up from 1m when that interval is not stored, plus the range's gaps."""
        db = self._db
        step = interval_ms(interval)
        info = {s.interval: s for s in queries.series(db, stored.id)}
        base = interval if interval in info else "1m"
        if base not in info:
            return KlineRange(as_instrument(stored), interval, [], 0, 0, span=span, base=base)
        newest = signature(queries.newest_kline(db, stored.id, base, now_ms))
        since = None if span is None else info[base].last + interval_ms(base) - span
        klines, rolled = queries.klines_or_rollup(db, stored.id, interval, since=since,
                                                  limit=self.max_candles + 1, now_ms=now_ms)
        truncated = len(klines) > self.max_candles
        klines = klines[-self.max_candles:]
        inst = as_instrument(stored, klines)
        if not klines:
            return KlineRange(inst, interval, [], 0, 0, rolled_up=rolled, span=span, base=base,
                              newest=newest)
        start = klines[0].open_time if since is None or truncated else max(since, info[base].first)
        start = min(start, klines[0].open_time)
        end = klines[-1].open_time + step
        gaps = [(g.start, g.end) for g in queries.gaps(db, stored.id, base, start, end - 1)]
        return KlineRange(inst, interval, klines, start, end, gaps, rolled, truncated, span, base,
                          newest)

    def refresh_range(self, loaded: KlineRange, now_ms: int) -> tuple[KlineRange, int] | None:
        """``loaded`` brought up to what the store holds now, and how many candles fell off
        the front of a fixed-length range; None when nothing was stored since."""
        db = self._db
        inst_id = loaded.instrument.id
        sig = signature(queries.newest_kline(db, inst_id, loaded.base, now_ms))
        if sig == loaded.newest:
            return None
        if not loaded.klines:
            stored = queries.instrument(db, inst_id)
            if stored is None:
                return None
            return self.load_range(stored, loaded.interval, loaded.span, now_ms), 0
        step = interval_ms(loaded.interval)
        # from the last candle shown (still forming when loaded) on; its bucket when rolled up
        since = bucket_start(loaded.klines[-1].open_time, loaded.interval)
        tail, _ = queries.klines_or_rollup(db, inst_id, loaded.interval, since=since, now_ms=now_ms)
        klines = [k for k in loaded.klines if k.open_time < since] + tail
        trimmed = 0
        start = loaded.start
        if loaded.span is not None and klines:
            cut = klines[-1].open_time + step - loaded.span
            while trimmed < len(klines) and klines[trimmed].open_time < cut:
                trimmed += 1
            klines = klines[trimmed:]
            start = max(start, cut)
        if not klines:
            return None
        start = min(start, klines[0].open_time)
        end = klines[-1].open_time + step
        gaps = [(g.start, g.end) for g in queries.gaps(db, inst_id, loaded.base, start, end - 1)]
        return KlineRange(loaded.instrument, loaded.interval, klines, start, end, gaps,
                          loaded.rolled_up, loaded.truncated, loaded.span, loaded.base, sig), trimmed
