"""The main screen: header, ticker strip, ladder | chart over trades, status bar, footer.

Widgets never see market messages. A timer at ``fps`` asks the source for one
immutable view and the feed health, and hands them to the widgets; each widget skips
work when its part of the view did not change. So a 20k msg/s burst costs the UI
``fps`` view builds per second, not 20k redraws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from app.feeds.health import HealthView
from app.feeds.views import InstrumentView, MarketSource, Unlisted, trading_of, unlisted_of
from app.market.instruments import Instrument
from app.ui.grouping import MAX_STEPS, group_for, step_index
from app.ui.header import AppHeader
from app.ui.symbol_picker import SymbolPicker
from app.ui.recording_keys import RecordingKeysMixin
from app.ui.trading_panel import TradingPanelMixin
from widgets.blotter import Blotter
from widgets.format import decimals_for, fmt_fixed
from widgets.kline_chart import KlineChart
from widgets.ladder import OrderBookLadder
from widgets.order_entry import OrderEntry
from widgets.status_bar import FeedStatusBar
from widgets.ticker_strip import TickerStrip
from widgets.trades_tape import TradesTape

T = TypeVar("T")
_UNSET = object()  # forces the next frame through to every widget

INTERVALS: tuple[str, ...] = ("1m", "5m", "15m", "1h")
LADDER_DEPTH = 20
TAPE_TRADES = 50


class MainScreen(RecordingKeysMixin, TradingPanelMixin, Screen[None]):
    """Market view of one instrument at a time (plus order entry and blotters when the
    source has a trading runtime; see TradingPanelMixin)."""

    BINDINGS = [
        Binding("s", "pick_symbol", "Symbol", tooltip="Switch to another instrument"),
        Binding("plus", "group(1)", "Group +", key_display="+",
                tooltip="Coarser ladder grouping (tick x 2, 5, 10 ...)"),
        # "=" is "+" without shift; same action, kept out of the footer
        Binding("equals_sign", "group(1)", "Group +", key_display="=", show=False,
                tooltip="Coarser ladder grouping (tick x 2, 5, 10 ...)"),
        Binding("minus", "group(-1)", "Group −", key_display="-",
                tooltip="Finer price grouping, down to the tick"),
        *(Binding(str(n), f"interval('{interval}')", interval, tooltip=f"Chart {interval} candles")
          for n, interval in enumerate(INTERVALS, 1)),
        *RecordingKeysMixin.RECORDING_BINDINGS,
    ]

    def __init__(self, source: MarketSource, instrument_id: str | None = None, *,
                 fps: float = 10.0, mode_label: str = "DEMO",
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.source = source
        self.instrument_id = instrument_id
        self.interval = INTERVALS[0]
        self.group_index = 0
        self.fps = fps
        self.mode_label = mode_label
        self._clock = clock
        self._instrument: Instrument | None = None
        self._last_key: object = _UNSET
        self._last_error: str | None = None
        self._announced: set[str] = set()  # feeds whose connection error was toasted
        self._unlisted_seen = 0  # entries of the source's unlisted() looked at (it only grows)
        self._unlisted_toasted: set[str] = set()  # one toast per symbol, not one per venue
        self._watched: tuple[str, str] | None = None
        self.frames = 0  # view pulls that changed the book/tape/chart (tests, profiling)
        self.trading = trading_of(source)  # None: no order entry (tests, replays)
        self._trading_version = -1
        self._trading_problem: str | None = None
        self._trading_ready = False  # order panel and blotters mounted
        self._trading_mounting = False

    def compose(self) -> ComposeResult:
        yield AppHeader(self.app.title or "cryptoterm", self.mode_label, id="header")
        yield TickerStrip(clock=self._clock, id="ticker")
        with Horizontal(id="main-body"):
            yield OrderBookLadder(id="ladder")
            with Vertical(id="right-column"):
                yield KlineChart(id="chart")
                yield TradesTape(id="tape")
        # the order panel and blotters are mounted after the first market frame: the
        # book, chart and tape come first (see _mount_trading_widgets)
        yield FeedStatusBar(clock=self._clock, id="status")
        yield Footer()

    def on_mount(self) -> None:
        # Looked up once: refresh_views runs fps times a second.
        self._ticker = self.query_one(TickerStrip)
        self._ladder = self.query_one(OrderBookLadder)
        self._tape = self.query_one(TradesTape)
        self._chart = self.query_one(KlineChart)
        self._status = self.query_one(FeedStatusBar)
        if self.trading is not None:
            self.set_timer(2.0, self._mount_trading_widgets)  # if the market is slow to come
        self._resolve_instrument()
        self.set_interval(1.0 / max(0.5, self.fps), self.refresh_views)
        self.refresh_views()

    # -- state ---------------------------------------------------------------------

    @property
    def group(self) -> float:
        """The ``group`` passed to ``source.view`` (0.0 = raw tick levels)."""
        tick = self._instrument.tick_size if self._instrument else 0.01
        return group_for(tick, self.group_index)

    def _resolve_instrument(self) -> None:
        """Pick the instrument (first one when none was asked for) and start its klines."""
        instruments = self._call(self.source.instruments) or []
        by_id = {i.id: i for i in instruments}
        if self.instrument_id is None and instruments:
            self.instrument_id = instruments[0].id
        if self.instrument_id is None:
            return  # the engine has no instruments yet; retried on the next frame
        self._instrument = by_id.get(self.instrument_id)
        if instruments and self._instrument is None and self._last_error != self.instrument_id \
                and self.instrument_id not in (self._call(unlisted_of, self.source) or {}):
            # (one the venue does not list is announced by _announce_unlisted, with what it lists)
            self._last_error = self.instrument_id
            self.notify(f"unknown instrument {self.instrument_id!r}", severity="error")
        self._watch()
        self._update_header()

    def _watch(self) -> None:
        """Tell the source which klines to stream, once per (instrument, interval)."""
        wanted = (self.instrument_id, self.interval) if self.instrument_id else None
        if wanted is not None and wanted != self._watched:
            self._watched = wanted
            self._call(self.source.watch, *wanted)

    def _update_header(self) -> None:
        header = self.query_one(AppHeader)
        missing = (self._call(unlisted_of, self.source) or {}).get(self.instrument_id or "")
        label = (self._instrument.label if self._instrument else
                 f"{missing.symbol} · {missing.where}" if missing else (self.instrument_id or ""))
        header.instrument_label = label
        group = self.group
        step = group if group > 0 else (self._instrument.tick_size if self._instrument else 0.0)
        header.detail = (f"{self.interval} candles · group {fmt_fixed(step, decimals_for(step))}"
                         if step else f"{self.interval} candles")
        self.sub_title = label
        self.app.sub_title = label

    def select_instrument(self, instrument_id: str) -> None:
        """Show ``instrument_id`` in every panel (grouping resets to the new tick)."""
        if instrument_id == self.instrument_id:
            return
        self.instrument_id = instrument_id
        self._instrument = None
        self.group_index = 0
        self._last_key = _UNSET
        self._resolve_instrument()
        self.refresh_views()

    def set_chart_interval(self, interval: str) -> None:
        """Switch the chart to ``interval`` klines and ask the source to stream them."""
        if interval == self.interval:
            return
        self.interval = interval
        self._watch()
        self._update_header()
        self.refresh_views()

    # -- actions -------------------------------------------------------------------

    def action_group(self, direction: int) -> None:
        index = step_index(self.group_index, direction, MAX_STEPS)
        if index != self.group_index:
            self.group_index = index
            self._update_header()
            self.refresh_views()

    def action_interval(self, interval: str) -> None:
        self.set_chart_interval(interval)

    def action_pick_symbol(self) -> None:
        streamed = self._call(self.source.instruments) or []
        # every market of every venue when the source knows them; streamed ones first
        listed = getattr(self.source, "markets", None)
        more = (self._call(listed) or []) if listed is not None else []
        seen = {i.id for i in streamed}
        instruments = streamed + [i for i in more if i.id not in seen]

        def picked(instrument_id: str | None) -> None:
            if instrument_id is not None:
                ensure = getattr(self.source, "ensure", None)
                if ensure is not None:
                    ensure(instrument_id)  # start streaming it if it is not yet
                self.select_instrument(instrument_id)

        self.app.push_screen(SymbolPicker(instruments, self.instrument_id), picked)

    # -- frames --------------------------------------------------------------------

    def refresh_views(self) -> None:
        """Pull one view and the feed health, and hand them to the widgets."""
        if self._instrument is None:
            self._resolve_instrument()
        healths: list[HealthView] = self._call(self.source.health) or []
        view: InstrumentView | None = None
        if self.instrument_id is not None:
            view = self._call(self.source.view, self.instrument_id, LADDER_DEPTH, self.group,
                              self.interval, TAPE_TRADES)
        if view is not None and view.instrument is not self._instrument \
                and view.instrument != self._instrument:
            # The engine may replace a configured instrument with the venue's real tick/lot.
            self._instrument = view.instrument
            self._update_header()
        unlisted = self._call(unlisted_of, self.source) or {}
        if len(unlisted) != self._unlisted_seen:
            self._announce_unlisted(unlisted)
        # The ticker's funding countdown and the status bar's clock move without new data.
        missing = unlisted.get(self.instrument_id or "") if view is None else None
        self._ticker.update_view(view, missing.message if missing else None)
        self._status.update(healths, view)
        self._announce_feed_errors(healths)
        if self._trading_ready:
            self.update_trading(view)
        self.update_recording()
        key = None if view is None else (view.instrument.id, view.seq, view.synced, self.group,
                                         view.interval)
        if key == self._last_key:
            return
        self._last_key = key
        self.frames += 1
        self._ladder.update_view(view, self.group)
        self._tape.update_view(view)
        self._chart.update_view(view)
        if self.trading is not None and not self._trading_ready and view is not None and view.synced:
            self.call_after_refresh(self._mount_trading_widgets)

    def _announce_feed_errors(self, healths: list[HealthView]) -> None:
        """Say once, in a toast, why a feed cannot stream (no network, a refused URL...);
        the status bar keeps saying it. A feed that connects again may be announced anew."""
        for h in healths:
            if h.state == "connected":
                self._announced.discard(h.name)
            elif h.error and h.state in ("reconnecting", "failed") and h.name not in self._announced:
                self._announced.add(h.name)
                self.notify(h.error, title=f"{h.name}: cannot stream", severity="warning", timeout=10)

    def _announce_unlisted(self, unlisted: dict[str, Unlisted]) -> None:
        """Toast a requested symbol that streams nowhere (the venue does not list it); one
        missing on a single venue but streamed on another is only on the ticker if opened."""
        streamed = {i.symbol for i in self._call(self.source.instruments) or []}
        for instrument_id, missing in list(unlisted.items())[self._unlisted_seen:]:
            if missing.symbol in self._unlisted_toasted:
                continue
            if missing.symbol not in streamed or instrument_id == self.instrument_id:
                self._unlisted_toasted.add(missing.symbol)
                self.notify(f"{missing.message} (press s to pick a listed one)", title="unknown symbol",
                            severity="error", timeout=15, markup=False)
                self._update_header()
        self._unlisted_seen = len(unlisted)

    async def _mount_trading_widgets(self) -> None:
        """Order entry and blotters join the screen once the market is on it: styling
        them costs a few hundred milliseconds the first frame should not wait for."""
        if self.trading is None or self._trading_mounting:
            return
        self._trading_mounting = True
        await self.query_one("#main-body").mount(OrderEntry(id="order-entry"))
        await self.mount(Blotter(id="blotter"), before=self._status)
        self.mount_trading()
        self._trading_ready = True

    def _call(self, method: Callable[..., T], *args: object) -> T | None:
        """Call a MarketSource method; an engine error is reported once, not 10 times a second."""
        try:
            return method(*args)
        except Exception as error:  # the UI must outlive a misbehaving engine
            message = f"{getattr(method, '__name__', 'source')}: {error}"
            self.log.error(message)
            if message != self._last_error:
                self._last_error = message
                self.notify(message, title="market source error", severity="error")
            return None
