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
                 "version")

    def __init__(self, interval: str, now_ms: int, price: int,
                 make_history: Callable[[str, int, int], list[Candle]]) -> None:
        self.interval = interval
        self._step = INTERVAL_MS[interval]
        self._make_history = make_history
        self._history: list[Candle] | None = None
        self.closed: list[Candle] = []
        self.current = flat_candle(bucket_start(now_ms, interval), interval, price)
        # Bumped on every change of the open candle, so a publisher can tell it changed.
        self.version = 0

    def history(self) -> list[Candle]:
        if self._history is None:
            first = self.closed[0] if self.closed else self.current
            self._history = self._make_history(self.interval, first.open_time, first.open)
        return self._history

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
        ``end_ms`` (both on open time, inclusive), at most ``limit``."""
        allc = self.history() + self.closed
        allc.append(self.current)
        opens = [c.open_time for c in allc]
        hi = len(allc) if end_ms is None else bisect_right(opens, end_ms)
        if start_ms is not None:
            lo = bisect_left(opens, start_ms)
            return allc[lo:min(hi, lo + limit)]
        return allc[max(0, hi - limit):hi]
