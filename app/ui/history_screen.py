"""The history browser: recorded klines of one instrument as a chart, a table and a
coverage strip, with pan and zoom on keys and export to CSV.

Everything shown comes from the store, through its reader (storage.history), called
only from worker threads (a range of a month of minutes is ~40k rows); the screen only
slices what was loaded when the user pans or zooms, so keys answer immediately. When
the window holds more candles than the chart has columns, neighbours are merged (×2,
×4 …) rather than cut off, so zooming out shows the whole window.

While the selected range reaches the present, the screen follows what the recorder
stores: every ``refresh_interval`` a worker reads the newest stored candle (one
primary-key lookup) and, when it changed, only the candles from the last one shown on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Select, Static

from app.engine_api import MarketSource, RecordingSwitch, recording_ids
from app.errors import CryptotermError
from app.feeds.views import InstrumentView
from app.market.events import Kline
from app.market.instruments import Instrument
from app.market.klines import INTERVAL_MS, interval_ms
from app.ui.error_toast import error_toast
from storage.history import MAX_CANDLES, HistoryReader, KlineRange, SeriesInfo, StoredInstrument
from widgets.coverage_strip import CoverageStrip
from widgets.format import decimals_for, fmt_compact, fmt_fixed
from widgets.kline_chart import KlineChart

RANGES: tuple[tuple[str, int | None], ...] = (
    ("last 1h", 3_600_000), ("last 6h", 21_600_000), ("last 24h", 86_400_000),
    ("last 7d", 7 * 86_400_000), ("last 30d", 30 * 86_400_000), ("all", None),
)
DEFAULT_RANGE = "last 24h"
DEFAULT_WINDOW = 90
MIN_WINDOW = 10
TABLE_ROWS = 2_000  # the table lists at most this many candles of the window (newest)
ROLLUP_INTERVALS = ("5m", "15m", "1h", "4h", "1d")
REFRESH_INTERVAL = 2.0  # s between looks for newly recorded candles
TABLE_WIDTH = 76  # the table's full width; it gives way to the chart on narrow terminals
MIN_CHART_WIDTH = 74
MIN_TABLE_WIDTH = 30


def candle_state(k: Kline, step: int, now_ms: int) -> str:
    """The word for a candle: partial (recorded in part), closed, live (forming now), or
    open (its interval is over and no closed version is stored yet)."""
    if k.partial:
        return "partial"
    if k.closed:
        return "closed"
    return "live" if k.open_time + step > now_ms else "open"


def merge_candles(klines: list[Kline], factor: int) -> list[Kline]:
    """Neighbouring candles merged ``factor`` at a time (counted back from the newest)."""
    if factor <= 1:
        return list(klines)
    out: list[Kline] = []
    first = len(klines) % factor
    groups = ([klines[:first]] if first else []) + [klines[i:i + factor]
                                                     for i in range(first, len(klines), factor)]
    for group in groups:
        out.append(Kline(group[0].id, group[0].interval, group[0].open_time, group[0].open,
                         max(k.high for k in group), min(k.low for k in group), group[-1].close,
                         sum(k.volume for k in group), group[-1].closed,
                         any(k.partial for k in group)))
    return out


def fmt_time(ms: int, interval: str) -> str:
    fmt = "%Y-%m-%d" if interval in ("1d", "1w") else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.gmtime(ms / 1000))


class HistoryScreen(Screen[None]):
    """Browse what the store holds, read through ``history`` (all queries run in worker
    threads); ``source`` (optional) is the live MarketSource, for the record toggle."""

    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="Back to the market screen"),
        Binding("left", "pan(-1)", "◀", key_display="←", priority=True,
                tooltip="Pan back in time by a quarter window"),
        Binding("right", "pan(1)", "▶", key_display="→", priority=True,
                tooltip="Pan forward in time by a quarter window"),
        Binding("shift+left", "pan(-4)", "◀◀", show=False, priority=True,
                tooltip="Pan back by a whole window"),
        Binding("shift+right", "pan(4)", "▶▶", show=False, priority=True,
                tooltip="Pan forward by a whole window"),
        Binding("plus", "zoom(-1)", "Zoom in", key_display="+", tooltip="Half as many candles"),
        Binding("equals_sign", "zoom(-1)", "Zoom in", key_display="=", show=False,
                tooltip="Half as many candles"),
        Binding("minus", "zoom(1)", "Zoom out", key_display="-", tooltip="Twice as many candles"),
        Binding("home", "edge(-1)", "Oldest", show=False, priority=True, tooltip="Go to the oldest candle"),
        Binding("end", "edge(1)", "Newest", show=False, priority=True, tooltip="Go to the newest candle"),
        Binding("e", "export", "Export CSV", tooltip="Write the loaded range to a CSV file"),
        Binding("r", "toggle_record", "Record", tooltip="Record this instrument from now on"),
        Binding("b", "backtest", "Backtest", tooltip="Run a strategy file over the loaded range"),
    ]

    def __init__(self, history: HistoryReader, *, source: MarketSource | None = None,
                 instrument_id: str | None = None,
                 interval: str = "1m", export_dir: Path | None = None,
                 range_label: str = DEFAULT_RANGE, refresh_interval: float = REFRESH_INTERVAL,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.refresh_interval = refresh_interval
        self._clock = clock  # wall seconds; None: the app's clock (frozen in screenshot tests)
        self._polling = False
        self.history = history
        self.source = source
        self.instrument_id = instrument_id
        self.interval = interval
        self.range_label = range_label
        self.export_dir = export_dir or history.export_dir()
        self.loaded: KlineRange | None = None
        self.window = DEFAULT_WINDOW
        self.end_index = 0  # exclusive index into loaded.klines of the window's newest candle
        self.merge = 1
        self._instruments: dict[str, StoredInstrument] = {}
        self._series: dict[str, SeriesInfo] = {}
        self._building = False  # Select.Changed events fired while options are rebuilt are ours
        self.last_export: Path | None = None

    # -- layout --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("History", id="history-title")
        with Horizontal(id="history-controls"):
            yield Select[str]([], prompt="venue", id="history-venue", allow_blank=True)
            yield Select[str]([], prompt="instrument", id="history-instrument", allow_blank=True)
            yield Select[str]([], prompt="interval", id="history-interval", allow_blank=True)
            yield Select[str]([(label, label) for label, _ in RANGES], value=self.range_label,
                              id="history-range", allow_blank=False)
        with Horizontal(id="history-body"):
            with Vertical(id="history-left"):
                yield KlineChart(empty_text="no klines stored for this selection",
                                 state_of=self._state_of, id="history-chart")
                yield CoverageStrip(id="history-coverage")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="history-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("open time (UTC)", "open", "high", "low", "close", "volume")
        self.load_choices()
        self.set_interval(self.refresh_interval, self._poll)

    def on_resize(self, event: events.Resize) -> None:
        # the chart is the point of the screen: the table shrinks first, then goes
        table = self.query_one(DataTable)
        width = min(TABLE_WIDTH, event.size.width - MIN_CHART_WIDTH)
        table.display = width >= MIN_TABLE_WIDTH
        if table.display:
            table.styles.width = width

    def now_ms(self) -> int:
        clock = self._clock or getattr(self.app, "_clock", None) or time.time
        return int(clock() * 1000)

    def _state_of(self, k: Kline) -> str:
        step = interval_ms(self.loaded.interval) * self.merge if self.loaded else 60_000
        return candle_state(k, step, self.now_ms())

    # -- choosing ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="history-choices")
    def load_choices(self) -> None:
        try:
            insts = self.history.instruments()
        except Exception as exc:  # a store that went away must not take the UI down
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._apply_choices, insts)

    def _failed(self, exc: Exception) -> None:
        message = f"cannot read the history store: {exc}".splitlines()[0][:200]
        self._set_status(message)
        self.notify(message, severity="error")

    def _apply_choices(self, insts: list[StoredInstrument]) -> None:
        self._instruments = {i.id: i for i in insts}
        if not insts:
            self._set_status("Nothing recorded yet: press r on the market screen to record an "
                             "instrument, or run `cryptoterm backfill VENUE SYMBOL INTERVAL --since WHEN`.")
            self.query_one(CoverageStrip).set_coverage(0, 0, [])
            return
        chosen = self._instruments.get(self.instrument_id or "") or insts[0]
        self.instrument_id = chosen.id
        venues = sorted({i.venue for i in insts})
        self._build_select("#history-venue", [(v, v) for v in venues], chosen.venue)
        self._fill_instruments(chosen.venue)

    def _build_select(self, selector: str, options: list[tuple[str, str]], value: str | None) -> None:
        select = self.query_one(selector, Select)
        self._building = True
        try:
            select.set_options(options)
            if value is not None and any(v == value for _, v in options):
                select.value = value
        finally:
            self.call_after_refresh(self._done_building)

    def _done_building(self) -> None:
        self._building = False

    def _fill_instruments(self, venue: str) -> None:
        insts = [i for i in self._instruments.values() if i.venue == venue]
        if self.instrument_id not in {i.id for i in insts}:
            self.instrument_id = insts[0].id if insts else None
        self._build_select("#history-instrument", [(i.label, i.id) for i in insts], self.instrument_id)
        self.load_series()

    @work(thread=True, exclusive=True, group="history-series")
    def load_series(self) -> None:
        try:
            found = self.history.series(self.instrument_id) if self.instrument_id else []
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._apply_series, found)

    def _apply_series(self, found: list[SeriesInfo]) -> None:
        self._series = {s.interval: s for s in found}
        options = [(f"{s.interval} ({s.count:,})", s.interval) for s in found]
        if "1m" in self._series:
            options += [(f"{iv} (from 1m)", iv) for iv in ROLLUP_INTERVALS if iv not in self._series]
        options.sort(key=lambda o: INTERVAL_MS.get(o[1], 0))
        values = [v for _, v in options]
        if self.interval not in values:
            self.interval = values[0] if values else self.interval
        self._build_select("#history-interval", options, self.interval)
        self.reload()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self._building or not isinstance(event.value, str):
            return  # our own option rebuilds, or the blank choice
        value = str(event.value)
        select_id = event.select.id
        if select_id == "history-venue":
            self._fill_instruments(value)
        elif select_id == "history-instrument" and value != self.instrument_id:
            self.instrument_id = value
            self.load_series()
        elif select_id == "history-interval" and value != self.interval:
            self.interval = value
            self.reload()
        elif select_id == "history-range" and value != self.range_label:
            self.range_label = value
            self.reload()

    def select_instrument(self, instrument_id: str, interval: str | None = None) -> None:
        """Show ``instrument_id`` (tests and the command palette; same as the selects)."""
        self.instrument_id = instrument_id
        if interval is not None:
            self.interval = interval
        inst = self._instruments.get(instrument_id)
        if inst is not None:
            venues = sorted({i.venue for i in self._instruments.values()})
            self._build_select("#history-venue", [(v, v) for v in venues], inst.venue)
            self._fill_instruments(inst.venue)

    # -- loading -------------------------------------------------------------------

    def reload(self) -> None:
        if self.instrument_id is None:
            return
        self._set_status("loading…")
        self._load(self.instrument_id, self.interval, dict(RANGES).get(self.range_label))

    @work(thread=True, exclusive=True, group="history-load")
    def _load(self, instrument_id: str, interval: str, span: int | None) -> None:
        try:
            result = self.history.load_range(self._instruments[instrument_id], interval, span,
                                             now_ms=self.now_ms())
        except Exception as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._apply_loaded, result)

    def _apply_loaded(self, loaded: KlineRange) -> None:
        if not self._is_current(loaded):
            return  # an answer to an earlier choice
        self.loaded = loaded
        self.end_index = len(loaded.klines)
        self.window = min(max(MIN_WINDOW, self._chart_capacity()), max(MIN_WINDOW, len(loaded.klines)))
        self._redraw()

    def _is_current(self, loaded: KlineRange) -> bool:
        return (loaded.instrument.id == self.instrument_id and loaded.interval == self.interval
                and loaded.span == dict(RANGES).get(self.range_label))

    # -- following the recorder ----------------------------------------------------

    def follows_now(self) -> bool:
        """The selected range reaches the present: new candles would belong in it."""
        loaded = self.loaded
        if loaded is None:
            return False
        return loaded.span is None or loaded.end == 0 or loaded.end > self.now_ms() - loaded.span

    def _poll(self) -> None:
        loaded = self.loaded
        if loaded is None or self._polling or not self._is_current(loaded):
            return
        if not self.follows_now():
            return
        self._polling = True
        self._refresh(loaded, self.now_ms())

    @work(thread=True, exclusive=True, group="history-refresh")
    def _refresh(self, loaded: KlineRange, now_ms: int) -> None:
        try:
            result = self.history.refresh_range(loaded, now_ms)
        except Exception as exc:
            self.app.call_from_thread(self._refresh_failed, exc)
            return
        self.app.call_from_thread(self._apply_refresh, loaded, result)

    def _refresh_failed(self, exc: Exception) -> None:
        self._polling = False
        self._failed(exc)

    def _apply_refresh(self, old: KlineRange, result: tuple[KlineRange, int] | None) -> None:
        self._polling = False
        if not self.is_mounted or self.loaded is not old or not self._is_current(old):
            return  # the user chose something else meanwhile
        if result is None:
            self._redraw_if_state_changed()
            return
        new, trimmed = result
        following = self.end_index >= len(old.klines)
        self.loaded = new
        if not old.klines:
            self._apply_loaded(new)  # the first candles of this selection
            return
        self.end_index = len(new.klines) if following else max(0, self.end_index - trimmed)
        self._redraw()

    def _redraw_if_state_changed(self) -> None:
        # the clock alone moves the newest candle from live to open to partial
        chart = self.query_one(KlineChart)
        if chart._key() != chart._drawn_key:
            self._redraw()

    # -- pan and zoom --------------------------------------------------------------

    def action_pan(self, quarters: int) -> None:
        if not self.loaded or not self.loaded.klines:
            return
        step = max(1, self.window // 4) * quarters
        self._move_to(self.end_index + step)

    def action_edge(self, direction: int) -> None:
        if self.loaded:
            self._move_to(len(self.loaded.klines) if direction > 0 else 0)

    def action_zoom(self, direction: int) -> None:
        if not self.loaded or not self.loaded.klines:
            return
        n = len(self.loaded.klines)
        size = self.window * 2 if direction > 0 else self.window // 2
        size = max(min(MIN_WINDOW, n), min(n, size))
        if size != self.window:
            self.window = size
            self._move_to(self.end_index)

    def _move_to(self, end: int) -> None:
        assert self.loaded is not None
        n = len(self.loaded.klines)
        self.end_index = max(min(self.window, n), min(n, end))
        self._redraw()

    def visible(self) -> list[Kline]:  # type: ignore[override]  # shadows DOMNode.visible (a property); renaming it is not a typing change
        if not self.loaded:
            return []
        start = max(0, self.end_index - self.window)
        return self.loaded.klines[start:self.end_index]

    def _chart_capacity(self) -> int:
        chart = self.query_one(KlineChart)
        return max(5, (chart.size.width - 12) // 2) if chart.size.width else DEFAULT_WINDOW

    # -- drawing -------------------------------------------------------------------

    def _redraw(self) -> None:
        loaded = self.loaded
        if loaded is None:
            return
        shown = self.visible()
        self.merge = max(1, math.ceil(len(shown) / self._chart_capacity())) if shown else 1
        candles = merge_candles(shown, self.merge)
        label = loaded.interval + (f" ×{self.merge}" if self.merge > 1 else "")
        view = InstrumentView(instrument=loaded.instrument, seq=self.end_index, synced=True, bids=(),
                              asks=(), best_bid=None, best_ask=None, ticker=None, trades=(),
                              klines=tuple(candles), interval=label, funding=None, health=None)
        self.query_one(KlineChart).update_view(view)
        step = interval_ms(loaded.interval)
        window = (shown[0].open_time, shown[-1].open_time + step) if shown else None
        self.query_one(CoverageStrip).set_coverage(loaded.start, loaded.end, loaded.gaps, window,
                                                   loaded.coverage_text())
        self._fill_table(shown, loaded.instrument)
        self._update_title()
        if shown:
            gaps = len(loaded.gaps)
            note = f" · {loaded.partial:,} partial" if loaded.partial else ""
            note += " · rolled up from 1m" if loaded.rolled_up else ""
            note += f" · newest {MAX_CANDLES:,} only" if loaded.truncated else ""
            self._set_status(
                f"{len(loaded.klines):,} candles · showing {len(shown):,} "
                f"({fmt_time(shown[0].open_time, loaded.interval)} → "
                f"{fmt_time(shown[-1].open_time, loaded.interval)} UTC) · "
                f"{gaps} gap{'s' if gaps != 1 else ''}{note}")
        else:
            self._set_status(f"no {loaded.interval} candles of {loaded.instrument.symbol} in {self.range_label}")

    def _fill_table(self, shown: list[Kline], inst: Instrument) -> None:
        table = self.query_one(DataTable)
        table.clear()
        decimals = decimals_for(inst.tick_size if inst.tick_size > 0 else 0.01)
        rows = shown[-TABLE_ROWS:]
        table.add_rows([(fmt_time(k.open_time, k.interval), fmt_fixed(k.open, decimals),
                         fmt_fixed(k.high, decimals), fmt_fixed(k.low, decimals),
                         fmt_fixed(k.close, decimals), fmt_compact(k.volume)) for k in rows])
        if rows:
            table.move_cursor(row=len(rows) - 1, animate=False)

    def _update_title(self) -> None:
        inst = self.loaded.instrument if self.loaded else None
        title = "History"
        if inst is not None:
            title += f" · {inst.label} · {self.interval} · {self.range_label}"
            if inst.id in (recording_ids(self.source) or set()):
                title += "  ● REC"
        self.query_one("#history-title", Static).update(title)

    def _set_status(self, text: str) -> None:
        self.query_one("#history-status", Static).update(text)

    # -- actions -------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_export(self) -> None:
        loaded = self.loaded
        if loaded is None or not loaded.klines:
            self.notify("nothing loaded to export", severity="warning")
            return
        from storage.export import export_csv

        inst = loaded.instrument
        first, last = loaded.klines[0].open_time, loaded.klines[-1].open_time
        stamp = lambda ms: time.strftime("%Y%m%dT%H%M", time.gmtime(ms / 1000))  # noqa: E731
        name = f"{inst.venue}_{inst.market}_{inst.base}{inst.quote}_{loaded.interval}_{stamp(first)}_{stamp(last)}.csv"
        path = self.export_dir / name.lower()
        try:
            n = export_csv(loaded.klines, path)
        except OSError as exc:
            self.notify(f"export failed: {exc.strerror or exc}", severity="error")
            return
        self.last_export = path
        self.notify(f"exported {n:,} candles to {path}", title="CSV export")

    def action_toggle_record(self) -> None:
        toggle_recording(self, self.source, self.instrument_id)
        self._update_title()

    def action_backtest(self) -> None:
        loaded = self.loaded
        stored = self._instruments.get(loaded.instrument.id) if loaded is not None else None
        if loaded is None or stored is None or not loaded.klines:
            self.notify("nothing loaded to backtest", severity="warning")
            return
        from app.ui.backtest_screen import BacktestScreen

        self.app.push_screen(BacktestScreen(self.history, loaded, stored,
                                            range_label=self.range_label))


def toggle_recording(screen: Screen, source: MarketSource | None,
                     instrument_id: str | None) -> bool | None:
    """Flip recording of ``instrument_id``; returns the new state, None when impossible."""
    if instrument_id is None:
        return None
    if source is None or not isinstance(source, RecordingSwitch):
        screen.notify("this session cannot record (no history store)", severity="warning")
        return None
    current = source.recording()
    live = {i.id: i for i in source.instruments()}
    if instrument_id not in live:
        screen.notify("only instruments streamed in this session can be recorded", severity="warning")
        return None
    on = instrument_id not in current
    try:
        source.set_recording(instrument_id, on)
    except CryptotermError as exc:  # e.g. the store cannot open (StorageError)
        error_toast(screen, exc, title="Cannot record")
        return None
    except Exception as exc:  # a defect must not take the UI down either
        screen.notify(f"cannot record: {exc}", severity="error")
        return None
    screen.notify(("recording " if on else "stopped recording ") + live[instrument_id].label,
                  title="Record")
    return on
