"""What a private stream reports, venue-neutral but still in the venue's own symbols and
units (contracts for OKX swaps): the account maps them onto its markets.

Quantities and prices are Decimal, parsed from the venue's strings, never via float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias

from app.trading.models import Liquidity, MarginMode, OrderStatus, Side

MarketHint = Literal["spot", "perp"]


@dataclass(frozen=True, slots=True)
class OrderPush:
    """An order's state as the venue now has it."""

    venue_symbol: str  # "BTCUSDT", "BTC-USDT-SWAP"
    market: MarketHint
    venue_order_id: str
    client_order_id: str
    side: Side
    kind: str  # the venue's order type, lowercase: "limit", "market", "stop_loss" ...
    status: OrderStatus
    amount: Decimal  # venue units
    price: Decimal | None
    filled: Decimal  # cumulative, venue units
    average: Decimal | None
    fee: Decimal | None  # cumulative, > 0 paid; None: the venue does not say (fills sum it)
    fee_asset: str | None
    ts: int
    message: str | None = None
    # the client id this order replaced (Binance cancelReplace / amend lineage), if any
    replaces: str | None = None


@dataclass(frozen=True, slots=True)
class FillPush:
    venue_symbol: str
    market: MarketHint
    fill_id: str
    venue_order_id: str
    client_order_id: str
    side: Side
    price: Decimal
    amount: Decimal  # venue units
    fee: Decimal  # > 0 paid
    fee_asset: str
    liquidity: Liquidity
    ts: int


@dataclass(frozen=True, slots=True)
class BalancePush:
    """(asset, total, available) rows; ``complete``: every asset the account holds (a
    missing one is zero), else only the assets that changed."""

    rows: tuple[tuple[str, Decimal, Decimal], ...]
    complete: bool = False


@dataclass(frozen=True, slots=True)
class PositionPush:
    venue_symbol: str
    size: Decimal  # signed, venue units: > 0 long
    entry_price: Decimal
    leverage: int
    margin_mode: MarginMode
    margin: Decimal
    mark_price: Decimal | None
    unrealized_pnl: Decimal
    liquidation_price: Decimal | None


Push: TypeAlias = OrderPush | FillPush | BalancePush | PositionPush


def d(value: object, default: str = "0") -> Decimal:
    """A Decimal from a venue string ("" and None are ``default``)."""
    if value is None or value == "":
        return Decimal(default)
    return Decimal(str(value))


def d_or_none(value: object) -> Decimal | None:
    """None for a venue's empty / zero placeholder ("", "0", "0.00000")."""
    if value is None or value == "":
        return None
    out = Decimal(str(value))
    return out if out else None


__all__ = ["BalancePush", "FillPush", "MarketHint", "OrderPush", "PositionPush", "Push", "d",
           "d_or_none"]
