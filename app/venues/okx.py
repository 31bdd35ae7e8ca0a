"""OKX v5 spot (``BTC-USDT``) and linear USDT swaps (``BTC-USDT-SWAP``): streams, decoding,
and the ``books`` sync rules (../shared/protocols section 3).

Books: the first push after subscribing is ``action:"snapshot"``; each ``update`` must
chain ``prevSeqId == previous seqId`` (keepalive updates repeat it; after maintenance the
seqId may go down while the chain holds), else the book is rebuilt by resubscribing. A
non-zero CRC32 ``checksum`` over the top 25 levels, built from the price and size strings
exactly as received, is verified after every message; the strings are kept only while
the venue sends checksums (production sends ``0`` since 2026-06). Pushes without
``seqId``/``prevSeqId`` (OKX sent none before 2023; real captures hold them) are kept by
the checksum alone. The announced
snapshot-less mode (updates only, REST snapshot) is the second mode, chosen with
``snapshotless=True``.

SWAP sizes are contracts on the wire; every size leaving this module is in base units
(contracts x ``ctVal``), the correctly rounded base quantity: from the decimal string on
the general path, through integer lot units (checked) on the fast path.

Decoding: a books push with no checksum (production) takes one typed decode straight
into the sync's shape, levels turned into pairs in C (``_fast_book``); every other frame,
and any push the fast path declines, takes the general path (envelope, then the
channel's data).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import add, attrgetter, mul, sub, truediv
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import orjson

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument, MarketType
from app.market.klines import interval_ms
from app.venues.base import (APPLIED, CHECKSUM_FAILED, GAP, IGNORED, SYNCED, Ack, BookSnapshot,
                             BufferedBookSync, ConnectionPlan, Decoded, Price, Size, Unknown,
                             one_or_many, parse_rejected)
from app.venues.base import (Endpoints, Hosts, MarketFacts, Recovery, Tickers24h, VenueDescriptor,
                             quote_volumes)

VENUE = "okx"
INST_TYPE: dict[str, str] = {"spot": "SPOT", "perp": "SWAP"}
BOOK_DEPTH = 400  # levels in a ``books`` snapshot, and what we ask REST for
CHECKSUM_LEVELS = 25
# OKX allows fewer than 30 book channels per connection; the margin absorbs resubscribes.
MAX_BOOKS_PER_CONNECTION = 25
MAX_STREAMS_PER_BUSINESS_CONNECTION = 200
# ticker-only channels per connection (the watchlist's rows without books); OKX counts
# no limit for them beyond the 64 KB per subscribe message
TICKER_STREAMS_PER_CONNECTION = 400
# OKX refuses a request whose args exceed 64 KB.
MAX_ARGS_BYTES = 60_000
KLINE_LIMIT = 300  # rows per /market/candles request, which serves the latest RECENT_BARS only
RECENT_BARS = 1440
HISTORY_KLINE_LIMIT = 100  # rows per /market/history-candles request, which serves any age
# a page starting further back than this goes to history-candles: the horizon moves on
# while a page waits its turn behind a long backfill, and history-candles serves recent
# bars too, so erring towards it never loses a candle
RECENT_SAFE_BARS = 1200
BOOK_CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
# Our intervals -> OKX bars. Days and weeks use the UTC-aligned bars: plain ``1D`` opens
# at 00:00 Hong Kong time and would not line up with any other venue.
BARS: dict[str, str] = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m",
                        "1h": "1H", "2h": "2H", "4h": "4H", "1d": "1Dutc", "1w": "1Wutc"}
INTERVAL_OF_BAR: dict[str, str] = {bar: iv for iv, bar in BARS.items()}
# Informational events that need no action (service notices, connection counts).
_QUIET_EVENTS = frozenset({"notice", "channel-conn-count", "channel-conn-count-error"})

_MAX = 1e18
# ``seqId`` of a push that carries none (OKX before 2023). Real ids are >= 0, and -1 is
# the ``prevSeqId`` of a snapshot.
NO_SEQ = -2


# -- numbers ---------------------------------------------------------------------------

def exponent_suffix(contract_size: float) -> str | None:
    """``"e-2"`` for a ``ctVal`` of 0.01 (``""`` for 1): appended to a contracts string it
    makes the base amount, which ``float`` then rounds correctly. None when ``ctVal`` is
    not a power of ten."""
    if contract_size == 1.0:
        return ""
    dec = Decimal(repr(contract_size)).normalize()
    sign, digits, exponent = dec.as_tuple()
    if not sign and digits == (1,) and isinstance(exponent, int):
        return f"e{exponent}"
    return None


def size_parser(contract_size: float) -> Callable[[str], float]:
    """A function turning a wire size string into base units, correctly rounded.

    For a power-of-ten ``ctVal`` (0.01 BTC, 0.1 ETH, 1000 DOGE) the contracts are shifted
    by an exponent suffix (``"12.34" -> float("12.34e-2")``), one C-level parse and exact;
    ``float(s) * 0.01`` would be off by an ulp for a quarter of all values."""
    suffix = exponent_suffix(contract_size)
    if suffix == "":
        return float
    if suffix is not None:
        return lambda s: float(s + suffix)
    dec = Decimal(repr(contract_size)).normalize()
    return lambda s: float(Decimal(s) * dec)


class _Level(msgspec.Struct, array_like=True, gc=False):
    """A level ``[px, sz, "0", orders]`` as the fast path decodes it: the two numbers
    that matter, validated; the trailing fields are skipped."""

    px: Price
    sz: Size


_pair = attrgetter("px", "sz")
_price_of = attrgetter("px")
_size_of = attrgetter("sz")


def level_pairs(rows: list[_Level]) -> list[tuple[float, float]]:
    """Typed-decoded levels -> (price, size) pairs, in C."""
    return list(map(_pair, rows))


# 1.5 * 2**52: adding and subtracting it rounds a float in [0, 2**51) to an integer, in C
_ROUNDER = 6755399441055744.0
_EXACT_BELOW = 2.0 ** 51


class ContractScale:
    """Typed-decoded levels with sizes in contracts -> (price, base size) pairs for a
    power-of-ten ``ctVal`` (``10**exponent``), correctly rounded, without a Python-level
    loop over the levels.

    A size with at most ``decimals`` decimals is an integer N of ``10**-decimals``
    contracts, and N / 10**(decimals - exponent) is one IEEE division: the correctly
    rounded base amount. Every size is checked to come back from its N; one that does
    not (more decimals than the lot has, or too large) raises ValueError, and the caller
    takes the exact string path."""

    __slots__ = ("_m", "_q", "_limit")

    def __init__(self, exponent: int, decimals: int) -> None:
        # both powers must be exact floats (10**22 is the last): -14 <= exponent <= 8
        if not -14 <= exponent <= 8 or not 0 <= decimals <= 8:
            raise ValueError(f"no exact fast path for ctVal 1e{exponent}, {decimals} decimals")
        decimals = max(decimals, exponent)  # a divisor, not a fraction: 10**(d - e) >= 1
        self._m = 10.0 ** decimals
        self._q = 10.0 ** (decimals - exponent)
        self._limit = _EXACT_BELOW / self._m

    def __call__(self, rows: list[_Level]) -> list[tuple[float, float]]:
        m = self._m
        sizes = list(map(_size_of, rows))
        if not sizes:
            return []
        if max(sizes) >= self._limit:
            raise ValueError("contracts too large for the fast path")
        units = list(map(sub, map(add, map(mul, sizes, repeat(m)), repeat(_ROUNDER)), repeat(_ROUNDER)))
        if list(map(truediv, units, repeat(m))) != sizes:
            raise ValueError("contracts finer than the lot")
        return list(zip(map(_price_of, rows), map(truediv, units, repeat(self._q))))


def base_amount(size: str, contract_size: str) -> float:
    """``size`` contracts of ``contract_size`` base units each, as a correctly rounded float."""
    return float(Decimal(size) * Decimal(contract_size))


def book_levels(rows: Sequence[Sequence[str]], size: Callable[[str], float]
                ) -> list[tuple[float, float]]:
    """OKX levels ``[px, sz, "0", orders]`` -> validated (price, base size) float pairs.
    Raises ValueError. The exact path: REST snapshots and the pushes the fast path
    leaves (legacy checksums, odd shapes, contracts finer than the lot)."""
    out: list[tuple[float, float]] = []
    append = out.append
    for row in rows:
        try:
            p, q = float(row[0]), size(row[1])
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError):
            raise ValueError(f"bad level {str(row)[:60]}") from None
        # NaN fails both comparisons, infinities the upper bound
        if not (0.0 < p < _MAX and 0.0 <= q < _MAX):
            raise ValueError(f"bad level {str(row)[:60]}")
        append((p, q))
    return out


def parse_book_levels(rows: Sequence[Sequence[str]], size: Callable[[str], float]
                      ) -> tuple[list[tuple[float, float]], list[tuple[str, str]]]:
    """``book_levels`` plus the raw (px, sz) strings the legacy checksum is built from.
    Raises ValueError."""
    levels = book_levels(rows, size)
    # every row passed validation, so each has a price and a size
    return levels, [(row[0], row[1]) for row in rows]


def _price(s: str) -> float | None:
    """An optional positive price field (OKX sends "" when there is none)."""
    if s == "":
        return None
    v = float(s)
    if not 0.0 < v < _MAX:
        raise ValueError(f"bad price {s!r}")
    return v


def _amount(s: str, size: Callable[[str], float] = float) -> float | None:
    if s == "":
        return None
    v = size(s)
    if not 0.0 <= v < _MAX:
        raise ValueError(f"bad amount {s!r}")
    return v


def _signed(s: str) -> float | None:
    if s == "":
        return None
    v = float(s)
    if not -_MAX < v < _MAX:
        raise ValueError(f"bad rate {s!r}")
    return v


def _ms(s: str) -> int | None:
    return int(s) if s != "" else None


def signed_crc32(text: str) -> int:
    crc = zlib.crc32(text.encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def book_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """OKX's legacy checksum: for i in 0..24 the i-th bid's price and size, then the i-th
    ask's (each only if present), raw strings joined with ``:``; CRC32 as a signed int32.
    Levels are best first; only the first 25 of each side count."""
    parts: list[str] = []
    nb, na = min(len(bids), CHECKSUM_LEVELS), min(len(asks), CHECKSUM_LEVELS)
    for i in range(max(nb, na)):
        if i < nb:
            parts.append(bids[i][0])
            parts.append(bids[i][1])
        if i < na:
            parts.append(asks[i][0])
            parts.append(asks[i][1])
    return signed_crc32(":".join(parts))


# -- decoded records -------------------------------------------------------------------

class OkxBook(msgspec.Struct, gc=False):
    """One ``books`` push, decoded: levels in base units, plus the raw strings when the
    push carries a checksum (``None`` otherwise: nothing would ever read them). A Struct:
    built once per push, in C."""

    symbol: str  # instId, e.g. "BTC-USDT-SWAP"
    action: str  # "snapshot" | "update"
    ts: int
    seq: int  # seqId (NO_SEQ when the push has none)
    prev: int  # prevSeqId (-1 on snapshots and when the push has none)
    checksum: int  # 0 = not sent
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    raw_bids: list[tuple[str, str]] | None
    raw_asks: list[tuple[str, str]] | None


# -- wire structs ----------------------------------------------------------------------
# OKX sends numbers as strings; strict=False lets msgspec convert ids and times. Sizes stay
# strings because SWAP contracts are converted exactly and the checksum needs the text.


class _Arg(msgspec.Struct, gc=False):
    channel: str = ""
    instId: str = ""


class _Envelope(msgspec.Struct, gc=False):
    """Every frame's outer shape; ``data`` is parsed later by the channel's own decoder."""

    arg: _Arg | None = None
    data: msgspec.Raw = msgspec.Raw()
    action: str = ""
    event: str | None = None


class _BookData(msgspec.Struct, gc=False):
    asks: list[list[str]]
    bids: list[list[str]]
    ts: int
    seqId: int = NO_SEQ
    prevSeqId: int = -1
    checksum: int = 0


# The books fast path: the whole push in one typed decode, levels converted in C; a push
# of another shape fails it and takes the general path.
class _FastBookData(msgspec.Struct, gc=False):
    asks: list[_Level]
    bids: list[_Level]
    ts: int
    seqId: int = NO_SEQ
    prevSeqId: int = -1
    checksum: int = 0


class _FastBookFrame(msgspec.Struct, gc=False):
    """A books push; SWAP sizes (contracts) are scaled after the decode."""

    arg: _Arg
    data: list[_FastBookData]
    action: str = ""


_BOOKS_PREFIX = '{"arg":{"channel":"books",'
_BOOKS_PREFIX_BYTES = _BOOKS_PREFIX.encode()
_Invalid = (msgspec.ValidationError, msgspec.DecodeError)


class _TradeData(msgspec.Struct, gc=False):
    px: Price
    sz: str
    side: Literal["buy", "sell"]
    ts: int
    tradeId: str = ""


class _TickerData(msgspec.Struct, gc=False):
    ts: int
    last: str = ""
    bidPx: str = ""
    askPx: str = ""
    high24h: str = ""
    low24h: str = ""
    open24h: str = ""
    vol24h: str = ""
    volCcy24h: str = ""


class _FundingData(msgspec.Struct, gc=False):
    ts: int
    fundingRate: str = ""
    fundingTime: str = ""
    nextFundingTime: str = ""


class _MarkData(msgspec.Struct, gc=False):
    ts: int
    markPx: Price


_decode_envelope = msgspec.json.Decoder(_Envelope, strict=False).decode
_decode_books = msgspec.json.Decoder(list[_BookData], strict=False).decode
_decode_trades = msgspec.json.Decoder(list[_TradeData], strict=False).decode
_decode_tickers = msgspec.json.Decoder(list[_TickerData], strict=False).decode
_decode_funding = msgspec.json.Decoder(list[_FundingData], strict=False).decode
_decode_marks = msgspec.json.Decoder(list[_MarkData], strict=False).decode
_decode_rows = msgspec.json.Decoder(list[list[str]], strict=False).decode
_decode_book_push = msgspec.json.Decoder(_FastBookFrame, strict=False).decode


# -- instruments -----------------------------------------------------------------------

def _data_of(payload: Any, what: str) -> list[Any]:
    """The ``data`` list of an OKX REST response; ValueError with OKX's message otherwise."""
    if type(payload) is not dict:
        raise ValueError(f"not an OKX {what} response")
    if str(payload.get("code", "0")) != "0":
        raise ValueError(f"OKX {what}: {payload.get('code')} {payload.get('msg', '')}".strip())
    data = payload.get("data")
    if type(data) is not list:
        raise ValueError(f"OKX {what}: no data list")
    return data


