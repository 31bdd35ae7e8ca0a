"""A price-level order book: snapshot plus absolute-size deltas.

Each side is a dict ``price -> size`` (the hot path is one float parse and one dict
operation per level); the sorted price list is rebuilt lazily, only when a level was
added or removed since the last read, so readers at 10 Hz pay for sorting, not writers
at 20k msgs/s.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Level = tuple[float, float]


@dataclass(slots=True)
class LadderRow:
    price: float
    size: float
    cumulative: float


class OrderBook:
    __slots__ = ("bids", "asks", "_bid_prices", "_ask_prices", "ts")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bid_prices: list[float] | None = []  # best first; None = needs re-sort
        self._ask_prices: list[float] | None = []
        self.ts = 0

    # -- writing -------------------------------------------------------------------

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_prices = []
        self._ask_prices = []

    def load_snapshot(self, bids: Iterable[Sequence], asks: Iterable[Sequence], ts: int = 0) -> None:
        """Replace the whole book. Levels are ``(price, size)`` as strings or numbers."""
        self.bids = {float(p): float(q) for p, q in bids if float(q) > 0.0}
        self.asks = {float(p): float(q) for p, q in asks if float(q) > 0.0}
        self._bid_prices = None
        self._ask_prices = None
        self.ts = ts

    def apply(self, bids: Iterable[Sequence], asks: Iterable[Sequence], ts: int = 0) -> None:
        """Apply absolute sizes; a size of zero deletes the level."""
        if _apply_side(self.bids, bids):
            self._bid_prices = None
        if _apply_side(self.asks, asks):
            self._ask_prices = None
        self.ts = ts

    # -- reading -------------------------------------------------------------------

    def bid_prices(self) -> list[float]:
        """Bid prices, best (highest) first."""
        if self._bid_prices is None:
            self._bid_prices = sorted(self.bids, reverse=True)
        return self._bid_prices

    def ask_prices(self) -> list[float]:
        """Ask prices, best (lowest) first."""
        if self._ask_prices is None:
            self._ask_prices = sorted(self.asks)
        return self._ask_prices

    @property
    def best_bid(self) -> Level | None:
        prices = self.bid_prices()
        return (prices[0], self.bids[prices[0]]) if prices else None

    @property
    def best_ask(self) -> Level | None:
        prices = self.ask_prices()
        return (prices[0], self.asks[prices[0]]) if prices else None

    @property
    def spread(self) -> float | None:
        bid, ask = self.best_bid, self.best_ask
        return ask[0] - bid[0] if bid and ask else None

    @property
    def mid(self) -> float | None:
        bid, ask = self.best_bid, self.best_ask
        return (ask[0] + bid[0]) / 2.0 if bid and ask else None

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def top(self, n: int = 20) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side, best first."""
        bids, asks = self.bids, self.asks
        return ([(p, bids[p]) for p in self.bid_prices()[:n]],
                [(p, asks[p]) for p in self.ask_prices()[:n]])

    def depth_within(self, pct: float) -> tuple[float, float]:
        """Total bid and ask size within ``pct`` percent of the mid price."""
        mid = self.mid
        if mid is None:
            return 0.0, 0.0
        lo, hi = mid * (1.0 - pct / 100.0), mid * (1.0 + pct / 100.0)
        bid_total = 0.0
        for p in self.bid_prices():
            if p < lo:
                break
            bid_total += self.bids[p]
        ask_total = 0.0
        for p in self.ask_prices():
            if p > hi:
                break
            ask_total += self.asks[p]
        return bid_total, ask_total

    def ladder(self, n: int = 20, group: float = 0.0) -> tuple[list[LadderRow], list[LadderRow]]:
        """Top ``n`` rows per side with cumulative sizes, optionally grouped into
        buckets of ``group`` (bids round down, asks round up, so a bucket never
        promises a better price than the levels inside it)."""
        return (_ladder_side(self.bids, self.bid_prices(), n, group, down=True),
                _ladder_side(self.asks, self.ask_prices(), n, group, down=False))


def _apply_side(side: dict[float, float], levels: Iterable[Sequence]) -> bool:
    """Apply levels to one side; True when a price level appeared or vanished."""
    before = len(side)
    removed = False
    pop = side.pop
    for p, q in levels:
        size = float(q)
        if size == 0.0:
            if pop(float(p), None) is not None:
                removed = True
        elif size > 0.0:
            side[float(p)] = size
        else:  # negative or NaN: the frame is corrupt and so is the book from here on
            raise ValueError(f"bad level size {q!r} at price {p!r}")
    return removed or len(side) != before


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step)) + 1) if step > 0 else 8


def _ladder_side(side: dict[float, float], prices: list[float], n: int, group: float,
                 down: bool) -> list[LadderRow]:
    rows: list[LadderRow] = []
    cumulative = 0.0
    if group <= 0.0:
        for p in prices[:n]:
            size = side[p]
            cumulative += size
            rows.append(LadderRow(p, size, cumulative))
        return rows
    digits = _decimals(group)
    bucket_of = math.floor if down else math.ceil
    current: float | None = None
    bucket_size = 0.0
    for p in prices:
        # the epsilon keeps 0.3/0.1 from landing in bucket 2.9999
        units = p / group
        bucket = round(bucket_of(units + (1e-9 if down else -1e-9)) * group, digits)
        if bucket != current:
            if current is not None:
                cumulative += bucket_size
                rows.append(LadderRow(current, bucket_size, cumulative))
                if len(rows) == n:
                    return rows
            current, bucket_size = bucket, 0.0
        bucket_size += side[p]
    if current is not None:
        cumulative += bucket_size
        rows.append(LadderRow(current, bucket_size, cumulative))
    return rows
