"""Bybit v5 spot and USDT linear perpetuals: topics, decoding, and the book sync rules.

Book sync (../shared/protocols section 3):

* ``orderbook.N`` (1, 50, 200, 1000): the first message is a ``snapshot``, then
  ``delta``s with absolute sizes ("0" deletes). Any later snapshot replaces the book
  (not a gap), and ``u == 1`` marks a service restart: that message overwrites the book
  whatever its ``type`` says. Deltas chain on ``u``: each must be the previous ``u`` + 1;
  a jump is a gap and the book is rebuilt by resubscribing (a fresh snapshot follows).
* ``orderbook.full`` (delta-only): buffer deltas, fetch the REST full book, drop buffered
  deltas with ``seq < snapshot.seq``, then ``u`` must increase by exactly 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import msgspec
import orjson

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument, MarketType
from app.market.klines import INTERVAL_MS
from app.market.orderbook import OrderBook
from app.venues.base import (APPLIED, GAP, IGNORED, SYNCED, Ack, BookSnapshot, BufferedBookSync,
                             ConnectionPlan, Decoded, Price, Size, Unknown, one_or_many,
                             parse_rejected)
from app.venues.base import (Endpoints, Hosts, MarketFacts, Recovery, Tickers24h, VenueDescriptor,
                             quote_volumes)

VENUE = "bybit"
# Spot rejects a subscribe request with more than 10 args; linear is kept as modest.
ARGS_PER_SUBSCRIBE = 10
# Bybit documents no per-connection topic cap; this keeps one socket's burst bounded.
MAX_TOPICS_PER_CONNECTION = 400
BOOK_DEPTHS = {"spot": (1, 50, 200, 1000), "perp": (1, 50, 200, 1000)}
KLINE_LIMIT = 1000  # rows per /v5/market/kline request
ORDERBOOK_REST_LIMIT = {"spot": 200, "perp": 500}
KEEPALIVE_SECONDS = 20.0
PING = '{"op":"ping"}'

# our interval -> Bybit's; 6h, 12h and 1M have no counterpart in ours
INTERVALS: dict[str, str] = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30",
                             "1h": "60", "2h": "120", "4h": "240", "1d": "D", "1w": "W"}
_FROM_BYBIT: dict[str, str] = {v: k for k, v in INTERVALS.items()}


def category(market: MarketType) -> str:
    return "spot" if market == "spot" else "linear"


def bybit_interval(interval: str) -> str:
    """``1h`` -> ``60``; ValueError for an interval Bybit does not have."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise ValueError(f"bybit has no {interval!r} klines") from None


# -- wire structs ----------------------------------------------------------------------
# Numbers arrive as strings; strict=False converts them into base.py's bounded types.


class BybitBookData(msgspec.Struct, gc=False):
    s: str
    b: list[tuple[Price, Size]]
    a: list[tuple[Price, Size]]
    u: int
    seq: int = -1


class BybitBook(msgspec.Struct, gc=False):
    """One ``orderbook.*`` frame (snapshot or delta), routed as is to the book sync."""

    topic: str
    type: str
    data: BybitBookData
    ts: int = 0
    cts: int = 0

    @property
    def symbol(self) -> str:
        return self.data.s


class _TradeData(msgspec.Struct, gc=False):
    T: int
    s: str
    S: Literal["Buy", "Sell"]
    v: Size
    p: Price
    i: str


class _TradeFrame(msgspec.Struct, gc=False):
    topic: str
    data: list[_TradeData]
    ts: int = 0


class _KlineData(msgspec.Struct, gc=False):
    start: int
    interval: str
    open: Price
    close: Price
    high: Price
    low: Price
    volume: Size
    confirm: bool


class _KlineFrame(msgspec.Struct, gc=False):
    topic: str
    data: list[_KlineData]
    ts: int = 0


class _TickerFrame(msgspec.Struct, gc=False):
    topic: str
    type: str
    data: dict[str, Any]
    ts: int = 0


