import pytest

from app.market.events import Kline, Trade
from app.market.klines import KlineAggregator, aggregate, bucket_start, fold_trade, interval_ms


def t(ts, price, amount=1.0):
    return Trade("cryptopair_binance_btcusdt", ts, price, amount, "buy", None)


def test_ohlcv_per_minute_and_gaps_stay_absent():
    trades = [t(60_000, 10), t(61_000, 12), t(62_000, 9), t(119_999, 11, 2),
              # minute 2 has no trades: no kline is invented for it
              t(180_500, 13, 0.5)]
    ks = list(aggregate(trades, "x", "1m"))
    assert [(k.open_time, k.open, k.high, k.low, k.close, k.volume, k.closed) for k in ks] == [
        (60_000, 10, 12, 9, 11, 5.0, True),
        (180_000, 13, 13, 13, 13, 0.5, False),
    ]


def test_any_interval_and_late_trades():
    agg = KlineAggregator("x", "5m")
    assert agg.add(t(300_000, 1)) is None
    assert agg.add(t(599_999, 2)) is None
    closed = agg.add(t(600_000, 3))
    assert closed is not None and closed.closed and closed.high == 2 and closed.open_time == 300_000
    assert agg.add(t(100, 99)) is None  # late: belongs to a closed bucket
    assert agg.late == 1 and agg.current.high == 3
    assert agg.close_until(900_000).open_time == 600_000
    assert agg.current is None


def test_weekly_buckets_start_on_monday():
    monday = 1_699_833_600_000  # 2023-11-13 00:00 UTC, a Monday
    assert bucket_start(monday + 3 * 86_400_000, "1w") == monday


def test_unknown_interval():
    with pytest.raises(ValueError, match="unknown interval"):
        interval_ms("7m")


def test_fold_trade_keeps_the_newest_rest_candle_live():
    m = 60_000
    series = {0: Kline("x", "1m", 0, 10.0, 12.0, 9.0, 11.0, 5.0, True),
              m: Kline("x", "1m", m, 11.0, 11.5, 10.5, 11.2, 2.0, False)}

    assert fold_trade(series, t(m + 5, 13.0), "1m")
    k = series[m]
    assert (k.high, k.low, k.close, k.volume) == (13.0, 10.5, 13.0, 3.0)
    assert not fold_trade(series, t(10, 99.0), "1m")  # a closed bucket stays as REST had it
    assert fold_trade(series, t(2 * m + 1, 12.5, 0.5), "1m")  # a new bucket opens...
    assert series[m].closed and not series[2 * m].closed  # ...and closes the one before
    new = series[2 * m]
    assert (new.open, new.high, new.low, new.close, new.volume) == (12.5, 12.5, 12.5, 12.5, 0.5)
    assert not fold_trade(series, t(m + 9, 1.0), "1m")  # late for a closed bucket
    assert fold_trade({}, t(5, 7.0), "15m")
