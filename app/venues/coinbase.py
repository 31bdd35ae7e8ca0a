"""Coinbase Advanced Trade (spot): channels, decoding, and the level2 sync rules.

One websocket (``wss://advanced-trade-ws.coinbase.com``, no paths) carries every
channel; one subscribe message per channel lists its product ids. Streams are the
opaque strings ``level2:BTC-USD``, ``market_trades:BTC-USD``, ``ticker:BTC-USD``,
``candles:BTC-USD`` and ``heartbeats`` (always subscribed: Coinbase closes channels that
go 60-90 s without an update, and heartbeats tick once a second).

Book sync (../shared/protocols section 3): a level2 subscription starts with a
``snapshot`` event that holds the whole book, then ``update`` events with absolute sizes
(``"0"`` deletes). Coinbase messages carry no per-book sequence; instead
``sequence_num`` counts every message on the connection (acks and heartbeats too). The
per-connection decoder checks it: a jump means a lost message, possibly a book update,
so it returns ``Resync`` and the feed resubscribes level2 for every book, which makes
Coinbase send fresh snapshots (``recovery = "resubscribe"``; no REST snapshot is used).

USDC: Coinbase serves ``BTC-USDC`` from the ``BTC-USD`` book (the products list marks
such products with ``alias``). We keep one instrument per book, named by the product's
own quote (``cryptopair_coinbase_btcusd``); ``alias_for("BTC", "USDC")`` tells symbol
resolution which product answers a ``BTC/USDC`` request.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Union, cast
from urllib.parse import quote, urlencode

import msgspec
import orjson

from app.market.events import Kline, Ticker, Trade
from app.market.instruments import Instrument, MarketType
from app.market.klines import INTERVAL_MS
from app.market.orderbook import OrderBook
from app.venues.base import (APPLIED, IGNORED, SYNCED, Ack, BookSnapshot, ConnectionPlan, Decoded,
                             Events, Num, Price, Resync, Size, Unknown, one_or_many,
                             parse_rejected)
from app.venues.base import (Endpoints, Hosts, MarketFacts, Recovery, Tickers24h, VenueDescriptor,
                             quote_volumes)

VENUE = "coinbase"
HEARTBEATS = "heartbeats"
TICKER_BATCH = "ticker_batch"
BOOK_CHANNEL = "level2"
# Channels we subscribe per product; heartbeats takes no product ids.
PRODUCT_CHANNELS = ("level2", "market_trades", "ticker", "candles")
# One connection carries everything; a second one only for very long product lists
# (each connection has its own sequence_num, and a replay cannot tell them apart).
MAX_PRODUCTS_PER_CONNECTION = 200
CANDLES_MAX_ROWS = 350  # per REST request
# The candles channel only has 5-minute buckets; other intervals come from REST alone.
WS_CANDLE_INTERVAL = "5m"
# REST granularities we map (Coinbase also has SIX_HOUR, which cryptoterm does not use).
GRANULARITY = {"1m": "ONE_MINUTE", "5m": "FIVE_MINUTE", "15m": "FIFTEEN_MINUTE",
               "30m": "THIRTY_MINUTE", "1h": "ONE_HOUR", "2h": "TWO_HOUR", "1d": "ONE_DAY"}
KLINE_INTERVALS = tuple(GRANULARITY)
# market_trades ``side``: Coinbase documents it as the side of the MAKER order, as its
# Exchange feed always did for matches ("BUY" = a resting bid was hit, i.e. a taker
# sold). Normalized trades carry the taker side, so we invert it. If Coinbase ever
# changes the meaning, this one flag flips it back.
TRADE_SIDE_IS_MAKER = True
_TAKER = {"BUY": "sell", "SELL": "buy"} if TRADE_SIDE_IS_MAKER else {"BUY": "buy", "SELL": "sell"}
_FIVE_MIN_MS = INTERVAL_MS[WS_CANDLE_INTERVAL]


def alias_for(base: str, quote: str) -> str | None:
    """The product that serves ``base/quote`` when it is not a book of its own:
    ``alias_for("BTC", "USDC") == "BTC-USD"`` (Coinbase merged its USDC books into the
    USD ones). None when the pair needs no alias."""
    if quote.upper() == "USDC":
        return f"{base.upper()}-USD"
    return None


# -- time ------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|[+-]00:?00)?")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def iso_ms(text: str) -> int:
    """``2023-02-09T20:32:50.714964855Z`` -> epoch milliseconds (UTC). Coinbase sends
    nanoseconds; we truncate to ms. Raises ValueError on anything else."""
    m = _ISO.fullmatch(text)
    if m is None:
        raise ValueError(f"not an ISO-8601 UTC time: {text[:40]!r}")
    y, mo, d, h, mi, s, frac, _ = m.groups()
    days = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_ORDINAL
    if int(h) > 23 or int(mi) > 59 or int(s) > 60:
        raise ValueError(f"not an ISO-8601 UTC time: {text[:40]!r}")
    ms = int((frac + "00")[:3]) if frac else 0
    return ((days * 24 + int(h)) * 60 + int(mi)) * 60_000 + int(s) * 1000 + ms


# -- wire structs ----------------------------------------------------------------------
# Numbers arrive as strings; strict=False converts them into base.py's bounded types.


@dataclass(slots=True)
class CoinbaseBook:
    """One product's level2 event: the whole book (``snapshot``) or changed levels."""

    symbol: str  # product id, e.g. "BTC-USD"
    ts: int
    snapshot: bool
    bids: list[Any]
    asks: list[Any]


