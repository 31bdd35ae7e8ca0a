"""Candlestick chart with a volume panel, drawn with textual-plotext.

plotext rebuilds the whole picture on every render (milliseconds per frame), so the
chart only redraws when the visible klines actually changed, and at most
``MAX_REDRAWS_PER_SEC`` times a second; a change that arrives in between is drawn by
a one-shot timer, so the live candle never lags more than half a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, cast

from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.events import Resize
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Static
from textual_plotext import PlotextPlot

from app.feeds.views import InstrumentView
from app.market.events import Kline
from widgets.format import decimals_for, fmt_compact, fmt_fixed

WAITING_TEXT = "waiting for klines…"
MAX_REDRAWS_PER_SEC = 2.0
_DAILY = {"1d", "1w"}


class KlineChart(Vertical):
    """Candles of one instrument and interval (the last candle is live) above volume bars."""

    DEFAULT_CSS = """
    KlineChart {
        height: 1fr;
        width: 1fr;
        background: $surface;
    }
    KlineChart > #kline-price { height: 3fr; }
    KlineChart > #kline-volume { height: 1fr; min-height: 5; }
    KlineChart > #kline-waiting {
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        color: $text-muted;
    }
    """

    def __init__(self, *, empty_text: str = WAITING_TEXT,
                 state_of: Callable[[Kline], str] | None = None, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._empty_text = empty_text  # live: klines are on their way; history: none stored
        # the word after the last candle's OHLC; live data: closed or live, history: the
        # screen knows more (partial, or open but its interval over)
        self._state_of = state_of or (lambda k: "closed" if k.closed else "live")
        self._view: InstrumentView | None = None
        self._drawn_key: tuple | None = None
        self._last_draw = -math.inf
        self._timer: Timer | None = None
        self.draws = 0  # how many times plot data was rebuilt (tests and profiling read it)
        self.border_title = "Chart"

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="kline-price")
        yield PlotextPlot(id="kline-volume")
        yield Static(self._empty_text, id="kline-waiting")

    def on_mount(self) -> None:
        # Candle colours come from the theme's $bid/$ask; a theme switch needs new data calls.
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self._show_waiting(True)

    def _on_theme_changed(self, theme: Theme) -> None:
        self._drawn_key = None
        self._schedule()

    def on_resize(self, event: Resize) -> None:
        # The number of candles that fit depends on the width.
        self._drawn_key = None
        self._schedule()

    # -- feeding -------------------------------------------------------------------

    def update_view(self, view: InstrumentView | None) -> bool:
        """Take the klines of ``view``; returns True when a redraw is due (now or soon)."""
        self._view = view
        title = "Chart" if view is None else f"{view.instrument.symbol} · {view.interval}"
        if title != self.border_title:
            self.border_title = title
        if self._key() == self._drawn_key:
            return False
        self._schedule()
        return True

    def _key(self) -> tuple | None:
        view = self._view
        if view is None or not view.klines:
            return None
        shown = view.klines[-self._capacity():]
        return (view.instrument.id, view.interval, self.size, self._state_of(shown[-1]),
                tuple((k.open_time, k.open, k.high, k.low, k.close, k.volume) for k in shown))

    def _capacity(self) -> int:
        # About two cells per candle once the y labels (~10 cells) are taken off.
        return max(5, (self.size.width - 12) // 2)

    def _schedule(self) -> None:
        wait = 1.0 / MAX_REDRAWS_PER_SEC - (time.monotonic() - self._last_draw)
        if wait <= 0:
            self._draw()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._draw)

    @property
    def up_to_date(self) -> bool:
        """No redraw is pending: the plot shows the latest klines given (what a caller
        waits for instead of sleeping through the throttle window)."""
        return self._timer is None and self._key() == self._drawn_key

    # -- drawing -------------------------------------------------------------------

    def _draw(self) -> None:
        self._timer = None
        if not self.size.width or not self.size.height:
            return  # not laid out yet: the first Resize draws at the real size
        key = self._key()
        if key == self._drawn_key and key is not None:
            return
        self._drawn_key = key
        view = self._view
        if view is None or not view.klines:
            self.border_subtitle = ""
            self._show_waiting(True)
            return  # cheap: does not count against the redraw budget
        self._last_draw = time.monotonic()
        self._show_waiting(False)
        klines = view.klines[-self._capacity():]
        tick = view.instrument.tick_size if view.instrument.tick_size > 0 else 1e-8
        self._plot(klines, tick, view.interval)
        decimals = decimals_for(tick)
        last = klines[-1]
        state = self._state_of(last)
        self.border_subtitle = (f"O {fmt_fixed(last.open, decimals)}  H {fmt_fixed(last.high, decimals)}"
                                f"  L {fmt_fixed(last.low, decimals)}  C {fmt_fixed(last.close, decimals)}"
                                f"  ({state})")
        self.draws += 1

    def _show_waiting(self, waiting: bool) -> None:
        self.query_one("#kline-waiting").display = waiting
        self.query_one("#kline-price").display = not waiting
        self.query_one("#kline-volume").display = not waiting

    def _colours(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        variables = self.app.theme_variables
        up = variables.get("bid") or variables.get("success") or "green"
        down = variables.get("ask") or variables.get("error") or "red"
        return Color.parse(up).rgb, Color.parse(down).rgb

    def _plot(self, klines: tuple[Kline, ...], tick: float, interval: str) -> None:
        price_plot = self.query_one("#kline-price", PlotextPlot)
        volume_plot = self.query_one("#kline-volume", PlotextPlot)
        up, down = self._colours()
        # plotext takes numbers as x (its hints say date strings only)
        xs: Any = list(range(len(klines)))
        lo = min(k.low for k in klines)
        hi = max(k.high for k in klines)
        if hi - lo < 4 * tick:
            # A flat market has no range; plotext divides by it, so give it a few ticks.
            mid = (hi + lo) / 2
            lo, hi = mid - 2 * tick, mid + 2 * tick
        price_ticks = _nice_ticks(lo, hi, 4)
        tick_decimals = (decimals_for(price_ticks[1] - price_ticks[0]) if len(price_ticks) > 1
                         else decimals_for(tick))
        price_labels = [fmt_fixed(t, tick_decimals) for t in price_ticks]
        vmax = max(k.volume for k in klines) or 1.0
        # Only the maximum is labelled: a "0" beside full-height bars reads as no volume
        # (plotext shows a lone tick even when the strip is one data row tall).
        volume_ticks = [vmax]
        volume_labels = [fmt_compact(vmax)]
        # Equal-width y labels keep the candles and their volume bars in the same columns.
        label_width = max(len(label) for label in price_labels + volume_labels)
        x_ticks, x_labels = _time_ticks(klines, interval, self.size.width - label_width - 4)

        plt = price_plot.plt
        plt.clear_data()
        plt.clear_figure()
        plt.candlestick(xs, {"Open": [k.open for k in klines], "Close": [k.close for k in klines],
                             "High": [k.high for k in klines], "Low": [k.low for k in klines]},
                        colors=[up, down])
        plt.xlim(-1, len(klines))
        plt.ylim(min(lo, price_ticks[0]), max(hi, price_ticks[-1]))
        plt.yticks(price_ticks, [label.rjust(label_width) for label in price_labels])
        plt.xticks([], [])
        price_plot.refresh()

        plt = volume_plot.plt
        plt.clear_data()
        plt.clear_figure()
        # Volume bars are drawn as candles from 0 to the volume (close>open for up bars,
        # open>close for down): plotext's bar() rescales widths by the spacing of its own
        # x values, so up/down subsets would not line up with the candles above.
        ups = [k.close > k.open for k in klines]
        plt.candlestick(xs, {"Open": [0.0 if up else k.volume for up, k in zip(ups, klines)],
                             "Close": [k.volume if up else 0.0 for up, k in zip(ups, klines)],
                             "High": [k.volume for k in klines], "Low": [0.0] * len(klines)},
                        colors=[up, down])
        plt.xlim(-1, len(klines))
        plt.ylim(0, vmax)
        plt.yticks(volume_ticks, [label.rjust(label_width) for label in volume_labels])
        plt.xticks(x_ticks, x_labels)
        volume_plot.refresh()


def _nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """About ``count`` round (1-2-5) values covering ``lo..hi``."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 0.5:
        if value >= lo - step * 0.5:
            ticks.append(round(value, 10))
        value += step
    return ticks or [lo]


def _time_ticks(klines: tuple[Kline, ...], interval: str, width: int) -> tuple[list[float], list[str]]:
    """Every k-th candle, counted back from the live one, labelled HH:MM (UTC) or MM-DD."""
    fmt = "%m-%d" if interval in _DAILY else "%H:%M"
    n = len(klines)
    per_label = 8  # a 5-character label plus breathing room
    every = max(1, math.ceil(n * per_label / max(width, per_label)))
    ticks = list(range(n - 1, -1, -every))[::-1]
    labels = [time.strftime(fmt, time.gmtime(klines[i].open_time / 1000.0)) for i in ticks]
    return cast("list[float]", ticks), labels  # plotext's hints want floats; ints are fine
