"""The watchlist's rows as data: one per market, its columns, how they sort, filter,
fit a terminal's width and draw a sparkline. Pure functions (no Textual), so the widget
only turns the result into strips."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from rich.cells import cell_len, set_cell_size

from app.market.compare import Summary, build_rows
from widgets.format import decimals_for, fmt_compact, fmt_countdown, fmt_fixed, fmt_pct

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_MIN, SPARK_MAX = 8, 60
FAV_MARK = "★"


@dataclass(slots=True)
class WatchRow:
    """One market as the watchlist shows it (numbers, not text: sorting reads them)."""

    id: str
    symbol: str
    venue: str
    market: str
    decimals: int  # price digits (the instrument's tick)
    last: float | None
    change: float | None  # 24 h, percent
    spread_bps: float | None
    volume: float | None  # 24 h, quote units
    funding: float | None  # rate as a fraction (0.0001 = 0.01 %)
    next_funding: int | None  # epoch ms
    deviation: float | None  # bps from the cross-venue median
    feed: str  # "book", "unsync", "tick", "stale", "conn", "down"
    seq: int = 0


def feed_word(s: Summary) -> str:
    """The feed state in one short word: a book row says whether its book is synced."""
    state = s.feed_state
    if state in ("failed", "stopped"):
        return "down"
    if state in ("connecting", "reconnecting"):
        return "conn"
    if state == "stale":
        return "stale"
    if s.book:
        return "book" if s.synced else "unsync"
    return "tick"


def deviations(summaries: list[Summary], families: dict[str, str] | None = None
               ) -> dict[str, float | None]:
    """Each instrument's deviation (bps) from the cross-venue median of its market (base,
    quote family, spot/perp): compare.build_rows does the grouping."""
    out: dict[str, float | None] = {}
    for row in build_rows(summaries, families=families):
        for cell in row.cells.values():
            out[cell.summary.instrument.id] = cell.deviation_bps
    return out


class RowBuilder:
    """Summaries -> rows, once per change: a row is rebuilt only when its instrument's
    state (seq, sync, feed) or its deviation moved, so a frame over hundreds of markets
    costs what changed, not what is listed."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple[object, ...], WatchRow]] = {}
        self._decimals: dict[float, int] = {}

    def build(self, summaries: list[Summary], deviation: dict[str, float | None]) -> list[WatchRow]:
        cache = self._rows
        out = []
        for s in summaries:
            inst = s.instrument
            dev = deviation.get(inst.id)
            key = (s.seq, s.synced, s.feed_state, s.book, dev)
            hit = cache.get(inst.id)
            if hit is not None and hit[0] == key:
                out.append(hit[1])
                continue
            decimals = self._decimals.get(inst.tick_size)
            if decimals is None:
                decimals = self._decimals[inst.tick_size] = min(8, decimals_for(inst.tick_size))
            row = _row(s, decimals, dev)
            cache[inst.id] = (key, row)
            out.append(row)
        return out


def _row(s: Summary, decimals: int, dev: float | None) -> WatchRow:
    inst = s.instrument
    spread = None
    if s.bid is not None and s.ask is not None and s.ask >= s.bid:
        mid = (s.bid + s.ask) / 2.0
        spread = (s.ask - s.bid) / mid * 10_000.0 if mid else None
    perp = inst.market == "perp"
    return WatchRow(inst.id, inst.symbol, inst.venue, inst.market, decimals, s.last,
                    s.change_24h_pct, spread, s.quote_volume_24h,
                    s.funding_rate if perp else None, s.next_funding_time if perp else None,
                    dev, feed_word(s), s.seq)


def rows_from(summaries: list[Summary], families: dict[str, str] | None = None) -> list[WatchRow]:
    """Watchlist rows with their deviations (no caching: see RowBuilder)."""
    return RowBuilder().build(summaries, deviations(summaries, families))


# -- columns ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    width: int
    priority: int  # the widest terminal shows all; narrower ones drop the highest first
    right: bool = True  # right-aligned (numbers)


