"""Order validation against a market's metadata and the account's means.

Runs before anything is sent. Every failure is a FieldError naming the order-entry field
it belongs to, in words a user can act on ("price 30000.005 is not a multiple of the
tick 0.01"); an order with any failure is not sent at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.market.instruments import Instrument, MarketType
from app.trading.models import ZERO, FieldError, MarginMode, OrderRequest, dec

DEFAULT_MAX_LEVERAGE = 100


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What a venue allows for one instrument; steps and limits as Decimals."""

    instrument_id: str
    symbol: str  # ccxt unified symbol
    market: MarketType
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_amount: Decimal
    min_notional: Decimal = ZERO
    max_leverage: int = 1
    contract_size: Decimal = Decimal(1)

    @property
    def is_perp(self) -> bool:
        return self.market == "perp"

    @classmethod
    def of(cls, inst: Instrument, max_leverage: int = DEFAULT_MAX_LEVERAGE) -> MarketRules:
        lot = dec(inst.lot_size)
        return cls(inst.id, inst.symbol, inst.market, inst.base.upper(), inst.quote.upper(),
                   dec(inst.tick_size), lot, lot, dec(inst.min_notional),
                   max_leverage if inst.market == "perp" else 1, dec(inst.contract_size))


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What validation needs to know about the account at the moment of the order."""

    available_quote: Decimal
    available_base: Decimal = ZERO  # spot only
    position_size: Decimal = ZERO  # perps: signed base units
    position_margin_mode: MarginMode | None = None  # set when a position is open
    reference_price: Decimal | None = None  # best ask for buys, best bid for sells
    last_price: Decimal | None = None  # for stop triggers
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    leverage: int = 1  # the instrument's current leverage, when the order does not set one


def fmt(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros (1E+1 -> 10, 0.0100 -> 0.01)."""
    text = format(value.normalize(), "f")
    return text


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0


