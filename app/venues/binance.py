"""Binance spot and USD-M perpetuals: streams, decoding, and the depth sync rules.

Sync (../shared/protocols section 3): buffer diffs, fetch the REST snapshot, drop
what the snapshot already holds, then chain — spot on ``U <= local+1``, futures on
``pu == previous u`` (futures ``U`` jumps, so ``U == prev_u + 1`` must not be checked).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument, MarketType
from app.market.orderbook import OrderBook
from app.venues.base import (APPLIED, BUFFERED, GAP, IGNORED, STALE_SNAPSHOT, SYNCED, Ack,
                             BookSnapshot, ConnectionPlan, Decoded, DepthDiff, Unknown)

VENUE = "binance"
SPOT_SNAPSHOT_LIMIT = 5000
PERP_SNAPSHOT_LIMIT = 1000
# Binance closes connections carrying more; we stay well below.
MAX_STREAMS_PER_CONNECTION = {"spot": 1000, "perp": 200}
# Params per SUBSCRIBE message: a few large messages respect the 5 msgs/s inbound limit.
STREAMS_PER_SUBSCRIBE = 100
# A diff buffer this long means the snapshot is not coming; start over rather than grow.
MAX_BUFFERED_DIFFS = 20_000


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def instruments_from_exchange_info(data: dict, market: MarketType,
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


class BinanceBookSync:
    """Binance's diff-depth sync for one instrument (spot or USD-M rules)."""

    __slots__ = ("book", "perp", "synced", "needs_snapshot", "last_id", "_buffer", "_first_after")

    def __init__(self, perp: bool) -> None:
        self.book = OrderBook()
        self.perp = perp
        self.synced = False
        self.needs_snapshot = True
        self.last_id = -1
        self._buffer: list[DepthDiff] = []
        self._first_after = False  # futures: the next diff straddles the snapshot

    def reset(self) -> None:
        self.book.clear()
        self.synced = False
        self.needs_snapshot = True
        self.last_id = -1
        self._buffer.clear()
        self._first_after = False

    @property
    def first_buffered(self) -> int | None:
        return self._buffer[0].first if self._buffer else None

    def on_diff(self, diff: DepthDiff) -> int:
        if not self.synced:
            if len(self._buffer) >= MAX_BUFFERED_DIFFS:
                self._buffer.clear()
            self._buffer.append(diff)
            return BUFFERED
        if diff.last < self.last_id or (diff.last == self.last_id and not self.perp):
            return IGNORED
        if self.perp:
            if self._first_after:
                if not (diff.first <= self.last_id <= diff.last):
                    return self._gap()
                self._first_after = False
            elif diff.prev != self.last_id:
                return self._gap()
        elif diff.first > self.last_id + 1:
            return self._gap()
        self.book.apply(diff.bids, diff.asks, diff.ts)
        self.last_id = diff.last
        return APPLIED

    def _gap(self) -> int:
        self.reset()
        return GAP

    def on_snapshot(self, snap: BookSnapshot) -> int:
        """Load a REST snapshot and replay the buffer; STALE_SNAPSHOT asks for a newer one,
        GAP means the buffer does not connect to it (the caller resyncs)."""
        lid = snap.last_update_id
        buffered = self._buffer
        if buffered and lid < buffered[0].first:
            return STALE_SNAPSHOT
        if self.perp:
            kept = [d for d in buffered if d.last >= lid]
        else:
            kept = [d for d in buffered if d.last > lid]
        self._buffer = []
        self.book.load_snapshot(snap.bids, snap.asks, snap.ts)
        self.last_id = lid
        self.synced = True
        self.needs_snapshot = False
        self._first_after = self.perp
        if kept:
            first = kept[0]
            straddles = (first.first <= lid <= first.last) if self.perp else (first.first <= lid + 1 <= first.last)
            if not straddles:
                self.reset()
                return GAP
            for diff in kept:
                if self.on_diff(diff) == GAP:
                    return GAP
        return SYNCED


class BinanceVenue:
    """Codec for one Binance market (``spot`` or ``perp``)."""

    name = VENUE

    def __init__(self, market: MarketType, instruments: list[Instrument]) -> None:
        self.market: MarketType = market
        self.config_key = "binance" if market == "spot" else "binanceusdm"
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

    def decode(self, raw: str | bytes) -> Decoded:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return Unknown("not JSON", malformed=True)
        if type(msg) is not dict:
            return Unknown("not a JSON object", malformed=True)
        data = msg.get("data")
        if data is None:
            data = msg
        elif type(data) is not dict:
            return Unknown("stream data is not an object", malformed=True)
        try:
            return self._decode_payload(data)
        except (KeyError, TypeError, ValueError) as exc:
            return Unknown(f"bad field: {exc!r}", malformed=True)

    def _decode_payload(self, d: dict) -> Decoded:
        kind = d.get("e")
        if kind == "depthUpdate":
            inst_id = self._ids.get(d["s"])
            if inst_id is None:
                return Unknown(f"unknown symbol {d['s']}")
            bids, asks = d["b"], d["a"]
            if type(bids) is not list or type(asks) is not list:
                raise TypeError("depth levels are not lists")
            return DepthDiff(inst_id, d.get("T") or d["E"], d["U"], d["u"], d.get("pu", -1), bids, asks)
        if kind is None:
            if "result" in d or "error" in d:
                err = d.get("error")
                return Ack(d.get("id"), None if err is None else str(err.get("msg", err)), d.get("result"))
            return Unknown("no event type")
        inst = self._by_symbol.get(d.get("s", ""))
        if inst is None:
            return Unknown(f"unknown symbol {d.get('s')!r} in {kind}")
        if kind == "aggTrade":
            return Trade(inst.id, d["T"], _finite(d["p"]), _finite(d["q"]),
                         "sell" if d["m"] else "buy", str(d["a"]))
        if kind == "trade":
            return Trade(inst.id, d["T"], _finite(d["p"]), _finite(d["q"]),
                         "sell" if d["m"] else "buy", str(d["t"]))
        if kind == "kline":
            k = d["k"]
            return Kline(inst.id, k["i"], k["t"], _finite(k["o"]), _finite(k["h"]), _finite(k["l"]),
                         _finite(k["c"]), _finite(k["v"]), bool(k["x"]))
        if kind == "24hrTicker":
            return Ticker(inst.id, d["E"], _f(d.get("c")), _f(d.get("b")), _f(d.get("a")),
                          _f(d.get("h")), _f(d.get("l")), _f(d.get("v")), _f(d.get("o")))
        if kind == "markPriceUpdate":
            return Funding(inst.id, d["E"], _f(d.get("r")), d.get("T"), _f(d.get("p")), _f(d.get("i")))
        return Unknown(f"unhandled event {kind!r}")

    # -- REST ----------------------------------------------------------------------

    def _api(self) -> str:
        return "/api/v3" if self.market == "spot" else "/fapi/v1"

    def exchange_info_path(self, symbols: list[str] | None = None) -> str:
        if self.market == "spot" and symbols:
            return f"/api/v3/exchangeInfo?{urlencode({'symbols': orjson.dumps(symbols).decode()})}"
        return f"{self._api()}/exchangeInfo"

    def snapshot_path(self, inst: Instrument) -> str:
        limit = SPOT_SNAPSHOT_LIMIT if self.market == "spot" else PERP_SNAPSHOT_LIMIT
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


def _finite(value: Any) -> float:
    """Parse a price/size; NaN and infinities are bad input, not market data."""
    x = float(value)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"non-finite number {value!r}")
    return x
