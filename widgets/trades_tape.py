"""Trades tape: the most recent trades, newest first, price coloured by taker side.

Line API like the ladder: when a new trade arrives every row shifts down by one, but
each row's strip is cached by its content, so a shift costs one new strip.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.events import Resize
from textual.strip import Strip
from textual.widget import Widget

from app.feeds.views import InstrumentView
from widgets.format import decimals_for, fmt_fixed, fmt_hms_utc

LineSpec = tuple
_UNSET = object()  # "nothing shown yet", distinct from "shown: no view"


class _Columns(NamedTuple):
    width: int
    lead: int
    time: int
    price: int
    amount: int
    gap: int


class TradesTape(Widget):
    """Recent trades of one instrument. Feed it with :meth:`update_view`."""

    COMPONENT_CLASSES = {"tape--header", "tape--time", "tape--buy", "tape--sell",
                         "tape--amount", "tape--note"}
    DEFAULT_CSS = """
    TradesTape {
        width: 1fr;
        height: 1fr;
    }
    TradesTape > .tape--header { color: $text-muted; }
    TradesTape > .tape--time { color: $text-muted; }
    TradesTape > .tape--buy { color: $success; }
    TradesTape > .tape--sell { color: $error; }
    TradesTape > .tape--amount { color: $foreground; }
    TradesTape > .tape--note { color: $text-muted; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._view: InstrumentView | None = None
        self._key: object = _UNSET
        self._lines: list[LineSpec] = []
        self._columns = _Columns(0, 0, 0, 0, 0, 0)
        self._strips: LRUCache[tuple, Strip] = LRUCache(256)
        self._styles: dict[str, Style] | None = None
        self.border_title = "Trades"

    @property
    def lines(self) -> list[LineSpec]:
        """Current line specs, top to bottom: a header, then ``("trade", time, price, amount, side)``."""
        return self._lines

    def update_view(self, view: InstrumentView | None) -> bool:
        """Show the trades of ``view``; ignored unless the newest trade or count changed."""
        key = None
        if view is not None:
            newest = view.trades[0] if view.trades else None
            first = None if newest is None else (newest.ts, newest.trade_id, newest.price,
                                                 newest.amount, newest.side)
            key = (view.instrument.id, len(view.trades), first)
        if key == self._key:
            return False
        self._key = key
        self._view = view
        self._relayout()
        return True

    def on_resize(self, event: Resize) -> None:
        self._relayout()

    def _relayout(self) -> None:
        width, height = self.size
        view = self._view
        lines: list[LineSpec] = [("header",)]
        if view is None or not view.trades:
            self._columns = _Columns(width, 1, 8, 5, 6, 2)
            lines.append(("note", "waiting for trades…"))
        else:
            instrument = view.instrument
            price_decimals = decimals_for(instrument.tick_size)
            amount_decimals = min(8, decimals_for(instrument.lot_size))
            for trade in view.trades[: max(0, height - 1)]:
                lines.append(("trade", fmt_hms_utc(trade.ts), fmt_fixed(trade.price, price_decimals),
                              fmt_fixed(trade.amount, amount_decimals), trade.side))
            price = max([len("Price")] + [len(line[2]) for line in lines[1:]])
            amount = max([len("Amount")] + [len(line[3]) for line in lines[1:]])
            spare = max(0, width - 2 - 8 - price - amount)
            gap = max(1, min(4, spare // 2))  # wide panels: keep the columns together
            self._columns = _Columns(width, 1, 8, price, amount, gap)
        self._lines = lines
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def _palette(self) -> dict[str, Style]:
        if self._styles is None:
            styles = {"base": self.rich_style}
            for name in ("header", "time", "buy", "sell", "amount", "note"):
                styles[name] = self.get_component_rich_style(f"tape--{name}")
            self._styles = styles
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        spec = self._lines[y] if y < len(self._lines) else ("blank",)
        key = (spec, self._columns)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_spec(spec, width)
            self._strips.set(key, strip)
        return strip

    def _render_spec(self, spec: LineSpec, width: int) -> Strip:
        styles = self._palette()
        cols = self._columns
        kind = spec[0]
        if kind == "header":
            text = (" " * cols.lead + "Time".ljust(cols.time) + " " * cols.gap
                    + "Price".rjust(cols.price) + " " * cols.gap + "Amount".rjust(cols.amount))
            segments = [Segment(text, styles["header"])]
        elif kind == "trade":
            _, hms, price, amount, side = spec
            segments = [
                Segment(" " * cols.lead + hms.ljust(cols.time), styles["time"]),
                Segment(" " * cols.gap + price.rjust(cols.price), styles[side]),
                Segment(" " * cols.gap + amount.rjust(cols.amount), styles["amount"]),
            ]
        elif kind == "note":
            segments = [Segment(spec[1].center(width), styles["note"])]
        else:
            return Strip.blank(width, styles["base"])
        return Strip(segments).adjust_cell_length(width, styles["base"])