class _Head(msgspec.Struct, gc=False):
    """What tells frames apart when the topic is not the first key."""

    topic: str | None = None
    op: str | None = None
    success: bool | None = None
    ret_msg: str | None = None
    req_id: Any = None


_decode_book = msgspec.json.Decoder(BybitBook, strict=False).decode
_decode_trades = msgspec.json.Decoder(_TradeFrame, strict=False).decode
_decode_klines = msgspec.json.Decoder(_KlineFrame, strict=False).decode
_decode_ticker = msgspec.json.Decoder(_TickerFrame, strict=False).decode
_decode_head = msgspec.json.Decoder(_Head, strict=False).decode
_Invalid = (msgspec.ValidationError, msgspec.DecodeError)

# Frames nearly always start with the topic: peeking at it saves a generic first parse.
_KINDS = (("orderbook.", "book"), ("publicTrade.", "trade"), ("kline.", "kline"),
          ("tickers.", "ticker"))
_PEEK_STR = tuple(('{"topic":"' + p, k) for p, k in _KINDS)
_PEEK_BYTES = tuple((s.encode(), k) for s, k in _PEEK_STR)


def _kind_of(topic: str) -> str | None:
    for prefix, kind in _KINDS:
        if topic.startswith(prefix):
            return kind
    return None


class _Bad(ValueError):
    """A field that is present but unusable (NaN, negative price, not a number)."""


def _num(state: dict[str, Any], key: str, signed: bool = False) -> float | None:
    """A ticker field as a float; missing or "" (Bybit's "no value") is None."""
    raw = state.get(key)
    if raw is None or raw == "":
        return None
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise _Bad(f"{key}={raw!r}") from None
    if not math.isfinite(x) or (x < 0.0 and not signed):
        raise _Bad(f"{key}={raw!r}")
    return x


def _int(state: dict[str, Any], key: str) -> int | None:
    raw = state.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _Bad(f"{key}={raw!r}") from None


_TICKER_KEYS = frozenset({"lastPrice", "bid1Price", "ask1Price", "highPrice24h", "lowPrice24h",
                          "volume24h", "prevPrice24h"})
_FUNDING_KEYS = frozenset({"fundingRate", "nextFundingTime", "markPrice", "indexPrice"})


# -- metadata ----------------------------------------------------------------------------

def instruments_from_instruments_info(data: dict[str, Any], market: MarketType,
                                      wanted: set[str] | None = None) -> list[Instrument]:
    """Instruments from ``/v5/market/instruments-info?category=spot|linear``.

    Perps are USDT-settled ``LinearPerpetual`` contracts only (USDC perps and dated
    futures share the linear category). Sizes are in the base coin (contract size 1).
    Raises ValueError when the response is an error.
    """
    if type(data) is not dict or data.get("retCode", 0) != 0:
        raise ValueError(f"instruments-info failed: {str(data)[:200]}")
    result = data.get("result") or {}
    out: list[Instrument] = []
    for row in result.get("list") or []:
        name = row.get("symbol", "")
        if wanted is not None and name not in wanted:
            continue
        if row.get("status", "Trading") != "Trading":
            continue
        pf = row.get("priceFilter") or {}
        lf = row.get("lotSizeFilter") or {}
        if market == "perp":
            if row.get("contractType") != "LinearPerpetual" or row.get("settleCoin") != "USDT":
                continue
            lot = lf.get("qtyStep") or "0.001"
            min_notional = lf.get("minNotionalValue") or "0"
        else:
            lot = lf.get("basePrecision") or lf.get("minOrderQty") or "0.000001"
            min_notional = lf.get("minOrderAmt") or "0"
        out.append(Instrument(VENUE, market, row["baseCoin"], row["quoteCoin"], name,
                              tick_size=float(pf.get("tickSize") or 0.01), lot_size=float(lot),
                              min_notional=float(min_notional)))
    return out


# -- book sync -----------------------------------------------------------------------------

@dataclass(slots=True)
class BybitBookSnapshot(BookSnapshot):
    """A REST book (``/v5/market/full_orderbook``): ``last_update_id`` is its ``u``,
    ``seq`` the cross sequence that lines it up with buffered deltas."""

    seq: int = -1


