"""The watchlist: every streamed market of every venue at a glance, sortable, filtered
as you type, favourites pinned on top; Enter opens the market on the main screen."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from app.config import ConfigError, save_favourites
from app.engine_api import MarketSource, Watchlist
from widgets.watchlist import WatchlistTable
from widgets.watchlist_rows import (COLUMNS, RowBuilder, deviations, favourites_toggled,
                                    fit_columns)

log = logging.getLogger(__name__)

SPARK_REFRESH_S = 2.0  # sparklines move once a minute; a couple of seconds is plenty
DEVIATION_REFRESH_S = 1.0  # medians across venues: the tickers behind most rows are 1 s apart


@dataclass(slots=True)
class WatchSettings:
    """The watchlist's config: favourites (instrument ids, kept in the config file),
    reduced motion (no flashes) and the file favourites are written to (None: not kept)."""

    favourites: list[str] = field(default_factory=list)
    reduced_motion: bool = False
    config_path: Path | None = None


class WatchlistScreen(Screen[str | None]):
    """Dismissed with the id of the instrument to open (Enter), or None (Escape)."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Clear the filter, or back to the market screen"),
        Binding("enter", "open", "Open", tooltip="Open the market under the cursor"),
        Binding("slash", "filter", "Filter", key_display="/", priority=True,
                tooltip="Filter as you type"),
        Binding("f", "favourite", "Favourite", tooltip="Pin or unpin the market (kept in config)"),
        Binding("o", "sort_next", "Sort", tooltip="Sort by the next column"),
        Binding("O", "sort_reverse", "Reverse", key_display="O", tooltip="Reverse the sort order"),
    ]
    DEFAULT_CSS = """
    WatchlistScreen #wl-title { height: 1; width: 1fr; padding: 0 1; color: $text-muted; }
    WatchlistScreen #wl-filter { dock: bottom; height: 3; display: none; }
    WatchlistScreen #wl-filter.-open { display: block; }
    """

    def __init__(self, source: MarketSource, settings: WatchSettings | None = None,
                 fps: float = 10.0, alert_bps: float = 50.0, usd_family: bool = True,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.source = source
        self.settings = settings or WatchSettings()
        self.fps = fps
        self.alert_bps = alert_bps
        self.families: dict[str, str] | None = None if usd_family else {}
        self._clock = clock
        self._watch = source if isinstance(source, Watchlist) else None
        self._sparks_at = 0.0
        self._total = self._booked = 0
        self._builder = RowBuilder()
        self._deviation: dict[str, float | None] = {}
        self._deviation_at = 0.0

    def compose(self) -> ComposeResult:
        yield Static(id="wl-title")
        yield WatchlistTable(favourites=self.settings.favourites,
                             reduced_motion=self.settings.reduced_motion,
                             alert_bps=self.alert_bps, clock=self._clock, id="wl-table")
        yield Input(placeholder="filter: symbol, venue or type (Enter keeps it, Esc clears it)",
                    id="wl-filter")
        yield Footer()

    @property
    def table(self) -> WatchlistTable:
        return self.query_one(WatchlistTable)

    def on_mount(self) -> None:
        if self._watch is not None:
            self._watch.stream_tickers()
        self.table.on_view_change = self._update_title
        self.refresh_rows()
        self.set_interval(1.0 / self.fps, self.refresh_rows)
        self.table.focus()

    def refresh_rows(self) -> None:
        if self._watch is None:
            self._update_title(0, 0)
            return
        summaries = self._watch.watchlist()
        now = time.monotonic()
        if now - self._deviation_at >= DEVIATION_REFRESH_S:
            self._deviation_at = now
            self._deviation = deviations(summaries, self.families)
        rows = self._builder.build(summaries, self._deviation)
        sparks = None
        if now - self._sparks_at >= SPARK_REFRESH_S:
            self._sparks_at = now
            sparks = self._watch.sparklines([r.id for r in rows])
        self.table.update_rows(rows, sparks)
        self._total, self._booked = len(rows), sum(1 for s in summaries if s.book)
        self._update_title()

    def _update_title(self, total: int | None = None, booked: int | None = None) -> None:
        table = self.table
        total = self._total if total is None else total
        booked = self._booked if booked is None else booked
        title = next((c.title for c in COLUMNS if c.key == table.sort_key), table.sort_key)
        shown = len(table.rows)
        count = f"{shown} of {total} markets" if shown != total else f"{total} markets"
        rest = ", the rest tickers only" if booked < total else ""
        text = (f"Watchlist · {count} · {booked} with books{rest} · "
                f"sorted by {title.strip()} {'▼' if table.descending else '▲'}")
        if len(text) > self.size.width - 2 > 0:  # narrow terminals: the short form
            text = text.replace(", the rest tickers only", "").replace("sorted by ", "by ")
        if table.filter_text:
            text += f" · filter “{table.filter_text}”"
        if shown:
            text += f" · row {table.cursor + 1}/{shown}"
        title_widget = self.query_one("#wl-title", Static)
        if str(title_widget.content) != text:
            title_widget.update(text, layout=False)  # one line, full width: no re-layout

    # -- actions -------------------------------------------------------------------------

    def action_open(self) -> None:
        row = self.table.selected()
        if row is None:
            self.notify("no market under the cursor", title="Nothing to open", severity="warning")
            return
        self.dismiss(row.id)

    def on_watchlist_table_opened(self, event: WatchlistTable.Opened) -> None:
        event.stop()
        self.dismiss(event.instrument_id)

    def action_filter(self) -> None:
        """Open the filter box and focus it at once (not on a later turn of Textual's
        loop, as ``focus()`` would): a terminal delivers "/ethq" in one read, and every
        key after the "/" must land in the box, never be taken as a command (q, f, Enter).
        "/" is a priority binding for that reason: typed in the box, it is text."""
        box = self.query_one("#wl-filter", Input)
        if box.has_focus:
            box.insert_text_at_cursor("/")
            return
        box.add_class("-open")
        self.set_focus(box)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "wl-filter":
            self.table.set_filter(event.value)
            self.refresh_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "wl-filter":
            event.stop()
            if not event.value.strip():
                event.input.remove_class("-open")
            self.table.focus()

    def action_back(self) -> None:
        box = self.query_one("#wl-filter", Input)
        if box.has_focus or self.table.filter_text:
            # Esc clears the filter first: what is on screen is never a hidden subset
            box.value = ""
            box.remove_class("-open")
            self.table.set_filter("")
            self.table.focus()
            self.refresh_rows()
            return
        self.dismiss(None)

    def action_sort_next(self) -> None:
        table = self.table
        # the columns on screen, in their order
        keys = [c.key for c, _ in fit_columns(table.size.width)] or [c.key for c in COLUMNS]
        keys = [k for k in keys if k != "spark"]
        index = keys.index(table.sort_key) if table.sort_key in keys else -1
        table.set_sort(keys[(index + 1) % len(keys)])

    def action_sort_reverse(self) -> None:
        table = self.table
        table.set_sort(table.sort_key, not table.descending)

    def action_favourite(self) -> None:
        row = self.table.selected()
        if row is None:
            return
        favourites = favourites_toggled(self.settings.favourites, row.id)
        self.settings.favourites = favourites
        self.table.toggle_favourite(row.id)
        added = row.id in favourites
        path = self.settings.config_path
        where = ""
        if path is not None:
            try:
                save_favourites(path, favourites)
                where = f" (saved to {path})"
            except ConfigError as exc:
                log.warning("favourites not saved: %s", exc.message)
                self.notify(f"{exc.message}; kept for this session only", title="Favourites",
                            severity="warning", markup=False)
        self.notify(f"{row.symbol} on {row.venue} {'pinned to the top' if added else 'unpinned'}{where}",
                    title="Favourites", timeout=3, markup=False)
        self.refresh_rows()

