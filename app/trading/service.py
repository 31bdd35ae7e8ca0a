"""TradingService: the trading runtime, living on the engine's loop.

It owns one account (paper by default, or a venue's testnet/demo through ccxt), drives
the paper account from the market hub (trades fill limits and trigger stops, funding
events move marks and pay funding), keeps the audit trail, and hands the UI an immutable
``TradingView`` it can read from any thread. UI calls (``place``, ``cancel`` ...) are
thread-safe: they schedule work on the engine loop and return a concurrent Future.

The hub listener runs with the hub lock held, so it only does O(1) work for instruments
the account has no interest in, and defers anything that must read the book (a
triggered stop walks it) to the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.market.events import Funding, MarketEvent, Trade
from app.trading.accounts import PAPER, SPECS, AccountSpec, cannot_trade
from app.trading.errors import TradingError, ValidationFailed
from app.trading.keys import KeyringUnavailable, KeyStore
from app.trading.models import (ZERO, Balance, Environment, FieldError, Fill, Order, OrderRequest,
                                Position, dec)
from app.trading.paper import PaperAccount, PaperFees
from app.trading.redact import redact
from app.trading.validation import AccountContext, MarketRules, fmt, validate

if TYPE_CHECKING:  # ccxt and SQLAlchemy load only when a session needs them (startup time)
    from app.trading.ccxt_account import CcxtAccount
    from app.trading.store import TradingStore

log = logging.getLogger(__name__)

PUBLISH_INTERVAL = 0.1  # s: views of PnL moving with every trade, at most 10 a second
PAPER_SAVE_INTERVAL = 1.0  # s: paper state persisted at most once a second (and on exit)
POLL_INTERVAL = 3.0  # s: venue accounts' orders/balances/positions
FILLS_POLL_EVERY = 4  # polls between my-trades fetches (rate limits)
# Open orders: the symbols traded here every poll, every symbol every 10th (~30 s), so
# orders placed elsewhere still appear; past a few symbols one sweep is the cheaper call.
SWEEP_ORDERS_EVERY = 10
MAX_SYMBOLS_PER_POLL = 5


NOTICES_KEPT = 50  # the UI shows the ones newer than the last it saw
MAX_SEEN = 500  # orders whose last announced state is remembered (pruned past 4x)


@dataclass(frozen=True, slots=True)
class OrderNotice:
    """Something happened to an order that the user did not just do themselves: a resting
    limit filled (or partly), a stop fired, the venue rejected or cancelled it."""

    seq: int  # increasing; the UI remembers the last one it showed
    kind: str  # "filled" | "partial" | "rejected" | "canceled"
    title: str  # "Order filled"
    text: str  # "BUY 0.01 BTC/USDT · binance spot @ 29000 (limit)"
    ts: int


@dataclass(frozen=True, slots=True)
class TradingView:
    """What the UI shows about the account, as of ``version``."""

    account: str  # "paper", "binance-testnet"
    env: Environment
    label: str  # "PAPER", "TESTNET · Binance spot testnet"
    venue: str
    ready: bool = False
    open_orders: tuple[Order, ...] = ()
    positions: tuple[Position, ...] = ()
    balances: tuple[Balance, ...] = ()
    fills: tuple[Fill, ...] = ()
    problem: str | None = None  # plain words: missing keys, venue down ...
    version: int = 0
    notices: tuple[OrderNotice, ...] = ()  # newest last

    @property
    def last_notice(self) -> int:
        return self.notices[-1].seq if self.notices else 0

    def balance(self, asset: str) -> Balance | None:
        return next((b for b in self.balances if b.asset == asset), None)

    def position(self, instrument_id: str) -> Position | None:
        return next((p for p in self.positions if p.instrument_id == instrument_id), None)


@dataclass(slots=True)
class TradingOptions:
    account: str = PAPER
    paper_balance: Decimal = Decimal(10_000)
    default_leverage: int = 10
    rest_url: str | None = None
    timeout_ms: int = 10_000
    fees: PaperFees = field(default_factory=PaperFees)
    allow_live: bool = False  # the config offers live accounts (the picker lists them)
    live_confirmed: bool = False  # the user typed the confirmation this session
    paper_name: str = PAPER  # where the paper account is stored ("paper-demo" on the simulator)
    price_warn_pct: Decimal = Decimal(5)  # confirm asks again past this distance from the mid
    bell: bool = False  # ring the terminal bell with fill / reject / cancel notices

    @classmethod
    def from_config(cls, cfg: Any) -> TradingOptions:
        t = cfg.trading
        return cls(t.account, dec(t.paper_balance), t.default_leverage, t.rest_url,
                   int(t.timeout_s * 1000), allow_live=t.allow_live,
                   price_warn_pct=dec(t.price_warn_pct), bell=t.bell)


class TradingService:
    def __init__(self, options: TradingOptions | None = None, *, keys: KeyStore | None = None,
                 store: TradingStore | None = None,
                 store_factory: Callable[[], TradingStore | None] | None = None, endpoint: Callable[[AccountSpec], str | None]
                 | None = None, clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.options = options or TradingOptions()
        self.keys = keys or KeyStore()
        self.store = store
        self._store_factory = store_factory
        self._endpoint = endpoint or (lambda spec: None)
        self.clock = clock
        self.engine: Any = None
        self.hub: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.paper: PaperAccount | None = None
        self.venue_account: CcxtAccount | None = None
        self._rules: dict[str, tuple[Any, MarketRules]] = {}  # id -> (instrument, rules)
        self._publish_pending = False
        self._save_pending = False
        self._saved_fill_ids: set[str] = set()
        self._last_orders: dict[str, Order] = {}
        self._poll_task: asyncio.Task | None = None
        self._venue_state: dict[str, Any] = {"orders": [], "balances": [], "positions": [],
                                             "fills": []}
        self._parked_paper: PaperAccount | None = None
        self.audit_log: deque[dict] = deque(maxlen=200)  # recent actions (also in the store)
        # what each order looked like when last announced (or done by the user): a change
        # from there that the user did not make is a notice
        self._seen: dict[str, tuple[str, Decimal]] = {}
        self._notices: deque[OrderNotice] = deque(maxlen=NOTICES_KEPT)
        self._notice_seq = 0
        spec = SPECS.get(self.options.account)
        self._spec = spec
        env = spec.env if spec else Environment.PAPER
        label = f"{env.label} · {spec.title}" if spec else "PAPER"
        self._view = TradingView(self.options.account, env, label, spec.venue if spec else "paper")

    # -- wiring --------------------------------------------------------------------------

    def bind(self, engine: Any) -> None:
        """Called by ``Engine.attach``: the hub to listen to and the loop to run on."""
        self.engine = engine
        self.hub = engine.hub

    async def astart(self) -> None:
        self.loop = asyncio.get_running_loop()
        if self.store is None and self._store_factory is not None:
            # opening the database (and importing SQLAlchemy) off the loop: feeds start meanwhile
            self.store = await asyncio.to_thread(self._store_factory)
        if self._spec is None:
            self._start_paper()
        else:
            await self._start_venue(self._spec)
        if self.hub is not None:
            self.hub.subscribe(self._on_event)
        self._publish()

    def _start_paper(self) -> None:
        opts = self.options
        self.paper = PaperAccount(self.rules, self._book, name=opts.paper_name,
                                  balances={"USDT": opts.paper_balance}, fees=opts.fees,
                                  default_leverage=opts.default_leverage, clock=self.clock)
        if self.store is not None:
            try:
                state = self.store.load_paper(opts.paper_name)
            except Exception as exc:
                state = None
                self._set_problem(f"could not load the paper account: {redact(str(exc))[:200]}")
            if state:
                self.paper.load_state(state)
                self._saved_fill_ids = {f.fill_id for f in self.paper.fills}
                self._last_orders = dict(self.paper.orders)
        self._mark_seen(self.paper.orders.values())  # history is not news

    async def _start_venue(self, spec: AccountSpec) -> None:
        if spec.env is Environment.LIVE and not self.options.live_confirmed:
            self._set_problem(f"{spec.name} trades real money and was not confirmed this session: "
                              "nothing will be sent")
            return
        try:
            creds = self.keys.load(spec.venue, spec.env.value)
        except KeyringUnavailable as exc:
            self._set_problem(str(exc))
            return
        if creds is None:
            self._set_problem(f"no API keys for {spec.venue} {spec.env.value}: add them with "
                              f"`cryptoterm keys set {spec.venue} --env {spec.env.value}` or the "
                              "Keys screen (k)")
            return
        from app.trading.ccxt_account import CcxtAccount

        account = CcxtAccount(spec, creds, rest_url=self.options.rest_url or self._endpoint(spec),
                              timeout_ms=self.options.timeout_ms, clock=self.clock)
        try:
            await account.start()
        except TradingError as exc:
            await account.close()
            self._set_problem(str(exc))
            return
        except asyncio.CancelledError:  # the app closed while markets were loading
            await account.close()
            raise
        self.venue_account = account
        try:  # the first picture of the account before the UI asks for it
            await self._refresh_venue()
        except TradingError as exc:
            self._set_problem(str(exc))
        self._poll_task = asyncio.get_running_loop().create_task(self._poll_venue())

    async def aclose(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
        if self.venue_account is not None:
            await self.venue_account.close()
        if self.paper is not None and self.store is not None:
            self._save_paper_now()
        if self.store is not None:
            self.store.flush()
            self.store.close()

    # -- thread-safe API for the UI --------------------------------------------------------

    def view(self) -> TradingView:
        return self._view  # immutable; replaced whole on the loop

    @property
    def env(self) -> Environment:
        return self._view.env

    def rules(self, instrument_id: str) -> MarketRules | None:
        if self.venue_account is not None:
            return self.venue_account.rules(instrument_id)
        cached = self._rules.get(instrument_id)
        if self.hub is None:
            return cached[1] if cached else None
        st = self.hub.state(instrument_id)  # a dict read; the instrument object is immutable
        if st is None:
            return cached[1] if cached else None
        inst = st.instrument
        if cached is None or cached[0] is not inst:
            # (re)built when the venue's metadata replaced the preliminary instrument
            cached = self._rules[instrument_id] = (inst, MarketRules.of(inst))
        return cached[1]

    def cannot_trade(self, instrument_id: str) -> str | None:
        """Why the chosen account cannot trade this instrument (another venue's market, or
        a market type the account lacks), or None when it can."""
        if self._spec is None:
            return None
        st = self.hub.state(instrument_id) if self.hub is not None else None
        if st is not None:
            inst = st.instrument
            return cannot_trade(self.options.account, inst.venue, inst.market, inst.symbol)
        kind, venue, _ = (instrument_id.split("_") + ["", ""])[:3]
        market = "perp" if kind == "cryptoperp" else "spot"
        return cannot_trade(self.options.account, venue, market, instrument_id)

    def refresh_rules(self, instrument_id: str) -> None:
        """Forget cached rules (the venue's real tick/lot replaced a preliminary guess)."""
        self._rules.pop(instrument_id, None)

    def fees(self, rules: MarketRules) -> tuple[Decimal, Decimal]:
        """(maker, taker) fee rates for estimates."""
        if self.venue_account is not None and self.venue_account.exchange is not None:
            m = self.venue_account.exchange.markets.get(rules.symbol) or {}
            return dec(m.get("maker") or "0.001"), dec(m.get("taker") or "0.001")
        return self.options.fees.rate(rules, "maker"), self.options.fees.rate(rules, "taker")

    def current_leverage(self, instrument_id: str) -> int | None:
        """The leverage an order that does not set one trades at, or None when only the
        venue knows (a venue account before any order here changed it)."""
        pos = self._view.position(instrument_id)
        if self.paper is not None:
            settings = self.paper.settings.get(instrument_id)
            return settings.leverage if settings else self.options.default_leverage
        if pos is not None:
            return pos.leverage
        if self.venue_account is not None:
            return self.venue_account.leverage_set(instrument_id)
        return None

    def instrument_label(self, instrument_id: str, symbol: str | None = None) -> str:
        """``BTC/USDT · binance spot``: what a user reads, never the canonical id."""
        st = self.hub.state(instrument_id) if self.hub is not None else None
        if st is not None:
            return st.instrument.label
        rules = self.rules(instrument_id)
        venue = self._spec.venue if self._spec else "paper"
        if rules is not None:
            return f"{rules.symbol} · {venue} {rules.market}"
        return f"{symbol or '?'} · {venue}"

    def preview(self, req: OrderRequest, best_bid: float | None, best_ask: float | None,
                last: float | None) -> tuple[MarketRules | None, list[FieldError]]:
        """Validation against the latest view, for the order form as the user types (the
        account validates again, authoritatively, before sending)."""
        rules = self.rules(req.instrument_id)
        if rules is None:
            return None, [FieldError("type", "this account does not trade this instrument")]
        view = self._view
        ref = best_ask if req.side == "buy" else best_bid
        pos = view.position(req.instrument_id)
        quote = view.balance(rules.quote)
        base = view.balance(rules.base)
        maker, taker = self.fees(rules)
        leverage = pos.leverage if pos else self.options.default_leverage
        if self.paper is not None and req.instrument_id in self.paper.settings:
            leverage = self.paper.settings[req.instrument_id].leverage
        ctx = AccountContext(
            available_quote=quote.available if quote else ZERO,
            available_base=base.available if base else ZERO,
            position_size=pos.size if pos else ZERO,
            position_margin_mode=pos.margin_mode if pos else None,
            reference_price=dec(ref) if ref is not None else None,
            last_price=dec(last) if last is not None else None,
            taker_fee=taker, maker_fee=maker, leverage=leverage)
        return rules, validate(req, rules, ctx)

    def place(self, req: OrderRequest) -> Future:
        return self._call(self._place(req))

    def cancel(self, client_order_id: str) -> Future:
        return self._call(self._cancel(client_order_id))

    def cancel_all(self, instrument_id: str | None = None) -> Future:
        return self._call(self._cancel_all(instrument_id))

    def switch_account(self, name: str) -> Future:
        """Send orders to another account from now on (paper state is kept)."""
        return self._call(self._switch(name))

    async def _switch(self, name: str) -> TradingView:
        if name == self.options.account:
            return self._view
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None
        if self.venue_account is not None:
            await self.venue_account.close()
            self.venue_account = None
        self._venue_state = {"orders": [], "balances": [], "positions": [], "fills": []}
        spec = SPECS.get(name)
        self.options.account = name
        self._spec = spec
        env = spec.env if spec else Environment.PAPER
        label = f"{env.label} · {spec.title}" if spec else "PAPER"
        self._view = TradingView(name, env, label, spec.venue if spec else "paper",
                                 version=self._view.version + 1)
        self._audit("switch_account", None, {"account": name}, None)
        if spec is None:
            if self.paper is None and self._parked_paper is not None:
                self.paper, self._parked_paper = self._parked_paper, None
            elif self.paper is None:
                self._start_paper()
        else:
            if self.paper is not None:
                # orders now go to the venue; the paper account waits, unchanged, for a switch back
                if self.store is not None:
                    self._save_paper_now()
                self._parked_paper, self.paper = self.paper, None
            await self._start_venue(spec)
        self._publish()
        return self._view

    def _call(self, coro) -> Future:
        loop = self.loop
        if loop is None or loop.is_closed():
            coro.close()
            fut: Future = Future()
            fut.set_exception(TradingError("trading is not running yet", "unavailable"))
            return fut
        return asyncio.run_coroutine_threadsafe(coro, loop)

    # -- actions (engine loop) --------------------------------------------------------------

    def _audit(self, action: str, client_order_id: str | None, request: Any, response: Any) -> None:
        view = self._view
        account = self.paper.name if self.paper is not None else view.account
        entry = {"ts": self.clock(), "account": account, "env": view.env.value,
                 "venue": view.venue, "action": action, "client_order_id": client_order_id,
                 "request": request, "response": response}
        self.audit_log.append(entry)
        if self.store is not None:
            self.store.audit(entry["ts"], account, view.env.value, view.venue, action,
                             client_order_id, request, response)

    async def _place(self, req: OrderRequest) -> Order:
        self._audit("submit", req.client_order_id, req.to_json(), None)
        try:
            mismatch = self.cannot_trade(req.instrument_id)
            if mismatch is not None:  # never send an order to an account that cannot hold it
                raise TradingError(mismatch, "invalid_order")
            if self.paper is not None:
                order = self.paper.place(req)
                self._audit("place", req.client_order_id, req.to_json(), order.to_json())
            elif self.venue_account is not None:
                order = await self._place_venue(req)
            else:
                raise TradingError(self._view.problem or "no trading account is available",
                                   "unavailable")
        except ValidationFailed as exc:
            self._audit("validation_failed", req.client_order_id, req.to_json(),
                        {"errors": [{"field": e.field, "message": e.message} for e in exc.errors]})
            raise
        except TradingError as exc:
            self._audit("rejected", req.client_order_id, req.to_json(),
                        {"error": str(exc), "kind": exc.kind})
            raise
        self._mark_seen([order])  # the UI reports what the user just did
        self._after_change()
        return order

    async def _place_venue(self, req: OrderRequest) -> Order:
        account = self.venue_account
        assert account is not None
        state = self._venue_state
        top = self._book(req.instrument_id)
        ref = None
        if top is not None:
            levels = top[1] if req.side == "buy" else top[0]
            ref = dec(levels[0][0]) if levels else None
        last = self._last_price(req.instrument_id)
        rules, errors = account.check(req, state["balances"], state["positions"], ref, last)
        if errors:
            raise ValidationFailed(errors)

        def audit(action: str, request: dict, response: dict | None) -> None:
            self._audit(action, req.client_order_id, request, response)

        order = await account.place(req, rules, audit)
        self._mark_seen([order])
        state["orders"] = [o for o in state["orders"] if o.client_order_id != order.client_order_id]
        if order.is_open:
            state["orders"].append(order)
        await self._refresh_venue(orders=False)
        return order

    async def _cancel(self, client_order_id: str) -> Order:
        self._audit("cancel_request", client_order_id, {"client_order_id": client_order_id}, None)
        try:
            if self.paper is not None:
                order = self.paper.cancel(client_order_id)
                self._audit("cancel", client_order_id, None, order.to_json())
            elif self.venue_account is not None:
                order = next((o for o in self._venue_state["orders"]
                              if o.client_order_id == client_order_id), None)
                if order is None:
                    raise TradingError(f"no open order {client_order_id}", "not_found")

                def audit(action: str, request: dict, response: dict | None) -> None:
                    self._audit(action, client_order_id, request, response)

                order = await self.venue_account.cancel(order, audit)
                self._mark_seen([order])
                self._venue_state["orders"] = [o for o in self._venue_state["orders"]
                                               if o.client_order_id != client_order_id]
                await self._refresh_venue(orders=False)
            else:
                raise TradingError("no trading account is available", "unavailable")
        except TradingError as exc:
            self._audit("cancel_rejected", client_order_id, None, {"error": str(exc)})
            raise
        self._mark_seen([order])
        self._after_change()
        return order

    async def _cancel_all(self, instrument_id: str | None) -> list[Order]:
        if self.paper is not None:
            orders = self.paper.cancel_all(instrument_id)
            self._mark_seen(orders)
            self._audit("cancel_all", None, {"instrument_id": instrument_id},
                        {"canceled": [o.client_order_id for o in orders]})
            self._after_change()
            return orders
        out = []
        problems = []
        for o in list(self._venue_state["orders"]):
            if instrument_id is None or o.instrument_id == instrument_id:
                try:
                    out.append(await self._cancel(o.client_order_id))
                except TradingError as exc:
                    problems.append(str(exc))
        if problems:
            raise TradingError(f"cancelled {len(out)}; failed {len(problems)}: {problems[0]}")
        return out

    # -- paper driving (engine thread) --------------------------------------------------------

    def _book(self, instrument_id: str) -> tuple[list, list] | None:
        if self.hub is None:
            return None
        return self.hub.book_top(instrument_id, 50)

    def _last_price(self, instrument_id: str) -> Decimal | None:
        if self.paper is not None:
            last = self.paper.last_price(instrument_id)
            if last is not None:
                return last
        if self.hub is None:
            return None
        with self.hub.lock:
            st = self.hub.state(instrument_id)
            if st is not None and st.trades:
                return dec(st.trades[0].price)
        return None

    def _on_event(self, ev: MarketEvent) -> None:
        """Hub listener: engine thread, hub lock held. Cheap unless the account cares."""
        paper = self.paper
        if paper is None:
            return
        if type(ev) is Trade:
            if ev.id not in paper.resting and ev.id not in paper.positions:
                paper.last_raw[ev.id] = ev.price  # a float store; Decimal only when needed
                return
            triggered = paper.on_trade(ev)
            for cid in triggered:
                self.loop.call_soon(self._run_stop, cid)  # type: ignore[union-attr]
            self._schedule_publish()
        elif type(ev) is Funding:
            had = ev.id in paper.positions
            paper.on_funding(ev)
            if had:
                self._schedule_publish()

    def _run_stop(self, client_order_id: str) -> None:
        paper = self.paper
        if paper is None:
            return
        order = paper.execute_stop(client_order_id)
        if order is not None:
            self._audit("stop_triggered", client_order_id, None, order.to_json())
            self._after_change()

    # -- views and persistence (engine loop) ----------------------------------------------------

    def _after_change(self) -> None:
        self._publish()

    def _schedule_publish(self) -> None:
        if not self._publish_pending and self.loop is not None:
            self._publish_pending = True
            self.loop.call_later(PUBLISH_INTERVAL, self._publish)

    def _publish(self) -> None:
        self._publish_pending = False
        old = self._view
        if self.paper is not None:
            p = self.paper
            self._announce(p.orders.values())
            orders = tuple(p.open_orders())
            view = TradingView(old.account, old.env, old.label, old.venue, True, orders,
                               tuple(p.position_views()), tuple(p.balance_views()),
                               tuple(p.fills)[:100], old.problem, old.version + 1,
                               tuple(self._notices))
            self._persist_paper()
        elif self.venue_account is not None:
            s = self._venue_state
            view = TradingView(old.account, old.env, old.label, old.venue, True,
                               tuple(sorted(s["orders"], key=lambda o: o.created_ts)),
                               tuple(s["positions"]), tuple(s["balances"]), tuple(s["fills"])[:100],
                               old.problem, old.version + 1, tuple(self._notices))
        else:
            view = TradingView(old.account, old.env, old.label, old.venue, False, problem=old.problem,
                               version=old.version + 1, notices=tuple(self._notices))
        self._view = view

    # -- notices (engine loop) -------------------------------------------------------------------

    def _mark_seen(self, orders: Any) -> None:
        for o in orders:
            self._seen[o.client_order_id] = (o.status, o.filled)

    def _announce(self, orders: Any) -> None:
        """A notice for every order whose fill or status moved since it was last seen."""
        orders = list(orders)
        if len(self._seen) > 4 * MAX_SEEN:  # forget orders neither account remembers any more
            keep = {o.client_order_id for o in orders}
            self._seen = {cid: v for cid, v in self._seen.items() if cid in keep}
        for o in orders:
            before = self._seen.get(o.client_order_id)
            now = (o.status, o.filled)
            if before == now:
                continue
            self._seen[o.client_order_id] = now
            if before is None:
                continue  # first sight (an order placed elsewhere): its changes from now on
            notice = self._notice_for(o, before[1])
            if notice is not None:
                self._notices.append(notice)

    def _notice_for(self, o: Order, filled_before: Decimal) -> OrderNotice | None:
        what = f"{o.side.upper()} {fmt(o.amount)} {self.instrument_label(o.instrument_id, o.symbol)}"
        kind_word = {"limit": "limit", "market": "market", "stop": "stop-loss"}.get(o.type, o.type)
        at = f" @ {fmt(o.price)}" if o.type == "limit" and o.price is not None else (
            f" trigger {fmt(o.stop_price)}" if o.type == "stop" and o.stop_price is not None else "")
        detail = f"{what}{at} ({kind_word})"
        avg = f" at avg {fmt(o.average)}" if o.average is not None else ""
        if o.status == "filled":
            kind, title, text = "filled", "Order filled", f"{detail}: filled{avg}"
        elif o.status == "rejected":
            kind, title = "rejected", "Order rejected"
            text = f"{detail}: {o.message or 'rejected by the venue'}"
        elif o.status == "canceled":
            kind, title = "canceled", "Order cancelled by the venue"
            part = f"; {fmt(o.filled)} of {fmt(o.amount)} filled{avg}" if o.filled else ""
            text = f"{detail}{part}" + (f": {o.message}" if o.message else "")
        elif o.filled > filled_before:
            kind, title = "partial", "Partial fill"
            text = f"{detail}: {fmt(o.filled)} of {fmt(o.amount)} filled{avg}"
        else:
            return None
        self._notice_seq += 1
        return OrderNotice(self._notice_seq, kind, title, text, self.clock())

    def _set_problem(self, problem: str | None) -> None:
        old = self._view
        if problem != old.problem:
            if problem:
                log.warning("trading: %s", problem)
            self._view = TradingView(old.account, old.env, old.label, old.venue, old.ready,
                                     old.open_orders, old.positions, old.balances, old.fills,
                                     problem, old.version + 1, old.notices)

    def _persist_paper(self) -> None:
        """Orders and fills that changed go to their tables; the whole state at most 1/s."""
        p = self.paper
        if p is None or self.store is None:
            return
        changed = [o for cid, o in p.orders.items() if self._last_orders.get(cid) is not o]
        if changed:
            self.store.save_orders(p.name, "paper", "paper", changed)
            for o in changed:
                self._last_orders[o.client_order_id] = o
        new_fills = [f for f in p.fills if f.fill_id not in self._saved_fill_ids]
        if new_fills:
            self.store.save_fills(p.name, new_fills)
            for f in new_fills:
                self._saved_fill_ids.add(f.fill_id)
                self._audit("fill", f.client_order_id, None, f.to_json())
        if (changed or new_fills) and not self._save_pending and self.loop is not None:
            self._save_pending = True
            self.loop.call_later(PAPER_SAVE_INTERVAL, self._save_paper_now)

    def _save_paper_now(self) -> None:
        self._save_pending = False
        if self.paper is not None and self.store is not None:
            self.store.save_paper(self.paper.name, self.paper.to_state(), self.clock())

    # -- venue polling ------------------------------------------------------------------------

    async def _poll_venue(self) -> None:
        n = 0
        while True:
            try:
                await self._refresh_venue(fills=n % FILLS_POLL_EVERY == 0,
                                          sweep=n % SWEEP_ORDERS_EVERY == 0)
                self._set_problem(None)
            except TradingError as exc:
                self._set_problem(str(exc))
            except Exception as exc:  # keep polling whatever one answer looked like
                log.exception("trading poll failed")
                self._set_problem(f"account refresh failed: {redact(str(exc))[:200]}")
            n += 1
            self._publish()
            await asyncio.sleep(POLL_INTERVAL)

    async def _announce_venue(self, before: list[Order], after: list[Order],
                              looked: set[str] | None) -> None:
        """Notices from one poll: open orders that moved, and the final state of those that
        left the open list without the user cancelling them here (filled, or cancelled /
        rejected by the venue)."""
        account = self.venue_account
        assert account is not None
        still = {o.client_order_id for o in after}
        gone = [o for o in before if o.client_order_id not in still
                and (looked is None or o.symbol in looked)]
        final = []
        for o in gone:
            try:
                found = await account.fetch_order(o)
            except TradingError as exc:
                log.warning("trading: final state of %s unknown: %s", o.client_order_id, exc)
                found = None
            final.append(found if found is not None else o.evolve(
                status="canceled", message="no longer open on the venue (final state unknown)"))
        self._announce([*after, *final])

    async def _refresh_venue(self, orders: bool = True, fills: bool = False,
                             sweep: bool = True) -> None:
        account = self.venue_account
        if account is None:
            return
        s = self._venue_state
        if orders:
            before = list(s["orders"])
            used = set(account.symbols_used)
            if sweep or not used or len(used) > MAX_SYMBOLS_PER_POLL:
                s["orders"] = await account.open_orders()
                looked = None
            else:
                # other symbols keep what the last sweep saw
                fresh = await account.open_orders(used)
                s["orders"] = [o for o in s["orders"] if o.symbol not in used] + fresh
                looked = used
            await self._announce_venue(before, s["orders"], looked)
        s["balances"] = await account.balances()
        s["positions"] = await account.positions()
        if fills or not s["fills"]:
            s["fills"] = await account.fills()
            if self.store is not None:
                self.store.save_fills(account.name, s["fills"])
        if self.store is not None and s["orders"]:
            self.store.save_orders(account.name, account.env.value, account.venue, s["orders"])
        self._publish()
