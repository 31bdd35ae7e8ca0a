"""Bybit v5's wire shapes for the simulator's model state: pure functions, no I/O.

Field names, key order and number formatting follow Bybit's published examples
(numbers as strings, times in ms as integers except where Bybit sends strings), so a
codec tested against the sim sees what the venue sends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from app.market.klines import INTERVAL_MS
from app.sim.candles import Candle
from app.sim.market import SIM_INTERVALS, Fill, MarkInfo, Stats24h, SymbolSim
from app.sim.units import fmt_fixed

CATEGORIES = {"spot": "spot", "linear": "perp"}  # Bybit category -> SimSymbol market
BOOK_DEPTHS = {"spot": ("1", "50", "200", "1000", "full"),
               "linear": ("1", "50", "200", "1000", "full")}
# Bybit's interval names; the sim has candles for the ones with a counterpart in ours
KLINE_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
SIM_KLINES = {"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h",
              "120": "2h", "240": "4h", "D": "1d"}
assert set(SIM_KLINES.values()) <= set(SIM_INTERVALS)


def category_of(market: str) -> str:
    return "spot" if market == "spot" else "linear"


@dataclass(frozen=True, slots=True)
class Topic:
    kind: str  # "book" | "trade" | "ticker" | "kline"
    symbol: str
    arg: str = ""  # book depth ("50", "full") or Bybit kline interval ("1", "D")


def parse_topic(name: str, cat: str) -> Topic | None:
    """``orderbook.50.BTCUSDT`` -> Topic("book", "BTCUSDT", "50"); None if Bybit would
    refuse the topic on this category's path."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1] in BOOK_DEPTHS[cat]:
        return Topic("book", parts[2], parts[1])
    if len(parts) == 3 and parts[0] == "kline" and parts[1] in KLINE_INTERVALS:
        return Topic("kline", parts[2], parts[1])
    if len(parts) == 2 and parts[0] == "publicTrade":
        return Topic("trade", parts[1])
    if len(parts) == 2 and parts[0] == "tickers":
        return Topic("ticker", parts[1])
    return None


# -- book ------------------------------------------------------------------------------

Levels = dict[int, int]  # ticks -> lots


def top_levels(s: SymbolSim, depth: int | None) -> tuple[Levels, Levels]:
    """The best ``depth`` levels per side of the true book (all of it for None)."""
    book = s.book
    bid_px = book.bid_prices if depth is None else book.bid_prices[-depth:]
    ask_px = book.ask_prices if depth is None else book.ask_prices[:depth]
    return {p: book.bids[p] for p in bid_px}, {p: book.asks[p] for p in ask_px}


def view_delta(old: Levels, new: Levels) -> Levels:
    """Absolute sizes of every level that changed between two views (0 = left)."""
    out = {p: q for p, q in new.items() if old.get(p) != q}
    for p in old:
        if p not in new:
            out[p] = 0
    return out


def wire_levels(s: SymbolSim, levels: Levels, bids: bool) -> list[list[str]]:
    fp, fq = s.price.fmt, s.qty.fmt
    return [[fp(p), fq(levels[p])] for p in sorted(levels, reverse=bids)]


def book_message(s: SymbolSim, topic: str, kind: str, bids: list[list[str]],
                 asks: list[list[str]], u: int, seq: int, now_ms: int) -> dict[str, Any]:
    return {"topic": topic, "type": kind, "ts": now_ms,
            "data": {"s": s.spec.symbol, "b": bids, "a": asks, "u": u, "seq": seq},
            "cts": now_ms}


def rest_book(s: SymbolSim, depth: int | None, u: int, now_ms: int) -> dict[str, Any]:
    bids, asks = top_levels(s, depth)
    return {"s": s.spec.symbol, "b": wire_levels(s, bids, True), "a": wire_levels(s, asks, False),
            "ts": now_ms, "u": u, "seq": s.book.update_id, "cts": now_ms}


# -- trades ----------------------------------------------------------------------------

def trade_id(s: SymbolSim, n: int) -> str:
    """Spot ids are numeric strings, linear ids UUIDs (as on Bybit); both derived from the
    model's trade counter so they are unique and reproducible."""
    if s.spec.market == "spot":
        return str(2_290_000_000_000_000_000 + n)
    return str(uuid.UUID(int=(0x5EED << 96) | n))


def tick_direction(prev: int | None, price: int, last_dir: str) -> str:
    if prev is None or price > prev:
        return "PlusTick"
    if price < prev:
        return "MinusTick"
    return "ZeroPlusTick" if last_dir in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"


def trades(s: SymbolSim, fills: list[Fill], prev_price: int | None, last_dir: str
           ) -> tuple[list[dict[str, Any]], int | None, str]:
    """One taker order's fills as Bybit trades (one per maker order hit, not aggregated).
    Returns the trades plus the last price and tick direction for the next call."""
    out = []
    fp, fq = s.price.fmt, s.qty.fmt
    for f in fills:
        last_dir = tick_direction(prev_price, f.price, last_dir)
        prev_price = f.price
        side = "Sell" if f.buyer_is_maker else "Buy"  # the taker's side
        for i, part in enumerate(f.parts):
            out.append({"T": f.ts, "s": s.spec.symbol, "S": side, "v": fq(part), "p": fp(f.price),
                        "L": last_dir, "i": trade_id(s, f.first_id + i), "BT": False,
                        "seq": s.book.update_id})
    return out, prev_price, last_dir