class BybitBookSync:
    """``orderbook.N``: snapshots come over the socket; deltas chain on ``u``."""

    __slots__ = ("book", "synced", "last_id")
    needs_snapshot = False  # recovery is a resubscription, never a REST snapshot
    first_buffered = None

    def __init__(self) -> None:
        self.book = OrderBook()
        self.synced = False
        self.last_id = -1

    def reset(self) -> None:
        self.book.clear()
        self.synced = False
        self.last_id = -1

    def on_diff(self, msg: BybitBook) -> int:
        d = msg.data
        u = d.u
        if u == self.last_id + 1 and self.synced and msg.type == "delta" and u != 1:
            self.book.apply(d.b, d.a, msg.ts)
            self.last_id = u
            return APPLIED
        if msg.type == "snapshot" or u == 1:
            # A new snapshot, or u=1 after a service restart, replaces the book. On a book
            # that is already right that is an ordinary update, not a resync.
            was_synced = self.synced
            self.book.load_snapshot(d.b, d.a, msg.ts)
            self.last_id = u
            self.synced = True
            return APPLIED if was_synced else SYNCED
        if not self.synced or u == self.last_id:
            return IGNORED  # waiting for the snapshot, or a repeat of what we have
        # a jump ahead is a lost delta; a step back is a restart whose u=1 we never saw
        self.reset()
        return GAP

    def on_snapshot(self, snap: BookSnapshot) -> int:
        """A REST book for a socket-snapshot stream: load it as if it came over the socket."""
        self.book.load_snapshot(snap.bids, snap.asks, snap.ts)
        self.last_id = snap.last_update_id
        self.synced = True
        return SYNCED


class BybitFullBookSync(BufferedBookSync):
    """``orderbook.full``: the shared buffered sync; the REST full book lines up with the
    buffer on ``seq`` (drop ``seq < snapshot.seq``), then ``u`` goes up by exactly 1 per
    delta. ``last_id`` is the ``u`` of the last delta received, applied or not."""

    __slots__ = ("_snap_seq",)

    def __init__(self) -> None:
        super().__init__()
        self._snap_seq = -1

    def reset(self) -> None:
        super().reset()
        self._snap_seq = -1

    def _step(self, msg: BybitBook) -> int:
        d = msg.data
        u = d.u
        if msg.type == "snapshot":
            self._load_pushed(msg)
            return APPLIED  # on a book that is already right, an ordinary update
        last = self.last_id
        if u == last + 1 or last < 0:
            self.last_id = u
            if d.seq < self._snap_seq:
                return IGNORED  # in flight while the snapshot was taken: already in it
            self.book.apply(d.b, d.a, msg.ts)
            return APPLIED
        if u == last:
            return IGNORED  # a repeat
        return GAP  # a lost delta, or u went back (a service restart)

    def _accept(self, msg: BybitBook) -> int | None:
        if msg.type == "snapshot":
            self._load_pushed(msg)
            return SYNCED
        buf = self._buffer
        if buf:
            prev = buf[-1].data.u
            if msg.data.u == prev:
                return IGNORED
            if msg.data.u != prev + 1:
                # a hole (or a restart) inside the buffer: only what follows can meet a snapshot
                buf.clear()
        return None

    def _load_pushed(self, msg: BybitBook) -> None:
        """The channel is delta-only, but a snapshot is a whole book whatever the channel."""
        self._buffer.clear()
        self.book.load_snapshot(msg.data.b, msg.data.a, msg.ts)
        self.last_id = msg.data.u
        self._snap_seq = -1
        self.synced = True
        self.needs_snapshot = False

    def _opens(self, msg: BybitBook) -> int:
        return msg.data.seq

    def _snapshot_id(self, snap: BookSnapshot) -> int:
        return getattr(snap, "seq", -1)

    def _keeps(self, msg: BybitBook, snap_seq: int) -> bool:
        return msg.data.seq >= snap_seq

    def _load(self, snap: BookSnapshot, snap_seq: int, kept: list[Any], buffered: list[Any]) -> None:
        self.book.load_snapshot(snap.bids, snap.asks, snap.ts)
        self._snap_seq = snap_seq
        # the buffer is contiguous on u (it restarts at any hole): the kept deltas replay
        # from just before the first of them, and the chain goes on from the last received
        if kept:
            self.last_id = kept[0].data.u - 1
        else:
            self.last_id = buffered[-1].data.u if buffered else -1


