"""The cross-venue view: every market on every venue side by side, deviations flagged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from app.engine_api import CrossVenue, MarketSource
from app.market.compare import build_rows
from widgets.cross_venue_table import CrossVenueTable
from widgets.format import fmt_age

log = logging.getLogger(__name__)

STATE_STYLE = {"connected": "green", "stale": "yellow", "reconnecting": "yellow",
               "connecting": "yellow", "failed": "red", "stopped": "red"}


STATE_RANK = {"failed": 0, "stopped": 0, "reconnecting": 1, "connecting": 1, "stale": 2, "connected": 3}


def health_strip(healths, width: int | None = None) -> str:
    """One entry per venue: its worst connection state, how many connections are in that
    state, the oldest message age, and unsynced books. Narrower than ``width`` cells, the
    ages go first, then everything but a dot per venue: every venue stays on one line."""
    by_venue: dict[str, list] = {}
    for h in healths:
        by_venue.setdefault(h.name.split(" ", 1)[0], []).append(h)
    variants: list[list[str]] = [[], [], []]
    for venue, hs in by_venue.items():
        worst = min(hs, key=lambda h: STATE_RANK.get(h.state, 0)).state
        count = sum(1 for h in hs if h.state == worst)
        ages = [h.last_message_age for h in hs if h.last_message_age is not None]
        unsynced = sum(len(h.unsynced) for h in hs)
        style = STATE_STYLE.get(worst, "white")
        alarm = f" [bold red]{unsynced} unsynced[/]" if unsynced else ""
        brief = f"{venue} [{style}]● {worst}[/] {count}/{len(hs)}"
        variants[0].append(f"{brief} {fmt_age(max(ages) if ages else None)}{alarm}")
        variants[1].append(brief + alarm)
        variants[2].append(f"{venue} [{style}]●[/]" + (" [bold red]unsynced[/]" if unsynced else ""))
    lines = ["  │  ".join(variants[0]), " │ ".join(variants[1]), " ".join(variants[2])]
    if width is None:
        return lines[0]
    return next((line for line in lines if Text.from_markup(line).cell_len <= width), lines[-1])


class CrossVenueScreen(Screen[str | None]):
    """Dismissed with the id of the instrument to open (Enter), or None (Escape)."""

    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="Back to the market screen"),
        Binding("enter", "open", "Open", tooltip="Open the instrument under the cursor"),
    ]

    def __init__(self, source: MarketSource, threshold_bps: float = 50.0, refresh_hz: float = 2.0,
                 clock: Callable[[], float] = time.time, usd_family: bool = True) -> None:
        super().__init__()
        self.source = source
        self.threshold_bps = threshold_bps
        # None: the default USD/USDT/USDC family; {}: every quote is its own market
        self.families: dict[str, str] | None = None if usd_family else {}
        self.refresh_hz = refresh_hz
        self._clock = clock
        # None: a source that cannot summarize (tests, replays) shows an empty table
        self._venues_source = source if isinstance(source, CrossVenue) else None
        summaries = self._venues_source.overview() if self._venues_source is not None else []
        self.venues = sorted({s.instrument.venue for s in summaries}) or ["binance"]

    def compose(self) -> ComposeResult:
        yield Static("Cross-venue prices · deviation from the median in basis points · "
                     f"alert above {self.threshold_bps:g} bp · b = perp basis · f = funding",
                     id="xv-title")
        yield Static(id="xv-health")
        yield CrossVenueTable(self.venues, clock=self._clock, id="xv-table")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_rows()
        self.set_interval(1.0 / self.refresh_hz, self.refresh_rows)
        self.query_one(CrossVenueTable).focus()

    def refresh_rows(self) -> None:
        if self._venues_source is None:
            return
        rows = build_rows(self._venues_source.overview(), self.threshold_bps, self.families)
        self.query_one(CrossVenueTable).update_rows(rows)
        strip = self.query_one("#xv-health", Static)
        strip.update(health_strip(self.source.health(), strip.size.width or None) or "no feeds yet")

    def on_data_table_cell_selected(self, event) -> None:
        # the table owns Enter while focused; selecting a cell is the same as "open"
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(CrossVenueTable)
        picked = table.selected()
        if picked is None:
            self.notify(table.why_not_selectable(), title="Nothing to open", severity="warning")
            return
        row, venue = picked
        self.dismiss(row.cells[venue].summary.instrument.id)

    def action_close(self) -> None:
        self.dismiss(None)
