from app.sim.market import SimMarket, SimSymbol
from app.sim.underlying import Anchors


def mid(market, sym, mkt="spot"):
    _, bids, asks = market.truth(sym, mkt)
    return (max(bids) + min(asks)) / 2


def run(market, steps, sym):
    for _ in range(steps):
        market.advance(50)
        market.step(sym, "spot")


def test_venues_track_one_underlying_and_can_be_pushed_away():
    anchors = Anchors(seed=3)
    a = SimMarket([SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 30_000.0)], seed=1, start_time_ms=0)
    b = SimMarket([SimSymbol("BTC-USD", "BTC", "USD", "spot", 30_000.0)], seed=2, start_time_ms=0)
    a.anchor_to(anchors, "binance")
    b.anchor_to(anchors, "coinbase")
    run(a, 3000, "BTCUSDT")
    run(b, 3000, "BTC-USD")
    gap = abs(mid(a, "BTCUSDT") - mid(b, "BTC-USD")) / mid(a, "BTCUSDT") * 1e4
    assert gap < 30, f"venues {gap:.1f} bp apart"
    anchors.push_venue("coinbase", 150)
    run(a, 3000, "BTCUSDT")
    run(b, 3000, "BTC-USD")
    gap = (mid(b, "BTC-USD") - mid(a, "BTCUSDT")) / mid(a, "BTCUSDT") * 1e4
    assert 100 < gap < 200, f"pushed venue {gap:.1f} bp away"


def test_underlying_is_order_independent():
    x, y = Anchors(seed=9), Anchors(seed=9)
    ux, uy = x.underlying("ETH", 2000.0), y.underlying("ETH", 2000.0)
    ux.price(0)
    uy.price(0)
    late = ux.price(10_000)
    assert [uy.price(t) for t in (5_000, 10_000)][1] == late