class _Level(msgspec.Struct, gc=False):
    side: Literal["bid", "offer"]
    price_level: Price
    new_quantity: Size


class _L2Event(msgspec.Struct, gc=False):
    type: Literal["snapshot", "update"]
    product_id: str
    updates: list[_Level]


class _L2Frame(msgspec.Struct, tag_field="channel", tag="l2_data", gc=False):
    timestamp: str
    events: list[_L2Event]
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        ts = dec.ms(self.timestamp)
        out: list[CoinbaseBook] = []
        for ev in self.events:
            bids: list[tuple[float, float]] = []
            asks: list[tuple[float, float]] = []
            add_bid, add_ask = bids.append, asks.append
            for u in ev.updates:
                if u.side == "bid":
                    add_bid((u.price_level, u.new_quantity))
                else:
                    add_ask((u.price_level, u.new_quantity))
            out.append(CoinbaseBook(ev.product_id, ts, ev.type == "snapshot", bids, asks))
        return one_or_many(out)


class _Trade(msgspec.Struct, gc=False):
    trade_id: Union[str, int]
    product_id: str
    price: Price
    size: Size
    side: Literal["BUY", "SELL"]
    time: str


class _TradesEvent(msgspec.Struct, gc=False):
    trades: list[_Trade] = []


class _TradesFrame(msgspec.Struct, tag_field="channel", tag="market_trades", gc=False):
    events: list[_TradesEvent]
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        ids = dec.ids
        out: list[Any] = []
        unknown = 0
        for ev in self.events:
            # Coinbase lists a batch newest first; the hub wants them in time order.
            for t in reversed(ev.trades):
                inst_id = ids.get(t.product_id)
                if inst_id is None:
                    unknown += 1
                    continue
                out.append(Trade(inst_id, dec.ms(t.time), t.price, t.size, _TAKER[t.side],  # type: ignore[arg-type]  # _TAKER maps the wire side to 'buy'/'sell' only
                                 str(t.trade_id)))
        out.sort(key=_ts)  # stable: equal times keep the venue's order
        return _batch(out, unknown, "market_trades")


class _Tick(msgspec.Struct, gc=False):
    product_id: str
    price: Price | None = None
    best_bid: Price | None = None
    best_ask: Price | None = None
    high_24_h: Price | None = None
    low_24_h: Price | None = None
    volume_24_h: Size | None = None
    price_percent_chg_24_h: Num | None = None


class _TickerEvent(msgspec.Struct, gc=False):
    tickers: list[_Tick] = []


