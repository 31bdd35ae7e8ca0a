"""The backtest loop: a strategy over bars (or trades), filled by the shared fill model.

Order of events for each bar, oldest first:
1. funding times up to the bar's open are charged on the position held, at the open;
2. orders waiting from earlier bars are matched against this bar (app.trading.fill_model's
   bar rules: market at the open plus slippage, a limit at the open when the bar gaps
   through it else at the limit when the bar trades through it, a stop at the open or its
   trigger then like a market order); ``on_fill`` runs for each fill;
3. ``on_bar`` sees the closed bar; orders it places wait for the next bar.

The per-bar path does float arithmetic only; Decimals (exact money) are touched only when
an order is placed or filled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Any

from app.backtest.bars import Bar, Bars, History, Ticks
from app.backtest.strategy import LoadedStrategy, StrategyError, fault, order_fault
from app.errors import CryptotermError
from app.trading.fill_model import (PaperFees, PerpPosition, apply_fill, apply_funding,
                                    bar_limit_price, bar_stop_price, limit_through, stop_hit)
from app.trading.models import ZERO, Fill, Liquidity, Order, OrderRequest, Side, dec
from app.trading.validation import AccountContext, MarketRules, fmt, validate

MAINTENANCE_MARGIN = Decimal("0.005")
PROGRESS_EVERY = 8192  # bars between progress callbacks

ProgressFn = Callable[[int, int], None]


class Cancelled(CryptotermError):
    """Raised by a progress callback to stop a run (its screen is gone)."""

    default_title = "Backtest"


@dataclass(frozen=True, slots=True)
class Settings:
    cash: Decimal = Decimal(10_000)
    fees: PaperFees = field(default_factory=PaperFees)
    slippage_bps: Decimal = ZERO
    slippage_volume: bool = False  # proportional to the order's share of the bar's volume
    leverage: int = 1  # perps
    funding: tuple[tuple[int, Decimal], ...] = ()  # (time, rate), perps; sorted


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """A fill with what it did to the account (the trades list and --trades-csv)."""

    fill: Fill
    order_type: str
    realized_pnl: Decimal  # PnL the fill closed (perps: vs entry; spot: vs average cost)
    position_after: Decimal
    equity_after: float


@dataclass(slots=True)
class Result:
    params: dict[str, Any]
    rules: MarketRules
    step: int
    start_cash: Decimal
    open_time: list[int]
    equity: list[float]  # at each bar's close
    trades: list[TradeRecord]
    orders: list[Order]  # every order placed, final state
    final_cash: Decimal
    final_position: Decimal
    final_equity: Decimal
    fees: Decimal
    funding: Decimal  # paid (> 0) or received (< 0)
    exposed_bars: int
    liquidations: int = 0

    @property
    def bars(self) -> int:
        return len(self.equity)


class Context:
    """What a strategy sees as ``ctx`` (documented in the README)."""

    def __init__(self, run: Backtest, params: dict[str, Any]) -> None:
        self._run = run
        self.params = params
        self.now = 0  # ms: the close time of the bar (the time of the trade) being handled
        self.position = 0.0  # signed base units
        self.cash = float(run.settings.cash)
        self.symbol = run.rules.symbol
        self.is_perp = run.rules.is_perp
        self.lot = float(run.rules.lot)
        self.tick = float(run.rules.tick)
        self.min_notional = float(run.rules.min_notional)
        self.leverage = run.settings.leverage
        self._i = -1

    @property
    def equity(self) -> float:
        run = self._run
        return run.cash_f + run.pos_f * run.last_f + run.off_f

    @property
    def price(self) -> float:
        """The last price seen (the bar's close, or the trade's price)."""
        return self._run.last_f

    def history(self, n: int) -> History:
        """The last ``n`` closed bars (fewer at the start), oldest first."""
        hi = self._i + 1
        lo = hi - n
        return History(self._run.bars, lo if lo > 0 else 0, hi)

    @property
    def orders(self) -> list[Order]:
        """Open orders, oldest first."""
        return list(self._run.pending)

    @property
    def fills(self) -> list[Fill]:
        """Every fill so far, oldest first."""
        return [t.fill for t in self._run.trades]

    def round_amount(self, amount: float | Decimal | str) -> float:
        """``amount`` rounded down to the instrument's lot. A float, for arithmetic with
        prices, that buy/sell read back exactly (they read a float as it prints)."""
        lot = self._run.rules.lot
        return float((dec(amount) / lot).to_integral_value(ROUND_DOWN) * lot)

    def buy(self, amount: float | Decimal | str, limit: float | Decimal | str | None = None,
            stop: float | Decimal | str | None = None) -> Order:
        return self._run.place("buy", amount, limit, stop)

    def sell(self, amount: float | Decimal | str, limit: float | Decimal | str | None = None,
             stop: float | Decimal | str | None = None) -> Order:
        return self._run.place("sell", amount, limit, stop)

    def close(self) -> Order | None:
        """A market order that flattens the position (None when flat)."""
        pos = self._run.position()
        if pos == 0:
            return None
        return self._run.place("sell" if pos > 0 else "buy", abs(pos), None, None)

    def cancel_all(self) -> int:
        """Cancel every open order; returns how many."""
        return self._run.cancel_all()


class Backtest:
    def __init__(self, strategy: LoadedStrategy, bars: Bars, rules: MarketRules,
                 settings: Settings | None = None, params: dict[str, Any] | None = None,
                 ticks: Ticks | None = None, progress: ProgressFn | None = None) -> None:
        self.loaded = strategy
        self.bars = bars
        self.rules = rules
        self.settings = settings or Settings()
        self.params = {**strategy.params, **(params or {})}
        self.ticks = ticks if ticks is not None and strategy.has("on_trade") else None
        self.progress = progress
        quote = rules.quote
        self.wallet: dict[str, Decimal] = {quote: self.settings.cash}
        self.positions: dict[str, PerpPosition] = {}
        self.pending: list[Order] = []
        self.orders: list[Order] = []
        self._where: dict[str, int] = {}  # client id -> index in self.orders
        self.trades: list[TradeRecord] = []
        self.fees = ZERO
        self.funding_paid = ZERO
        self.liquidations = 0
        self.spot_cost = ZERO  # spot: what the held base cost (for realized PnL)
        # float mirrors of the exact state, for the per-bar equity
        self.cash_f = float(self.settings.cash)
        self.pos_f = 0.0
        self.off_f = 0.0  # perps: -size * entry, so equity = cash + size * price + off
        self.last_f = 0.0
        self._seq = 0
        self._i = -1
        self._ts = 0
        self._open: Decimal | None = None  # the open of the bar being matched (Decimal)
        self.strategy: Any = None
        self.ctx = Context(self, self.params)

    # -- running ---------------------------------------------------------------------

    def run(self) -> Result:
        self.strategy = self.loaded.make(self.params)
        path = self.loaded.path
        try:
            on_start = getattr(self.strategy, "on_start", None)
            if callable(on_start):
                on_start(self.ctx)
            if self.ticks is not None:
                equity, exposed = self._run_ticks()
            else:
                equity, exposed = self._run_bars()
        except (StrategyError, Cancelled):
            raise
        except Exception as exc:
            doing = "in on_start" if self._i < 0 else f"handling {_when(self._ts)}"
            raise fault(path, exc, doing) from None
        return self._result(equity, exposed)

    def _run_bars(self) -> tuple[list[float], int]:
        bars = self.bars
        ot, op, hi, lo, cl, vo = bars.open_time, bars.open, bars.high, bars.low, bars.close, bars.volume
        step = bars.step
        n = len(ot)
        ctx = self.ctx
        on_bar = getattr(self.strategy, "on_bar", None)
        if not callable(on_bar):
            on_bar = _nothing
        funding = list(self.settings.funding) if self.rules.is_perp else []
        fi = 0
        next_funding = funding[0][0] if funding else math.inf
        equity: list[float] = []
        push = equity.append
        exposed = 0
        progress = self.progress
        every = PROGRESS_EVERY
        perp = self.rules.is_perp
        for i in range(n):
            t = ot[i]
            self._i = i
            if t >= next_funding:
                fi = self._fund(funding, fi, t, op[i])
                next_funding = funding[fi][0] if fi < len(funding) else math.inf
            if self.pending:
                self._match_bar(i, t)
            c = cl[i]
            ctx._i = i
            ctx.now = t + step
            self._ts = t + step
            self.last_f = c
            on_bar(ctx, Bar(t, op[i], hi[i], lo[i], c, vo[i]))
            pos = self.pos_f
            if pos:
                exposed += 1
                if perp:
                    self._check_liquidation(c)
                    pos = self.pos_f
            push(self.cash_f + pos * c + self.off_f)
            if progress is not None and i % every == 0:
                progress(i, n)
        if progress is not None:
            progress(n, n)
        return equity, exposed

    def _run_ticks(self) -> tuple[list[float], int]:
        """Tick mode: trades are delivered to ``on_trade`` as they printed, orders fill
        against trades (the paper account's rules), ``on_bar`` still runs at each close."""
        assert self.ticks is not None
        bars, ticks = self.bars, self.ticks
        ts, px, amt, sd = ticks.ts, ticks.price, ticks.amount, ticks.side
        on_trade = getattr(self.strategy, "on_trade")
        on_bar = getattr(self.strategy, "on_bar", None)
        if not callable(on_bar):
            on_bar = _nothing
        funding = list(self.settings.funding) if self.rules.is_perp else []
        fi = 0
        next_funding = funding[0][0] if funding else math.inf
        equity: list[float] = []
        exposed = 0
        j, m = 0, len(ts)
        n = len(bars)
        ctx = self.ctx
        for i in range(n):
            t = bars.open_time[i]
            end = t + bars.step
            while j < m and ts[j] < end:
                if ts[j] >= next_funding:
                    fi = self._fund(funding, fi, ts[j], px[j])
                    next_funding = funding[fi][0] if fi < len(funding) else math.inf
                if ts[j] >= t:  # trades before the first bar only warm nothing up
                    self._ts = ts[j]
                    ctx.now = ts[j]
                    self.last_f = px[j]
                    if self.pending:
                        self._match_trade(px[j], ts[j])
                    on_trade(ctx, TradeView(ts[j], px[j], amt[j], sd[j]))
                j += 1
            self._i = ctx._i = i
            ctx.now = self._ts = end
            c = bars.close[i]
            self.last_f = c
            on_bar(ctx, Bar(t, bars.open[i], bars.high[i], bars.low[i], c, bars.volume[i]))
            if self.pos_f:
                exposed += 1
                if self.rules.is_perp:
                    self._check_liquidation(c)
            equity.append(self.cash_f + self.pos_f * c + self.off_f)
            if self.progress is not None and i % PROGRESS_EVERY == 0:
                self.progress(i, n)
        if self.progress is not None:
            self.progress(n, n)
        return equity, exposed

    # -- orders ------------------------------------------------------------------------

    def position(self) -> Decimal:
        if self.rules.is_perp:
            pos = self.positions.get(self.rules.instrument_id)
            return pos.size if pos else ZERO
        return self.wallet.get(self.rules.base, ZERO)

    def place(self, side: Side, amount: Any, limit: Any, stop: Any) -> Order:
        path = self.loaded.path
        rules = self.rules
        if not self.last_f:
            raise order_fault(path, "orders can be placed from the first bar (or trade) on; "
                                    "on_start runs before there is a price")
        try:
            qty = _number(amount, "amount")
            price = None if limit is None else _number(limit, "limit")
            trigger = None if stop is None else _number(stop, "stop")
        except ValueError as exc:
            raise order_fault(path, str(exc)) from None
        if price is not None and trigger is not None:
            raise order_fault(path, "give a limit or a stop, not both (stop-limits are not "
                                    "simulated)")
        kind = "limit" if price is not None else "stop" if trigger is not None else "market"
        pos = self.position()
        reducing = rules.is_perp and pos != 0 and (side == "sell") == (pos > 0) \
            and qty.is_finite() and qty <= abs(pos) - self._pending_reducing(side)
        self._seq += 1
        req = OrderRequest(rules.instrument_id, side, kind, qty, price, trigger,  # type: ignore[arg-type]  # kind is one of the three literals
                           reduce_only=reducing, client_order_id=f"bt{self._seq}")
        last = dec(self.last_f)
        errors = validate(req, rules, self._account_context(side, last))
        if errors:
            raise order_fault(path, "; ".join(e.message for e in errors))
        order = Order(req.client_order_id, rules.instrument_id, rules.symbol, side, kind,  # type: ignore[arg-type]  # as above
                      qty, price, trigger, "open", self._ts, self._ts, reduce_only=reducing)
        self.pending.append(order)
        self._where[order.client_order_id] = len(self.orders)
        self.orders.append(order)
        return order

    def cancel_all(self) -> int:
        count = len(self.pending)
        for o in self.pending:
            self._final(o.evolve(status="canceled", updated_ts=self._ts))
        self.pending = []
        return count

    def _pending_reducing(self, side: Side) -> Decimal:
        return sum((o.remaining for o in self.pending if o.reduce_only and o.side == side), ZERO)

    def _account_context(self, side: Side, last: Decimal | None) -> AccountContext:
        rules, fees = self.rules, self.settings.fees
        maker, taker = fees.rate(rules, "maker"), fees.rate(rules, "taker")
        cash = self.wallet.get(rules.quote, ZERO)
        reserved = ZERO
        base_reserved = ZERO
        for o in self.pending:
            ref = o.price or o.stop_price or last or ZERO
            rate = maker if o.type == "limit" else taker
            if rules.is_perp:
                if not o.reduce_only:
                    reserved += ref * o.remaining / self.settings.leverage + ref * o.remaining * rate
            elif o.side == "buy":
                reserved += ref * o.remaining * (1 + rate)
            else:
                base_reserved += o.remaining
        available = cash - reserved
        pos = self.positions.get(rules.instrument_id)
        if rules.is_perp and pos is not None and pos.size != 0:
            available -= pos.margin
            if last is not None:
                available += min(ZERO, (last - pos.entry) * pos.size)
        return AccountContext(
            available_quote=available,
            available_base=ZERO if rules.is_perp else
            self.wallet.get(rules.base, ZERO) - base_reserved,
            position_size=pos.size if pos else ZERO,
            position_margin_mode="cross" if pos is not None and pos.size != 0 else None,
            reference_price=last, last_price=last, taker_fee=taker, maker_fee=maker,
            leverage=self.settings.leverage)

    # -- matching ------------------------------------------------------------------------

    def _match_bar(self, i: int, t: int) -> None:
        bars = self.bars
        o_, h_, l_ = dec(bars.open[i]), dec(bars.high[i]), dec(bars.low[i])
        volume = bars.volume[i]
        waiting, self.pending = self.pending, []  # orders placed by on_fill wait for the next bar
        at_open: list[tuple[Order, Decimal, Liquidity]] = []
        later: list[tuple[Order, Decimal, Liquidity]] = []
        keep: list[Order] = []
        for order in waiting:
            if order.type == "market":
                at_open.append((order, self._slipped(order, o_, o_, h_, l_, volume), "taker"))
            elif order.type == "limit" and order.price is not None:
                price = bar_limit_price(order.side, order.price, o_, h_, l_)
                if price is None:
                    keep.append(order)
                else:
                    (at_open if price == o_ else later).append((order, price, "maker"))
            elif order.stop_price is not None:
                trig = bar_stop_price(order.side, order.stop_price, o_, h_, l_)
                if trig is None:
                    keep.append(order)
                else:
                    (at_open if trig == o_ else later).append(
                        (order, self._slipped(order, trig, o_, h_, l_, volume), "taker"))
        self.pending = keep + self.pending
        for order, price, liquidity in at_open + later:
            self._execute(order, price, liquidity, t)

    def _match_trade(self, price_f: float, ts: int) -> None:
        price = dec(price_f)
        waiting, self.pending = self.pending, []
        keep: list[Order] = []
        fills: list[tuple[Order, Decimal, Liquidity]] = []
        for order in waiting:
            if order.type == "market":
                fills.append((order, self._slip_bps(order.side, price), "taker"))
            elif order.type == "limit" and order.price is not None:
                if limit_through(order.side, order.price, price):
                    fills.append((order, order.price, "maker"))
                else:
                    keep.append(order)
            elif order.stop_price is not None and stop_hit(order.side, order.stop_price, price):
                fills.append((order, self._slip_bps(order.side, price), "taker"))
            else:
                keep.append(order)
        self.pending = keep + self.pending
        for order, p, liquidity in fills:
            self._execute(order, p, liquidity, ts)

    def _slip_bps(self, side: Side, price: Decimal) -> Decimal:
        s = self.settings.slippage_bps / 10_000
        return price * (1 + s) if side == "buy" else price * (1 - s)

    def _slipped(self, order: Order, price: Decimal, open_: Decimal, high: Decimal, low: Decimal,
                 volume: float) -> Decimal:
        if not self.settings.slippage_volume:
            return self._slip_bps(order.side, price)
        # taking the whole bar's volume costs the bar's whole range
        share = order.remaining / dec(volume) if volume > 0 else Decimal(1)
        move = min(share, Decimal(1)) * (high - low)
        return price + move if order.side == "buy" else price - move

    def _execute(self, order: Order, price: Decimal, liquidity: Liquidity, ts: int) -> None:
        rules = self.rules
        qty = order.remaining
        rate = self.settings.fees.rate(rules, liquidity)
        fee = price * qty * rate
        if not rules.is_perp and order.side == "buy":
            cash = self.wallet.get(rules.quote, ZERO)
            if price * qty + fee > cash:
                self._final(order.evolve(status="rejected", updated_ts=ts, message=(
                    f"costs {fmt(price * qty + fee)} {rules.quote} at {fmt(price)}, "
                    f"cash {fmt(cash)}")))
                return
        before = self.wallet.get(rules.quote, ZERO)
        realized = self._spot_realized(order.side, price, qty)
        apply_fill(self.wallet, self.positions, rules, order.side, price, qty, fee,
                   self.settings.leverage, "cross")
        if rules.is_perp:
            realized = self.wallet[rules.quote] - before + fee
        self.fees += fee
        self._sync()
        fill = Fill(f"{order.client_order_id}-1", order.client_order_id, rules.instrument_id,
                    rules.symbol, order.side, price, qty, fee, rules.quote, liquidity, ts)
        filled = order.evolve(status="filled", filled=qty, average=price, fee=fee,
                              fee_asset=rules.quote, updated_ts=ts)
        self._final(filled)
        equity = self.cash_f + self.pos_f * float(price) + self.off_f
        self.trades.append(TradeRecord(fill, order.type, realized, self.position(), equity))
        on_fill = getattr(self.strategy, "on_fill", None)
        if callable(on_fill):
            self.last_f = float(price)
            on_fill(self.ctx, fill)

    def _spot_realized(self, side: Side, price: Decimal, qty: Decimal) -> Decimal:
        if self.rules.is_perp:
            return ZERO
        held = self.wallet.get(self.rules.base, ZERO)
        if side == "buy":
            self.spot_cost += price * qty
            return ZERO
        if held <= 0:
            return ZERO
        cost = self.spot_cost * qty / held
        self.spot_cost -= cost
        return price * qty - cost

    def _final(self, order: Order) -> None:
        self.orders[self._where[order.client_order_id]] = order

    def _sync(self) -> None:
        """Refresh the float mirrors (and ctx) from the exact state after a change."""
        rules = self.rules
        self.cash_f = float(self.wallet.get(rules.quote, ZERO))
        if rules.is_perp:
            pos = self.positions.get(rules.instrument_id)
            size = pos.size if pos else ZERO
            self.pos_f = float(size)
            self.off_f = -float(size * pos.entry) if pos else 0.0
        else:
            self.pos_f = float(self.wallet.get(rules.base, ZERO))
            self.off_f = 0.0
        self.ctx.position = self.pos_f
        self.ctx.cash = self.cash_f

    def _fund(self, funding: list[tuple[int, Decimal]], fi: int, t: int, price: float) -> int:
        pos = self.positions.get(self.rules.instrument_id)
        while fi < len(funding) and funding[fi][0] <= t:
            if pos is not None and pos.size != 0:
                self.funding_paid += apply_funding(self.wallet, pos, self.rules.quote, dec(price),
                                                   funding[fi][1])
            fi += 1
        self._sync()
        return fi

    def _check_liquidation(self, price_f: float) -> None:
        pos = self.positions.get(self.rules.instrument_id)
        if pos is None or pos.size == 0:
            return
        equity = self.cash_f + self.pos_f * price_f + self.off_f
        if equity > float(MAINTENANCE_MARGIN) * abs(self.pos_f) * price_f:
            return
        # the margin is gone: the position is closed at this price, the rest of cash with it
        price = dec(price_f)
        pnl = (price - pos.entry) * pos.size
        self.wallet[self.rules.quote] = self.wallet.get(self.rules.quote, ZERO) + pnl
        pos.realized += pnl
        pos.size = pos.entry = pos.margin = ZERO
        self.liquidations += 1
        self.cancel_all()
        self._sync()

    # -- the outcome ----------------------------------------------------------------------

    def _result(self, equity: list[float], exposed: int) -> Result:
        rules = self.rules
        cash = self.wallet.get(rules.quote, ZERO)
        pos = self.position()
        last = dec(self.bars.close[-1]) if len(self.bars) else ZERO
        if rules.is_perp:
            p = self.positions.get(rules.instrument_id)
            final = cash + ((last - p.entry) * p.size if p and p.size else ZERO)
        else:
            final = cash + pos * last
        return Result(self.params, rules, self.bars.step, self.settings.cash,
                      self.bars.open_time, equity, self.trades, self.orders, cash, pos, final,
                      self.fees, self.funding_paid, exposed, self.liquidations)


class TradeView:
    """A stored trade as ``on_trade`` sees it."""

    __slots__ = ("ts", "price", "amount", "side")

    def __init__(self, ts: int, price: float, amount: float, side: str) -> None:
        self.ts = ts
        self.price = price
        self.amount = amount
        self.side = side


def _when(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"the bar closing {stamp} UTC"


def _nothing(ctx: Context, bar: Bar) -> None:
    return None


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        number = dec(value)
    except Exception:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {value!r} is not a finite number")
    return number
