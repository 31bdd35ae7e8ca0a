"""Amend an open limit order (``e`` in the blotter): new price and/or amount.

Both fields start at the order's own values and read through the order form's number
grammar (``app.trading.numbers``): anything it refuses is refused here with the same
reason, and nothing is sent. Enter sends what the fields show; Escape leaves the order
as it was. The environment badge leads, as on every order dialog. The venue (or the
paper account) checks tick, lot and means again before the amend leaves.
"""

from __future__ import annotations

from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.trading.models import Environment, Order
from app.trading.numbers import NumberError, parse_number
from app.trading.validation import fmt
from app.ui.confirm_order import env_badge

AmendAnswer = tuple[Decimal, Decimal]  # (price, total amount)


class AmendDialog(ModalScreen[AmendAnswer | None]):
    DEFAULT_CSS = """
    AmendDialog { align: center middle; }
    AmendDialog #amend-dialog { width: 64; height: auto; max-height: 90%; padding: 1 2;
                                border: thick $accent; background: $surface; }
    AmendDialog #amend-dialog.env-paper { border: thick $primary; }
    AmendDialog #amend-dialog.env-testnet { border: thick $warning; }
    AmendDialog #amend-dialog.env-demo { border: thick $accent; }
    AmendDialog #amend-dialog.env-live { border: thick $error; }
    AmendDialog .amend-row { height: 3; }
    AmendDialog .amend-row Label { width: 10; padding: 1 0; }
    AmendDialog .amend-row Input { width: 1fr; }
    AmendDialog #amend-error { color: $error; height: auto; }
    AmendDialog .confirm-buttons { height: 3; align: center middle; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Keep the order")]

    def __init__(self, order: Order, env: Environment, where: str, instrument: str) -> None:
        super().__init__()
        self.order = order
        self.env = env
        self.where = where
        self.instrument = instrument

    def compose(self) -> ComposeResult:
        o = self.order
        with Vertical(id="amend-dialog", classes=f"env-{self.env.value}"):
            yield env_badge(self.env)
            yield Static(f"Amend {o.side.upper()} {self.instrument} limit", classes="dialog-title")
            yield Static(f"now {fmt(o.amount)} @ {fmt(o.price or Decimal(0))}"
                         + (f", {fmt(o.filled)} filled" if o.filled else "")
                         + f" · on {self.where}", id="amend-now")
            with Horizontal(classes="amend-row"):
                yield Label("Price")
                yield Input(fmt(o.price or Decimal(0)), id="amend-price")
            with Horizontal(classes="amend-row"):
                yield Label("Amount")
                yield Input(fmt(o.amount), id="amend-amount")
            yield Static("", id="amend-error")
            with Horizontal(classes="confirm-buttons"):
                yield Button("Amend (enter)", id="amend-yes", variant="primary")
                yield Button("Keep (esc)", id="amend-no")

    def on_mount(self) -> None:
        self.query_one("#amend-price", Input).focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "amend-yes":
            self._send()
        else:
            self.dismiss(None)

    def _send(self) -> None:
        error = self.query_one("#amend-error", Static)
        values: list[Decimal] = []
        for field, name in (("#amend-price", "price"), ("#amend-amount", "amount")):
            text = self.query_one(field, Input).value
            try:
                value = parse_number(text)
            except NumberError as exc:
                error.update(f"{name}: {exc}")
                self.query_one(field, Input).focus()
                return
            if value <= 0:
                error.update(f"{name}: must be above zero")
                self.query_one(field, Input).focus()
                return
            values.append(value)
        price, amount = values
        if price == self.order.price and amount == self.order.amount:
            error.update("nothing to change: the price and amount are the order's own")
            return
        self.dismiss((price, amount))


__all__ = ["AmendAnswer", "AmendDialog"]
