"""What every venue module provides, and the small records its decoder returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Literal, Protocol

import msgspec
import orjson

from app.market.events import Kline, MarketEvent
from app.market.instruments import Instrument, MarketType
from app.market.orderbook import OrderBook


# Venues send numbers as strings; typed decoders (``strict=False``) convert them, and these
# bounds reject NaN, infinities and negative values at decode time.
Price = Annotated[float, msgspec.Meta(gt=0.0, lt=1e18)]
Size = Annotated[float, msgspec.Meta(ge=0.0, lt=1e18)]
Num = Annotated[float, msgspec.Meta(gt=-1e18, lt=1e18)]

# A diff buffer this long means the snapshot is not coming: a gap, and the book starts over.
MAX_BUFFERED_DIFFS = 20_000


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
    bids: list[Any]
    asks: list[Any]


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
    bids: list[Any]
    asks: list[Any]
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

    items: list[Any]


# after a gap: "snapshot" (REST, then replay the buffer) or "resubscribe"
Recovery = Literal["snapshot", "resubscribe"]

Decoded = MarketEvent | DepthDiff | Ack | Unknown | Resync | Events | None


def one_or_many(items: list[Any]) -> Decoded:
    """A frame's decoded items as the feed routes them: nearly every frame carries one,
    returned bare; several come wrapped in ``Events``; none gives None."""
    if len(items) == 1:
        one: Decoded = items[0]
        return one
    return Events(items) if items else None


def parse_rejected(raw: str | bytes) -> dict[str, Any] | Unknown:
    """The slow look at a frame the typed decoders rejected: its JSON object, for the
    venue to say what it is, or Unknown when it is not a JSON object at all."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Unknown("not JSON", malformed=True)
    if type(msg) is not dict:
        return Unknown("not a JSON object", malformed=True)
    return msg


class BookSync(Protocol):
    """Turns a venue's snapshot + delta stream into a correct OrderBook, or says it cannot.

    ``on_diff`` takes the venue's decoded book messages (deltas, and for venues that
    send them over the socket, snapshots: it returns SYNCED for those)."""

    book: OrderBook
    synced: bool
    needs_snapshot: bool  # True when a REST snapshot must be fetched to (re)build

    @property
    def first_buffered(self) -> int | None: ...  # the id a REST snapshot must not predate
    def reset(self) -> None: ...
    def on_diff(self, diff: Any) -> int: ...
    def on_snapshot(self, snap: BookSnapshot) -> int: ...


