"""Amend from the blotter (``e``) on the paper account in the demo, driven with Pilot:
the dialog starts at the order's values, refuses what the number grammar refuses, and an
amend replaces the order under the next client id of its lineage, in the audit log."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import DataTable, Input

from app.ui.amend_dialog import AmendDialog
from app.ui.app import CryptotermApp
from app.trading.models import OrderRequest
from app.trading.validation import fmt
from tests.harness import screen_text
from tests.trading_demo import trading_demo
from tests.waiting import wait_for

BTC = "cryptopair_binance_btcusdt"


@pytest.fixture
def demo():
    with trading_demo(["BTC/USDT"]) as (engine, service, sim):
        yield engine, service, sim


async def set_field(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)


@pytest.mark.parametrize("size", [(160, 45), (80, 24)])
async def test_e_amends_the_selected_limit_order(demo, size):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=size) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced and v.trades
                       and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#bl-orders-table")), what="the blotter")
        await pilot.pause(0.2)
        price = Decimal(str(round(engine.view(BTC).best_bid * 0.9, 1)))
        req = OrderRequest(BTC, "buy", "limit", Decimal("0.01"), price)
        service.place(req).result(5)
        table = app.screen.query_one("#bl-orders-table", DataTable)
        await wait_for(lambda: table.row_count == 1, what="the order in the blotter")
        table.focus()
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, AmendDialog), what="the amend dialog")
        text = screen_text(app)
        assert "PAPER" in text and "Amend BUY" in text
        assert app.screen.query_one("#amend-price", Input).value == fmt(price)

        # the order form's grammar: an ambiguous number is refused, nothing is sent
        await set_field(pilot, "#amend-amount", "1,234")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, AmendDialog)
        assert "ambiguous" in str(app.screen.query_one("#amend-error").render())

        new_price = price - Decimal("10.5")
        await set_field(pilot, "#amend-amount", "0.02")
        await set_field(pilot, "#amend-price", str(new_price))
        await pilot.press("enter")
        new_id = req.client_order_id + "r1"
        await wait_for(lambda: [o.client_order_id for o in service.view().open_orders] == [new_id],
                       what="the replacement order")
        (order,) = service.view().open_orders
        assert (order.price, order.amount) == (new_price, Decimal("0.02"))
        if size == (160, 45):  # at 80x24 the layout leaves the blotter out (z shows it)
            await wait_for(lambda: fmt(new_price) in screen_text(app),
                           what="the new price on screen")
        assert service.view().notices == ()
        actions = [(e["action"], e["client_order_id"]) for e in service.audit_log]
        assert ("amend_request", req.client_order_id) in actions
        assert ("place", new_id) in actions


async def test_a_refused_amend_leaves_the_order_and_says_why(demo):
    engine, service, sim = demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced and v.trades
                       and service.view().ready, what="a synced book")
        await wait_for(lambda: bool(app.screen.query("#bl-orders-table")), what="the blotter")
        await pilot.pause(0.2)
        price = Decimal(str(round(engine.view(BTC).best_bid * 0.9, 1)))
        req = OrderRequest(BTC, "buy", "limit", Decimal("0.01"), price)
        service.place(req).result(5)
        table = app.screen.query_one("#bl-orders-table", DataTable)
        await wait_for(lambda: table.row_count == 1, what="the order in the blotter")
        table.focus()
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, AmendDialog), what="the amend dialog")
        await set_field(pilot, "#amend-amount", "1000")  # far more than 10k USDT buys
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, AmendDialog), what="the dialog closed")
        await wait_for(lambda: any(n.title == "Amend not sent" for n in app.recent_notices),
                       what="the refusal toast")
        toast = next(n for n in app.recent_notices if n.title == "Amend not sent")
        assert "amount" in toast.message and "USDT" in toast.message
        assert [o.client_order_id for o in service.view().open_orders] == [req.client_order_id]
