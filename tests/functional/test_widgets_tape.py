"""TradesTape: newest first, UTC times, price coloured by taker side."""

from __future__ import annotations

from app.market.events import Trade
from tests.harness import WidgetApp, widget_lines, widget_text
from tests.viewdata import BTC_SPOT, T0, make_view
from widgets.trades_tape import TradesTape


def trades(count: int) -> list[Trade]:
    """Newest first: trade i happened i seconds before the newest one."""
    return [Trade(BTC_SPOT.id, T0 + 9_000 - i * 1_000, 30_000.0 + i, 0.01 * (i + 1),
                  "buy" if i % 2 == 0 else "sell", str(100 - i)) for i in range(count)]


async def test_newest_trade_is_the_first_row() -> None:
    tape = TradesTape()
    app = WidgetApp(tape)
    async with app.run_test(size=(50, 20)) as pilot:
        tape.update_view(make_view(trades=trades(30)))
        await pilot.pause()
        lines = widget_lines(tape)
        assert "Time" in lines[1] and "Price" in lines[1] and "Amount" in lines[1]
        # T0 is 22:13:20 UTC; the newest trade is 9 s later
        assert lines[2].split()[1:4] == ["22:13:29", "30,000.00", "0.01000"]
        assert lines[3].split()[1:4] == ["22:13:28", "30,001.00", "0.02000"]
        # as many rows as fit below the header (app.tcss makes the tape 14 rows high)
        assert tape.size.height == 12
        assert sum(1 for line in lines if "22:13:" in line) == tape.size.height - 1


async def test_price_colour_follows_taker_side() -> None:
    tape = TradesTape()
    app = WidgetApp(tape)
    async with app.run_test(size=(50, 20)) as pilot:
        tape.update_view(make_view(trades=trades(2)))
        await pilot.pause()

        def price_colour(y: int) -> str:
            segment = next(s for s in tape.render_line(y) if "30,00" in s.text)
            return segment.style.color.get_truecolor().hex.lower()

        assert tape.lines[1][4] == "buy" and tape.lines[2][4] == "sell"
        assert price_colour(1) == app.theme_variables["bid"].lower()
        assert price_colour(2) == app.theme_variables["ask"].lower()


async def test_new_trade_shifts_rows_and_unchanged_tape_is_skipped() -> None:
    tape = TradesTape()
    app = WidgetApp(tape)
    async with app.run_test(size=(50, 20)) as pilot:
        older = trades(5)[1:]
        assert tape.update_view(make_view(seq=1, trades=older))
        assert not tape.update_view(make_view(seq=2, trades=older))  # book moved, tape did not
        assert tape.update_view(make_view(seq=3, trades=trades(5)))
        await pilot.pause()
        assert widget_lines(tape)[2].split()[1] == "22:13:29"


async def test_empty_tape_says_waiting() -> None:
    tape = TradesTape()
    app = WidgetApp(tape)
    async with app.run_test(size=(50, 20)) as pilot:
        tape.update_view(make_view())
        await pilot.pause()
        assert "waiting for trades" in widget_text(tape)
