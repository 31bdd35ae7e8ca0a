"""The synthetic market model: determinism, book invariants, trades vs book, diffs."""

from __future__ import annotations

import pytest

from app.market.klines import INTERVAL_MS, bucket_start
from app.sim.market import (FUNDING_PERIOD_MS, SIM_INTERVALS, SimMarket, SimSymbol,
                            default_demo_symbols)
from app.sim.units import Scale

T0 = 1_767_270_896_000  # 2026-01-01 12:34:56 UTC

BTC = SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 97_000.0, 0.01, 0.00001)
ETH_PERP = SimSymbol("ETHUSDT", "ETH", "USDT", "perp", 3_400.0, 0.01, 0.001)


def run(m: SimMarket, steps: int, every_ms: int = 50) -> list:
    """Drive every symbol; returns everything observable, for comparisons."""
    seen = []
    for i in range(steps):
        if i % 10 == 0:
            m.advance(every_ms)
        for market, symbol in m.keys():
            fills = m.step(symbol, market)
            seen.append([(f.agg_id, f.price, f.qty, f.parts, f.buyer_is_maker) for f in fills])
            if i % 7 == 0:
                d = m.take_diff(symbol, market)
                seen.append(None if d is None else (d.first_id, d.last_id, d.bids, d.asks))
    return seen


def apply(book: dict[float, float], levels: list[list[str]]) -> None:
    for price, qty in levels:
        if float(qty) == 0:
            book.pop(float(price), None)
        else:
            book[float(price)] = float(qty)


def test_scale_formats_exact_wire_strings() -> None:
    assert Scale.of(0.01).fmt(3_000_010) == "30000.10"
    assert Scale.of(0.00001).fmt(12_345) == "0.12345"
    assert Scale.of(0.1).fmt(970_505) == "97050.5"
    assert Scale.of(1.0).fmt(42) == "42"
    assert Scale.of(0.25).fmt(3) == "0.75"
    assert Scale.of(0.001).fmt(0) == "0.000"
    assert Scale.of(0.01).count(97_000.0) == 9_700_000


def test_same_seed_same_market_different_seed_differs() -> None:
    syms = default_demo_symbols()
    a = run(SimMarket(syms, seed=5, start_time_ms=T0), 400)
    b = run(SimMarket(syms, seed=5, start_time_ms=T0), 400)
    c = run(SimMarket(syms, seed=6, start_time_ms=T0), 400)
    assert a == b
    assert a != c
    ma, mb = SimMarket(syms, seed=5, start_time_ms=T0), SimMarket(syms, seed=5, start_time_ms=T0)
    run(ma, 100)
    run(mb, 100)
    assert ma.truth("BTCUSDT", "spot") == mb.truth("BTCUSDT", "spot")
    assert ma.snapshot("ETHUSDT", 50, "perp") == mb.snapshot("ETHUSDT", 50, "perp")


def test_book_never_crosses_and_keeps_depth() -> None:
    m = SimMarket([BTC, ETH_PERP], seed=11, start_time_ms=T0, levels=200)
    for i in range(6000):
        for market, symbol in m.keys():
            m.step(symbol, market)
            book = m.sim(symbol, market).book
            assert book.best_bid() < book.best_ask()
        if i % 500 == 0:
            for market, symbol in m.keys():
                _, bids, asks = m.truth(symbol, market)
                assert len(bids) >= 200 and len(asks) >= 200
                assert max(bids) < min(asks)
    for market, symbol in m.keys():
        snap = m.snapshot(symbol, 5000, market)
        assert len(snap["bids"]) >= 200 and len(snap["asks"]) >= 200
        bid_prices = [float(p) for p, _ in snap["bids"]]
        ask_prices = [float(p) for p, _ in snap["asks"]]
        assert bid_prices == sorted(bid_prices, reverse=True)
        assert ask_prices == sorted(ask_prices)
        for p, q in snap["bids"] + snap["asks"]:
            assert len(p.split(".")[1]) == 2 and float(q) > 0


def test_trades_consume_the_book_they_print_against() -> None:
    m = SimMarket([BTC], seed=3, start_time_ms=T0)
    sim = m.sim("BTCUSDT")
    checked = 0
    for _ in range(3000):
        bids_before, asks_before = dict(sim.book.bids), dict(sim.book.asks)
        fills = m.step("BTCUSDT")
        if not fills:
            continue
        buy = not fills[0].buyer_is_maker
        assert all((not f.buyer_is_maker) == buy for f in fills)
        before, after = (asks_before, sim.book.asks) if buy else (bids_before, sim.book.bids)
        prices = [f.price for f in fills]
        # A buyer walks the asks upwards from the best, a seller the bids downwards.
        assert prices[0] == (min(before) if buy else max(before))
        assert prices == (sorted(prices) if buy else sorted(prices, reverse=True))
        for f in fills:
            assert sum(f.parts) == f.qty and f.last_id - f.first_id + 1 == len(f.parts)
            assert before[f.price] - after.get(f.price, 0) == f.qty
        checked += 1
        if checked % 50 == 0:
            # The float view the tests and clients compare agrees with the integer book.
            _, true_bids, true_asks = m.truth("BTCUSDT")
            side = true_asks if buy else true_bids
            for f in fills:
                left = after.get(f.price, 0)
                assert side.get(sim.price.to_float(f.price), 0.0) == sim.qty.to_float(left)
    assert checked > 100


