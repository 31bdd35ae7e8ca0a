"""The main screen's trading half: order entry, blotters, their keys, and the path of an
order from the form through the confirmation to the trading runtime.

A mixin so MainScreen stays about market data; everything here is inert when the source
has no trading runtime (``self.trading is None``): no widgets, no keys in the footer.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel

from app.feeds.views import InstrumentView
from app.trading.errors import TradingError, ValidationFailed
from app.trading.models import Environment
from app.trading.validation import fmt
from app.ui.account_picker import AccountPicker
from app.ui.amend_dialog import AmendAnswer, AmendDialog
from app.ui.confirm_order import ConfirmAction, ConfirmOrder
from app.ui.error_toast import error_toast
from app.ui.header import AppHeader
from app.ui.keys_screen import KeysScreen
from widgets.blotter import Blotter
from widgets.ladder import OrderBookLadder
from widgets.order_entry import OrderEntry

if TYPE_CHECKING:
    from app.trading.service import TradingService

class TradingViewPublished(Message):
    """The trading service published a new account view (posted from the engine thread)."""


TRADING_ACTIONS = {"focus_order", "side", "cancel_selected", "cancel_all", "keys", "account",
                   "amend_selected", "portfolio"}


# the screen the mixin is mixed into (MainScreen), for the type checker only: at run time
# the mixin is a plain class ahead of Screen in MainScreen's bases
if TYPE_CHECKING:
    from textual.screen import Screen

    _ScreenBase = Screen[None]
else:
    _ScreenBase = object


class TradingPanelMixin(_ScreenBase):
    TRADING_BINDINGS = [
        Binding("o", "focus_order", "Order", tooltip="Go to the order entry panel"),
        Binding("b", "side('buy')", "Buy", show=False, tooltip="Order entry: buy side"),
        Binding("S", "side('sell')", "Sell", key_display="S", show=False,
                tooltip="Order entry: sell side (shift+s)"),
        Binding("c", "cancel_selected", "Cancel", tooltip="Cancel the selected open order"),
        Binding("e", "amend_selected", "Amend", show=False,
                tooltip="Change the price or amount of the selected open limit order"),
        Binding("C", "cancel_all", "Cancel all", key_display="C", show=False,
                tooltip="Cancel every open order (asks first)"),
        Binding("k", "keys", "Keys", show=False,  # rare: ? help and the palette ("keys")
                tooltip="Store or delete API keys (OS keyring)"),
        Binding("A", "account", "Account", key_display="A", show=False,
                tooltip="Choose the trading account: paper, testnet or demo"),
        Binding("p", "portfolio", "Portfolio", tooltip="Every account's equity, PnL, positions "
                "and balances in USD"),
    ]

    trading: TradingService | None
    _blotter_pending = False
    _trading_version: int
    _trading_problem: str | None
    _notice_seen: int | None = None  # last order notice shown; None until the first view

    @property
    def _service(self) -> TradingService:
        """The trading service, for the handlers of keys that are bound only when there is
        one (``check_action`` hides them otherwise)."""
        assert self.trading is not None, "a trading key reached a screen without trading"
        return self.trading

    # -- wiring ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRADING_ACTIONS and self.trading is None:
            return False  # no trading runtime: the keys do nothing and leave the footer
        return super().check_action(action, parameters)

    def mount_trading(self) -> None:
        if self.trading is None:
            return
        # bound per instance, only when there is trading: a source without it keeps the
        # market screen's keys exactly as they were
        for binding in self.TRADING_BINDINGS:
            self._bindings._add_binding(binding)
        self.refresh_bindings()
        entry = self.query_one(OrderEntry)
        trading = self.trading
        entry.bind(trading.preview, trading.fees, trading.current_leverage,
                   trading.options.price_warn_pct)
        trading.watch(self._trading_published)

    def _trading_published(self) -> None:
        """Engine thread: a new account view. One message at a time (post_message is
        thread-safe); the blotter shows it now rather than at the next frame."""
        if not self._blotter_pending:
            self._blotter_pending = True
            self.post_message(TradingViewPublished())

    def on_trading_view_published(self, message: TradingViewPublished) -> None:
        self._blotter_pending = False
        if self.trading is not None and self.is_attached:
            blotters = self.query(Blotter)
            if blotters:
                blotters.first().update_view(self.trading.view())

    def update_trading(self, view: InstrumentView | None) -> None:
        """Called every frame: market view to the form, account view to the blotters/header."""
        trading = self._service  # called only once trading is ready
        entry = self.query_one(OrderEntry)
        entry.update_market(view)
        # every frame: the instrument on screen changes without the account view changing
        entry.set_blocked(trading.cannot_trade(view.instrument.id) if view is not None
                          else None)
        tv = trading.view()
        if tv.version == self._trading_version:
            return
        self._trading_version = tv.version
        self.query_one(Blotter).update_view(tv)
        quote = base = Decimal(0)
        position = Decimal(0)
        if view is not None:
            inst = view.instrument
            q, b = tv.balance(inst.quote.upper()), tv.balance(inst.base.upper())
            quote = q.available if q else quote
            base = b.available if b else base
            pos = tv.position(inst.id)
            position = pos.size if pos else position
        entry.update_account(tv.env, quote, base, position)
        entry.recheck()
        header = self.query_one(AppHeader)
        header.trading_env = tv.env.value
        header.trading_label = tv.env.label if tv.env is Environment.PAPER else \
            f"{tv.venue} {tv.env.label}"
        if tv.problem and tv.problem != self._trading_problem:
            self.notify(tv.problem, title=f"{tv.env.label} account", severity="warning",
                        timeout=10)
        self._trading_problem = tv.problem
        self._show_notices(tv)

    def _show_notices(self, tv) -> None:
        """Toast what happened to orders without the user doing it here: fills of resting
        orders, stops that fired, venue rejects and cancels (the engine words them)."""
        if self._notice_seen is None:  # what happened before this screen is in the blotter
            self._notice_seen = tv.last_notice
            return
        fresh = [n for n in tv.notices if n.seq > self._notice_seen]
        if not fresh:
            return
        self._notice_seen = fresh[-1].seq
        for n in fresh:
            severity: SeverityLevel = "error" if n.kind == "rejected" else (
                "warning" if n.kind == "canceled" else "information")
            self.notify(n.text, title=n.title, severity=severity, timeout=8)
        if self.trading is not None and self.trading.options.bell:
            self.app.bell()

    # -- keys -------------------------------------------------------------------------------

    def action_focus_order(self) -> None:
        entry = self.query_one(OrderEntry)
        target = "#oe-price" if entry.order_type == "limit" else "#oe-amount"
        entry.query_one(target).focus()

    def action_side(self, side: str) -> None:
        entry = self.query_one(OrderEntry)
        entry.set_side(side)
        entry.query_one("#oe-amount").focus()

    def action_cancel_selected(self) -> None:
        order_id = self.query_one(Blotter).selected_order_id()
        if order_id is None:
            self.notify("no open order selected", severity="warning")
            return
        self._run_cancel(order_id)

    def action_amend_selected(self) -> None:
        order_id = self.query_one(Blotter).selected_order_id()
        tv = self._service.view()
        order = next((o for o in tv.open_orders if o.client_order_id == order_id), None)
        if order is None:
            self.notify("no open order selected", severity="warning")
            return
        if order.type != "limit":
            self.notify(f"only limit orders can be amended (this is a {order.type} order): "
                        "cancel it and place a new one", severity="warning")
            return
        label = self._service.instrument_label(order.instrument_id, order.symbol)

        def answer(values: AmendAnswer | None) -> None:
            if values is not None:
                self._run_amend(order.client_order_id, *values)

        self.app.push_screen(AmendDialog(order, tv.env, tv.label, label), answer)

    def action_cancel_all(self) -> None:
        tv = self._service.view()
        n = len(tv.open_orders)
        if not n:
            self.notify("no open orders", severity="warning")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._run_cancel_all()

        self.app.push_screen(ConfirmAction(
            f"Cancel all {n} open order{'s' if n != 1 else ''}?",
            f"on {tv.label}", tv.env, "Cancel all"), answer)

    def action_portfolio(self) -> None:
        from app.ui.portfolio_screen import PortfolioScreen

        if not isinstance(self.app.screen, PortfolioScreen):
            self.app.push_screen(PortfolioScreen(self._service))

    def action_keys(self) -> None:
        allow_live = self._allow_live()
        self.app.push_screen(KeysScreen(self._service.keys, allow_live))

    def _allow_live(self) -> bool:
        return self.trading is not None and bool(self.trading.options.allow_live)

    def action_account(self) -> None:
        tv = self._service.view()
        allow_live = self._allow_live()

        def picked(name: str | None) -> None:
            if name:
                self._run_switch(name)

        self.app.push_screen(AccountPicker(tv.account, allow_live), picked)

    # -- messages -----------------------------------------------------------------------------

    def on_order_book_ladder_level_selected(self, message: OrderBookLadder.LevelSelected) -> None:
        if self.trading is not None:
            self.query_one(OrderEntry).set_price(message.price)

    def on_order_entry_submitted(self, message: OrderEntry.Submitted) -> None:
        tv = self._service.view()
        label = self._service.instrument_label(message.request.instrument_id,
                                              message.rules.symbol)
        if tv.env is Environment.PAPER:
            where = label.split(" · ", 1)[1] if " · " in label else "the venue's"
            venue = f"paper (fills against {where} market data)"
        else:
            venue = tv.label

        tp, sl = message.take_profit, message.stop_loss

        def answer(yes: bool | None) -> None:
            if yes:
                self._run_place(message.request, tp, sl)

        if not message.warnings and not self._service.confirm_needed(message.notional,
                                                                     message.rules.quote):
            # [risk] confirm_notional: an order this small goes without the dialog
            self._run_place(message.request, tp, sl)
            return
        self.app.push_screen(ConfirmOrder(
            message.request, message.rules, tv.env, tv.label, venue, message.notional,
            message.fee, instrument=label, warnings=message.warnings,
            leverage=message.leverage, notional_exact=message.notional_exact,
            take_profit=tp, stop_loss=sl), answer)

    # -- talking to the runtime (workers wait on its futures, never the UI loop) --------------

    @work(group="trading")
    async def _run_place(self, request, take_profit=None, stop_loss=None) -> None:
        entry = self.query_one(OrderEntry)
        entry.pending = True
        try:
            if take_profit is None and stop_loss is None:
                order = await asyncio.wrap_future(self._service.place(request))
            else:
                order = await asyncio.wrap_future(
                    self._service.place_bracket(request, take_profit, stop_loss))
        except ValidationFailed as exc:
            entry.show_errors(exc.errors)
            error_toast(self, exc, title="Order not sent")
        except TradingError as exc:
            error_toast(self, exc, title="Order not placed", timeout=10)
        else:
            label = self._service.instrument_label(order.instrument_id, order.symbol)
            what = f"{order.side} {fmt(order.amount)} {label}"
            if order.status == "filled":
                text = f"filled: {what} @ {fmt(order.average) if order.average else '—'}"
            elif order.status in ("rejected", "canceled"):
                text = f"{order.status}: {what}: {order.message or ''}"
            else:
                text = f"{order.status}: {what}"
            self.notify(text, title="Order", severity="error" if order.status == "rejected"
                        else "information")
            entry.clear_amount()
            entry.action_leave()  # the order is out: the screen's keys work again
        finally:
            entry.pending = False
            self._trading_version = -1

    @work(group="trading")
    async def _run_cancel(self, order_id: str) -> None:
        try:
            await asyncio.wrap_future(self._service.cancel(order_id))
        except TradingError as exc:
            error_toast(self, exc, title="Cancel failed")
        else:
            self.notify("order cancelled", title="Order")
        self._trading_version = -1

    @work(group="trading")
    async def _run_amend(self, order_id: str, price: Decimal, amount: Decimal) -> None:
        try:
            order = await asyncio.wrap_future(self._service.amend(order_id, price, amount))
        except ValidationFailed as exc:
            error_toast(self, exc, title="Amend not sent")
        except TradingError as exc:
            error_toast(self, exc, title="Amend failed", timeout=10)
        else:
            self.notify(f"amended: {order.side} {fmt(order.amount)} @ {fmt(order.price or price)}"
                        f" ({order.status})", title="Order")
        self._trading_version = -1

    @work(group="trading")
    async def _run_cancel_all(self) -> None:
        try:
            orders = await asyncio.wrap_future(self._service.cancel_all())
        except TradingError as exc:
            error_toast(self, exc, title="Cancel all failed")
        else:
            self.notify(f"cancelled {len(orders)} order(s)", title="Orders")
        self._trading_version = -1

    @work(group="trading")
    async def _run_switch(self, name: str) -> None:
        try:
            await asyncio.wrap_future(self._service.switch_account(name))
        except TradingError as exc:
            error_toast(self, exc, title="Account")
        self._trading_version = -1