class _TickerFrame(msgspec.Struct, tag_field="channel", tag="ticker", gc=False):
    timestamp: str
    events: list[_TickerEvent]
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        ts = dec.ms(self.timestamp)
        ids = dec.ids
        out: list[Any] = []
        unknown = 0
        for ev in self.events:
            for t in ev.tickers:
                inst_id = ids.get(t.product_id)
                if inst_id is None:
                    unknown += 1
                    continue
                last, pct = t.price, t.price_percent_chg_24_h
                # Coinbase sends the 24 h change in percent; the open is what it is relative to.
                open_24h = last / (1.0 + pct / 100.0) if last and pct is not None and pct > -100.0 else None
                out.append(Ticker(inst_id, ts, last, t.best_bid, t.best_ask, t.high_24_h,
                                  t.low_24_h, t.volume_24_h, open_24h))
        return _batch(out, unknown, "ticker")


class _TickerBatchFrame(_TickerFrame, tag="ticker_batch"):
    """``ticker_batch``: the ticker channel's shape, batched every 5 s (no books needed)."""


class _Candle(msgspec.Struct, gc=False):
    start: int  # seconds
    product_id: str
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Size


class _CandlesEvent(msgspec.Struct, gc=False):
    candles: list[_Candle] = []


class _CandlesFrame(msgspec.Struct, tag_field="channel", tag="candles", gc=False):
    timestamp: str
    events: list[_CandlesEvent]
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        now = dec.ms(self.timestamp)
        ids = dec.ids
        out: list[Any] = []
        unknown = 0
        for ev in self.events:
            for c in ev.candles:
                inst_id = ids.get(c.product_id)
                if inst_id is None:
                    unknown += 1
                    continue
                open_ms = c.start * 1000
                # The channel never says "closed"; a bucket whose end has passed is.
                out.append(Kline(inst_id, WS_CANDLE_INTERVAL, open_ms, c.open, c.high, c.low,
                                 c.close, c.volume, open_ms + _FIVE_MIN_MS <= now))
        out.sort(key=_open_time)
        return _batch(out, unknown, "candles")


class _HeartbeatsFrame(msgspec.Struct, tag_field="channel", tag="heartbeats", gc=False):
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        return None


class _SubscriptionsEvent(msgspec.Struct, gc=False):
    subscriptions: dict[str, list[str]] = {}


class _SubscriptionsFrame(msgspec.Struct, tag_field="channel", tag="subscriptions", gc=False):
    events: list[_SubscriptionsEvent] = []
    sequence_num: int = -1

    def convert(self, dec: CoinbaseDecoder) -> Decoded:
        subs = self.events[-1].subscriptions if self.events else {}
        return Ack(None, None, subs)


_Frame = Union[_L2Frame, _TradesFrame, _TickerFrame, _TickerBatchFrame, _CandlesFrame,
               _HeartbeatsFrame, _SubscriptionsFrame]
_CHANNELS = {"l2_data", "market_trades", "ticker", "ticker_batch", "candles", "heartbeats",
             "subscriptions"}
_decode_frame = msgspec.json.Decoder(_Frame, strict=False).decode


def _ts(ev: Trade) -> int:
    return ev.ts


def _open_time(k: Kline) -> int:
    return k.open_time


def _batch(out: list[Any], unknown: int, channel: str) -> Decoded:
    if len(out) == 1:
        one: Decoded = out[0]
        return one
    if out:
        return Events(out)
    if unknown:
        return Unknown(f"{channel}: unknown product")
    return None


def _with_gap(gap: Resync, decoded: Decoded) -> Events:
    if decoded is None:
        return Events([gap])
    if type(decoded) is Events:
        return Events([gap, *decoded.items])
    return Events([gap, decoded])


