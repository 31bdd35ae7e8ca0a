"""The venues' 24h-ticker parsers (descriptor ``MarketFacts.tickers``) on payloads in the
venues' documented shapes, and the ranking top_markets builds on them."""

from __future__ import annotations

import pytest

from app.feeds.top_markets import ranked
from app.market.instruments import Instrument
from app.venues import registry


def parse(venue: str, market: str, data):
    tickers = registry.facts(venue, market).tickers
    assert tickers is not None
    return tickers.parse(data)


def test_binance_quote_volume_and_bad_rows_skipped():
    data = [{"symbol": "BTCUSDT", "lastPrice": "97000.10", "volume": "10.5", "quoteVolume": "1018500.0"},
            {"symbol": "ETHUSDT", "quoteVolume": "NaN"}, {"symbol": "XUSDT"}, "junk",
            {"symbol": "SOLUSDT", "quoteVolume": "-1"}]
    assert parse("binance", "spot", data) == {"BTCUSDT": 1018500.0}
    assert parse("binance", "perp", {"code": -1}) == {}


def test_okx_swap_turnover_is_base_volume_times_last():
    swap = {"code": "0", "msg": "", "data": [
        {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "last": "50000", "vol24h": "2000",
         "volCcy24h": "20", "ts": "1"}]}
    spot = {"code": "0", "msg": "", "data": [
        {"instType": "SPOT", "instId": "BTC-USDT", "last": "50000", "vol24h": "20",
         "volCcy24h": "1000000", "ts": "1"}]}
    assert parse("okx", "perp", swap) == {"BTC-USDT-SWAP": 1_000_000.0}
    assert parse("okx", "spot", spot) == {"BTC-USDT": 1_000_000.0}


def test_bybit_turnover_and_coinbase_products():
    bybit = {"retCode": 0, "result": {"category": "linear", "list": [
        {"symbol": "ETHUSDT", "lastPrice": "3400", "volume24h": "10", "turnover24h": "34000"}]}}
    assert parse("bybit", "perp", bybit) == {"ETHUSDT": 34000.0}
    products = {"products": [
        {"product_id": "BTC-USD", "price": "100", "volume_24h": "3", "approximate_quote_24h_volume": ""},
        {"product_id": "ETH-USD", "price": "10", "volume_24h": "3", "approximate_quote_24h_volume": "31"},
        {"product_id": "BTC-USDC", "price": "100", "volume_24h": "3", "alias": "BTC-USD"}]}
    assert parse("coinbase", "spot", products) == {"BTC-USD": 300.0, "ETH-USD": 31.0}
    assert registry.facts("coinbase", "spot").tickers.quote == "USD"


def test_every_market_declares_its_tickers():
    for venue, market in registry.KNOWN:
        assert registry.facts(venue, market).tickers is not None, (venue, market)


def test_ranked_keeps_the_dollar_quote_orders_by_volume_then_name():
    insts = [Instrument("binance", "spot", "ETH", "USDT", "ETHUSDT"),
             Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT"),
             Instrument("binance", "spot", "ETH", "BTC", "ETHBTC"),
             Instrument("binance", "spot", "SOL", "USDT", "SOLUSDT"),
             Instrument("binance", "spot", "ADA", "USDT", "ADAUSDT")]
    volumes = {"ETHUSDT": 5.0, "BTCUSDT": 9.0, "ETHBTC": 99.0, "ADAUSDT": 5.0}  # SOL: no ticker
    assert [m.symbol for m in ranked(insts, volumes, "USDT")] == ["BTC/USDT", "ADA/USDT", "ETH/USDT"]
    perp = ranked([Instrument("bybit", "perp", "BTC", "USDT", "BTCUSDT")], {"BTCUSDT": 1.0}, "USDT")
    assert perp[0].symbol == "BTC/USDT:USDT"


@pytest.mark.parametrize("quote", ["USD"])
def test_coinbase_usd_comes_back_as_usdt(quote):
    got = ranked([Instrument("coinbase", "spot", "BTC", quote, "BTC-USD")], {"BTC-USD": 1.0}, quote)
    assert got[0].symbol == "BTC/USDT"
