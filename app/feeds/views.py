"""Immutable views of engine state, built under the hub's lock and handed to the UI.

The UI never touches the engine's mutable objects; it asks for a view at its frame rate.
What a reader may ask the engine, and how, is in ``app.engine_api``.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.feeds.health import HealthView
from app.market.events import Funding, Kline, Level, Ticker, Trade
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
    # while not synced: why, and when the next try is ("resync: REST 503, next try in 8 s")
    sync_reason: str | None = None

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


@dataclass(slots=True, frozen=True)
class Unlisted:
    """A requested instrument its venue does not list."""

    symbol: str  # as requested, e.g. "FOO/BAR"
    where: str  # "binance spot"
    message: str  # "FOO/BAR is not listed on binance spot; listed: BTC/USDT, ..."


@dataclass(slots=True, frozen=True)
class BookTopView:
    """The best levels of one book, copied under the hub's lock (never the whole book):
    what the data API answers and pushes. Levels are empty while the book is not synced."""

    instrument_id: str
    seq: int  # the instrument's change counter when read
    synced: bool
    ts: int  # the venue's time of the last applied update (epoch ms; 0 before the first)
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]
    reason: str | None  # while not synced: why, in plain words
