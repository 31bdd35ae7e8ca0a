"""Binance spot and USD-M perpetuals: streams, decoding, and the depth sync rules.

Sync (../shared/protocols section 3): buffer diffs, fetch the REST snapshot, drop
what the snapshot already holds, then chain — spot on ``U <= local+1``, futures on
``pu == previous u`` (futures ``U`` jumps, so ``U == prev_u + 1`` must not be checked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union, final
from urllib.parse import urlencode

import msgspec
import orjson

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument, MarketType
from app.venues.base import (APPLIED, GAP, IGNORED, Ack, BookSnapshot, BufferedBookSync,
                             ConnectionPlan, Decoded, DepthDiff, Num, Price, Size, Unknown,
                             parse_rejected)
from app.venues.base import (Endpoints, Hosts, MarketFacts, Recovery, Tickers24h, VenueDescriptor,
                             quote_volumes)

VENUE = "binance"
SPOT_SNAPSHOT_LIMIT = 5000
PERP_SNAPSHOT_LIMIT = 1000
# Binance closes connections carrying more; we stay well below.
MAX_STREAMS_PER_CONNECTION = {"spot": 1000, "perp": 200}
# Params per SUBSCRIBE message: a few large messages respect the 5 msgs/s inbound limit.
STREAMS_PER_SUBSCRIBE = 100


# -- wire structs ----------------------------------------------------------------------
# Numbers arrive as strings; strict=False converts them into base.py's bounded types.


@final  # lets `type(msg) is BinanceDepth` narrow the decoded union on the hot path
class BinanceDepth(msgspec.Struct, tag_field="e", tag="depthUpdate", gc=False):
    """A depth diff, decoded straight into the shape BookSync reads."""

    symbol: str = msgspec.field(name="s")
    ts: int = msgspec.field(name="E")
    first: int = msgspec.field(name="U")
    last: int = msgspec.field(name="u")
    bids: list[tuple[Price, Size]] = msgspec.field(name="b")
    asks: list[tuple[Price, Size]] = msgspec.field(name="a")
    prev: int = msgspec.field(name="pu", default=-1)


class _AggTrade(msgspec.Struct, tag_field="e", tag="aggTrade", gc=False):
    s: str
    T: int
    p: Price
    q: Size
    m: bool
    a: int

    def to_event(self, inst_id: str) -> Trade:
        return Trade(inst_id, self.T, self.p, self.q, "sell" if self.m else "buy", str(self.a))


class _Trade(msgspec.Struct, tag_field="e", tag="trade", gc=False):
    s: str
    T: int
    p: Price
    q: Size
    m: bool
    t: int

    def to_event(self, inst_id: str) -> Trade:
        return Trade(inst_id, self.T, self.p, self.q, "sell" if self.m else "buy", str(self.t))


class _K(msgspec.Struct, gc=False):
    t: int
    i: str
    o: Price
    h: Price
    l: Price  # noqa: E741 (Binance's field name)
    c: Price
    v: Size
    x: bool


class _Kline(msgspec.Struct, tag_field="e", tag="kline", gc=False):
    s: str
    k: _K

    def to_event(self, inst_id: str) -> Kline:
        k = self.k
        return Kline(inst_id, k.i, k.t, k.o, k.h, k.l, k.c, k.v, k.x)


class _Ticker(msgspec.Struct, tag_field="e", tag="24hrTicker", gc=False):
    s: str
    E: int
    c: Price | None = None
    b: Size | None = None
    a: Size | None = None
    h: Price | None = None
    l: Price | None = None  # noqa: E741
    v: Size | None = None
    o: Price | None = None

    def to_event(self, inst_id: str) -> Ticker:
        return Ticker(inst_id, self.E, self.c, self.b or None, self.a or None, self.h, self.l,
                      self.v, self.o)


class _MarkPrice(msgspec.Struct, tag_field="e", tag="markPriceUpdate", gc=False):
    s: str
    E: int
    p: Price | None = None
    i: Price | None = None
    r: Num | None = None
    T: int | None = None

    def to_event(self, inst_id: str) -> Funding:
        return Funding(inst_id, self.E, self.r, self.T, self.p, self.i)


_Event = Union[BinanceDepth, _AggTrade, _Trade, _Kline, _Ticker, _MarkPrice]
_EVENT_TYPES = {"depthUpdate", "aggTrade", "trade", "kline", "24hrTicker", "markPriceUpdate"}


class _Combined(msgspec.Struct, gc=False):
    data: _Event


_decode_combined = msgspec.json.Decoder(_Combined, strict=False).decode
_decode_raw = msgspec.json.Decoder(_Event, strict=False).decode


def instruments_from_exchange_info(data: dict[str, Any], market: MarketType,
                                   wanted: set[str] | None = None) -> list[Instrument]:
    """Instruments from ``/api/v3/exchangeInfo`` or ``/fapi/v1/exchangeInfo``.

    ``wanted`` filters by venue symbol (``BTCUSDT``). Perps are only PERPETUAL contracts.
    """
    out: list[Instrument] = []
    for sym in data.get("symbols", []):
        name = sym.get("symbol", "")
        if wanted is not None and name not in wanted:
            continue
        if sym.get("status", "TRADING") != "TRADING":
            continue
        if market == "perp" and sym.get("contractType") != "PERPETUAL":
            continue
        tick, lot, min_notional = 0.01, 0.00001, 0.0
        for flt in sym.get("filters", []):
            kind = flt.get("filterType")
            if kind == "PRICE_FILTER":
                tick = float(flt.get("tickSize", tick))
            elif kind == "LOT_SIZE":
                lot = float(flt.get("stepSize", lot))
            elif kind in ("NOTIONAL", "MIN_NOTIONAL"):
                min_notional = float(flt.get("minNotional", flt.get("notional", 0.0)))
        out.append(Instrument(VENUE, market, sym["baseAsset"], sym["quoteAsset"], name,
                              tick_size=tick, lot_size=lot, min_notional=min_notional))
    return out


class BinanceBookSync(BufferedBookSync):
    """Binance's diff-depth sync for one instrument: the shared buffered sync with spot's
    or USD-M's sequence rule."""

    __slots__ = ("perp",)

    def __init__(self, perp: bool) -> None:
        super().__init__()
        self.perp = perp

    def _step(self, diff: DepthDiff | BinanceDepth) -> int:
        # The hot path: one branch to the common case, then the book's C-level update.
        last = diff.last
        last_id = self.last_id
        if self.perp:
            if last < last_id:
                return IGNORED
            if self._first_after:
                if not (diff.first <= last_id <= last):
                    return GAP
                self._first_after = False
            elif diff.prev != last_id:
                return GAP
        elif last <= last_id:
            return IGNORED
        elif diff.first > last_id + 1:
            return GAP
        self.book.apply(diff.bids, diff.asks, diff.ts)
        self.last_id = last
        return APPLIED

    def _opens(self, diff: DepthDiff | BinanceDepth) -> int:
        return diff.first

    def _keeps(self, diff: DepthDiff | BinanceDepth, snap_id: int) -> bool:
        # futures keep the diff ending at the snapshot's id; spot drops it
        return diff.last >= snap_id if self.perp else diff.last > snap_id

    def _joins(self, diff: DepthDiff | BinanceDepth, snap_id: int) -> bool:
        if self.perp:
            return diff.first <= snap_id <= diff.last
        return diff.first <= snap_id + 1 <= diff.last


