"""CcxtAccount: a venue's testnet/demo (or, when allowed, live) account through ccxt.

One async ccxt instance per account, created on the engine loop and closed with it.
Endpoint overrides from the config replace the host of every API URL ccxt would call for
that environment, so tests (and proxies) point real ccxt, with real signing, elsewhere.

Never a double submit: every order carries a client order id. When the venue does not
answer in time the order may or may not exist, so before any retry the account asks the
venue for that client id; it resubmits (same id) only when the venue says it has no such
order, and reports "unknown" rather than guess when it cannot find out.

It implements ``app.trading.account.Account``: ``refresh`` polls the venue into a snapshot
that the synchronous reads answer from, and remembers the final state of orders that left
the open list so the service can tell a fill from a venue-side cancel. ``place`` /
``cancel`` / ``open_orders`` / ``balances`` ... are the plain venue calls underneath.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from ccxt.base import errors as cx

from app.market.events import MarketEvent
from app.market.instruments import MarketType, canonical_id
from app.trading.account import AccountSnapshot, AuditAction, AuditFn, BookFn, MarketEffect, PriceFn
from app.accounts import AccountSpec
from app.trading.errors import ErrorKind, TradingError, ValidationFailed
from app.trading.keys import Credentials
from app.trading.models import (OPEN_STATUSES, ZERO, Balance, Environment, FieldError, Fill, Order,
                                OrderRequest, OrderStatus, OrderType, Position, dec)
from app.trading.redact import redact, scrub
from app.trading.amend import freed_balances, plan_amend
from app.trading.private import binance as binance_private
from app.trading.private import bybit as bybit_private
from app.trading.private import okx as okx_private
from app.trading.private.stream import PrivateStream, Session, StreamSettings
from app.trading.private.updates import BalancePush, FillPush, OrderPush, PositionPush, Push
from app.trading.validation import AccountContext, MarketRules, validate
from app.venues import registry

log = logging.getLogger(__name__)

RECONCILE_ATTEMPTS = 3
# ms per unit of request weight, where a venue descriptor says ccxt's default is wrong
# (ccxt's binance 50 models the old 1200/min limit and makes an order wait seconds
# behind a balance poll).
RATE_LIMIT_MS = {key: h.rate_limit_ms for key, h in registry.HOSTS.items()
                 if h.rate_limit_ms is not None}
MAX_FINALS = 200  # closed orders remembered (so a late push cannot reopen one)
MAX_FILLS_KEPT = 500
# the private stream's path on an overridden host, and its URL per environment
PRIVATE_WS: dict[str, tuple[str, dict[str, str]]] = {
    "binance": (binance_private.SPOT_WS_PATH, binance_private.SPOT_WS_API),
    "binanceusdm": ("", binance_private.USDM_WS),
    "okx": (okx_private.WS_PATH, okx_private.PRIVATE_WS),
    "bybit": (bybit_private.WS_PATH, bybit_private.PRIVATE_WS),
}
# past this many symbols traded here, one sweep of all open orders is the cheaper call
MAX_SYMBOLS_PER_POLL = 5
STATUSES: dict[str, OrderStatus] = {"open": "open", "closed": "filled", "canceled": "canceled",
                                    "cancelled": "canceled", "expired": "canceled",
                                    "rejected": "rejected"}

# one order's audit rows: (action, request, response)
Audit3 = Callable[[AuditAction, dict[str, Any], "dict[str, Any] | None"], None]


def plain_error(exc: Exception, venue: str, env: Environment) -> TradingError:
    """A ccxt exception in words a user can act on (and with no secret in it)."""
    detail = _venue_message(str(exc))
    where = f"{venue} {env.value}"
    if isinstance(exc, cx.InsufficientFunds) or "insufficient" in detail.lower():
        return TradingError(f"insufficient funds on {where}: {detail}",
                            ErrorKind.INSUFFICIENT_FUNDS)
    if isinstance(exc, cx.OrderNotFound):
        return TradingError(f"{where} has no such order (already filled or cancelled?)",
                            ErrorKind.NOT_FOUND)
    if isinstance(exc, cx.AuthenticationError):
        return TradingError(f"{where} refused the API key: check key, secret (and passphrase), that "
                            f"they were made for {env.value}, and their trading permission",
                            ErrorKind.AUTH)
    if isinstance(exc, (cx.RateLimitExceeded, cx.DDoSProtection)):
        return TradingError(f"{where} is rate limiting us: wait a few seconds and try again",
                            ErrorKind.RATE_LIMIT)
    if isinstance(exc, cx.OnMaintenance):
        return TradingError(f"{where} is under maintenance: try again later", ErrorKind.UNAVAILABLE)
    if isinstance(exc, cx.RequestTimeout):
        return TradingError(f"{where} did not answer in time", ErrorKind.TIMEOUT)
    if isinstance(exc, (cx.ExchangeNotAvailable, cx.NetworkError)):
        return TradingError(f"{where} is unreachable or down: {detail}", ErrorKind.UNAVAILABLE)
    if isinstance(exc, (cx.InvalidOrder, cx.BadRequest, cx.BadSymbol, cx.OperationRejected)):
        return TradingError(f"{where} rejected the order: {detail}", ErrorKind.INVALID_ORDER)
    if isinstance(exc, cx.NotSupported):
        return TradingError(f"{where} does not support this: {detail}", ErrorKind.NOT_SUPPORTED)
    return TradingError(f"{where} error: {detail}", ErrorKind.ERROR)


def _venue_message(text: str) -> str:
    """The venue's own message out of ccxt's "binance {json body}" text, redacted."""
    text = redact(text)
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
            for key in ("msg", "retMsg", "message", "sMsg"):
                if isinstance(body, dict) and body.get(key):
                    return str(body[key])
            data = body.get("data") if isinstance(body, dict) else None
            if isinstance(data, list) and data and isinstance(data[0], dict) and data[0].get("sMsg"):
                return str(data[0]["sMsg"])
        except ValueError:
            pass
    # drop the leading exchange id ccxt puts first
    return re.sub(r"^[a-z]+ ", "", text).strip()[:300] or "no details"


def override_urls(exchange: Any, default_rest: str, rest_url: str) -> None:
    """Send every ccxt API URL on ``default_rest``'s host to ``rest_url`` (same paths)."""
    if rest_url.rstrip("/") == default_rest.rstrip("/"):
        return
    default_host = urlsplit(default_rest).netloc
    target = rest_url.rstrip("/")
    hostname = getattr(exchange, "hostname", None) or ""

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("http"):
            resolved = value.replace("{hostname}", hostname)
            parts = urlsplit(resolved)
            if parts.netloc == default_host:
                return target + resolved[len(f"{parts.scheme}://{parts.netloc}"):]
        return value

    exchange.urls["api"] = swap(exchange.urls["api"])


