"""Pre-trade risk limits: the last gate every order (and every amend) passes before it
leaves, whichever account it goes to.

Validation (``app.trading.validation``) asks "would the venue accept this order?"; this
module asks "does the user want to be able to send it at all?": an order too big, a
position too big, too many orders resting, a day already lost, or a limit price a fat
finger away from the market. A refusal names the limit and says by how much it is
exceeded, in the form and in the audit trail.

``check`` is pure and cheap (a few Decimal operations, microseconds: see
tests/bench/bench_risk.py): everything it needs about the account and the market is in
``RiskInputs``, gathered by the caller.

Daily loss is measured against the account's equity when the UTC day began
(``DayBaseline``): realized and unrealized PnL together, since 00:00 UTC (or since the
account was first seen that day, when the app was not running at midnight).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Literal

from app.trading.errors import ValidationFailed
from app.trading.models import ZERO, FieldError, Side
from app.trading.validation import fmt

DAY_MS = 86_400_000
HUNDRED = Decimal(100)
CENT = Decimal("0.01")

LimitName = Literal["max_order_notional", "max_position_notional", "max_open_orders",
                    "max_daily_loss", "price_band_pct"]
# what each limit is called in a refusal (and in the config: the key itself)
LIMIT_WORDS: dict[str, str] = {
    "max_order_notional": "max order notional",
    "max_position_notional": "max position notional",
    "max_open_orders": "max open orders",
    "max_daily_loss": "max daily loss",
    "price_band_pct": "price band",
}


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """One account's limits; None turns a limit off. Notionals are in USD."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None  # per instrument, counting open orders
    max_open_orders: int | None = None
    max_daily_loss: Decimal | None = None  # a positive amount: -loss is where orders stop
    price_band_pct: Decimal | None = None  # a limit price at most this far from the mid
    confirm_notional: Decimal | None = None  # orders above it get the confirm modal

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self)
                   if f.name != "confirm_notional")

    def merged(self, override: Mapping[str, Decimal | int | None]) -> RiskLimits:
        """These limits with an account's own settings on top (0 in the override: off)."""
        changes = {k: (None if v == 0 else v) for k, v in override.items()}
        return replace(self, **changes)  # type: ignore[arg-type]  # keys are checked by the config parser


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """What one check needs, gathered by the caller (the trading service)."""

    instrument_id: str
    side: Side
    amount: Decimal  # base units
    price: Decimal | None  # what the order would trade at: limit, trigger, or best opposite
    limit_price: Decimal | None  # set for limit orders only (the price band applies to them)
    mid: Decimal | None
    usd_rate: Decimal | None  # USD per unit of the quote currency (1 for USDT/USD)
    position: Decimal = ZERO  # signed base units held (spot: the base balance)
    open_same_side: Decimal = ZERO  # base units resting on this side of this instrument
    open_orders: int = 0  # open orders on the account, not counting this one
    daily_pnl: Decimal | None = None  # USD since 00:00 UTC; None when it cannot be valued
    reducing: bool = False  # only makes a position smaller (reduce-only, bracket exits)
    new_orders: int = 1  # how many orders this action adds (an entry with a bracket: 3)


@dataclass(frozen=True, slots=True)
class RiskRefusal:
    limit: LimitName
    field: str  # the order-form field the message is shown under
    message: str

    def as_field_error(self) -> FieldError:
        return FieldError(self.field, self.message)


class RiskRefused(ValidationFailed):
    """An order stopped by a risk limit: nothing was sent. A ``ValidationFailed``, so the
    form shows each refusal under its field like any other reason not to send."""

    def __init__(self, refusals: list[RiskRefusal]) -> None:
        super().__init__([r.as_field_error() for r in refusals])
        self.refusals = refusals


def usd(value: Decimal) -> str:
    """``12,500.5 USD``: cents, thousands separated, no trailing zeros past the point."""
    q = value.quantize(CENT)
    text = f"{q:,.2f}"
    if text.endswith(".00"):
        text = text[:-3]
    return f"{text} USD"


def pct(value: Decimal) -> str:
    return f"{fmt(value.quantize(CENT))}%"


