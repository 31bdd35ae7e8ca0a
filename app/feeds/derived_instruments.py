"""Instruments derived from a capture's own frames, for captures that hold no instrument
list (cut from the middle of a session, or written by another tool).

Only the venue symbol is on the wire: base and quote come from the symbol's form
(``BTC-USDT`` on OKX and Coinbase) or, for Binance and Bybit's ``BTCUSDT``, from a list
of the quote assets those venues list. Tick and lot sizes are not on the wire at all:
derived instruments carry DEFAULT_TICK and DEFAULT_LOT. Neither changes a replayed book
(levels are kept as sent); they only say how an instrument would be traded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from app.market.instruments import Instrument, MarketType

DEFAULT_TICK = 0.01
DEFAULT_LOT = 0.00001
ASSUMED = f"tick size {DEFAULT_TICK} and lot size {DEFAULT_LOT:.5f} (frames do not carry them)"

# Quote assets as those venues list them, longest first so that FDUSD wins over USD-ish
# shorter suffixes and TUSD over nothing.
_SPOT_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDE", "DAI", "BTC", "ETH", "BNB",
                "EUR", "TRY", "BRL", "GBP", "AUD", "JPY", "XRP", "TRX", "DOGE", "SOL")
_PERP_QUOTES = {"binance": ("USDT", "USDC"), "bybit": ("USDT",)}

_UNDERIVABLE = {
    ("okx", "perp"): "okx perp sizes are contracts whose size (ctVal) only the instrument list gives",
}


def underivable(venue: str, market: MarketType) -> str | None:
    """Why this market's instruments cannot be derived from frames, or None if they can."""
    return _UNDERIVABLE.get((venue, market))


def frame_symbols(venue: str, data: str | bytes) -> list[str]:
    """The venue symbols a frame names (empty for control frames and garbage)."""
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    if type(msg) is not dict:
        return []
    if venue == "binance":
        inner = msg.get("data", msg)
        s = inner.get("s") if type(inner) is dict else None
        return [s.upper()] if type(s) is str and s else []
    if venue == "bybit":
        topic = msg.get("topic")
        if type(topic) is str and "." in topic:
            return [topic.rsplit(".", 1)[1].upper()]
        return []
    if venue == "okx":
        arg = msg.get("arg")
        inst_id = arg.get("instId") if type(arg) is dict else None
        return [inst_id.upper()] if type(inst_id) is str and inst_id and "data" in msg else []
    if venue == "coinbase":
        return sorted(set(_coinbase_products(msg.get("events"))))
    return []


def _coinbase_products(events: Any) -> Iterable[str]:
    if type(events) is not list:
        return
    for ev in events:
        if type(ev) is not dict:
            continue
        pid = ev.get("product_id")
        if type(pid) is str and pid:
            yield pid.upper()
        for value in ev.values():  # market_trades' trades, ticker's tickers, candles
            if type(value) is list:
                for item in value:
                    if type(item) is dict and type(item.get("product_id")) is str:
                        yield item["product_id"].upper()


def instrument_for(venue: str, market: MarketType, symbol: str) -> Instrument | None:
    """The instrument a venue symbol names, or None when its form says nothing certain."""
    if underivable(venue, market) is not None:
        return None
    if venue in ("okx", "coinbase"):
        parts = symbol.split("-")
        if len(parts) != 2 or not all(p.isalnum() for p in parts):
            return None  # dated futures, options, swaps on a spot socket
        base, quote = parts
    elif venue in ("binance", "bybit"):
        if not symbol.isalnum():
            return None  # BTCUSDT_240628: a dated future
        quotes = _SPOT_QUOTES if market == "spot" else _PERP_QUOTES.get(venue, ())
        found = next((q for q in quotes if symbol.endswith(q) and len(symbol) > len(q)), None)
        if found is None:
            return None
        quote = found
        base = symbol[:-len(quote)]
    else:
        return None
    return Instrument(venue, market, base, quote, symbol, tick_size=DEFAULT_TICK,
                      lot_size=DEFAULT_LOT)
