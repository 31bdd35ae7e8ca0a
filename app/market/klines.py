"""Kline intervals and aggregation of trades into klines of any interval."""

from __future__ import annotations

from collections.abc import Iterator

from app.market.events import Kline, Trade

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000,
    "1w": 604_800_000,
}


def interval_ms(interval: str) -> int:
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(
            f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_MS)}") from None


def bucket_start(ts: int, interval: str) -> int:
    """Open time of the kline containing ``ts``. Weekly klines open on Monday 00:00 UTC,
    as on the venues (the epoch was a Thursday)."""
    step = interval_ms(interval)
    if interval == "1w":
        monday_offset = 4 * 86_400_000
        return ts - ((ts - monday_offset) % step)
    return ts - (ts % step)


def _extend(k: Kline, trade: Trade) -> None:
    """Fold a trade of its bucket into an open kline."""
    price = trade.price
    if price > k.high:
        k.high = price
    if price < k.low:
        k.low = price
    k.close = price
    k.volume += trade.amount


class KlineAggregator:
    """Builds klines of one interval from a stream of trades of one instrument.

    Minutes (or buckets) without trades produce no kline: a gap stays a gap rather
    than a made-up flat candle, so consumers can tell "no trading" from "flat price".
    Trades older than the open kline are folded into it only if they fall in its
    bucket; late trades for an already closed bucket are ignored (counted in ``late``).
    """

    __slots__ = ("id", "interval", "_step", "current", "late")

    def __init__(self, instrument_id: str, interval: str) -> None:
        self.id = instrument_id
        self.interval = interval
        self._step = interval_ms(interval)
        self.current: Kline | None = None
        self.late = 0

    def add(self, trade: Trade) -> Kline | None:
        """Fold one trade in; returns the kline that closed because of it, if any."""
        start = bucket_start(trade.ts, self.interval)
        cur = self.current
        if cur is not None and start == cur.open_time:
            _extend(cur, trade)
            return None
        if cur is not None and start < cur.open_time:
            self.late += 1
            return None
        closed = cur
        if closed is not None:
            closed.closed = True
        self.current = Kline(self.id, self.interval, start, trade.price, trade.price,
                             trade.price, trade.price, trade.amount, False)
        return closed

    def close_until(self, now_ms: int) -> Kline | None:
        """Close the open kline if its bucket has ended by ``now_ms`` (a clock tick
        with no trades still closes a kline)."""
        cur = self.current
        if cur is not None and now_ms >= cur.open_time + self._step:
            cur.closed = True
            self.current = None
            return cur
        return None


def fold_trade(series: dict[int, Kline], trade: Trade, interval: str) -> bool:
    """Fold a trade into the newest kline of ``series`` (open time -> kline), opening the
    next kline when the trade starts a new bucket. For venues whose stream lacks an
    interval: REST gives the history, this keeps its last candle live. A trade older
    than the newest kline, or in a bucket already closed, changes nothing (False)."""
    start = bucket_start(trade.ts, interval)
    k = series.get(start)
    if k is not None:
        if k.closed:
            return False
        _extend(k, trade)
        return True
    if series:
        newest = max(series)
        if start < newest:
            return False
        series[newest].closed = True
    series[start] = Kline(trade.id, interval, start, trade.price, trade.price, trade.price,
                          trade.price, trade.amount, False)
    return True


def aggregate(trades: list[Trade], instrument_id: str, interval: str) -> Iterator[Kline]:
    """All klines of ``trades`` (time-ordered); the last one is left open."""
    agg = KlineAggregator(instrument_id, interval)
    for trade in trades:
        closed = agg.add(trade)
        if closed is not None:
            yield closed
    if agg.current is not None:
        yield agg.current