def check(limits: RiskLimits, x: RiskInputs) -> list[RiskRefusal]:
    """Every limit the order breaks (empty: it may go). Refuses when a limit cannot be
    measured (no price, no USD rate): a limit that was not checked is not a limit."""
    out: list[RiskRefusal] = []
    if limits.max_daily_loss is not None and not x.reducing:
        if x.daily_pnl is None:
            out.append(RiskRefusal("max_daily_loss", "general",
                                   "max daily loss: today's PnL cannot be valued (no prices "
                                   "for the account's holdings yet), so no new orders"))
        elif x.daily_pnl <= -limits.max_daily_loss:
            over = -x.daily_pnl - limits.max_daily_loss
            out.append(RiskRefusal(
                "max_daily_loss", "general",
                f"max daily loss: today's PnL {usd(x.daily_pnl)} is {usd(over)} past the "
                f"limit of -{usd(limits.max_daily_loss)}; new orders are refused until 00:00 "
                "UTC (reduce-only orders still go)"))
    if limits.max_open_orders is not None and not x.reducing:
        total = x.open_orders + x.new_orders
        if total > limits.max_open_orders:
            out.append(RiskRefusal(
                "max_open_orders", "general",
                f"max open orders: this would make {total} open, {total - limits.max_open_orders}"
                f" over the limit of {limits.max_open_orders}"))
    if limits.price_band_pct is not None and x.limit_price is not None:
        if x.mid is None or x.mid <= 0:
            out.append(RiskRefusal("price_band_pct", "price",
                                   "price band: no mid price to measure the limit price against"))
        else:
            off = abs(x.limit_price - x.mid) / x.mid * HUNDRED
            if off > limits.price_band_pct:
                out.append(RiskRefusal(
                    "price_band_pct", "price",
                    f"price band: {fmt(x.limit_price)} is {pct(off)} from the mid "
                    f"{fmt(x.mid)}, {pct(off - limits.price_band_pct)} beyond the "
                    f"±{pct(limits.price_band_pct)} band"))
    needs_value = limits.max_order_notional is not None or (
        limits.max_position_notional is not None and not x.reducing)
    if not needs_value:
        return out
    if x.price is None or x.usd_rate is None:
        what = "no price to value it at" if x.price is None else "no USD rate for its quote"
        name: LimitName = "max_order_notional" if limits.max_order_notional is not None \
            else "max_position_notional"
        out.append(RiskRefusal(name, "amount", f"{LIMIT_WORDS[name]}: {what}, so it cannot "
                                               "be checked"))
        return out
    rate = x.price * x.usd_rate
    if limits.max_order_notional is not None:
        value = x.amount * rate
        if value > limits.max_order_notional:
            out.append(RiskRefusal(
                "max_order_notional", "amount",
                f"max order notional: {usd(value)} is {usd(value - limits.max_order_notional)}"
                f" over the limit of {usd(limits.max_order_notional)}"))
    if limits.max_position_notional is not None and not x.reducing:
        signed = x.amount if x.side == "buy" else -x.amount
        resting = x.open_same_side if x.side == "buy" else -x.open_same_side
        after = abs(x.position + resting + signed) * rate
        # an order that leaves the position smaller than it was is never refused for size
        if after > limits.max_position_notional and after > abs(x.position) * rate:
            out.append(RiskRefusal(
                "max_position_notional", "amount",
                f"max position notional: {usd(after)} with this order and those resting is "
                f"{usd(after - limits.max_position_notional)} over the limit of "
                f"{usd(limits.max_position_notional)}"))
    return out


def needs_confirm(limits: RiskLimits, notional_usd: Decimal | None) -> bool:
    """Whether an order of this value gets the confirm modal (always, unless a
    ``confirm_notional`` is set and the value is known and at most that)."""
    if limits.confirm_notional is None:
        return True
    return notional_usd is None or notional_usd > limits.confirm_notional


@dataclass(slots=True)
class DayBaseline:
    """The equity an account had when the UTC day began (or when first seen that day).
    ``pnl`` is realized + unrealized since then; a new day starts from the equity then."""

    day: int = -1  # days since the epoch, UTC
    equity: Decimal = ZERO

    def pnl(self, now_ms: int, equity: Decimal | None) -> Decimal | None:
        if equity is None:
            return None
        today = now_ms // DAY_MS
        if today != self.day:
            self.day, self.equity = today, equity
        return equity - self.equity

    def to_json(self) -> dict[str, str | int]:
        return {"day": self.day, "equity": str(self.equity)}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> DayBaseline:
        return cls(int(str(d.get("day", -1))), Decimal(str(d.get("equity", "0"))))


__all__ = ["DAY_MS", "DayBaseline", "LIMIT_WORDS", "RiskInputs", "RiskLimits", "RiskRefusal",
           "RiskRefused", "check", "needs_confirm", "usd"]
