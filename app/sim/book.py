"""The simulator's true order book and its Binance-style diff windows.

Levels are integer ticks -> integer lots. Every change bumps ``update_id``; the changes
since the last ``take_diff`` are kept as absolute sizes per level (0 = deleted), which
is exactly what a Binance ``depthUpdate`` carries, so applying the diffs in order to a
snapshot reproduces this book.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import Any

from app.sim.units import Scale


@dataclass(slots=True)
class DepthDiff:
    """Content of one depth diff event: ``U``, ``u``, ``pu``, ``b``, ``a``."""

    first_id: int  # U
    last_id: int  # u
    prev_last_id: int  # pu: the u of the previous window
    bids: list[list[str]]
    asks: list[list[str]]
    last_change_ms: int  # futures "T": when the last change in the window happened


class SimBook:
    """Both sides of one symbol's book plus the pending diff window."""

    __slots__ = ("bids", "asks", "bid_prices", "ask_prices", "update_id", "price", "qty",
                 "_rng", "_max_id_step", "_pend_bids", "_pend_asks", "_pend_first",
                 "_pushed_u", "_last_change_ms")

    def __init__(self, price: Scale, qty: Scale, first_update_id: int,
                 rng: random.Random, max_id_step: int = 1) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        # Sorted ascending; best bid is the last element, best ask the first.
        self.bid_prices: list[int] = []
        self.ask_prices: list[int] = []
        self.update_id = first_update_id
        self.price = price
        self.qty = qty
        self._rng = rng
        # Futures ids jump between events (clients must chain on pu, not U == prev+1);
        # spot ids must stay contiguous because spot clients check U == local+1.
        self._max_id_step = max_id_step
        self._pend_bids: dict[int, int] = {}
        self._pend_asks: dict[int, int] = {}
        self._pend_first: int | None = None
        self._pushed_u = first_update_id
        self._last_change_ms = 0

    # -- reading -------------------------------------------------------------------

    def best_bid(self) -> int:
        return self.bid_prices[-1]

    def best_ask(self) -> int:
        return self.ask_prices[0]

    def depth(self, is_bid: bool) -> int:
        return len(self.bid_prices if is_bid else self.ask_prices)

    def level_at(self, is_bid: bool, index: int) -> int:
        """Price of the ``index``-th level from the top (0 = best)."""
        return self.bid_prices[-1 - index] if is_bid else self.ask_prices[index]

    def worst(self, is_bid: bool) -> int:
        return self.bid_prices[0] if is_bid else self.ask_prices[-1]

    def has_pending(self) -> bool:
        return self._pend_first is not None

    @property
    def pushed_update_id(self) -> int:
        """The ``u`` of the last diff window taken (sent or discarded)."""
        return self._pushed_u

    # -- changing --------------------------------------------------------------------

    def seed_level(self, is_bid: bool, price: int, qty: int) -> None:
        """Place a level while building the initial book (no update id, no diff)."""
        side, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if price not in side:
            insort(prices, price)
        side[price] = qty

    def set_level(self, is_bid: bool, price: int, qty: int, now_ms: int) -> None:
        """Set the absolute size of a level (0 removes it); one update id per change."""
        side, prices = (self.bids, self.bid_prices) if is_bid else (self.asks, self.ask_prices)
        if qty > 0:
            if price not in side:
                insort(prices, price)
            side[price] = qty
        else:
            if price not in side:
                return
            del side[price]
            del prices[bisect_left(prices, price)]
        step = self._max_id_step
        self.update_id += 1 if step == 1 else self._rng.randint(1, step)
        (self._pend_bids if is_bid else self._pend_asks)[price] = qty
        if self._pend_first is None:
            self._pend_first = self.update_id
        self._last_change_ms = now_ms

    def take_diff(self) -> DepthDiff | None:
        """The changes since the previous window, as wire strings; None if nothing changed."""
        first = self._pend_first
        if first is None:
            return None
        fp, fq = self.price.fmt, self.qty.fmt
        diff = DepthDiff(first, self.update_id, self._pushed_u,
                         [[fp(p), fq(q)] for p, q in self._pend_bids.items()],
                         [[fp(p), fq(q)] for p, q in self._pend_asks.items()],
                         self._last_change_ms)
        self._clear_pending()
        return diff

    def discard_diff(self) -> None:
        """Close the window without formatting it (nobody is listening)."""
        if self._pend_first is not None:
            self._clear_pending()

    def _clear_pending(self) -> None:
        self._pushed_u = self.update_id
        self._pend_bids = {}
        self._pend_asks = {}
        self._pend_first = None

    # -- views -------------------------------------------------------------------------

    def levels(self, is_bid: bool, limit: int | None = None) -> list[list[str]]:
        """Top ``limit`` levels of a side as [["price", "qty"], ...], best first."""
        fp, fq = self.price.fmt, self.qty.fmt
        if is_bid:
            prices = self.bid_prices[::-1] if limit is None else self.bid_prices[:-limit - 1:-1]
            side = self.bids
        else:
            prices = self.ask_prices if limit is None else self.ask_prices[:limit]
            side = self.asks
        return [[fp(p), fq(side[p])] for p in prices]

    def snapshot(self, limit: int) -> dict[str, Any]:
        return {"lastUpdateId": self.update_id, "bids": self.levels(True, limit),
                "asks": self.levels(False, limit)}

    def truth(self) -> tuple[int, dict[float, float], dict[float, float]]:
        pf, qf = self.price.to_float, self.qty.to_float
        return (self.update_id,
                {pf(p): qf(q) for p, q in self.bids.items()},
                {pf(p): qf(q) for p, q in self.asks.items()})