class CoinbaseDecoder:
    """Decodes the frames of ONE connection and watches its ``sequence_num``.

    ``sequence_num`` counts every message the connection received. A jump is a lost
    message (``Resync``). A number that does not go forward means the socket was
    replaced (a reconnect starts counting again, and the feed has already reset its
    books); the very first message sets the start."""

    __slots__ = ("ids", "last_seq", "_second", "_second_ms")

    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids  # product id -> instrument id
        self.last_seq = -1
        self._second = ""  # "2025-03-04T10:00:00" of the last time parsed, and its epoch ms
        self._second_ms = 0

    def ms(self, text: str) -> int:
        """``iso_ms`` with the whole second cached: every frame carries a time, most
        share their second with the previous one, and full parsing would be the
        slowest step of decoding a small frame. Digits past milliseconds are ignored."""
        second = text[:19]
        if second != self._second:
            self._second_ms = iso_ms(second + "Z")
            self._second = second
        if text[19:20] == "." and text[-1:] == "Z":
            frac = text[20:23]
            if frac.isdigit() and frac.isascii():
                return self._second_ms + int(frac)
        elif text[19:] == "Z":
            return self._second_ms
        return iso_ms(text)

    def _sequence(self, seq: int) -> Resync | None:
        if seq < 0:  # a frame without sequence_num (errors): nothing to check
            return None
        last = self.last_seq
        self.last_seq = seq
        if last < 0 or seq == last + 1 or seq <= last:
            return None
        return Resync(f"sequence_num jumped from {last} to {seq}")

    def decode(self, raw: str | bytes) -> Decoded:
        """One frame -> an event, a book message, an ``Events`` batch, an ack, a
        ``Resync`` or ``Unknown``. Never raises."""
        try:
            frame = _decode_frame(raw)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return self._decode_slow(raw)
        seq = frame.sequence_num
        if seq == self.last_seq + 1 and seq > 0:  # the common case, inline
            self.last_seq = seq
            gap = None
        else:
            gap = self._sequence(seq)
        try:
            out = frame.convert(self)
        except (ValueError, KeyError, OverflowError) as exc:  # e.g. an unreadable time
            channel = cast(str, type(frame).__struct_config__.tag)  # every frame type is tagged by name
            return self._lost(channel, gap, f"bad {channel} frame: {exc}")
        return out if gap is None else _with_gap(gap, out)

    __call__ = decode

    def _decode_slow(self, raw: str | bytes) -> Decoded:
        msg = parse_rejected(raw)
        if isinstance(msg, Unknown):  # else the frame's JSON object
            return msg
        if msg.get("type") == "error":
            text = msg.get("message") or "error"
            reason = msg.get("reason")
            return Ack(None, f"{text}: {reason}" if reason else str(text))
        channel = msg.get("channel")
        seq = msg.get("sequence_num")
        if type(seq) is not int:
            seq = -1
        if type(channel) is not str:
            return Unknown("no channel", malformed=channel is not None)
        gap = self._sequence(seq)
        if channel not in _CHANNELS:
            out = Unknown(f"unhandled channel {channel!r}")
            return out if gap is None else _with_gap(gap, out)
        return self._lost(channel, gap, f"bad {channel} frame: {str(raw)[:120]}")

    @staticmethod
    def _lost(channel: str, gap: Resync | None, reason: str) -> Decoded:
        """A frame we counted but cannot use. A lost level2 frame leaves the books
        wrong, exactly like a sequence gap: rebuild them now rather than at the next jump."""
        bad = Unknown(reason, malformed=True)
        if gap is None and channel == "l2_data":
            gap = Resync("an l2_data frame could not be decoded")
        return bad if gap is None else Events([gap, bad])


def instruments_from_products(data: dict[str, Any], market: MarketType = "spot",
                              wanted: set[str] | None = None) -> list[Instrument]:
    """Instruments from ``GET /api/v3/brokerage/market/products``: online SPOT products,
    one per book (aliases such as BTC-USDC -> BTC-USD are skipped: ``alias_for``).

    ``wanted`` filters by product id."""
    if market != "spot":
        return []
    out: list[Instrument] = []
    for p in data.get("products", []):
        pid = p.get("product_id", "")
        if wanted is not None and pid not in wanted:
            continue
        if p.get("product_type", "SPOT") != "SPOT" or p.get("status", "online") != "online":
            continue
        if p.get("alias"):
            continue
        base = p.get("base_currency_id") or p.get("base_display_symbol")
        quote_ccy = p.get("quote_currency_id") or p.get("quote_display_symbol")
        if not base or not quote_ccy:
            continue
        tick = float(p.get("price_increment") or p.get("quote_increment") or 0.01)
        lot = float(p.get("base_increment") or 1e-8)
        min_notional = float(p.get("quote_min_size") or p.get("min_market_funds") or 0.0)
        out.append(Instrument(VENUE, "spot", base, quote_ccy, pid, tick_size=tick,
                              lot_size=lot, min_notional=min_notional))
    return out


