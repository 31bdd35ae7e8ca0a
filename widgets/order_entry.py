"""Order entry panel: side, type, price, trigger, amount (or % of available), perp
leverage / margin mode / reduce-only, post-only, a live notional and fee estimate, and
each validation failure under the field it concerns.

The panel only builds an ``OrderRequest`` and checks it with the ``preview`` function it
is given (the trading runtime's, pure and thread-safe); submitting posts ``Submitted``
for the screen to confirm and send. It never talks to an account itself.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Static

from app.feeds.views import InstrumentView
from app.trading.models import Environment, FieldError, OrderRequest
from app.trading.validation import MarketRules, fmt

PreviewFn = Callable[[OrderRequest, "float | None", "float | None", "float | None"],
                     "tuple[MarketRules | None, list[FieldError]]"]
FeesFn = Callable[[MarketRules], "tuple[Decimal, Decimal]"]

FIELDS = ("price", "stop_price", "amount", "leverage", "general")
PERCENTS = (25, 50, 75, 100)


class OrderEntry(Vertical):
    """The order form. Feed it market views with :meth:`update_market`."""

    class Submitted(Message):
        """The user asked to place ``request`` (still to be confirmed)."""

        def __init__(self, request: OrderRequest, rules: MarketRules, notional: Decimal | None,
                     fee: Decimal | None) -> None:
            super().__init__()
            self.request = request
            self.rules = rules
            self.notional = notional
            self.fee = fee

    DEFAULT_CSS = """
    OrderEntry { width: 40; height: 1fr; padding: 0 1; }
    OrderEntry Horizontal { height: 1; }
    OrderEntry Button { min-width: 6; margin: 0 1 0 0; }
    OrderEntry Label { width: 9; color: $text-muted; }
    OrderEntry Input { width: 1fr; }
    OrderEntry .field-error { color: $error; height: auto; }
    OrderEntry .field-error.-empty { display: none; }
    OrderEntry #oe-estimate { color: $text-muted; height: auto; }
    OrderEntry #oe-submit { width: 1fr; margin: 1 0 0 0; }
    OrderEntry.-market #oe-price-row, OrderEntry.-market #oe-price-error { display: none; }
    OrderEntry.-market #oe-post-only, OrderEntry.-stop #oe-post-only { display: none; }
    OrderEntry.-stop #oe-price-row, OrderEntry.-stop #oe-price-error { display: none; }
    OrderEntry #oe-stop-row, OrderEntry #oe-stop-price-error { display: none; }
    OrderEntry.-stop #oe-stop-row { display: block; }
    OrderEntry.-stop #oe-stop-price-error.-filled { display: block; }
    OrderEntry.-spot .perp-only { display: none; }
    OrderEntry #oe-blocked { display: none; color: $warning; height: auto; margin: 0 0 1 0; }
    OrderEntry.-blocked #oe-blocked { display: block; }
    OrderEntry.-blocked #oe-estimate { display: none; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.side = "buy"
        self.order_type = "limit"
        self.margin_mode = "cross"
        self._preview: PreviewFn | None = None
        self._fees: FeesFn | None = None
        self._view: InstrumentView | None = None
        self._available: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))  # quote, base
        self._position: Decimal = Decimal(0)
        self._env = Environment.PAPER
        self.pending = False  # an order is on its way: no second submit
        self.blocked: str | None = None  # why the account cannot trade this market at all
        self.border_title = "Order"

    def compose(self) -> ComposeResult:
        yield Static("", id="oe-blocked")
        with Horizontal(id="oe-sides"):
            yield Button("Buy", id="oe-buy", compact=True, classes="side -active")
            yield Button("Sell", id="oe-sell", compact=True, classes="side")
        with Horizontal(id="oe-types"):
            yield Button("Market", id="oe-market", compact=True, classes="otype")
            yield Button("Limit", id="oe-limit", compact=True, classes="otype -active")
            yield Button("Stop", id="oe-stop", compact=True, classes="otype")
        with Horizontal(id="oe-price-row"):
            yield Label("Price")
            yield Input(id="oe-price", placeholder="limit price", restrict=r"[0-9.,]*",
                        compact=True)
        yield Static("", id="oe-price-error", classes="field-error -empty")
        with Horizontal(id="oe-stop-row"):
            yield Label("Trigger")
            yield Input(id="oe-stop-price", placeholder="stop-loss trigger",
                        restrict=r"[0-9.,]*", compact=True)
        yield Static("", id="oe-stop-price-error", classes="field-error -empty")
        with Horizontal(id="oe-amount-row"):
            yield Label("Amount", id="oe-amount-label")
            yield Input(id="oe-amount", placeholder="size in base", restrict=r"[0-9.,]*",
                        compact=True)
        yield Static("", id="oe-amount-error", classes="field-error -empty")
        with Horizontal(id="oe-pcts"):
            for pct in PERCENTS:
                yield Button(f"{pct}%", id=f"oe-pct-{pct}", compact=True, classes="pct")
        with Horizontal(id="oe-perp-row", classes="perp-only"):
            yield Label("Leverage")
            yield Input(id="oe-leverage", value="", placeholder="10", restrict=r"[0-9]*",
                        compact=True, max_length=3)
            yield Button("Cross", id="oe-margin", compact=True)
        yield Static("", id="oe-leverage-error", classes="field-error -empty")
        yield Checkbox("Reduce-only", id="oe-reduce-only", compact=True, classes="perp-only")
        yield Checkbox("Post-only", id="oe-post-only", compact=True)
        yield Static("", id="oe-estimate")
        yield Static("", id="oe-general-error", classes="field-error -empty")
        yield Button("Buy", id="oe-submit", variant="success", compact=True)

    def on_mount(self) -> None:
        self.set_class(True, "-limit")
        self._refresh_labels()

    # -- feeding ----------------------------------------------------------------------

    def bind(self, preview: PreviewFn, fees: FeesFn) -> None:
        self._preview = preview
        self._fees = fees

    def update_market(self, view: InstrumentView | None) -> None:
        changed = (view is None) != (self._view is None) or (
            view is not None and self._view is not None
            and view.instrument.id != self._view.instrument.id)
        self._view = view
        if changed:
            self.set_class(view is not None and view.instrument.market == "spot", "-spot")
            self._refresh_labels()
            self.recheck()

    def update_account(self, env: Environment, quote_available: Decimal, base_available: Decimal,
                       position: Decimal) -> None:
        self._env = env
        self._available = (quote_available, base_available)
        self._position = position
        for e in Environment:
            self.set_class(e is env, f"-env-{e.value}")
        self.border_title = f"Order · {env.label}"

    def set_blocked(self, reason: str | None) -> None:
        """Say plainly, above the form, why nothing can be ordered here (None: it can);
        the balance line would otherwise read as an empty account."""
        if reason == self.blocked:
            return
        self.blocked = reason
        self.set_class(reason is not None, "-blocked")
        if self.is_mounted:
            self.query_one("#oe-blocked", Static).update(reason or "")
            self.query_one("#oe-submit", Button).disabled = reason is not None

    # -- user actions ------------------------------------------------------------------

    def set_side(self, side: str) -> None:
        self.side = side
        self.query_one("#oe-buy").set_class(side == "buy", "-active")
        self.query_one("#oe-sell").set_class(side == "sell", "-active")
        self._refresh_labels()
        self.recheck()

    def set_type(self, kind: str) -> None:
        self.order_type = kind
        for k in ("market", "limit", "stop"):
            self.query_one(f"#oe-{k}").set_class(k == kind, "-active")
            self.set_class(k == kind, f"-{k}")
        self.recheck()

    def set_price(self, price: float | Decimal) -> None:
        """Fill the price from a book level; a market order becomes a limit at that price."""
        if self.order_type == "market":
            self.set_type("limit")
        target = "#oe-stop-price" if self.order_type == "stop" else "#oe-price"
        text = fmt(Decimal(repr(price)) if isinstance(price, float) else price)
        self.query_one(target, Input).value = text
        self.recheck()

    def set_percent(self, pct: int) -> None:
        """Amount = pct % of what the side can use (quote / price for buys, base for sells)."""
        rules, _ = self._check() if self._preview else (None, [])
        if rules is None or self._view is None:
            return
        price = self._price_for_estimate()
        quote, base = self._available
        share = Decimal(pct) / 100
        maker, taker = self._fees(rules) if self._fees else (Decimal(0), Decimal(0))
        fee = maker if self.order_type == "limit" else taker
        if rules.is_perp:
            if not price:
                return
            lev = Decimal(self._leverage() or 1)
            if self.query_one("#oe-reduce-only", Checkbox).value:
                amount = abs(self._position) * share
            else:
                amount = quote * share / (price / lev + price * fee)
        elif self.side == "buy":
            if not price:
                return
            amount = quote * share / (price * (1 + fee))
        else:
            amount = base * share
        lot = rules.lot
        amount = (amount // lot) * lot if lot > 0 else amount
        self.query_one("#oe-amount", Input).value = fmt(amount) if amount > 0 else ""
        self.recheck()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        event.stop()
        if bid in ("oe-buy", "oe-sell"):
            self.set_side(bid[3:])
        elif bid in ("oe-market", "oe-limit", "oe-stop"):
            self.set_type(bid[3:])
        elif bid.startswith("oe-pct-"):
            self.set_percent(int(bid.rsplit("-", 1)[1]))
        elif bid == "oe-margin":
            self.margin_mode = "isolated" if self.margin_mode == "cross" else "cross"
            event.button.label = self.margin_mode.capitalize()
            self.recheck()
        elif bid == "oe-submit":
            self.submit()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.recheck()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.recheck()

    # -- building and checking -----------------------------------------------------------

    def _leverage(self) -> int | None:
        text = self.query_one("#oe-leverage", Input).value.strip()
        return int(text) if text.isdigit() else None

    def build(self) -> OrderRequest | None:
        """The request the form describes, or None with the parse problems shown."""
        if self._view is None:
            return None
        problems: dict[str, str] = {}
        price = _parse(self.query_one("#oe-price", Input).value, "price", problems)
        stop = _parse(self.query_one("#oe-stop-price", Input).value, "stop_price", problems)
        amount = _parse(self.query_one("#oe-amount", Input).value, "amount", problems)
        if problems:
            self.show_errors([FieldError(f, m) for f, m in problems.items()])
            return None
        perp = self._view.instrument.market == "perp"
        return OrderRequest(
            instrument_id=self._view.instrument.id, side=self.side,  # type: ignore[arg-type]
            type=self.order_type,  # type: ignore[arg-type]
            amount=amount if amount is not None else Decimal(0),
            price=price if self.order_type == "limit" else None,
            stop_price=stop if self.order_type == "stop" else None,
            time_in_force="PO" if (self.order_type == "limit" and
                                   self.query_one("#oe-post-only", Checkbox).value) else "GTC",
            reduce_only=perp and self.query_one("#oe-reduce-only", Checkbox).value,
            leverage=self._leverage() if perp else None,
            margin_mode=self.margin_mode if perp else None)  # type: ignore[arg-type]

    def _check(self) -> tuple[MarketRules | None, list[FieldError]]:
        req = self.build()
        if req is None or self._preview is None or self._view is None:
            return None, []
        v = self._view
        last = v.trades[0].price if v.trades else (v.ticker.last if v.ticker else None)
        return self._preview(req, v.best_bid, v.best_ask, last)

    def _price_for_estimate(self) -> Decimal | None:
        if self.order_type == "limit":
            return _parse(self.query_one("#oe-price", Input).value, "price", {})
        if self.order_type == "stop":
            return _parse(self.query_one("#oe-stop-price", Input).value, "stop_price", {})
        v = self._view
        ref = None if v is None else (v.best_ask if self.side == "buy" else v.best_bid)
        return Decimal(repr(ref)) if ref else None

    def recheck(self) -> list[FieldError]:
        """Re-validate as the user types; show errors only for fields already filled in."""
        if not self.is_mounted:
            return []
        filled = {f: bool(self.query_one(f"#oe-{f.replace('_', '-')}", Input).value.strip())
                  for f in ("price", "stop_price", "amount")}
        rules, errors = self._check() if self._view is not None else (None, [])
        # as the user types, complain about what they typed, not about what is still empty
        shown = [e for e in errors if filled.get(e.field, True)]
        if not filled["amount"]:
            shown = [e for e in shown if e.field not in ("general", "type", "side")]
        self.show_errors(shown)
        self._update_estimate(rules)
        return errors

    def _update_estimate(self, rules: MarketRules | None) -> None:
        estimate = self.query_one("#oe-estimate", Static)
        amount = _parse(self.query_one("#oe-amount", Input).value, "amount", {})
        price = self._price_for_estimate()
        quote, base = self._available
        if rules is None:
            estimate.update("")
            return
        avail = (f"avail {fmt(quote.quantize(Decimal('0.01')))} {rules.quote}"
                 if rules.is_perp or self.side == "buy" else f"avail {fmt(base)} {rules.base}")
        if not amount or not price:
            estimate.update(avail)
            return
        notional = amount * price
        maker, taker = self._fees(rules) if self._fees else (Decimal(0), Decimal(0))
        rate = maker if self.order_type == "limit" else taker
        fee = notional * rate
        text = (f"≈ {fmt(notional.quantize(Decimal('0.01')))} {rules.quote} · fee "
                f"{fmt(fee.quantize(Decimal('0.0001')))} ({fmt(rate * 100)}%)\n{avail}")
        estimate.update(text)

    def show_errors(self, errors: list[FieldError]) -> None:
        by_field: dict[str, list[str]] = {}
        for e in errors:
            target = e.field if e.field in FIELDS else "general"
            if e.field == "margin_mode":
                target = "leverage"
            by_field.setdefault(target, []).append(e.message)
        for f in FIELDS:
            widget = self.query_one(f"#oe-{f.replace('_', '-')}-error", Static)
            text = "\n".join(by_field.get(f, []))
            widget.update(text)
            widget.set_class(not text, "-empty")
            widget.set_class(bool(text), "-filled")

    def errors_text(self) -> dict[str, str]:
        """Field -> shown error (tests and screen readers)."""
        out = {}
        for f in FIELDS:
            widget = self.query_one(f"#oe-{f.replace('_', '-')}-error", Static)
            text = str(widget.render())
            if text.strip():
                out[f] = text
        return out

    def _refresh_labels(self) -> None:
        if not self.is_mounted:
            return
        base = self._view.instrument.base if self._view else ""
        self.query_one("#oe-amount", Input).placeholder = f"size in {base}" if base else "size"
        submit = self.query_one("#oe-submit", Button)
        submit.label = f"{'Buy' if self.side == 'buy' else 'Sell'} {base}".strip()
        submit.variant = "success" if self.side == "buy" else "error"

    def submit(self) -> None:
        if self.pending or self.blocked or self._view is None or self._preview is None:
            return
        req = self.build()
        if req is None:
            return
        rules, errors = self._preview(req, self._view.best_bid, self._view.best_ask,
                                      self._view.trades[0].price if self._view.trades else None)
        self.show_errors(errors)
        if errors or rules is None:
            return
        price = self._price_for_estimate()
        notional = req.amount * price if price else None
        fee = None
        if notional is not None and self._fees is not None:
            maker, taker = self._fees(rules)
            fee = notional * (maker if req.type == "limit" else taker)
        self.post_message(self.Submitted(req, rules, notional, fee))

    def clear_amount(self) -> None:
        self.query_one("#oe-amount", Input).value = ""


def _parse(text: str, field: str, problems: dict[str, str]) -> Decimal | None:
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems[field] = f"{text!r} is not a number"
        return None
    if not value.is_finite():
        problems[field] = f"{text!r} is not a number"
        return None
    return value