class BinanceVenue:
    """Codec for one Binance market (``spot`` or ``perp``)."""

    name = VENUE
    depth_type = BinanceDepth
    recovery: Recovery = "snapshot"
    ws_ping_interval: float | None = 20.0  # Binance pings us; websockets answers
    keepalive: tuple[float, str] | None = None
    live_kline_intervals: frozenset[str] | None = None  # a stream for every interval

    def __init__(self, market: MarketType, instruments: list[Instrument]) -> None:
        self.market: MarketType = market
        self.config_key = DESCRIPTOR.markets[market].hosts.key
        self._by_symbol = {i.venue_symbol.upper(): i for i in instruments}
        self._ids = {sym: i.id for sym, i in self._by_symbol.items()}
        self._req_id = 0

    def instruments(self) -> list[Instrument]:
        return list(self._by_symbol.values())

    def instrument(self, venue_symbol: str) -> Instrument | None:
        return self._by_symbol.get(venue_symbol.upper())

    # -- streams -------------------------------------------------------------------

    def base_streams(self, inst: Instrument) -> list[tuple[str, str]]:
        """(stream, path group) pairs every instrument needs. Futures split depth onto
        ``/public`` and everything else onto ``/market`` (a stream on the wrong path is
        accepted and then silent)."""
        s = inst.venue_symbol.lower()
        if self.market == "spot":
            return [(f"{s}@depth@100ms", ""), (f"{s}@aggTrade", ""), (f"{s}@ticker", "")]
        return [(f"{s}@depth@100ms", "public"), (f"{s}@aggTrade", "market"),
                (f"{s}@ticker", "market"), (f"{s}@markPrice@1s", "market")]

    def book_streams(self, inst: Instrument) -> list[str]:
        return [f"{inst.venue_symbol.lower()}@depth@100ms"]

    def new_decoder(self) -> Callable[[str | bytes], Decoded | BinanceDepth]:
        return self.decode  # Binance frames carry no per-connection state

    def kline_stream(self, inst: Instrument, interval: str) -> tuple[str, str]:
        return f"{inst.venue_symbol.lower()}@kline_{interval}", ("" if self.market == "spot" else "market")

    def connection_plans(self, ws_url: str, instruments: list[Instrument],
                         intervals: list[str]) -> list[ConnectionPlan]:
        groups: dict[str, list[str]] = {}
        for inst in instruments:
            pairs = self.base_streams(inst) + [self.kline_stream(inst, i) for i in intervals]
            for stream, group in pairs:
                groups.setdefault(group, []).append(stream)
        cap = MAX_STREAMS_PER_CONNECTION[self.market]
        plans: list[ConnectionPlan] = []
        base = ws_url.rstrip("/")
        for group, streams in groups.items():
            path = f"{base}/{group}/stream" if group else f"{base}/stream"
            for n, start in enumerate(range(0, len(streams), cap)):
                label = f"binance {self.market}" + (f" {group}" if group else "") + (f" #{n + 1}" if n else "")
                plans.append(ConnectionPlan(label, path, streams[start:start + cap]))
        return plans

    def max_streams(self, group: str) -> int:
        """Streams one connection may carry (the venue's limit, with room to spare)."""
        return MAX_STREAMS_PER_CONNECTION[self.market]

    def stream_group(self, stream: str) -> str:
        if self.market == "spot":
            return ""
        return "public" if "@depth" in stream or "@bookTicker" in stream else "market"

    def subscribe_messages(self, streams: list[str], method: str = "SUBSCRIBE") -> list[str]:
        out = []
        for start in range(0, len(streams), STREAMS_PER_SUBSCRIBE):
            self._req_id += 1
            out.append(orjson.dumps({"method": method, "params": streams[start:start + STREAMS_PER_SUBSCRIBE],
                                     "id": self._req_id}).decode())
        return out

    # -- decoding ------------------------------------------------------------------

    def decode(self, raw: str | bytes) -> Decoded | BinanceDepth:
        """One frame -> an event, a depth diff, an ack, or Unknown. Never raises.

        The typed msgspec decoders parse, convert the venue's number strings and
        validate them in C; anything they reject gets a second, careful look."""
        try:
            # we always connect to combined /stream paths; raw /ws frames are the exception
            msg = _decode_combined(raw).data
        except (msgspec.ValidationError, msgspec.DecodeError):
            try:
                msg = _decode_raw(raw)
            except (msgspec.ValidationError, msgspec.DecodeError):
                return self._decode_slow(raw)
        if type(msg) is BinanceDepth:
            # the symbol is checked by whoever routes it to a book (one lookup, not two)
            return msg
        inst = self._by_symbol.get(msg.s)
        if inst is None:
            return Unknown(f"unknown symbol {msg.s!r}")
        return msg.to_event(inst.id)

    def _decode_slow(self, raw: str | bytes) -> Decoded:
        msg = parse_rejected(raw)
        if isinstance(msg, Unknown):  # else the frame's JSON object
            return msg
        data = msg.get("data", msg)
        if type(data) is not dict:
            return Unknown("stream data is not an object", malformed=True)
        kind = data.get("e")
        if kind is None:
            if "result" in data or "error" in data:
                err = data.get("error")
                return Ack(data.get("id"), None if err is None else str(err.get("msg", err)),
                           data.get("result"))
            return Unknown("no event type")
        if kind not in _EVENT_TYPES:
            return Unknown(f"unhandled event {kind!r}")
        return Unknown(f"bad {kind} frame: {str(raw)[:120]}", malformed=True)

    # -- REST ----------------------------------------------------------------------

    def _api(self) -> str:
        return "/api/v3" if self.market == "spot" else "/fapi/v1"

    def exchange_info_path(self, symbols: list[str] | None = None) -> str:
        if self.market == "spot" and symbols:
            return f"/api/v3/exchangeInfo?{urlencode({'symbols': orjson.dumps(symbols).decode()})}"
        return f"{self._api()}/exchangeInfo"

    def snapshot_path(self, inst: Instrument) -> str:
        limit = DESCRIPTOR.markets[self.market].snapshot_depth
        return f"{self._api()}/depth?symbol={inst.venue_symbol.upper()}&limit={limit}"

    def snapshot_weight(self) -> int:
        """Request weight of one depth snapshot (Binance's published table)."""
        return 250 if self.market == "spot" else 20

    def parse_snapshot(self, text: str | bytes) -> BookSnapshot:
        d = orjson.loads(text)
        if type(d) is not dict or "lastUpdateId" not in d:
            raise ValueError(f"not a depth snapshot: {str(text)[:120]}")
        return BookSnapshot(int(d["lastUpdateId"]), d["bids"], d["asks"], int(d.get("T") or d.get("E") or 0))

    def klines_path(self, inst: Instrument, interval: str, limit: int = 500,
                    start_ms: int | None = None, end_ms: int | None = None) -> str:
        params: dict[str, Any] = {"symbol": inst.venue_symbol.upper(), "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return f"{self._api()}/klines?{urlencode(params)}"

    def parse_klines(self, text: str | bytes, inst: Instrument, interval: str,
                     now_ms: int | None = None) -> list[Kline]:
        rows = orjson.loads(text)
        if type(rows) is not list:
            raise ValueError(f"not a klines list: {str(text)[:120]}")
        out = []
        for row in rows:
            close_time = int(row[6])
            closed = now_ms is not None and close_time < now_ms
            out.append(Kline(inst.id, interval, int(row[0]), float(row[1]), float(row[2]),
                             float(row[3]), float(row[4]), float(row[5]), closed))
        if out and now_ms is None:
            for k in out[:-1]:
                k.closed = True
        return out

    def new_book_sync(self, inst: Instrument) -> BinanceBookSync:
        return BinanceBookSync(perp=self.market == "perp")


def _metadata_path(market: MarketType) -> str:
    return BinanceVenue(market, []).exchange_info_path()


def _binance_tickers(data: Any) -> dict[str, float]:
    return quote_volumes(data, "symbol", lambda row: row["quoteVolume"])


# REST budgets: Binance weighs 6000/min spot and 2400/min USD-M; we use most, never all.
DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    markets={
        "spot": MarketFacts(
            Hosts("binance", {
                "live": Endpoints("wss://stream.binance.com:9443", "https://api.binance.com"),
                "testnet": Endpoints("wss://stream.testnet.binance.vision", "https://testnet.binance.vision"),
                "demo": Endpoints("wss://demo-stream.binance.com", "https://demo-api.binance.com"),
            }, title="Binance spot", accounts=("testnet", "demo", "live"),
                rate_limit_ms=12, narrow_markets=True),
            ccxt_type="spot", rest_weight_per_minute=5000, kline_page_limit=1000,
            snapshot_depth=SPOT_SNAPSHOT_LIMIT,
            # every symbol at once weighs 80 on spot, 40 on USD-M (Binance's published table)
            tickers=Tickers24h("/api/v3/ticker/24hr", 80, _binance_tickers)),
        "perp": MarketFacts(
            Hosts("binanceusdm", {
                "live": Endpoints("wss://fstream.binance.com", "https://fapi.binance.com"),
                "testnet": Endpoints("wss://fstream.binancefuture.com", "https://testnet.binancefuture.com"),
                "demo": Endpoints("wss://fstream.binancefuture.com", "https://demo-fapi.binance.com"),
            }, title="Binance USD-M", accounts=("demo", "live"),
                rate_limit_ms=30, narrow_markets=True),
            ccxt_type="linear", rest_weight_per_minute=2000, kline_page_limit=1500,
            snapshot_depth=PERP_SNAPSHOT_LIMIT,
            tickers=Tickers24h("/fapi/v1/ticker/24hr", 40, _binance_tickers)),
    },
    codec=BinanceVenue,
    metadata_path=_metadata_path,
    parse_metadata=instruments_from_exchange_info,
    connects_per_sec=0.9,  # Binance allows 300 connections per 5 minutes per IP
)