def nearest(value: Decimal, step: Decimal) -> str:
    """The valid values either side of ``value`` ("29000 or 29000.01"): the form refuses an
    off-step value rather than rounding it behind the user's back, and says what would do."""
    below = (value // step) * step
    above = below + step
    if below <= 0:
        return fmt(above)
    return f"{fmt(below)} or {fmt(above)}"


def price_band_warning(req: OrderRequest, mid: Decimal | None, warn_pct: Decimal) -> str | None:
    """Words for a limit price or stop trigger further than ``warn_pct`` % from the mid
    (a price left over from another instrument, a digit too many), or None."""
    if mid is None or mid <= 0 or warn_pct <= 0:
        return None
    if req.type == "limit":
        price, what = req.price, "limit"
    elif req.type == "stop":
        price, what = req.stop_price, "trigger"
    else:
        return None
    if price is None or not price.is_finite() or price <= 0:
        return None
    off = (price - mid) / mid * 100
    if abs(off) <= warn_pct:
        return None
    pct = off.quantize(Decimal(1) if abs(off) >= 10 else Decimal("0.1"))
    return (f"{what} {fmt(price)} is {'+' if off > 0 else ''}{pct}% from mid {fmt(mid)} "
            f"(warning above {fmt(warn_pct)}%); send anyway?")


def order_price(req: OrderRequest, ctx: AccountContext) -> Decimal | None:
    """The price the notional and cost checks use."""
    if req.type == "limit":
        return req.price
    if req.type == "stop":
        return req.stop_price
    return ctx.reference_price


def validate(req: OrderRequest, rules: MarketRules, ctx: AccountContext) -> list[FieldError]:
    errors: dict[str, str] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, message)  # the first problem of a field is the one to fix

    if req.side not in ("buy", "sell"):
        fail("side", f"side must be buy or sell, not {req.side!r}")
    if req.type not in ("market", "limit", "stop"):
        fail("type", f"order type must be market, limit or stop, not {req.type!r}")

    # -- amount --------------------------------------------------------------------------
    amount = req.amount
    if not amount.is_finite() or amount <= 0:
        fail("amount", "amount must be above zero")
    elif not is_multiple(amount, rules.lot):
        fail("amount", f"amount {fmt(amount)} is not a multiple of the lot size {fmt(rules.lot)} "
                       f"(nearest: {nearest(amount, rules.lot)})")
    elif amount < rules.min_amount:
        fail("amount", f"amount {fmt(amount)} is below the minimum {fmt(rules.min_amount)} "
                       f"{rules.base}")

    # -- prices --------------------------------------------------------------------------
    if req.type == "limit":
        if req.price is None or not req.price.is_finite() or req.price <= 0:
            fail("price", "a limit order needs a price above zero")
        elif not is_multiple(req.price, rules.tick):
            fail("price", f"price {fmt(req.price)} is not a multiple of the tick {fmt(rules.tick)} "
                          f"(nearest: {nearest(req.price, rules.tick)})")
    if req.time_in_force == "PO" and req.type != "limit":
        fail("type", "post-only applies to limit orders only")
    if req.type == "stop":
        stop = req.stop_price
        if stop is None or not stop.is_finite() or stop <= 0:
            fail("stop_price", "a stop-loss needs a trigger price above zero")
        elif not is_multiple(stop, rules.tick):
            fail("stop_price", f"trigger {fmt(stop)} is not a multiple of the tick "
                               f"{fmt(rules.tick)} (nearest: {nearest(stop, rules.tick)})")
        elif ctx.last_price is not None:
            if req.side == "sell" and stop >= ctx.last_price:
                fail("stop_price", f"a sell stop must be below the last price {fmt(ctx.last_price)}"
                                   " (it would trigger at once)")
            elif req.side == "buy" and stop <= ctx.last_price:
                fail("stop_price", f"a buy stop must be above the last price {fmt(ctx.last_price)}"
                                   " (it would trigger at once)")
    if req.type == "limit" and req.time_in_force == "PO" and req.price is not None \
            and ctx.reference_price is not None:
        # reference is the opposite best: a post-only that crosses it would take liquidity
        if (req.side == "buy" and req.price >= ctx.reference_price) or \
                (req.side == "sell" and req.price <= ctx.reference_price):
            fail("price", f"post-only at {fmt(req.price)} would cross the book "
                          f"(best {'ask' if req.side == 'buy' else 'bid'} "
                          f"{fmt(ctx.reference_price)}) and be cancelled")

    # -- perp settings -----------------------------------------------------------------
    leverage = req.leverage if req.leverage is not None else ctx.leverage
    if rules.is_perp:
        if req.leverage is not None and not 1 <= req.leverage <= rules.max_leverage:
            fail("leverage", f"leverage must be from 1 to {rules.max_leverage}x")
        if req.margin_mode is not None and req.margin_mode not in ("cross", "isolated"):
            fail("margin_mode", "margin mode must be cross or isolated")
        if req.margin_mode is not None and ctx.position_margin_mode is not None \
                and ctx.position_size != 0 and req.margin_mode != ctx.position_margin_mode:
            fail("margin_mode", f"a {ctx.position_margin_mode} position is open: close it before "
                                f"switching to {req.margin_mode}")
        if req.reduce_only:
            pos = ctx.position_size
            closing = (req.side == "sell" and pos > 0) or (req.side == "buy" and pos < 0)
            if not closing:
                fail("reduce_only", "reduce-only needs an open position on the other side")
            elif amount.is_finite() and amount > abs(pos):
                fail("amount", f"reduce-only amount {fmt(amount)} exceeds the position "
                               f"{fmt(abs(pos))} {rules.base}")
    else:
        if req.reduce_only:
            fail("reduce_only", "reduce-only applies to perpetuals only")
        if req.leverage not in (None, 1):
            fail("leverage", "spot orders have no leverage")
        if req.margin_mode is not None:
            fail("margin_mode", "spot orders have no margin mode")

    # -- notional and means ----------------------------------------------------------------
    if "amount" in errors or "price" in errors or "stop_price" in errors:
        return _ordered(errors)
    price = order_price(req, ctx)
    if price is None:
        fail("type", "no price to check a market order against: the book is not synced yet")
        return _ordered(errors)
    notional = price * amount  # amounts are base units everywhere (contracts only on the wire)
    if notional < rules.min_notional:
        fail("amount", f"order value {_money(notional)} {rules.quote} is "
                       f"below the minimum {fmt(rules.min_notional)} {rules.quote}")
        return _ordered(errors)
    fee_rate = ctx.maker_fee if req.type == "limit" else ctx.taker_fee
    if rules.is_perp:
        if not req.reduce_only and "leverage" not in errors:
            need = notional / max(1, leverage) + notional * fee_rate
            if need > ctx.available_quote:
                fail("amount", f"needs {_money(need)} {rules.quote} margin + fee at "
                               f"{leverage}x, available {_money(ctx.available_quote)}")
    elif req.side == "buy":
        need = notional * (1 + fee_rate)
        if need > ctx.available_quote:
            fail("amount", f"costs {_money(need)} {rules.quote} with fee, available "
                           f"{_money(ctx.available_quote)}")
    elif amount > ctx.available_base:
        fail("amount", f"{fmt(amount)} {rules.base} to sell, available {fmt(ctx.available_base)}")
    return _ordered(errors)


_FIELD_ORDER = ("side", "type", "price", "stop_price", "amount", "leverage", "margin_mode",
                "reduce_only")


def _ordered(errors: dict[str, str]) -> list[FieldError]:
    return [FieldError(f, errors[f]) for f in sorted(errors, key=_FIELD_ORDER.index)]


def _money(value: Decimal) -> str:
    """Two decimals, as money is read: 15015.00."""
    return format(value.quantize(Decimal("0.01")), "f")
