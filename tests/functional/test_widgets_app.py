"""CryptotermApp with Pilot over a plain-data MarketSource: panels, keys, modals, palette."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from textual.theme import Theme
from textual.widgets import OptionList

from app.feeds.views import InstrumentView
from app.market.events import Ticker, Trade
from app.market.orderbook import OrderBook
from app.ui import CryptotermApp
from app.ui.grouping import group_for, group_steps, step_index
from app.ui.help_screen import HelpScreen
from app.ui.main_screen import MainScreen
from app.ui.symbol_picker import SymbolPicker
from tests.harness import StaticSource, screen_text, widget_text
from tests.waiting import wait_for
from tests.viewdata import (BTC_SPOT, ETH_PERP, SOL_SPOT, T0, book_levels, make_health,
                            make_klines, make_view)
from widgets.kline_chart import KlineChart
from widgets.ladder import OrderBookLadder
from widgets.ticker_strip import TickerStrip

SIZE = (140, 50)


class BookSource(StaticSource):
    """Serves views whose levels come from real OrderBooks, grouped as asked."""

    def __init__(self) -> None:
        self.books: dict[str, OrderBook] = {}
        self.seq: dict[str, int] = {}
        views = {}
        for instrument, (bid, ask, step) in {BTC_SPOT: (30_000.0, 30_000.5, 0.5),
                                              ETH_PERP: (2_000.0, 2_000.01, 0.01),
                                              SOL_SPOT: (150.0, 150.001, 0.001)}.items():
            book = OrderBook()
            book.load_snapshot(*book_levels(bid, ask, step, count=60))
            self.books[instrument.id] = book
            self.seq[instrument.id] = 1
            last = bid
            views[instrument.id] = make_view(
                instrument,
                ticker=Ticker(instrument.id, T0, last, bid, ask, last * 1.01, last * 0.99, 1234.0,
                              last * 0.98),
                trades=[Trade(instrument.id, T0, last, 0.5, "buy", "1")],
                klines=make_klines(instrument, 30, price=last))
        super().__init__([BTC_SPOT, ETH_PERP, SOL_SPOT], views,
                         [make_health("binance spot"), make_health("okx perp", "stale", age=9.0)])

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        super().view(instrument_id, depth, group, interval, trades)
        template = self.views.get(instrument_id)
        if template is None:
            return None
        bids, asks = self.books[instrument_id].ladder(depth, group)
        instrument = template.instrument
        return InstrumentView(
            instrument, self.seq[instrument_id], True, tuple(bids), tuple(asks),
            bids[0].price, asks[0].price, template.ticker, template.trades,
            make_klines(instrument, 30, interval, price=template.ticker.last), interval,
            None, None)


async def settle(pilot, seconds: float = 0.25) -> None:
    await pilot.pause(seconds)


async def test_main_screen_shows_every_panel_for_the_first_instrument() -> None:
    source = BookSource()
    app = CryptotermApp(source, clock=lambda: T0 / 1000)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "cryptoterm" in text and "DEMO" in text
        assert "BTC/USDT · binance spot" in text  # header names the instrument
        assert "spread 0.50" in text  # ladder
        assert "BTC/USDT · 1m" in text  # chart title
        assert "Trades" in text and "22:13:20" in text  # tape
        assert "binance spot ● connected" in text and "okx perp ● stale" in text  # status bar
        # the footer composes once the bindings settle (the book takes the focus first)
        await wait_for(lambda: "q Quit" in screen_text(app) and "? Help" in screen_text(app),
                       what="the footer")
        assert source.watched == [(BTC_SPOT.id, "1m")]
        assert app.sub_title == BTC_SPOT.label


async def test_mode_label_and_explicit_instrument() -> None:
    app = CryptotermApp(BookSource(), ETH_PERP.id, mode_label="LIVE DATA")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "LIVE DATA" in text and "ETH/USDT:USDT · okx perp" in text


async def test_grouping_keys_step_through_tick_multiples() -> None:
    source = BookSource()
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ladder = app.query_one(OrderBookLadder)
        assert source.view_calls[-1][2] == 0.0
        assert "tick 0.01" in widget_text(ladder)

        await pilot.press("plus")
        await settle(pilot)
        assert source.view_calls[-1][2] == 0.02
        await pilot.press("equals_sign")  # "=" is "+" without shift
        await pilot.press("plus")
        await pilot.press("plus")
        await pilot.press("plus")
        await pilot.press("plus")
        await settle(pilot)
        assert source.view_calls[-1][2] == 1.0
        text = widget_text(ladder)
        assert "group 1" in text
        spread_line = next(line for line in text.splitlines() if "spread" in line)
        index = text.splitlines().index(spread_line)
        # 0.5-spaced levels grouped into 1.0 buckets: asks round up, bids round down
        assert text.splitlines()[index - 1].split()[1] == "30,001"
        assert text.splitlines()[index + 1].split()[1] == "30,000"

        await pilot.press("minus")
        await settle(pilot)
        assert source.view_calls[-1][2] == 0.5


async def test_interval_keys_switch_the_chart_and_call_watch() -> None:
    source = BookSource()
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, interval in (("2", "5m"), ("3", "15m"), ("4", "1h"), ("1", "1m")):
            await pilot.press(key)
            chart = app.query_one(KlineChart)
            await wait_for(lambda: f"BTC/USDT · {interval}" in widget_text(chart) and chart.up_to_date,
                           what=f"the {interval} chart")
            assert source.watched[-1] == (BTC_SPOT.id, interval)
            assert source.view_calls[-1][3] == interval
        # pressing the current interval again does not re-subscribe
        await pilot.press("1")
        assert source.watched.count((BTC_SPOT.id, "1m")) == 2


async def test_symbol_picker_filters_and_switches_every_panel() -> None:
    source = BookSource()
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("plus")  # grouping resets on a switch
        await pilot.press("s")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, SymbolPicker)
        options = app.screen.query_one(OptionList)
        assert options.option_count == 3
        await pilot.press(*"sol")
        await settle(pilot, 0.1)
        assert options.option_count == 1
        assert options.get_option_at_index(0).id == SOL_SPOT.id
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, MainScreen)
        assert app.main_screen.instrument_id == SOL_SPOT.id
        assert source.watched[-1] == (SOL_SPOT.id, "1m")
        assert source.view_calls[-1][:3] == (SOL_SPOT.id, 20, 0.0)
        text = screen_text(app)
        assert "SOL/USDT · bybit spot" in text  # header
        assert "SOL/USDT" in app.query_one(TickerStrip).text
        assert "150.001" in widget_text(app.query_one(OrderBookLadder))
        assert "SOL/USDT · 1m" in widget_text(app.query_one(KlineChart))
        assert "BTC/USDT" not in text


async def test_symbol_picker_escape_cancels_and_arrows_move() -> None:
    source = BookSource()
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot, 0.1)
        await pilot.press("escape")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, MainScreen)
        assert app.main_screen.instrument_id == BTC_SPOT.id

        await pilot.press("s")
        await settle(pilot, 0.1)
        await pilot.press("q", "t")  # typed into the filter, not taken as quit / theme
        assert app.is_running and app.theme == "cryptoterm-dark"
        assert app.screen.query_one("#picker-filter").value == "qt"
        await pilot.press("backspace", "backspace")
        await pilot.press("down", "enter")  # second instrument in the list
        await settle(pilot)
        assert app.main_screen.instrument_id == ETH_PERP.id


async def test_theme_toggle() -> None:
    app = CryptotermApp(BookSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "cryptoterm-dark"
        await pilot.press("t")
        await settle(pilot, 0.1)
        assert app.theme == "cryptoterm-light"
        assert app.theme_variables["bid"] == "#0b7a52"
        await pilot.press("t")
        await settle(pilot, 0.1)
        assert app.theme == "cryptoterm-high-contrast"
        assert app.theme_variables["background"].lower() == "#000000"
        await pilot.press("t")
        await settle(pilot, 0.1)
        assert app.theme == "cryptoterm-dark"


async def test_a_theme_without_trading_colours_still_gets_them() -> None:
    app = CryptotermApp(BookSource())
    app.register_theme(Theme("plain", primary="#3366ff", dark=True))  # e.g. a user's own
    app.theme = "plain"
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme_variables["bid"] and app.theme_variables["ask-bar"]
        assert "spread" in widget_text(app.query_one(OrderBookLadder))


async def test_help_lists_every_binding_and_closes() -> None:
    app = CryptotermApp(BookSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, HelpScreen)
        text = widget_text(app.screen.query_one("#help-table"))
        entries = {desc: keys for keys, desc, _ in app.screen.entries}
        for binding in [*CryptotermApp.BINDINGS, *MainScreen.BINDINGS]:
            assert isinstance(binding, Binding)
            assert binding.description in text
            shown = binding.key_display or app.get_key_display(binding)
            assert shown in entries[binding.description].split(" / ")
        assert entries["Group +"] == "+ / ="
        assert "palette" in text.lower()  # ctrl+p, bound by Textual, is listed too
        await pilot.press("escape")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, MainScreen)

        await pilot.press("question_mark")
        await settle(pilot, 0.1)
        await pilot.press("question_mark")
        await settle(pilot, 0.1)
        assert isinstance(app.screen, MainScreen)


async def test_command_palette_opens_instruments() -> None:
    source = BookSource()
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot, 0.2)
        await pilot.press(*"open eth")
        await settle(pilot, 0.4)
        assert "Open ETH/USDT:USDT · okx perp" in screen_text(app)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.main_screen.instrument_id == ETH_PERP.id

        await pilot.press("ctrl+p")
        await settle(pilot, 0.2)
        await pilot.press(*"interval 15m")
        await settle(pilot, 0.4)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.main_screen.interval == "15m"
        assert source.watched[-1] == (ETH_PERP.id, "15m")


async def test_frames_are_pulled_but_unchanged_views_are_not_redrawn() -> None:
    source = BookSource()
    app = CryptotermApp(source, fps=20.0)
    async with app.run_test(size=SIZE):
        screen = app.main_screen
        await wait_for(lambda: screen.frames >= 1, what="the first frame")
        frames = screen.frames

        async def pulls(n: int) -> None:
            calls = len(source.view_calls)
            await wait_for(lambda: len(source.view_calls) >= calls + n, what=f"{n} more view pulls")

        await pulls(4)  # the timer keeps pulling
        assert screen.frames == frames  # but nothing changed, so nothing redrawn
        source.seq[BTC_SPOT.id] += 1
        await wait_for(lambda: screen.frames > frames, what="the changed view drawn")
        await pulls(4)
        assert screen.frames == frames + 1  # once


async def test_source_errors_are_reported_and_the_app_keeps_running() -> None:
    class BrokenSource(BookSource):
        def view(self, *args, **kwargs):
            raise RuntimeError("hub lock poisoned")

    app = CryptotermApp(BrokenSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.4)
        assert app.is_running
        assert any("hub lock poisoned" in str(n.message) for n in app.recent_notices)
        assert "waiting for book" in widget_text(app.query_one(OrderBookLadder))


async def test_engine_without_instruments_yet_is_retried() -> None:
    source = StaticSource([], {})
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main_screen.instrument_id is None
        source._instruments = [BTC_SPOT]
        source.views[BTC_SPOT.id] = make_view(BTC_SPOT, bids=[(1.0, 1.0)], asks=[(2.0, 1.0)])
        await settle(pilot)
        assert app.main_screen.instrument_id == BTC_SPOT.id
        assert source.watched == [(BTC_SPOT.id, "1m")]


@pytest.mark.parametrize(("tick", "expected"), [
    (0.01, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]),
    (0.25, [0.25, 0.5, 1.25, 2.5, 5.0, 12.5, 25.0]),
    (1e-08, [1e-08, 2e-08, 5e-08, 1e-07, 2e-07, 5e-07, 1e-06]),
])
def test_group_steps_are_tick_multiples(tick: float, expected: list[float]) -> None:
    assert group_steps(tick, 7) == expected
    assert group_for(tick, 0) == 0.0  # the tick step means raw levels
    assert group_for(tick, 2) == expected[2]
    assert step_index(0, -1) == 0 and step_index(15, 1) == 15


async def test_switching_to_an_instrument_without_data_clears_the_old_one() -> None:
    bids, asks = book_levels(30_000.0, 30_000.5, 0.5)
    source = StaticSource([BTC_SPOT, SOL_SPOT], {BTC_SPOT.id: make_view(bids=bids, asks=asks)})
    app = CryptotermApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "30,000.50" in widget_text(app.query_one(OrderBookLadder))
        app.open_instrument(SOL_SPOT.id)
        await settle(pilot)
        ladder_text = widget_text(app.query_one(OrderBookLadder))
        assert "waiting for book" in ladder_text and "30,000.50" not in ladder_text
        assert "SOL/USDT · bybit spot" in screen_text(app)
        assert "waiting for klines" in screen_text(app)
