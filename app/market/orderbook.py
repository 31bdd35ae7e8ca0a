"""A price-level order book: snapshot plus absolute-size deltas.

Each side is a dict ``price -> size`` of floats. Deleting a level writes a 0.0
tombstone instead of removing the key, so applying a venue delta is one C-level
dict merge per side with no per-level Python work (the decode+apply budget needs
that). Readers skip tombstones; ``_compact`` sweeps them out once a side has grown
to three times its live size. The sorted price lists are rebuilt lazily, only after
a new price appeared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

Level = tuple[float, float]


@dataclass(slots=True)
class LadderRow:
    price: float
    size: float
    cumulative: float


def parse_levels(levels: Iterable[Sequence[Any]]) -> list[Level]:
    """Venue level strings -> float pairs; NaN, infinite, negative values are rejected."""
    out = []
    for level in levels:
        p, q = float(level[0]), float(level[1])
        if not (0.0 < p < math.inf) or not (0.0 <= q < math.inf):
            raise ValueError(f"bad level {list(level[:2])!r}")
        out.append((p, q))
    return out


class OrderBook:
    __slots__ = ("bids", "asks", "_bid_prices", "_ask_prices", "ts", "_sweep_at")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bid_prices: list[float] | None = None  # every key, best first
        self._ask_prices: list[float] | None = None
        self.ts = 0
        self._sweep_at = 1024  # a side this long may be mostly tombstones: sweep it

    # -- writing -------------------------------------------------------------------

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._bid_prices = None
        self._ask_prices = None
        self._sweep_at = 1024

    def load_snapshot(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]], ts: int = 0) -> None:
        """Replace the whole book. Levels may be the venue's strings or numbers."""
        self.bids = {p: q for p, q in parse_levels(bids) if q > 0.0}
        self.asks = {p: q for p, q in parse_levels(asks) if q > 0.0}
        self._bid_prices = None
        self._ask_prices = None
        self.ts = ts
        self._sweep_at = max(1024, 3 * max(len(self.bids), len(self.asks)))

    def apply(self, bids: Sequence[Level], asks: Sequence[Level], ts: int = 0) -> None:
        """Apply absolute sizes given as validated float pairs; 0.0 deletes the level.

        The hot path of every feed: two in-place dict merges (``|=`` skips the
        argument parsing ``update`` pays) and one sweep check. A new price makes a
        side longer than its sorted price list, which is how readers notice it."""
        side = self.bids
        side |= bids
        n = len(side)
        side = self.asks
        side |= asks
        self.ts = ts
        if n > self._sweep_at or len(side) > self._sweep_at:
            self._compact()

    def apply_levels(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]], ts: int = 0) -> None:
        """``apply`` for levels that are still the venue's strings (validated here)."""
        self.apply(parse_levels(bids), parse_levels(asks), ts)

    def _compact(self) -> None:
        """Drop tombstones by rebuilding both sides; the next sweep comes when a side is
        three times as long as now (amortized O(1) per new price). ``compress`` keeps the
        items whose size is truthy, so the whole sweep runs in C (a Python loop with
        ``del`` cost the hot path ~4%)."""
        bids, asks = self.bids, self.asks
        self.bids = dict(compress(bids.items(), bids.values()))
        self.asks = dict(compress(asks.items(), asks.values()))
        self._bid_prices = None
        self._ask_prices = None
        self._sweep_at = max(1024, 3 * max(len(self.bids), len(self.asks)))

    # -- reading -------------------------------------------------------------------

    # Keys only ever join a side between sweeps, so a sorted list as long as its side
    # holds every key; the writers that drop keys (sweep, clear, snapshot) set it None.

    def _sorted_bids(self) -> list[float]:
        prices = self._bid_prices
        if prices is None or len(prices) != len(self.bids):
            prices = self._bid_prices = sorted(self.bids, reverse=True)
        return prices

    def _sorted_asks(self) -> list[float]:
        prices = self._ask_prices
        if prices is None or len(prices) != len(self.asks):
            prices = self._ask_prices = sorted(self.asks)
        return prices

    def bid_prices(self) -> list[float]:
        """Live bid prices, best (highest) first."""
        bids = self.bids
        return [p for p in self._sorted_bids() if bids[p] > 0.0]

    def ask_prices(self) -> list[float]:
        """Live ask prices, best (lowest) first."""
        asks = self.asks
        return [p for p in self._sorted_asks() if asks[p] > 0.0]

    @property
    def best_bid(self) -> Level | None:
        top = _top(self.bids, self._sorted_bids(), 1)
        return top[0] if top else None

    @property
    def best_ask(self) -> Level | None:
        top = _top(self.asks, self._sorted_asks(), 1)
        return top[0] if top else None

    @property
    def spread(self) -> float | None:
        bid, ask = self.best_bid, self.best_ask
        return ask[0] - bid[0] if bid and ask else None

    @property
    def mid(self) -> float | None:
        bid, ask = self.best_bid, self.best_ask
        return (ask[0] + bid[0]) / 2.0 if bid and ask else None

    def __len__(self) -> int:
        """Live levels on both sides."""
        return (sum(1 for q in self.bids.values() if q > 0.0)
                + sum(1 for q in self.asks.values() if q > 0.0))

    def side_dicts(self) -> tuple[dict[float, float], dict[float, float]]:
        """Live levels as plain dicts (tests compare these with a simulator's truth)."""
        return ({p: q for p, q in self.bids.items() if q > 0.0},
                {p: q for p, q in self.asks.items() if q > 0.0})

    def top(self, n: int = 20) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels per side, best first."""
        return _top(self.bids, self._sorted_bids(), n), _top(self.asks, self._sorted_asks(), n)

    def depth_within(self, pct: float) -> tuple[float, float]:
        """Total bid and ask size within ``pct`` percent of the mid price."""
        mid = self.mid
        if mid is None:
            return 0.0, 0.0
        lo, hi = mid * (1.0 - pct / 100.0), mid * (1.0 + pct / 100.0)
        bid_total = 0.0
        for p in self._sorted_bids():
            if p < lo:
                break
            bid_total += self.bids[p]  # tombstones add 0.0
        ask_total = 0.0
        for p in self._sorted_asks():
            if p > hi:
                break
            ask_total += self.asks[p]
        return bid_total, ask_total

    def ladder(self, n: int = 20, group: float = 0.0) -> tuple[list[LadderRow], list[LadderRow]]:
        """Top ``n`` rows per side with cumulative sizes, optionally grouped into
        buckets of ``group`` (bids round down, asks round up, so a bucket never
        promises a better price than the levels inside it)."""
        return (_ladder_side(self.bids, self._sorted_bids(), n, group, down=True),
                _ladder_side(self.asks, self._sorted_asks(), n, group, down=False))


def _top(side: dict[float, float], prices: list[float], n: int) -> list[Level]:
    out: list[Level] = []
    for p in prices:
        q = side[p]
        if q > 0.0:
            out.append((p, q))
            if len(out) == n:
                break
    return out


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step)) + 1) if step > 0 else 8


def _ladder_side(side: dict[float, float], prices: list[float], n: int, group: float,
                 down: bool) -> list[LadderRow]:
    rows: list[LadderRow] = []
    cumulative = 0.0
    if group <= 0.0:
        for p, size in _top(side, prices, n):
            cumulative += size
            rows.append(LadderRow(p, size, cumulative))
        return rows
    digits = _decimals(group)
    bucket_of = math.floor if down else math.ceil
    current: float | None = None
    bucket_size = 0.0
    for p in prices:
        size = side[p]
        if not size > 0.0:
            continue
        # the epsilon keeps 0.3/0.1 from landing in bucket 2.9999
        bucket = round(bucket_of(p / group + (1e-9 if down else -1e-9)) * group, digits)
        if bucket != current:
            if current is not None:
                cumulative += bucket_size
                rows.append(LadderRow(current, bucket_size, cumulative))
                if len(rows) == n:
                    return rows
            current, bucket_size = bucket, 0.0
        bucket_size += size
    if current is not None:
        cumulative += bucket_size
        rows.append(LadderRow(current, bucket_size, cumulative))
    return rows
