"""Risk limits, brackets and the portfolio in the TUI over the demo (engine + simulator
+ paper account), driven with Pilot: a refusal shows in the form with the limit and the
amount, a bracket's exits appear in the blotter, a small order skips the dialog under
confirm_notional, and ``p`` opens the portfolio."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input

from app.trading.risk import RiskLimits
from app.ui.app import CryptotermApp
from app.ui.confirm_order import ConfirmOrder
from app.ui.portfolio_screen import PortfolioScreen
from tests.harness import screen_text
from tests.trading_demo import trading_demo
from tests.waiting import wait_for
from widgets.blotter import Blotter
from widgets.order_entry import OrderEntry

BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"
D = Decimal


@pytest.fixture
def demo():
    with trading_demo(["BTC/USDT", "BTC/USDT:USDT"]) as (engine, service, sim):
        yield engine, service, sim


async def type_into(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


async def ready(app, engine, service, iid=BTC) -> None:
    await wait_for(lambda: (v := engine.view(iid)) is not None and v.synced and v.trades
                   and service.view().ready, what="a synced book")
    await wait_for(lambda: bool(app.screen.query("#oe-price")), what="the order panel")
    entry = app.screen.query_one(OrderEntry)
    await wait_for(lambda: entry._view is not None and entry._view.instrument.id == iid,
                   what="the instrument in the order form")


async def test_a_risk_refusal_shows_the_limit_and_the_amount_in_the_form(demo):
    engine, service, sim = demo
    service.options.risk = RiskLimits(max_order_notional=D(100))
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, engine, service)
        entry = app.screen.query_one(OrderEntry)
        price = D(str(round(engine.view(BTC).best_bid * 0.99, 2)))
        await type_into(pilot, "#oe-price", str(price))
        await type_into(pilot, "#oe-amount", "0.01")
        # said as it is typed, under the field, before any confirmation
        await wait_for(lambda: "amount" in entry.errors_text(), what="the refusal in the form")
        value = price * D("0.01")
        over = value - 100
        assert entry.errors_text()["amount"] == (
            f"max order notional: {value:,.2f} USD is {over:,.2f} USD over the limit of 100 USD")
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmOrder)
        # the limit tightens between the form's check and the send: the service refuses
        service.options.risk = RiskLimits(max_order_notional=D(10_000))
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        service.options.risk = RiskLimits(max_order_notional=D(100))
        await pilot.press("y")
        await wait_for(lambda: service.audit_log[-1]["action"] == "risk_refused",
                       what="the refusal at the send")
        await pilot.pause(0.3)
        assert "over the limit of 100 USD" in entry.errors_text()["amount"]
        assert not service.view().open_orders
        assert "max order notional" in screen_text(app)


async def test_a_bracket_from_the_form_and_its_exits_in_the_blotter(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, PERP)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, engine, service, PERP)
        await pilot.click("#oe-market")
        mid = D(str(round(engine.view(PERP).best_bid)))
        tp, sl = mid + 2000, mid - 2000
        await type_into(pilot, "#oe-amount", "0.01")
        await type_into(pilot, "#oe-take-profit", str(tp))
        await type_into(pilot, "#oe-stop-loss", str(sl))
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")
        modal = screen_text(app)
        assert "Take-profit" in modal and f"{tp} USDT" in modal
        assert "Stop-loss" in modal and f"{sl} USDT (then market)" in modal
        await pilot.press("y")
        await wait_for(lambda: len(service.view().open_orders) == 2, what="both exits")
        app.screen.query_one(Blotter).show_tab("orders")
        await pilot.pause(0.4)
        text = screen_text(app)
        assert "limit TP" in text and "stop RO SL" in text
        # the exits were cleared from the form with the amount: not carried to the next order
        assert app.screen.query_one("#oe-take-profit", Input).value == ""


async def test_exits_on_the_wrong_side_are_said_at_their_fields(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, PERP)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, engine, service, PERP)
        entry = app.screen.query_one(OrderEntry)
        price = D(str(round(engine.view(PERP).best_bid)))
        await type_into(pilot, "#oe-price", str(price))
        await type_into(pilot, "#oe-amount", "0.01")
        await type_into(pilot, "#oe-take-profit", str(price - 100))
        await pilot.pause(0.2)
        assert entry.errors_text()["take_profit"] == (
            f"take-profit {price - 100} must be above the entry {price}")
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmOrder)


async def test_small_orders_skip_the_dialog_under_confirm_notional(demo):
    engine, service, sim = demo
    service.options.risk = RiskLimits(confirm_notional=D(1000))
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(app, engine, service)
        price = D(str(round(engine.view(BTC).best_bid * 0.99, 2)))  # near: no price warning
        await type_into(pilot, "#oe-price", str(price))
        await type_into(pilot, "#oe-amount", "0.001")  # well under 1,000 USD
        await pilot.press("enter")
        await wait_for(lambda: len(service.view().open_orders) == 1, what="the order, unasked")
        await type_into(pilot, "#oe-amount", "0.05")  # several thousand USD
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmOrder), what="the confirmation")


async def test_p_opens_the_portfolio(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(app, engine, service)
        await pilot.press("p")
        await wait_for(lambda: isinstance(app.screen, PortfolioScreen), what="the portfolio")
        await wait_for(lambda: "equity 10,000.00 USD" in screen_text(app), what="the figures")
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "PAPER" in text and "USDT" in text
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, PortfolioScreen), what="back")
        await wait_for(lambda: service.portfolio_view() is not None and service._portfolio_task is None,
                       what="the portfolio no longer computed")
