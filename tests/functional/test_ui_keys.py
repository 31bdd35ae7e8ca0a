"""The market screen's layout and keys over the real demo (engine + simulator + paper
account), driven with Pilot: 80x24 keeps the book and the whole order panel, panes zoom
and hide, Ctrl+C quits (asking only while an order is on its way), the palette offers
every action under plain names, the theme picker lists cryptoterm's themes, and the
cross-venue Enter says why a cell opens nothing."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input

from app.feeds.engine import Engine
from app.market.compare import Summary
from app.trading.service import TradingService
from app.ui.app import ConfirmQuit, CryptotermApp
from app.ui.commands import screen_commands
from app.ui.confirm_order import ConfirmOrder
from app.ui.cross_venue_screen import CrossVenueScreen
from app.ui.help_screen import binding_entries
from app.ui.keys_screen import KeysScreen
from tests.harness import StaticSource, screen_text, widget_lines
from tests.viewdata import BTC_SPOT, SOL_SPOT, make_health
from tests.waiting import wait_for
from widgets.ladder import OrderBookLadder
from tests.trading_demo import trading_demo

BTC = "cryptopair_binance_btcusdt"


@pytest.fixture
def demo(memory_keyring):
    with trading_demo(["BTC/USDT", "BTC/USDT:USDT"]) as (engine, service, sim):
        yield engine, service


async def ready(app: CryptotermApp, engine: Engine, service: TradingService) -> None:
    await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced and service.view().ready,
                   what="a synced book and the paper account")
    await wait_for(lambda: app.main_screen.trading_ready, what="the order panel")
    await wait_for(lambda: "Buy BTC" in screen_text(app), what="the order panel drawn")


async def test_80x24_shows_a_full_book_and_the_whole_order_panel(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, engine, service)
        await pilot.pause(0.3)
        screen = app.screen.region
        submit = app.screen.query_one("#oe-submit")
        assert submit.region.height and screen.contains_region(submit.region)
        entry = app.screen.query_one("#order-entry")
        assert screen.contains_region(entry.region)  # its bottom border too: nothing cut
        ladder = app.screen.query_one(OrderBookLadder)
        rows = widget_lines(ladder)[1:-1]  # inside the borders
        assert rows and all(row.strip("│ ") for row in rows), "an empty book row while levels exist"
        levels = [row for row in rows if "," in row and "spread" not in row]
        assert len(levels) == len(rows) - 2  # a header, the spread, and levels on every other row
        text = screen_text(app)
        assert "spread" in text and "tick 0.01" in text
        assert not app.screen.query_one("#chart").display  # gave way first, with the tape
        assert not app.screen.query_one("#tape").display


async def test_order_keys_bring_their_pane_on_screen_first(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO", fps=4)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, engine, service)
        main = app.main_screen
        assert not main.query_one("#blotter").display  # no room for it at 80x24
        await pilot.press("c")  # would cancel a selection nobody can see: shows it instead
        await pilot.pause()
        assert main.zoomed == "orders" and main.query_one("#blotter").display
        assert any("select one, then c cancels it" in n.message for n in app.recent_notices)
        await pilot.press("o")  # the form comes back before it takes the keys
        await pilot.pause()
        assert main.zoomed is None and main.query_one("#order-entry").display
        assert app.focused is main.query_one("#oe-price") and app.focused.region.height
        main.toggle_pane("order")
        await pilot.pause()
        assert not main.query_one("#order-entry").display
        await pilot.press("b")
        await pilot.pause()
        assert main.query_one("#order-entry").display and app.focused is main.query_one("#oe-amount")


async def test_z_zooms_the_focused_pane_and_v_hides_it(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, engine, service)
        main = app.main_screen
        ladder = main.query_one(OrderBookLadder)
        assert app.focused is ladder  # the book has the focus to start with
        await pilot.press("z")
        await pilot.pause()
        assert main.zoomed == "book"
        assert ladder.region.width == 160
        assert not main.query_one("#chart").display and not main.query_one("#order-entry").display
        await pilot.press("z")
        await pilot.pause()
        assert main.zoomed is None and main.query_one("#chart").display

        await pilot.press("tab")  # book -> chart
        assert app.focused is main.query_one("#chart")
        await pilot.press("v")
        await pilot.pause()
        assert not main.query_one("#chart").display and main.query_one("#tape").display
        assert app.focused is not None and app.focused.display  # focus left the hidden pane
        await pilot.press("V")
        await pilot.pause()
        assert main.query_one("#chart").display and not main.hidden_panes
        help_keys = [keys for keys, _, _ in binding_entries(app, main.active_bindings)]
        assert "z" in help_keys and "v" in help_keys and "V" in help_keys


async def test_ctrl_c_quits_at_once_when_nothing_is_being_sent(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(120, 35)) as pilot:
        await ready(app, engine, service)
        await pilot.press("o")  # even from a text field, where ctrl+c would copy
        assert isinstance(app.focused, Input)
        await pilot.press("ctrl+c")
        await wait_for(lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0


async def test_ctrl_c_asks_first_while_an_order_is_on_its_way(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO", fps=4)
    hold = threading.Event()
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, engine, service)
        price = f"{engine.view(BTC).best_bid * 0.9:.2f}"
        await pilot.press("o", *price)
        amount = app.screen.query_one("#oe-amount", Input)
        amount.focus()
        await pilot.press(*"0.01", "enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the order confirmation")
        # the account's loop is busy (a slow venue): the order is sent, its answer is not back
        service.loop.call_soon_threadsafe(hold.wait, 10)
        try:
            await pilot.press("y")
            await wait_for(lambda: app.main_screen.requests_in_flight() == 1, what="the order in flight")
            await pilot.press("ctrl+c")
            await wait_for(lambda: isinstance(app.screen, ConfirmQuit), what="the question")
            assert "1 order request is still on the way" in screen_text(app)
            await pilot.press("n")  # stay
            await pilot.pause()
            assert app.is_running and not isinstance(app.screen, ConfirmQuit)
            await pilot.press("ctrl+c")
            await wait_for(lambda: isinstance(app.screen, ConfirmQuit), what="the question again")
            await pilot.press("ctrl+c")  # a second Ctrl+C means yes, as the question says
            hold.set()
            await wait_for(lambda: not app.is_running, what="the app to quit")
        finally:
            hold.set()


async def test_palette_offers_every_action_by_plain_name_and_no_internal_id(demo):
    engine, service = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO", fps=4)
    async with app.run_test(size=(100, 30)) as pilot:  # no chart to redraw on every key
        await ready(app, engine, service)
        commands = screen_commands(app, app.main_screen)
        titles = " | ".join(title for title, _, _ in commands)
        for plain in ("Record", "History", "Cross-venue prices (venues)", "Cancel the selected order",
                      "Account", "API keys", "Theme: high contrast", "Chart interval 5m",
                      "Grouping", "Zoom the order book", "Hide or show the chart", "Key bindings"):
            assert plain in titles, plain

        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"btc")
        await wait_for(lambda: "Open BTC/USDT:USDT" in screen_text(app), what="the BTC entries")
        text = screen_text(app)
        assert "Open BTC/USDT · binance spot" in text and "Open BTC/USDT:USDT · binance perp" in text
        assert "cryptopair_" not in text and "cryptoperp_" not in text
        await pilot.press("escape")
        await pilot.pause(0.2)

        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"keys")
        await wait_for(lambda: "API keys" in screen_text(app), what="the API keys entry")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, KeysScreen), what="the API keys screen")


class RecordingSource(StaticSource):
    """A source that can record (what the engine offers with a history store)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: set[str] = set()

    def recording(self) -> set[str]:
        return set(self.recorded)

    def set_recording(self, instrument_id: str, on: bool) -> None:
        (self.recorded.add if on else self.recorded.discard)(instrument_id)


