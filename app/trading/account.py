"""The ``Account`` protocol: what the trading service needs from any account.

The paper account (``PaperAccount``) and a venue's testnet/demo/live account through ccxt
(``CcxtAccount``) both implement it, so ``TradingService`` runs every operation the same
way whichever one is trading. Two things really differ, and each is one attribute here
rather than a branch in every operation:

- ``remote``: the account's truth lives on a venue. The service polls it (``refresh``)
  and records what it reports; a local account changes only through us and the market
  (``on_market``), and its whole state is kept in our store (``state``).
- market driving: only a local account reacts to trades and funding (``on_market``,
  ``run_triggered``); a remote account ignores them.

Every method runs on the engine loop. Reads are synchronous and cheap (a remote account
answers from what its last ``refresh`` saw); anything that may talk to a venue is async.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeAlias

from app.market.events import Level, MarketEvent
from app.trading.models import Balance, Environment, Fill, Order, OrderRequest, Position
from app.trading.validation import MarketRules

# what the audit trail records, in the order an action goes: asked, checked, sent, answered
AuditAction = Literal[
    "submit", "validation_failed", "rejected", "place", "place_failed", "place_timeout",
    "reconcile", "cancel_request", "cancel", "cancel_failed", "cancel_rejected", "cancel_all",
    "fill", "stop_triggered", "switch_account", "risk_refused", "bracket",
    "amend_request", "amend", "amend_failed", "amend_rejected"]
# audit(action, client_order_id, request, response): one row of the audit trail
AuditFn = Callable[[AuditAction, str | None, Any, Any], None]
# the top of an instrument's book, (bids, asks) of (price, amount), best first
BookTop = tuple[Sequence[Level], Sequence[Level]]
BookFn = Callable[[str], BookTop | None]
RulesFn = Callable[[str], MarketRules | None]
PriceFn = Callable[[str], Decimal | None]
# what a market event did to a local account: None, nothing the view shows; else the view
# changed, and these stop orders triggered (see ``Account.on_market``)
MarketEffect: TypeAlias = tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account as last known: what the trading view shows."""

    open_orders: tuple[Order, ...] = ()  # oldest first
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()
    fills: tuple[Fill, ...] = ()  # newest first


class Account(Protocol):
    @property
    def name(self) -> str:
        """Where its records are kept: "paper", "paper-demo", "binance-testnet"."""

    @property
    def env(self) -> Environment: ...

    @property
    def venue(self) -> str:
        """"paper", or the ccxt id: "binance", "okx" ..."""

    @property
    def label(self) -> str:
        """What the header says: "PAPER", "TESTNET · Binance spot testnet"."""

    @property
    def remote(self) -> bool:
        """True when the venue holds the truth: polled with ``refresh``, never stored whole."""

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Ready to trade (a venue's markets loaded); TradingError in plain words if not."""

    async def close(self) -> None: ...

    async def refresh(self, *, orders: bool = True, fills: bool = False,
                      sweep: bool = True) -> None:
        """Bring the snapshot up to date with the venue (nothing to do for a local account).
        ``orders``: open orders too; ``fills``: recent fills too; ``sweep``: open orders of
        every symbol, not only those traded here (the expensive call)."""

    def state(self) -> dict[str, Any] | None:
        """Everything needed to restore the account next session, JSON-able; None when the
        venue keeps it."""

    # -- market rules and settings ---------------------------------------------------------

    def rules(self, instrument_id: str) -> MarketRules | None:
        """The market's tick, lot and limits; None when this account cannot trade it."""

    def fee_rates(self, rules: MarketRules) -> tuple[Decimal, Decimal]:
        """(maker, taker) fee rates, for estimates."""

    def leverage(self, instrument_id: str) -> int | None:
        """The leverage an order that sets none trades at; None when only the venue knows."""

    # -- reading ----------------------------------------------------------------------------

    def snapshot(self) -> AccountSnapshot: ...

    def orders_seen(self) -> Collection[Order]:
        """Every order whose current state the account knows: the open ones and those that
        closed lately (how the service tells a fill or a venue-side cancel)."""

    # -- orders -------------------------------------------------------------------------------

    async def submit(self, req: OrderRequest, audit: AuditFn) -> Order:
        """Validate against the market and the account, then place. ValidationFailed (nothing
        sent) or TradingError in plain words; a repeat of a client id places nothing new."""

    async def cancel_order(self, client_order_id: str, audit: AuditFn) -> Order: ...

    async def cancel_all(self, instrument_id: str | None, audit: AuditFn) -> list[Order]:
        """Cancel every open order (of one instrument). TradingError when any could not be,
        after trying them all."""

    async def amend_order(self, client_order_id: str, price: Decimal | None,
                          amount: Decimal | None, audit: AuditFn) -> Order:
        """Change an open limit order's price and/or amount (None: keep), checked like a new
        order first (ValidationFailed, nothing sent). Natively where the venue can; else
        cancel + replace under ``amended_client_id``. Returns the order as it now stands."""

    # -- the market (local accounts) -----------------------------------------------------------

    def on_market(self, ev: MarketEvent) -> MarketEffect:
        """React to a market event: engine thread, hub lock held, so O(1) unless it matters.
        None: nothing the view shows changed; else the view changed and these stop orders
        triggered (run each with ``run_triggered`` outside the hub lock: it walks the book)."""

    def run_triggered(self, client_order_id: str) -> Order | None:
        """Execute a stop that ``on_market`` reported triggered; None if it no longer applies."""


__all__ = ["Account", "AccountSnapshot", "AuditAction", "AuditFn", "BookFn", "BookTop", "MarketEffect", "PriceFn",
           "RulesFn"]
