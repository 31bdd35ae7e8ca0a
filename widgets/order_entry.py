"""Order entry panel: side, type, price, trigger, amount (or % of available), perp
leverage / margin mode / reduce-only, post-only, a live notional and fee estimate, and
each validation failure under the field it concerns.

Every number field reads the one grammar of ``app.trading.numbers`` (``0,5`` is 0.5,
``1,234`` is refused as ambiguous) and nothing typed is dropped: a character the grammar
does not allow stays visible, with the reason on the field's message line. Switching the
instrument clears the form, so a price meant for BTC is never sent for ETH.

The panel only builds an ``OrderRequest`` and checks it with the ``preview`` function it
is given (the trading runtime's, pure and thread-safe); submitting posts ``Submitted``
for the screen to confirm and send. It never talks to an account itself.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Static

from app.feeds.views import InstrumentView
from app.market.instruments import Instrument
from app.trading.brackets import check_prices
from app.trading.models import Environment, FieldError, OrderRequest
from app.trading.numbers import NumberError, parse_number, parse_whole
from app.trading.validation import MarketRules, fmt, price_band_warning

PreviewFn = Callable[[OrderRequest, "float | None", "float | None", "float | None"],
                     "tuple[MarketRules | None, list[FieldError]]"]
FeesFn = Callable[[MarketRules], "tuple[Decimal, Decimal]"]
LeverageFn = Callable[[str], "int | None"]

FIELDS = ("price", "stop_price", "amount", "take_profit", "stop_loss", "leverage", "general")
NUMBER_FIELDS = ("price", "stop_price", "amount", "take_profit", "stop_loss", "leverage")
BRACKET_FIELDS = ("take_profit", "stop_loss")  # exits attached to a market or limit entry
PERCENTS = (25, 50, 75, 100)
DEFAULT_WARN_PCT = Decimal(5)


class FormInput(Input):
    """An Input that also claims ``+`` and ``-``: typed here they are characters, so the
    footer must not offer the screen's ``+`` / ``-`` keys while the cursor is in a field."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return key in ("plus", "minus") or super().check_consume_key(key, character)


