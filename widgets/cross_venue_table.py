"""Cross-venue table: markets down, venues across; each cell shows the venue's price, its
deviation from the cross-venue median, and for perps the basis and funding countdown."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable

from app.market.compare import Cell, Row
from widgets.format import decimals_for, fmt_countdown, fmt_fixed


def cell_text(cell: Cell | None, now_ms: int) -> Text:
    if cell is None:
        return Text("·", style="dim")
    s = cell.summary
    price = s.mid
    text = Text(fmt_fixed(price, decimals_for(s.instrument.tick_size)))
    if not s.synced:
        text.append(" unsynced", style="bold red")
    elif s.feed_state not in ("connected",):
        text.append(f" {s.feed_state}", style="yellow")
    if cell.deviation_bps is not None:
        style = "bold white on red" if cell.alert else ("green" if cell.deviation_bps >= 0 else "red")
        text.append(f" {cell.deviation_bps:+.1f}bp", style=style)
    if cell.basis_bps is not None:
        text.append(f" b{cell.basis_bps:+.0f}", style="cyan")
    if s.funding_rate is not None:
        text.append(f" f{s.funding_rate * 100:+.3f}%", style="magenta")
        if s.next_funding_time:  # h:mm is enough at this width
            hh_mm = fmt_countdown(max(0, s.next_funding_time - now_ms))[:-3]
            text.append(f" {hh_mm[1:] if hh_mm[0] == '0' else hh_mm}", style="dim")
    return text


MARKET_WIDTH = 14  # "ETH/USD* perp"
MAX_VENUE_WIDTH = 36
MIN_VENUE_WIDTH = 24
CELL_PADDING = 2  # DataTable pads each cell by one on either side
SCROLLBAR = 2


class CrossVenueTable(DataTable):
    """A DataTable refreshed cell by cell (only cells whose text changed are touched)."""

    def __init__(self, venues: list[str], clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(cursor_type="cell", zebra_stripes=True, **kwargs)
        self.venues = venues
        self._clock = clock
        self._rows: dict[str, Row] = {}
        self._texts: dict[tuple[str, str], str] = {}

    def on_mount(self) -> None:
        self.add_column("Market", key="market", width=MARKET_WIDTH)
        for venue in self.venues:
            self.add_column(venue, key=venue, width=self._venue_width())

    def _venue_width(self) -> int:
        """Venue columns share the terminal (four fit in 160 columns); below the minimum
        the table scrolls sideways instead of cutting every cell."""
        spare = self.app.size.width - (MARKET_WIDTH + CELL_PADDING) - SCROLLBAR
        fit = spare // max(1, len(self.venues)) - CELL_PADDING
        return max(MIN_VENUE_WIDTH, min(MAX_VENUE_WIDTH, fit))

    def update_rows(self, rows: list[Row]) -> None:
        now_ms = int(self._clock() * 1000)
        for row in rows:
            texts = [cell_text(row.cells.get(v), now_ms) for v in self.venues]
            if row.label not in self._rows:
                self.add_row(Text(row.label, style="bold"), *texts, key=row.label)
            else:
                for venue, text in zip(self.venues, texts):
                    if self._texts.get((row.label, venue)) != text.markup:
                        self.update_cell(row.label, venue, text)
            for venue, text in zip(self.venues, texts):
                self._texts[(row.label, venue)] = text.markup
            self._rows[row.label] = row

    def why_not_selectable(self) -> str:
        """Why the cursor's cell opens nothing (when :meth:`selected` is None)."""
        if self.row_count == 0:
            return "no markets yet: wait for the venues' first prices"
        row_key, col_key = self.coordinate_to_cell_key(self.cursor_coordinate)
        venue = str(col_key.value)
        if venue == "market":
            return "this is the market's name: move to a venue's column (→) and press Enter"
        label = str(row_key.value)
        return (f"{label} is not streamed from {venue} (·): nothing to open here. "
                "Press s to pick any market of any venue")

    def selected(self) -> tuple[Row, str] | None:
        """(row, venue) under the cursor, when that cell has an instrument."""
        if self.row_count == 0:
            return None
        coord = self.cursor_coordinate
        row_key, col_key = self.coordinate_to_cell_key(coord)
        row = self._rows.get(str(row_key.value))
        venue = str(col_key.value)
        if row is None or venue not in row.cells:
            return None
        return row, venue
