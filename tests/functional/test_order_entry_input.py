"""The order form typed into as a hurried user would (issue #9, "Orders: input that cannot
be misread"): decimal commas, ambiguous and bad input said on the field's message line,
Esc out of the form, the form cleared on an instrument switch, the far-from-mid warning,
the leverage that applies, and a toast when a resting order fills. Real engine, real
simulator on 127.0.0.1, the paper account."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input

from app.trading.models import OrderRequest
from app.ui.app import CryptotermApp
from app.ui.confirm_order import ConfirmOrder
from tests.harness import screen_text
from tests.waiting import wait_for
from widgets.order_entry import OrderEntry
from tests.trading_demo import trading_demo

BTC = "cryptopair_binance_btcusdt"
ETH = "cryptopair_binance_ethusdt"
SOL = "cryptopair_binance_solusdt"
PERP = "cryptoperp_binance_btcusdt"
D = Decimal


@pytest.fixture
def demo():
    with trading_demo(["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT"]) as (engine, service, sim):
        yield engine, service, sim


async def ready(app, engine, service, instrument: str = BTC) -> OrderEntry:
    await wait_for(lambda: (v := engine.view(instrument)) is not None and v.synced and v.trades
                   and service.view().ready, what="a synced book")
    await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
    entry = app.screen.query_one(OrderEntry)
    await wait_for(lambda: entry._view is not None and entry._view.instrument.id == instrument,
                   what="the instrument in the order form")
    return entry


async def type_into(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause(0.05)


def value(app, selector: str) -> str:
    return app.screen.query_one(selector, Input).value


async def switch(app, entry: OrderEntry, instrument: str) -> None:
    app.open_instrument(instrument)
    await wait_for(lambda: entry._view is not None and entry._view.instrument.id == instrument,
                   what=f"{instrument} in the order form")


async def test_decimal_commas_reach_the_confirmation_as_typed(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        entry = await ready(app, engine, service)
        bid = D(repr(engine.view(BTC).best_bid))
        await type_into(pilot, "#oe-price", str(bid).replace(".", ","))  # "97012,34"
        await type_into(pilot, "#oe-amount", "0,001")  # was read as 1 BTC
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        dialog = app.screen
        assert dialog.request.amount == D("0.001") and dialog.request.price == bid
        text = screen_text(app)
        assert "Size  0.001 BTC" in text and f"Price  {bid} USDT" in text
        assert f"Value  {(bid * D('0.001')).normalize():f} USDT" in text  # exact, not rounded
        await pilot.press("n")
        await pilot.pause(0.1)
        assert not service.view().open_orders

        # SOL: "0,5" showed "Size 5 SOL" while the field said 0,5
        await switch(app, entry, SOL)
        await type_into(pilot, "#oe-price", "180")
        await type_into(pilot, "#oe-amount", "0,5")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        assert app.screen.request.amount == D("0.5")
        assert "Size  0.5 SOL" in screen_text(app) and "Size  5 SOL" not in screen_text(app)
        await pilot.press("n")


async def test_bad_input_stays_visible_with_the_reason_and_all_errors_show_at_once(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        entry = await ready(app, engine, service)
        await type_into(pilot, "#oe-price", "1,234.5,6")
        await type_into(pilot, "#oe-amount", "-1")
        assert value(app, "#oe-price") == "1,234.5,6" and value(app, "#oe-amount") == "-1"
        errors = entry.errors_text()
        assert "'1,234.5,6' is ambiguous" in errors["price"]  # both fields at once
        assert "'-1': no minus sign" in errors["amount"]

        await type_into(pilot, "#oe-amount", "abc")  # typed, not swallowed
        assert value(app, "#oe-amount") == "abc"
        assert "'abc': 'a' 'b' 'c' not allowed" in entry.errors_text()["amount"]

        await type_into(pilot, "#oe-price", "1,234")
        assert "write 1234 or 1.234" in entry.errors_text()["price"]

        await type_into(pilot, "#oe-amount", "1.2.3")
        await pilot.press("enter")  # said why, and nothing to confirm
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmOrder)
        errors = entry.errors_text()
        assert "more than one decimal point" in errors["amount"] and "1.234" in errors["price"]
        assert "more than one decimal point" in screen_text(app)

        # Enter on an empty form lists every missing field, not the first
        await type_into(pilot, "#oe-price", "")
        await type_into(pilot, "#oe-amount", "")
        await pilot.press("enter")
        await pilot.pause(0.1)
        errors = entry.errors_text()
        assert errors["price"] == "enter a limit price" and errors["amount"] == "enter an amount in BTC"
        assert not service.audit_log  # nothing reached the account


async def test_esc_leaves_the_form_and_placing_returns_the_main_keys(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, engine, service)
        await pilot.press("o")
        assert app.focused.id == "oe-price"
        footer = screen_text(app).splitlines()[-1]
        assert "Leave form" in footer and "Group" not in footer  # + and - type into the field
        await pilot.press("escape")
        assert app.focused is None
        footer = screen_text(app).splitlines()[-1]
        assert "Symbol" in footer and "Group" in footer and "Leave form" not in footer
        await pilot.press("minus")  # the screen's key works again: finer grouping, no typing
        assert value(app, "#oe-price") == ""

        # from the amount field, through the confirmation, back to the screen's keys
        price = D(repr(engine.view(BTC).best_bid)) - 50
        await type_into(pilot, "#oe-price", str(price))
        await type_into(pilot, "#oe-amount", "0.001")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        await pilot.press("y")
        await wait_for(lambda: len(service.view().open_orders) == 1, what="the open order")
        await wait_for(lambda: app.focused is None, what="focus out of the form")
        await pilot.press("2")  # a main key: the chart interval, not a digit in Amount
        await pilot.pause(0.1)
        assert app.screen.interval == "5m" and value(app, "#oe-amount") == ""


async def test_percent_buttons_fill_an_amount_on_the_lot_the_confirmation_repeats(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        entry = await ready(app, engine, service)
        price = D(repr(engine.view(BTC).best_bid))
        await type_into(pilot, "#oe-price", str(price))
        await pilot.click("#oe-pct-25")
        await pilot.pause(0.1)
        amount = D(value(app, "#oe-amount"))
        # a quarter of 10000 USDT with the fee, rounded down to the 0.00001 lot in the field
        assert amount == (D(2500) / (price * D("1.001"))).quantize(D("0.00001"), "ROUND_DOWN")
        assert entry.errors_text() == {}
        app.screen.query_one("#oe-amount", Input).focus()
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        assert app.screen.request.amount == amount and f"Size  {amount} BTC" in screen_text(app)
        await pilot.press("n")


async def test_switching_instrument_clears_the_form_and_a_far_price_needs_a_deliberate_yes(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        entry = await ready(app, engine, service)
        await type_into(pilot, "#oe-price", "91000")
        await type_into(pilot, "#oe-amount", "0.01")
        await switch(app, entry, ETH)
        await pilot.pause(0.1)
        assert value(app, "#oe-price") == "" and value(app, "#oe-amount") == ""
        assert "now ETH/USDT · binance spot: price, amount cleared (typed for BTC/USDT" \
            in entry.notice
        assert "cleared" in screen_text(app)

        # the same leftover typed again on ETH: the confirmation warns, Enter does not send
        await wait_for(lambda: (v := engine.view(ETH)) is not None and v.synced, what="ETH book")
        await type_into(pilot, "#oe-price", "91000")
        assert entry.notice == ""  # the user is filling the form in for ETH now
        await type_into(pilot, "#oe-amount", "0.01")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        text = screen_text(app)
        assert "limit 91000 is +" in text and "% from mid 3" in text and "send anyway?" in text
        assert "Send anyway (y)" in text
        await pilot.press("enter")  # lands on Cancel
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmOrder) and not service.view().open_orders
        assert service.audit_log == type(service.audit_log)()

        # within the band: no warning, Enter confirms as before
        near = D(repr(engine.view(ETH).best_bid)) - 1
        await type_into(pilot, "#oe-price", str(near))
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        assert "send anyway" not in screen_text(app)
        await pilot.press("enter")
        await wait_for(lambda: len(service.view().open_orders) == 1, what="the ETH order")
        (order,) = service.view().open_orders
        assert order.instrument_id == ETH and order.price == near


async def test_perp_confirmation_shows_the_leverage_that_applies(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, PERP)
    async with app.run_test(size=(160, 45)) as pilot:
        entry = await ready(app, engine, service, PERP)
        assert app.screen.query_one("#oe-leverage", Input).placeholder == "10 (now)"
        price = D(repr(engine.view(PERP).best_bid)).quantize(D("0.1")) - 20
        await type_into(pilot, "#oe-price", str(price))
        await type_into(pilot, "#oe-amount", "0.002")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        text = screen_text(app)
        assert "Leverage  10x cross (current setting, unchanged)" in text and "-x" not in text
        await pilot.press("n")
        await pilot.pause(0.1)
        await type_into(pilot, "#oe-leverage", "3")
        await pilot.click("#oe-margin")  # isolated
        app.screen.query_one("#oe-amount", Input).focus()
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        assert "Leverage  3x isolated" in screen_text(app)
        await pilot.press("n")
        await type_into(pilot, "#oe-leverage", "2.5")
        assert "a whole number is needed" in entry.errors_text()["leverage"]


async def test_a_resting_limit_filled_by_the_simulators_trades_raises_a_toast(demo):
    engine, service, sim = demo
    service.options.bell = True  # [trading] bell = true
    app = BellCounting(engine, PERP)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await ready(app, engine, service, PERP)
        sim.set_rate(200.0)  # a busier tape: the market reaches one of the two orders sooner
        view = engine.view(PERP)
        bid, ask = D(repr(view.best_bid)), D(repr(view.best_ask))
        # one each side of the book: whichever way the price goes, a trade prints through one
        for side, price in (("buy", bid), ("sell", ask)):
            service.place(OrderRequest(PERP, side, "limit", D("0.002"), price)).result(5)
        await wait_for(lambda: any(n.kind in ("filled", "partial")
                                   for n in service.view().notices), timeout=20,
                       what="a fill of a resting order")
        await wait_for(lambda: any(n.title == "Order filled" for n in app.recent_notices),
                       what="the toast")
        toast = next(n for n in app.recent_notices if n.title == "Order filled")
        assert "BTC/USDT:USDT · binance perp" in toast.message and "cryptoperp_" not in toast.message
        assert "(limit)" in toast.message and "filled at avg" in toast.message
        await wait_for(lambda: "Order filled" in screen_text(app), what="the toast on screen")
        assert app.bells >= 1


class BellCounting(CryptotermApp):
    bells = 0

    def bell(self) -> None:
        self.bells += 1
        super().bell()


async def test_a_switch_through_frames_without_a_view_still_clears_the_form():
    """The new instrument's book may take frames to arrive: BTC -> (nothing) -> SOL."""
    from textual.app import App

    from tests.viewdata import BTC_SPOT, SOL_SPOT, make_view

    class FormOnly(App):
        def compose(self):
            yield OrderEntry()

    app = FormOnly()
    async with app.run_test(size=(60, 30)) as pilot:
        entry = app.query_one(OrderEntry)
        entry.update_market(make_view(BTC_SPOT))
        await type_into(pilot, "#oe-price", "91000")
        await type_into(pilot, "#oe-amount", "0,01")
        entry.update_market(None)
        entry.update_market(make_view(SOL_SPOT))
        await pilot.pause(0.05)
        assert value(app, "#oe-price") == "" and value(app, "#oe-amount") == ""
        assert "now SOL/USDT · bybit spot: price, amount cleared" in entry.notice