def test_trade_and_agg_ids_are_contiguous() -> None:
    m = SimMarket([BTC], seed=8, start_time_ms=T0)
    prev = None
    for _ in range(2000):
        for f in m.step("BTCUSDT"):
            if prev is not None:
                assert f.agg_id == prev.agg_id + 1
                assert f.first_id == prev.last_id + 1
            prev = f
    assert prev is not None


@pytest.mark.parametrize("spec", [BTC, ETH_PERP])
def test_diff_windows_applied_to_snapshot_reproduce_truth(spec: SimSymbol) -> None:
    m = SimMarket([spec], seed=21, start_time_ms=T0)
    m.warm_up(200, 10)
    snap = m.snapshot(spec.symbol, 5000)
    bids = {float(p): float(q) for p, q in snap["bids"]}
    asks = {float(p): float(q) for p, q in snap["asks"]}
    local = snap["lastUpdateId"]
    windows = 0
    for i in range(3000):
        m.step(spec.symbol)
        if i % 13 == 0:
            m.advance(100)
            diff = m.take_diff(spec.symbol)
            if diff is None:
                continue
            if spec.market == "spot":
                assert diff.first_id == local + 1  # spot ids are contiguous
            else:
                assert diff.prev_last_id == local and diff.first_id > local  # pu chains
            apply(bids, diff.bids)
            apply(asks, diff.asks)
            local = diff.last_id
            windows += 1
    last = m.take_diff(spec.symbol)
    if last is not None:
        apply(bids, last.bids)
        apply(asks, last.asks)
        local = last.last_id
    truth_id, true_bids, true_asks = m.truth(spec.symbol)
    assert windows > 100
    assert local == truth_id
    assert bids == true_bids and asks == true_asks


def test_perp_update_ids_jump_but_spot_ids_do_not() -> None:
    m = SimMarket([BTC, ETH_PERP], seed=2, start_time_ms=T0)
    for _ in range(50):
        m.step("BTCUSDT")
        m.step("ETHUSDT")
    spot, perp = m.take_diff("BTCUSDT"), m.take_diff("ETHUSDT")
    assert spot is not None and perp is not None
    assert spot.first_id == spot.prev_last_id + 1
    assert spot.last_id - spot.first_id + 1 >= len(spot.bids) + len(spot.asks)
    assert perp.last_id - perp.prev_last_id > len(perp.bids) + len(perp.asks)  # gaps in ids
    assert spot.prev_last_id >= 10_000_000


def test_snapshot_shapes() -> None:
    m = SimMarket([BTC, ETH_PERP], seed=1, start_time_ms=T0)
    spot = m.snapshot("BTCUSDT", 5)
    assert list(spot) == ["lastUpdateId", "bids", "asks"]
    assert len(spot["bids"]) == 5 and len(spot["asks"]) == 5
    assert all(isinstance(p, str) and isinstance(q, str) for p, q in spot["bids"])
    perp = m.snapshot("ETHUSDT", 10)
    assert list(perp) == ["lastUpdateId", "E", "T", "bids", "asks"]
    assert perp["E"] == T0


def test_ambiguous_symbol_needs_market() -> None:
    m = SimMarket(default_demo_symbols(), seed=1, start_time_ms=T0)
    with pytest.raises(KeyError):
        m.truth("BTCUSDT")
    assert m.truth("SOLUSDT")[0] > 0
    assert m.truth("BTCUSDT", "perp")[0] != m.truth("BTCUSDT", "spot")[0]


def test_kline_history_ends_at_start_price_and_live_candles_follow_trades() -> None:
    m = SimMarket([BTC], seed=4, start_time_ms=T0)
    sim = m.sim("BTCUSDT")
    start_ticks = sim.price.count(97_000.0)
    for iv in SIM_INTERVALS:
        rows = m.klines("BTCUSDT", iv, limit=500)
        assert len(rows) == 500
        assert rows[-1].open_time == bucket_start(T0, iv) and not rows[-1].closed
        assert rows[-2].close == start_ticks and rows[-2].closed
        assert all(b.open_time - a.open_time == INTERVAL_MS[iv] for a, b in zip(rows, rows[1:]))
        assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close)
                   for c in rows)
    volume = 0
    for _ in range(500):
        volume += sum(f.qty for f in m.step("BTCUSDT"))
    live = m.klines("BTCUSDT", "1m", limit=1)[0]
    assert live.volume == volume and live.close == sim.last_price
    # Crossing the minute closes the candle and opens a flat one at its close.
    closed = m.advance(bucket_start(T0, "1m") + 60_000 - T0)
    closed_1m = [c for c in closed if c.interval == "1m"]
    assert len(closed_1m) == 1 and closed_1m[0].candle.closed
    assert closed_1m[0].candle.volume == volume
    now = m.klines("BTCUSDT", "1m", limit=2)
    assert now[0].open_time == live.open_time and now[1].open == live.close
    assert now[1].volume == 0 and now[1].first_trade_id == -1