COLUMNS: tuple[Column, ...] = (
    Column("symbol", " Symbol", 15, 0, right=False),  # (past the favourite's star)
    Column("venue", "Venue", 8, 1, right=False),
    Column("market", "Type", 4, 7, right=False),
    Column("last", "Last", 13, 0),
    Column("change", "24h %", 8, 1),
    Column("spread", "Spr bp", 7, 5),
    Column("volume", "Vol 24h", 8, 2),
    Column("funding", "Fund %", 8, 6),
    Column("next", "Funds in", 8, 8),
    Column("deviation", "Dev bp", 7, 2),
    Column("feed", "Feed", 6, 3, right=False),
    Column("spark", "1h", SPARK_MIN, 4, right=False),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


@lru_cache(maxsize=32)  # asked every frame, for one or two widths
def fit_columns(width: int) -> tuple[tuple[Column, int], ...]:
    """The columns that fit ``width`` cells (one space between), with their widths: the
    lowest-priority ones go first, and the sparkline takes what is left (up to SPARK_MAX)."""
    shown = list(COLUMNS)
    while shown:
        used = sum(c.width for c in shown) + len(shown) - 1
        if used <= width:
            break
        shown.remove(max(shown, key=lambda c: (c.priority, COLUMNS.index(c))))
    used = sum(c.width for c in shown) + len(shown) - 1
    out = []
    for c in shown:
        w = c.width
        if c.key == "spark":
            w = max(SPARK_MIN, min(SPARK_MAX, c.width + width - used))
        out.append((c, w))
    return tuple(out)


# -- sorting and filtering -------------------------------------------------------------------


# column key -> the WatchRow field it sorts by (the sparkline's hour has no order: its
# 24 h change does)
_SORT_FIELDS = {"spark": "change", "next": "next_funding", "spread": "spread_bps"}


def _sort_value(row: WatchRow, key: str) -> object:
    return getattr(row, _SORT_FIELDS.get(key, key))


def sort_rows(rows: Iterable[WatchRow], key: str, descending: bool,
              favourites: frozenset[str] | set[str] = frozenset()) -> list[WatchRow]:
    """Favourites first, then by ``key``; unknown values last whichever the direction;
    ties by symbol then venue, so the order never flickers between frames."""
    rows = sorted(rows, key=lambda r: (r.symbol, r.venue))
    known = [r for r in rows if _sort_value(r, key) is not None]
    unknown = [r for r in rows if _sort_value(r, key) is None]
    known.sort(key=lambda r: _sort_value(r, key), reverse=descending)  # type: ignore[arg-type,return-value]  # one column holds one type
    ordered = known + unknown
    if favourites:
        ordered = [r for r in ordered if r.id in favourites] + [r for r in ordered if r.id not in favourites]
    return ordered


def matches(row: WatchRow, words: list[str]) -> bool:
    """Every word of the filter appears in the row's symbol, venue or type."""
    hay = f"{row.symbol} {row.venue} {row.market}".lower()
    return all(w in hay for w in words)


def filter_rows(rows: list[WatchRow], text: str) -> list[WatchRow]:
    words = text.lower().split()
    return [r for r in rows if matches(r, words)] if words else rows


# -- cells -----------------------------------------------------------------------------------


def sparkline(values: tuple[float, ...] | list[float], width: int) -> str:
    """``values`` (oldest first) as block characters in ``width`` cells, right-aligned
    when there are fewer values than cells; flat series sit on the middle block."""
    if not values or width <= 0:
        return " " * max(0, width)
    n = len(values)
    if n > width:
        values = [values[min(n - 1, math.ceil((i + 1) * n / width) - 1)] for i in range(width)]
    lo, hi = min(values), max(values)
    span = hi - lo
    top = len(SPARK_BLOCKS) - 1
    if span <= 0 or not math.isfinite(span):
        text = SPARK_BLOCKS[top // 2] * len(values)
    else:
        text = "".join(SPARK_BLOCKS[min(top, int((v - lo) / span * top + 0.5))] for v in values)
    return text.rjust(width)


def cell_text(row: WatchRow, key: str, now_ms: int) -> str:
    if key == "symbol":
        return row.symbol
    if key == "venue":
        return row.venue
    if key == "market":
        return row.market
    if key == "last":
        return fmt_fixed(row.last, row.decimals)
    if key == "change":
        return fmt_pct(row.change)
    if key == "spread":
        return "—" if row.spread_bps is None else f"{row.spread_bps:.1f}" if row.spread_bps >= 10 \
            else f"{row.spread_bps:.2f}"
    if key == "volume":
        return fmt_compact(row.volume, 1 if (row.volume or 0) >= 1e3 else 0)
    if key == "funding":
        return "" if row.market != "perp" else fmt_pct(None if row.funding is None else row.funding * 100, 4)
    if key == "next":
        if row.market != "perp":
            return ""
        return "—" if row.next_funding is None else fmt_countdown(row.next_funding - now_ms)
    if key == "deviation":
        return "—" if row.deviation is None else f"{row.deviation:+.1f}"
    if key == "feed":
        return row.feed
    return ""


def fit(text: str, width: int, right: bool) -> str:
    """``text`` in exactly ``width`` terminal cells: padded, or cut with an ellipsis. A
    symbol may hold double-width characters (Binance lists CJK names): those count two."""
    if not text.isascii():
        cells = cell_len(text)
        if cells > width:
            return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, width)
        pad = " " * (width - cells)
        return pad + text if right else text + pad
    if len(text) > width:
        return text[:width - 1] + "…" if width > 1 else text[:width]
    return text.rjust(width) if right else text.ljust(width)


def favourites_toggled(favourites: list[str], instrument_id: str) -> list[str]:
    """The list with ``instrument_id`` added at the end, or removed."""
    if instrument_id in favourites:
        return [f for f in favourites if f != instrument_id]
    return [*favourites, instrument_id]


SortKey = Callable[[WatchRow], object]
Sparks = Mapping[str, tuple[float, ...]]
