"""Coinbase Advanced Trade wire shapes for the simulator's model state: pure functions.

Field names, order and string formatting follow Coinbase's published payloads (numbers
as strings, nanosecond ISO timestamps, candle starts in seconds), so a codec tested
against the sim sees what the venue sends.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from app.sim.candles import Candle
from app.sim.market import Fill, SymbolSim

# Channels a client may subscribe; level2 data goes out on channel "l2_data".
CHANNELS = ("level2", "market_trades", "ticker", "candles", "heartbeats")
# REST granularities -> simulator intervals (SIX_HOUR exists on Coinbase, not in the sim).
GRANULARITY = {"ONE_MINUTE": "1m", "FIVE_MINUTE": "5m", "FIFTEEN_MINUTE": "15m",
               "THIRTY_MINUTE": "30m", "ONE_HOUR": "1h", "TWO_HOUR": "2h", "ONE_DAY": "1d"}


def iso(ms: int) -> str:
    """Epoch ms -> ``2026-01-01T12:34:56.789000000Z`` (Coinbase writes nanoseconds)."""
    dt = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}000000Z"


def frame_parts(channel: str, ts_ms: int, events: bytes) -> tuple[bytes, bytes]:
    """A message split around its ``sequence_num`` value, which differs per connection:
    the events are encoded once and only the number is written per client."""
    head = (f'{{"channel":"{channel}","client_id":"","timestamp":"{iso(ts_ms)}",'
            f'"sequence_num":').encode()
    return head, b',"events":' + events + b"}"


def l2_levels(side: str, levels: list[list[str]], event_time: str, zero: str) -> list[dict[str, str]]:
    """Levels as level2 updates; a deleted level is ``"0"``, as Coinbase writes it."""
    return [{"side": side, "event_time": event_time, "price_level": p,
             "new_quantity": "0" if q == zero else q} for p, q in levels]


def l2_event(kind: str, product_id: str, bids: list[list[str]], asks: list[list[str]],
             event_time: str, zero: str) -> dict[str, Any]:
    return {"type": kind, "product_id": product_id,
            "updates": l2_levels("bid", bids, event_time, zero) + l2_levels("offer", asks, event_time, zero)}


def maker_side(f: Fill) -> str:
    """Coinbase's market_trades ``side`` is the maker's: a taker sell hit a resting BUY."""
    return "BUY" if f.buyer_is_maker else "SELL"


def trades(s: SymbolSim, product_id: str, f: Fill) -> list[dict[str, Any]]:
    """The individual trades (one per maker order) of one fill, oldest first."""
    px, t = s.price.fmt(f.price), iso(f.ts)
    side = maker_side(f)
    return [{"product_id": product_id, "trade_id": str(f.first_id + i), "price": px,
             "size": s.qty.fmt(part), "time": t, "side": side} for i, part in enumerate(f.parts)]


def ticker(s: SymbolSim, product_id: str, now_ms: int) -> dict[str, Any]:
    st = s.stats(now_ms)
    fp, fq = s.price.fmt, s.qty.fmt
    book = s.book
    bb, ba = book.best_bid(), book.best_ask()
    pct = 100.0 * (st.last - st.open) / st.open if st.open else 0.0
    return {"type": "ticker", "product_id": product_id, "price": fp(st.last),
            "volume_24_h": fq(st.volume), "low_24_h": fp(st.low), "high_24_h": fp(st.high),
            "low_52_w": fp(st.low), "high_52_w": fp(st.high),
            "price_percent_chg_24_h": f"{pct:.14f}", "best_bid": fp(bb), "best_ask": fp(ba),
            "best_bid_quantity": fq(book.bids[bb]), "best_ask_quantity": fq(book.asks[ba])}


def candle(s: SymbolSim, product_id: str, c: Candle) -> dict[str, Any]:
    fp = s.price.fmt
    return {"start": str(c.open_time // 1000), "high": fp(c.high), "low": fp(c.low),
            "open": fp(c.open), "close": fp(c.close), "volume": s.qty.fmt(c.volume),
            "product_id": product_id}


def candle_row(s: SymbolSim, c: Candle) -> dict[str, Any]:
    fp = s.price.fmt
    return {"start": str(c.open_time // 1000), "low": fp(c.low), "high": fp(c.high),
            "open": fp(c.open), "close": fp(c.close), "volume": s.qty.fmt(c.volume)}


def product(s: SymbolSim, product_id: str, now_ms: int, alias_of: str = "",
            aliases: list[str] | None = None, turnover: float | None = None) -> dict[str, Any]:
    """One entry of ``/api/v3/brokerage/market/products``. ``alias_of`` makes it an alias
    product served from another's book (BTC-USDC -> BTC-USD)."""
    st = s.stats(now_ms)
    fp, fq = s.price.fmt, s.qty.fmt
    spec = s.spec
    quote_ccy = "USDC" if alias_of else spec.quote
    pct = 100.0 * (st.last - st.open) / st.open if st.open else 0.0
    # 24h volumes: the universe's turnover where given (what ranks the top markets)
    last = s.price.to_float(st.last)
    volume = fq(st.volume) if turnover is None or last <= 0 else f"{turnover / last:.8f}"
    quote_volume = "" if turnover is None else f"{turnover:.4f}"
    return {
        "product_id": product_id, "price": fp(st.last), "price_percentage_change_24h": f"{pct:.8f}",
        "volume_24h": volume, "volume_percentage_change_24h": "0",
        "approximate_quote_24h_volume": quote_volume,
        "base_increment": fq(1), "quote_increment": fp(1),
        "quote_min_size": f"{spec.min_notional:g}", "quote_max_size": "50000000",
        "base_min_size": fq(1), "base_max_size": f"{10_000_000 / spec.start_price:.8f}",
        "base_name": spec.base, "quote_name": quote_ccy, "watched": False, "is_disabled": False,
        "new": False, "status": "online", "cancel_only": False, "limit_only": False,
        "post_only": False, "trading_disabled": False, "auction_mode": False,
        "product_type": "SPOT", "quote_currency_id": quote_ccy, "base_currency_id": spec.base,
        "mid_market_price": "", "alias": alias_of, "alias_to": aliases or [],
        "base_display_symbol": spec.base, "quote_display_symbol": quote_ccy, "view_only": False,
        "price_increment": fp(1), "display_name": product_id, "product_venue": "CBE"}


def product_book(s: SymbolSim, product_id: str, limit: int, now_ms: int) -> dict[str, Any]:
    book = s.book
    return {"pricebook": {
        "product_id": product_id,
        "bids": [{"price": p, "size": q} for p, q in book.levels(True, limit)],
        "asks": [{"price": p, "size": q} for p, q in book.levels(False, limit)],
        "time": iso(now_ms)}}