# -- the codec -------------------------------------------------------------------------------

class BybitVenue:
    """Codec for one Bybit market: ``spot`` (category=spot) or ``perp`` (category=linear).

    ``book_depth`` picks the book topic: 1, 50, 200 or 1000 levels (``orderbook.N``,
    recovered by resubscribing), or ``"full"`` (``orderbook.full``, recovered from the
    REST full book).
    """

    name = VENUE
    config_key = "bybit"
    depth_type = BybitBook
    ws_ping_interval: float | None = None  # Bybit wants text pings, not protocol pings
    keepalive: tuple[float, str] | None = (KEEPALIVE_SECONDS, PING)
    live_kline_intervals: frozenset[str] | None = None  # a stream for every interval

    def __init__(self, market: MarketType, instruments: list[Instrument],
                 book_depth: int | str = 50) -> None:
        if market not in ("spot", "perp"):
            raise ValueError(f"bybit has no {market!r} market here")
        if book_depth != "full" and book_depth not in BOOK_DEPTHS[market]:
            raise ValueError(f"bybit {category(market)} books come in depths "
                             f"{BOOK_DEPTHS[market]} or 'full', not {book_depth!r}")
        self.market: MarketType = market
        self.category = category(market)
        self.book_depth = book_depth
        self.recovery: Recovery = "snapshot" if book_depth == "full" else "resubscribe"
        self._book_prefix = f"orderbook.{book_depth}."
        self._by_symbol = {i.venue_symbol.upper(): i for i in instruments}
        self._req_id = 0
        self._decode = self.new_decoder()

    def instruments(self) -> list[Instrument]:
        return list(self._by_symbol.values())

    def instrument(self, venue_symbol: str) -> Instrument | None:
        return self._by_symbol.get(venue_symbol.upper())

    # -- topics ------------------------------------------------------------------------

    def book_streams(self, inst: Instrument) -> list[str]:
        return [f"{self._book_prefix}{inst.venue_symbol.upper()}"]

    def base_streams(self, inst: Instrument) -> list[str]:
        s = inst.venue_symbol.upper()
        return [*self.book_streams(inst), f"publicTrade.{s}", f"tickers.{s}"]

    def kline_stream(self, inst: Instrument, interval: str) -> tuple[str, str]:
        return f"kline.{bybit_interval(interval)}.{inst.venue_symbol.upper()}", ""

    def stream_group(self, stream: str) -> str:
        return ""  # one market per codec: every topic goes on the same path

    def max_streams(self, group: str) -> int:
        """Topics one connection carries (a limit of ours; Bybit documents none)."""
        return MAX_TOPICS_PER_CONNECTION

    def ws_path(self, ws_url: str) -> str:
        """``wss://stream.bybit.com/v5/public`` -> ``.../v5/public/spot`` or ``/linear``."""
        return f"{ws_url.rstrip('/')}/{self.category}"

    def connection_plans(self, ws_url: str, instruments: list[Instrument],
                         intervals: list[str]) -> list[ConnectionPlan]:
        topics: list[str] = []
        for inst in instruments:
            topics.extend(self.base_streams(inst))
            topics.extend(self.kline_stream(inst, iv)[0] for iv in intervals)
        url = self.ws_path(ws_url)
        cap = MAX_TOPICS_PER_CONNECTION
        return [ConnectionPlan(f"bybit {self.category}" + (f" #{n + 1}" if n else ""), url,
                               topics[start:start + cap])
                for n, start in enumerate(range(0, len(topics), cap))]

    def ticker_plans(self, ws_url: str, instruments: list[Instrument]) -> list[ConnectionPlan]:
        """Tickers without books (linear tickers carry funding too): Bybit has no
        all-market ticker topic, so ``tickers.{s}`` per instrument, ARGS_PER_SUBSCRIBE
        per subscribe request, MAX_TOPICS_PER_CONNECTION to a connection."""
        topics = [f"tickers.{inst.venue_symbol.upper()}" for inst in instruments]
        url = self.ws_path(ws_url)
        cap = MAX_TOPICS_PER_CONNECTION
        return [ConnectionPlan(f"bybit {self.category} tickers" + (f" #{n + 1}" if n else ""),
                               url, topics[start:start + cap])
                for n, start in enumerate(range(0, len(topics), cap))]

    def subscribe_messages(self, streams: list[str], method: str = "SUBSCRIBE") -> list[str]:
        op = "unsubscribe" if method.upper() == "UNSUBSCRIBE" else "subscribe"
        out = []
        for start in range(0, len(streams), ARGS_PER_SUBSCRIBE):
            self._req_id += 1
            out.append(orjson.dumps({"req_id": str(self._req_id), "op": op,
                                     "args": streams[start:start + ARGS_PER_SUBSCRIBE]}).decode())
        return out

    # -- decoding ------------------------------------------------------------------------

    def new_decoder(self) -> Callable[[str | bytes], Decoded | BybitBook]:
        """Linear tickers send a snapshot then partial deltas: the merged state per
        symbol lives with the connection's decoder."""
        tickers: dict[str, dict[str, Any]] = {}
        book_prefix = self._book_prefix

        def decode(raw: str | bytes) -> Decoded | BybitBook:
            """One frame -> book message, event(s), ack, None (pong) or Unknown. Never raises."""
            kind = None
            for prefix, k in (_PEEK_STR if type(raw) is str else _PEEK_BYTES):
                if raw.startswith(prefix):  # type: ignore[arg-type]  # the prefixes are picked by raw's own type
                    kind = k
                    break
            if kind is None:
                try:
                    head = _decode_head(raw)
                except _Invalid:
                    return self._undecodable(raw)
                if head.topic is None:
                    return self._control(head)
                kind = _kind_of(head.topic)
                if kind is None:
                    return Unknown(f"unhandled topic {head.topic!r}")
            try:
                if kind == "book":
                    msg = _decode_book(raw)
                    if not msg.topic.startswith(book_prefix):
                        return Unknown(f"book topic {msg.topic!r} is not the one subscribed")
                    return msg  # the symbol is checked by whoever routes it to a book
                if kind == "trade":
                    return self._trades(_decode_trades(raw))
                if kind == "kline":
                    return self._klines(_decode_klines(raw))
                return self._ticker(_decode_ticker(raw), tickers)
            except _Invalid as exc:
                return Unknown(f"bad {kind} frame ({exc}): {str(raw)[:120]}", malformed=True)
            except _Bad as exc:
                return Unknown(f"bad {kind} value {exc}: {str(raw)[:120]}", malformed=True)

        return decode

    def decode(self, raw: str | bytes) -> Decoded | BybitBook:
        """Decode with the codec's own decoder (tools, tests); each live connection
        gets its own from ``new_decoder`` so ticker states never mix."""
        return self._decode(raw)

    def _undecodable(self, raw: str | bytes) -> Unknown:
        msg = parse_rejected(raw)
        if isinstance(msg, Unknown):  # else the frame's JSON object
            return msg
        return Unknown(f"bad control frame: {str(raw)[:120]}", malformed=True)

    @staticmethod
    def _control(head: _Head) -> Decoded:
        op = head.op
        if op is None:
            return Unknown("neither topic nor op")
        if op == "pong" or (op == "ping" and head.success is not False):
            return None  # keepalive answered (linear says op=pong, spot ret_msg=pong)
        error = None if head.success is not False else (head.ret_msg or f"{op} rejected")
        return Ack(head.req_id, error, op)

    def _trades(self, frame: _TradeFrame) -> Decoded:
        out: list[Trade] = []
        by_symbol = self._by_symbol
        for t in frame.data:
            inst = by_symbol.get(t.s)
            if inst is None:
                return Unknown(f"unknown symbol {t.s!r}")
            out.append(Trade(inst.id, t.T, t.p, t.v, "buy" if t.S == "Buy" else "sell", t.i))
        return one_or_many(out)

    def _klines(self, frame: _KlineFrame) -> Decoded:
        parts = frame.topic.split(".")
        inst = self._by_symbol.get(parts[-1]) if len(parts) == 3 else None
        if inst is None:
            return Unknown(f"unknown kline topic {frame.topic!r}")
        out: list[Kline] = []
        for k in frame.data:
            interval = _FROM_BYBIT.get(k.interval)
            if interval is None:
                return Unknown(f"unsupported kline interval {k.interval!r}")
            out.append(Kline(inst.id, interval, k.start, k.open, k.high, k.low, k.close,
                             k.volume, k.confirm))
        return one_or_many(out)

    def _ticker(self, frame: _TickerFrame, tickers: dict[str, dict[str, Any]]) -> Decoded:
        data = frame.data
        sym: Any = data.get("symbol")
        inst = self._by_symbol.get(sym) if type(sym) is str else None
        if inst is None:
            return Unknown(f"unknown ticker symbol {sym!r}")
        if frame.type == "delta":
            prev = tickers.get(sym)
            if prev is None:
                return Unknown(f"{sym} ticker delta before its snapshot")
            state = {**prev, **data}
        else:
            state = dict(data)
        changed = data.keys()  # only what this frame touched goes out again
        ts = frame.ts
        out: list[Ticker | Funding] = []
        # build (and so validate) everything before the merged state is kept
        if not _TICKER_KEYS.isdisjoint(changed):
            out.append(Ticker(inst.id, ts, _num(state, "lastPrice"), _num(state, "bid1Price"),
                              _num(state, "ask1Price"), _num(state, "highPrice24h"),
                              _num(state, "lowPrice24h"), _num(state, "volume24h"),
                              _num(state, "prevPrice24h"), _num(state, "turnover24h")))
        if self.market == "perp" and not _FUNDING_KEYS.isdisjoint(changed):
            out.append(Funding(inst.id, ts, _num(state, "fundingRate", signed=True),
                               _int(state, "nextFundingTime"), _num(state, "markPrice"),
                               _num(state, "indexPrice")))
        tickers[sym] = state
        return one_or_many(out)

    # -- REST --------------------------------------------------------------------------

    def instruments_path(self) -> str:
        if self.market == "spot":
            return "/v5/market/instruments-info?category=spot"  # spot has no paging
        return "/v5/market/instruments-info?category=linear&limit=1000"

    def snapshot_path(self, inst: Instrument) -> str:
        params = {"category": self.category, "symbol": inst.venue_symbol.upper()}
        if self.book_depth == "full":
            return f"/v5/market/full_orderbook?{urlencode(params)}"
        params["limit"] = str(DESCRIPTOR.markets[self.market].snapshot_depth)
        return f"/v5/market/orderbook?{urlencode(params)}"

    def snapshot_weight(self) -> int:
        return 1  # Bybit limits requests by count, not weight

    def parse_snapshot(self, text: str | bytes) -> BybitBookSnapshot:
        """``{"retCode":0,"result":{"s","b","a","ts","u","seq"}}`` -> a snapshot.
        Raises ValueError on an error reply or a result without a book."""
        d = orjson.loads(text)
        if type(d) is not dict or d.get("retCode", 0) != 0:
            raise ValueError(f"book request failed: {str(text)[:200]}")
        r = d.get("result")
        if type(r) is not dict or "b" not in r or "a" not in r or "u" not in r:
            raise ValueError(f"not an order book: {str(text)[:120]}")
        return BybitBookSnapshot(int(r["u"]), r["b"], r["a"], int(r.get("ts") or d.get("time") or 0),
                                 int(r.get("seq", -1)))

    def klines_path(self, inst: Instrument, interval: str, limit: int = 200,
                    start_ms: int | None = None, end_ms: int | None = None) -> str:
        params: dict[str, Any] = {"category": self.category, "symbol": inst.venue_symbol.upper(),
                                  "interval": bybit_interval(interval)}
        if start_ms is not None:
            params["start"] = start_ms
        if end_ms is not None:
            params["end"] = end_ms
        params["limit"] = max(1, min(limit, KLINE_LIMIT))
        return f"/v5/market/kline?{urlencode(params)}"

    def parse_klines(self, text: str | bytes, inst: Instrument, interval: str,
                     now_ms: int | None = None) -> list[Kline]:
        """Rows ``[start, open, high, low, close, volume, turnover]``, newest first on
        the wire; returned oldest first. Without ``now_ms`` the newest is the open one."""
        d = orjson.loads(text)
        if type(d) is not dict or d.get("retCode", 0) != 0:
            raise ValueError(f"kline request failed: {str(text)[:200]}")
        rows = (d.get("result") or {}).get("list")
        if type(rows) is not list:
            raise ValueError(f"not a kline list: {str(text)[:120]}")
        step = INTERVAL_MS[interval]
        out = []
        for row in reversed(rows):
            o, h, lo, c, v = (float(x) for x in row[1:6])
            if not all(0.0 < x < math.inf for x in (o, h, lo, c)) or not 0.0 <= v < math.inf:
                raise ValueError(f"bad kline row {row!r}")
            start = int(row[0])
            closed = now_ms is not None and start + step <= now_ms
            out.append(Kline(inst.id, interval, start, o, h, lo, c, v, closed))
        if out and now_ms is None:
            for k in out[:-1]:
                k.closed = True
        return out

    def new_book_sync(self, inst: Instrument) -> BybitBookSync | BybitFullBookSync:
        return BybitFullBookSync() if self.book_depth == "full" else BybitBookSync()


