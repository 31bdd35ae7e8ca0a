"""Normalized market events (DESIGN.md shapes).

Market data values are floats; timestamps are integer epoch milliseconds (UTC).
Fields a venue does not send are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

Side = Literal["buy", "sell"]
Level = tuple[float, float]


@dataclass(slots=True)
class Trade:
    id: str
    ts: int
    price: float
    amount: float
    side: Side  # taker side
    trade_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "trade", "id": self.id, "ts": self.ts, "price": self.price,
                "amount": self.amount, "side": self.side, "trade_id": self.trade_id}


@dataclass(slots=True)
class Kline:
    id: str
    interval: str
    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool = False
    # the store's word: the recording covered only part of this candle's interval (never
    # set by venues; not part of the event JSON)
    partial: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"type": "kline", "id": self.id, "interval": self.interval,
                "open_time": self.open_time, "open": self.open, "high": self.high,
                "low": self.low, "close": self.close, "volume": self.volume,
                "closed": self.closed}


@dataclass(slots=True)
class Ticker:
    id: str
    ts: int
    last: float | None = None
    bid: float | None = None
    ask: float | None = None
    high_24h: float | None = None
    low_24h: float | None = None
    volume_24h: float | None = None
    open_24h: float | None = None  # lets the UI show the 24 h change
    # 24 h turnover in quote units where the venue says it (Binance q, Bybit turnover24h,
    # OKX spot volCcy24h); not part of the event JSON, whose shape DESIGN.md fixes
    quote_volume_24h: float | None = None

    @property
    def change_pct(self) -> float | None:
        if self.last is None or not self.open_24h:
            return None
        return (self.last - self.open_24h) / self.open_24h * 100.0

    @property
    def quote_turnover(self) -> float | None:
        """24 h turnover in quote units: the venue's figure, else base volume x last."""
        if self.quote_volume_24h is not None:
            return self.quote_volume_24h
        if self.volume_24h is None or self.last is None:
            return None
        return self.volume_24h * self.last

    def to_json(self) -> dict[str, Any]:
        return {"type": "ticker", "id": self.id, "ts": self.ts, "last": self.last,
                "bid": self.bid, "ask": self.ask, "high_24h": self.high_24h,
                "low_24h": self.low_24h, "volume_24h": self.volume_24h,
                "open_24h": self.open_24h}


@dataclass(slots=True)
class Funding:
    id: str
    ts: int
    rate: float | None = None
    next_funding_time: int | None = None
    mark_price: float | None = None
    index_price: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": "funding", "id": self.id, "ts": self.ts, "rate": self.rate,
                "next_funding_time": self.next_funding_time,
                "mark_price": self.mark_price, "index_price": self.index_price}


@dataclass(slots=True)
class BookTop:
    """The top of a book as emitted to users: best first on both sides."""

    id: str
    ts: int
    bids: list[Level]
    asks: list[Level]

    def to_json(self) -> dict[str, Any]:
        return {"type": "book", "id": self.id, "ts": self.ts,
                "bids": [list(level) for level in self.bids],
                "asks": [list(level) for level in self.asks]}


MarketEvent = Union[Trade, Kline, Ticker, Funding, BookTop]