class BufferedBookSync:
    """The sync every REST-snapshot venue shares: buffer diffs until the snapshot comes,
    refuse a snapshot older than the buffer, drop what it already holds, check that the
    first kept diff joins it, then replay the rest and follow the stream.

    A venue supplies only its sequence rule, as hooks:

    * ``_step(diff)``: a diff on a synced book. Applies it and returns APPLIED (0, so
      the hot path is one truth test), or IGNORED, or GAP / CHECKSUM_FAILED (this class
      then starts over with ``_gap``), or SYNCED for a venue's own full-book message.
    * ``_accept(diff)``: a diff while unsynced. None buffers it (the default); anything
      else is the result (a pushed snapshot loads the book, a repeat is IGNORED...).
    * ``_opens(diff)``: the id the snapshot must not predate (also ``first_buffered``).
    * ``_keeps(diff, snap_id)``: whether the snapshot does not hold the diff yet.
    * ``_joins(diff, snap_id)``: whether the first kept diff straddles the snapshot.
    * ``_load(snap, snap_id, kept, buffered)``: replace the book and set ``last_id`` so
      the kept diffs replay through ``_step``.

    After a REST snapshot ``_first_after`` is True until a rule clears it (rules whose
    first diff after the snapshot is checked differently read it). A buffer reaching
    MAX_BUFFERED_DIFFS is a gap: the feed counts it and asks for a new snapshot."""

    __slots__ = ("book", "synced", "needs_snapshot", "last_id", "_buffer", "_first_after")
    snapshot_mode = True  # the book is (re)built from a REST snapshot

    def __init__(self) -> None:
        self.book = OrderBook()
        self.synced = False
        self.needs_snapshot = self.snapshot_mode
        self.last_id = -1
        self._buffer: list[Any] = []
        self._first_after = False

    def reset(self) -> None:
        self.book.clear()
        self.synced = False
        self.needs_snapshot = self.snapshot_mode
        self.last_id = -1
        self._buffer.clear()
        self._first_after = False

    @property
    def first_buffered(self) -> int | None:
        return self._opens(self._buffer[0]) if self._buffer else None

    def on_diff(self, diff: Any) -> int:
        if self.synced:
            result = self._step(diff)
            if not result:
                return APPLIED  # the hot path: nothing more than the rule itself
        else:
            accepted = self._accept(diff)
            if accepted is None:
                buf = self._buffer
                if len(buf) < MAX_BUFFERED_DIFFS:
                    buf.append(diff)
                    return BUFFERED
                result = GAP  # the snapshot is not coming: start over, counted
            else:
                result = accepted
        if result == GAP or result == CHECKSUM_FAILED:
            self._gap(diff)
        return result

    def _gap(self, diff: Any) -> None:
        """Start over. The diff that revealed the gap is the first of the stream as it
        now is, so it opens the new buffer (a replay then asks for the same snapshot
        the live session did)."""
        self.reset()
        if self.needs_snapshot and diff is not None:
            self._buffer.append(diff)

    def on_snapshot(self, snap: BookSnapshot) -> int:
        """Load a REST snapshot and replay the buffer; STALE_SNAPSHOT asks for a newer one,
        GAP means the buffer does not connect to it (the sync has started over)."""
        sid = self._snapshot_id(snap)
        buffered = self._buffer
        if buffered and sid < self._opens(buffered[0]):
            return STALE_SNAPSHOT
        keeps = self._keeps
        kept = [d for d in buffered if keeps(d, sid)]
        self._buffer = []
        self._load(snap, sid, kept, buffered)
        self.synced = True
        self.needs_snapshot = False
        self._first_after = True
        if kept and not self._joins(kept[0], sid):
            self.reset()
            return GAP
        step = self._step
        for diff in kept:
            if step(diff) not in (APPLIED, IGNORED):
                # the buffer does not connect, or the result fails its checksum
                self.reset()
                return GAP
        return SYNCED

    # -- the venue's sequence rule -------------------------------------------------------

    def _step(self, diff: Any) -> int:
        raise NotImplementedError

    def _accept(self, diff: Any) -> int | None:
        return None

    def _opens(self, diff: Any) -> int:
        raise NotImplementedError

    def _keeps(self, diff: Any, snap_id: int) -> bool:
        raise NotImplementedError

    def _joins(self, diff: Any, snap_id: int) -> bool:
        return True

    def _snapshot_id(self, snap: BookSnapshot) -> int:
        return snap.last_update_id

    def _load(self, snap: BookSnapshot, snap_id: int, kept: list[Any], buffered: list[Any]) -> None:
        self.book.load_snapshot(snap.bids, snap.asks, snap.ts)
        self.last_id = snap_id


class Venue(Protocol):
    """A venue/market codec: pure functions of the wire formats, no I/O.

    Streams are opaque strings chosen by the venue module (Binance stream names,
    ``books:BTC-USDT`` for OKX, ...); only the venue turns them into wire messages."""

    name: str  # "binance"
    market: MarketType
    config_key: str  # endpoint section in config, e.g. "binance", "binanceusdm"
    depth_type: type[Any]  # the decoded type the feed routes to BookSync (has ``.symbol``)
    recovery: Recovery
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
    # the decoder returns Decoded, or the venue's own book frame (its ``depth_type``)
    def new_decoder(self) -> Callable[[str | bytes], object]:
        """A decode function for one connection (it may keep per-connection state)."""
    def new_book_sync(self, instrument: Instrument) -> BookSync: ...
    def snapshot_path(self, instrument: Instrument) -> str: ...
    def snapshot_weight(self) -> int: ...
    def parse_snapshot(self, text: str | bytes) -> BookSnapshot: ...
    # start_ms / end_ms: open times of the first and last candle wanted (inclusive)
    def klines_path(self, instrument: Instrument, interval: str, limit: int,
                    start_ms: int | None = None, end_ms: int | None = None) -> str: ...
    def parse_klines(self, text: str | bytes, instrument: Instrument, interval: str) -> list[Kline]: ...


# Results of BookSync.on_diff / on_snapshot. Plain ints: they are returned per message.
APPLIED = 0  # the diff is in the book
BUFFERED = 1  # held until the snapshot arrives
IGNORED = 2  # older than the book, dropped
GAP = 3  # a missing diff: the book is wrong and must be rebuilt
STALE_SNAPSHOT = 4  # the snapshot predates the buffered diffs: fetch another
SYNCED = 5  # the snapshot and buffered diffs made a correct book
CHECKSUM_FAILED = 6  # the book disagrees with the venue's checksum: rebuild it


# -- what a venue is, as data: one descriptor per venue module ---------------------------