def _metadata_path(market: MarketType) -> str:
    return BybitVenue(market, []).instruments_path()


# Bybit: the base of /spot and /linear; demo's websocket is private only, so demo reads
# live public data. REST: 600 requests per 5 s.
_HOSTS = Hosts(VENUE, {
    "live": Endpoints("wss://stream.bybit.com/v5/public", "https://api.bybit.com"),
    "testnet": Endpoints("wss://stream-testnet.bybit.com/v5/public", "https://api-testnet.bybit.com"),
    "demo": Endpoints("wss://stream.bybit.com/v5/public", "https://api-demo.bybit.com"),
}, title="Bybit", accounts=("testnet", "demo", "live"))

def _bybit_tickers(data: Any) -> dict[str, float]:
    result = data.get("result") if type(data) is dict else None
    return quote_volumes(result.get("list") if type(result) is dict else None, "symbol",
                         lambda row: row["turnover24h"])


DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    markets={
        "spot": MarketFacts(_HOSTS, ccxt_type="spot", rest_weight_per_minute=3000,
                            kline_page_limit=KLINE_LIMIT, snapshot_depth=ORDERBOOK_REST_LIMIT["spot"],
                            rest_window_s=5.0,  # 250 a window: Bybit allows 600 / 5 s
                            tickers=Tickers24h("/v5/market/tickers?category=spot", 1, _bybit_tickers)),
        "perp": MarketFacts(_HOSTS, ccxt_type="linear", rest_weight_per_minute=3000,
                            kline_page_limit=KLINE_LIMIT, snapshot_depth=ORDERBOOK_REST_LIMIT["perp"],
                            rest_window_s=5.0,  # 250 a window: Bybit allows 600 / 5 s
                            tickers=Tickers24h("/v5/market/tickers?category=linear", 1,
                                               _bybit_tickers)),
    },
    codec=BybitVenue,
    metadata_path=_metadata_path,
    parse_metadata=instruments_from_instruments_info,
    connects_per_sec=1.5,  # Bybit allows 500 connections per 5 minutes per IP
)
