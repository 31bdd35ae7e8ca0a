"""The trading UI in the demo (engine + simulator + paper account), driven with Pilot:
place a paper limit order, see it in open orders, cancel it; a market order fills and
the position and balance change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import DataTable, Input

from app.ui.app import CryptotermApp
from app.ui.confirm_order import ConfirmAction, ConfirmOrder
from tests.harness import screen_text
from widgets.blotter import Blotter
from widgets.ladder import OrderBookLadder
from widgets.order_entry import OrderEntry
from tests.waiting import wait_for
from tests.trading_demo import trading_demo

BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"


@pytest.fixture
def demo():
    with trading_demo(["BTC/USDT", "BTC/USDT:USDT"]) as (engine, service, sim):
        yield engine, service, sim


async def type_into(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def test_place_see_cancel_then_market_fill_changes_position_and_balance(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced and v.trades
                    and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "PAPER" in text and "Order · PAPER" in text  # environment always visible
        entry = app.screen.query_one(OrderEntry)

        # -- a limit order far below the market: rests ----------------------------------
        price = Decimal(str(round(engine.view(BTC).best_bid * 0.9, 2)))
        await pilot.press("o")  # focus order entry (price field for limits)
        assert app.focused.id == "oe-price"
        await pilot.press(*str(price))
        await type_into(pilot, "#oe-amount", "0.01")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        modal = screen_text(app)
        for needle in ("PAPER", "BTC/USDT", "BUY", "LIMIT", "0.01 BTC", f"{price} USDT"):
            assert needle in modal, needle
        await pilot.press("y")
        await wait_for(lambda: len(service.view().open_orders) == 1, what="the open order")
        await pilot.pause(0.3)
        (order,) = service.view().open_orders
        assert order.price == price and order.amount == Decimal("0.01")
        table = app.screen.query_one("#bl-orders-table", DataTable)
        assert table.row_count == 1
        assert str(price) in screen_text(app)  # listed in the open-orders blotter

        # -- cancel it with c -------------------------------------------------------------
        table.focus()
        await pilot.press("c")
        await wait_for(lambda: not service.view().open_orders, what="the cancel")
        await pilot.pause(0.3)
        assert table.row_count == 0

        # -- a market order on the perp: fills, opens a position, moves the balance --------
        before = service.view().balance("USDT").total
        app.open_instrument(PERP)
        await wait_for(lambda: entry._view is not None and entry._view.instrument.id == PERP,
                    what="the perp in the order form")
        await pilot.click("#oe-market")
        await type_into(pilot, "#oe-leverage", "5")
        await type_into(pilot, "#oe-amount", "0.02")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        assert "MARKET" in screen_text(app) and "5x" in screen_text(app)
        await pilot.press("y")
        await wait_for(lambda: service.view().position(PERP) is not None, what="the position")
        position = service.view().position(PERP)
        assert position.size == Decimal("0.02") and position.leverage == 5
        after = service.view().balance("USDT")
        assert after.total < before  # the taker fee
        assert after.available < after.total  # margin held for the position
        app.screen.query_one(Blotter).show_tab("positions")
        await pilot.pause(0.4)
        text = screen_text(app)
        assert "BTC/USDT:USDT" in text and "5x cross" in text


async def test_validation_errors_show_at_their_field_and_nothing_is_sent(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced
                    and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
        entry = app.screen.query_one(OrderEntry)
        await type_into(pilot, "#oe-price", "1000.005")
        await type_into(pilot, "#oe-amount", "0.000001")
        await pilot.pause(0.2)
        errors = entry.errors_text()
        assert "not a multiple of the tick 0.01" in errors["price"]
        assert "not a multiple of the lot size" in errors["amount"]
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmOrder)
        assert service.audit_log == type(service.audit_log)()  # nothing even reached the account


async def test_clicking_a_book_level_fills_the_price(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced, what="a synced book")
        # the order panel joins the screen after the first market frame; wait for the
        # final layout before reading rows off the ladder
        await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
        sim.pause()  # a still book, so the level under the pointer is the one we read
        await pilot.pause(0.3)
        ladder = app.screen.query_one(OrderBookLadder)
        row = next(y for y, spec in enumerate(ladder.lines) if spec[0] == "level")
        price, _ = ladder.level_at(row)
        await pilot.click(OrderBookLadder, offset=(10, row + 1))  # +1: the border
        await pilot.pause(0.1)
        assert Decimal(app.screen.query_one("#oe-price", Input).value) == Decimal(repr(price))


async def test_cancel_all_asks_first(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced
                    and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
        from app.trading.models import OrderRequest
        low = Decimal(str(round(engine.view(BTC).best_bid * 0.8, 2)))
        for _ in range(2):
            service.place(OrderRequest(BTC, "buy", "limit", Decimal("0.001"), low)).result(5)
        await pilot.pause(0.3)
        await pilot.press("C")
        await wait_for(lambda: isinstance(app.screen, ConfirmAction), what="the question")
        assert "Cancel all 2 open orders?" in screen_text(app)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert len(service.view().open_orders) == 2
        await pilot.press("C")
        await wait_for(lambda: isinstance(app.screen, ConfirmAction), what="the question")
        await pilot.press("y")
        await wait_for(lambda: not service.view().open_orders, what="all cancelled")


async def test_without_trading_the_screen_is_unchanged():
    from tests.harness import StaticSource
    from tests.viewdata import BTC_SPOT, make_view
    app = CryptotermApp(StaticSource([BTC_SPOT], {BTC_SPOT.id: make_view()}))
    async with app.run_test(size=(140, 50)) as pilot:
        await pilot.pause(0.2)
        assert not app.screen.query(OrderEntry) and not app.screen.query(Blotter)
        text = screen_text(app)
        assert "PAPER" not in text and "o Order" not in text
        await pilot.press("c", "k", "o")  # inert, no crash


async def test_an_account_that_cannot_trade_the_market_says_so_and_the_header_reads_once(
        demo, memory_keyring):
    """Issue #9.13: choosing okx-demo while viewing binance spot showed only "avail 0.00",
    and the header read "DEMO DEMO okx"."""
    from app.ui.account_picker import AccountPicker
    from app.ui.header import AppHeader

    engine, service, sim = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO DATA")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced
                       and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
        await pilot.pause(0.3)
        assert "orders: PAPER" in screen_text(app)
        await pilot.press("A")
        await wait_for(lambda: isinstance(app.screen, AccountPicker), what="the account picker")
        while app.screen.query_one("OptionList").highlighted_option.id != "okx-demo":
            await pilot.press("down")
        await pilot.press("enter")
        await wait_for(lambda: service.view().account == "okx-demo", what="the switch")
        await pilot.pause(0.4)
        text = screen_text(app)
        message = ("okx demo cannot trade BTC/USDT · binance spot: choose a binance account "
                   "or switch to an okx market")
        panel = app.screen.query_one(OrderEntry)
        assert panel.blocked == message
        # on screen, above the form (wrapped to the panel's width)
        assert "okx demo cannot trade BTC/USDT ·" in text
        assert "account or switch to an okx market" in text
        assert "avail 0.00" not in text  # not an empty account: the wrong one for this market
        header = str(app.screen.query_one(AppHeader).render())
        assert "DEMO DATA" in header and "orders: okx DEMO" in header
        assert "DEMO DEMO" not in header
        # the submit key does nothing, and the runtime refuses the order even if asked
        await type_into(pilot, "#oe-price", "1000")
        await type_into(pilot, "#oe-amount", "0.01")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmOrder)
        from app.trading.errors import TradingError
        from app.trading.models import OrderRequest
        request = OrderRequest(BTC, "buy", "limit", Decimal("0.01"), Decimal("1000"))
        with pytest.raises(TradingError, match="okx demo cannot trade"):
            service.place(request).result(timeout=5)
        # back on a market it can trade (a venue account with no keys here, so still not
        # ready), the panel no longer says it cannot
        app.set_focus(None)  # out of the amount field, so A is the key, not a letter typed
        await pilot.press("A")
        await wait_for(lambda: isinstance(app.screen, AccountPicker), what="the account picker")
        while app.screen.query_one("OptionList").highlighted_option.id != "binance-testnet":
            await pilot.press("up")
        await pilot.press("enter")
        await wait_for(lambda: service.view().account == "binance-testnet", what="the switch")
        await pilot.pause(0.4)
        assert panel.blocked is None
        assert "cannot trade" not in screen_text(app)
        assert "orders: binance TESTNET" in str(app.screen.query_one(AppHeader).render())
