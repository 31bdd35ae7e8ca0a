"""The engine's one face to whoever reads it: the terminal UI now, the data API (#14) next.

``MarketSource`` is the part every source has: live views, feed health, the streamed
instruments. What only some sessions have (a replay has no trading, a test source no
store) is a capability of its own, each a runtime-checkable Protocol, so a reader asks
``isinstance(source, HistorySource)`` and then calls typed methods, never ``getattr``:

- ``MarketDirectory``: every market the venues list, starting one, and the requested ones
  no venue lists;
- ``CrossVenue``: one summary per instrument, for comparing venues;
- ``Watchlist``: every market of every venue, most without a book (tickers only);
- ``TradingHost``: the trading runtime (``trading``, None when none is attached);
- ``RecordingSwitch``: which instruments go to the store, and switching them;
- ``HistorySource``: the history store's reader (storage.history.HistoryReader);
- ``LiveReads``: single values without building a whole view (a book's top levels, the
  ticker, the live klines, a change counter) and a listener on every event: what the
  data API (app.api) reads per request and per push.

``EngineFacade`` is all of them at once; ``app.feeds.engine.Engine`` implements it.

It sits above ``app.feeds``, ``app.trading`` and ``storage`` because it names what each
of them serves, and they know nothing of each other; like them it never imports Textual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from app.feeds.health import HealthView
from app.feeds.views import BookTopView, InstrumentView, Unlisted
from app.market.events import Kline, MarketEvent, Ticker
from app.market.instruments import Instrument

if TYPE_CHECKING:  # types only: importing them would pull trading and storage into every reader
    from app.market.compare import Summary
    from app.trading.service import TradingService
    from storage.history import HistoryReader


@runtime_checkable
class MarketSource(Protocol):
    """Live market state. Every source has it."""

    def instruments(self) -> list[Instrument]:
        """The instruments streamed in this session."""
        ...

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        """An immutable view of one instrument, or None while it is unknown."""
        ...

    def watch(self, instrument_id: str, interval: str) -> None:
        """Make sure klines of ``interval`` are streamed and their history fetched."""
        ...

    def health(self) -> list[HealthView]:
        """One entry per connection (and the recorder, when there is one)."""
        ...


@runtime_checkable
class MarketDirectory(Protocol):
    """What the venues list beyond what streams."""

    def markets(self) -> list[Instrument]:
        """Every market of every venue in use, streamed or not."""
        ...

    def ensure(self, instrument_id: str) -> None:
        """Start streaming ``instrument_id`` (nothing when it already streams)."""
        ...

    def unlisted(self) -> dict[str, Unlisted]:
        """Requested instruments their venue does not list, by instrument id."""
        ...


@runtime_checkable
class CrossVenue(Protocol):
    def overview(self) -> list[Summary]:
        """Every instrument's summary (price, spread, funding, feed state)."""
        ...


@runtime_checkable
class Watchlist(Protocol):
    def stream_tickers(self) -> None:
        """Start tickers for every watchable market without a book (idempotent)."""
        ...

    def watchlist(self) -> list[Summary]:
        """Every streamed market's summary, with a book or tickers only."""
        ...

    def sparklines(self, instrument_ids: list[str], minutes: int = 60) -> dict[str, tuple[float, ...]]:
        """The last ``minutes`` 1m closes of each instrument that has some, oldest first."""
        ...


@runtime_checkable
class TradingHost(Protocol):
    trading: TradingService | None  # None: no order entry in this session


@runtime_checkable
class RecordingSwitch(Protocol):
    def recording(self) -> set[str]:
        """Ids of the instruments being recorded."""
        ...

    def set_recording(self, instrument_id: str, on: bool) -> None:
        """Start or stop recording; raises when the store cannot be opened."""
        ...


@runtime_checkable
class HistorySource(Protocol):
    def history(self) -> HistoryReader | None:
        """The history store's reader (opening the store on first use; raises when it
        cannot be opened), or None when the session has no store."""
        ...


@runtime_checkable
class LiveReads(Protocol):
    """Cheap reads of one value each, safe from any thread; none copies a whole book."""

    def book_top(self, instrument_id: str, depth: int = 20) -> BookTopView | None:
        """The best ``depth`` levels per side (none while unsynced, with the reason)."""
        ...

    def ticker(self, instrument_id: str) -> Ticker | None:
        ...

    def live_klines(self, instrument_id: str, interval: str) -> tuple[Kline, ...]:
        """Klines of ``interval`` held live, oldest first, the last possibly open."""
        ...

    def change_seq(self, instrument_id: str) -> int | None:
        """A counter that bumps on every change to the instrument; None when unknown."""
        ...

    def listen(self, listener: Callable[[MarketEvent], None]) -> Callable[[], None]:
        """Call ``listener`` (on the engine thread: it must not block) with every event;
        returns the function that stops it."""
        ...


@runtime_checkable
class LiveSource(MarketSource, LiveReads, Protocol):
    """What the data API needs at least: live state and its cheap reads."""


@runtime_checkable
class EngineFacade(MarketSource, MarketDirectory, CrossVenue, Watchlist, TradingHost,
                   RecordingSwitch, HistorySource, LiveReads, Protocol):
    """Everything a full session offers (the engine)."""


def trading_of(source: object) -> TradingService | None:
    """The trading runtime behind ``source``, or None when it has none."""
    return source.trading if isinstance(source, TradingHost) else None


def directory_of(source: object) -> MarketDirectory | None:
    return source if isinstance(source, MarketDirectory) else None


def recording_ids(source: object) -> set[str] | None:
    """What ``source`` records, or None when it cannot record at all."""
    return set(source.recording()) if isinstance(source, RecordingSwitch) else None