@dataclass(frozen=True, slots=True)
class Endpoints:
    """A market's public hosts in one environment (live, testnet or demo)."""

    ws_url: str
    rest_url: str


@dataclass(frozen=True, slots=True)
class Hosts:
    """One set of hosts: the config's ``[venues.<key>.<env>]`` section and the ccxt
    exchange of the same id. Binance serves futures from other hosts (``binanceusdm``),
    the other venues serve every market from one."""

    key: str  # config section and ccxt exchange id: "binance", "binanceusdm", "okx"
    endpoints: Mapping[str, Endpoints]  # by environment: live, testnet, demo
    title: str = ""  # how account lists name it: "Binance spot", "OKX"
    # environments with a tradable account through ccxt, in the order accounts are listed
    # ("live" is offered only when the config allows it); () = data only
    accounts: tuple[str, ...] = ()
    passphrase: bool = False  # the API key comes with a passphrase (OKX)
    demo_is_sandbox: bool = False  # ccxt reaches demo trading through sandbox mode (OKX)
    rate_limit_ms: int | None = None  # ccxt's ms per unit of weight, where its default is wrong
    # ccxt's load_markets also fetches other hosts' market types unless told which (Binance)
    narrow_markets: bool = False

    def __post_init__(self) -> None:
        # read-only, so no caller can change a venue's hosts for everyone else
        object.__setattr__(self, "endpoints", MappingProxyType(dict(self.endpoints)))


@dataclass(frozen=True, slots=True)
class Tickers24h:
    """A market's all-symbols 24h tickers REST endpoint: what ranks its markets by turnover.

    ``parse`` turns the decoded JSON into ``{venue symbol: 24h volume in quote units}``
    and skips entries it cannot read; ``quote`` is the quote currency whose markets count
    as the venue's dollar markets (USDT, or USD where the venue has no USDT pairs)."""

    path: str  # with query
    weight: int  # the venue's request weight for the call without a symbol
    parse: Callable[[Any], dict[str, float]]
    quote: str = "USDT"


def quote_volumes(rows: Any, symbol_key: str, volume: Callable[[dict[str, Any]], float]
                  ) -> dict[str, float]:
    """``{row[symbol_key]: volume(row)}`` over a list of ticker objects, skipping rows
    that are not objects or whose figures do not parse as finite, non-negative numbers."""
    out: dict[str, float] = {}
    if type(rows) is not list:
        return out
    for row in rows:
        if type(row) is not dict:
            continue
        symbol = row.get(symbol_key)
        try:
            value = float(volume(row))
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(symbol, str) and 0.0 <= value < float("inf"):
            out[symbol] = value
    return out


@dataclass(frozen=True, slots=True)
class MarketFacts:
    """One market (spot or perp) of a venue."""

    hosts: Hosts
    ccxt_type: str  # the market type ccxt calls it: "spot", "linear", "swap"
    # REST budget per minute in the venue's own weight units (most of the limit, never all)
    rest_weight_per_minute: int
    kline_page_limit: int  # rows per klines request (the venue's documented maximum)
    snapshot_depth: int | None = None  # levels a REST book snapshot asks for (None: pushed books)
    tickers: Tickers24h | None = None  # 24h tickers of every symbol (top-N by turnover)
    kline_weight: int = 1  # request weight of one klines page of kline_page_limit rows
    # the venue's rate-limit window in seconds (OKX counts per 2 s, Bybit per 5 s, Coinbase
    # per second): the minute's budget is spent at most this window's share at a time, never
    # in one burst the venue would answer with 429s
    rest_window_s: float = 60.0

    def window_budget(self) -> int:
        """Weight allowed per ``rest_window_s`` (at least 1)."""
        return max(1, int(self.rest_weight_per_minute * self.rest_window_s / 60.0))


@dataclass(frozen=True, slots=True)
class VenueDescriptor:
    """Everything the rest of the program needs to know about a venue besides its wire
    codec: hosts per market and environment, budgets, page limits, how its market list
    is fetched and parsed, and the codec class itself. The registry collects one per
    venue module; config, engine, backfill and trading read them from there."""

    name: str  # the venue part of instrument ids: "binance"
    markets: Mapping[MarketType, MarketFacts]
    codec: Callable[..., Venue]  # codec(market, instruments, **options)
    metadata_path: Callable[[MarketType], str]  # REST path (with query) of the market list
    parse_metadata: Callable[[Any, MarketType], list[Instrument]]  # decoded JSON -> instruments
    connects_per_sec: float  # websocket connection attempts, under the venue's per-IP limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "markets", MappingProxyType(dict(self.markets)))
