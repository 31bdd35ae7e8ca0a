"""PaperAccount: a local account that fills against the market it is shown.

Rules, chosen to be conservative (a paper result should not flatter the user):
- market orders walk the visible book level by level (VWAP fill, slippage reported) and
  pay the taker fee; what the book cannot fill is cancelled, never invented;
- limit orders rest and fill only when a trade prints *through* their price (a print at
  the price may have been someone ahead in the queue), at their price, paying the maker
  fee; a limit that crosses the book on arrival takes liquidity like a market order up
  to its price (post-only ones are refused instead);
- stop-losses trigger on the last trade price and then execute as market orders;
- perpetuals: leverage and margin mode per instrument, one net position each, unrealized
  PnL at the mark price, funding paid or received when a funding time passes, isolated
  positions liquidated when their margin is gone.

Pure state: no I/O, no threads, no wall clock (``clock`` is injected). It runs on the
engine loop only; ``to_state`` / ``load_state`` let the service persist it.

``place`` / ``cancel`` are its synchronous core (tests and benchmarks drive it directly);
``submit`` / ``cancel_order`` / ``cancel_all`` and the rest of the ``Account`` protocol
wrap it for the service, which treats it like any venue's account.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.market.events import Funding, MarketEvent, Trade
from app.trading.account import AccountSnapshot, AuditFn, BookFn, MarketEffect, RulesFn
from app.trading.errors import ErrorKind, TradingError, ValidationFailed
from app.trading.fill_model import PaperFees as PaperFees  # re-exported: its old home
from app.trading.fill_model import PerpPosition as _Pos
from app.trading.fill_model import apply_fill, apply_funding, limit_through, stop_hit
from app.trading.models import (ZERO, Balance, Environment, FieldError, Fill, Liquidity,
                                MarginMode, Order, OrderRequest, Position, Side, dec)
from app.trading.validation import AccountContext, MarketRules, validate
from app.trading.amend import plan_amend

MAINTENANCE_MARGIN = Decimal("0.005")  # 0.5 % of notional, Binance's first tier for BTC
MAX_CLOSED_ORDERS = 200
MAX_FILLS = 500
DEFAULT_BALANCES = {"USDT": Decimal(10_000)}


@dataclass(slots=True)
class _Settings:
    leverage: int = 10
    mode: MarginMode = "cross"


@dataclass(slots=True)
class _FundingClock:
    rate: Decimal | None = None
    next_time: int | None = None


class PaperAccount:
    """A local account (implements ``app.trading.account.Account``)."""

    env = Environment.PAPER
    venue = "paper"
    label = "PAPER"
    remote = False

    def __init__(self, rules: RulesFn, book: BookFn, *, name: str = "paper",
                 balances: dict[str, Decimal] | None = None, fees: PaperFees | None = None,
                 default_leverage: int = 10,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.name = name
        self.rules = rules
        self.book = book
        self.fees = fees or PaperFees()
        self.clock = clock
        self.default_leverage = default_leverage
        self.wallet: dict[str, Decimal] = dict(balances or DEFAULT_BALANCES)
        self.orders: dict[str, Order] = {}  # every order still remembered, by client id
        self.resting: dict[str, dict[str, Order]] = {}  # instrument -> open orders by client id
        self.positions: dict[str, _Pos] = {}
        self.settings: dict[str, _Settings] = {}
        self.marks: dict[str, Decimal] = {}
        self.last: dict[str, Decimal] = {}  # last trade of instruments with orders/positions
        self.last_raw: dict[str, float] = {}  # last trade of every other instrument (cheap)
        self.funding: dict[str, _FundingClock] = {}
        self.fills: deque[Fill] = deque(maxlen=MAX_FILLS)
        self._fill_seq = 0
        self.version = 0  # bumps on every change (views and persistence skip equal versions)

    # -- the Account protocol ----------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release (the service keeps the state)."""

    async def refresh(self, *, orders: bool = True, fills: bool = False,
                      sweep: bool = True) -> None:
        """Always current: every change happens here."""

    def state(self) -> dict[str, Any]:
        return self.to_state()

    def fee_rates(self, rules: MarketRules) -> tuple[Decimal, Decimal]:
        return self.fees.rate(rules, "maker"), self.fees.rate(rules, "taker")

    def leverage(self, instrument_id: str) -> int:
        settings = self.settings.get(instrument_id)
        return settings.leverage if settings else self.default_leverage

    def snapshot(self) -> AccountSnapshot:
        return AccountSnapshot(tuple(self.open_orders()), tuple(self.position_views()),
                               tuple(self.balance_views()), tuple(self.fills))

    def orders_seen(self) -> Collection[Order]:
        return self.orders.values()

    async def submit(self, req: OrderRequest, audit: AuditFn) -> Order:
        order = self.place(req)
        audit("place", req.client_order_id, req.to_json(), order.to_json())
        return order

    async def cancel_order(self, client_order_id: str, audit: AuditFn) -> Order:
        order = self.cancel(client_order_id)
        audit("cancel", client_order_id, None, order.to_json())
        return order

    async def amend_order(self, client_order_id: str, price: Decimal | None,
                          amount: Decimal | None, audit: AuditFn) -> Order:
        """Cancel + replace: the paper book has no amend of its own, and a replaced order
        losing its queue place is what the venues do on a price change anyway."""
        plan = plan_amend(self.orders.get(client_order_id), client_order_id, price, amount)
        req = plan.replacement()
        old = plan.order
        self._unrest(old)  # its reservation is free for the check, as the amend frees it
        try:
            _, errors = self.check(req)
        finally:
            self._rest(old)
        if errors:
            raise ValidationFailed(errors)
        cancelled = self.cancel(client_order_id)
        audit("cancel", client_order_id, {"amend": plan.to_json()}, cancelled.to_json())
        order = self.place(req)
        audit("place", req.client_order_id, {**req.to_json(), "replaces": client_order_id},
              order.to_json())
        return order

    async def cancel_all(self, instrument_id: str | None, audit: AuditFn) -> list[Order]:
        targets = [o for o in self.open_orders()
                   if instrument_id is None or o.instrument_id == instrument_id]
        orders = [self.cancel(o.client_order_id) for o in targets]  # cannot fail: all open
        audit("cancel_all", None, {"instrument_id": instrument_id},
              {"canceled": [o.client_order_id for o in orders]})
        return orders

    def on_market(self, ev: MarketEvent) -> MarketEffect:
        if type(ev) is Trade:
            if ev.id not in self.resting and ev.id not in self.positions:
                self.last_raw[ev.id] = ev.price  # a float store; Decimal only when needed
                return None
            return tuple(self.on_trade(ev))
        if type(ev) is Funding:
            had = ev.id in self.positions
            self.on_funding(ev)
            return () if had else None
        return None

    def run_triggered(self, client_order_id: str) -> Order | None:
        return self.execute_stop(client_order_id)

    # -- reading ---------------------------------------------------------------------

    def last_price(self, instrument_id: str) -> Decimal | None:
        last = self.last.get(instrument_id)
        if last is None and instrument_id in self.last_raw:
            last = dec(self.last_raw[instrument_id])
        return last

    def interested(self, instrument_id: str) -> bool:
        """Whether market events of this instrument can change the account (cheap)."""
        return instrument_id in self.resting or instrument_id in self.positions

    def open_orders(self) -> list[Order]:
        return sorted((o for book in self.resting.values() for o in book.values()),
                      key=lambda o: o.created_ts)

    def all_orders(self) -> list[Order]:
        return sorted(self.orders.values(), key=lambda o: o.created_ts)

    def settings_for(self, instrument_id: str) -> _Settings:
        s = self.settings.get(instrument_id)
        if s is None:
            s = self.settings[instrument_id] = _Settings(self.default_leverage)
        return s

    def position_views(self) -> list[Position]:
        out = []
        for iid, p in self.positions.items():
            if p.size == 0:
                continue
            rules = self.rules(iid)
            mark = self.marks.get(iid) or self.last_price(iid)
            upnl = (mark - p.entry) * p.size if mark is not None else ZERO
            out.append(Position(iid, rules.symbol if rules else iid, p.size, p.entry, p.leverage,
                                p.mode, p.margin, mark, upnl, p.realized, p.funding_paid,
                                self._liquidation_price(p)))
        return out

    def balance_views(self) -> list[Balance]:
        assets = sorted(set(self.wallet), key=lambda a: (a != "USDT", a))
        return [Balance(a, self.wallet.get(a, ZERO), self.available(a)) for a in assets
                if self.wallet.get(a, ZERO) != 0 or a == "USDT"]

    def available(self, asset: str) -> Decimal:
        total = self.wallet.get(asset, ZERO) - self._reserved(asset)
        for iid, p in self.positions.items():
            rules = self.rules(iid)
            if p.size == 0 or rules is None or rules.quote != asset:
                continue
            total -= p.margin
            if p.mode == "cross":
                mark = self.marks.get(iid) or self.last_price(iid)
                if mark is not None:
                    total += min(ZERO, (mark - p.entry) * p.size)  # losses eat cross margin
        return total

    def _reserved(self, asset: str) -> Decimal:
        reserved = ZERO
        for iid, book in self.resting.items():
            rules = self.rules(iid)
            if rules is None:
                continue
            for o in book.values():
                reserved += self._reservation(o, rules, asset)
        return reserved

    def _reservation(self, o: Order, rules: MarketRules, asset: str) -> Decimal:
        price = o.price if o.type == "limit" else o.stop_price
        if price is None:
            return ZERO
        rem = o.remaining
        if rules.is_perp:
            if o.reduce_only or asset != rules.quote:
                return ZERO
            lev = self.settings_for(o.instrument_id).leverage
            return price * rem / lev + price * rem * self.fees.rate(rules, "maker")
        if o.side == "buy" and asset == rules.quote:
            return price * rem * (1 + self.fees.rate(rules, "maker"))
        if o.side == "sell" and asset == rules.base:
            return rem
        return ZERO

    def context(self, req: OrderRequest, rules: MarketRules) -> AccountContext:
        top = self.book(req.instrument_id)
        ref = None
        if top is not None:
            bids, asks = top
            levels = asks if req.side == "buy" else bids
            if levels:
                ref = dec(levels[0][0])
        pos = self.positions.get(req.instrument_id)
        settings = self.settings_for(req.instrument_id)
        return AccountContext(
            available_quote=self.available(rules.quote),
            available_base=self.available(rules.base) if not rules.is_perp else ZERO,
            position_size=pos.size if pos else ZERO,
            position_margin_mode=pos.mode if pos and pos.size != 0 else None,
            reference_price=ref, last_price=self.last_price(req.instrument_id),
            taker_fee=self.fees.rate(rules, "taker"), maker_fee=self.fees.rate(rules, "maker"),
            leverage=settings.leverage)

    # -- orders ----------------------------------------------------------------------

    def check(self, req: OrderRequest) -> tuple[MarketRules, list[FieldError]]:
        rules = self.rules(req.instrument_id)
        if rules is None:
            raise TradingError(f"unknown instrument {req.instrument_id}", ErrorKind.INVALID_ORDER)
        return rules, validate(req, rules, self.context(req, rules))

    def place(self, req: OrderRequest) -> Order:
        """Validate and execute (or rest) an order. Raises ValidationFailed, sending nothing."""
        if req.client_order_id in self.orders:
            return self.orders[req.client_order_id]  # a repeat of the same intent: no double
        rules, errors = self.check(req)
        if errors:
            raise ValidationFailed(errors)
        if rules.is_perp:
            settings = self.settings_for(req.instrument_id)
            if req.leverage is not None:
                settings.leverage = req.leverage
            if req.margin_mode is not None:
                settings.mode = req.margin_mode
        now = self.clock()
        order = Order(req.client_order_id, req.instrument_id, rules.symbol, req.side, req.type,
                      req.amount, req.price, req.stop_price, "open", now, now,
                      time_in_force=req.time_in_force, reduce_only=req.reduce_only,
                      venue_order_id=f"paper-{len(self.orders) + 1}")
        self.orders[order.client_order_id] = order
        if req.type == "market":
            order = self._take(order, rules, limit=None, ts=now)
        elif req.type == "limit":
            order = self._take(order, rules, limit=req.price, ts=now, rest=True)
        else:
            self._rest(order)
        self.version += 1
        return order

    def cancel(self, client_order_id: str) -> Order:
        order = self.orders.get(client_order_id)
        if order is None:
            raise TradingError(f"no order {client_order_id}", ErrorKind.NOT_FOUND)
        if not order.is_open:
            raise TradingError(f"order {client_order_id} is already {order.status}",
                               ErrorKind.NOT_OPEN)
        book = self.resting.get(order.instrument_id, {})
        book.pop(client_order_id, None)
        if not book:
            self.resting.pop(order.instrument_id, None)
        order = self._store(order.evolve(status="canceled", updated_ts=self.clock()))
        self.version += 1
        return order

    def find(self, client_order_id: str) -> Order | None:
        return self.orders.get(client_order_id)

    # -- market events (engine thread) ----------------------------------------------------

    def on_trade(self, trade: Trade) -> list[str]:
        """Fill resting limits the trade printed through; returns client ids of stops that
        triggered (the caller executes them with :meth:`execute_stop` outside the hub lock,
        because walking the book needs it)."""
        price = dec(trade.price)
        self.last[trade.id] = price
        book = self.resting.get(trade.id)
        triggered: list[str] = []
        if book:
            rules = self.rules(trade.id)
            for order in list(book.values()):
                limit, stop = order.price, order.stop_price
                if order.type == "limit" and limit is not None:
                    if limit_through(order.side, limit, price) and rules is not None:
                        self._fill(order, rules, limit, order.remaining, "maker", trade.ts)
                elif order.type == "stop" and stop is not None:
                    if stop_hit(order.side, stop, price):
                        triggered.append(order.client_order_id)
        if trade.id in self.positions:
            self._check_liquidation(trade.id, trade.ts)
            self.version += 1  # unrealized PnL moved
        return triggered

    def execute_stop(self, client_order_id: str) -> Order | None:
        order = self.orders.get(client_order_id)
        if order is None or not order.is_open or order.type != "stop":
            return None
        rules = self.rules(order.instrument_id)
        if rules is None:
            return None
        self._unrest(order)
        order = self._take(order, rules, limit=None, ts=self.clock())
        self.version += 1
        return order

    def on_funding(self, ev: Funding) -> None:
        if ev.mark_price is not None:
            self.marks[ev.id] = dec(ev.mark_price)
        clock = self.funding.setdefault(ev.id, _FundingClock())
        pos = self.positions.get(ev.id)
        if clock.next_time is not None and ev.ts >= clock.next_time and clock.rate is not None:
            if pos is not None and pos.size != 0:
                rules = self.rules(ev.id)
                mark = self.marks.get(ev.id) or self.last_price(ev.id)
                if rules is not None and mark is not None:
                    apply_funding(self.wallet, pos, rules.quote, mark, clock.rate)
            clock.next_time = None
        if ev.rate is not None:
            clock.rate = dec(ev.rate)
        if ev.next_funding_time is not None and (clock.next_time is None
                                                 or ev.next_funding_time > clock.next_time):
            clock.next_time = ev.next_funding_time
        if pos is not None and pos.size != 0:
            self._check_liquidation(ev.id, ev.ts)
            self.version += 1

    # -- execution -------------------------------------------------------------------------

    def _take(self, order: Order, rules: MarketRules, limit: Decimal | None, ts: int,
              rest: bool = False) -> Order:
        """Walk the opposite side of the visible book (up to ``limit``); rest or cancel the rest."""
        top = self.book(order.instrument_id)
        levels = (top[1] if order.side == "buy" else top[0]) if top else []
        remaining = order.remaining
        if order.reduce_only:
            pos = self.positions.get(order.instrument_id)
            remaining = min(remaining, abs(pos.size) if pos else ZERO)
        best = dec(levels[0][0]) if levels else None
        spent = ZERO
        took = ZERO
        for p, q in levels:
            if remaining <= 0:
                break
            price = dec(p)
            if limit is not None and ((order.side == "buy" and price > limit)
                                      or (order.side == "sell" and price < limit)):
                break
            qty = min(remaining, dec(q))
            if qty <= 0:
                continue
            order = self._fill(order, rules, price, qty, "taker", ts)
            spent += price * qty
            took += qty
            remaining -= qty
        note = None
        if took and best is not None:
            vwap = spent / took
            slip = abs(vwap - best) / best * 10_000
            note = f"VWAP {_plain(vwap.quantize(rules.tick))}, slippage {slip:.1f} bps"
        if order.remaining > 0 and order.status != "filled":
            if rest and not order.reduce_only:
                order = self._store(order.evolve(message=note))
                self._rest(order)
                return order
            why = "no liquidity in the visible book" if not took else \
                f"book too thin: filled {_plain(took)} of {_plain(order.amount)}"
            status = "rejected" if not took else "canceled"
            order = self._store(order.evolve(status=status, updated_ts=ts,
                                             message=f"{why}" + (f"; {note}" if note else "")))
            self._unrest(order)
            return order
        return self._store(order.evolve(message=note)) if note else order

    def _fill(self, order: Order, rules: MarketRules, price: Decimal, qty: Decimal,
              liquidity: Liquidity, ts: int) -> Order:
        fee = price * qty * self.fees.rate(rules, liquidity)
        settings = self.settings_for(order.instrument_id)
        apply_fill(self.wallet, self.positions, rules, order.side, price, qty, fee,
                   settings.leverage, settings.mode)
        filled = order.filled + qty
        average = ((order.average or ZERO) * order.filled + price * qty) / filled
        status = "filled" if filled >= order.amount else "partially_filled"
        self._fill_seq += 1
        self.fills.appendleft(Fill(f"{order.client_order_id}-{self._fill_seq}", order.client_order_id,
                                   order.instrument_id, rules.symbol, order.side, price, qty, fee,
                                   rules.quote, liquidity, ts))
        order = self._store(order.evolve(filled=filled, average=average, fee=order.fee + fee,
                                         fee_asset=rules.quote, status=status, updated_ts=ts))
        if status == "filled":
            self._unrest(order)
        elif order.client_order_id in self.resting.get(order.instrument_id, {}):
            self.resting[order.instrument_id][order.client_order_id] = order
        self.version += 1
        return order

    def _liquidation_price(self, p: _Pos) -> Decimal | None:
        if p.size == 0 or p.mode != "isolated":
            return None
        # margin + (liq - entry) * size = mmr * liq * |size|
        size = p.size
        denom = size - MAINTENANCE_MARGIN * abs(size)
        if denom == 0:
            return None
        liq = (p.entry * size - p.margin) / denom
        return liq if liq > 0 else None

    def _check_liquidation(self, iid: str, ts: int) -> None:
        pos = self.positions.get(iid)
        if pos is None or pos.size == 0 or pos.mode != "isolated":
            return
        mark = self.marks.get(iid) or self.last_price(iid)
        if mark is None:
            return
        upnl = (mark - pos.entry) * pos.size
        if pos.margin + upnl > MAINTENANCE_MARGIN * mark * abs(pos.size):
            return
        rules = self.rules(iid)
        if rules is None:
            return
        # the isolated margin is lost; the position is gone
        self.wallet[rules.quote] = self.wallet.get(rules.quote, ZERO) - pos.margin
        pos.realized -= pos.margin
        now = ts
        cid = f"liq{now}"
        side: Side = "sell" if pos.size > 0 else "buy"
        self.fills.appendleft(Fill(f"{cid}-1", cid, iid, rules.symbol, side, mark,
                                   abs(pos.size), ZERO, rules.quote, "taker", now))
        pos.size = ZERO
        pos.entry = ZERO
        pos.margin = ZERO
        self.version += 1

    # -- bookkeeping --------------------------------------------------------------------

    def _rest(self, order: Order) -> None:
        if order.instrument_id not in self.last:
            last = self.last_price(order.instrument_id)
            if last is not None:
                self.last[order.instrument_id] = last
        self.resting.setdefault(order.instrument_id, {})[order.client_order_id] = order

    def _unrest(self, order: Order) -> None:
        book = self.resting.get(order.instrument_id)
        if book is not None:
            book.pop(order.client_order_id, None)
            if not book:
                del self.resting[order.instrument_id]

    def _store(self, order: Order) -> Order:
        self.orders[order.client_order_id] = order
        if order.client_order_id in self.resting.get(order.instrument_id, {}):
            self.resting[order.instrument_id][order.client_order_id] = order
        if len(self.orders) > MAX_CLOSED_ORDERS + 50:
            closed = [o for o in self.orders.values() if not o.is_open]
            closed.sort(key=lambda o: o.updated_ts)
            for old in closed[: len(self.orders) - MAX_CLOSED_ORDERS]:
                del self.orders[old.client_order_id]
        return order

    # -- persistence ----------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Everything needed to restore the account, JSON-able (Decimals as strings)."""
        return {
            "wallet": {a: str(v) for a, v in self.wallet.items()},
            "orders": [o.to_json() for o in self.orders.values()],
            "positions": {iid: {"size": str(p.size), "entry": str(p.entry), "margin": str(p.margin),
                                "leverage": p.leverage, "mode": p.mode,
                                "realized": str(p.realized), "funding_paid": str(p.funding_paid)}
                          for iid, p in self.positions.items()},
            "settings": {iid: {"leverage": s.leverage, "mode": s.mode}
                         for iid, s in self.settings.items()},
            "funding": {iid: {"rate": None if c.rate is None else str(c.rate),
                              "next_time": c.next_time} for iid, c in self.funding.items()},
            "marks": {iid: str(v) for iid, v in self.marks.items()},
            "fills": [f.to_json() for f in self.fills],
            "fill_seq": self._fill_seq,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.wallet = {a: Decimal(v) for a, v in state.get("wallet", {}).items()}
        self.orders = {}
        self.resting = {}
        for d in state.get("orders", []):
            order = Order.from_json(d)
            self.orders[order.client_order_id] = order
            if order.is_open:
                self._rest(order)
        self.positions = {iid: _Pos(Decimal(p["size"]), Decimal(p["entry"]), Decimal(p["margin"]),
                                    int(p["leverage"]), p["mode"], Decimal(p["realized"]),
                                    Decimal(p["funding_paid"]))
                          for iid, p in state.get("positions", {}).items()}
        self.settings = {iid: _Settings(int(s["leverage"]), s["mode"])
                         for iid, s in state.get("settings", {}).items()}
        self.funding = {iid: _FundingClock(None if c["rate"] is None else Decimal(c["rate"]),
                                           c["next_time"])
                        for iid, c in state.get("funding", {}).items()}
        self.marks = {iid: Decimal(v) for iid, v in state.get("marks", {}).items()}
        self.fills = deque((Fill.from_json(f) for f in state.get("fills", [])), maxlen=MAX_FILLS)
        self._fill_seq = int(state.get("fill_seq", len(self.fills)))
        self.version += 1


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


