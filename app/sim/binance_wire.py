"""Binance's wire shapes for the simulator's model state: pure functions, no I/O.

Key order and string formatting follow Binance's own payloads (numbers as strings,
ids and times as integers), so codecs tested against the sim see what the venue sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.sim.book import DepthDiff
from app.sim.candles import Candle
from app.sim.market import SIM_INTERVALS, Fill, MarkInfo, Stats24h, SymbolSim
from app.sim.units import fmt_fixed

# Every update speed is accepted and served at the simulator's own diff interval.
DEPTH_SUFFIXES = ("@depth", "@depth@100ms", "@depth@250ms", "@depth@500ms", "@depth@1000ms")
# USD-M splits streams across two paths; a stream on the wrong one is acked but silent.
PUBLIC_KINDS = frozenset({"depth", "bookTicker"})
MARKET_KINDS = frozenset({"aggTrade", "trade", "kline", "ticker", "markPrice"})


@dataclass(frozen=True, slots=True)
class StreamName:
    symbol: str  # lowercase venue symbol
    kind: str  # depth | bookTicker | aggTrade | trade | kline | ticker | markPrice
    arg: str = ""  # kline interval


def parse_stream(name: str) -> StreamName | None:
    """``btcusdt@kline_1m`` -> StreamName("btcusdt", "kline", "1m"); None if not a
    stream this simulator knows (the venue would stay silent on it)."""
    sym, _, rest = name.partition("@")
    if not sym or not rest or sym != sym.lower():
        return None
    if "@" + rest in DEPTH_SUFFIXES:
        return StreamName(sym, "depth")
    if rest in ("aggTrade", "trade", "ticker", "bookTicker"):
        return StreamName(sym, rest)
    if rest in ("markPrice", "markPrice@1s"):
        return StreamName(sym, "markPrice", "1s" if rest.endswith("@1s") else "3s")
    if rest.startswith("kline_") and rest[6:] in SIM_INTERVALS:
        return StreamName(sym, "kline", rest[6:])
    return None


def _f8(x: float) -> str:
    return f"{x:.8f}"


# -- websocket events ------------------------------------------------------------------

def depth_update(s: SymbolSim, diff: DepthDiff, event_ms: int) -> dict[str, Any]:
    if s.spec.market == "perp":
        return {"e": "depthUpdate", "E": event_ms, "T": diff.last_change_ms,
                "s": s.spec.symbol, "U": diff.first_id, "u": diff.last_id,
                "pu": diff.prev_last_id, "b": diff.bids, "a": diff.asks}
    return {"e": "depthUpdate", "E": event_ms, "s": s.spec.symbol, "U": diff.first_id,
            "u": diff.last_id, "b": diff.bids, "a": diff.asks}


def agg_trade(s: SymbolSim, f: Fill, event_ms: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"e": "aggTrade", "E": event_ms, "s": s.spec.symbol, "a": f.agg_id,
                           "p": s.price.fmt(f.price), "q": s.qty.fmt(f.qty), "f": f.first_id,
                           "l": f.last_id, "T": f.ts, "m": f.buyer_is_maker}
    if s.spec.market == "spot":
        msg["M"] = True
    return msg


def trades(s: SymbolSim, f: Fill, event_ms: int) -> list[dict[str, Any]]:
    """The individual trades of one aggregate (Binance's ``@trade`` stream)."""
    spot = s.spec.market == "spot"
    px = s.price.fmt(f.price)
    out = []
    for i, part in enumerate(f.parts):
        msg: dict[str, Any] = {"e": "trade", "E": event_ms, "s": s.spec.symbol,
                               "t": f.first_id + i, "p": px, "q": s.qty.fmt(part), "T": f.ts,
                               "m": f.buyer_is_maker}
        if spot:
            msg["M"] = True
        out.append(msg)
    return out


def _quote(s: SymbolSim, units: int) -> str:
    """A ticks x lots amount (quote volume) as an exact decimal string."""
    p, q = s.price, s.qty
    return fmt_fixed(units * p.unit * q.unit, p.decimals + q.decimals)


def kline(s: SymbolSim, interval: str, c: Candle, event_ms: int) -> dict[str, Any]:
    fp, fq = s.price.fmt, s.qty.fmt
    return {"e": "kline", "E": event_ms, "s": s.spec.symbol, "k": {
        "t": c.open_time, "T": c.close_time, "s": s.spec.symbol, "i": interval,
        "f": c.first_trade_id, "L": c.last_trade_id, "o": fp(c.open), "c": fp(c.close),
        "h": fp(c.high), "l": fp(c.low), "v": fq(c.volume), "n": c.trades, "x": c.closed,
        "q": _quote(s, c.quote_volume), "V": fq(c.taker_buy_volume),
        "Q": _quote(s, c.taker_buy_quote), "B": "0"}}


def ticker_24h(s: SymbolSim, st: Stats24h, event_ms: int) -> dict[str, Any]:
    fp, fq = s.price.fmt, s.qty.fmt
    change = st.last - st.open
    pct = 100.0 * change / st.open if st.open else 0.0
    vwap = (st.quote_volume / st.volume) if st.volume else float(st.last)
    msg: dict[str, Any] = {
        "e": "24hrTicker", "E": event_ms, "s": s.spec.symbol, "p": fp(change),
        "P": f"{pct:.3f}", "w": f"{vwap * s.price.step:.{s.price.decimals}f}"}
    if s.spec.market == "spot":
        book = s.book
        bb, ba = book.best_bid(), book.best_ask()
        msg.update({"x": fp(st.prev_close), "c": fp(st.last), "Q": fq(st.last_qty),
                    "b": fp(bb), "B": fq(book.bids[bb]), "a": fp(ba), "A": fq(book.asks[ba])})
    else:
        msg.update({"c": fp(st.last), "Q": fq(st.last_qty)})
    msg.update({"o": fp(st.open), "h": fp(st.high), "l": fp(st.low), "v": fq(st.volume),
                "q": _quote(s, st.quote_volume), "O": st.open_time, "C": st.close_time,
                "F": st.first_id, "L": st.last_id, "n": st.count})
    return msg


# the REST ticker's names for the stream ticker's fields, in the venue's order
_REST_TICKER = (("s", "symbol"), ("p", "priceChange"), ("P", "priceChangePercent"),
                ("w", "weightedAvgPrice"), ("x", "prevClosePrice"), ("c", "lastPrice"),
                ("Q", "lastQty"), ("b", "bidPrice"), ("B", "bidQty"), ("a", "askPrice"),
                ("A", "askQty"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"),
                ("v", "volume"), ("q", "quoteVolume"), ("O", "openTime"), ("C", "closeTime"),
                ("F", "firstId"), ("L", "lastId"), ("n", "count"))


def ticker_24h_rest(s: SymbolSim, st: Stats24h, turnover: float, now_ms: int) -> dict[str, Any]:
    """One entry of ``GET /api/v3/ticker/24hr`` (or ``/fapi/v1``): the stream ticker's
    figures under the REST names, with the universe's 24h turnover as quote volume (and
    the base volume it implies at the last price)."""
    ws = ticker_24h(s, st, now_ms)
    ws["q"] = f"{turnover:.4f}"
    last = s.price.to_float(st.last)
    ws["v"] = f"{turnover / last:.{s.qty.decimals}f}" if last > 0 else "0"
    return {rest: ws[short] for short, rest in _REST_TICKER if short in ws}


def mark_price(s: SymbolSim, m: MarkInfo, event_ms: int) -> dict[str, Any]:
    return {"e": "markPriceUpdate", "E": event_ms, "s": s.spec.symbol, "p": _f8(m.mark),
            "i": _f8(m.index), "P": _f8(m.settle), "r": _f8(m.funding_rate),
            "T": m.next_funding_ms}


def book_ticker(s: SymbolSim, event_ms: int) -> dict[str, Any]:
    book = s.book
    bb, ba = book.best_bid(), book.best_ask()
    top = {"b": s.price.fmt(bb), "B": s.qty.fmt(book.bids[bb]), "a": s.price.fmt(ba),
           "A": s.qty.fmt(book.asks[ba])}
    if s.spec.market == "spot":
        return {"u": book.update_id, "s": s.spec.symbol, **top}
    return {"e": "bookTicker", "u": book.update_id, "E": event_ms, "T": event_ms,
            "s": s.spec.symbol, **top}


# -- REST ------------------------------------------------------------------------------

def kline_row(s: SymbolSim, c: Candle) -> list[Any]:
    fp, fq = s.price.fmt, s.qty.fmt
    return [c.open_time, fp(c.open), fp(c.high), fp(c.low), fp(c.close), fq(c.volume),
            c.close_time, _quote(s, c.quote_volume), c.trades, fq(c.taker_buy_volume),
            _quote(s, c.taker_buy_quote), "0"]


def _filters(s: SymbolSim) -> list[dict[str, Any]]:
    fp, fq = s.price.fmt, s.qty.fmt
    max_price = s.price.count(s.spec.start_price * 100)
    max_qty = s.qty.count(10_000_000 / s.spec.start_price)
    price_filter = {"filterType": "PRICE_FILTER", "minPrice": fp(1),
                    "maxPrice": fp(max_price), "tickSize": fp(1)}
    lot_size = {"filterType": "LOT_SIZE", "minQty": fq(1), "maxQty": fq(max_qty),
                "stepSize": fq(1)}
    notional = f"{s.spec.min_notional:.8f}"
    if s.spec.market == "spot":
        return [price_filter, lot_size,
                {"filterType": "NOTIONAL", "minNotional": notional, "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
                 "avgPriceMins": 5}]
    # The real USD-M filter names the field "notional"; "minNotional" is added so a
    # parser written against either spelling works.
    return [price_filter, lot_size,
            {"filterType": "MARKET_LOT_SIZE", "minQty": fq(1), "maxQty": fq(max_qty),
             "stepSize": fq(1)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": notional, "minNotional": notional},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"}]


_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
]


def exchange_info_spot(sims: list[SymbolSim], now_ms: int) -> dict[str, Any]:
    return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": _RATE_LIMITS,
            "exchangeFilters": [], "symbols": [{
                "symbol": s.spec.symbol, "status": "TRADING", "baseAsset": s.spec.base,
                "baseAssetPrecision": 8, "quoteAsset": s.spec.quote, "quotePrecision": 8,
                "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": _filters(s), "permissions": [],
                "permissionSets": [["SPOT"]]} for s in sims]}


