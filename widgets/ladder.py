"""Order book ladder: asks above, spread row, bids below, with cumulative depth bars.

A Line-API widget: each screen line is described by a small hashable tuple (its
"spec") computed once per book change, and ``render_line`` turns a spec into a
Strip through an LRU cache. A book update that moves three levels re-renders
three strips; the other rows are cache hits, and only changed lines are repainted.
"""

from __future__ import annotations

import textwrap
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.events import Click, Resize
from textual.message import Message
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from app.feeds.views import InstrumentView
from app.market.orderbook import LadderRow
from widgets.format import decimals_for, fmt_bps, fmt_compact, fmt_fixed

UNSYNCED_TEXT = "UNSYNCED — resyncing book"
WAITING_TEXT = "waiting for book…"

# A line spec is a plain tuple so it can key the strip cache. Its first item is the kind.
LineSpec = tuple
_UNSET = object()  # "nothing shown yet", distinct from "shown: no view"


class _Columns(NamedTuple):
    width: int
    lead: int
    price: int
    gap: int
    size: int
    cumulative: int  # 0 when the widget is too narrow for a third column


class OrderBookLadder(Widget):
    """Top ``DEPTH`` asks and bids around a spread row. Feed it with :meth:`update_view`."""

    DEPTH = 20
    COMPONENT_CLASSES = {
        "ladder--header",
        "ladder--bid",
        "ladder--ask",
        "ladder--bid-bar",
        "ladder--ask-bar",
        "ladder--size",
        "ladder--cumulative",
        "ladder--spread",
        "ladder--unsynced",
        "ladder--note",
    }
    # Fallbacks on built-in variables so the widget works in any app; app.tcss
    # restyles these with the theme's $bid/$ask colours.
    DEFAULT_CSS = """
    OrderBookLadder {
        width: 46;
        height: 1fr;
        min-height: 5;
    }
    OrderBookLadder > .ladder--header { color: $text-muted; }
    OrderBookLadder > .ladder--bid { color: $success; }
    OrderBookLadder > .ladder--ask { color: $error; }
    OrderBookLadder > .ladder--bid-bar { background: $success-muted; }
    OrderBookLadder > .ladder--ask-bar { background: $error-muted; }
    OrderBookLadder > .ladder--size { color: $foreground; }
    OrderBookLadder > .ladder--cumulative { color: $text-muted; }
    OrderBookLadder > .ladder--spread { background: $panel; text-style: bold; }
    OrderBookLadder > .ladder--unsynced { background: $error; color: $text; text-style: bold; }
    OrderBookLadder > .ladder--note { color: $text-muted; }
    """

    class LevelSelected(Message):
        """A book level was clicked: its price (a grouped bucket's price when grouping)."""

        def __init__(self, price: float, side: str) -> None:
            super().__init__()
            self.price = price
            self.side = side  # "bid" or "ask"

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._view: InstrumentView | None = None
        self._group = 0.0
        self._key: object = _UNSET
        self._lines: list[LineSpec] = []
        self._columns = _Columns(0, 0, 0, 0, 0, 0)
        # ~2 screens of rows: enough that steady books are all hits, small enough to not matter
        self._strips: LRUCache[tuple, Strip] = LRUCache(256)
        self._styles: dict[str, Style] | None = None
        self.border_title = "Order book"

    # -- feeding -------------------------------------------------------------------

    @property
    def lines(self) -> list[LineSpec]:
        """The current line specs, top to bottom (what :meth:`render_line` draws)."""
        return self._lines

    def update_view(self, view: InstrumentView | None, group: float = 0.0) -> bool:
        """Show ``view`` (built with price grouping ``group``; 0 = raw ticks).

        Returns True when something changed; a view with the same instrument, seq,
        sync state and grouping is ignored.
        """
        key = None if view is None else (view.instrument.id, view.seq, view.synced, group,
                                         view.sync_reason)
        if key == self._key:
            return False
        self._key = key
        self._view = view
        self._group = group
        self.set_class(view is not None and not view.synced, "-unsynced")
        subtitle = self._subtitle(view, group)
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self._relayout()
        return True

    @staticmethod
    def _subtitle(view: InstrumentView | None, group: float) -> str:
        if view is None:
            return ""
        tick = view.instrument.tick_size
        if group > 0:
            return f"group {fmt_fixed(group, decimals_for(group))}"
        return f"tick {fmt_fixed(tick, decimals_for(tick))}"

    # -- selecting a level -------------------------------------------------------------

    def level_at(self, y: int) -> tuple[float, str] | None:
        """(price, side) of the level drawn on content row ``y``, if it is one."""
        if not 0 <= y < len(self._lines):
            return None
        spec = self._lines[y]
        if spec[0] != "level":
            return None
        try:
            return float(spec[2].replace(",", "")), spec[1]
        except ValueError:  # a compact figure such as 1.2M is never a price column
            return None

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        level = self.level_at(offset.y)
        if level is not None:
            self.post_message(self.LevelSelected(*level))

    # -- layout --------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self._relayout(full=True)

    def on_show(self) -> None:
        # hidden (a zoomed or narrow layout), the lines were built for a 0x0 widget; shown
        # again at its old size there may be no Resize to rebuild them
        self._relayout(full=True)

    def _relayout(self, full: bool = False) -> None:
        width, height = self.size
        old = self._lines
        columns, lines = self._build_lines(width, height)
        full = full or columns != self._columns or len(lines) != len(old)
        self._columns, self._lines = columns, lines
        if full:
            self.refresh()
            return
        changed = [y for y, (a, b) in enumerate(zip(old, lines)) if a != b]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def _build_lines(self, width: int, height: int) -> tuple[_Columns, list[LineSpec]]:
        view = self._view
        header = 1 if height >= 5 else 0
        per_side = max(0, min(self.DEPTH, (height - header - 1) // 2))
        blank: LineSpec = ("blank",)
        if view is None or not view.synced:
            # Stale levels during a resync look exactly like a live book; show none.
            columns = _Columns(width, 0, 0, 0, 0, 0)
            lines: list[LineSpec] = [("header",)] * header + [blank] * per_side
            if view is None:
                lines.append(("note", WAITING_TEXT))
            else:
                lines.append(("unsynced", UNSYNCED_TEXT))
                if per_side:
                    # why, and when the next try is: a rebuild that takes long says so
                    note = view.sync_reason or "levels hidden until the book is rebuilt"
                    wrapped = textwrap.wrap(note, max(8, width - 2)) or [note]
                    lines.extend(("note", text) for text in wrapped[:max(1, per_side)])
            return columns, _pad(lines, height, blank)

        # an odd row left over goes to the bids: no empty row while levels exist
        bid_rows = max(0, min(self.DEPTH, height - header - 1 - per_side))
        asks = view.asks[:per_side]
        bids = view.bids[:bid_rows]
        instrument = view.instrument
        price_decimals = decimals_for(self._group if self._group > 0 else instrument.tick_size)
        size_decimals = min(8, decimals_for(instrument.lot_size))
        ask_text = [_row_text(row, price_decimals, size_decimals) for row in asks]
        bid_text = [_row_text(row, price_decimals, size_decimals) for row in bids]
        columns = _fit_columns(width, ask_text + bid_text)
        # Bars share one scale on both sides so depth imbalance is visible at a glance.
        deepest = max([row.cumulative for row in asks[-1:] + bids[-1:]] or [0.0])

        def level(side: str, row: LadderRow, text: tuple[str, str, str]) -> LineSpec:
            bar = 0
            if deepest > 0 and row.cumulative > 0:
                bar = max(1, min(width, round(width * row.cumulative / deepest)))
            return ("level", side, *text, bar)

        lines = [("header",)] * header
        lines += [blank] * (per_side - len(asks))
        lines += [level("ask", row, text) for row, text in reversed(list(zip(asks, ask_text)))]
        lines.append(self._spread_spec(view))
        lines += [level("bid", row, text) for row, text in zip(bids, bid_text)]
        lines += [blank] * (bid_rows - len(bids))
        if not asks and not bids and per_side:
            lines[header + per_side + 1] = ("note", WAITING_TEXT)
        return columns, _pad(lines, height, blank)

    def _spread_spec(self, view: InstrumentView) -> LineSpec:
        tick_decimals = decimals_for(view.instrument.tick_size)
        spread, mid = view.spread, view.mid
        if spread is None or mid is None:
            return ("spread", "spread —")
        text = (f"spread {fmt_fixed(spread, tick_decimals)} · {fmt_bps(spread, mid)}"
                f" · mid {fmt_fixed(mid, tick_decimals + 1)}")
        return ("spread", text)

    # -- rendering -----------------------------------------------------------------

    def notify_style_update(self) -> None:
        # A theme switch changes every colour: cached strips are all stale.
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def _palette(self) -> dict[str, Style]:
        if self._styles is None:
            # Full (not partial) styles for text: partial ones leave "auto" colours such as
            # $text-muted unresolved. Bars are partial: they only swap the background.
            styles = {"base": self.rich_style}
            for name in ("header", "bid", "ask", "size", "cumulative", "note", "spread",
                         "unsynced"):
                styles[name] = self.get_component_rich_style(f"ladder--{name}")
            for name in ("bid-bar", "ask-bar"):
                styles[name] = self.get_component_rich_style(f"ladder--{name}", partial=True)
            self._styles = styles
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        spec = self._lines[y] if y < len(self._lines) else ("blank",)
        key = (spec, self._columns)
        strip = self._strips.get(key)
        if strip is None or strip.cell_length != width:
            strip = self._render_spec(spec, width)
            self._strips.set(key, strip)
        return strip

    def _render_spec(self, spec: LineSpec, width: int) -> Strip:
        styles = self._palette()
        kind = spec[0]
        if kind == "level":
            return self._render_level(spec, width, styles)
        if kind == "header":
            cols = self._columns
            if not cols.price:
                return Strip.blank(width, styles["base"])
            text = _compose(cols, "Price", "Size", "Total")
            return Strip([Segment(text, styles["header"])]).adjust_cell_length(
                width, styles["header"])
        if kind in ("spread", "unsynced", "note"):
            text = spec[1].center(width)[:width]
            return Strip([Segment(text, styles[kind])]).adjust_cell_length(width, styles[kind])
        return Strip.blank(width, styles["base"])

    def _render_level(self, spec: LineSpec, width: int, styles: dict[str, Style]) -> Strip:
        _, side, price, size, cumulative, bar = spec
        cols = self._columns
        spans = [
            (" " * cols.lead + price.rjust(cols.price), styles[side]),
            (" " * cols.gap + size.rjust(cols.size), styles["size"]),
        ]
        if cols.cumulative:
            spans.append((" " * cols.gap + cumulative.rjust(cols.cumulative), styles["cumulative"]))
        used = sum(len(text) for text, _ in spans)
        spans.append((" " * max(0, width - used), styles["base"]))
        # The bar grows from the right edge; everything right of `cut` gets its background.
        cut = width - bar
        bar_style = styles[f"{side}-bar"]
        segments: list[Segment] = []
        x = 0
        for text, style in spans:
            end = x + len(text)
            if end <= cut:
                segments.append(Segment(text, style))
            elif x >= cut:
                segments.append(Segment(text, style + bar_style))
            else:
                segments.append(Segment(text[: cut - x], style))
                segments.append(Segment(text[cut - x:], style + bar_style))
            x = end
        return Strip(segments, x).crop(0, width)


def _row_text(row: LadderRow, price_decimals: int, size_decimals: int) -> tuple[str, str, str]:
    return (fmt_fixed(row.price, price_decimals),
            _fmt_size(row.size, size_decimals),
            _fmt_size(row.cumulative, size_decimals))


def _fmt_size(value: float, decimals: int) -> str:
    text = fmt_fixed(value, decimals)
    # Keep columns narrow: millions of SHIB with 0 decimals would take 13 cells.
    return fmt_compact(value) if len(text) > 12 else text


def _fit_columns(width: int, rows: list[tuple[str, str, str]]) -> _Columns:
    price = max([len("Price")] + [len(r[0]) for r in rows])
    size = max([len("Size")] + [len(r[1]) for r in rows])
    cumulative = max([len("Total")] + [len(r[2]) for r in rows])
    for candidate_cumulative in (cumulative, 0):
        columns_count = 3 if candidate_cumulative else 2
        content = price + size + candidate_cumulative
        spare = width - 2 - content  # one cell of margin each side
        gaps = columns_count - 1
        if spare >= gaps:
            gap = min(4, spare // gaps)
            lead = 1 + (spare - gap * gaps) // 2
            return _Columns(width, lead, price, gap, size, candidate_cumulative)
    return _Columns(width, 0, price, 1, size, 0)


def _compose(cols: _Columns, price: str, size: str, cumulative: str) -> str:
    text = " " * cols.lead + price.rjust(cols.price) + " " * cols.gap + size.rjust(cols.size)
    if cols.cumulative:
        text += " " * cols.gap + cumulative.rjust(cols.cumulative)
    return text


def _pad(lines: list[LineSpec], height: int, blank: LineSpec) -> list[LineSpec]:
    if len(lines) >= height:
        return lines[:height]
    return lines + [blank] * (height - len(lines))