def trade_message(s: SymbolSim, data: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    return {"topic": f"publicTrade.{s.spec.symbol}", "type": "snapshot", "ts": now_ms,
            "data": data}


# -- klines ----------------------------------------------------------------------------

def _quote(s: SymbolSim, units: int) -> str:
    p, q = s.price, s.qty
    return fmt_fixed(units * p.unit * q.unit, p.decimals + q.decimals)


def kline_message(s: SymbolSim, interval: str, c: Candle, now_ms: int) -> dict[str, Any]:
    fp, fq = s.price.fmt, s.qty.fmt
    return {"topic": f"kline.{interval}.{s.spec.symbol}", "data": [{
        "start": c.open_time, "end": c.open_time + INTERVAL_MS[SIM_KLINES[interval]] - 1,
        "interval": interval, "open": fp(c.open), "close": fp(c.close), "high": fp(c.high),
        "low": fp(c.low), "volume": fq(c.volume), "turnover": _quote(s, c.quote_volume),
        "confirm": c.closed, "timestamp": now_ms}], "ts": now_ms, "type": "snapshot"}


def kline_row(s: SymbolSim, c: Candle) -> list[str]:
    fp, fq = s.price.fmt, s.qty.fmt
    return [str(c.open_time), fp(c.open), fp(c.high), fp(c.low), fp(c.close), fq(c.volume),
            _quote(s, c.quote_volume)]


# -- tickers ---------------------------------------------------------------------------

def _pct(last: int, base: int) -> str:
    return f"{(last - base) / base:.6f}" if base else "0"


def ticker_state(s: SymbolSim, st: Stats24h, mark: MarkInfo | None) -> dict[str, str]:
    """The full ticker as Bybit sends it in a snapshot: spot has no top of book, linear
    adds the top of book, mark/index prices and funding."""
    fp, fq = s.price.fmt, s.qty.fmt
    out = {"symbol": s.spec.symbol, "lastPrice": fp(st.last), "highPrice24h": fp(st.high),
           "lowPrice24h": fp(st.low), "prevPrice24h": fp(st.open), "volume24h": fq(st.volume),
           "turnover24h": _quote(s, st.quote_volume), "price24hPcnt": _pct(st.last, st.open)}
    if mark is None:
        out["usdIndexPrice"] = fp(st.last)
        return out
    book = s.book
    bb, ba = book.best_bid(), book.best_ask()
    dec = s.price.decimals
    out.update({"markPrice": f"{mark.mark:.{dec}f}", "indexPrice": f"{mark.index:.{dec}f}",
                "fundingRate": f"{mark.funding_rate:.8f}",
                "nextFundingTime": str(mark.next_funding_ms),
                "bid1Price": fp(bb), "bid1Size": fq(book.bids[bb]),
                "ask1Price": fp(ba), "ask1Size": fq(book.asks[ba])})
    return out


def ticker_message(symbol: str, kind: str, data: dict[str, str], cs: int, now_ms: int
                   ) -> dict[str, Any]:
    return {"topic": f"tickers.{symbol}", "type": kind, "data": data, "cs": cs, "ts": now_ms}


# -- REST ------------------------------------------------------------------------------

def instrument_row(s: SymbolSim) -> dict[str, Any]:
    fp, fq = s.price.fmt, s.qty.fmt
    max_price = s.price.count(s.spec.start_price * 100)
    max_qty = s.qty.count(10_000_000 / s.spec.start_price)
    if s.spec.market == "spot":
        return {"symbol": s.spec.symbol, "baseCoin": s.spec.base, "quoteCoin": s.spec.quote,
                "innovation": "0", "status": "Trading", "marginTrading": "none",
                "lotSizeFilter": {"basePrecision": fq(1), "quotePrecision": "0.00000001",
                                  "minOrderQty": fq(1), "maxOrderQty": fq(max_qty),
                                  "minOrderAmt": f"{s.spec.min_notional:g}",
                                  "maxOrderAmt": "2000000"},
                "priceFilter": {"tickSize": fp(1)}}
    return {"symbol": s.spec.symbol, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": s.spec.base, "quoteCoin": s.spec.quote, "launchTime": "1585526400000",
            "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": str(s.price.decimals),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00",
                               "leverageStep": "0.01"},
            "priceFilter": {"minPrice": fp(1), "maxPrice": fp(max_price), "tickSize": fp(1)},
            "lotSizeFilter": {"maxOrderQty": fq(max_qty), "minOrderQty": fq(1),
                              "qtyStep": fq(1), "postOnlyMaxOrderQty": fq(max_qty),
                              "maxMktOrderQty": fq(max_qty // 10 or 1),
                              "minNotionalValue": f"{s.spec.min_notional:g}"},
            "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": s.spec.quote,
            "copyTrading": "both", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005"}


def ok(result: Any, now_ms: int) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}


def error(code: int, msg: str, now_ms: int) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now_ms}