def exchange_info_usdm(sims: list[SymbolSim], now_ms: int) -> dict[str, Any]:
    return {"timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
            "rateLimits": _RATE_LIMITS, "exchangeFilters": [],
            "assets": sorted(({"asset": q, "marginAvailable": True}
                              for q in {s.spec.quote for s in sims}),
                             key=lambda a: str(a["asset"])),
            "symbols": [{
                "symbol": s.spec.symbol, "pair": s.spec.symbol, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                "status": "TRADING", "baseAsset": s.spec.base, "quoteAsset": s.spec.quote,
                "marginAsset": s.spec.quote, "pricePrecision": s.price.decimals,
                "quantityPrecision": s.qty.decimals, "baseAssetPrecision": 8,
                "quotePrecision": 8, "underlyingType": "COIN", "settlePlan": 0,
                "filters": _filters(s),
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                               "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"]} for s in sims]}


def premium_index(s: SymbolSim, m: MarkInfo, now_ms: int) -> dict[str, Any]:
    return {"symbol": s.spec.symbol, "markPrice": _f8(m.mark), "indexPrice": _f8(m.index),
            "estimatedSettlePrice": _f8(m.settle), "lastFundingRate": _f8(m.funding_rate),
            "interestRate": "0.00010000", "nextFundingTime": m.next_funding_ms,
            "time": now_ms}
