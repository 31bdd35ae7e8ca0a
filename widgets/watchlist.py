"""The watchlist table: hundreds of markets, one line each, redrawn at the app's frame
rate without a DataTable.

A Line-API ScrollView like the order book ladder: every visible line is a small
hashable spec (its cells' text, flash, cursor), ``render_line`` turns a spec into a
Strip through an LRU cache, and an update repaints only the lines whose spec changed.
Line 0 is the column header (click a title to sort by it); the rows scroll below it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Click, Resize
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from widgets.watchlist_rows import (COLUMN_KEYS, FAV_MARK, Column, Sparks, WatchRow, cell_text,
                                    filter_rows, fit, fit_columns, sort_rows, sparkline)

FLASH_S = 0.6  # how long a changed price stays highlighted
# rows keep their places between re-sorts on new data (values update in place at the frame
# rate): a list reshuffling ten times a second cannot be read, nor clicked
RESORT_S = 1.0
EMPTY_TEXT = "no markets yet: waiting for the venues' tickers…"
NO_MATCH_TEXT = "no market matches the filter"


class WatchlistTable(ScrollView, can_focus=True):
    """Feed it with :meth:`update_rows`; it keeps the sort, filter, cursor and flashes."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]
    COMPONENT_CLASSES = {
        "watchlist--header", "watchlist--sorted", "watchlist--cursor", "watchlist--up",
        "watchlist--down", "watchlist--flash-up", "watchlist--flash-down", "watchlist--muted",
        "watchlist--fav", "watchlist--alert", "watchlist--warn",
    }
    DEFAULT_CSS = """
    WatchlistTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    WatchlistTable > .watchlist--header { color: $text-muted; text-style: bold; }
    WatchlistTable > .watchlist--sorted { color: $accent; text-style: bold; }
    WatchlistTable > .watchlist--cursor { background: $panel-lighten-1; }
    WatchlistTable:focus > .watchlist--cursor { background: $accent 35%; }
    WatchlistTable > .watchlist--up { color: $success; }
    WatchlistTable > .watchlist--down { color: $error; }
    WatchlistTable > .watchlist--flash-up { background: $success 40%; }
    WatchlistTable > .watchlist--flash-down { background: $error 40%; }
    WatchlistTable > .watchlist--muted { color: $text-muted; }
    WatchlistTable > .watchlist--fav { color: $warning; }
    WatchlistTable > .watchlist--alert { color: $error; text-style: bold; }
    WatchlistTable > .watchlist--warn { color: $warning; }
    """

    class Opened(Message):
        """Enter (or a double click) on a row: open its instrument."""

        def __init__(self, instrument_id: str) -> None:
            super().__init__()
            self.instrument_id = instrument_id

    def __init__(self, *, favourites: list[str] | None = None, reduced_motion: bool = False,
                 alert_bps: float = 50.0, clock: Callable[[], float] = time.time,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.favourites: set[str] = set(favourites or ())
        # called at once when the sort or the cursor changes, so a title saying "row N/M"
        # is drawn in the same frame as the rows (a message would reach it a frame later)
        self.on_view_change: Callable[[], None] | None = None
        self.reduced_motion = reduced_motion
        self.alert_bps = alert_bps
        self._clock = clock
        self.sort_key = "volume"
        self.descending = True
        self.filter_text = ""
        self._all: list[WatchRow] = []
        self._rows: list[WatchRow] = []  # sorted and filtered: what the lines show
        self._sparks: Sparks = {}
        self._spark_cache: dict[str, tuple[tuple[float, ...], int, str]] = {}
        self._cells: dict[str, tuple] = {}  # id -> (row, layout, spark, second, cell texts)
        self._sorted_at = 0.0
        self._stale_order = False
        self.resort_s = RESORT_S  # 0: every frame (tests)
        self._cursor_id: str | None = None
        self._cursor = 0
        self._last: dict[str, float] = {}  # id -> last price seen, for flashes
        self._flash: dict[str, tuple[int, float]] = {}  # id -> (direction, until)
        self._layout: tuple[tuple[Column, int], ...] = ()
        self._layout_cells = 0  # cells the layout's columns take, a space after each
        self._lines: list[tuple] = []
        self._strips: LRUCache[tuple, Strip] = LRUCache(512)
        self._styles: dict[str, Style] | None = None

    # -- feeding ---------------------------------------------------------------------

    @property
    def rows(self) -> list[WatchRow]:
        """The rows in display order (sorted, filtered)."""
        return self._rows

    @property
    def lines(self) -> list[tuple]:
        """The specs of the lines on screen, header first."""
        return self._lines

    def update_rows(self, rows: list[WatchRow], sparks: Sparks | None = None) -> None:
        """Show ``rows`` (a RowBuilder hands back the same object for an unchanged row:
        only changed ones are looked at, and an unchanged list is not sorted again)."""
        now = self._clock()
        old = self._all
        same = len(rows) == len(old) and all(a is b for a, b in zip(rows, old))
        if not self.reduced_motion and not same:
            last, flash = self._last, self._flash
            for r in rows:
                if r.last is None:
                    continue
                prev = last.get(r.id)
                if prev is not None and r.last != prev:
                    flash[r.id] = (1 if r.last > prev else -1, now + FLASH_S)
                last[r.id] = r.last
        if self._flash:
            for key in [k for k, (_, until) in self._flash.items() if until <= now]:
                del self._flash[key]
        if sparks is not None:
            self._sparks = sparks
        self._all = rows
        due = now - self._sorted_at >= self.resort_s
        if (not same or self._stale_order) and (due or len(rows) != len(old)):
            self._reorder()
        elif same:
            self._relayout()  # flashes fade, funding countdowns tick
        else:  # the new values in the current order, until the next re-sort
            by_id = {r.id: r for r in rows}
            self._rows = [by_id.get(r.id, r) for r in self._rows]
            self._stale_order = True
            self._relayout()

    def set_sort(self, key: str, descending: bool | None = None) -> None:
        if key not in COLUMN_KEYS:
            raise ValueError(f"no column {key!r}")
        if descending is None:  # the same column again reverses it
            descending = not self.descending if key == self.sort_key else key not in (
                "symbol", "venue", "market", "feed", "next")
        self.sort_key, self.descending = key, descending
        self._reorder()
        self._view_changed()

    def _view_changed(self) -> None:
        if self.on_view_change is not None:
            self.on_view_change()

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self._reorder()

    def toggle_favourite(self, instrument_id: str) -> None:
        self.favourites.symmetric_difference_update({instrument_id})
        self._reorder()

    def selected(self) -> WatchRow | None:
        if 0 <= self._cursor < len(self._rows):
            return self._rows[self._cursor]
        return None

    def _reorder(self) -> None:
        self._sorted_at = self._clock()
        self._stale_order = False
        rows = sort_rows(filter_rows(self._all, self.filter_text), self.sort_key, self.descending,
                         self.favourites)
        self._rows = rows
        # the cursor stays on its market while rows move around it
        if self._cursor_id is not None:
            index = next((i for i, r in enumerate(rows) if r.id == self._cursor_id), None)
            if index is not None:
                self._cursor = index
        self._cursor = max(0, min(self._cursor, len(rows) - 1))
        self._cursor_id = rows[self._cursor].id if rows else None
        height = len(rows) + 1
        if self.virtual_size.height != height or self.virtual_size.width != self.size.width:
            self.virtual_size = Size(self.size.width, height)
        self._relayout()

    # -- cursor and scrolling ------------------------------------------------------------

    @property
    def cursor(self) -> int:
        return self._cursor

    def move_cursor(self, index: int) -> None:
        if not self._rows:
            return
        self._cursor = max(0, min(index, len(self._rows) - 1))
        self._cursor_id = self._rows[self._cursor].id
        top = self.scroll_y
        self._scroll_to_cursor()
        if self.scroll_y == top:  # a scroll has laid the lines out already (watch_scroll_y)
            self._relayout()
        self._view_changed()

    def _page(self) -> int:
        return max(1, self.size.height - 2)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self._cursor + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self._cursor + direction * self._page())

    def action_jump(self, where: int) -> None:
        self.move_cursor(len(self._rows) - 1 if where < 0 else 0)

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._relayout(full=True)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            x = 0
            for column, width in self._layout:
                if x <= offset.x < x + width + 1:
                    self.set_sort(column.key)
                    return
                x += width + 1
            return
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._rows):
            if index == self._cursor and event.chain >= 2:
                self.post_message(self.Opened(self._rows[index].id))
            self.move_cursor(index)

    # -- layout --------------------------------------------------------------------------

    def on_resize(self, event: Resize) -> None:
        self.virtual_size = Size(event.size.width, len(self._rows) + 1)
        self._relayout(full=True)

    def _relayout(self, full: bool = False) -> None:
        width, height = self.size
        layout = fit_columns(width)
        full = full or layout != self._layout
        self._layout = layout
        self._layout_cells = sum(w + 1 for _, w in layout)
        old = self._lines
        lines = self._build_lines(height)
        self._lines = lines
        if full or len(old) != len(lines):
            self.refresh()
            return
        changed = [y for y, (a, b) in enumerate(zip(old, lines)) if a != b]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def _build_lines(self, height: int) -> list[tuple]:
        if height <= 0:
            return []
        lines: list[tuple] = [("header", self.sort_key, self.descending)]
        rows = self._rows
        if not rows:
            text = NO_MATCH_TEXT if self._all and self.filter_text else EMPTY_TEXT
            return lines + [("note", text)] + [("blank",)] * max(0, height - 2)
        top = int(self.scroll_y)
        now = self._clock()
        now_ms = int(now * 1000)
        flash = self._flash
        layout = self._layout
        second = now_ms // 1000
        cache = self._cells
        for index in range(top, min(len(rows), top + height - 1)):
            r = rows[index]
            spark = self._sparks.get(r.id)
            # an unchanged row is the same object (RowBuilder): its text is made once, and
            # again each second for a perp (its funding countdown)
            hit = cache.get(r.id)
            if hit is not None and hit[0] is r and hit[1] is layout and hit[2] is spark \
                    and (hit[3] == second or r.market != "perp"):
                cells = hit[4]
            else:
                cells = tuple(self._spark_text(r.id, width) if column.key == "spark"
                              else cell_text(r, column.key, now_ms) for column, width in layout)
                cache[r.id] = (r, layout, spark, second, cells)
            f = flash.get(r.id)
            direction = f[0] if f is not None and f[1] > now else 0
            alert = r.deviation is not None and abs(r.deviation) > self.alert_bps
            trend = 0 if not spark else (1 if spark[-1] >= spark[0] else -1)
            lines.append(("row", cells, direction, index == self._cursor,
                          r.id in self.favourites, _sign(r.change), alert, trend))
        return lines + [("blank",)] * (height - len(lines))

    def _spark_text(self, instrument_id: str, width: int) -> str:
        values = self._sparks.get(instrument_id, ())
        hit = self._spark_cache.get(instrument_id)
        if hit is not None and hit[0] is values and hit[1] == width:
            return hit[2]
        text = sparkline(values, width)
        self._spark_cache[instrument_id] = (values, width, text)
        return text

    # -- rendering -----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._strips.clear()

    def _palette(self) -> dict[str, Style]:
        if self._styles is None:
            styles = {"base": self.rich_style}
            for name in ("header", "sorted", "up", "down", "muted", "fav", "alert", "warn"):
                styles[name] = self.get_component_rich_style(f"watchlist--{name}")
            for name in ("cursor", "flash-up", "flash-down"):
                styles[name] = self.get_component_rich_style(f"watchlist--{name}", partial=True)
            self._styles = styles
        return self._styles

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        spec = self._lines[y] if y < len(self._lines) else ("blank",)
        key = (spec, self._layout, width)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_spec(spec, width)
            self._strips.set(key, strip)
        return strip

    def _render_spec(self, spec: tuple, width: int) -> Strip:
        styles = self._palette()
        kind = spec[0]
        base = styles["base"]
        if kind == "header":
            segments = []
            for column, w in self._layout:
                title = column.title
                style = styles["header"]
                if column.key == spec[1]:
                    title = f"{title}{'▼' if spec[2] else '▲'}"
                    style = styles["sorted"]
                segments.append(Segment(fit(title, w, column.right), style))
                segments.append(Segment(" ", base))
            return _exact(segments, self._layout_cells, width, base)
        if kind == "note":
            return Strip([Segment(spec[1].center(width)[:width], styles["muted"])]).adjust_cell_length(width, base)
        if kind != "row":
            return Strip.blank(width, base)
        _, cells, direction, cursor, favourite, change_sign, alert, trend = spec
        row_bg = styles["cursor"] if cursor else None
        segments = []
        for (column, w), text in zip(self._layout, cells):
            style = base
            key = column.key
            if key == "symbol":
                text = (FAV_MARK if favourite else " ") + text
                style = styles["fav"] if favourite else base
            elif key == "change":
                style = styles["up"] if change_sign > 0 else styles["down"] if change_sign < 0 else base
            elif key == "last" and direction:
                style = base + styles["flash-up" if direction > 0 else "flash-down"]
            elif key == "deviation" and alert:
                style = styles["alert"]
            elif key == "feed":
                style = styles["muted"] if text in ("book", "tick") else styles["warn"] \
                    if text in ("stale", "conn") else styles["alert"]
            elif key == "spark":
                style = styles["up"] if trend > 0 else styles["down"] if trend < 0 else styles["muted"]
            elif key in ("venue", "market", "next"):
                style = styles["muted"]
            if row_bg is not None:
                style = style + row_bg
            segments.append(Segment(fit(text, w, column.right), style))
            segments.append(Segment(" ", base + row_bg if row_bg is not None else base))
        fill = base + row_bg if row_bg is not None else base
        return _exact(segments, self._layout_cells, width, fill)


def _exact(segments: list[Segment], cells: int, width: int, fill: Style) -> Strip:
    """A strip of exactly ``width`` cells from segments that take ``cells`` (every cell
    text is fitted to its column, one cell per character): one Strip, no re-measuring."""
    if cells < width:
        segments.append(Segment(" " * (width - cells), fill))
    elif cells > width:
        return Strip(segments).crop(0, width)
    return Strip(segments, width)


def _sign(value: float | None) -> int:
    if value is None or value == 0:
        return 0
    return 1 if value > 0 else -1