def instruments_from_okx(data: dict[str, Any], market: MarketType,
                         wanted: set[str] | None = None) -> list[Instrument]:
    """Instruments from ``GET /api/v5/public/instruments?instType=SPOT|SWAP``.

    Spot takes base/quote from ``baseCcy``/``quoteCcy``; swaps only linear USDT-settled
    ones, base from ``ctValCcy``, quote from ``settleCcy``, ``contract_size = ctVal`` and
    the lot in base units (``lotSz x ctVal``). ``wanted`` filters by instId. OKX has no
    minimum notional (its ``minSz`` is a size; Instrument has no field for it)."""
    want_type = INST_TYPE[market]
    out: list[Instrument] = []
    for row in _data_of(data, "instruments"):
        if type(row) is not dict or row.get("instType", want_type) != want_type:
            continue
        inst_id = row.get("instId", "")
        if wanted is not None and inst_id not in wanted:
            continue
        if row.get("state", "live") != "live":
            continue
        try:
            tick = float(row["tickSz"])
            if market == "spot":
                base, quote = row["baseCcy"], row["quoteCcy"]
                lot, contract = float(row["lotSz"]), 1.0
            else:
                if row.get("ctType") != "linear" or row.get("settleCcy") != "USDT":
                    continue
                base, quote = row["ctValCcy"], row["settleCcy"]
                lot = base_amount(row["lotSz"], row["ctVal"])
                contract = float(row["ctVal"])
        except (KeyError, ValueError, TypeError, InvalidOperation):
            continue  # one odd listing must not cost the whole market
        if not base or not quote or not (tick > 0 and lot > 0 and contract > 0):
            continue
        out.append(Instrument(VENUE, market, base, quote, inst_id, tick_size=tick,
                              lot_size=lot, min_notional=0.0, contract_size=contract))
    return out


