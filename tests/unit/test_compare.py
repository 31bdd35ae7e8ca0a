from app.market.compare import Summary, alerts, build_rows
from app.market.instruments import Instrument


def s(venue, market, quote, bid, ask, mark=None, rate=None):
    inst = Instrument(venue, market, "BTC", quote, "x")
    return Summary(inst, (bid + ask) / 2, bid, ask, True, rate, None, mark, "connected", 0.1)


def test_rows_by_family_with_deviation_basis_and_alerts():
    rows = build_rows([
        s("binance", "spot", "USDT", 99.9, 100.1),
        s("okx", "spot", "USDT", 99.95, 100.05),
        s("coinbase", "spot", "USD", 101.0, 101.2),  # 110 bps above the median
        s("binance", "perp", "USDT", 100.2, 100.4, mark=100.3, rate=0.0001),
        s("bybit", "perp", "USDT", 100.1, 100.3),
    ], threshold_bps=50)
    assert [r.label for r in rows] == ["BTC/USD* spot", "BTC/USD* perp"]
    spot, perp = rows
    assert spot.median == 100.0
    assert round(spot.cells["coinbase"].deviation_bps) == 110
    assert spot.cells["coinbase"].alert and not spot.cells["binance"].alert
    assert round(perp.cells["binance"].basis_bps) == 30  # mark against binance spot
    assert round(perp.cells["bybit"].basis_bps) == 20  # no bybit spot: against the median
    assert alerts(rows) == [("BTC/USD* spot", "coinbase", spot.cells["coinbase"].deviation_bps)]


def test_single_venue_never_alerts_and_unsynced_uses_last():
    one = Summary(Instrument("binance", "spot", "ETH", "USDT", "x"), 3000.0, None, None, False)
    (row,) = build_rows([one])
    assert row.median == 3000.0 and row.cells["binance"].deviation_bps is None
    assert not alerts([row])


def test_quote_families_can_be_kept_apart():
    rows = build_rows([s("binance", "spot", "USDT", 99.9, 100.1), s("coinbase", "spot", "USD", 101, 101.2)],
                      families={})
    assert [r.label for r in rows] == ["BTC/USD spot", "BTC/USDT spot"]
    assert not alerts(rows)
