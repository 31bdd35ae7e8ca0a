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
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer

from app.feeds.health import HealthView
from app.engine_api import MarketSource, directory_of, trading_of
from app.feeds.views import InstrumentView, Unlisted
from app.market.instruments import Instrument
from app.ui.grouping import MAX_STEPS, group_for, step_index
from app.ui.header import AppHeader
from app.ui.layout import BOOK, CHART, ORDER, ORDERS, PANE_NAMES, PANES, TAPE, PaneLayout, plan
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
PANE_IDS = {BOOK: "ladder", CHART: "chart", TAPE: "tape", ORDER: "order-entry", ORDERS: "blotter"}
GROUPING = Binding.Group("Group")
INTERVAL_KEYS = Binding.Group("Interval", compact=True)
# trading workers that send something to an account (an account switch sends no order)
SENDING_WORKERS = ("_run_place", "_run_cancel", "_run_cancel_all")


class MainScreen(RecordingKeysMixin, TradingPanelMixin, Screen[None]):
    """Market view of one instrument at a time (plus order entry and blotters when the
    source has a trading runtime; see TradingPanelMixin)."""

    BINDINGS = [
        # first in the footer, so the key to every other key is never the one cut off
        Binding("question_mark", "app.help", "Help", key_display="?", tooltip="Show or hide this list"),
        Binding("s", "pick_symbol", "Symbol", tooltip="Switch to another instrument"),
        Binding("z", "zoom", "Zoom", tooltip="Zoom the focused pane (Tab moves focus); again to restore"),
        Binding("plus", "group(1)", "Group +", key_display="+", group=GROUPING,
                tooltip="Coarser ladder grouping (tick x 2, 5, 10 ...)"),
        # "=" is "+" without shift; same action, kept out of the footer
        Binding("equals_sign", "group(1)", "Group +", key_display="=", show=False,
                tooltip="Coarser ladder grouping (tick x 2, 5, 10 ...)"),
        Binding("minus", "group(-1)", "Group −", key_display="-", group=GROUPING,
                tooltip="Finer price grouping, down to the tick"),
        *(Binding(str(n), f"interval('{interval}')", interval, group=INTERVAL_KEYS,
                  tooltip=f"Chart {interval} candles")
          for n, interval in enumerate(INTERVALS, 1)),
        Binding("v", "hide_pane", "Hide", show=False,
                tooltip="Hide the focused pane (V shows every pane)"),
        Binding("V", "show_panes", "Show all", key_display="V", show=False,
                tooltip="Show every pane again and end a zoom"),
        *RecordingKeysMixin.RECORDING_BINDINGS,
    ]

    def __init__(self, source: MarketSource, instrument_id: str | None = None, *,
                 fps: float = 10.0, mode_label: str = "DEMO",
                 clock: Callable[[], float] = time.time, api_address: str = "") -> None:
        super().__init__()
        self.source = source
        self.api_address = api_address  # the data API's address for the header, "" when off
        self.instrument_id = instrument_id
        self.interval = INTERVALS[0]
        self.group_index = 0
        self.fps = fps
        self.mode_label = mode_label
        self._clock = clock
        self._instrument: Instrument | None = None
        self._last_key: object = _UNSET
        self._last_error: str | None = None
        self._views_started = False  # on_mount drew the first frame
        self._announced: set[str] = set()  # feeds whose connection error was toasted
        self._unlisted_seen = 0  # entries of the source's unlisted() looked at (it only grows)
        self._unlisted_toasted: set[str] = set()  # one toast per symbol, not one per venue
        self._watched: tuple[str, str] | None = None
        self.frames = 0  # view pulls that changed the book/tape/chart (tests, profiling)
        self.trading = trading_of(source)  # None: no order entry (tests, replays)
        self.directory = directory_of(source)  # None: only what streams (tests, replays)
        self._trading_version = -1
        self._trading_problem: str | None = None
        self._trading_ready = False  # order panel and blotters mounted
        self._trading_mounting = False
        self.hidden_panes: set[str] = set()  # closed with "v" (or the palette)
        self.zoomed: str | None = None  # the pane alone on screen ("z")
        self.pane_layout: PaneLayout | None = None

    def compose(self) -> ComposeResult:
        yield AppHeader(self.app.title or "cryptoterm", self.mode_label, id="header",
                        api_address=self.api_address)
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

    def on_resize(self) -> None:
        self.apply_layout()

    def on_mount(self) -> None:
        # Looked up once: refresh_views runs fps times a second.
        self._ticker = self.query_one(TickerStrip)
        self._ladder = self.query_one(OrderBookLadder)
        self._tape = self.query_one(TradesTape)
        self._chart = self.query_one(KlineChart)
        self._status = self.query_one(FeedStatusBar)
        for pane in (self._ladder, self._chart, self._tape):
            pane.can_focus = True  # Tab walks the panes: "z" and "v" act on the focused one
        self.apply_layout()
        self._ladder.focus()
        if self.trading is not None:
            self.set_timer(2.0, self._mount_trading_widgets)  # if the market is slow to come
        self._resolve_instrument()
        self.set_interval(1.0 / max(0.5, self.fps), self.refresh_views)
        self.refresh_views()
        self._views_started = True

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
                and self.instrument_id not in self._unlisted():
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
        missing = self._unlisted().get(self.instrument_id or "")
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
        directory = self.directory
        more = (self._call(directory.markets) or []) if directory is not None else []
        seen = {i.id for i in streamed}
        instruments = streamed + [i for i in more if i.id not in seen]

        def picked(instrument_id: str | None) -> None:
            if instrument_id is not None:
                if directory is not None:
                    directory.ensure(instrument_id)  # start streaming it if it is not yet
                self.select_instrument(instrument_id)

        self.app.push_screen(SymbolPicker(instruments, self.instrument_id), picked)

    # -- panes -------------------------------------------------------------------------

    def apply_layout(self) -> None:
        """Show the panes that fit the terminal (see app.ui.layout) at their sizes."""
        width, height = self.size
        if not width or not height:
            return
        layout = plan(width, height, trading=self._trading_ready,
                      hidden=frozenset(self.hidden_panes), zoom=self.zoomed)
        self.pane_layout = layout
        def show(widget, on: bool) -> None:
            if widget.display != on:
                widget.display = on

        def size(value: int) -> str:
            return str(value) if value else "1fr"

        show(self._ladder, layout.shows(BOOK))
        self._ladder.styles.width = size(layout.book_width)
        show(self._chart, layout.shows(CHART))
        show(self._tape, layout.shows(TAPE))
        self._tape.styles.height = size(layout.tape_height)
        show(self.query_one("#right-column"), layout.shows(CHART) or layout.shows(TAPE))
        show(self.query_one("#main-body"), bool(layout.visible & {BOOK, CHART, TAPE, ORDER}))
        if self._trading_ready:
            entry = self.query_one("#order-entry")
            show(entry, layout.shows(ORDER))
            entry.styles.width = size(layout.order_width)
            blotter = self.query_one("#blotter")
            show(blotter, layout.shows(ORDERS))
            blotter.styles.height = size(layout.orders_height)
        focused = self.focused
        if focused is not None and self.pane_of(focused) not in layout.visible | {None}:
            # focus must not stay on a pane that left the screen: keys would act unseen
            pane = next((p for p in PANES if layout.shows(p)), None)
            if pane is None:
                self.set_focus(None)
            else:
                self._focus_pane(pane)

    def _focus_pane(self, pane: str) -> None:
        widget = self.query_one(f"#{PANE_IDS[pane]}")
        if widget.can_focus:
            widget.focus()
            return
        # a container (order form, blotter): its first focusable widget
        target = next((w for w in widget.query("*") if w.focusable), None)
        if target is not None:
            target.focus()

    def pane_of(self, widget) -> str | None:
        """The pane ``widget`` is in (None: not in a pane, e.g. the header)."""
        by_id = {v: k for k, v in PANE_IDS.items()}
        node = widget
        while node is not None and node is not self:
            if node.id in by_id:
                return by_id[node.id]
            node = node.parent
        return None

    def zoom_pane(self, pane: str | None) -> None:
        """Show ``pane`` alone (None: every pane again, minus those hidden)."""
        self.zoomed = pane
        if pane is not None:
            self.hidden_panes.discard(pane)
        self.apply_layout()
        if pane is not None and (self.focused is None or self.pane_of(self.focused) != pane):
            self._focus_pane(pane)

    def toggle_pane(self, pane: str) -> None:
        """Hide ``pane``, or show it again when it is hidden."""
        if pane in self.hidden_panes:
            self.hidden_panes.discard(pane)
        else:
            self.hidden_panes.add(pane)
            if self.zoomed == pane:
                self.zoomed = None
        self.apply_layout()
        if pane not in self.hidden_panes and self.pane_layout and not self.pane_layout.shows(pane):
            self.notify(f"the {PANE_NAMES[pane]} does not fit in {self.size.width}x"
                        f"{self.size.height}; zoom it (z) or enlarge the terminal",
                        severity="warning")

    def action_zoom(self) -> None:
        if self.zoomed is not None:
            self.zoom_pane(None)
            return
        pane = self.pane_of(self.focused) if self.focused is not None else None
        self.zoom_pane(pane if pane in self._available_panes() else BOOK)

    def action_hide_pane(self) -> None:
        pane = self.pane_of(self.focused) if self.focused is not None else None
        if pane is None:
            self.notify("no pane has the focus: Tab to one, then v", severity="warning")
            return
        self.toggle_pane(pane)
        self.notify(f"{PANE_NAMES[pane]} hidden · V shows every pane", timeout=3)

    # Keys that act on the order form or the blotter first bring it on screen: typing
    # into a form the user cannot see, or cancelling a selection they cannot see, would
    # make a key mean something other than what the screen shows.

    def reveal(self, pane: str) -> bool:
        """Bring ``pane`` on screen (unhide it, end another pane's zoom, or zoom it when
        the terminal has no room for it); True when it had to change the layout."""
        layout = self.pane_layout
        if layout is not None and layout.shows(pane):
            return False
        self.hidden_panes.discard(pane)
        if self.zoomed is not None and self.zoomed != pane:
            self.zoomed = None
        self.apply_layout()
        if self.pane_layout is not None and not self.pane_layout.shows(pane):
            self.zoom_pane(pane)
        return True

    def action_focus_order(self) -> None:
        self.reveal(ORDER)
        super().action_focus_order()

    def action_side(self, side: str) -> None:
        self.reveal(ORDER)
        super().action_side(side)

    def action_cancel_selected(self) -> None:
        if self.reveal(ORDERS):
            self.notify("open orders shown: select one, then c cancels it", title="Cancel",
                        severity="warning")
            return
        super().action_cancel_selected()

    def action_show_panes(self) -> None:
        self.hidden_panes.clear()
        self.zoom_pane(None)

    @property
    def trading_ready(self) -> bool:
        """The order panel and blotters are on the screen (their actions can run)."""
        return self._trading_ready

    def _available_panes(self) -> tuple[str, ...]:
        return PANES if self._trading_ready else (BOOK, CHART, TAPE)

    def requests_in_flight(self) -> int:
        """Orders or cancels sent to the account and not yet answered."""
        return sum(1 for worker in self.workers
                   if worker.group == "trading" and worker.name in SENDING_WORKERS
                   and not worker.is_finished)

    # -- frames --------------------------------------------------------------------

    def refresh_views(self) -> None:
        """Pull one view and the feed health, and hand them to the widgets."""
        top = self.app.screen
        if top is not self and not isinstance(top, ModalScreen):
            # another full screen (watchlist, history, ...) hides this one: drawing what
            # nobody sees took a third of the UI thread under the watchlist
            return
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
        unlisted = self._unlisted()
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
        self.apply_layout()

    def _unlisted(self) -> dict[str, Unlisted]:
        """Requested instruments no venue lists ({} when the source cannot tell)."""
        if self.directory is None:
            return {}
        return self._call(self.directory.unlisted) or {}

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

    def on_screen_resume(self) -> None:
        # back on top after another screen: show the present at once, not a frame later
        if self._views_started:
            self.refresh_views()