async def test_record_toast_names_the_instrument_not_its_id():
    source = RecordingSource([BTC_SPOT], {})
    app = CryptotermApp(source, BTC)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("r")
        await pilot.pause(0.2)
        assert source.recorded == {BTC}
        messages = [n.message for n in app.recent_notices]
        assert "recording BTC/USDT · binance spot" in messages
        assert all("cryptopair_" not in m for m in messages)


async def test_theme_picker_lists_cryptoterm_themes_only():
    app = CryptotermApp(StaticSource([BTC_SPOT], {}), BTC)
    async with app.run_test(size=(120, 35)) as pilot:
        assert set(app.available_themes) == {"cryptoterm-dark", "cryptoterm-light",
                                             "cryptoterm-high-contrast"}
        app.action_change_theme()
        await wait_for(lambda: "cryptoterm-high-contrast" in screen_text(app), 10, "the theme picker")
        text = screen_text(app)
        assert "cryptoterm-high-contrast" in text and "cryptoterm-light" in text
        assert "nord" not in text and "textual-dark" not in text and "gruvbox" not in text
        await pilot.press("escape")
        for expected in ("cryptoterm-light", "cryptoterm-high-contrast", "cryptoterm-dark"):
            await pilot.press("t")
            assert app.theme == expected


class OverviewSource(StaticSource):
    """Two markets on two venues, each on one venue only: every row has a "·" cell."""

    def overview(self) -> list[Summary]:
        return [Summary(BTC_SPOT, 97000.0, 96999.0, 97001.0, True, feed_state="connected"),
                Summary(SOL_SPOT, 180.0, 179.9, 180.1, True, feed_state="connected")]


async def test_cross_venue_enter_on_the_market_column_or_a_dot_says_why():
    source = OverviewSource([BTC_SPOT, SOL_SPOT], {},
                            [make_health("binance spot"), make_health("bybit spot")])
    app = CryptotermApp(source, BTC)
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("x")
        await wait_for(lambda: isinstance(app.screen, CrossVenueScreen) and "SOL/USD*" in screen_text(app),
                       what="the cross-venue table")
        await pilot.press("enter")  # the cursor starts on the market's name
        await pilot.pause(0.2)
        assert isinstance(app.screen, CrossVenueScreen)
        assert any("move to a venue's column" in n.message for n in app.recent_notices)
        await pilot.press("right", "right")  # BTC/USD* spot on bybit: "·"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CrossVenueScreen)
        assert any("BTC/USD* spot is not streamed from bybit" in n.message for n in app.recent_notices)
        await pilot.press("left")  # binance: opens
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, CrossVenueScreen), what="back on the market")


def test_cross_venue_health_strip_keeps_every_venue_on_one_line():
    from rich.text import Text

    from app.ui.cross_venue_screen import health_strip

    healths = [make_health("binance spot"), make_health("binance perp"), make_health("okx spot"),
               make_health("bybit spot", "stale"), make_health("coinbase spot")]
    for width in (160, 100, 60):
        line = health_strip(healths, width)
        assert Text.from_markup(line).cell_len <= width, width
        for venue in ("binance", "okx", "bybit", "coinbase"):
            assert venue in line, (width, venue)
    assert "0.1s" in health_strip(healths, 160)  # ages while they fit
    assert "stale" in health_strip(healths, 100)
