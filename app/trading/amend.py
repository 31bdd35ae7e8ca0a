"""What an amend asks for, checked before anything is sent.

An amend changes the price and/or the amount of one open limit order. ``amount`` is the
order's total (what the blotter shows), filled part included: a venue's native amend
takes it as is; a cancel + replace places only the remainder under the next client id
of the lineage (``amended_client_id``). Either way the replacement passes the same
validation as a new order (tick, lot, minimum notional, means), with the funds the old
order held counted as free, since they are released by the amend.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.trading.errors import ErrorKind, TradingError, ValidationFailed
from app.trading.models import Balance, FieldError, Order, OrderRequest, amended_client_id
from app.trading.validation import MarketRules, fmt


@dataclass(frozen=True, slots=True)
class Amend:
    order: Order  # as it stands now
    price: Decimal  # the new limit price
    amount: Decimal  # the new total amount (base units)

    @property
    def remainder(self) -> Decimal:
        return self.amount - self.order.filled

    def replacement(self) -> OrderRequest:
        """The order a cancel + replace places: the remainder, at the new price, under the
        next client id of the lineage, otherwise as the old one was."""
        o = self.order
        return OrderRequest(o.instrument_id, o.side, "limit", self.remainder, self.price,
                            time_in_force=o.time_in_force, reduce_only=o.reduce_only,
                            client_order_id=amended_client_id(o.client_order_id))

    def to_json(self) -> dict[str, str]:
        return {"client_order_id": self.order.client_order_id,
                "price": str(self.order.price), "amount": str(self.order.amount),
                "new_price": str(self.price), "new_amount": str(self.amount)}


def plan_amend(order: Order | None, client_order_id: str, price: Decimal | None,
               amount: Decimal | None) -> Amend:
    """The amend of ``order`` to ``price`` / ``amount`` (None keeps it), or why not."""
    if order is None:
        raise TradingError(f"no open order {client_order_id}", ErrorKind.NOT_FOUND)
    if not order.is_open:
        raise TradingError(f"order {client_order_id} is already {order.status}",
                           ErrorKind.NOT_OPEN)
    if order.type != "limit" or order.price is None:
        raise TradingError(f"only limit orders can be amended (this is a {order.type} order): "
                           "cancel it and place a new one", ErrorKind.INVALID_ORDER)
    new_price = order.price if price is None else price
    new_amount = order.amount if amount is None else amount
    if new_price == order.price and new_amount == order.amount:
        raise TradingError("nothing to change: the price and amount are the order's own",
                           ErrorKind.INVALID_ORDER)
    if new_amount <= order.filled:
        raise ValidationFailed([FieldError(
            "amount", f"amount {fmt(new_amount)} must be above what already filled "
                      f"({fmt(order.filled)}); to stop the rest, cancel the order")])
    return Amend(order, new_price, new_amount)


def freed_balances(balances: list[Balance], order: Order, rules: MarketRules,
                   leverage: int = 1) -> list[Balance]:
    """``balances`` with what ``order`` holds counted as available again (the amend
    releases it before the replacement needs it)."""
    price = order.price or Decimal(0)
    if rules.is_perp:
        asset, held = rules.quote, order.remaining * price / max(leverage, 1)
    elif order.side == "buy":
        asset, held = rules.quote, order.remaining * price
    else:
        asset, held = rules.base, order.remaining
    out = [Balance(b.asset, b.total, b.available + held) if b.asset == asset else b
           for b in balances]
    if not any(b.asset == asset for b in balances):
        out.append(Balance(asset, held, held))
    return out


__all__ = ["Amend", "freed_balances", "plan_amend"]
