"""The synthetic market behind the local exchange simulator. Pure: no I/O, no wall clock.

Per symbol a latent "fair" price follows a GARCH(1,1) random walk (volatility comes in
clusters, as in real markets). Each model event is one of: liquidity added at a level,
liquidity cancelled, or a market order that walks the opposite side of the book. Makers
quote around the fair price and takers lift quotes the fair price has moved through, so
the book follows the price while trades always print at prices that were in the book.

Everything is seeded and deterministic for a given seed and call sequence; each symbol
has its own generator so symbols do not perturb each other. Time is the model's own
``now_ms``, moved forward by the caller with ``advance``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.market.instruments import MarketType
from app.market.klines import INTERVAL_MS, bucket_start
from app.sim.book import DepthDiff, SimBook
from app.sim.candles import Candle, DeepHistory, HistoryShape, KlineSeries, synth_history
from app.sim.units import Scale

SIM_INTERVALS: tuple[str, ...] = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")
HISTORY_CANDLES = 1500  # enough for the largest Binance klines page (futures, 1500)
FUNDING_PERIOD_MS = 8 * 3_600_000  # funding at 00:00, 08:00, 16:00 UTC
DAY_MS = 86_400_000

SymbolKey = tuple[str, str]  # (market, venue symbol): BTCUSDT is both spot and perp


@dataclass(frozen=True, slots=True)
class SimSymbol:
    symbol: str  # venue symbol, e.g. "BTCUSDT"
    base: str
    quote: str
    market: MarketType
    start_price: float
    tick: float = 0.01
    lot: float = 0.00001
    min_notional: float = 5.0

    @property
    def key(self) -> SymbolKey:
        return (self.market, self.symbol)


@dataclass(frozen=True, slots=True)
class ModelParams:
    """Knobs of the synthetic market; the defaults give a lively but plausible book."""

    step_sigma: float = 2e-5  # long-run stdev of the fair price's log return per event
    garch_alpha: float = 0.06
    garch_beta: float = 0.92
    p_add: float = 0.52  # event mix when the fair price is inside the spread
    p_cancel: float = 0.33  # (the rest are market orders)
    level_notional: float = 12_000.0  # typical quote-currency size of one added order
    add_spread: float = 4.0  # how far from fair new orders rest, in price grains
    chase_sigmas: float = 3.0  # how far past a quote the fair price goes before takers chase
    p_improve: float = 0.5  # share of adds that step inside a spread wider than a tick
    max_sweep_levels: int = 10


@dataclass(frozen=True, slots=True)
class Fill:
    """One aggregate trade: a taker order filled against one price level.

    ``parts`` are the sizes of the individual trades (maker orders) it consists of, with
    trade ids ``first_id`` .. ``last_id``.
    """

    agg_id: int
    first_id: int
    last_id: int
    price: int  # ticks
    qty: int  # lots
    parts: tuple[int, ...]
    ts: int
    buyer_is_maker: bool  # Binance's "m": true when the taker sold


@dataclass(frozen=True, slots=True)
class Stats24h:
    open: int
    high: int
    low: int
    last: int
    last_qty: int
    prev_close: int  # close before the window (Binance spot "x")
    volume: int  # lots
    quote_volume: int  # ticks x lots
    count: int
    first_id: int
    last_id: int
    open_time: int
    close_time: int


@dataclass(frozen=True, slots=True)
class MarkInfo:
    mark: float
    index: float
    settle: float
    funding_rate: float
    next_funding_ms: int


@dataclass(frozen=True, slots=True)
class ClosedKline:
    key: SymbolKey
    interval: str
    candle: Candle


class SymbolSim:
    """All model state of one symbol: price process, book, trade ids, klines, funding."""

    __slots__ = ("spec", "params", "levels", "price", "qty", "rng", "book", "fair", "var",
                 "grain", "trade_id", "agg_id", "last_price", "last_qty", "series",
                 "_seed_text", "_fund_rng", "_basis", "_funding", "_omega", "anchor",
                 "funding_knob", "spread_knob")

    def __init__(self, spec: SimSymbol, seed: int, now_ms: int, levels: int,
                 params: ModelParams) -> None:
        self.spec = spec
        self.params = params
        self.levels = levels
        self.price = Scale.of(spec.tick)
        self.qty = Scale.of(spec.lot)
        self._seed_text = f"{seed}:{spec.market}:{spec.symbol}"
        self.rng = random.Random(self._seed_text)
        self._fund_rng = random.Random(self._seed_text + ":funding")
        start = max(1, self.price.count(spec.start_price))
        self.fair = float(start)
        self.var = params.step_sigma ** 2
        self._omega = self.var * (1.0 - params.garch_alpha - params.garch_beta)
        # The price "grain": ~1e-5 of the price in ticks, so BTC at 0.01 and SOL at 0.01
        # get books of similar relative width.
        self.grain = max(1, round(start * 1e-5))
        rng = self.rng
        if spec.market == "spot":
            first_update = rng.randrange(10_000_000, 90_000_000)
        else:
            first_update = rng.randrange(100_000_000_000, 900_000_000_000)
        self.book = SimBook(self.price, self.qty, first_update, rng,
                            max_id_step=1 if spec.market == "spot" else 4)
        self._seed_book(start)
        self.trade_id = rng.randrange(100_000_000, 900_000_000)  # next id to hand out
        self.agg_id = rng.randrange(10_000_000, 90_000_000)
        self.last_price = start
        self.last_qty = 0
        self.series = {iv: KlineSeries(iv, now_ms, start, self._history, self._deep_history)
                       for iv in SIM_INTERVALS}
        self._basis = 2e-4
        self._funding = 1e-4
        self.anchor: Callable[[int], float] | None = None  # set by a multi-venue world
        # a world's knobs (alert tests): a pinned funding rate, a minimum spread (fraction)
        self.funding_knob: Callable[[], float | None] | None = None
        self.spread_knob: Callable[[], float] | None = None

    # -- construction ------------------------------------------------------------------

    def _lots(self, notional: float) -> int:
        return max(1, int(notional / (self.fair * self.price.step) / self.qty.step))

    def _seed_book(self, mid: int) -> None:
        rng, book, g = self.rng, self.book, self.grain
        n = self.levels + self.levels // 8
        bid, ask = (mid - 1 if g > 1 else mid), mid + 1
        for i in range(n):
            depth = i / self.levels
            notional = self.params.level_notional * rng.lognormvariate(0.0, 0.9) * (1 + 2 * depth)
            if bid > 0:
                book.seed_level(True, bid, self._lots(notional))
            notional = self.params.level_notional * rng.lognormvariate(0.0, 0.9) * (1 + 2 * depth)
            book.seed_level(False, ask, self._lots(notional))
            # Dense near the touch, sparser deeper, as on a real venue.
            bid -= 1 + int(rng.expovariate(1.0) * g * (0.5 + 3 * depth))
            ask += 1 + int(rng.expovariate(1.0) * g * (0.5 + 3 * depth))

    def _history(self, interval: str, end_open_time: int, close: int) -> list[Candle]:
        rng = random.Random(f"{self._seed_text}:history:{interval}")
        shape = HistoryShape(self.price.step, self.qty.step)
        return synth_history(rng, interval, end_open_time, close, HISTORY_CANDLES, shape)

    def _deep_history(self, interval: str, junction: int, junction_price: int) -> DeepHistory:
        # levels around the listed start price, so every run's deep past is the same
        shape = HistoryShape(self.price.step, self.qty.step)
        return DeepHistory(self._seed_text, interval, shape, self.price.count(self.spec.start_price),
                           junction, junction_price)

    # -- events ------------------------------------------------------------------------

    def step(self, now_ms: int) -> list[Fill]:
        """One model event; returns the trades it printed (often none)."""
        rng, p, book = self.rng, self.params, self.book
        r = math.sqrt(self.var) * rng.gauss(0.0, 1.0)
        self.var = self._omega + p.garch_alpha * r * r + p.garch_beta * self.var
        self.fair *= math.exp(r)
        if self.anchor is not None:
            # a shared underlying keeps venues within realistic spreads of each other
            target = self.anchor(now_ms) / self.price.step
            self.fair += 0.02 * (target - self.fair)
        fair = self.fair
        # Takers only chase once the fair price is clearly past a quote (by a couple of
        # current sigmas); otherwise every wiggle would clear the touch and the spread
        # would stay several sigmas wide.
        band = p.chase_sigmas * math.sqrt(self.var) * fair
        u = rng.random()
        fills: list[Fill] = []
        if fair > book.best_ask() + band:
            # The fair price moved through the offers: takers lift them, makers pull them,
            # and other makers follow the move with bids behind it.
            if u < 0.45:
                fills = self._take(True, now_ms, fair)
            elif u < 0.75:
                self._add(now_ms, True)
            else:
                self._pull_best(False, now_ms)
        elif fair < book.best_bid() - band:
            if u < 0.45:
                fills = self._take(False, now_ms, fair)
            elif u < 0.75:
                self._add(now_ms, False)
            else:
                self._pull_best(True, now_ms)
        elif u < p.p_add:
            self._add(now_ms, rng.random() < 0.5)
        elif u < p.p_add + p.p_cancel:
            self._cancel(now_ms)
        else:
            bb, ba = book.best_bid(), book.best_ask()
            tilt = (fair - (bb + ba) / 2) / max(1.0, float(ba - bb))
            buy = rng.random() < 0.5 + max(-0.4, min(0.4, tilt))
            fills = self._take(buy, now_ms, None)
        if self.spread_knob is not None:
            self._keep_wide(self.spread_knob(), now_ms)
        self._keep_depth(now_ms)
        return fills

    def _keep_wide(self, spread: float, now_ms: int) -> None:
        """Pull quotes inside ``fair * (1 -+ spread/2)`` (the widen knob)."""
        if spread <= 0:
            return
        half = self.fair * spread / 2
        book = self.book
        while book.depth(True) > 1 and book.best_bid() > self.fair - half:
            book.set_level(True, book.best_bid(), 0, now_ms)
        while book.depth(False) > 1 and book.best_ask() < self.fair + half:
            book.set_level(False, book.best_ask(), 0, now_ms)

    def _add(self, now_ms: int, is_bid: bool) -> None:
        rng, book = self.rng, self.book
        bb, ba = book.best_bid(), book.best_ask()
        if ba - bb > 1 and rng.random() < self.params.p_improve:
            # Makers compete for priority by stepping inside a wide spread.
            inside = 1 + int(rng.random() * (ba - bb - 1))
            px = bb + inside if is_bid else ba - inside
        else:
            away = int(rng.expovariate(1.0) * self.grain * self.params.add_spread)
            if is_bid:
                px = min(ba - 1, math.floor(self.fair) - away)
            else:
                px = max(bb + 1, math.ceil(self.fair) + away)
        side = book.bids if is_bid else book.asks
        if px <= 0:
            return
        lots = self._lots(self.params.level_notional * rng.lognormvariate(0.0, 0.9))
        book.set_level(is_bid, px, side.get(px, 0) + lots, now_ms)

    def _cancel(self, now_ms: int) -> None:
        rng, book = self.rng, self.book
        is_bid = rng.random() < 0.5
        n = book.depth(is_bid)
        if n <= 1:
            return
        # Most cancels happen near the touch, where most orders are re-priced.
        idx = min(n - 1, int(rng.expovariate(0.3))) if rng.random() < 0.6 else rng.randrange(n)
        px = book.level_at(is_bid, idx)
        have = (book.bids if is_bid else book.asks)[px]
        left = 0 if have <= 1 or rng.random() < 0.5 else max(1, int(have * rng.uniform(0.2, 0.9)))
        book.set_level(is_bid, px, left, now_ms)

    def _pull_best(self, is_bid: bool, now_ms: int) -> None:
        if self.book.depth(is_bid) > 1:
            self.book.set_level(is_bid, self.book.level_at(is_bid, 0), 0, now_ms)

    def _take(self, buy: bool, now_ms: int, limit: float | None) -> list[Fill]:
        """A market order by a taker (``buy``) walking the opposite side."""
        rng, book = self.rng, self.book
        is_bid = not buy  # a buyer consumes asks
        side = book.bids if is_bid else book.asks
        max_levels = min(self.params.max_sweep_levels, book.depth(is_bid) - 1)
        if limit is None:
            want = max(1, int(side[book.level_at(is_bid, 0)] * rng.uniform(0.05, 1.2)))
        else:
            # Enough to clear the levels the fair price has passed, plus a bit more.
            want = 0
            for i in range(max_levels):
                px = book.level_at(is_bid, i)
                if (px > limit) if buy else (px < limit):
                    want += int(side[px] * rng.uniform(0.0, 0.5))
                    break
                want += side[px]
            want = max(1, want)
        fills: list[Fill] = []
        for _ in range(max_levels):
            if want <= 0:
                break
            px = book.level_at(is_bid, 0)
            have = side[px]
            lots = min(have, want)
            parts = self._split(lots)
            fill = Fill(self.agg_id, self.trade_id, self.trade_id + len(parts) - 1, px, lots,
                        parts, now_ms, not buy)
            self.agg_id += 1
            self.trade_id += len(parts)
            book.set_level(is_bid, px, have - lots, now_ms)
            self._record(fill)
            fills.append(fill)
            want -= lots
        return fills

    def _split(self, lots: int) -> tuple[int, ...]:
        """Sizes of the maker orders a fill hit (Binance aggregates them into one aggTrade)."""
        rng = self.rng
        n = min(lots, 1 + (rng.random() < 0.4) + (rng.random() < 0.2))
        if n == 1:
            return (lots,)
        cuts = sorted(rng.sample(range(1, lots), n - 1))
        edges = [0, *cuts, lots]
        return tuple(edges[i + 1] - edges[i] for i in range(n))

    def _record(self, fill: Fill) -> None:
        self.last_price = fill.price
        self.last_qty = fill.qty
        taker_buy = not fill.buyer_is_maker
        for s in self.series.values():
            s.add_trade(fill.price, fill.qty, taker_buy, fill.first_id, fill.last_id)

    def _keep_depth(self, now_ms: int) -> None:
        """Refill deep levels so each side keeps >= ``levels``; trim far ones so books
        do not grow without bound as the price trends."""
        rng, book, g = self.rng, self.book, self.grain
        cap = self.levels + max(4, self.levels // 4)
        for is_bid in (True, False):
            n = book.depth(is_bid)
            while n < self.levels:
                gap = 1 + int(rng.expovariate(1.0) * g * 3.5)
                px = book.worst(is_bid) - gap if is_bid else book.worst(is_bid) + gap
                if px <= 0:
                    break
                notional = self.params.level_notional * rng.lognormvariate(0.0, 0.9) * 3
                book.set_level(is_bid, px, self._lots(notional), now_ms)
                n += 1
            while n > cap:
                book.set_level(is_bid, book.worst(is_bid), 0, now_ms)
                n -= 1

    # -- derived views -----------------------------------------------------------------

    def roll(self, now_ms: int) -> list[ClosedKline]:
        out: list[ClosedKline] = []
        for iv, s in self.series.items():
            for c in s.roll(now_ms):
                out.append(ClosedKline(self.spec.key, iv, c))
        return out

    def stats(self, now_ms: int) -> Stats24h:
        """Rolling-24h ticker figures from the 1h candles (synthetic past + live)."""
        hour = INTERVAL_MS["1h"]
        start = bucket_start(now_ms, "1h") - 23 * hour
        candles = self.series["1h"].query(start - hour, None, 25)
        prev_close = candles[0].close if candles and candles[0].open_time < start else None
        window = [c for c in candles if c.open_time >= start]
        count = sum(c.trades for c in window)
        last_id = self.trade_id - 1
        return Stats24h(
            open=window[0].open, high=max(c.high for c in window),
            low=min(c.low for c in window), last=self.last_price, last_qty=self.last_qty,
            prev_close=window[0].open if prev_close is None else prev_close,
            volume=sum(c.volume for c in window),
            quote_volume=sum(c.quote_volume for c in window), count=count,
            first_id=last_id - count + 1, last_id=last_id,
            open_time=now_ms - DAY_MS, close_time=now_ms)

    def mark(self, now_ms: int) -> MarkInfo:
        """Mark ~ mid, index ~ mid less a small basis, funding ~ 0.01 % with noise."""
        rng = self._fund_rng
        mid = (self.book.best_bid() + self.book.best_ask()) / 2 * self.price.step
        self._basis += 0.05 * (2e-4 - self._basis) + rng.gauss(0.0, 2e-5)
        self._funding += 0.05 * (1e-4 - self._funding) + rng.gauss(0.0, 5e-6)
        index = mid * (1.0 - self._basis)
        pinned = self.funding_knob() if self.funding_knob is not None else None
        return MarkInfo(mark=mid, index=index, settle=index * (1.0 + rng.gauss(0.0, 1e-5)),
                        funding_rate=self._funding if pinned is None else pinned,
                        next_funding_ms=(now_ms // FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS)


class SimMarket:
    """A seeded synthetic market of several symbols sharing one model clock."""

    def __init__(self, symbols: list[SimSymbol], seed: int = 1,
                 start_time_ms: int | None = None, levels: int = 200,
                 params: ModelParams | None = None) -> None:
        if not symbols:
            raise ValueError("SimMarket needs at least one symbol")
        if levels < 2:
            raise ValueError("levels must be >= 2")
        self.seed = seed
        self.levels = levels
        self.now_ms = int(time.time() * 1000) if start_time_ms is None else start_time_ms
        params = params or ModelParams()
        self._syms: dict[SymbolKey, SymbolSim] = {}
        for spec in symbols:
            if spec.key in self._syms:
                raise ValueError(f"duplicate symbol {spec.market} {spec.symbol}")
            self._syms[spec.key] = SymbolSim(spec, seed, self.now_ms, levels, params)

    def anchor_to(self, anchors, venue: str) -> None:
        """Pull every symbol toward the shared underlying of its base asset
        (``app.sim.underlying.Anchors``), so this venue tracks the others."""
        for sim in self._syms.values():
            sim.anchor = anchors.anchor_for(venue, sim.spec.base, sim.spec.start_price)
            sim.funding_knob = lambda: anchors.funding(venue)
            sim.spread_knob = lambda: anchors.min_spread(venue)

    # -- lookup ------------------------------------------------------------------------

    @property
    def symbols(self) -> list[SimSymbol]:
        return [s.spec for s in self._syms.values()]

    def keys(self) -> list[SymbolKey]:
        return list(self._syms)

    def has(self, symbol: str, market: str) -> bool:
        return (market, symbol) in self._syms

    def sim(self, symbol: str, market: str | None = None) -> SymbolSim:
        """The per-symbol state. ``market`` may be omitted when the symbol is unambiguous."""
        if market is not None:
            try:
                return self._syms[(market, symbol)]
            except KeyError:
                raise KeyError(f"no {market} symbol {symbol!r} in the simulator") from None
        found = [s for (m, sym), s in self._syms.items() if sym == symbol]
        if len(found) == 1:
            return found[0]
        if not found:
            raise KeyError(f"no symbol {symbol!r} in the simulator")
        raise KeyError(f"{symbol!r} is both spot and perp: pass market='spot' or 'perp'")

    # -- model clock and events --------------------------------------------------------

    def advance(self, dt_ms: int) -> list[ClosedKline]:
        """Move model time forward; returns the klines that closed because of it."""
        if dt_ms < 0:
            raise ValueError("model time cannot go backwards")
        self.now_ms += dt_ms
        closed: list[ClosedKline] = []
        for s in self._syms.values():
            closed.extend(s.roll(self.now_ms))
        return closed

    def step(self, symbol: str, market: str | None = None) -> list[Fill]:
        """One model event for one symbol at the current model time."""
        return self.sim(symbol, market).step(self.now_ms)

    def warm_up(self, steps: int, step_ms: int = 0) -> None:
        """Run ``steps`` events per symbol (moving time by ``step_ms`` before each round),
        then drop the pending diff windows so serving starts from a clean window."""
        for _ in range(steps):
            if step_ms:
                self.advance(step_ms)
            for s in self._syms.values():
                s.step(self.now_ms)
        for s in self._syms.values():
            s.book.discard_diff()

    def take_diff(self, symbol: str, market: str | None = None) -> DepthDiff | None:
        """Binance diff content of every level changed since the previous call."""
        return self.sim(symbol, market).book.take_diff()

    # -- views -------------------------------------------------------------------------

    def truth(self, symbol: str, market: str | None = None
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        """The true book now: (last update id, {price: qty} bids, asks)."""
        return self.sim(symbol, market).book.truth()

    def snapshot(self, symbol: str, limit: int = 100, market: str | None = None
                 ) -> dict[str, Any]:
        """Binance REST depth snapshot (futures also carry ``E`` and ``T``)."""
        s = self.sim(symbol, market)
        snap = s.book.snapshot(limit)
        if s.spec.market == "perp":
            snap = {"lastUpdateId": snap["lastUpdateId"], "E": self.now_ms, "T": self.now_ms,
                    "bids": snap["bids"], "asks": snap["asks"]}
        return snap

    def klines(self, symbol: str, interval: str, start_ms: int | None = None,
               end_ms: int | None = None, limit: int = 500, market: str | None = None
               ) -> list[Candle]:
        if interval not in SIM_INTERVALS:
            raise ValueError(f"unknown interval {interval!r}")
        return self.sim(symbol, market).series[interval].query(start_ms, end_ms, limit)

    def stats(self, symbol: str, market: str | None = None) -> Stats24h:
        return self.sim(symbol, market).stats(self.now_ms)

    def mark(self, symbol: str, market: str | None = None) -> MarkInfo:
        s = self.sim(symbol, market)
        if s.spec.market != "perp":
            raise KeyError(f"{symbol} spot has no mark price")
        return s.mark(self.now_ms)


def default_demo_symbols() -> list[SimSymbol]:
    """The demo set: three spot pairs and two USDT perpetuals at realistic prices.

    Perps use Binance's real BTCUSDT/ETHUSDT perp steps (0.10 / 0.01 price, 0.001 qty),
    which also exercises a second number of decimals in clients.
    """
    return [
        SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 97_000.0, 0.01, 0.00001),
        SimSymbol("ETHUSDT", "ETH", "USDT", "spot", 3_400.0, 0.01, 0.0001),
        SimSymbol("SOLUSDT", "SOL", "USDT", "spot", 180.0, 0.01, 0.001),
        SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 97_050.0, 0.1, 0.001, min_notional=100.0),
        SimSymbol("ETHUSDT", "ETH", "USDT", "perp", 3_401.5, 0.01, 0.001, min_notional=20.0),
    ]
