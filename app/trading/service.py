"""TradingService: the trading runtime, living on the engine's loop.

It owns one ``Account`` (paper by default, or a venue's testnet/demo through ccxt) and
runs every operation through that protocol, whichever account it is: it feeds the
account the market hub's events (the paper account fills limits and triggers stops on
trades, pays funding), polls a remote account, keeps the audit trail and the records,
announces what happened to orders, and hands the UI an immutable ``TradingView`` it can
read from any thread. UI calls (``place``, ``cancel`` ...) are thread-safe: they schedule
work on the engine loop and return a concurrent Future.

The hub listener runs with the hub lock held, so it only does O(1) work for instruments
the account has no interest in, and defers anything that must read the book (a
triggered stop walks it) to the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from app.accounts import PAPER, SPECS, AccountSpec, cannot_trade
from app.market.events import MarketEvent, Trade
from app.trading import brackets as bk
from app.trading.account import Account, AccountSnapshot, AuditAction, BookTop
from app.trading.errors import ErrorKind, TradingError, ValidationFailed
from app.trading.keys import KeyringUnavailable, KeyStore
from app.trading.models import (ZERO, Balance, Environment, FieldError, Fill, Order, OrderRequest,
                                OrderStatus, Position, amended_client_id, dec)
from app.trading.paper import PaperAccount, PaperFees
from app.trading.portfolio import AccountFigures, Portfolio, account_figures, equity_usd, portfolio, usd_rate
from app.trading.redact import redact
from app.trading.risk import DAY_MS, DayBaseline, RiskInputs, RiskLimits, RiskRefused, check, needs_confirm
from app.trading.validation import AccountContext, MarketRules, fmt, validate

if TYPE_CHECKING:  # SQLAlchemy loads only when a session needs it (startup time)
    from app.trading.store import TradingStore

log = logging.getLogger(__name__)

PUBLISH_INTERVAL = 0.1  # s: views of PnL moving with every trade, at most 10 a second
PAPER_SAVE_INTERVAL = 1.0  # s: paper state persisted at most once a second (and on exit)
POLL_INTERVAL = 3.0  # s: remote accounts' orders/balances/positions
# s: the same while the private stream pushes them: only a reconciliation (and one after
# every reconnect of the stream, for what it missed while down)
RECONCILE_INTERVAL = 60.0
FILLS_POLL_EVERY = 4  # polls between my-trades fetches (rate limits)
# Open orders: the symbols traded here every poll, every symbol every 10th (~30 s), so
# orders placed elsewhere still appear.
SWEEP_ORDERS_EVERY = 10
PORTFOLIO_INTERVAL = 0.5  # s: portfolio figures recomputed while the screen watches
PORTFOLIO_POLL = 10.0  # s: accounts other than the trading one, refreshed for the portfolio


NOTICES_KEPT = 50  # the UI shows the ones newer than the last it saw
MAX_SEEN = 500  # orders whose last announced (or stored) state is remembered (pruned past 4x)

NoticeKind = Literal["filled", "partial", "rejected", "canceled"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OrderNotice:
    """Something happened to an order that the user did not just do themselves: a resting
    limit filled (or partly), a stop fired, the venue rejected or cancelled it."""

    seq: int  # increasing; the UI remembers the last one it showed
    kind: NoticeKind
    title: str  # "Order filled"
    text: str  # "BUY 0.01 BTC/USDT · binance spot @ 29000 (limit)"
    ts: int
    instrument_id: str = ""  # the order's (alert rules pick orders by instrument)


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
    # client order id -> its part in a bracket ("+TP 31000 SL 29000", "TP", "SL")
    bracket_roles: tuple[tuple[str, str], ...] = ()

    def bracket_role(self, client_order_id: str) -> str | None:
        return next((r for cid, r in self.bracket_roles if cid == client_order_id), None)

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
    # [risk]: the limits of every account, and accounts' own (already merged) by name
    risk: RiskLimits = field(default_factory=RiskLimits)
    risk_accounts: dict[str, RiskLimits] = field(default_factory=dict)
    private_url: str | None = None  # the private stream's URL (default: the venue's, or the REST host's)
    reconcile_interval: float = RECONCILE_INTERVAL

    @classmethod
    def from_config(cls, cfg: Any) -> TradingOptions:
        t = cfg.trading
        risk = getattr(cfg, "risk", None)
        defaults = _limits(risk.limits) if risk is not None else RiskLimits()
        accounts = {name: defaults.merged(_limits_raw(table))
                    for name, table in (risk.accounts.items() if risk is not None else ())}
        return cls(t.account, dec(t.paper_balance), t.default_leverage, t.rest_url,
                   int(t.timeout_s * 1000), allow_live=t.allow_live,
                   price_warn_pct=dec(t.price_warn_pct), bell=t.bell, risk=defaults,
                   risk_accounts=accounts,
                   private_url=t.private_url)

    def limits_for(self, account: str) -> RiskLimits:
        return self.risk_accounts.get(account, self.risk)


def _limits_raw(table: dict[str, float]) -> dict[str, Decimal | int | None]:
    """Config numbers as the limits hold them (0 stays 0: ``merged`` reads it as off)."""
    return {k: (int(v) if k == "max_open_orders" else dec(v)) for k, v in table.items()}


def _limits(table: dict[str, float]) -> RiskLimits:
    return RiskLimits().merged(_limits_raw(table))


class TradingService:
    def __init__(self, options: TradingOptions | None = None, *, keys: KeyStore | None = None,
                 store: TradingStore | None = None,
                 store_factory: Callable[[], TradingStore | None] | None = None,
                 endpoint: Callable[[AccountSpec], str | None] | None = None,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.options = options or TradingOptions()
        self.keys = keys or KeyStore()
        self.store = store
        self._store_factory = store_factory
        self._endpoint = endpoint or (lambda spec: None)
        self.clock = clock
        self.engine: Any = None
        self.hub: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.account: Account | None = None  # None: the chosen account could not start
        self._parked_paper: PaperAccount | None = None  # kept while a venue account trades
        self._rules: dict[str, tuple[Any, MarketRules]] = {}  # id -> (instrument, rules)
        self._publish_pending = False
        self._save_pending = False
        self._saved_fill_ids: set[str] = set()
        self._last_orders: dict[str, Order] = {}  # as last stored
        self._poll_task: asyncio.Task[None] | None = None
        self._poll_wake = asyncio.Event()  # the stream came up or went down: re-time polling
        self._stream_problem: str | None = None
        self._in_flight: set[str] = set()  # client ids a user's action is working on
        self._watchers: list[Callable[[], None]] = []
        self._poll_sleeping_long = False
        self.audit_log: deque[dict[str, Any]] = deque(maxlen=200)  # recent actions (also stored)
        # what each order looked like when last announced (or done by the user): a change
        # from there that the user did not make is a notice
        self._seen: dict[str, tuple[OrderStatus, Decimal]] = {}
        self._notices: deque[OrderNotice] = deque(maxlen=NOTICES_KEPT)
        self._notice_seq = 0
        self._baselines: dict[str, DayBaseline] = {}  # account -> equity when its day began
        self._unanswered = 0  # orders sent whose answer has not come back
        self._brackets: dict[str, bk.Bracket] = {}  # entry client id -> its bracket
        self._held_stops: dict[str, list[bk.Bracket]] = {}  # instrument -> stops held here
        self._bracket_task: asyncio.Task[None] | None = None
        # the last state seen of every order a bracket is made of: a venue account
        # reports a closed order once, at the refresh that saw it close
        self._bracket_orders: dict[str, Order] = {}
        # the portfolio: other accounts with keys, opened read-only while it is watched
        self._watched: dict[str, Account | str] = {}  # name -> account, or why it is not open
        self._portfolio_task: asyncio.Task[None] | None = None
        self._portfolio: Portfolio | None = None
        self._portfolio_names: list[str] | None = None  # as of the last keyring look
        self._brackets_dirty = False
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

    @property
    def paper(self) -> PaperAccount | None:
        """The paper account, when it is the one trading."""
        return self.account if isinstance(self.account, PaperAccount) else None

    @property
    def venue_account(self) -> Account | None:
        """The venue's account, when one is trading."""
        account = self.account
        return account if account is not None and account.remote else None

    def _start_paper(self) -> None:
        paper = self._parked_paper or self._open_paper()
        self._parked_paper = None
        self._use(paper)

    def _open_paper(self) -> PaperAccount:
        opts = self.options
        paper = PaperAccount(self._market_rules, self._book, name=opts.paper_name,
                             balances={"USDT": opts.paper_balance}, fees=opts.fees,
                             default_leverage=opts.default_leverage, clock=self.clock)
        if self.store is not None:
            try:
                state = self.store.load_paper(opts.paper_name)
            except Exception as exc:
                state = None
                self._set_problem(f"could not load the paper account: {redact(str(exc))[:200]}")
            if state:
                paper.load_state(state)
        return paper

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
        from app.trading.ccxt_account import CcxtAccount  # ccxt loads only when a venue trades

        account = CcxtAccount(spec, creds, rest_url=self.options.rest_url or self._endpoint(spec),
                              timeout_ms=self.options.timeout_ms, clock=self.clock,
                              book=self._book, last_price=self._hub_last_price,
                              private_url=self.options.private_url)
        try:
            await account.start()
        except TradingError as exc:
            await account.close()
            self._set_problem(str(exc))
            return
        except asyncio.CancelledError:  # the app closed while markets were loading
            await account.close()
            raise
        self._use(account)
        try:  # the first picture of the account before the UI asks for it
            await self._refresh()
        except TradingError as exc:
            self._set_problem(str(exc))
        self._poll_task = asyncio.get_running_loop().create_task(self._poll())
        account.start_stream(self._on_pushed, self._on_stream_connected, self._on_stream_problem)

    def _use(self, account: Account) -> None:
        """Trade on ``account`` from now on; what it already holds is neither news nor new."""
        self.account = account
        seen = account.orders_seen()
        self._mark_seen(seen)
        self._last_orders.update((o.client_order_id, o) for o in seen)
        self._saved_fill_ids.update(f.fill_id for f in account.snapshot().fills)
        self._load_brackets(account.name)

    async def _stop_polling(self) -> None:
        if self._poll_task is not None:
            self._poll_task.cancel()
            await asyncio.gather(self._poll_task, return_exceptions=True)
            self._poll_task = None

    async def aclose(self) -> None:
        await self._stop_polling()
        await self._watch_portfolio(False)
        if self.account is not None:
            await self.account.close()
            self._save_state_now()
        if self.store is not None:
            self.store.flush()
            self.store.close()

    # -- thread-safe API for the UI --------------------------------------------------------

    def view(self) -> TradingView:
        return self._view  # immutable; replaced whole on the loop

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the engine thread, so it must only hand off, e.g. post a
        message) whenever a new view is published: a pushed fill need not wait for the
        UI's next frame."""
        self._watchers.append(callback)

    @property
    def env(self) -> Environment:
        return self._view.env

    def rules(self, instrument_id: str) -> MarketRules | None:
        if self.account is not None:
            return self.account.rules(instrument_id)
        return self._market_rules(instrument_id)

    def _market_rules(self, instrument_id: str) -> MarketRules | None:
        """Rules from the market data's own metadata (what the paper account trades by)."""
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
        if self.account is not None:
            return self.account.fee_rates(rules)
        return self.options.fees.rate(rules, "maker"), self.options.fees.rate(rules, "taker")

    def current_leverage(self, instrument_id: str) -> int | None:
        """The leverage an order that does not set one trades at, or None when only the
        venue knows (a venue account before any order here changed it)."""
        if self.account is not None:
            return self.account.leverage(instrument_id)
        pos = self._view.position(instrument_id)
        return pos.leverage if pos is not None else None

    def instrument_label(self, instrument_id: str, symbol: str | None = None) -> str:
        """``BTC/USDT · binance spot``: what a user reads, never the canonical id."""
        st = self.hub.state(instrument_id) if self.hub is not None else None
        if st is not None:
            return str(st.instrument.label)
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
        leverage = self.current_leverage(req.instrument_id)
        ctx = AccountContext(
            available_quote=quote.available if quote else ZERO,
            available_base=base.available if base else ZERO,
            position_size=pos.size if pos else ZERO,
            position_margin_mode=pos.margin_mode if pos else None,
            reference_price=dec(ref) if ref is not None else None,
            last_price=dec(last) if last is not None else None,
            taker_fee=taker, maker_fee=maker,
            leverage=leverage if leverage is not None else self.options.default_leverage)
        errors = validate(req, rules, ctx)
        limits = self.risk_limits()
        if limits.active and not errors and req.amount > 0:
            # the limits as the user types, so a refusal is seen before the confirmation
            # (and stays in view after one: the form re-checks every frame)
            errors += [r.as_field_error() for r in check(limits, self.risk_inputs(
                req, day_pnl=self._peek_daily_pnl()))]
        return rules, errors

    def _peek_daily_pnl(self) -> Decimal | None:
        """Today's PnL without starting a day (any thread: reads only)."""
        view, account = self._view, self.account
        base = self._baselines.get(account.name) if account is not None else None
        if base is None or base.day != self.clock() // DAY_MS:
            return None if self.risk_limits().max_daily_loss is not None else ZERO
        equity, unpriced = equity_usd(view, usd=self.usd_price, mark=self.mark_price)
        return None if unpriced else equity - base.equity

    def place(self, req: OrderRequest) -> Future[Order]:
        return self._call(self._acting(lambda: [req.client_order_id], self._place(req)))

    # -- the portfolio (engine loop; ``portfolio_view`` from any thread) ------------------------

    def portfolio_view(self) -> Portfolio | None:
        """The latest figures across accounts (immutable), while ``watch_portfolio`` is on."""
        return self._portfolio

    def watch_portfolio(self, on: bool) -> Future[None]:
        """Compute the portfolio live (the screen is open) or stop (it closed)."""
        return self._call(self._watch_portfolio(on))

    async def _watch_portfolio(self, on: bool) -> None:
        if on and (self._portfolio_task is None or self._portfolio_task.done()):
            self._portfolio_task = asyncio.get_running_loop().create_task(self._portfolio_loop())
        elif not on and self._portfolio_task is not None:
            self._portfolio_task.cancel()
            await asyncio.gather(self._portfolio_task, return_exceptions=True)
            self._portfolio_task = None
            await self._close_watched()

    def portfolio_accounts(self, fresh: bool = False) -> list[str]:
        """Every configured account: paper, the one trading, and each testnet/demo account
        with keys stored (live ones only when trading on them). The keyring is asked again
        only when ``fresh`` (it may be a D-Bus round trip)."""
        if not fresh and self._portfolio_names is not None:
            names = list(self._portfolio_names)
            if self._spec is not None and self._spec.name not in names:
                names.insert(1, self._spec.name)
            return names
        names = [self.options.paper_name]
        if self._spec is not None:
            names.append(self._spec.name)
        try:
            stored = self.keys.list()
        except Exception as exc:  # a keyring that cannot be read lists nothing more
            log.warning("portfolio: cannot list keys: %s", redact(str(exc)))
            stored = []
        for venue, env, _ in stored:
            spec = SPECS.get(f"{venue}-{env}")
            if spec is not None and spec.env is not Environment.LIVE and spec.name not in names:
                names.append(spec.name)
        self._portfolio_names = names
        return names

    async def _portfolio_loop(self) -> None:
        last_poll = -PORTFOLIO_POLL
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() - last_poll >= PORTFOLIO_POLL:
                    last_poll = loop.time()
                    await self._refresh_watched()
                self._portfolio = self.compute_portfolio()
            except Exception:  # the figures are a view: one bad answer never stops them
                log.exception("portfolio update failed")
            await asyncio.sleep(PORTFOLIO_INTERVAL)

    async def _refresh_watched(self) -> None:
        from app.trading.ccxt_account import CcxtAccount  # ccxt loads only when a venue is shown

        for name in self.portfolio_accounts(fresh=True):
            if name == self.options.paper_name or (self.account is not None
                                                   and self.account.name == name):
                continue
            spec = SPECS[name]
            current = self._watched.get(name)
            if current is None or isinstance(current, str):
                try:
                    creds = self.keys.load(spec.venue, spec.env.value)
                except KeyringUnavailable as exc:
                    self._watched[name] = str(exc)
                    continue
                if creds is None:
                    self._watched[name] = "no API keys"
                    continue
                acc = CcxtAccount(spec, creds, rest_url=self._endpoint(spec),
                                  timeout_ms=self.options.timeout_ms, clock=self.clock,
                                  book=self._book, last_price=self._hub_last_price)
                try:
                    await acc.start()
                except TradingError as exc:
                    await acc.close()
                    self._watched[name] = str(exc)
                    continue
                self._watched[name] = current = acc
            try:
                await current.refresh(orders=False, fills=True, sweep=False)
            except TradingError as exc:
                self._watched[name] = str(exc)
                await current.close()

    async def _close_watched(self) -> None:
        for acc in self._watched.values():
            if not isinstance(acc, str):
                await acc.close()
        self._watched = {}

    def compute_portfolio(self) -> Portfolio:
        """Figures for every configured account, from what each last reported and the
        hub's prices now (engine loop)."""
        out: list[AccountFigures] = []
        for name in self.portfolio_accounts():
            acc: Account | str | None
            if self.account is not None and self.account.name == name:
                acc = self.account
            elif name == self.options.paper_name:
                acc = self._parked_paper or (self.account if isinstance(self.account, PaperAccount)
                                            else None)
                if acc is None:
                    acc = "not opened this session"
            else:
                acc = self._watched.get(name, "connecting")
            spec = SPECS.get(name)
            label = f"{spec.env.label} · {spec.title}" if spec else "PAPER"
            if isinstance(acc, str) or acc is None:
                out.append(account_figures(name, label, AccountSnapshot(), usd=self.usd_price,
                                           mark=self.mark_price, problem=acc))
                continue
            snap = acc.snapshot()
            equity, unpriced = equity_usd(snap, usd=self.usd_price, mark=self.mark_price)
            start = None
            if not unpriced and (snap.balances or snap.positions):
                start = self._day_start(name, equity)
            problem = self._view.problem if acc is self.account else None
            out.append(account_figures(name, label, snap, usd=self.usd_price,
                                       mark=self.mark_price, day_start_equity=start,
                                       problem=problem))
        return portfolio(out, self.clock())

    # -- brackets (engine loop) -------------------------------------------------------------

    def place_bracket(self, req: OrderRequest, take_profit: Decimal | None,
                      stop_loss: Decimal | None) -> Future[Order]:
        """Place ``req`` with a take-profit and/or a stop-loss attached (see
        ``app.trading.brackets``); both None is a plain order."""
        return self._call(self._place_bracket(req, take_profit, stop_loss))

    async def _place_bracket(self, req: OrderRequest, take_profit: Decimal | None,
                             stop_loss: Decimal | None) -> Order:
        if take_profit is None and stop_loss is None:
            return await self._place(req)
        rules = self.rules(req.instrument_id)
        bid, ask, last = self._quote(req.instrument_id)
        reference = (ask if req.side == "buy" else bid) or last
        errors = bk.check_prices(req, reference, take_profit, stop_loss)
        if rules is None:
            errors.append(FieldError("type", "this account does not trade this instrument"))
        if errors:
            self._audit("validation_failed", req.client_order_id, req.to_json(),
                        {"errors": [{"field": e.field, "message": e.message} for e in errors]})
            raise ValidationFailed(errors)
        assert rules is not None
        account = self._account()
        b = bk.new_bracket(req, rules.is_perp, take_profit, stop_loss,
                           resting_reduce_only=account.remote)
        self.check_risk(req, new_orders=1 + b.resting_legs())
        if b.tp is not None:  # an exit the limits would refuse later is refused now
            self.check_risk(OrderRequest(req.instrument_id, b.exit_side, "limit", req.amount,
                                         b.tp.price, reduce_only=rules.is_perp,
                                         client_order_id=req.client_order_id), reducing=True)
        self._audit("bracket", req.client_order_id, req.to_json(),
                    {"take_profit": None if take_profit is None else str(take_profit),
                     "stop_loss": None if stop_loss is None else str(stop_loss),
                     "stop_held_here": bool(b.sl and b.sl.synthetic)})
        self._brackets[req.client_order_id] = b
        self._index_held_stops()
        try:
            order = await self._place(req)
            self._bracket_view([order])
        except TradingError:
            self._brackets.pop(req.client_order_id, None)
            self._index_held_stops()
            self._save_brackets()
            raise
        self._save_brackets()
        self._kick_brackets()
        return order

    def brackets(self) -> list[bk.Bracket]:
        """The brackets being managed (engine loop; tests and the blotter's roles)."""
        return list(self._brackets.values())

    def _kick_brackets(self, seen: Iterable[Order] | None = None) -> None:
        """Run the brackets' next steps, once at a time, when there are any."""
        if self.loop is None or self.account is None:
            return
        if self._bracket_task is not None and not self._bracket_task.done():
            self._brackets_dirty = True
            return
        orders = self._bracket_view(seen if seen is not None else self.account.orders_seen())
        if any(bk.plan(b, orders) for b in self._brackets.values()) or any(
                b.done for b in self._brackets.values()):
            self._bracket_task = self.loop.create_task(self._run_brackets())

    async def _run_brackets(self) -> None:
        for _ in range(24):
            self._brackets_dirty = False
            account = self.account
            if account is None:
                return
            acted = False
            for b in list(self._brackets.values()):
                # one step, then plan again from what it changed: a take-profit that
                # filled on arrival changes the stop-loss that follows it
                steps = bk.plan(b, self._bracket_view(account.orders_seen()))
                if steps:
                    acted = True
                    await self._bracket_step(b, steps[0])
            finished = [cid for cid, b in self._brackets.items() if b.done]
            for cid in finished:
                del self._brackets[cid]
            if acted or finished:
                self._index_held_stops()
                self._save_brackets()
                self._publish_now()
            if not acted and not self._brackets_dirty:
                return

    async def _bracket_step(self, b: bk.Bracket, step: bk.Step) -> None:
        if isinstance(step, bk.Cancel):
            b.ours.add(step.client_order_id)
            try:
                self._bracket_view([await self._cancel(step.client_order_id)])
            except TradingError as exc:
                if exc.kind is not ErrorKind.NOT_OPEN:  # already gone is what was wanted
                    b.ours.discard(step.client_order_id)
                    self._set_problem(f"bracket: could not cancel an exit: {exc}")
            return
        leg, req = step.leg, step.request
        leg.order_id, leg.placed = req.client_order_id, req.amount
        leg.ids.append(req.client_order_id)
        self._save_brackets()  # before it leaves: a restart must know the order is ours
        try:
            self._bracket_view([await self._place(req, exit_order=True)])
        except TradingError as exc:
            leg.order_id, leg.placed, leg.off = None, ZERO, True
            what = "take-profit" if leg.kind == "tp" else "stop-loss"
            self._set_problem(f"bracket: the {what} could not be placed: {exc}")

    def _publish_now(self) -> None:
        if self.account is not None:
            self._publish()

    def _index_held_stops(self) -> None:
        held: dict[str, list[bk.Bracket]] = {}
        for b in self._brackets.values():
            if b.sl is not None and b.sl.synthetic and not b.sl.fired and not b.sl.off:
                held.setdefault(b.instrument_id, []).append(b)
        self._held_stops = held  # replaced whole: the engine thread reads it lock-free

    def _check_held_stops(self, ev: Trade) -> None:
        """Engine thread, hub lock held: a trade through a held stop fires it."""
        price = dec(ev.price)
        for b in self._held_stops.get(ev.id, ()):
            if bk.crossed(b, price):
                bk.fire(b)
                if self.loop is not None:
                    self.loop.call_soon_threadsafe(self._on_stop_fired, b)

    def _on_stop_fired(self, b: bk.Bracket) -> None:
        self._audit("stop_triggered", b.entry_id, None,
                    {"bracket_stop": str(b.sl.price) if b.sl else None})
        self._index_held_stops()
        self._kick_brackets()

    def _load_brackets(self, account: str) -> None:
        self._brackets = {}
        if self.store is not None:
            try:
                state = self.store.load_paper(f"brackets:{account}")
            except Exception as exc:  # no table yet, or a damaged row: nothing to resume
                log.warning("brackets: could not load: %s", exc)
                state = None
            for d in (state or {}).get("brackets", []):
                b = bk.Bracket.from_json(d)
                self._brackets[b.entry_id] = b
        self._index_held_stops()

    def _save_brackets(self) -> None:
        if self.store is not None and self.account is not None:
            self.store.save_paper(f"brackets:{self.account.name}",
                                  {"brackets": [b.to_json() for b in self._brackets.values()]},
                                  self.clock())

    # -- risk limits (engine loop) -------------------------------------------------------------

    def risk_limits(self) -> RiskLimits:
        return self.options.limits_for(self._view.account)

    def check_risk(self, req: OrderRequest, *, replacing: str | None = None,
                   new_orders: int = 1, reducing: bool = False) -> None:
        """Raise RiskRefused (audited as ``risk_refused``) when ``req`` breaks a limit of
        the account trading now. Every order passes here before it leaves; an amend calls
        it with the amended order and ``replacing`` = the client id it changes (that order
        then counts neither as open nor as resting). Engine loop only."""
        limits = self.risk_limits()
        if not limits.active:
            return
        refusals = check(limits, self.risk_inputs(req, replacing=replacing,
                                                  new_orders=new_orders, reducing=reducing))
        if refusals:
            self._audit("risk_refused", req.client_order_id, req.to_json(),
                        {"refusals": [{"limit": r.limit, "message": r.message}
                                      for r in refusals]})
            raise RiskRefused(refusals)

    def check_amend_risk(self, client_order_id: str, *, price: Decimal | None = None,
                         amount: Decimal | None = None) -> None:
        """``check_risk`` for an amend of an open order to ``price`` / ``amount`` (either
        None: unchanged). RiskRefused names the limit; TradingError if it is not open."""
        order = next((o for o in self._view.open_orders
                      if o.client_order_id == client_order_id), None)
        if order is None:
            raise TradingError(f"no open order {client_order_id}", ErrorKind.NOT_OPEN)
        new_amount = amount if amount is not None else order.amount
        req = OrderRequest(order.instrument_id, order.side, order.type,
                           new_amount - order.filled,  # what may still fill after the amend
                           price if price is not None and order.type == "limit" else order.price,
                           price if price is not None and order.type == "stop" else order.stop_price,
                           order.time_in_force, order.reduce_only,
                           client_order_id=client_order_id)
        self.check_risk(req, replacing=client_order_id, new_orders=1)

    def risk_inputs(self, req: OrderRequest, *, replacing: str | None = None,
                    new_orders: int = 1, reducing: bool = False,
                    day_pnl: Decimal | None | Literal["now"] = "now") -> RiskInputs:
        """What the risk check needs about ``req``, from the account and the hub now."""
        iid = req.instrument_id
        rules = self.rules(iid)
        bid, ask, last = self._quote(iid)
        mid = (bid + ask) / 2 if bid is not None and ask is not None else last
        if req.type == "limit":
            price = req.price
        elif req.type == "stop":
            price = req.stop_price
        else:
            price = (ask if req.side == "buy" else bid) or mid
        # the published view, not a fresh snapshot: it is republished after every action
        # and market move, and building a paper snapshot costs more than the whole check
        snap = self._view
        resting = [o for o in snap.open_orders if o.client_order_id != replacing]
        same_side = sum((o.remaining for o in resting if o.instrument_id == iid
                         and o.side == req.side and not o.reduce_only), ZERO)
        position = ZERO
        if rules is not None and rules.is_perp:
            pos = next((p for p in snap.positions if p.instrument_id == iid), None)
            position = pos.size if pos is not None else ZERO
        elif rules is not None:
            held = next((b for b in snap.balances if b.asset == rules.base), None)
            position = held.total if held is not None else ZERO
        quote = rules.quote if rules is not None else None
        spot_sell_held = (rules is not None and not rules.is_perp and req.side == "sell"
                          and req.amount <= position)
        return RiskInputs(iid, req.side, req.amount, price,
                          req.price if req.type == "limit" else None, mid,
                          usd_rate(quote, self.usd_price) if quote else None,
                          position, same_side, len(resting) + self._unanswered,
                          self.daily_pnl(snap) if day_pnl == "now" else day_pnl,
                          reducing or req.reduce_only or spot_sell_held, new_orders)

    def confirm_needed(self, notional: Decimal | None, quote: str) -> bool:
        """Whether an order of this value (in ``quote``) gets the confirm dialog."""
        if self._view.env is Environment.LIVE:
            return True  # real money is always asked about
        rate = usd_rate(quote, self.usd_price)
        value = None if notional is None or rate is None else notional * rate
        return needs_confirm(self.risk_limits(), value)

    def daily_pnl(self, snap: AccountSnapshot | TradingView | None = None) -> Decimal | None:
        """Realized + unrealized PnL of the trading account since 00:00 UTC, in USD."""
        account = self.account
        if account is None:
            return None
        snap = snap if snap is not None else self._view
        if not snap.balances and not snap.positions:
            return None  # not yet known (a venue's first answer): no day starts from nothing
        equity, unpriced = equity_usd(snap, usd=self.usd_price, mark=self.mark_price)
        if unpriced:  # a day must not start from (or be judged on) a partial valuation
            return None
        return equity - self._day_start(account.name, equity)

    def _day_start(self, account: str, equity: Decimal) -> Decimal:
        """The account's equity when today (UTC) began for it; ``equity`` when this is the
        first sight of it today (and then stored: a restart must not start the day again)."""
        base = self._baseline(account)
        day = base.day
        base.pnl(self.clock(), equity)
        if base.day != day and self.store is not None:
            self.store.save_paper(f"risk-day:{account}", base.to_json(), self.clock())
        return base.equity

    def _baseline(self, account: str) -> DayBaseline:
        base = self._baselines.get(account)
        if base is None:
            state = None
            if self.store is not None:
                try:
                    state = self.store.load_paper(f"risk-day:{account}")
                except Exception as exc:  # a missing row or table: start the day from now
                    log.warning("risk: could not load the day's baseline: %s", exc)
            base = self._baselines[account] = (DayBaseline.from_json(state) if state
                                               else DayBaseline())
        return base

    # -- prices from the market hub (engine thread) ------------------------------------------------

    def _quote(self, instrument_id: str) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """(best bid, best ask, last trade) of an instrument, from the hub."""
        if self.hub is None:
            return None, None, None
        with self.hub.lock:
            st = self.hub.state(instrument_id)
            if st is None:
                return None, None, None
            bid = st.book.best_bid if st.synced else None
            ask = st.book.best_ask if st.synced else None
            last = st.trades[0].price if st.trades else (
                st.ticker.last if st.ticker is not None else None)
        return (dec(bid[0]) if bid else None, dec(ask[0]) if ask else None,
                dec(last) if last is not None else None)

    def mark_price(self, instrument_id: str) -> Decimal | None:
        """The venue's mark price (perps), else the last trade, else the mid."""
        if self.hub is not None:
            with self.hub.lock:
                st = self.hub.state(instrument_id)
                f = st.funding if st is not None else None
                if f is not None and f.mark_price is not None:
                    return dec(f.mark_price)
        bid, ask, last = self._quote(instrument_id)
        if last is not None:
            return last
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    def usd_price(self, asset: str) -> Decimal | None:
        """USD per unit of ``asset`` from its USDT (or USD) spot market: the trading
        venue's first, then any venue the hub has."""
        if self.hub is None:
            return None
        first = self._spec.data_venue if self._spec is not None else "binance"
        a = asset.lower()
        venues = [first] + [v for v in ("binance", "okx", "bybit", "coinbase") if v != first]
        for venue in venues:
            for quote in ("usdt", "usd", "usdc"):
                bid, ask, last = self._quote(f"cryptopair_{venue}_{a}{quote}")
                if last is not None:
                    return last
                if bid is not None and ask is not None:
                    return (bid + ask) / 2
        return None

    def cancel(self, client_order_id: str) -> Future[Order]:
        return self._call(self._acting(lambda: [client_order_id], self._cancel(client_order_id)))

    def amend(self, client_order_id: str, price: Decimal | None,
              amount: Decimal | None) -> Future[Order]:
        """Change an open limit order's price and/or total amount (None keeps it)."""
        return self._call(self._acting(
            lambda: [client_order_id, amended_client_id(client_order_id)],
            self._amend(client_order_id, price, amount)))

    def cancel_all(self, instrument_id: str | None = None) -> Future[list[Order]]:
        def targets() -> list[str]:
            snap = self.account.snapshot() if self.account is not None else None
            return [o.client_order_id for o in (snap.open_orders if snap else ())
                    if instrument_id is None or o.instrument_id == instrument_id]

        return self._call(self._acting(targets, self._cancel_all(instrument_id)))

    async def _acting(self, ids: Callable[[], list[str]], action: Coroutine[Any, Any, T]) -> T:
        """Run a user's action on these orders: what a push says about them meanwhile is
        the action's own outcome (announced by the UI), not news from the venue."""
        mine = ids()
        self._in_flight.update(mine)
        try:
            return await action
        finally:
            self._in_flight.difference_update(mine)

    def switch_account(self, name: str) -> Future[TradingView]:
        """Send orders to another account from now on (paper state is kept)."""
        return self._call(self._switch(name))

    async def _switch(self, name: str) -> TradingView:
        if name == self.options.account:
            return self._view
        self._audit("switch_account", None, {"account": name}, None)  # in the account left
        await self._stop_polling()
        self._stream_problem = None  # the old account's stream is no one's problem now
        old, self.account = self.account, None
        if isinstance(old, PaperAccount):
            # orders now go to the venue; the paper account waits, unchanged, for a switch back
            self._save_state_now(old)
            self._parked_paper = old
        elif old is not None:
            await old.close()
        spec = SPECS.get(name)
        self.options.account = name
        self._spec = spec
        env = spec.env if spec else Environment.PAPER
        label = f"{env.label} · {spec.title}" if spec else "PAPER"
        self._view = TradingView(name, env, label, spec.venue if spec else "paper",
                                 version=self._view.version + 1)
        if spec is None:
            self._start_paper()
        else:
            await self._start_venue(spec)
        self._publish()
        return self._view

    def _call(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        loop = self.loop
        if loop is None or loop.is_closed():
            coro.close()
            fut: Future[T] = Future()
            fut.set_exception(TradingError("trading is not running yet", ErrorKind.UNAVAILABLE))
            return fut
        return asyncio.run_coroutine_threadsafe(coro, loop)

    # -- actions (engine loop) --------------------------------------------------------------

    def _audit(self, action: AuditAction, client_order_id: str | None, request: Any,
               response: Any) -> None:
        view = self._view
        account = self.account.name if self.account is not None else view.account
        entry = {"ts": self.clock(), "account": account, "env": view.env.value,
                 "venue": view.venue, "action": action, "client_order_id": client_order_id,
                 "request": request, "response": response}
        self.audit_log.append(entry)
        if self.store is not None:
            self.store.audit(entry["ts"], account, view.env.value, view.venue, action,
                             client_order_id, request, response)

    def _account(self) -> Account:
        if self.account is None:
            raise TradingError(self._view.problem or "no trading account is available",
                               ErrorKind.UNAVAILABLE)
        return self.account

    async def _place(self, req: OrderRequest, *, exit_order: bool = False) -> Order:
        """``exit_order``: a bracket's exit, which only closes what its entry opened (the
        limits that keep new risk out do not hold it back)."""
        self._audit("submit", req.client_order_id, req.to_json(), None)
        try:
            mismatch = self.cannot_trade(req.instrument_id)
            if mismatch is not None:  # never send an order to an account that cannot hold it
                raise TradingError(mismatch, ErrorKind.INVALID_ORDER)
            account = self._account()
            self.check_risk(req, reducing=exit_order)
            self._unanswered += 1  # sent, not yet answered: counts as open for the next check
            try:
                order = await account.submit(req, self._audit)
            finally:
                self._unanswered -= 1
        except RiskRefused:
            raise  # audited by check_risk, with the limit and the amount
        except ValidationFailed as exc:
            self._audit("validation_failed", req.client_order_id, req.to_json(),
                        {"errors": [{"field": e.field, "message": e.message} for e in exc.errors]})
            raise
        except TradingError as exc:
            self._audit("rejected", req.client_order_id, req.to_json(),
                        {"error": str(exc), "kind": exc.kind})
            raise
        self._mark_seen([order])  # the UI reports what the user just did
        await self._refresh_after_action(account)
        return order

    async def _cancel(self, client_order_id: str) -> Order:
        self._audit("cancel_request", client_order_id, {"client_order_id": client_order_id}, None)
        try:
            account = self._account()
            order = await account.cancel_order(client_order_id, self._audit)
        except TradingError as exc:
            self._audit("cancel_rejected", client_order_id, None, {"error": str(exc)})
            raise
        self._mark_seen([order])
        await self._refresh_after_action(account)
        return order

    async def _amend(self, client_order_id: str, price: Decimal | None,
                     amount: Decimal | None) -> Order:
        asked = {"client_order_id": client_order_id,
                 "price": None if price is None else str(price),
                 "amount": None if amount is None else str(amount)}
        self._audit("amend_request", client_order_id, asked, None)
        try:
            account = self._account()
            # an amend is a new order as far as the limits go (audited as risk_refused)
            self.check_amend_risk(client_order_id, price=price, amount=amount)
            order = await account.amend_order(client_order_id, price, amount, self._audit)
        except ValidationFailed as exc:
            self._audit("amend_rejected", client_order_id, asked,
                        {"errors": [{"field": e.field, "message": e.message} for e in exc.errors]})
            raise
        except TradingError as exc:
            self._audit("amend_rejected", client_order_id, asked,
                        {"error": str(exc), "kind": exc.kind})
            raise
        # the user's own doing, both the amended order and the one it replaced
        self._mark_seen(o for o in account.orders_seen()
                        if o.client_order_id in (client_order_id, order.client_order_id))
        self._mark_seen([order])
        await self._refresh_after_action(account)
        return order

    async def _cancel_all(self, instrument_id: str | None) -> list[Order]:
        account = self._account()
        try:
            orders = await account.cancel_all(instrument_id, self._audit)
        except TradingError:
            await self._refresh_after_action(account)  # some may be cancelled all the same
            raise
        self._mark_seen(orders)  # before the view announces them: the user's own doing
        await self._refresh_after_action(account)
        return orders

    async def _refresh_after_action(self, account: Account) -> None:
        """Balances and positions as the action left them (orders are known already). The
        action itself succeeded: a failed refresh is a problem to show, not its failure."""
        try:
            await account.refresh(orders=False)
        except TradingError as exc:
            self._set_problem(str(exc))
        self._publish()

    # -- the market (engine thread) -------------------------------------------------------------

    def _book(self, instrument_id: str) -> BookTop | None:
        if self.hub is None:
            return None
        top: BookTop | None = self.hub.book_top(instrument_id, 50)
        return top

    def _hub_last_price(self, instrument_id: str) -> Decimal | None:
        if self.hub is None:
            return None
        with self.hub.lock:
            st = self.hub.state(instrument_id)
            if st is not None and st.trades:
                return dec(st.trades[0].price)
        return None

    def _on_event(self, ev: MarketEvent) -> None:
        """Hub listener: engine thread, hub lock held. Cheap unless the account cares."""
        account = self.account
        if account is None:
            return
        if self._held_stops and isinstance(ev, Trade) and ev.id in self._held_stops:
            self._check_held_stops(ev)
        triggered = account.on_market(ev)
        if triggered is None:
            return
        if self.loop is not None:
            for cid in triggered:
                self.loop.call_soon(self._run_stop, cid)
        self._schedule_publish()

    def _run_stop(self, client_order_id: str) -> None:
        if self.account is None:
            return
        order = self.account.run_triggered(client_order_id)
        if order is not None:
            self._audit("stop_triggered", client_order_id, None, order.to_json())
            self._publish()

    # -- views and records (engine loop) ----------------------------------------------------

    def _schedule_publish(self) -> None:
        if not self._publish_pending and self.loop is not None:
            self._publish_pending = True
            self.loop.call_later(PUBLISH_INTERVAL, self._publish)

    def _publish(self) -> None:
        self._publish_pending = False
        old = self._view
        account = self.account
        if account is None:
            self._view = TradingView(old.account, old.env, old.label, old.venue, False,
                                     problem=old.problem, version=old.version + 1,
                                     notices=tuple(self._notices))
            return
        seen = account.orders_seen()
        self._announce(seen)
        snap = account.snapshot()
        roles = tuple(bk.roles(self._brackets).items()) if self._brackets else ()
        self._view = TradingView(old.account, old.env, old.label, old.venue, True,
                                 snap.open_orders, snap.positions, snap.balances, snap.fills[:100],
                                 old.problem, old.version + 1, tuple(self._notices), roles)
        for watcher in self._watchers:
            watcher()
        self._record(account, seen, snap)
        self.daily_pnl(snap)  # the day's baseline is taken as soon as the day is seen
        if self._brackets:
            self._kick_brackets(seen)

    def _bracket_view(self, seen: Iterable[Order]) -> dict[str, Order]:
        """Every order of a bracket as last seen, ``seen`` on top (engine loop)."""
        ids = self._bracket_ids()
        for o in seen:
            if o.client_order_id in ids:
                self._bracket_orders[o.client_order_id] = o
        if len(self._bracket_orders) > len(ids):
            self._bracket_orders = {c: o for c, o in self._bracket_orders.items() if c in ids}
        return self._bracket_orders

    def _bracket_ids(self) -> set[str]:
        ids: set[str] = set()
        for b in self._brackets.values():
            ids.add(b.entry_id)
            for leg in b.legs:
                ids.update(leg.ids)
        return ids

    def _record(self, account: Account, seen: Iterable[Order], snap: AccountSnapshot) -> None:
        """Orders and fills that changed go to their tables; a local account's whole state
        at most once a second."""
        if self.store is None:
            return
        changed = [o for o in seen if self._last_orders.get(o.client_order_id) is not o]
        if changed:
            self.store.save_orders(account.name, account.env.value, account.venue, changed)
            for o in changed:
                self._last_orders[o.client_order_id] = o
            if len(self._last_orders) > 4 * MAX_SEEN:
                keep = {o.client_order_id for o in seen}
                self._last_orders = {c: o for c, o in self._last_orders.items() if c in keep}
        new_fills = [f for f in snap.fills if f.fill_id not in self._saved_fill_ids]
        if new_fills:
            self.store.save_fills(account.name, new_fills)
            for f in new_fills:
                self._saved_fill_ids.add(f.fill_id)
                if not account.remote:
                    # made here, so part of the trail; a venue's fills are its report (and
                    # the same report every session)
                    self._audit("fill", f.client_order_id, None, f.to_json())
        if (changed or new_fills) and not account.remote and not self._save_pending \
                and self.loop is not None:
            self._save_pending = True
            self.loop.call_later(PAPER_SAVE_INTERVAL, self._save_state_now)

    def _save_state_now(self, account: Account | None = None) -> None:
        """Store a local account's whole state (the current one unless told)."""
        self._save_pending = False
        account = account or self.account
        if account is None or self.store is None:
            return
        state = account.state()
        if state is not None:
            self.store.save_paper(account.name, state, self.clock())

    # -- notices (engine loop) -------------------------------------------------------------------

    def _mark_seen(self, orders: Iterable[Order]) -> None:
        for o in orders:
            self._seen[o.client_order_id] = (o.status, o.filled)

    def _announce(self, orders: Iterable[Order]) -> None:
        """A notice for every order whose fill or status moved since it was last seen."""
        orders = list(orders)
        if len(self._seen) > 4 * MAX_SEEN:  # forget orders neither account remembers any more
            keep = {o.client_order_id for o in orders}
            self._seen = {cid: v for cid, v in self._seen.items() if cid in keep}
        for o in orders:
            if o.client_order_id in self._in_flight:
                continue  # the action in progress reports it (and marks it seen)
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
        kind: NoticeKind
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
        return OrderNotice(self._notice_seq, kind, title, text, self.clock(), o.instrument_id)

    def _set_problem(self, problem: str | None) -> None:
        old = self._view
        if problem != old.problem:
            if problem:
                log.warning("trading: %s", problem)
            self._view = TradingView(old.account, old.env, old.label, old.venue, old.ready,
                                     old.open_orders, old.positions, old.balances, old.fills,
                                     problem, old.version + 1, old.notices)

    # -- polling a remote account ------------------------------------------------------------------

    # -- the private stream (engine loop) ------------------------------------------------------

    def _on_pushed(self) -> None:
        """Pushes changed the account: publish on the next loop turn (one view for a burst)."""
        if self.loop is not None and not self._push_publish_pending:
            self._push_publish_pending = True
            self.loop.call_soon(self._publish_pushed)

    _push_publish_pending = False

    def _publish_pushed(self) -> None:
        self._push_publish_pending = False
        self._publish()

    async def _on_stream_connected(self) -> None:
        """After every (re)login: what happened while the socket was down reached nobody."""
        self._poll_wake.set()  # the poll reconciles now, everything, then slows down

    def _on_stream_problem(self, problem: str | None) -> None:
        self._stream_problem = problem
        if self._poll_sleeping_long:  # the stream went down: poll at the fast rate again
            self._poll_wake.set()
        self._set_problem(problem)
        self._publish()

    def _streaming(self) -> bool:
        return bool(getattr(self.account, "streaming", False))

    async def _poll(self) -> None:
        n = 0
        while True:
            self._poll_wake.clear()  # a wake during this refresh means: refresh again
            self._poll_sleeping_long = False
            try:
                await self._refresh(fills=n % FILLS_POLL_EVERY == 0 or self._streaming(),
                                    sweep=n % SWEEP_ORDERS_EVERY == 0 or self._streaming())
                self._set_problem(self._stream_problem)
            except TradingError as exc:
                # both, when the stream has its own trouble: neither hides the other
                self._set_problem("; ".join(p for p in (str(exc), self._stream_problem) if p))
            except Exception as exc:  # keep polling whatever one answer looked like
                log.exception("trading poll failed")
                self._set_problem(f"account refresh failed: {redact(str(exc))[:200]}")
            n += 1
            self._publish()
            interval = self.options.reconcile_interval if self._streaming() else POLL_INTERVAL
            self._poll_sleeping_long = interval > POLL_INTERVAL
            try:  # a stream going down brings the fast polling back at once
                await asyncio.wait_for(self._poll_wake.wait(), interval)
            except asyncio.TimeoutError:
                pass

    async def _refresh(self, orders: bool = True, fills: bool = False, sweep: bool = True) -> None:
        """The account as the venue has it now, announced, recorded and published."""
        if self.account is None:
            return
        await self.account.refresh(orders=orders, fills=fills, sweep=sweep)
        self._publish()
