"""Which panes fit a terminal (app.ui.layout.plan): the book and the order panel always,
then the chart, then the tape; hide and zoom on top of that."""

from __future__ import annotations

from app.ui.layout import (BOOK, CHART, FIXED_ROWS, ORDER, ORDER_MIN_HEIGHT, ORDERS, TAPE,
                           plan)


def test_160x45_shows_every_pane_at_full_size() -> None:
    layout = plan(160, 45, trading=True)
    assert layout.visible == {BOOK, ORDER, CHART, TAPE, ORDERS}
    assert (layout.book_width, layout.order_width, layout.tape_height) == (46, 40, 14)
    assert 160 - 46 - 40 >= 60  # the chart keeps a real width


def test_120x35_keeps_chart_and_tape_beside_a_narrower_order_panel() -> None:
    layout = plan(120, 35, trading=True)
    assert {BOOK, ORDER, CHART, TAPE} <= layout.visible
    assert layout.book_width + layout.order_width <= 120 - 40
    body = 35 - FIXED_ROWS - layout.orders_height
    assert body - layout.tape_height >= 14  # the chart is not squeezed to nothing


def test_80x24_keeps_book_and_order_panel_whole_and_drops_tape_and_chart() -> None:
    layout = plan(80, 24, trading=True)
    assert layout.visible == {BOOK, ORDER}
    assert layout.order_width and layout.order_width < 80
    # no blotter eating the rows the form and its Buy button need
    assert 24 - FIXED_ROWS - layout.orders_height >= ORDER_MIN_HEIGHT


def test_the_tape_gives_way_before_the_chart() -> None:
    short = plan(160, 24, trading=False)  # room for a chart, not for a chart and a tape
    assert CHART in short.visible and TAPE not in short.visible
    assert plan(160, 45, trading=False).visible == {BOOK, CHART, TAPE}


def test_hidden_panes_give_their_room_and_zoom_shows_one_pane() -> None:
    layout = plan(100, 30, trading=True, hidden=frozenset({ORDER, ORDERS}))
    assert layout.visible == {BOOK, CHART, TAPE}  # the chart fits once the form is gone
    zoomed = plan(80, 24, trading=True, zoom=CHART)
    assert zoomed.visible == {CHART}
    # a zoom of a pane the session does not have changes nothing
    assert plan(80, 24, trading=False, zoom=ORDER).visible == plan(80, 24, trading=False).visible
