"""OrderBookLadder: levels around the spread, grouping, unsynced books, height, colours."""

from __future__ import annotations

from textual.color import Color
from textual.containers import Container

from app.market.orderbook import OrderBook
from tests.harness import WidgetApp, widget_lines, widget_text
from tests.viewdata import BTC_SPOT, SOL_SPOT, book_levels, make_view
from widgets.ladder import UNSYNCED_TEXT, OrderBookLadder


def btc_view(seq: int = 1, synced: bool = True):
    bids, asks = book_levels(30_000.0, 30_000.5, 0.5)
    return make_view(BTC_SPOT, seq=seq, synced=synced, bids=bids, asks=asks)


def row_index(lines: list[str], needle: str) -> int:
    return next(i for i, line in enumerate(lines) if needle in line)


async def test_best_prices_sit_next_to_the_spread_row() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        ladder.update_view(btc_view())
        await pilot.pause()
        lines = widget_lines(ladder)
        spread = row_index(lines, "spread")
        assert "spread 0.50" in lines[spread]
        assert "0.17 bps" in lines[spread]
        assert "mid 30,000.250" in lines[spread]
        assert "30,000.50" in lines[spread - 1]  # best ask just above
        assert "30,000.00" in lines[spread + 1]  # best bid just below
        # worst ask (20th level) at the top, worst bid at the bottom
        assert "30,010.00" in lines[spread - 20]
        assert "29,990.50" in lines[spread + 20]
        assert "Price" in lines[spread - 21] and "Total" in lines[spread - 21]


async def test_level_rows_show_size_and_cumulative_size() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        ladder.update_view(btc_view())
        await pilot.pause()
        lines = widget_lines(ladder)
        third_bid = lines[row_index(lines, "spread") + 3]
        assert third_bid.split()[1:4] == ["29,999.00", "1.50000", "3.00000"]


async def test_grouping_changes_rows_even_with_the_same_seq() -> None:
    book = OrderBook()
    bids, asks = book_levels(30_000.0, 30_000.5, 0.5)
    book.load_snapshot(bids, asks)
    raw_bids, raw_asks = book.ladder(20, 0.0)
    grouped_bids, grouped_asks = book.ladder(20, 5.0)
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        raw = make_view(BTC_SPOT, seq=7, bids=[(r.price, r.size) for r in raw_bids],
                        asks=[(r.price, r.size) for r in raw_asks])
        assert ladder.update_view(raw, 0.0)
        await pilot.pause()
        assert "29,999.50" in widget_text(ladder)

        grouped = make_view(BTC_SPOT, seq=7, bids=[(r.price, r.size) for r in grouped_bids],
                            asks=[(r.price, r.size) for r in grouped_asks])
        assert ladder.update_view(grouped, 5.0)
        await pilot.pause()
        lines = widget_lines(ladder)
        text = "\n".join(lines)
        spread = row_index(lines, "spread")
        # grouped prices are shown with the group's precision (no decimals for 5.0)
        assert lines[spread + 1].split()[1] == "30,000"
        assert lines[spread - 1].split()[1] == "30,005"
        assert "29,999.50" not in text
        assert "group 5" in text  # border subtitle names the grouping


async def test_unsynced_book_hides_levels_and_says_so() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        ladder.update_view(btc_view(seq=1))
        await pilot.pause()
        assert "30,000.50" in widget_text(ladder)

        ladder.update_view(btc_view(seq=2, synced=False))
        await pilot.pause()
        text = widget_text(ladder)
        assert UNSYNCED_TEXT in text
        assert "30,000.50" not in text and "30,000.00" not in text
        assert "spread" not in text
        assert ladder.has_class("-unsynced")

        ladder.update_view(btc_view(seq=3))
        await pilot.pause()
        text = widget_text(ladder)
        assert UNSYNCED_TEXT not in text and "30,000.50" in text
        assert not ladder.has_class("-unsynced")