# -- book sync -------------------------------------------------------------------------

class OkxBookSync(BufferedBookSync):
    """OKX ``books`` sync for one instrument.

    Default mode: the pushed snapshot loads the book (SYNCED); updates chain on
    ``prevSeqId``; a break is a GAP and a checksum mismatch CHECKSUM_FAILED (the sync has
    reset itself; the feed resubscribes for a new snapshot). Updates before the snapshot
    are IGNORED. Pushes without sequence ids are not chained: their checksum is the only
    check (a mismatch is CHECKSUM_FAILED as above).

    Raw strings (for the legacy checksum) are kept only while the venue sends checksums:
    a snapshot with one turns tracking on, one with ``checksum: 0`` (production since
    2026-06) leaves it off, and an update with ``checksum: 0`` turns it off. An update
    with a checksum on a book without raw strings cannot be verified: a GAP, whose
    resubscribe brings a snapshot with a checksum.

    ``snapshotless``: updates are buffered until a REST snapshot arrives through
    ``on_snapshot``; the snapshot is refused (STALE_SNAPSHOT) if it predates the first
    buffered ``prevSeqId``; buffered updates with ``seqId <= snapshot seqId`` are dropped
    and the first kept one must straddle it (``prevSeqId <= seqId_snap < seqId``)."""

    __slots__ = ("snapshot_mode", "snapshotless", "checksums_checked", "_size", "_tracking",
                 "_raw_bids", "_raw_asks")

    def __init__(self, size: Callable[[str], float] = float, snapshotless: bool = False) -> None:
        self.snapshotless = self.snapshot_mode = snapshotless
        self.checksums_checked = 0
        self._size = size
        # raw (px, sz) strings of every live level while ``_tracking``: the checksum must
        # use the text as sent
        self._tracking = False
        self._raw_bids: dict[float, tuple[str, str]] = {}
        self._raw_asks: dict[float, tuple[str, str]] = {}
        super().__init__()

    @property
    def seq(self) -> int:
        """The seqId the book is at (``last_id``, under OKX's name)."""
        return self.last_id

    @property
    def verifies_checksums(self) -> bool:
        """Whether the book keeps the raw strings a legacy checksum is checked against."""
        return self._tracking

    def reset(self) -> None:
        super().reset()
        self._stop_tracking()

    # -- the sequence rule ---------------------------------------------------------------

    def _step(self, msg: OkxBook) -> int:
        if msg.action == "snapshot":
            return self._load_pushed(msg)
        last_id = self.last_id
        if msg.prev != last_id:
            if msg.seq == NO_SEQ or last_id == NO_SEQ:
                # The venue sends no sequence ids (or starts sending them on a book that
                # had none): nothing to chain, the checksum alone keeps the book honest.
                pass
            elif not self._first_after:
                return GAP
            elif msg.seq <= last_id:
                return IGNORED  # already inside the REST snapshot
            elif not msg.prev <= last_id < msg.seq:
                return GAP
        # No ``seqId > prevSeqId`` check: keepalives repeat the id and maintenance resets it.
        self._first_after = False
        if msg.checksum:
            return self._apply_verified(msg)
        if self._tracking:
            self._stop_tracking()  # the venue stopped sending checksums
        self.book.apply(msg.bids, msg.asks, msg.ts)
        self.last_id = msg.seq
        return APPLIED

    def _accept(self, msg: OkxBook) -> int | None:
        if msg.action == "snapshot":
            return self._load_pushed(msg)
        if not self.snapshotless:
            return IGNORED  # the tail of an old subscription; the snapshot is coming
        return None

    def _opens(self, msg: OkxBook) -> int:
        return msg.prev

    def _keeps(self, msg: OkxBook, snap_id: int) -> bool:
        return msg.seq > snap_id

    def _gap(self, msg: OkxBook | None) -> None:
        # a snapshot push that failed its checksum is not the start of a new buffer
        super()._gap(None if msg is None or msg.action == "snapshot" else msg)

    def _apply_verified(self, msg: OkxBook) -> int:
        """An update with a legacy checksum: apply it, keep its text and check the result."""
        raw_bids, raw_asks = msg.raw_bids, msg.raw_asks
        if not self._tracking or raw_bids is None or raw_asks is None:
            # the book was loaded without raw strings, so it cannot be verified; the
            # resubscribe (or REST snapshot) brings text to verify from
            return GAP
        self.book.apply(msg.bids, msg.asks, msg.ts)
        _track(self._raw_bids, msg.bids, raw_bids)
        _track(self._raw_asks, msg.asks, raw_asks)
        self.last_id = msg.seq
        if msg.checksum != self.checksum():
            return CHECKSUM_FAILED
        return APPLIED

    def _stop_tracking(self) -> None:
        self._tracking = False
        self._raw_bids.clear()
        self._raw_asks.clear()

    def _load_book(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]],
                   raw_bids: list[tuple[str, str]] | None, raw_asks: list[tuple[str, str]] | None,
                   seq: int, ts: int) -> None:
        """Replace the book; raw strings given (both sides) turn checksum tracking on."""
        self.reset()
        # the levels are validated float pairs already: merged in C, not parsed again
        self.book.apply(bids, asks, ts)
        if raw_bids is not None and raw_asks is not None:
            self._tracking = True
            _track(self._raw_bids, bids, raw_bids)
            _track(self._raw_asks, asks, raw_asks)
        self.last_id = seq
        self.synced = True
        self.needs_snapshot = False

    def _load_pushed(self, msg: OkxBook) -> int:
        """A snapshot push replaces everything: updates buffered before it are in it."""
        if not msg.checksum or msg.raw_bids is None or msg.raw_asks is None:
            self._load_book(msg.bids, msg.asks, None, None, msg.seq, msg.ts)
            return SYNCED
        self._load_book(msg.bids, msg.asks, msg.raw_bids, msg.raw_asks, msg.seq, msg.ts)
        if msg.checksum != self.checksum():
            return CHECKSUM_FAILED
        return SYNCED

    def checksum(self) -> int:
        """The checksum of the book as it is now (top 25 levels, raw strings). Only
        meaningful while ``verifies_checksums``."""
        self.checksums_checked += 1
        bids, asks = self.book.top(CHECKSUM_LEVELS)
        rb, ra = self._raw_bids, self._raw_asks
        return book_checksum([rb[p] for p, _ in bids], [ra[p] for p, _ in asks])

    # -- REST snapshot (snapshot-less mode) ----------------------------------------------

    def on_snapshot(self, snap: BookSnapshot) -> int:
        """Load a REST snapshot (``last_update_id`` = its seqId, levels as wire strings)
        and replay the buffer. Raises ValueError on unusable levels."""
        if self.synced:
            return IGNORED  # a pushed snapshot got there first
        return super().on_snapshot(snap)

    def _load(self, snap: BookSnapshot, snap_id: int, kept: list[Any], buffered: list[Any]) -> None:
        # A REST snapshot has no checksum field to tell the mode, so it always starts with
        # tracking on (its text is at hand, once per resync): the first update then
        # decides, a zero checksum turning tracking off. Deciding from the buffer would
        # still need a rule for a buffer the snapshot covers entirely, for no real saving.
        bids, raw_bids = parse_book_levels(snap.bids, self._size)
        asks, raw_asks = parse_book_levels(snap.asks, self._size)
        self._load_book(bids, asks, raw_bids, raw_asks, snap_id, snap.ts)


