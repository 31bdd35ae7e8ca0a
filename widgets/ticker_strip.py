"""Ticker strip: symbol, last price (up/down coloured), 24 h stats, spread and funding.

The text is kept as (text, component-class) parts and styled at render time, so a
theme switch recolours it without waiting for the next market update, and an update
that produces the same parts does not repaint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from app.feeds.views import InstrumentView
from widgets.format import decimals_for, fmt_bps, fmt_compact, fmt_countdown, fmt_fixed, fmt_pct

Part = tuple[str, str]  # (text, component class suffix)


class TickerStrip(Widget):
    """Two lines of market summary for one instrument. Feed it with :meth:`update_view`."""

    COMPONENT_CLASSES = {
        "ticker--symbol",
        "ticker--venue",
        "ticker--label",
        "ticker--value",
        "ticker--up",
        "ticker--down",
        "ticker--flat",
        "ticker--warn",
    }
    DEFAULT_CSS = """
    TickerStrip {
        height: 2;
        width: 1fr;
        padding: 0 1;
    }
    TickerStrip > .ticker--symbol { text-style: bold; }
    TickerStrip > .ticker--venue { color: $text-muted; }
    TickerStrip > .ticker--label { color: $text-muted; }
    TickerStrip > .ticker--value { color: $foreground; }
    TickerStrip > .ticker--up { color: $success; text-style: bold; }
    TickerStrip > .ticker--down { color: $error; text-style: bold; }
    TickerStrip > .ticker--flat { color: $foreground; text-style: bold; }
    TickerStrip > .ticker--warn { color: $warning; }
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock
        self._lines: tuple[tuple[Part, ...], ...] = ()
        self._instrument_id: str | None = None
        self._last: float | None = None
        self._direction = "flat"
        self._key: tuple | None = None

    @property
    def text(self) -> str:
        """The plain text currently shown (one line per row)."""
        return "\n".join("".join(text for text, _ in line) for line in self._lines)

    def update_view(self, view: InstrumentView | None, notice: str | None = None) -> bool:
        """Show ``view``; without one, ``notice`` (why there is no data, e.g. a symbol the
        venue does not list) or that data is awaited. True when the displayed text changed."""
        if view is None:
            lines: tuple[tuple[Part, ...], ...] = (
                ((notice, "warn"),) if notice else (("waiting for market data…", "label"),),)
            self._instrument_id = None
        else:
            # The funding countdown moves every second even when the market is quiet.
            second = int(self._clock()) if view.funding is not None else None
            key = (view.instrument.id, view.seq, view.synced, second)
            if key == self._key:
                return False
            self._key = key
            self._track_direction(view)
            lines = (tuple(self._first_line(view)), tuple(self._second_line(view)))
        if lines == self._lines:
            return False
        self._lines = lines
        self.refresh()
        return True

    def _track_direction(self, view: InstrumentView) -> None:
        if view.instrument.id != self._instrument_id:
            self._instrument_id = view.instrument.id
            self._last, self._direction = None, "flat"
        last = _last_price(view)
        if last is None:
            return
        if self._last is not None and last != self._last:
            self._direction = "up" if last > self._last else "down"
        self._last = last

    def _first_line(self, view: InstrumentView) -> list[Part]:
        instrument = view.instrument
        decimals = decimals_for(instrument.tick_size)
        last = _last_price(view)
        arrow = {"up": " ▲", "down": " ▼"}.get(self._direction, "  ")
        parts: list[Part] = [
            (instrument.symbol, "symbol"),
            (f"  {instrument.venue} {instrument.market}", "venue"),
            ("   ", "label"),
            (fmt_fixed(last, decimals) + arrow, self._direction),
        ]
        ticker = view.ticker
        change = (None if ticker is None or not ticker.open_24h or last is None
                  else (last - ticker.open_24h) / ticker.open_24h * 100.0)
        if change is not None:
            parts.append(("  ", "label"))
            parts.append((fmt_pct(change), "up" if change > 0 else "down" if change < 0 else "flat"))
        bid, ask = _touch(view)
        parts += [("   bid ", "label"), (fmt_fixed(bid, decimals), "up"),
                  ("  ask ", "label"), (fmt_fixed(ask, decimals), "down")]
        spread = None if bid is None or ask is None else ask - bid
        mid = None if bid is None or ask is None else (bid + ask) / 2
        parts += [("   spread ", "label"),
                  (f"{fmt_fixed(spread, decimals)} ({fmt_bps(spread, mid)})", "value")]
        return parts

    def _second_line(self, view: InstrumentView) -> list[Part]:
        decimals = decimals_for(view.instrument.tick_size)
        ticker = view.ticker
        high = ticker.high_24h if ticker else None
        low = ticker.low_24h if ticker else None
        volume = ticker.volume_24h if ticker else None
        parts: list[Part] = [
            ("24h high ", "label"), (fmt_fixed(high, decimals), "value"),
            ("  low ", "label"), (fmt_fixed(low, decimals), "value"),
            ("  vol ", "label"), (f"{fmt_compact(volume)} {view.instrument.base}", "value"),
        ]
        funding = view.funding
        if view.instrument.market == "perp" and funding is not None:
            rate = None if funding.rate is None else funding.rate * 100.0
            parts += [("   funding ", "label"),
                      (fmt_pct(rate, 4), "up" if (rate or 0) >= 0 else "down")]
            if funding.next_funding_time is not None:
                left = funding.next_funding_time - self._clock() * 1000.0
                parts += [("  in ", "label"), (fmt_countdown(left), "value")]
            if funding.mark_price is not None:
                parts += [("  mark ", "label"), (fmt_fixed(funding.mark_price, decimals), "value")]
        if not view.synced:
            parts.append(("   book resyncing", "warn"))
        return parts

    def render(self) -> Text:
        styles: dict[str, Style] = {}
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, line in enumerate(self._lines):
            if index:
                text.append("\n")
            for chunk, component in _fitting(line, self.content_size.width):
                style = styles.get(component)
                if style is None:
                    # full styles: partial ones leave auto colours ($text-muted) unresolved
                    style = styles[component] = self.get_component_rich_style(
                        f"ticker--{component}")
                text.append(chunk, style)
        return text


def _fitting(line: tuple[Part, ...], width: int) -> tuple[Part, ...]:
    """The parts of ``line`` that fit in ``width`` cells, whole ones only (a narrow
    terminal loses the spread, not half a price), without a dangling label."""
    if width <= 0:
        return line
    used = 0
    kept: list[Part] = []
    for part in line:
        used += len(part[0])
        if used > width:
            break
        kept.append(part)
    if len(kept) < len(line):
        while kept and kept[-1][1] == "label":
            kept.pop()
    return tuple(kept)


def _last_price(view: InstrumentView) -> float | None:
    """The newest of the last trade and the 24 h ticker's last price: the ticker comes
    about once a second, trades as they print, so the tape must not run ahead of it."""
    ticker, trades = view.ticker, view.trades
    if trades and (ticker is None or ticker.last is None or trades[0].ts >= ticker.ts):
        return trades[0].price
    if ticker is not None and ticker.last is not None:
        return ticker.last
    return None


def _touch(view: InstrumentView) -> tuple[float | None, float | None]:
    """Best bid/ask: from the book when it is trustworthy, else from the ticker."""
    if view.synced and view.best_bid is not None and view.best_ask is not None:
        return view.best_bid, view.best_ask
    if view.ticker is not None:
        return view.ticker.bid, view.ticker.ask
    return None, None