class CcxtAccount:
    """Orders, balances, positions and fills of one venue account, through async ccxt.

    ``book`` and ``last_price`` (the market data the UI shows) give validation its
    reference prices; without them orders are checked without one."""

    remote = True

    def __init__(self, spec: AccountSpec, credentials: Credentials, *, rest_url: str | None = None,
                 timeout_ms: int = 10_000,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000),
                 reconcile_delay: float = 0.5, rate_limit: bool = True,
                 book: BookFn | None = None, last_price: PriceFn | None = None,
                 private_url: str | None = None,
                 stream_settings: StreamSettings | None = None) -> None:
        self.spec = spec
        self.env = spec.env
        self.venue = spec.venue
        self.name = spec.name
        self.label = f"{spec.env.label} · {spec.title}"
        self.clock = clock
        self.reconcile_delay = reconcile_delay
        self._credentials = credentials
        self._rest_url = rest_url or spec.default_rest
        self._timeout_ms = timeout_ms
        self._rate_limit = rate_limit
        self.exchange: Any = None
        self._book = book
        self._last_price = last_price
        self._markets_by_id: dict[str, dict[str, Any]] = {}  # canonical instrument id -> market
        self._perp_settings: dict[str, tuple[int | None, str | None]] = {}
        self.symbols_used: set[str] = set()
        self._client_ids: dict[str, str] = {}  # venue order id -> our client id (for fills)
        # what the last refresh saw (and what this session did since)
        self._orders: list[Order] = []
        self._finals: list[Order] = []  # final states of orders that left the open list
        self._balances: list[Balance] = []
        self._positions: list[Position] = []
        self._fills: list[Fill] = []
        self._private_url = private_url
        self._stream_settings = stream_settings
        self.stream: PrivateStream | None = None
        self._stream_problem: Callable[[str | None], None] = lambda text: None

    # -- lifecycle ----------------------------------------------------------------------

    def _make_exchange(self) -> Any:
        creds = self._credentials
        config: dict[str, Any] = {
            "apiKey": str(creds.api_key), "secret": str(creds.secret),
            "enableRateLimit": self._rate_limit, "timeout": self._timeout_ms,
            "options": {"warnOnFetchOpenOrdersWithoutSymbol": False,
                        "fetchMarkets": {"types": self._market_types()}},
        }
        if self.spec.venue in RATE_LIMIT_MS:
            config["rateLimit"] = RATE_LIMIT_MS[self.spec.venue]
        if creds.passphrase:
            config["password"] = str(creds.passphrase)
        exchange = getattr(ccxt_async, self.spec.venue)(config)
        if self.env is Environment.TESTNET:
            exchange.set_sandbox_mode(True)
        elif self.env is Environment.DEMO:
            if registry.HOSTS[self.spec.venue].demo_is_sandbox:
                exchange.set_sandbox_mode(True)  # OKX demo = same host + x-simulated-trading: 1
            else:
                exchange.enable_demo_trading(True)
        override_urls(exchange, self.spec.default_rest, self._rest_url)
        return exchange

    def _market_types(self) -> list[str]:
        return [f.ccxt_type for _, _, f in registry.markets_of(self.spec.venue)]

    async def start(self) -> None:
        self.exchange = self._make_exchange()
        try:
            markets = await self.exchange.load_markets()
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        self._markets_by_id = {}
        for m in markets.values():
            iid = self._instrument_id(m)
            if iid is not None:
                self._markets_by_id[iid] = m

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        if self.exchange is not None:
            await self.exchange.close()
            self.exchange = None

    # -- the Account protocol ------------------------------------------------------------

    def state(self) -> None:
        return None  # the venue keeps it

    async def refresh(self, *, orders: bool = True, fills: bool = False,
                      sweep: bool = True) -> None:
        if orders:
            before = self._orders
            used = set(self.symbols_used)
            looked: set[str] | None = None
            if sweep or not used or len(used) > MAX_SYMBOLS_PER_POLL:
                self._orders = await self.open_orders()
            else:
                # other symbols keep what the last sweep saw
                fresh = await self.open_orders(used)
                self._orders = [o for o in before if o.symbol not in used] + fresh
                looked = used
            # an order a push closed meanwhile stays closed (the REST answer may be older)
            closed = {o.client_order_id for o in self._finals}
            self._orders = [o for o in self._orders if o.client_order_id not in closed]
            for final in await self._final_states(before, self._orders, looked):
                self._remember_final(final)
        self._balances = await self.balances()
        self._positions = await self.positions()
        if fills or not self._fills:
            self._fills = await self.fills()

    async def _final_states(self, before: list[Order], after: list[Order],
                            looked: set[str] | None) -> list[Order]:
        """What became of the orders that left the open list (of the symbols looked at):
        filled, or cancelled / rejected by the venue."""
        still = {o.client_order_id for o in after}
        gone = [o for o in before if o.client_order_id not in still
                and (looked is None or o.symbol in looked)]
        final = []
        for o in gone:
            try:
                found = await self.fetch_order(o)
            except TradingError as exc:
                log.warning("trading: final state of %s unknown: %s", o.client_order_id, exc)
                found = None
            final.append(found if found is not None else o.evolve(
                status="canceled", message="no longer open on the venue (final state unknown)"))
        return final

    def fee_rates(self, rules: MarketRules) -> tuple[Decimal, Decimal]:
        m = (self.exchange.markets.get(rules.symbol) if self.exchange is not None else None) or {}
        return dec(m.get("maker") or "0.001"), dec(m.get("taker") or "0.001")

    def leverage(self, instrument_id: str) -> int | None:
        pos = next((p for p in self._positions if p.instrument_id == instrument_id), None)
        return pos.leverage if pos is not None else self.leverage_set(instrument_id)

    def snapshot(self) -> AccountSnapshot:
        return AccountSnapshot(tuple(sorted(self._orders, key=lambda o: o.created_ts)),
                               tuple(self._positions), tuple(self._balances), tuple(self._fills))

    def orders_seen(self) -> list[Order]:
        return [*self._orders, *self._finals]

    async def submit(self, req: OrderRequest, audit: AuditFn) -> Order:
        top = self._book(req.instrument_id) if self._book is not None else None
        ref = None
        if top is not None:
            levels = top[1] if req.side == "buy" else top[0]
            ref = dec(levels[0][0]) if levels else None
        last = self._last_price(req.instrument_id) if self._last_price is not None else None
        rules, errors = self.check(req, self._balances, self._positions, ref, last)
        if errors:
            raise ValidationFailed(errors)
        order = await self.place(req, rules, _for_order(audit, req.client_order_id))
        pushed = self._known(order.client_order_id)
        if pushed is not None:
            return pushed  # the private stream told us more, and later, than the answer did
        if order.status == "unknown" and order.venue_order_id:
            order = order.evolve(status="pending")  # taken (it has an id), state not said
        self._orders = [o for o in self._orders if o.client_order_id != order.client_order_id]
        if order.is_open:
            self._orders.append(order)
        return order

    def _known(self, client_order_id: str) -> Order | None:
        """The order as a push left it, if one came."""
        return next((o for o in (*self._orders, *self._finals)
                     if o.client_order_id == client_order_id), None)

    async def cancel_order(self, client_order_id: str, audit: AuditFn) -> Order:
        order = next((o for o in self._orders if o.client_order_id == client_order_id), None)
        if order is None:
            raise TradingError(f"no open order {client_order_id}", ErrorKind.NOT_FOUND)
        result = await self.cancel(order, _for_order(audit, client_order_id))
        self._orders = [o for o in self._orders if o.client_order_id != client_order_id]
        return result

    async def cancel_all(self, instrument_id: str | None, audit: AuditFn) -> list[Order]:
        targets = [o for o in self._orders
                   if instrument_id is None or o.instrument_id == instrument_id]
        audit("cancel_all", None, {"instrument_id": instrument_id,
                                   "orders": [o.client_order_id for o in targets]}, None)
        out: list[Order] = []
        problems: list[str] = []
        for o in targets:  # one by one: each its own request, its own answer, its own row
            try:
                out.append(await self.cancel_order(o.client_order_id, audit))
            except TradingError as exc:
                problems.append(str(exc))
        if problems:
            raise TradingError(f"cancelled {len(out)}; failed {len(problems)}: {problems[0]}")
        return out

    async def amend_order(self, client_order_id: str, price: Decimal | None,
                          amount: Decimal | None, audit: AuditFn) -> Order:
        """The venue's own amend: OKX amend-order, Bybit /v5/order/amend, Binance USD-M
        PUT order keep the order (and its client id); Binance spot's cancelReplace cancels
        it and places the remainder under the lineage's next client id, atomically on the
        venue (STOP_ON_FAILURE: no new order when the cancel fails)."""
        order = next((o for o in self._orders if o.client_order_id == client_order_id), None)
        plan = plan_amend(order, client_order_id, price, amount)
        old = plan.order
        rules = self.rules(old.instrument_id)
        if rules is None:
            raise TradingError(f"{self.spec.title} does not list this instrument",
                               ErrorKind.INVALID_ORDER)
        req = plan.replacement()
        top = self._book(req.instrument_id) if self._book is not None else None
        ref = None
        if top is not None:
            levels = top[1] if req.side == "buy" else top[0]
            ref = dec(levels[0][0]) if levels else None
        last = self._last_price(req.instrument_id) if self._last_price is not None else None
        balances = freed_balances(self._balances, old, rules,
                                  self.leverage(old.instrument_id) or 1)
        _, errors = self.check(req, balances, self._positions, ref, last)
        if errors:
            raise ValidationFailed(errors)
        replace = self.venue == "binance"
        params: dict[str, Any] = {}
        amount_sent = plan.amount
        if replace:
            params["clientOrderId"] = req.client_order_id
            amount_sent = plan.remainder
            if not old.venue_order_id:
                params["cancelOrigClientOrderId"] = old.client_order_id
        request = {"client_order_id": old.client_order_id, "symbol": old.symbol,
                   "price": str(plan.price), "amount": str(plan.amount),
                   "sent_amount": str(amount_sent), "params": params,
                   "replaced_by": req.client_order_id if replace else None}
        write = _for_order(audit, client_order_id)
        try:
            raw = await self.exchange.edit_order(
                old.venue_order_id, old.symbol, "limit", old.side,
                float(amount_sent / rules.contract_size), float(plan.price), params)
        except Exception as exc:
            write("amend_failed", request, {"error": redact(str(exc))})
            raise plain_error(exc, self.venue, self.env) from None
        write("amend", request, scrub(raw.get("info") or raw))
        now = self.clock()
        self._orders = [o for o in self._orders if o.client_order_id != client_order_id]
        if replace:
            result = self._order(raw, req)
            self._remember_final(old.evolve(
                status="canceled", updated_ts=now,
                message=f"amended: replaced by {req.client_order_id}"))
        else:
            result = old.evolve(price=plan.price, amount=plan.amount, updated_ts=now)
        if result.is_open:
            self._orders.append(result)
        return result

    def _remember_final(self, order: Order) -> None:
        self._finals = [o for o in self._finals if o.client_order_id != order.client_order_id]
        self._finals.append(order)
        del self._finals[:-MAX_FINALS]

    # -- the private stream -----------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """Pushes are flowing: polling can slow down to a reconciliation."""
        return self.stream is not None and self.stream.connected

    def private_url(self) -> str:
        """Where the private stream connects: the configured URL; else, when REST goes to
        an overridden host (a proxy, the local fakes), that host with the venue's path;
        else the venue's own for the environment."""
        if self._private_url:
            return self._private_url
        env = self.env.value
        paths = PRIVATE_WS[self.venue]
        if self._rest_url.rstrip("/") != self.spec.default_rest.rstrip("/"):
            parts = urlsplit(self._rest_url)
            scheme = "wss" if parts.scheme == "https" else "ws"
            return f"{scheme}://{parts.netloc}{paths[0]}"
        return paths[1][env]

    def _session(self) -> Session | None:
        creds = self._credentials
        name = f"{self.venue} {self.env.value} private stream"
        url = self.private_url()
        if self.venue == "binance":
            return binance_private.BinanceSpotSession(url, str(creds.api_key), str(creds.secret),
                                                      name=name, clock=self.clock)
        if self.venue == "binanceusdm":
            return binance_private.BinanceUsdmSession(url, self.exchange, name=name)
        if self.venue == "okx":
            return okx_private.OkxSession(url, str(creds.api_key), str(creds.secret),
                                          str(creds.passphrase or ""), name=name, clock=self.clock)
        if self.venue == "bybit":
            return bybit_private.BybitSession(url, str(creds.api_key), str(creds.secret),
                                              name=name, clock=self.clock)
        return None

    def start_stream(self, on_change: Callable[[], None],
                     on_connected: Callable[[], Awaitable[None]],
                     on_problem: Callable[[str | None], None]) -> bool:
        """Follow the account's pushes from now on; False when the venue has no stream here.
        ``on_change`` after pushes changed the snapshot; ``on_connected`` after every
        (re)login, to reconcile; ``on_problem`` with plain words (None: fine again)."""
        session = self._session()
        if session is None:
            return False

        def pushed(batch: list[Push]) -> None:
            if self.apply(batch):
                on_change()

        self.stream = PrivateStream(session, pushed, on_connected, on_problem,
                                    self._stream_settings)
        self.stream.start()
        return True

    def apply(self, pushes: list[Push]) -> bool:
        """Bring the snapshot up to date with pushes; True when anything shown changed."""
        changed = False
        for p in pushes:
            if isinstance(p, OrderPush):
                changed |= self._apply_order(p)
            elif isinstance(p, FillPush):
                changed |= self._apply_fill(p)
            elif isinstance(p, BalancePush):
                changed |= self._apply_balances(p)
            elif isinstance(p, PositionPush):
                changed |= self._apply_position(p)
        return changed

    def _market_of(self, venue_symbol: str, hint: str) -> dict[str, Any] | None:
        found = (self.exchange.markets_by_id or {}).get(venue_symbol) if self.exchange else None
        for m in found or ():
            if (hint == "spot" and m.get("spot")) or (hint == "perp" and m.get("swap")):
                return dict(m)
        return None

    def _apply_order(self, p: OrderPush) -> bool:
        m = self._market_of(p.venue_symbol, p.market)
        if m is None:
            return False
        contract = dec(m.get("contractSize") or 1) if m.get("contract") else Decimal(1)
        cid = p.client_order_id or self._client_ids.get(p.venue_order_id) or p.venue_order_id
        self._client_ids[p.venue_order_id] = cid
        before = next((o for o in self._orders if o.client_order_id == cid), None) or \
            next((o for o in self._finals if o.client_order_id == cid), None)
        status = p.status
        filled = p.filled * contract
        if status == "open" and filled > 0:
            status = "partially_filled"
        if before is not None and not before.is_open and status in OPEN_STATUSES:
            return False  # a late push of a state the order already left
        kind: OrderType = "market" if p.kind == "market" else (
            "stop" if "stop" in p.kind else "limit")
        fee = p.fee if p.fee is not None else (before.fee if before is not None else ZERO)
        order = Order(cid, self._instrument_id(m) or m["symbol"], m["symbol"], p.side,
                      before.type if before is not None else kind, p.amount * contract,
                      p.price if p.price is not None else (before.price if before else None),
                      before.stop_price if before is not None else None, status,
                      before.created_ts if before is not None else (p.ts or self.clock()),
                      p.ts or self.clock(), filled,
                      p.average if p.average is not None else (before.average if before else None),
                      fee, p.fee_asset or (before.fee_asset if before else None),
                      before.time_in_force if before is not None else "GTC",
                      before.reduce_only if before is not None else False, p.venue_order_id,
                      p.message if status in ("rejected", "canceled") else None)
        if before is not None and before.message and order.message is None:
            order = order.evolve(message=before.message)
        if before == order:
            return False
        self._orders = [o for o in self._orders if o.client_order_id != cid]
        if order.is_open:
            self._orders.append(order)
        else:
            self._remember_final(order)
        self.symbols_used.add(m["symbol"])
        return True

    def _apply_fill(self, p: FillPush) -> bool:
        if any(f.fill_id == p.fill_id for f in self._fills):
            return False
        m = self._market_of(p.venue_symbol, p.market)
        if m is None:
            return False
        contract = dec(m.get("contractSize") or 1) if m.get("contract") else Decimal(1)
        cid = p.client_order_id or self._client_ids.get(p.venue_order_id, p.venue_order_id)
        self._fills.insert(0, Fill(p.fill_id, cid, self._instrument_id(m) or m["symbol"],
                                   m["symbol"], p.side, p.price, p.amount * contract, p.fee,
                                   p.fee_asset or m["quote"], p.liquidity, p.ts))
        del self._fills[MAX_FILLS_KEPT:]
        return True

    def _apply_balances(self, p: BalancePush) -> bool:
        rows = {asset: Balance(asset, total, free) for asset, total, free in p.rows}
        if p.complete:
            merged = rows
        else:
            merged = {b.asset: b for b in self._balances}
            merged.update(rows)
        fresh = sorted((b for b in merged.values() if b.total),
                       key=lambda b: (b.asset != "USDT", b.asset))
        if fresh == self._balances:
            return False
        self._balances = fresh
        return True

    def _apply_position(self, p: PositionPush) -> bool:
        m = self._market_of(p.venue_symbol, "perp")
        if m is None:
            return False
        iid = self._instrument_id(m) or m["symbol"]
        contract = dec(m.get("contractSize") or 1)
        before = next((x for x in self._positions if x.instrument_id == iid), None)
        rest = [x for x in self._positions if x.instrument_id != iid]
        if not p.size:
            changed = before is not None
            self._positions = rest
            return changed
        pos = Position(iid, m["symbol"], p.size * contract, p.entry_price,
                       p.leverage or (before.leverage if before else
                                      self.leverage_set(iid) or 1), p.margin_mode,
                       p.margin, p.mark_price if p.mark_price is not None else
                       (before.mark_price if before else None), p.unrealized_pnl,
                       before.realized_pnl if before else ZERO,
                       before.funding_paid if before else ZERO,
                       p.liquidation_price if p.liquidation_price is not None else
                       (before.liquidation_price if before else None))
        self._positions = [*rest, pos]
        return pos != before

    def on_market(self, ev: MarketEvent) -> MarketEffect:
        return None  # the venue matches its orders itself

    def run_triggered(self, client_order_id: str) -> Order | None:
        return None

    # -- markets ------------------------------------------------------------------------

    def _instrument_id(self, m: dict[str, Any]) -> str | None:
        market: MarketType
        if m.get("spot"):
            market = "spot"
        elif m.get("swap") and m.get("linear"):
            market = "perp"
        else:
            return None
        if market not in self.spec.markets:
            return None
        return canonical_id(self.spec.data_venue, market, m["base"], m["quote"])

    def market_for(self, instrument_id: str) -> dict[str, Any] | None:
        """The ccxt market of the same base/quote/type (instrument ids of any data venue)."""
        m = self._markets_by_id.get(instrument_id)
        if m is not None:
            return m
        # the chart may show another venue's data: match on market type + pair
        prefix, _, rest = instrument_id.partition("_")
        _, _, pair = rest.partition("_")
        for iid, m in self._markets_by_id.items():
            if iid.startswith(prefix + "_") and iid.endswith("_" + pair):
                return m
        return None

    def rules(self, instrument_id: str) -> MarketRules | None:
        m = self.market_for(instrument_id)
        if m is None:
            return None
        contract = dec(m.get("contractSize") or 1) if m.get("contract") else Decimal(1)
        precision = m.get("precision") or {}
        limits = m.get("limits") or {}
        tick = dec(precision.get("price") or "0.00000001")
        lot = dec(precision.get("amount") or "0.00000001") * contract
        min_amount = dec((limits.get("amount") or {}).get("min") or 0) * contract or lot
        min_cost = dec((limits.get("cost") or {}).get("min") or 0)
        max_lev = int((limits.get("leverage") or {}).get("max") or (125 if m.get("swap") else 1))
        market: MarketType = "perp" if m.get("swap") else "spot"
        return MarketRules(instrument_id, m["symbol"], market, m["base"], m["quote"], tick, lot,
                           min_amount, min_cost, max_lev, contract)

    # -- reading ------------------------------------------------------------------------

    async def balances(self) -> list[Balance]:
        try:
            raw = await self.exchange.fetch_balance()
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        out = []
        for asset, total in (raw.get("total") or {}).items():
            if total:
                free = (raw.get("free") or {}).get(asset)
                out.append(Balance(asset, dec(total), dec(free if free is not None else total)))
        out.sort(key=lambda b: (b.asset != "USDT", b.asset))
        return out

    async def open_orders(self, symbols: Collection[str] | None = None) -> list[Order]:
        """Open orders of every symbol, or only of ``symbols`` — far cheaper against the
        venue's rate limits for a few symbols (Binance weighs a call without a symbol 80
        on spot and 40 on USD-M, one with a symbol 6 and 1)."""
        try:
            if symbols is None and self.venue == "bybit":
                # one category per call: without a symbol Bybit lists only the one asked for
                raw = []
                for kind, extra in (("spot", {}), ("swap", {"subType": "linear"})):
                    if ("spot" if kind == "spot" else "perp") in self.spec.markets:
                        raw += await self.exchange.fetch_open_orders(None, None, None,
                                                                     {"type": kind, **extra})
            elif symbols is None:
                raw = await self.exchange.fetch_open_orders()
            else:
                raw = []
                for symbol in sorted(symbols):
                    raw += await self.exchange.fetch_open_orders(symbol)
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        return [self._order(o) for o in raw]

    async def positions(self) -> list[Position]:
        if "perp" not in self.spec.markets or not self.exchange.has.get("fetchPositions"):
            return []
        try:
            raw = await self.exchange.fetch_positions()
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        out = []
        for p in raw:
            contracts = p.get("contracts") or 0
            if not contracts:
                continue
            m = self.exchange.market(p["symbol"])
            iid = self._instrument_id(m) or p["symbol"]
            size = dec(contracts) * dec(p.get("contractSize") or 1)
            if p.get("side") == "short":
                size = -size
            out.append(Position(iid, p["symbol"], size, dec(p.get("entryPrice") or 0),
                                int(p.get("leverage") or 1), p.get("marginMode") or "cross",
                                dec(p.get("initialMargin") or 0),
                                dec(p["markPrice"]) if p.get("markPrice") else None,
                                dec(p.get("unrealizedPnl") or 0), ZERO, ZERO,
                                dec(p["liquidationPrice"]) if p.get("liquidationPrice") else None))
        return out

    async def fills(self, since: int | None = None) -> list[Fill]:
        out: list[Fill] = []
        for symbol in sorted(self.symbols_used):
            try:
                raw = await self.exchange.fetch_my_trades(symbol, since)
            except Exception as exc:
                raise plain_error(exc, self.venue, self.env) from None
            for t in raw:
                m = self.exchange.market(t["symbol"])
                fee = t.get("fee") or {}
                order_id = str(t.get("order"))
                out.append(Fill(str(t.get("id")), str(t.get("clientOrderId")
                                                      or self._client_ids.get(order_id, order_id)),
                                self._instrument_id(m) or t["symbol"], t["symbol"], t["side"],
                                dec(t["price"]), dec(t["amount"]) * dec(m.get("contractSize") or 1),
                                dec(fee.get("cost") or 0), fee.get("currency") or m["quote"],
                                "maker" if t.get("takerOrMaker") == "maker" else "taker",
                                int(t.get("timestamp") or 0)))
        out.sort(key=lambda f: f.ts, reverse=True)
        return out

    # -- validation ----------------------------------------------------------------------

    def check(self, req: OrderRequest, balances: list[Balance], positions: list[Position],
              reference_price: Decimal | None, last_price: Decimal | None
              ) -> tuple[MarketRules, list[FieldError]]:
        rules = self.rules(req.instrument_id)
        if rules is None:
            raise TradingError(f"{self.spec.title} does not list this instrument",
                               ErrorKind.INVALID_ORDER)
        free = {b.asset: b.available for b in balances}
        pos = next((p for p in positions if p.symbol == rules.symbol), None)
        fees = self.exchange.markets[rules.symbol] if self.exchange else {}
        ctx = AccountContext(
            available_quote=free.get(rules.quote, ZERO), available_base=free.get(rules.base, ZERO),
            position_size=pos.size if pos else ZERO,
            position_margin_mode=pos.margin_mode if pos else None,
            reference_price=reference_price, last_price=last_price,
            taker_fee=dec(fees.get("taker") or "0.001"), maker_fee=dec(fees.get("maker") or "0.001"),
            leverage=pos.leverage if pos else 1)
        return rules, validate(req, rules, ctx)

    # -- orders ---------------------------------------------------------------------------

    def _create_args(self, req: OrderRequest,
                     rules: MarketRules) -> tuple[list[Any], dict[str, Any]]:
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        amount = float(req.amount / rules.contract_size)  # ccxt sizes perps in contracts
        price = None
        kind = req.type
        if req.type == "limit":
            price = float(req.price)  # type: ignore[arg-type]  # validation gives every limit order a price
            if req.time_in_force == "PO":
                params["postOnly"] = True
        elif req.type == "stop":
            kind = "market"
            params["stopLossPrice"] = float(req.stop_price)  # type: ignore[arg-type]  # validation gives every stop order a trigger
        if req.reduce_only:
            params["reduceOnly"] = True
        return [rules.symbol, kind, req.side, amount, price], params

    async def _apply_perp_settings(self, req: OrderRequest, rules: MarketRules) -> None:
        if not rules.is_perp or (req.leverage is None and req.margin_mode is None):
            return
        wanted = (req.leverage, req.margin_mode)
        if self._perp_settings.get(rules.symbol) == wanted:
            return
        try:
            if req.margin_mode is not None:
                try:
                    await self.exchange.set_margin_mode(req.margin_mode, rules.symbol,
                                                        {"leverage": req.leverage or 1})
                except cx.MarginModeAlreadySet:
                    pass
            if req.leverage is not None:
                params = {"marginMode": req.margin_mode} if req.margin_mode else {}
                await self.exchange.set_leverage(req.leverage, rules.symbol, params)
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        self._perp_settings[rules.symbol] = wanted

    async def place(self, req: OrderRequest, rules: MarketRules,
                    audit: Audit3 = lambda *a: None) -> Order:
        """Send a validated order; on an ambiguous failure reconcile by client id first."""
        await self._apply_perp_settings(req, rules)
        args, params = self._create_args(req, rules)
        self.symbols_used.add(rules.symbol)
        request = {"symbol": args[0], "type": args[1], "side": args[2], "amount": args[3],
                   "price": args[4], "params": params}
        for attempt in range(2):
            try:
                raw = await self.exchange.create_order(*args, params)
                order = self._order(raw, req)
                audit("place", request, scrub(raw.get("info") or raw))
                return order
            except (cx.RequestTimeout, cx.ExchangeNotAvailable, cx.NetworkError) as exc:
                if isinstance(exc, (cx.RateLimitExceeded, cx.DDoSProtection)):
                    # refused before processing: nothing was created
                    audit("place_failed", request, {"error": redact(str(exc))})
                    raise plain_error(exc, self.venue, self.env) from None
                audit("place_timeout", request, {"error": redact(str(exc)), "attempt": attempt})
                found = await self._reconcile(req, rules, audit)
                if found is not None:
                    return found
                # the venue says it has no such order: sending it again (same id) is safe
            except Exception as exc:
                audit("place_failed", request, {"error": redact(str(exc))})
                raise plain_error(exc, self.venue, self.env) from None
        raise TradingError(f"{self.venue} {self.env.value} did not take the order after two tries "
                           "(nothing was placed)", ErrorKind.UNAVAILABLE)

    async def _reconcile(self, req: OrderRequest, rules: MarketRules,
                         audit: Audit3) -> Order | None:
        """Ask the venue for the order by client id. An Order when it exists, None when the
        venue says it does not; TradingError ("unknown") when the venue cannot tell us."""
        params: dict[str, Any] = {"clientOrderId": req.client_order_id}
        if req.type == "stop":
            params["trigger"] = True
        for attempt in range(RECONCILE_ATTEMPTS):
            await asyncio.sleep(self.reconcile_delay * (attempt + 1))
            try:
                raw = await self.exchange.fetch_order(None, rules.symbol, params)
            except cx.OrderNotFound:
                audit("reconcile", {"client_order_id": req.client_order_id}, {"found": False})
                return None
            except cx.InvalidOrder as exc:  # some venues say "not found" with other codes
                if "not exist" in str(exc).lower() or "unknown order" in str(exc).lower():
                    audit("reconcile", {"client_order_id": req.client_order_id}, {"found": False})
                    return None
                raise plain_error(exc, self.venue, self.env) from None
            except (cx.NetworkError, cx.ExchangeNotAvailable):
                continue
            audit("reconcile", {"client_order_id": req.client_order_id},
                  {"found": True, "order": scrub(raw.get("info") or raw)})
            return self._order(raw, req)
        raise TradingError(f"{self.venue} {self.env.value} did not answer: the order may or may not "
                           "exist; it was NOT sent again. Check open orders before retrying.",
                           ErrorKind.UNKNOWN)

    async def fetch_order(self, order: Order) -> Order | None:
        """The venue's current state of ``order`` (to tell a fill from a venue-side cancel
        once it leaves the open list); None when the venue no longer knows it."""
        params: dict[str, Any] = {}
        if order.type == "stop":
            params["trigger"] = True
        if not order.venue_order_id:
            params["clientOrderId"] = order.client_order_id
        if self.venue == "bybit":
            params["acknowledged"] = True  # ccxt's note: only the last 500 orders; ours are
        try:
            raw = await self.exchange.fetch_order(order.venue_order_id, order.symbol, params)
        except cx.OrderNotFound:
            return None
        except Exception as exc:
            raise plain_error(exc, self.venue, self.env) from None
        found = self._order(raw)
        if found.instrument_id != order.instrument_id or not found.client_order_id:
            found = found.evolve(instrument_id=order.instrument_id,
                                 client_order_id=order.client_order_id)
        return found

    def leverage_set(self, instrument_id: str) -> int | None:
        """The leverage this session set on the instrument, if it did (None: the venue's own)."""
        rules = self.rules(instrument_id)
        if rules is None:
            return None
        return (self._perp_settings.get(rules.symbol) or (None, None))[0]

    async def cancel(self, order: Order, audit: Audit3 = lambda *a: None) -> Order:
        request = {"client_order_id": order.client_order_id, "symbol": order.symbol}
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.type == "stop":
            params["trigger"] = True
        try:
            raw = await self.exchange.cancel_order(order.venue_order_id, order.symbol, params)
        except Exception as exc:
            audit("cancel_failed", request, {"error": redact(str(exc))})
            raise plain_error(exc, self.venue, self.env) from None
        audit("cancel", request, scrub(raw.get("info") or raw))
        result = self._order(raw)
        if result.status in ("open", "pending", "partially_filled", "unknown"):
            result = result.evolve(status="canceled")
        return result

    def _order(self, raw: dict[str, Any], req: OrderRequest | None = None) -> Order:
        symbol: str = raw.get("symbol") or ""
        if not symbol and req is not None:
            rules = self.rules(req.instrument_id)
            symbol = rules.symbol if rules is not None else ""
        m: dict[str, Any] = self.exchange.market(symbol) if symbol else {}
        contract = dec(m.get("contractSize") or 1) if m.get("contract") else Decimal(1)
        iid = (req.instrument_id if req else None) or self._instrument_id(m) or symbol
        status = STATUSES.get(raw.get("status") or "", "unknown")
        filled = dec(raw.get("filled") or 0) * contract
        if status == "open" and filled > 0:
            status = "partially_filled"
        kind: OrderType
        if req is not None:
            kind = req.type
        elif raw.get("stopPrice") or raw.get("triggerPrice"):
            kind = "stop"
        else:
            venue_type = str(raw.get("type") or "limit")
            kind = "market" if venue_type == "market" else (
                "stop" if "stop" in venue_type else "limit")
        amount = dec(raw["amount"]) * contract if raw.get("amount") is not None else \
            (req.amount if req else ZERO)
        fee = raw.get("fee") or {}
        now = self.clock()
        cid = raw.get("clientOrderId") or (req.client_order_id if req else None)
        if cid and raw.get("id"):
            self._client_ids[str(raw["id"])] = str(cid)
        return Order(
            client_order_id=str(raw.get("clientOrderId") or (req.client_order_id if req else raw.get("id"))),
            instrument_id=iid, symbol=symbol, side=raw.get("side") or (req.side if req else "buy"),
            type=kind, amount=amount,
            price=dec(raw["price"]) if raw.get("price") else (req.price if req else None),
            stop_price=dec(raw["triggerPrice"]) if raw.get("triggerPrice") else
            (req.stop_price if req else None),
            status=status, created_ts=int(raw.get("timestamp") or now), updated_ts=now,
            filled=filled, average=dec(raw["average"]) if raw.get("average") else None,
            fee=dec(fee.get("cost") or 0), fee_asset=fee.get("currency"),
            time_in_force="PO" if raw.get("postOnly") else "GTC",
            reduce_only=bool(raw.get("reduceOnly")), venue_order_id=str(raw.get("id") or "") or None)


def _for_order(audit: AuditFn, client_order_id: str) -> Audit3:
    """The service's audit, bound to one order (the venue calls log per order)."""

    def write(action: AuditAction, request: dict[str, Any],
              response: dict[str, Any] | None) -> None:
        audit(action, client_order_id, request, response)

    return write


__all__ = ["CcxtAccount", "override_urls", "plain_error"]
