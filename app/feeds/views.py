"""Immutable views of engine state, built under the hub's lock and handed to the UI.

The UI never touches the engine's mutable objects; it asks for a view at its frame rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.feeds.health import HealthView
from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.market.orderbook import LadderRow


@dataclass(slots=True, frozen=True)
class InstrumentView:
    instrument: Instrument
    seq: int  # bumps on every change to this instrument; equal seq = nothing to redraw
    synced: bool  # False while the book is being rebuilt: do not trust bids/asks
    bids: tuple[LadderRow, ...]  # best first, cumulative sizes filled in
    asks: tuple[LadderRow, ...]
    best_bid: float | None
    best_ask: float | None
    ticker: Ticker | None
    trades: tuple[Trade, ...]  # newest first
    klines: tuple[Kline, ...]  # of the requested interval, oldest first, last may be open
    interval: str
    funding: Funding | None
    health: HealthView | None

    @property
    def spread(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return self.best_ask - self.best_bid

    @property
    def mid(self) -> float | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_ask + self.best_bid) / 2.0


class MarketSource(Protocol):
    """What the UI needs from the engine. ``app.feeds.engine.Engine`` implements it."""

    def instruments(self) -> list[Instrument]: ...

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None: ...

    def watch(self, instrument_id: str, interval: str) -> None:
        """Make sure klines of ``interval`` are streamed and their history fetched."""

    def health(self) -> list[HealthView]: ...