async def test_short_ladder_shows_fewer_levels_around_spread_and_no_empty_row() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(Container(ladder))
    app.CSS = "Container { height: 13; } OrderBookLadder { height: 13; }"
    async with app.run_test(size=(60, 30)) as pilot:
        ladder.update_view(btc_view())
        await pilot.pause()
        lines = widget_lines(ladder)
        # 13 rows - 2 border - 1 header - 1 spread row = 9: four asks, and the odd row
        # goes to a fifth bid rather than staying empty
        asks = [line for line in lines if "30,00" in line and "spread" not in line
                and float(line.split()[1].replace(",", "")) > 30_000.2]
        bids = [line for line in lines if "29,99" in line or "30,000.00" in line]
        assert len(asks) == 4 and len(bids) == 5
        assert all(line.strip("│ ") for line in lines[1:-1])
        spread = row_index(lines, "spread")
        assert "30,000.50" in lines[spread - 1] and "30,000.00" in lines[spread + 1]


async def test_same_seq_is_not_redrawn_and_rows_come_from_the_cache() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        assert ladder.update_view(btc_view(seq=5))
        await pilot.pause()
        assert not ladder.update_view(btc_view(seq=5))
        first = [ladder.render_line(y) for y in range(ladder.size.height)]
        again = [ladder.render_line(y) for y in range(ladder.size.height)]
        assert all(a is b for a, b in zip(first, again))


async def test_formatting_follows_tick_and_lot_size() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        view = make_view(SOL_SPOT, bids=[(150.123, 1.5), (150.122, 2.25)],
                         asks=[(150.125, 3.0)])
        ladder.update_view(view)
        await pilot.pause()
        lines = widget_lines(ladder)
        spread = row_index(lines, "spread")
        assert lines[spread - 1].split()[1:4] == ["150.125", "3.00", "3.00"]
        assert lines[spread + 2].split()[1:4] == ["150.122", "2.25", "3.75"]
        assert "spread 0.002" in lines[spread]


async def test_depth_bars_use_the_theme_bid_and_ask_bar_colours() -> None:
    ladder = OrderBookLadder()
    app = WidgetApp(ladder)
    async with app.run_test(size=(60, 50)) as pilot:
        ladder.update_view(btc_view())
        await pilot.pause()

        def right_edge_background(y: int) -> str:
            last = list(ladder.render_line(y))[-1]
            return last.style.bgcolor.get_truecolor().hex.lower()

        def expected(name: str) -> str:
            return Color.parse(app.theme_variables[name]).hex.lower()

        spread = ladder.lines.index(next(s for s in ladder.lines if s[0] == "spread"))
        assert right_edge_background(spread - 1) == expected("ask-bar")
        assert right_edge_background(spread + 1) == expected("bid-bar")

        app.theme = "cryptoterm-light"
        await pilot.pause()
        assert right_edge_background(spread + 1) == expected("bid-bar")
        assert expected("bid-bar") == "#cdeedd"


async def test_a_narrow_unsynced_ladder_wraps_the_reason() -> None:
    import dataclasses

    ladder = OrderBookLadder()
    app = WidgetApp(Container(ladder))
    app.CSS = "Container { width: 26; height: 20; } OrderBookLadder { width: 26; height: 20; }"
    async with app.run_test(size=(60, 30)) as pilot:
        view = dataclasses.replace(btc_view(seq=2, synced=False),
                                   sync_reason="resync: REST 503, next try in 8 s")
        ladder.update_view(view)
        await pilot.pause()
        text = widget_text(ladder)
        assert UNSYNCED_TEXT[:20] in text
        # the reason wraps over lines, every word shown
        assert "resync: REST 503, next" in text and "try in 8 s" in text
        assert "30,000.50" not in text
        # the countdown moves on: the same seq with a new reason is redrawn
        assert ladder.update_view(dataclasses.replace(view, sync_reason="resync: REST 503, next try in 7 s"))