def test_kline_query_selection_like_binance() -> None:
    m = SimMarket([BTC], seed=4, start_time_ms=T0)
    cur = bucket_start(T0, "1h")
    hour = INTERVAL_MS["1h"]
    rows = m.klines("BTCUSDT", "1h", start_ms=cur - 10 * hour, limit=3)
    assert [r.open_time for r in rows] == [cur - 10 * hour, cur - 9 * hour, cur - 8 * hour]
    rows = m.klines("BTCUSDT", "1h", end_ms=cur - 5 * hour, limit=2)
    assert [r.open_time for r in rows] == [cur - 6 * hour, cur - 5 * hour]
    rows = m.klines("BTCUSDT", "1h", start_ms=cur - 2 * hour, end_ms=cur - hour, limit=10)
    assert [r.open_time for r in rows] == [cur - 2 * hour, cur - hour]
    # beyond the recent past the deep history answers, in the same selection
    rows = m.klines("BTCUSDT", "1h", start_ms=cur - 10_000 * hour, end_ms=cur - 9_000 * hour, limit=10)
    assert [r.open_time for r in rows] == [cur - (10_000 - i) * hour for i in range(10)]
    rows = m.klines("BTCUSDT", "1h", end_ms=cur - 9_000 * hour, limit=3)
    assert [r.open_time for r in rows] == [cur - 9_002 * hour, cur - 9_001 * hour, cur - 9_000 * hour]


def test_deep_history_is_continuous_and_the_same_on_every_run() -> None:
    """180 days of 1m behind the recent past: every minute once, each open the previous
    close; and a range well in the past reads the same from a sim started a day later,
    whatever else was asked first."""
    step = INTERVAL_MS["1m"]
    m = SimMarket([BTC], seed=4, start_time_ms=T0)
    since = bucket_start(T0 - 180 * 86_400_000, "1m")
    got, cursor = [], since
    while cursor <= T0:
        page = m.klines("BTCUSDT", "1m", start_ms=cursor, limit=1000)
        got += page
        cursor = page[-1].open_time + step
    assert [c.open_time for c in got] == list(range(since, got[-1].open_time + step, step))
    assert got[-1].open_time == bucket_start(T0, "1m")
    assert all(b.open == a.close and b.low <= min(b.open, b.close) for a, b in zip(got, got[1:]))
    later = SimMarket([BTC], seed=4, start_time_ms=T0 + 86_400_000)
    later.klines("BTCUSDT", "1m", start_ms=since + 777 * step, limit=5)  # another range first
    again = later.klines("BTCUSDT", "1m", start_ms=since + 5_000 * step, end_ms=since + 9_000 * step,
                         limit=1000)
    assert again == got[5_000:6_000]
    assert m.klines("BTCUSDT", "1m", start_ms=since + 5_000 * step, limit=1000) == again


def test_stats_and_mark() -> None:
    m = SimMarket([BTC, ETH_PERP], seed=9, start_time_ms=T0)
    for _ in range(300):
        m.step("BTCUSDT")
        m.step("ETHUSDT")
    st = m.stats("BTCUSDT")
    assert st.low <= st.open <= st.high and st.low <= st.last <= st.high
    assert st.volume > 0 and st.count > 0 and st.last_id - st.first_id + 1 == st.count
    assert st.close_time - st.open_time == 86_400_000
    mk = m.mark("ETHUSDT")
    book = m.sim("ETHUSDT").book
    mid = (book.best_bid() + book.best_ask()) / 2 * 0.01
    assert abs(mk.mark - mid) < 1e-6
    assert 0 < (mk.mark - mk.index) / mk.mark < 0.002
    assert -0.001 < mk.funding_rate < 0.001
    assert mk.next_funding_ms % FUNDING_PERIOD_MS == 0
    assert 0 < mk.next_funding_ms - T0 <= FUNDING_PERIOD_MS
    with pytest.raises(KeyError):
        m.mark("BTCUSDT")


def test_sim_package_never_imports_textual() -> None:
    import subprocess
    import sys
    code = ("import sys; sys.modules['textual'] = None; "
            "import app.sim, app.sim.binance_server, app.sim.market")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