def aliases_from_products(data: dict[str, Any]) -> dict[str, str]:
    """``{"BTC-USDC": "BTC-USD", ...}``: products served from another product's book."""
    return {p["product_id"]: p["alias"] for p in data.get("products", [])
            if p.get("alias") and p.get("product_id")}


class CoinbaseBookSync:
    """Level2 sync for one product: a snapshot loads the book, updates apply to it.
    Updates before the first snapshot of a subscription are leftovers of an earlier
    one (or of a book lost to a gap) and are dropped."""

    __slots__ = ("book", "synced", "needs_snapshot")

    def __init__(self) -> None:
        self.book = OrderBook()
        self.synced = False
        self.needs_snapshot = False  # the snapshot comes over the socket, never REST

    def reset(self) -> None:
        self.book.clear()
        self.synced = False

    @property
    def first_buffered(self) -> int | None:
        return None

    def on_diff(self, msg: CoinbaseBook) -> int:
        if msg.snapshot:
            self.book.load_snapshot(msg.bids, msg.asks, msg.ts)
            self.synced = True
            return SYNCED
        if not self.synced:
            return IGNORED
        self.book.apply(msg.bids, msg.asks, msg.ts)
        return APPLIED

    def on_snapshot(self, snap: BookSnapshot) -> int:
        """A REST ``product_book`` carries no sequence to join the stream with; it is
        only ever used to load a book outright."""
        self.book.load_snapshot(snap.bids, snap.asks, snap.ts)
        self.synced = True
        return SYNCED


