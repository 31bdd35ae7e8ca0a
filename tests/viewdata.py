"""Builders of plain InstrumentView data for widget and UI tests (no engine involved)."""

from __future__ import annotations

from collections.abc import Sequence

from app.feeds.health import HealthView
from app.feeds.views import InstrumentView
from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.market.orderbook import LadderRow

BTC_SPOT = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT", tick_size=0.01, lot_size=0.00001)
ETH_PERP = Instrument("okx", "perp", "ETH", "USDT", "ETH-USDT-SWAP", tick_size=0.01, lot_size=0.001)
SOL_SPOT = Instrument("bybit", "spot", "SOL", "USDT", "SOLUSDT", tick_size=0.001, lot_size=0.01)

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


def ladder(levels: Sequence[tuple[float, float]]) -> tuple[LadderRow, ...]:
    """Rows with cumulative sizes from ``(price, size)`` pairs given best first."""
    rows = []
    total = 0.0
    for price, size in levels:
        total += size
        rows.append(LadderRow(price, size, total))
    return tuple(rows)


def book_levels(best_bid: float, best_ask: float, step: float, count: int = 20,
                size: float = 0.5) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """``count`` bids and asks spaced by ``step``; sizes grow away from the touch."""
    bids = [(round(best_bid - i * step, 8), round(size * (i + 1), 8)) for i in range(count)]
    asks = [(round(best_ask + i * step, 8), round(size * (i + 1), 8)) for i in range(count)]
    return bids, asks


def make_klines(instrument: Instrument, count: int, interval: str = "1m",
                start: int = T0, price: float = 30_000.0) -> tuple[Kline, ...]:
    """A deterministic zig-zag series of ``count`` klines; the last one is open."""
    step = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}[interval]
    klines = []
    for i in range(count):
        open_ = price + (i % 7) * 10.0 - (i % 3) * 12.0
        close = open_ + (15.0 if i % 2 else -9.0)
        klines.append(Kline(instrument.id, interval, start + i * step, open_,
                            max(open_, close) + 6.0, min(open_, close) - 4.0, close,
                            1.0 + (i % 5), closed=i < count - 1))
    return tuple(klines)


def make_view(instrument: Instrument = BTC_SPOT, *, seq: int = 1, synced: bool = True,
              bids: Sequence[tuple[float, float]] = (), asks: Sequence[tuple[float, float]] = (),
              ticker: Ticker | None = None, trades: Sequence[Trade] = (),
              klines: Sequence[Kline] = (), interval: str = "1m",
              funding: Funding | None = None, health: HealthView | None = None) -> InstrumentView:
    """An InstrumentView from plain levels (best first), trades (newest first) and klines."""
    bid_rows, ask_rows = ladder(bids), ladder(asks)
    return InstrumentView(
        instrument=instrument, seq=seq, synced=synced, bids=bid_rows, asks=ask_rows,
        best_bid=bid_rows[0].price if bid_rows else None,
        best_ask=ask_rows[0].price if ask_rows else None,
        ticker=ticker, trades=tuple(trades), klines=tuple(klines), interval=interval,
        funding=funding, health=health)


def make_health(name: str = "binance spot", state: str = "connected", *, age: float | None = 0.1,
                rate: float = 42.0, gaps: int = 0, resyncs: int = 0, reconnects: int = 0,
                unsynced: tuple[str, ...] = (), error: str | None = None) -> HealthView:
    return HealthView(name, state, age, rate, 1000, gaps, resyncs, reconnects,  # type: ignore[arg-type]
                      unsynced, error)
