"""Trading domain values: order requests, orders, fills, positions, balances.

Quantities, prices and balances are ``Decimal`` end to end (DESIGN.md): a float that
prints as 0.1 is not 0.1, and an order amount off by one ulp is an order the venue
rejects. Everything handed to the UI is frozen, so a view can cross threads safely.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

# Environment is defined with the account table (app.accounts) and read here beside the
# order types, as it always was
from app.accounts import Environment as Environment  # noqa: F401 (re-exported)

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]  # "stop" = stop-loss, executes as market
TimeInForce = Literal["GTC", "PO"]  # PO = post-only (maker or cancelled)
MarginMode = Literal["cross", "isolated"]
Liquidity = Literal["maker", "taker"]
OrderStatus = Literal["pending", "open", "partially_filled", "filled", "canceled", "rejected",
                      "unknown"]

ZERO = Decimal(0)
OPEN_STATUSES = ("pending", "open", "partially_filled")


def new_client_order_id() -> str:
    """A client order id every venue accepts: 26 lowercase alphanumerics.

    (Binance <= 36 of [.A-Za-z0-9:/_-], OKX <= 32 alphanumerics, Bybit <= 36.)"""
    return "ct" + secrets.token_hex(12)


def amended_client_id(client_order_id: str) -> str:
    """The client id of the order that replaces ``client_order_id`` (an amend done as cancel
    + replace): the root id with ``r<n>`` counting the replacements, so the lineage of every
    order reads from its id (``ct…`` -> ``ct…r1`` -> ``ct…r2``) and stays within every
    venue's limit (26 + 4 characters, alphanumeric)."""
    root, sep, n = client_order_id.rpartition("r")
    if sep and n.isdigit() and root.startswith("ct") and len(root) == 26:
        return f"{root}r{int(n) + 1}"
    return f"{client_order_id[:26]}r1"


def dec(value: object) -> Decimal:
    """A Decimal from a float/str/int the way a person reads it (0.1 -> Decimal('0.1'))."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the user asked for, before validation. ``amount`` is in base units."""

    instrument_id: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None  # limit price
    stop_price: Decimal | None = None  # stop-loss trigger (on the last trade)
    time_in_force: TimeInForce = "GTC"
    reduce_only: bool = False
    leverage: int | None = None  # perps only
    margin_mode: MarginMode | None = None  # perps only
    client_order_id: str = field(default_factory=new_client_order_id)

    def to_json(self) -> dict[str, Any]:
        return {"instrument_id": self.instrument_id, "side": self.side, "type": self.type,
                "amount": str(self.amount),
                "price": None if self.price is None else str(self.price),
                "stop_price": None if self.stop_price is None else str(self.stop_price),
                "time_in_force": self.time_in_force, "reduce_only": self.reduce_only,
                "leverage": self.leverage, "margin_mode": self.margin_mode,
                "client_order_id": self.client_order_id}


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    instrument_id: str
    symbol: str  # ccxt unified, e.g. BTC/USDT:USDT
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    status: OrderStatus
    created_ts: int
    updated_ts: int
    filled: Decimal = ZERO
    average: Decimal | None = None
    fee: Decimal = ZERO
    fee_asset: str | None = None
    time_in_force: TimeInForce = "GTC"
    reduce_only: bool = False
    venue_order_id: str | None = None
    message: str | None = None  # why it was rejected / cancelled, in plain words

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    def evolve(self, **changes: Any) -> Order:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {"client_order_id": self.client_order_id, "instrument_id": self.instrument_id,
                "symbol": self.symbol, "side": self.side, "type": self.type,
                "amount": str(self.amount), "price": _s(self.price),
                "stop_price": _s(self.stop_price), "status": self.status,
                "created_ts": self.created_ts, "updated_ts": self.updated_ts,
                "filled": str(self.filled), "average": _s(self.average), "fee": str(self.fee),
                "fee_asset": self.fee_asset, "time_in_force": self.time_in_force,
                "reduce_only": self.reduce_only, "venue_order_id": self.venue_order_id,
                "message": self.message}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Order:
        return cls(d["client_order_id"], d["instrument_id"], d["symbol"], d["side"], d["type"],
                   Decimal(d["amount"]), _d(d.get("price")), _d(d.get("stop_price")),
                   d["status"], int(d["created_ts"]), int(d["updated_ts"]),
                   Decimal(d.get("filled") or "0"), _d(d.get("average")),
                   Decimal(d.get("fee") or "0"), d.get("fee_asset"),
                   d.get("time_in_force") or "GTC", bool(d.get("reduce_only")),
                   d.get("venue_order_id"), d.get("message"))


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    client_order_id: str
    instrument_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts: int

    def to_json(self) -> dict[str, Any]:
        return {"fill_id": self.fill_id, "client_order_id": self.client_order_id,
                "instrument_id": self.instrument_id, "symbol": self.symbol, "side": self.side,
                "price": str(self.price), "amount": str(self.amount), "fee": str(self.fee),
                "fee_asset": self.fee_asset, "liquidity": self.liquidity, "ts": self.ts}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Fill:
        return cls(d["fill_id"], d["client_order_id"], d["instrument_id"], d["symbol"], d["side"],
                   Decimal(d["price"]), Decimal(d["amount"]), Decimal(d["fee"]), d["fee_asset"],
                   d["liquidity"], int(d["ts"]))


@dataclass(frozen=True, slots=True)
class Position:
    instrument_id: str
    symbol: str
    size: Decimal  # signed base units: > 0 long, < 0 short
    entry_price: Decimal
    leverage: int
    margin_mode: MarginMode
    margin: Decimal  # initial margin held for it
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    funding_paid: Decimal = ZERO  # > 0 paid, < 0 received
    liquidation_price: Decimal | None = None

    @property
    def side(self) -> Literal["long", "short"]:
        return "long" if self.size > 0 else "short"


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    total: Decimal
    available: Decimal

    @property
    def locked(self) -> Decimal:
        return self.total - self.available


@dataclass(frozen=True, slots=True)
class FieldError:
    """A validation failure, shown next to the order-entry field it names."""

    field: str  # "price", "amount", "stop_price", "leverage", "margin_mode", "reduce_only", "type"
    message: str


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _d(value: str | None) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)
