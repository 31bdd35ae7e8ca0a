"""Confirmations: an order (venue, instrument, side, size, price and, in its own colour,
the environment it goes to), and destructive actions such as cancel-all.

``y`` / Enter confirms, ``n`` / Escape cancels. The environment badge is the first thing
in the dialog and its colour differs per environment: an order meant for paper must not
look like one about to hit a live account.
"""

from __future__ import annotations

from decimal import Decimal

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from app.trading.models import Environment, OrderRequest
from app.trading.validation import MarketRules, fmt


class _Confirm(ModalScreen[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Confirm"),
        Binding("enter", "answer(True)", "Confirm", show=False),
        Binding("n", "answer(False)", "Cancel"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def _buttons(self, yes: str, variant: ButtonVariant = "primary") -> ComposeResult:
        with Horizontal(classes="confirm-buttons"):
            yield Button(f"{yes} (y)", id="confirm-yes", variant=variant)
            yield Button("Cancel (n)", id="confirm-no")


def env_badge(env: Environment) -> Static:
    return Static(f" {env.label} ", classes=f"env-badge env-{env.value}")


class ConfirmOrder(_Confirm):
    """Place this order? Dismisses with True to send it.

    Every number is the Decimal that goes out (amount, price, and for limits the exact
    value amount x price), never a rounded rendering of it; market and stop values are
    marked as estimates. A warning (a price far
    from the mid) takes a deliberate ``y`` or a click on "Send anyway": Enter then lands
    on Cancel, so a hurried double Enter does not send it."""

    DEFAULT_CSS = """
    ConfirmOrder .confirm-warning { color: $warning; text-style: bold; margin: 0 0 1 0; }
    """

    def __init__(self, request: OrderRequest, rules: MarketRules, env: Environment,
                 account_label: str, venue: str, notional: Decimal | None,
                 fee: Decimal | None, *, instrument: str | None = None,
                 warnings: tuple[str, ...] = (), leverage: int | None = None,
                 notional_exact: bool = True, take_profit: Decimal | None = None,
                 stop_loss: Decimal | None = None) -> None:
        super().__init__()
        self.take_profit = take_profit
        self.stop_loss = stop_loss
        self.request = request
        self.rules = rules
        self.env = env
        self.account_label = account_label
        self.venue = venue
        self.notional = notional
        self.fee = fee
        self.instrument = instrument or rules.symbol
        self.warnings = warnings
        self.leverage = leverage
        self.notional_exact = notional_exact

    BINDINGS = [
        Binding("y", "answer(True)", "Confirm"),
        Binding("enter", "enter", "Confirm", show=False),
        Binding("n", "answer(False)", "Cancel"),
        Binding("escape", "answer(False)", "Cancel", show=False),
    ]

    def action_enter(self) -> None:
        # a focused button takes Enter before this binding; here no button has focus
        if not self.warnings:
            self.dismiss(True)

    def on_mount(self) -> None:
        if self.warnings:
            self.query_one("#confirm-no", Button).focus()

    def compose(self) -> ComposeResult:
        r, rules = self.request, self.rules
        kind = {"market": "MARKET", "limit": "LIMIT", "stop": "STOP-LOSS"}[r.type]
        if r.time_in_force == "PO":
            kind += " post-only"
        if r.reduce_only:
            kind += " reduce-only"
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="dim")
        table.add_column()
        table.add_row("Environment", Text(self.env.label, style="bold"))
        table.add_row("Account", self.account_label)
        table.add_row("Venue", self.venue)
        table.add_row("Instrument", self.instrument)
        table.add_row("Side", Text(r.side.upper(), style="bold green" if r.side == "buy" else "bold red"))
        table.add_row("Type", kind)
        size = f"{fmt(r.amount)} {rules.base}"
        if rules.contract_size != 1 and rules.contract_size > 0:
            size += f" ({fmt(r.amount / rules.contract_size)} contracts)"
        table.add_row("Size", size)
        if r.type == "limit":
            table.add_row("Price", f"{fmt(r.price)} {rules.quote}")  # type: ignore[arg-type]  # validation gives every limit order a price before it is confirmed
        elif r.type == "stop":
            table.add_row("Trigger", f"{fmt(r.stop_price)} {rules.quote} (then market)")  # type: ignore[arg-type]  # validation gives every stop order a trigger before it is confirmed
        else:
            table.add_row("Price", "market (walks the book)")
        if rules.is_perp:
            table.add_row("Leverage", self._leverage_line())
        if self.take_profit is not None:
            table.add_row("Take-profit", f"{fmt(self.take_profit)} {rules.quote} (limit, "
                                         "as the entry fills)")
        if self.stop_loss is not None:
            held = "" if rules.is_perp else ", held by cryptoterm while it runs"
            table.add_row("Stop-loss", f"{fmt(self.stop_loss)} {rules.quote} (then market{held})")
        if self.notional is not None:
            if self.notional_exact:
                table.add_row("Value", f"{fmt(self.notional)} {rules.quote}")
            else:
                where = "at the trigger (fills at market)" if r.type == "stop" else \
                    f"at the best {'ask' if r.side == 'buy' else 'bid'}"
                table.add_row("Value", f"≈ {fmt(self.notional.quantize(Decimal('0.01')))} "
                                       f"{rules.quote} {where}")
        if self.fee is not None:
            table.add_row("Fee", f"≈ {fmt(self.fee.quantize(Decimal('0.0001')))} {rules.quote}")
        with Vertical(id="confirm-dialog", classes=f"env-{self.env.value}"):
            yield env_badge(self.env)
            yield Static(f"Place this order on {self.env.label}?", classes="dialog-title")
            yield Static(table, id="confirm-summary")
            for warning in self.warnings:
                yield Static(f"⚠ {warning}", classes="confirm-warning")
            if self.env is Environment.LIVE:
                yield Static("REAL MONEY: this order trades your live funds.", classes="confirm-live")
            yes = "Send anyway" if self.warnings else "Place order"
            yield from self._buttons(yes, "success" if r.side == "buy" else "error")

    def _leverage_line(self) -> str:
        r = self.request
        mode = f" {r.margin_mode}" if r.margin_mode else ""
        if r.leverage is not None:
            return f"{r.leverage}x{mode}"
        if self.leverage is not None:
            return f"{self.leverage}x{mode} (current setting, unchanged)"
        return f"the venue's current setting (unchanged){mode}"


class ConfirmAction(_Confirm):
    """A yes/no question about something destructive (cancel all orders)."""

    def __init__(self, title: str, detail: str, env: Environment, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.env = env
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes=f"env-{self.env.value}"):
            yield env_badge(self.env)
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.detail, id="confirm-summary")
            yield from self._buttons(self.yes, "error")
