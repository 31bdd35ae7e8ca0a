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


class MarketSource(Protocol):
    """What the UI needs from the engine. ``app.feeds.engine.Engine`` implements it."""

    def instruments(self) -> list[Instrument]: ...

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None: ...

    def watch(self, instrument_id: str, interval: str) -> None:
        """Make sure klines of ``interval`` are streamed and their history fetched."""

    def health(self) -> list[HealthView]: ...

    # Optional: ``trading``, the trading runtime (app.trading.service.TradingService). A
    # source without one (tests, replays) simply offers no order entry: read it with
    # ``trading_of(source)``, never as ``source.trading``.


def trading_of(source: object):
    """The trading runtime behind a MarketSource, or None when it has none."""
    return getattr(source, "trading", None)


@dataclass(slots=True, frozen=True)
class Unlisted:
    """A requested instrument its venue does not list."""

    symbol: str  # as requested, e.g. "FOO/BAR"
    where: str  # "binance spot"
    message: str  # "FOO/BAR is not listed on binance spot; listed: BTC/USDT, ..."


def unlisted_of(source: object) -> dict[str, Unlisted]:
    """Requested instruments the venue does not list, by instrument id; {} when the source
    cannot tell (optional MarketSource part: ``unlisted()``)."""
    method = getattr(source, "unlisted", None)
    return {} if method is None else dict(method())


class RecordingSource(Protocol):
    """Optional MarketSource part: recording to the history store and reading it back.
    The UI reaches it only through the helpers below, so a source without it (tests,
    replays) simply offers no record toggle and no history screen."""

    def recording(self) -> set[str]:
        """Ids of the instruments being recorded."""

    def set_recording(self, instrument_id: str, on: bool) -> None: ...

    def database(self):
        """The history store (a SQLAlchemy Engine), or None when none is configured."""


def recording_ids(source: object) -> set[str] | None:
    """What ``source`` records, or None when it cannot record at all."""
    method = getattr(source, "recording", None)
    return None if method is None else set(method())


def database_of(source: object):
    """The history store behind ``source``, or None."""
    method = getattr(source, "database", None)
    return None if method is None else method()
