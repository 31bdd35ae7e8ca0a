"""Klines of one simulated symbol: a synthetic past plus candles built from live trades.

Values are integers in the symbol's units (ticks, lots, and tick x lot for quote
volume) so the wire strings are exact. The past is generated backwards from the start
price, lazily on first use, from its own seeded generator: asking for 1d klines does not
change the 1m history or the live market.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from app.market.klines import INTERVAL_MS, bucket_start


@dataclass(slots=True)
class Candle:
    open_time: int
    close_time: int  # open_time + interval - 1, as Binance reports it
    open: int
    high: int
    low: int
    close: int
    volume: int = 0  # lots
    quote_volume: int = 0  # ticks x lots
    trades: int = 0
    taker_buy_volume: int = 0
    taker_buy_quote: int = 0
    first_trade_id: int = -1  # -1 while the candle has no trade, as Binance sends
    last_trade_id: int = -1
    closed: bool = False


def flat_candle(open_time: int, interval: str, price: int) -> Candle:
    return Candle(open_time, open_time + INTERVAL_MS[interval] - 1, price, price, price, price)


@dataclass(frozen=True, slots=True)
class HistoryShape:
    """How the synthetic past looks; prices are in ticks, volumes in lots."""

    tick_value: float
    lot_value: float
    sigma_per_minute: float = 5e-4  # ~36 %/year, a crypto-like volatility
    notional_per_minute: float = 1_500_000.0
    notional_per_trade: float = 2_000.0


def synth_history(rng: random.Random, interval: str, end_open_time: int, close: int,
                  count: int, shape: HistoryShape) -> list[Candle]:
    """``count`` closed candles ending just before ``end_open_time``, the newest closing
    exactly at ``close``; each candle's open is the previous candle's close."""
    step = INTERVAL_MS[interval]
    minutes = step / 60_000
    sigma = shape.sigma_per_minute * math.sqrt(minutes)
    gauss = rng.gauss
    out: list[Candle] = []
    regime = 0.0  # log-volatility, an AR(1): calm and busy stretches like real charts
    close_px = float(close)
    t = end_open_time - step
    for _ in range(count):
        regime = 0.9 * regime + 0.15 * gauss(0.0, 1.0)
        s = sigma * math.exp(regime)
        open_px = close_px * math.exp(-gauss(0.0, s))
        o = max(1, round(open_px))
        c = max(1, round(close_px))
        h = max(o, c, round(max(open_px, close_px) * math.exp(abs(gauss(0.0, s)) * 0.6)))
        lo = max(1, min(o, c, round(min(open_px, close_px) * math.exp(-abs(gauss(0.0, s)) * 0.6))))
        mid = (o + c) // 2
        notional = shape.notional_per_minute * minutes * math.exp(regime + gauss(0.0, 0.35))
        volume = max(1, int(notional / (mid * shape.tick_value) / shape.lot_value))
        taker_buy = int(volume * rng.uniform(0.4, 0.6))
        trades = max(1, int(notional / shape.notional_per_trade))
        out.append(Candle(t, t + step - 1, o, h, lo, c, volume, volume * mid, trades,
                          taker_buy, taker_buy * mid, closed=True))
        close_px = open_px
        t -= step
    out.reverse()
    return out


class KlineSeries:
    """One interval of one symbol: lazy synthetic past, closed live candles, open candle."""

    __slots__ = ("interval", "_step", "_make_history", "_history", "closed", "current",
                 "version", "_make_deep", "_deep_history")

    def __init__(self, interval: str, now_ms: int, price: int,
                 make_history: Callable[[str, int, int], list[Candle]],
                 make_deep: Callable[[str, int, int], DeepHistory] | None = None) -> None:
        self.interval = interval
        self._step = INTERVAL_MS[interval]
        self._make_history = make_history
        self._history: list[Candle] | None = None
        # (interval, junction open time, junction open price) -> the deeper past
        self._make_deep = make_deep
        self._deep_history: DeepHistory | None = None
        self.closed: list[Candle] = []
        self.current = flat_candle(bucket_start(now_ms, interval), interval, price)
        # Bumped on every change of the open candle, so a publisher can tell it changed.
        self.version = 0

    def history(self) -> list[Candle]:
        if self._history is None:
            first = self.closed[0] if self.closed else self.current
            self._history = self._make_history(self.interval, first.open_time, first.open)
        return self._history

    @property
    def _deep(self) -> DeepHistory | None:
        if self._deep_history is None and self._make_deep is not None:
            recent = self.history()
            first = recent[0] if recent else (self.closed[0] if self.closed else self.current)
            self._deep_history = self._make_deep(self.interval, first.open_time, first.open)
        return self._deep_history

    def add_trade(self, price: int, qty: int, taker_buy: bool, first_id: int,
                  last_id: int) -> None:
        c = self.current
        if c.first_trade_id < 0:
            c.first_trade_id = first_id
        c.last_trade_id = last_id
        if price > c.high:
            c.high = price
        if price < c.low:
            c.low = price
        c.close = price
        c.volume += qty
        c.quote_volume += price * qty
        c.trades += last_id - first_id + 1
        if taker_buy:
            c.taker_buy_volume += qty
            c.taker_buy_quote += price * qty
        self.version += 1

    def roll(self, now_ms: int) -> list[Candle]:
        """Close the open candle (and any empty ones after it) once ``now_ms`` is past it."""
        c = self.current
        if now_ms < c.open_time + self._step:
            return []
        done: list[Candle] = []
        while now_ms >= c.open_time + self._step:
            c.closed = True
            done.append(c)
            c = flat_candle(c.open_time + self._step, self.interval, c.close)
        self.closed.extend(done)
        self.current = c
        self.version += 1
        return done

    def query(self, start_ms: int | None, end_ms: int | None, limit: int) -> list[Candle]:
        """Binance's selection: from ``start_ms`` forward, else the latest ones up to
        ``end_ms`` (both on open time, inclusive), at most ``limit``. Older than the
        recent past, the deep history answers (``deep``)."""
        allc = self.history() + self.closed
        allc.append(self.current)
        opens = [c.open_time for c in allc]
        hi = len(allc) if end_ms is None else bisect_right(opens, end_ms)
        deep = self._deep
        if start_ms is not None:
            older: list[Candle] = []
            if deep is not None and start_ms < deep.junction:
                older = deep.forward(start_ms, end_ms, limit)
                if len(older) >= limit:
                    return older
            lo = bisect_left(opens, start_ms)
            return older + allc[lo:min(hi, lo + limit - len(older))]
        recent = allc[max(0, hi - limit):hi]
        if deep is not None and len(recent) < limit:
            last = deep.junction - 1 if end_ms is None else min(end_ms, deep.junction - 1)
            return deep.backward(last, limit - len(recent)) + recent
        return recent


DEEP_BLOCK = 1000  # candles generated together: one seeded generator per block
DEEP_FLOOR_MS = 1_483_228_800_000  # 2017-01-01 UTC: nothing older is served
_COARSE_BLOCKS = 64  # the slow drift of the price level spans this many blocks
_CACHED_BLOCKS = 4  # per series: a backfill walking forward reuses the block it is in


class DeepHistory:
    """The synthetic past beyond the recent ``synth_history``, as deep as asked and the
    same on every call and every run: candles come in blocks of ``DEEP_BLOCK`` at fixed
    places in absolute time, each drawn from its own generator seeded by the series and
    the block's index, its closes a bridge between two levels that depend on the index
    only. So any range reads the same whatever was asked before, and only the block
    that joins the recent past (``junction``: the oldest recent candle's open time,
    ``junction_price`` its open) depends on when the simulator started."""

    __slots__ = ("_seed", "_interval", "_step", "_shape", "_level", "_amp", "_phase",
                 "junction", "_junction_price", "_blocks")

    def __init__(self, seed_text: str, interval: str, shape: HistoryShape, base_price: int,
                 junction: int, junction_price: int) -> None:
        self._seed = f"{seed_text}:deep:{interval}"
        self._interval = interval
        self._step = INTERVAL_MS[interval]
        self._shape = shape
        self._level = math.log(max(1, base_price))
        # a block's natural spread of log price, so the bridges look like the walk itself
        self._amp = shape.sigma_per_minute * math.sqrt(self._step / 60_000 * DEEP_BLOCK / 2)
        self._phase = junction % self._step  # candles keep the venue's bucket alignment
        self.junction = junction
        self._junction_price = max(1, junction_price)
        self._blocks: dict[int, list[Candle]] = {}

    def _block_start(self, b: int) -> int:
        return self._phase + b * DEEP_BLOCK * self._step

    def _block_of(self, open_time: int) -> int:
        return (open_time - self._phase) // (DEEP_BLOCK * self._step)

    def _noise(self, tag: str, i: int) -> float:
        return random.Random(f"{self._seed}:{tag}:{i}").gauss(0.0, 1.0)

    def _log_level(self, b: int) -> float:
        """Log price where block ``b`` opens: a slow drift plus a per-block wobble."""
        c, k = divmod(b, _COARSE_BLOCKS)
        frac = k / _COARSE_BLOCKS
        coarse = (1 - frac) * self._noise("coarse", c) + frac * self._noise("coarse", c + 1)
        return (self._level + min(1.0, 8 * self._amp) * coarse + self._amp * self._noise("fine", b))

    def _block(self, b: int) -> list[Candle]:
        found = self._blocks.get(b)
        if found is not None:
            return found
        step, shape = self._step, self._shape
        t0 = self._block_start(b)
        junction_block = self._block_of(self.junction - step)
        if b == junction_block:
            n = (self.junction - t0) // step
            x_end = math.log(self._junction_price)
        else:
            n = DEEP_BLOCK
            x_end = self._log_level(b + 1)
        x0 = self._log_level(b)
        rng = random.Random(f"{self._seed}:block:{b}")
        uniform = rng.random

        def gauss(mu: float, sd: float) -> float:
            # a sum of three uniforms: close enough to normal for a synthetic past, and
            # several times cheaper than random.gauss (a REST page draws thousands)
            return mu + sd * 2.0 * (uniform() + uniform() + uniform() - 1.5)
        minutes = step / 60_000
        sigma = shape.sigma_per_minute * math.sqrt(minutes)
        regimes: list[float] = []
        walk = [0.0]
        regime = 0.0
        for _ in range(n):
            regime = 0.9 * regime + 0.15 * gauss(0.0, 1.0)
            regimes.append(regime)
            walk.append(walk[-1] + gauss(0.0, sigma * math.exp(regime)))
        # a bridge: the walk bent to end exactly at the next block's level
        bend = (walk[-1] - (x_end - x0)) / n if n else 0.0
        prices = [max(1, round(math.exp(x0 + w - i * bend))) for i, w in enumerate(walk)]
        if b == junction_block:
            prices[-1] = self._junction_price
        out: list[Candle] = []
        for i in range(n):
            o, c = prices[i], prices[i + 1]
            s = sigma * math.exp(regimes[i])
            h = max(o, c, round(max(o, c) * math.exp(abs(gauss(0.0, s)) * 0.6)))
            lo = max(1, min(o, c, round(min(o, c) * math.exp(-abs(gauss(0.0, s)) * 0.6))))
            mid = (o + c) // 2
            notional = shape.notional_per_minute * minutes * math.exp(regimes[i] + gauss(0.0, 0.35))
            volume = max(1, int(notional / (mid * shape.tick_value) / shape.lot_value))
            taker_buy = int(volume * rng.uniform(0.4, 0.6))
            trades = max(1, int(notional / shape.notional_per_trade))
            t = t0 + i * step
            out.append(Candle(t, t + step - 1, o, h, lo, c, volume, volume * mid, trades,
                              taker_buy, taker_buy * mid, closed=True))
        if len(self._blocks) >= _CACHED_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        self._blocks[b] = out
        return out

    def forward(self, start_ms: int, end_ms: int | None, limit: int) -> list[Candle]:
        """Up to ``limit`` candles opening at ``start_ms`` or later, at or before ``end_ms``
        (inclusive) and before the junction, oldest first."""
        start = max(start_ms, DEEP_FLOOR_MS)
        stop = self.junction if end_ms is None else min(self.junction, end_ms + 1)
        out: list[Candle] = []
        b = self._block_of(start)
        while len(out) < limit and self._block_start(b) < stop:
            out.extend(c for c in self._block(b) if start <= c.open_time < stop)
            b += 1
        return out[:limit]

    def backward(self, end_ms: int, limit: int) -> list[Candle]:
        """The newest ``limit`` candles opening at or before ``end_ms`` (and before the
        junction), oldest first."""
        stop = min(self.junction, end_ms + 1)
        if stop <= DEEP_FLOOR_MS or limit <= 0:
            return []
        start = max(DEEP_FLOOR_MS, stop - limit * self._step)
        return self.forward(start, stop - 1, limit)
