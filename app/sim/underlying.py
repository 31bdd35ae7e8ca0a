"""One underlying price per base asset, shared by every simulated venue.

Each venue's own fair price is pulled toward ``underlying * (1 + offset)``, so venues
differ by small, realistic spreads and a knob can push one venue away from the rest.
The path is a function of the time step alone (generated in order and cached), so
several simulators on several threads see the same prices whatever order they ask in.
"""

from __future__ import annotations

import math
import random
import threading


class Underlying:
    def __init__(self, base: str, start_price: float, seed: int = 1, step_ms: int = 250,
                 sigma: float = 1.5e-4) -> None:
        self.base = base
        self.step_ms = step_ms
        self._rng = random.Random(f"{seed}:underlying:{base}")
        self._sigma = sigma
        self._log_prices = [math.log(start_price)]
        self._origin_ms: int | None = None
        self._lock = threading.Lock()

    def price(self, now_ms: int) -> float:
        with self._lock:
            if self._origin_ms is None:
                self._origin_ms = now_ms
            k = max(0, (now_ms - self._origin_ms) // self.step_ms)
            path = self._log_prices
            while len(path) <= k:
                path.append(path[-1] + self._sigma * self._rng.gauss(0.0, 1.0))
            return math.exp(path[k])


class Anchors:
    """The underlyings of a simulated world, and each venue's offset from them."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self._underlyings: dict[str, Underlying] = {}
        self._offsets_bps: dict[str, float] = {}
        self._funding: dict[str, float] = {}  # venue -> pinned funding rate (alert knobs)
        self._spread_bps: dict[str, float] = {}  # venue -> minimum book spread
        self._lock = threading.Lock()

    def underlying(self, base: str, start_price: float) -> Underlying:
        with self._lock:
            u = self._underlyings.get(base.upper())
            if u is None:
                u = self._underlyings[base.upper()] = Underlying(base.upper(), start_price, self.seed)
            return u

    def push_venue(self, venue: str, offset_bps: float) -> None:
        """Move one venue's prices away from the others (0 puts it back)."""
        self._offsets_bps[venue] = offset_bps

    def set_funding(self, venue: str, rate: float | None) -> None:
        """Pin one venue's perp funding rate (a fraction: 0.001 is 0.1 %); None frees it."""
        if rate is None:
            self._funding.pop(venue, None)
        else:
            self._funding[venue] = rate

    def funding(self, venue: str) -> float | None:
        return self._funding.get(venue)

    def widen_venue(self, venue: str, spread_bps: float) -> None:
        """Keep one venue's books at least this wide (bid to ask, in bp); 0 puts it back."""
        self._spread_bps[venue] = spread_bps

    def min_spread(self, venue: str) -> float:
        return self._spread_bps.get(venue, 0.0) / 10_000.0

    def offset(self, venue: str) -> float:
        return self._offsets_bps.get(venue, 0.0) / 10_000.0

    def anchor_for(self, venue: str, base: str, start_price: float):
        """A function ``now_ms -> target price`` for one venue's symbol."""
        u = self.underlying(base, start_price)
        return lambda now_ms: u.price(now_ms) * (1.0 + self.offset(venue))