class CoinbaseVenue:
    """Codec for Coinbase Advanced Trade spot market data."""

    name = VENUE
    config_key = "coinbase"
    depth_type = CoinbaseBook
    recovery: Recovery = "resubscribe"
    ws_ping_interval: float | None = 20.0  # Coinbase answers protocol pings
    keepalive: tuple[float, str] | None = None  # the heartbeats channel keeps channels open
    live_kline_intervals: frozenset[str] | None = frozenset({WS_CANDLE_INTERVAL})
    control_msgs_per_sec = 8.0  # Coinbase: 8 unauthenticated messages/s per IP

    def __init__(self, market: MarketType, instruments: list[Instrument]) -> None:
        if market != "spot":
            raise ValueError("Coinbase Advanced Trade market data is spot only")
        self.market: MarketType = market
        self._by_symbol = {i.venue_symbol.upper(): i for i in instruments}
        self._ids = {sym: i.id for sym, i in self._by_symbol.items()}

    def instruments(self) -> list[Instrument]:
        return list(self._by_symbol.values())

    def add_instrument(self, inst: Instrument) -> None:
        """Know one more product. Decoders share the id map, so frames of the new
        product decode at once on every connection."""
        sym = inst.venue_symbol.upper()
        self._by_symbol[sym] = inst
        self._ids[sym] = inst.id

    def instrument(self, product_id: str) -> Instrument | None:
        return self._by_symbol.get(product_id.upper())

    def resolve(self, base: str, quote_ccy: str) -> Instrument | None:
        """The instrument serving ``base/quote``, following the USDC -> USD alias."""
        inst = self._by_symbol.get(f"{base}-{quote_ccy}".upper())
        if inst is None and (alias := alias_for(base, quote_ccy)) is not None:
            inst = self._by_symbol.get(alias)
        return inst

    # -- streams -------------------------------------------------------------------

    def base_streams(self, inst: Instrument) -> list[str]:
        pid = inst.venue_symbol.upper()
        return [f"level2:{pid}", f"market_trades:{pid}", f"ticker:{pid}"]

    def book_streams(self, inst: Instrument) -> list[str]:
        return [f"{BOOK_CHANNEL}:{inst.venue_symbol.upper()}"]

    def kline_stream(self, inst: Instrument, interval: str) -> tuple[str, str]:
        """Every interval maps to the one candles channel (5-minute buckets)."""
        return f"candles:{inst.venue_symbol.upper()}", ""

    def stream_group(self, stream: str) -> str:
        return ""

    def max_streams(self, group: str) -> int:
        """Streams one connection carries: heartbeats plus four channels per product."""
        return 1 + len(PRODUCT_CHANNELS) * MAX_PRODUCTS_PER_CONNECTION

    def new_decoder(self) -> Callable[[str | bytes], Decoded]:
        return CoinbaseDecoder(self._ids).decode

    def connection_plans(self, ws_url: str, instruments: list[Instrument],
                         intervals: list[str]) -> list[ConnectionPlan]:
        plans: list[ConnectionPlan] = []
        cap = MAX_PRODUCTS_PER_CONNECTION
        for n, start in enumerate(range(0, len(instruments), cap)):
            streams = [HEARTBEATS]
            for inst in instruments[start:start + cap]:
                streams += self.base_streams(inst)
                if intervals:
                    streams.append(self.kline_stream(inst, intervals[0])[0])
            plans.append(ConnectionPlan("coinbase spot" + (f" #{n + 1}" if n else ""), ws_url, streams))
        return plans

    def ticker_plans(self, ws_url: str, instruments: list[Instrument]) -> list[ConnectionPlan]:
        """Tickers without books: ``ticker_batch`` (every product on one channel, batched
        every 5 s) plus heartbeats, which keep Coinbase from closing a quiet channel."""
        if not instruments:
            return []
        cap = MAX_PRODUCTS_PER_CONNECTION * len(PRODUCT_CHANNELS)
        pids = [f"{TICKER_BATCH}:{inst.venue_symbol.upper()}" for inst in instruments]
        return [ConnectionPlan("coinbase spot tickers" + (f" #{n + 1}" if n else ""), ws_url,
                               [HEARTBEATS, *pids[start:start + cap]])
                for n, start in enumerate(range(0, len(pids), cap))]

    def subscribe_messages(self, streams: list[str], method: str = "SUBSCRIBE") -> list[str]:
        """One message per channel, listing its product ids (Coinbase takes one channel
        per subscribe message)."""
        kind = "unsubscribe" if method.upper() == "UNSUBSCRIBE" else "subscribe"
        by_channel: dict[str, list[str]] = {}
        for stream in streams:
            channel, _, pid = stream.partition(":")
            ids = by_channel.setdefault(channel, [])
            if pid and pid not in ids:
                ids.append(pid)
        out = []
        for channel, ids in by_channel.items():
            msg: dict[str, Any] = {"type": kind}
            if ids:
                msg["product_ids"] = ids
            msg["channel"] = channel
            out.append(orjson.dumps(msg).decode())
        return out

    # -- decoding ------------------------------------------------------------------

    def decode(self, raw: str | bytes) -> Decoded:
        """Stateless convenience decode (no sequence tracking across calls)."""
        return CoinbaseDecoder(self._ids).decode(raw)

    # -- REST ----------------------------------------------------------------------

    def products_path(self) -> str:
        return "/api/v3/brokerage/market/products?product_type=SPOT"

    def snapshot_path(self, inst: Instrument) -> str:
        """The public book endpoint. Sync never needs it (snapshots arrive over the
        socket); it exists so a replay can tell such REST lines apart."""
        return f"/api/v3/brokerage/market/product_book?product_id={quote(inst.venue_symbol.upper())}"

    def snapshot_weight(self) -> int:
        return 1

    def parse_snapshot(self, text: str | bytes) -> BookSnapshot:
        d = orjson.loads(text)
        book = d.get("pricebook") if type(d) is dict else None
        if type(book) is not dict:
            raise ValueError(f"not a product book: {str(text)[:120]}")
        ts = 0
        if book.get("time"):
            ts = iso_ms(book["time"])
        return BookSnapshot(0, [(b["price"], b["size"]) for b in book.get("bids", [])],
                            [(a["price"], a["size"]) for a in book.get("asks", [])], ts)

    def klines_path(self, inst: Instrument, interval: str, limit: int = CANDLES_MAX_ROWS,
                    start_ms: int | None = None, end_ms: int | None = None) -> str:
        """Candles ending at ``end_ms`` (default now), at most 350 per request.
        Raises ValueError for an interval Coinbase has no granularity for (3m, 4h)."""
        gran = GRANULARITY.get(interval)
        if gran is None:
            raise ValueError(f"coinbase has no {interval} candles (it has {', '.join(KLINE_INTERVALS)})")
        step = INTERVAL_MS[interval] // 1000
        limit = max(1, min(limit, CANDLES_MAX_ROWS))
        if start_ms is not None and end_ms is None:
            start = start_ms // 1000
            end = start + limit * step
        else:
            end = int(time.time()) if end_ms is None else end_ms // 1000
            start = end - limit * step if start_ms is None else start_ms // 1000
        params = {"start": start, "end": end, "granularity": gran, "limit": limit}
        return f"/api/v3/brokerage/market/products/{quote(inst.venue_symbol.upper())}/candles?{urlencode(params)}"

    def parse_klines(self, text: str | bytes, inst: Instrument, interval: str,
                     now_ms: int | None = None) -> list[Kline]:
        """Candles come newest first, times in seconds; we return them oldest first."""
        d = orjson.loads(text)
        rows = d.get("candles") if type(d) is dict else None
        if type(rows) is not list:
            raise ValueError(f"not a candles response: {str(text)[:120]}")
        step = INTERVAL_MS.get(interval)
        if step is None:
            raise ValueError(f"unknown interval {interval!r}")
        out = []
        for row in rows:
            o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
            v = float(row["volume"])
            if not all(0.0 < x < math.inf for x in (o, h, lo, c)) or not 0.0 <= v < math.inf:
                raise ValueError(f"bad candle {row!r}")
            open_ms = int(row["start"]) * 1000
            closed = now_ms is not None and open_ms + step <= now_ms
            out.append(Kline(inst.id, interval, open_ms, o, h, lo, c, v, closed))
        out.sort(key=_open_time)
        if out and now_ms is None:
            for k in out[:-1]:
                k.closed = True
        return out

    def new_book_sync(self, inst: Instrument) -> CoinbaseBookSync:
        return CoinbaseBookSync()


