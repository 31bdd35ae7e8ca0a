"""Which panes of the market screen fit in a terminal, and how big each one is.

A pure function of the terminal size, whether there is order entry, and the user's
hide/zoom choices, so the rules are testable without a screen. Panes give way by
priority: the book first, then the order panel, then the chart, then the tape; the
orders blotter under them only takes rows the order form can spare. When something
must go, the tape goes first (it shrinks, then vanishes), then the chart.
"""

from __future__ import annotations

from dataclasses import dataclass

BOOK, ORDER, CHART, TAPE, ORDERS = "book", "order", "chart", "tape", "orders"
PANES: tuple[str, ...] = (BOOK, ORDER, CHART, TAPE, ORDERS)
PANE_NAMES = {BOOK: "order book", ORDER: "order panel", CHART: "chart", TAPE: "trades tape",
              ORDERS: "orders blotter"}

FIXED_ROWS = 5  # header, two ticker lines, status bar, footer
BOOK_WIDTH = 46  # price, size and cumulative columns with room to breathe
BOOK_MIN_WIDTH = 32  # price and size only (the ladder drops its Total column)
ORDER_WIDTH = 40
ORDER_NARROW_WIDTH = 34  # the widest row of the form (25% 50% 75% 100%) plus borders
CHART_MIN_WIDTH = 40
CHART_WIDTH = 60  # below this the order panel takes its narrow width to leave the chart more
CHART_MIN_HEIGHT = 14  # a readable price plot over the volume bars, with their axes
TAPE_HEIGHT = 14
TAPE_MIN_HEIGHT = 6  # border, header and three trades
ORDER_MIN_HEIGHT = 17  # the perp form with a field error, and its Buy/Sell button
ORDERS_HEIGHT = 10
ORDERS_MIN_HEIGHT = 6  # tabs, header and two orders


@dataclass(slots=True, frozen=True)
class PaneLayout:
    """Visible panes and their sizes; a width or height of 0 means "share the rest" (1fr)."""

    visible: frozenset[str]
    book_width: int
    order_width: int
    tape_height: int
    orders_height: int

    def shows(self, pane: str) -> bool:
        return pane in self.visible


def plan(width: int, height: int, *, trading: bool, hidden: frozenset[str] = frozenset(),
         zoom: str | None = None) -> PaneLayout:
    """The panes that fit in ``width`` x ``height``.

    ``hidden`` are panes the user closed; ``zoom`` is a pane the user wants alone (it
    then takes the whole body, every other pane hidden). Without ``trading`` there is no
    order panel or blotter.
    """
    available = set(PANES) if trading else {BOOK, CHART, TAPE}
    if zoom in available:
        only = frozenset({zoom})
        return PaneLayout(only, 0, 0, 0, 0)
    wanted = available - set(hidden)
    body = max(0, height - FIXED_ROWS)

    orders_height = 0
    if ORDERS in wanted:
        spare = body - (ORDER_MIN_HEIGHT if ORDER in wanted else CHART_MIN_HEIGHT + TAPE_MIN_HEIGHT)
        orders_height = min(ORDERS_HEIGHT, spare)
        if orders_height < ORDERS_MIN_HEIGHT:
            wanted.discard(ORDERS)
            orders_height = 0
    body -= orders_height

    order_width = 0
    if ORDER in wanted:
        order_width = ORDER_WIDTH if width >= BOOK_WIDTH + ORDER_WIDTH + CHART_WIDTH \
            else ORDER_NARROW_WIDTH
    book_width = BOOK_WIDTH if BOOK in wanted else 0
    right = width - book_width - order_width
    if right < CHART_MIN_WIDTH and book_width:
        # the book gives up its Total column before the chart goes
        book_width = max(BOOK_MIN_WIDTH, width - order_width - CHART_MIN_WIDTH)
        right = width - book_width - order_width
    if right < CHART_MIN_WIDTH or body < CHART_MIN_HEIGHT:
        wanted -= {CHART, TAPE}

    tape_height = 0
    if TAPE in wanted:
        tape_height = TAPE_HEIGHT if CHART not in wanted else min(TAPE_HEIGHT, body - CHART_MIN_HEIGHT)
        if tape_height < TAPE_MIN_HEIGHT:
            wanted.discard(TAPE)
            tape_height = 0
        elif CHART not in wanted:
            tape_height = 0  # alone in its column: all of it
    if BOOK in wanted and not wanted & {CHART, TAPE}:
        book_width = 0  # nothing to its right but the order panel: the book takes the rest
    elif ORDER in wanted and not wanted & {BOOK, CHART, TAPE}:
        order_width = 0  # alone in the body
    return PaneLayout(frozenset(wanted), book_width, order_width, tape_height, orders_height)