def _track(side: dict[float, tuple[str, str]], levels: list[tuple[float, float]],
           raws: list[tuple[str, str]]) -> None:
    """Keep the raw strings of the live levels of one side (size 0 deletes)."""
    for (p, q), raw in zip(levels, raws):
        if q > 0.0:
            side[p] = raw
        else:
            side.pop(p, None)


# -- the codec -------------------------------------------------------------------------

class OkxVenue:
    """Codec for one OKX market (``spot`` = SPOT, ``perp`` = linear USDT SWAP).

    ``snapshotless=True`` selects the announced books mode without a snapshot push:
    books are then rebuilt from REST (``recovery = "snapshot"``)."""

    name = VENUE
    config_key = VENUE
    depth_type = OkxBook
    ws_ping_interval: float | None = None  # OKX has no protocol pings: text "ping"/"pong"
    keepalive: tuple[float, str] | None = (25.0, "ping")  # OKX drops a socket idle 30 s
    live_kline_intervals: frozenset[str] | None = None  # a stream for every interval

    def __init__(self, market: MarketType, instruments: list[Instrument],
                 snapshotless: bool = False,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.market: MarketType = market
        self._clock = clock  # epoch ms: which klines endpoint still serves a range
        self.snapshotless = snapshotless
        self.recovery: Recovery = "snapshot" if snapshotless else "resubscribe"
        self._by_symbol = {i.venue_symbol.upper(): i for i in instruments}
        self._sizes = {sym: size_parser(i.contract_size) for sym, i in self._by_symbol.items()}
        self._to_pairs: dict[str, Callable[[list[Any]], list[tuple[float, float]]] | None] = {
            sym: self._pairs_for(i) for sym, i in self._by_symbol.items()}
        self._req_id = 0
        self._handlers: dict[str, Callable[[str, bytes, str], Decoded]] = {
            "trades": self._trades, "tickers": self._tickers,
            "funding-rate": self._funding, "mark-price": self._mark}

    def instruments(self) -> list[Instrument]:
        return list(self._by_symbol.values())

    def instrument(self, venue_symbol: str) -> Instrument | None:
        return self._by_symbol.get(venue_symbol.upper())

    # -- streams ("channel:instId") -------------------------------------------------------

    def public_streams(self, inst: Instrument) -> list[str]:
        sym = inst.venue_symbol
        streams = [f"books:{sym}", f"trades:{sym}", f"tickers:{sym}"]
        if self.market == "perp":
            streams += [f"funding-rate:{sym}", f"mark-price:{sym}"]
        return streams

    def book_streams(self, inst: Instrument) -> list[str]:
        return [f"books:{inst.venue_symbol}"]

    def kline_stream(self, inst: Instrument, interval: str) -> tuple[str, str]:
        try:
            bar = BARS[interval]
        except KeyError:
            raise ValueError(f"OKX has no {interval!r} candles") from None
        return f"candle{bar}:{inst.venue_symbol}", "business"

    def stream_group(self, stream: str) -> str:
        return "business" if stream.startswith("candle") else "public"

    def max_streams(self, group: str) -> int:
        """Streams one connection may carry: on ``public`` that many instruments' worth
        that their book channels stay under OKX's 30 per connection."""
        if group == "business":
            return MAX_STREAMS_PER_BUSINESS_CONNECTION
        return MAX_BOOKS_PER_CONNECTION * (5 if self.market == "perp" else 3)

    def connection_plans(self, ws_url: str, instruments: list[Instrument],
                         intervals: list[str]) -> list[ConnectionPlan]:
        """``{base}/public`` connection(s) of at most MAX_BOOKS_PER_CONNECTION instruments
        each (OKX wants < 30 book channels per connection) and ``{base}/business`` for
        candles. ``ws_url`` is the base, e.g. ``wss://ws.okx.com:8443/ws/v5``."""
        base = ws_url.rstrip("/")
        for suffix in ("/public", "/business"):
            if base.endswith(suffix):  # forgive a config that names a full endpoint
                base = base[:-len(suffix)]
        label = f"okx {self.market}"
        plans: list[ConnectionPlan] = []
        for n, start in enumerate(range(0, len(instruments), MAX_BOOKS_PER_CONNECTION)):
            chunk = instruments[start:start + MAX_BOOKS_PER_CONNECTION]
            plans.append(ConnectionPlan(f"{label} public" + (f" #{n + 1}" if n else ""),
                                        f"{base}/public",
                                        [s for inst in chunk for s in self.public_streams(inst)]))
        candles = [self.kline_stream(inst, iv)[0] for inst in instruments for iv in intervals]
        cap = MAX_STREAMS_PER_BUSINESS_CONNECTION
        for n, start in enumerate(range(0, len(candles), cap)):
            plans.append(ConnectionPlan(f"{label} business" + (f" #{n + 1}" if n else ""),
                                        f"{base}/business", candles[start:start + cap]))
        return plans

    def ticker_plans(self, ws_url: str, instruments: list[Instrument]) -> list[ConnectionPlan]:
        """Tickers (and perps' funding) without books: OKX has no all-market ticker
        channel, so per-instrument ``tickers`` subscriptions, batched under 64 KB per
        message, TICKER_STREAMS_PER_CONNECTION to a ``/public`` connection."""
        base = ws_url.rstrip("/")
        for suffix in ("/public", "/business"):
            if base.endswith(suffix):
                base = base[:-len(suffix)]
        streams: list[str] = []
        for inst in instruments:
            streams.append(f"tickers:{inst.venue_symbol}")
            if self.market == "perp":
                streams.append(f"funding-rate:{inst.venue_symbol}")
        cap = TICKER_STREAMS_PER_CONNECTION
        return [ConnectionPlan(f"okx {self.market} tickers" + (f" #{n + 1}" if n else ""),
                               f"{base}/public", streams[start:start + cap])
                for n, start in enumerate(range(0, len(streams), cap))]

    def subscribe_messages(self, streams: list[str], method: str = "SUBSCRIBE") -> list[str]:
        """``{"id","op","args":[{"channel","instId"},...]}`` messages, each under 64 KB."""
        op = "unsubscribe" if method.upper() == "UNSUBSCRIBE" else "subscribe"
        out: list[str] = []
        chunk: list[dict[str, str]] = []
        size = 0
        for stream in streams:
            channel, _, inst_id = stream.partition(":")
            arg = {"channel": channel, "instId": inst_id}
            arg_size = len(channel) + len(inst_id) + 30
            if chunk and size + arg_size > MAX_ARGS_BYTES:
                out.append(self._request(op, chunk))
                chunk, size = [], 0
            chunk.append(arg)
            size += arg_size
        if chunk:
            out.append(self._request(op, chunk))
        return out

    def _request(self, op: str, args: list[dict[str, str]]) -> str:
        self._req_id += 1
        return orjson.dumps({"id": str(self._req_id), "op": op, "args": args}).decode()

    # -- decoding ------------------------------------------------------------------------

    def new_decoder(self) -> Callable[[str | bytes], Decoded | OkxBook]:
        return self.decode  # OKX frames carry no per-connection state

    @staticmethod
    def _pairs_for(inst: Instrument) -> Callable[[list[Any]], list[tuple[float, float]]] | None:
        """How the fast path turns an instrument's typed levels into base-unit pairs
        (None: a ``ctVal`` that is not a power of ten, left to the exact string path)."""
        suffix = exponent_suffix(inst.contract_size)
        if suffix == "":
            return level_pairs
        if suffix is None:
            return None
        # decimals of the lot in contracts (book sizes are sums of lots); 8 if unknown
        decimals = 8
        if inst.lot_size > 0:
            lot = (Decimal(repr(inst.lot_size)) / Decimal(repr(inst.contract_size))).normalize()
            decimals = max(0, -int(lot.as_tuple().exponent))
        try:
            return ContractScale(int(suffix[1:]), min(decimals, 8))
        except ValueError:
            return None

    def decode(self, raw: str | bytes) -> Decoded | OkxBook:
        """One frame -> a book push, an event (``Events`` when one frame carries several),
        an Ack, None (pong, notices) or Unknown. Never raises."""
        if raw.startswith(_BOOKS_PREFIX if type(raw) is str else _BOOKS_PREFIX_BYTES):  # type: ignore[arg-type]  # the prefix is picked by raw's own type
            book = self._fast_book(raw)
            if book is not None:
                return book
        elif raw == "pong" or raw == b"pong":
            return None
        return self._decode_general(raw)

    def _fast_book(self, raw: str | bytes) -> OkxBook | None:
        """A books push (nearly every frame) in one typed decode, straight into the sync's
        shape. None sends the frame down the general path: a legacy checksum (its raw
        strings are needed), an odd shape, or anything the typed decode rejects, which
        the general path then explains."""
        try:
            frame = _decode_book_push(raw)
        except _Invalid:
            return None
        data = frame.data
        if len(data) != 1:
            return None
        d = data[0]
        action = frame.action
        to_pairs = self._to_pairs.get(frame.arg.instId)
        if d.checksum or to_pairs is None or (action != "update" and action != "snapshot"):
            return None
        try:
            bids, asks = to_pairs(d.bids), to_pairs(d.asks)
        except (ValueError, ArithmeticError):
            return None
        return OkxBook(frame.arg.instId, action, d.ts, d.seqId, d.prevSeqId, 0, bids, asks, None, None)

    def _decode_general(self, raw: str | bytes) -> Decoded | OkxBook:
        """Every frame the books fast path does not take: parse the envelope, then the
        channel's data."""
        try:
            env = _decode_envelope(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return Unknown(f"not an OKX frame: {str(raw)[:120]}", malformed=True)
        if env.event is not None:
            return self._event(raw, env.event)
        arg = env.arg
        if arg is None or not env.data:
            return Unknown("no channel or data")
        channel, inst_id = arg.channel, arg.instId
        inst = self._by_symbol.get(inst_id)
        if inst is None:
            return Unknown(f"unknown instrument {inst_id!r}")
        try:
            if channel in BOOK_CHANNELS:
                return self._book(inst_id, env.data, env.action)
            handler = self._handlers.get(channel)
            if handler is not None:
                return handler(inst.id, env.data, inst_id)
            if channel.startswith("candle"):
                interval = INTERVAL_OF_BAR.get(channel[6:])
                if interval is not None:
                    return self._candles(inst.id, env.data, inst_id, interval)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError,
                IndexError, ArithmeticError) as exc:
            return Unknown(f"bad {channel} frame ({exc}): {str(raw)[:120]}", malformed=True)
        return Unknown(f"unhandled channel {channel!r}")

    def _book(self, inst_id: str, data: bytes, action: str) -> OkxBook | Unknown:
        items = _decode_books(data)
        if len(items) != 1 or action not in ("snapshot", "update"):
            return Unknown(f"books push with {len(items)} items, action {action!r}", malformed=True)
        d = items[0]
        size = self._sizes[inst_id]
        if not d.checksum:  # production since 2026-06: no checksum, no text to keep
            return OkxBook(inst_id, action, d.ts, d.seqId, d.prevSeqId, 0,
                           book_levels(d.bids, size), book_levels(d.asks, size), None, None)
        bids, raw_bids = parse_book_levels(d.bids, size)
        asks, raw_asks = parse_book_levels(d.asks, size)
        return OkxBook(inst_id, action, d.ts, d.seqId, d.prevSeqId, d.checksum,
                       bids, asks, raw_bids, raw_asks)

    @staticmethod
    def _one(events: list[Any]) -> Decoded:
        return one_or_many(events) or Unknown("empty data")

    def _trades(self, iid: str, data: bytes, inst_id: str) -> Decoded:
        size = self._sizes[inst_id]
        out = []
        for t in _decode_trades(data):
            amount = size(t.sz)
            if not 0.0 <= amount < _MAX:
                raise ValueError(f"bad size {t.sz!r}")
            out.append(Trade(iid, t.ts, t.px, amount, t.side, t.tradeId or None))
        return self._one(out)

    def _tickers(self, iid: str, data: bytes, inst_id: str) -> Decoded:
        # 24 h volume in base units: SPOT vol24h is base; SWAP vol24h counts contracts and
        # volCcy24h is the base amount
        spot = self.market == "spot"
        # (SPOT volCcy24h is the quote turnover; SWAP's quote turnover is not sent)
        out = [Ticker(iid, t.ts, _price(t.last), _price(t.bidPx), _price(t.askPx),
                      _price(t.high24h), _price(t.low24h),
                      _amount(t.vol24h if spot else t.volCcy24h), _price(t.open24h),
                      _amount(t.volCcy24h) if spot else None)
               for t in _decode_tickers(data)]
        return self._one(out)

    def _funding(self, iid: str, data: bytes, inst_id: str) -> Decoded:
        # fundingTime is the settlement the current rate applies to: the next funding
        out = [Funding(iid, f.ts, _signed(f.fundingRate),
                       _ms(f.fundingTime) or _ms(f.nextFundingTime))
               for f in _decode_funding(data)]
        return self._one(out)

    def _mark(self, iid: str, data: bytes, inst_id: str) -> Decoded:
        return self._one([Funding(iid, m.ts, None, None, m.markPx) for m in _decode_marks(data)])

    def _candles(self, iid: str, data: bytes, inst_id: str, interval: str) -> Decoded:
        return self._one([self._kline(iid, row, interval) for row in _decode_rows(data)])

    def _kline(self, iid: str, row: list[str], interval: str) -> Kline:
        """``[ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm]``; base volume is ``vol`` for SPOT
        and ``volCcy`` for SWAP (whose ``vol`` counts contracts)."""
        o, h, lo, c = _price(row[1]), _price(row[2]), _price(row[3]), _price(row[4])
        vol = _amount(row[5] if self.market == "spot" else row[6])
        if o is None or h is None or lo is None or c is None or vol is None:
            raise ValueError("empty candle field")
        return Kline(iid, interval, int(row[0]), o, h, lo, c, vol, row[8] == "1")

    def _event(self, raw: str | bytes, event: str) -> Decoded:
        msg = parse_rejected(raw)
        if isinstance(msg, Unknown):  # else the frame's JSON object
            return msg
        if event in ("subscribe", "unsubscribe"):
            return Ack(msg.get("id"), None, msg.get("arg"))
        if event == "error":
            return Ack(msg.get("id"), f"{msg.get('code', '?')} {msg.get('msg', '')}".strip())
        if event in _QUIET_EVENTS:
            return None
        return Unknown(f"unhandled event {event!r}")

    # -- REST ----------------------------------------------------------------------------

    def instruments_path(self) -> str:
        return f"/api/v5/public/instruments?instType={INST_TYPE[self.market]}"

    def snapshot_path(self, inst: Instrument) -> str:
        depth = DESCRIPTOR.markets[self.market].snapshot_depth
        return f"/api/v5/market/books?{urlencode({'instId': inst.venue_symbol, 'sz': depth})}"

    def snapshot_weight(self) -> int:
        return 1  # OKX limits books by request count (40 per 2 s), not weight

    def parse_snapshot(self, text: str | bytes) -> BookSnapshot:
        """``GET /api/v5/market/books``: levels stay wire strings (the sync scales them and
        keeps the text for checksums); the announced snapshot-less mode adds ``seqId``."""
        data = _data_of(orjson.loads(text), "books")
        if len(data) != 1 or type(data[0]) is not dict:
            raise ValueError("OKX books: expected one book")
        book = data[0]
        if "seqId" not in book:
            raise ValueError("OKX books: the snapshot has no seqId")
        return BookSnapshot(int(book["seqId"]), book["bids"], book["asks"], int(book.get("ts") or 0))

    def klines_path(self, inst: Instrument, interval: str, limit: int = KLINE_LIMIT,
                    start_ms: int | None = None, end_ms: int | None = None) -> str:
        """``/api/v5/market/candles`` for the latest bars, ``history-candles`` for a range
        that starts further back (``candles`` answers those with nothing). OKX pages with
        exclusive ``after`` (older than) and ``before`` (newer than) open times;
        ``start_ms`` and ``end_ms`` are inclusive, as in the Binance codec."""
        bar = BARS.get(interval)
        if bar is None:
            raise ValueError(f"OKX has no {interval!r} candles")
        history = start_ms is not None and \
            start_ms < self._clock() - RECENT_SAFE_BARS * interval_ms(interval)
        cap = HISTORY_KLINE_LIMIT if history else KLINE_LIMIT
        params: dict[str, Any] = {"instId": inst.venue_symbol, "bar": bar,
                                  "limit": max(1, min(limit, cap))}
        if end_ms is not None:
            params["after"] = end_ms + 1
        if start_ms is not None:
            params["before"] = start_ms - 1
        endpoint = "history-candles" if history else "candles"
        return f"/api/v5/market/{endpoint}?{urlencode(params)}"

    def parse_klines(self, text: str | bytes, inst: Instrument, interval: str) -> list[Kline]:
        """Rows come newest first; returned oldest first."""
        rows = _data_of(orjson.loads(text), "candles")
        out = []
        for row in reversed(rows):
            if type(row) is not list or len(row) < 9 or not all(type(x) is str for x in row[:9]):
                raise ValueError(f"OKX candles: bad row {str(row)[:80]}")
            out.append(self._kline(inst.id, row, interval))
        return out

    def new_book_sync(self, inst: Instrument) -> OkxBookSync:
        return OkxBookSync(size_parser(inst.contract_size), snapshotless=self.snapshotless)


def _metadata_path(market: MarketType) -> str:
    return OkxVenue(market, []).instruments_path()


# OKX: the base of /public, /business and /private; demo trading = the same REST host
# with a header, which ccxt sends in sandbox mode. REST: 20-40 requests per 2 s.
_HOSTS = Hosts(VENUE, {
    "live": Endpoints("wss://ws.okx.com:8443/ws/v5", "https://www.okx.com"),
    "testnet": Endpoints("wss://wspap.okx.com:8443/ws/v5", "https://www.okx.com"),
    "demo": Endpoints("wss://wspap.okx.com:8443/ws/v5", "https://www.okx.com"),
}, title="OKX", accounts=("demo", "live"), passphrase=True, demo_is_sandbox=True)

def _okx_spot_tickers(data: Any) -> dict[str, float]:
    # spot volCcy24h is already in quote units
    return quote_volumes(data.get("data") if type(data) is dict else None, "instId",
                         lambda row: row["volCcy24h"])


def _okx_swap_tickers(data: Any) -> dict[str, float]:
    # a SWAP's volCcy24h counts base units (vol24h counts contracts): turnover = that x last
    return quote_volumes(data.get("data") if type(data) is dict else None, "instId",
                         lambda row: float(row["volCcy24h"]) * float(row["last"]))


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    markets={
        # pages of history-candles' size: a backfill's older pages go there (see klines_path)
        "spot": MarketFacts(_HOSTS, ccxt_type="spot", rest_weight_per_minute=500,
                            kline_page_limit=HISTORY_KLINE_LIMIT, snapshot_depth=BOOK_DEPTH,
                            rest_window_s=2.0,  # 16 a window: history-candles allows 20 / 2 s
                            tickers=Tickers24h("/api/v5/market/tickers?instType=SPOT", 1,
                                               _okx_spot_tickers)),
        "perp": MarketFacts(_HOSTS, ccxt_type="swap", rest_weight_per_minute=500,
                            kline_page_limit=HISTORY_KLINE_LIMIT, snapshot_depth=BOOK_DEPTH,
                            rest_window_s=2.0,  # 16 a window: history-candles allows 20 / 2 s
                            tickers=Tickers24h("/api/v5/market/tickers?instType=SWAP", 1,
                                               _okx_swap_tickers)),
    },
    codec=OkxVenue,
    metadata_path=_metadata_path,
    parse_metadata=instruments_from_okx,
    connects_per_sec=2.5,  # OKX allows 3 connections per second per IP
)