def _metadata_path(market: MarketType) -> str:
    return CoinbaseVenue(market, []).products_path()


def _product_turnover(row: dict[str, Any]) -> float:
    """24h quote volume of a product: the venue's own estimate, else base volume x price."""
    approx = row.get("approximate_quote_24h_volume")
    if approx not in (None, ""):
        return float(approx)
    return float(row["volume_24h"]) * float(row["price"])


def _coinbase_tickers(data: Any) -> dict[str, float]:
    products = data.get("products") if type(data) is dict else None
    return quote_volumes([p for p in products or () if type(p) is dict and not p.get("alias")],
                         "product_id", _product_turnover)


# Coinbase Advanced Trade has no sandbox: every environment reads live public data, and
# there is no account to trade through ccxt. REST: 10 requests per second.
_LIVE = Endpoints("wss://advanced-trade-ws.coinbase.com", "https://api.coinbase.com")

DESCRIPTOR = VenueDescriptor(
    name=VENUE,
    markets={
        "spot": MarketFacts(Hosts(VENUE, {"live": _LIVE, "testnet": _LIVE, "demo": _LIVE}, title="Coinbase"),
                            ccxt_type="spot", rest_weight_per_minute=400,
                            kline_page_limit=CANDLES_MAX_ROWS,
                            rest_window_s=1.0,  # 6 a second: Coinbase allows 10 / s
                            # the product list carries 24h volumes; Coinbase's dollar pairs are USD
                            tickers=Tickers24h("/api/v3/brokerage/market/products?product_type=SPOT", 1,
                                               _coinbase_tickers, quote="USD")),
    },
    codec=CoinbaseVenue,
    metadata_path=_metadata_path,
    parse_metadata=instruments_from_products,
    connects_per_sec=6.0,  # Coinbase allows 8 connections per second per IP
)