class OrderEntry(Vertical):
    """The order form. Feed it market views with :meth:`update_market`."""

    BINDINGS = [
        Binding("escape", "leave", "Leave form", tooltip="Leave the order form: the main keys "
                "work again"),
    ]

    class Submitted(Message):
        """The user asked to place ``request`` (still to be confirmed)."""

        def __init__(self, request: OrderRequest, rules: MarketRules, notional: Decimal | None,
                     fee: Decimal | None, *, warnings: tuple[str, ...] = (),
                     leverage: int | None = None, notional_exact: bool = True,
                     take_profit: Decimal | None = None,
                     stop_loss: Decimal | None = None) -> None:
            super().__init__()
            self.take_profit = take_profit  # bracket exits (None: none)
            self.stop_loss = stop_loss
            self.request = request
            self.rules = rules
            self.notional = notional  # amount x limit price; an estimate for market and stop
            self.fee = fee
            self.warnings = warnings  # each needs the user's explicit yes
            self.leverage = leverage  # what applies when the request leaves it unset
            self.notional_exact = notional_exact

    DEFAULT_CSS = """
    OrderEntry { width: 40; height: 1fr; padding: 0 1; }
    OrderEntry Horizontal { height: 1; }
    OrderEntry Button { min-width: 6; margin: 0 1 0 0; }
    OrderEntry Label { width: 9; color: $text-muted; }
    OrderEntry Input { width: 1fr; }
    OrderEntry .field-error { color: $error; height: auto; }
    OrderEntry .field-error.-empty { display: none; }
    OrderEntry #oe-notice { color: $warning; height: auto; }
    OrderEntry #oe-notice.-empty { display: none; }
    OrderEntry #oe-estimate { color: $text-muted; height: auto; }
    OrderEntry #oe-submit { width: 1fr; margin: 1 0 0 0; }
    OrderEntry.-market #oe-price-row, OrderEntry.-market #oe-price-error { display: none; }
    OrderEntry.-market #oe-post-only, OrderEntry.-stop #oe-post-only { display: none; }
    OrderEntry.-stop #oe-price-row, OrderEntry.-stop #oe-price-error { display: none; }
    OrderEntry #oe-stop-row, OrderEntry #oe-stop-price-error { display: none; }
    OrderEntry.-stop #oe-stop-row { display: block; }
    OrderEntry.-stop #oe-stop-price-error.-filled { display: block; }
    OrderEntry.-spot .perp-only { display: none; }
    OrderEntry.-stop #oe-bracket-row { display: none; }
    OrderEntry #oe-bracket-row Label { width: 9; }
    OrderEntry #oe-take-profit { margin: 0 1 0 0; }
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
        self._leverage_of: LeverageFn | None = None
        self.warn_pct = DEFAULT_WARN_PCT
        self._view: InstrumentView | None = None
        self._filled_for: Instrument | None = None  # the instrument the fields were typed for
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
        yield Static("", id="oe-notice", classes="-empty")
        # no ``restrict`` on the fields: a refused character stays visible, with the reason
        with Horizontal(id="oe-price-row"):
            yield Label("Price")
            yield FormInput(id="oe-price", placeholder="limit price", compact=True)
        yield Static("", id="oe-price-error", classes="field-error -empty")
        with Horizontal(id="oe-stop-row"):
            yield Label("Trigger")
            yield FormInput(id="oe-stop-price", placeholder="stop-loss trigger", compact=True)
        yield Static("", id="oe-stop-price-error", classes="field-error -empty")
        with Horizontal(id="oe-amount-row"):
            yield Label("Amount", id="oe-amount-label")
            yield FormInput(id="oe-amount", placeholder="size in base", compact=True)
        yield Static("", id="oe-amount-error", classes="field-error -empty")
        with Horizontal(id="oe-bracket-row"):
            yield Label("TP / SL", id="oe-bracket-label")
            yield FormInput(id="oe-take-profit", placeholder="TP price", compact=True)
            yield FormInput(id="oe-stop-loss", placeholder="SL trigger", compact=True)
        yield Static("", id="oe-take-profit-error", classes="field-error -empty")
        yield Static("", id="oe-stop-loss-error", classes="field-error -empty")
        with Horizontal(id="oe-pcts"):
            for pct in PERCENTS:
                yield Button(f"{pct}%", id=f"oe-pct-{pct}", compact=True, classes="pct")
        with Horizontal(id="oe-perp-row", classes="perp-only"):
            yield Label("Leverage")
            yield FormInput(id="oe-leverage", value="", placeholder="10", compact=True,
                            max_length=6)
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

    def bind(self, preview: PreviewFn, fees: FeesFn, leverage: LeverageFn | None = None,
             warn_pct: Decimal | None = None) -> None:
        self._preview = preview
        self._fees = fees
        self._leverage_of = leverage
        if warn_pct is not None:
            self.warn_pct = warn_pct

    def update_market(self, view: InstrumentView | None) -> None:
        before = self._view
        changed = (view is None) != (before is None) or (
            view is not None and before is not None
            and view.instrument.id != before.instrument.id)
        self._view = view
        if changed:
            self.set_class(view is not None and view.instrument.market == "spot", "-spot")
            # against the last instrument the form showed, not the last frame: a switch
            # may pass through frames without a view (the new book not there yet)
            last = self._filled_for
            if view is not None and last is not None and view.instrument.id != last.id:
                self._reset_for(view, last.label)
            if view is not None:
                self._filled_for = view.instrument
            self._refresh_labels()
            self.recheck()

    def _reset_for(self, view: InstrumentView, previous: str) -> None:
        """A new instrument: nothing typed for the old one may be sent for this one."""
        had = [name for name, sel in (("price", "#oe-price"), ("trigger", "#oe-stop-price"),
                                      ("amount", "#oe-amount"), ("take-profit", "#oe-take-profit"),
                                      ("stop-loss", "#oe-stop-loss"), ("leverage", "#oe-leverage"))
               if self.query_one(sel, Input).value.strip()]
        for sel in ("#oe-price", "#oe-stop-price", "#oe-amount", "#oe-take-profit", "#oe-stop-loss",
                    "#oe-leverage"):
            self.query_one(sel, Input).value = ""
        self.query_one("#oe-reduce-only", Checkbox).value = False
        if had:
            self.set_notice(f"now {view.instrument.label}: {', '.join(had)} cleared "
                            f"(typed for {previous})")
        else:
            self.set_notice("")

    def set_notice(self, text: str) -> None:
        notice = self.query_one("#oe-notice", Static)
        notice.update(text)
        notice.set_class(not text, "-empty")

    @property
    def notice(self) -> str:
        return str(self.query_one("#oe-notice", Static).render())

    def update_account(self, env: Environment, quote_available: Decimal, base_available: Decimal,
                       position: Decimal) -> None:
        self._env = env
        self._available = (quote_available, base_available)
        self._position = position
        for e in Environment:
            self.set_class(e is env, f"-env-{e.value}")
        self.border_title = f"Order · {env.label}"
        self._refresh_labels()

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

    def action_leave(self) -> None:
        """Esc: out of the form, so the screen's keys (s, +, -, 1-4 ...) work again."""
        if self.screen.focused is not None and self in self.screen.focused.ancestors_with_self:
            self.screen.set_focus(None)

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
        rules = self._check()[0] if self._preview else None
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
            lev = Decimal(self._leverage() or self._current_leverage() or 1)
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
        # rounded down to the lot here, in the field, where the user sees the value sent
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
        if event.value.strip():
            self.set_notice("")  # the user is filling the form in for this instrument
        self.recheck()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.recheck()

    # -- building and checking -----------------------------------------------------------

    def _text(self, field: str) -> str:
        return self.query_one(f"#oe-{field.replace('_', '-')}", Input).value

    def _leverage(self) -> int | None:
        try:
            return parse_whole(self._text("leverage"))
        except NumberError:
            return None

    def _current_leverage(self) -> int | None:
        if self._leverage_of is None or self._view is None:
            return None
        return self._leverage_of(self._view.instrument.id)

    def _needed(self) -> dict[str, str]:
        """Fields this order type cannot go without, and what to say when one is empty."""
        base = self._view.instrument.base if self._view else ""
        need = {"amount": f"enter an amount{f' in {base}' if base else ''}"}
        if self.order_type == "limit":
            need["price"] = "enter a limit price"
        elif self.order_type == "stop":
            need["stop_price"] = "enter a trigger price"
        return need

    def _parse_fields(self, complete: bool) -> tuple[dict[str, Decimal | int | None],
                                                     dict[str, str]]:
        """Every number field read with the form's grammar: values, and a problem per field
        that cannot be read (with ``complete``, also per required field left empty)."""
        values: dict[str, Decimal | int | None] = {}
        problems: dict[str, str] = {}
        needed = self._needed() if complete else {}
        perp = self._view is not None and self._view.instrument.market == "perp"
        for f in NUMBER_FIELDS:
            text = self._text(f)
            values[f] = None
            if f == "leverage" and not perp:
                continue
            if f in ("price", "stop_price") and f not in self._needed():
                continue  # hidden for this order type: not sent, not checked
            if f in BRACKET_FIELDS and self.order_type == "stop":
                continue
            if not text.strip():
                if f in needed:
                    problems[f] = needed[f]
                continue
            try:
                values[f] = parse_whole(text) if f == "leverage" else parse_number(text)
            except NumberError as exc:
                problems[f] = f"leverage {exc}" if f == "leverage" else str(exc)
        return values, problems

    def build(self, complete: bool = False) -> tuple[OrderRequest | None, dict[str, str]]:
        """The request the form describes (fields that cannot be read left unset) and the
        reading problems by field; no request without an instrument."""
        values, problems = self._parse_fields(complete)
        if self._view is None:
            return None, problems
        perp = self._view.instrument.market == "perp"
        amount = values["amount"]
        req = OrderRequest(
            instrument_id=self._view.instrument.id, side=self.side,  # type: ignore[arg-type]  # the side toggle holds only 'buy'/'sell'
            type=self.order_type,  # type: ignore[arg-type]  # the type select holds only OrderType values
            amount=amount if isinstance(amount, Decimal) else Decimal(0),
            price=values["price"] if self.order_type == "limit" else None,  # type: ignore[arg-type]  # parsed by field kind: price is a Decimal
            stop_price=values["stop_price"] if self.order_type == "stop" else None,  # type: ignore[arg-type]  # parsed by field kind: the trigger is a Decimal
            time_in_force="PO" if (self.order_type == "limit" and
                                   self.query_one("#oe-post-only", Checkbox).value) else "GTC",
            reduce_only=perp and self.query_one("#oe-reduce-only", Checkbox).value,
            leverage=values["leverage"] if perp else None,  # type: ignore[arg-type]  # parsed by field kind: leverage is an int
            margin_mode=self.margin_mode if perp else None)  # type: ignore[arg-type]  # the margin select holds only 'cross'/'isolated'
        return req, problems

    def _check(self, complete: bool = False
               ) -> tuple[MarketRules | None, list[FieldError], OrderRequest | None]:
        """Reading problems and validation failures together: every field's first problem."""
        req, problems = self.build(complete)
        errors = [FieldError(f, m) for f, m in problems.items()]
        if req is None or self._preview is None or self._view is None:
            return None, errors, req
        v = self._view
        last = v.trades[0].price if v.trades else (v.ticker.last if v.ticker else None)
        rules, found = self._preview(req, v.best_bid, v.best_ask, last)
        # a field that could not be read has its reason shown, not "must be above zero"
        errors += [e for e in found if e.field not in problems]
        tp, sl = self.bracket_prices()
        if tp is not None or sl is not None:
            ref = v.best_ask if self.side == "buy" else v.best_bid
            errors += [e for e in check_prices(req, Decimal(repr(ref)) if ref else None, tp, sl)
                       if e.field not in problems]
        return rules, errors, req

    def bracket_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """(take-profit, stop-loss) typed for this entry; None where empty or unreadable."""
        if self.order_type == "stop":
            return None, None
        out: list[Decimal | None] = []
        for f in BRACKET_FIELDS:
            try:
                text = self._text(f)
                out.append(parse_number(text) if text.strip() else None)
            except NumberError:
                out.append(None)
        return out[0], out[1]

    def _price_for_estimate(self) -> Decimal | None:
        if self.order_type in ("limit", "stop"):
            try:
                return parse_number(self._text("price" if self.order_type == "limit"
                                               else "stop_price"))
            except NumberError:
                return None
        v = self._view
        ref = None if v is None else (v.best_ask if self.side == "buy" else v.best_bid)
        return Decimal(repr(ref)) if ref else None

    def recheck(self) -> list[FieldError]:
        """Re-validate as the user types; show errors only for fields already filled in."""
        if not self.is_mounted:
            return []
        filled = {f: bool(self._text(f).strip()) for f in ("price", "stop_price", "amount",
                                                            "take_profit", "stop_loss")}
        rules, errors, _ = self._check() if self._view is not None else (None, [], None)
        # as the user types, complain about what they typed, not about what is still empty
        shown = [e for e in errors if filled.get(e.field, True)]
        if not filled["amount"]:
            shown = [e for e in shown if e.field not in ("general", "type", "side")]
        self.show_errors(shown)
        self._update_estimate(rules)
        return errors

    def _update_estimate(self, rules: MarketRules | None) -> None:
        estimate = self.query_one("#oe-estimate", Static)
        try:
            amount: Decimal | None = parse_number(self._text("amount"))
        except NumberError:
            amount = None
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
            if e.message not in by_field.get(target, []):
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
        if self._view is not None and self._view.instrument.market == "perp":
            lev = self._current_leverage()
            self.query_one("#oe-leverage", Input).placeholder = \
                f"{lev} (now)" if lev is not None else "venue's"

    def submit(self) -> None:
        """Check everything (every field's problem shown at once) and ask to confirm."""
        if self.pending or self.blocked or self._view is None or self._preview is None:
            return
        rules, errors, req = self._check(complete=True)
        self.show_errors(errors)
        if errors or rules is None or req is None:
            return
        price = self._price_for_estimate()
        notional = req.amount * price if price else None
        fee = None
        if notional is not None and self._fees is not None:
            maker, taker = self._fees(rules)
            fee = notional * (maker if req.type == "limit" else taker)
        v = self._view
        mid = None
        if v.best_bid and v.best_ask:
            mid = (Decimal(repr(v.best_bid)) + Decimal(repr(v.best_ask))) / 2
        elif v.trades:
            mid = Decimal(repr(v.trades[0].price))
        if mid is not None and rules.tick > 0:
            mid = mid.quantize(rules.tick)
        warning = price_band_warning(req, mid, self.warn_pct)
        leverage = req.leverage if req.leverage is not None else self._current_leverage()
        tp, sl = self.bracket_prices()
        self.post_message(self.Submitted(req, rules, notional, fee,
                                         warnings=(warning,) if warning else (),
                                         leverage=leverage if rules.is_perp else None,
                                         notional_exact=req.type == "limit",
                                         take_profit=tp, stop_loss=sl))

    def clear_amount(self) -> None:
        self.query_one("#oe-amount", Input).value = ""
        # exits typed for the order just sent are not carried over to the next one
        self.query_one("#oe-take-profit", Input).value = ""
        self.query_one("#oe-stop-loss", Input).value = ""
