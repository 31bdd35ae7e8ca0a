"""What every venue module provides, and the small records its decoder returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.market.events import Kline, MarketEvent
from app.market.instruments import Instrument
from app.market.orderbook import OrderBook


@dataclass(slots=True)
class DepthDiff:
    """A venue's book delta before sync rules are applied: sequence ids plus levels as
    validated ``(price, size)`` float pairs. Venue codecs may return their own type with
    these same attributes (Binance decodes straight into a msgspec Struct)."""

    symbol: str  # the venue's symbol, e.g. "BTCUSDT"
    ts: int
    first: int  # Binance U
    last: int  # Binance u
    prev: int  # Binance futures pu (-1 where the venue does not send it)
    bids: list
    asks: list


@dataclass(slots=True)
class Ack:
    """A reply to one of our control messages (subscribe, unsubscribe, ...)."""

    req_id: Any
    error: str | None = None
    result: Any = None


@dataclass(slots=True)
class Unknown:
    """A frame we could not use: unparsable, unknown event type or unknown symbol."""

    reason: str
    malformed: bool = False


@dataclass(slots=True)
class BookSnapshot:
    last_update_id: int
    bids: list
    asks: list
    ts: int = 0


@dataclass(slots=True)
class ConnectionPlan:
    """One websocket connection to open: its full URL and the streams it carries."""

    name: str
    url: str
    streams: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Resync:
    """The stream lost a message somewhere (e.g. Coinbase's per-connection sequence_num
    jumped): every book on the connection is suspect. ``symbols`` None means all."""

    reason: str
    symbols: list[str] | None = None


@dataclass(slots=True)
class Events:
    """Several decoded messages from one frame (a Coinbase frame can hold trades or
    book events of several products). The feed routes each item exactly as it would
    route it alone, in order."""

    items: list


Decoded = MarketEvent | DepthDiff | Ack | Unknown | Resync | Events | None


class BookSync(Protocol):
    """Turns a venue's snapshot + delta stream into a correct OrderBook, or says it cannot.

    ``on_diff`` takes the venue's decoded book messages (deltas, and for venues that
    send them over the socket, snapshots: it returns SYNCED for those)."""

    book: OrderBook
    synced: bool
    needs_snapshot: bool  # True when a REST snapshot must be fetched to (re)build

    def reset(self) -> None: ...
    def on_diff(self, diff) -> int: ...
    def on_snapshot(self, snap: BookSnapshot) -> int: ...


class Venue(Protocol):
    """A venue/market codec: pure functions of the wire formats, no I/O.

    Streams are opaque strings chosen by the venue module (Binance stream names,
    ``books:BTC-USDT`` for OKX, ...); only the venue turns them into wire messages."""

    name: str  # "binance"
    market: str  # "spot" | "perp"
    config_key: str  # endpoint section in config, e.g. "binance", "binanceusdm"
    depth_type: type  # the decoded type the feed routes to BookSync (has ``.symbol``)
    recovery: str  # after a gap: "snapshot" (REST, then replay the buffer) or "resubscribe"
    ws_ping_interval: float | None  # protocol-level pings; None where the venue wants text pings
    keepalive: tuple[float, str] | None  # (idle seconds, text) the client must send
    # kline intervals the stream carries; None = every interval. The others get REST
    # history and a live candle built from trades.
    live_kline_intervals: frozenset[str] | None

    def instruments(self) -> list[Instrument]: ...
    def connection_plans(self, ws_url: str, instruments: list[Instrument],
                         intervals: list[str]) -> list[ConnectionPlan]: ...
    def book_streams(self, instrument: Instrument) -> list[str]: ...
    def kline_stream(self, instrument: Instrument, interval: str) -> tuple[str, str]: ...
    def stream_group(self, stream: str) -> str: ...
    def max_streams(self, group: str) -> int: ...
    def subscribe_messages(self, streams: list[str], method: str = "SUBSCRIBE") -> list[str]: ...
    def new_decoder(self) -> Callable[[str | bytes], Decoded]:
        """A decode function for one connection (it may keep per-connection state)."""
    def new_book_sync(self, instrument: Instrument) -> BookSync: ...
    def snapshot_path(self, instrument: Instrument) -> str: ...
    def snapshot_weight(self) -> int: ...
    def parse_snapshot(self, text: str | bytes) -> BookSnapshot: ...
    def klines_path(self, instrument: Instrument, interval: str, limit: int) -> str: ...
    def parse_klines(self, text: str | bytes, instrument: Instrument, interval: str) -> list[Kline]: ...


# Results of BookSync.on_diff / on_snapshot. Plain ints: they are returned per message.
APPLIED = 0  # the diff is in the book
BUFFERED = 1  # held until the snapshot arrives
IGNORED = 2  # older than the book, dropped
GAP = 3  # a missing diff: the book is wrong and must be rebuilt
STALE_SNAPSHOT = 4  # the snapshot predates the buffered diffs: fetch another
SYNCED = 5  # the snapshot and buffered diffs made a correct book
CHECKSUM_FAILED = 6  # the book disagrees with the venue's checksum: rebuild it
