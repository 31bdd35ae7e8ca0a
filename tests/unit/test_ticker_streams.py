"""Tickers without books: the venues' all-market / batched ticker streams, decoded."""

from __future__ import annotations

import orjson

from app.market.events import Funding, Ticker
from app.market.instruments import Instrument
from app.venues import registry
from app.venues.base import Events

BTC = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT")
ETH = Instrument("binance", "spot", "ETH", "USDT", "ETHUSDT")
BTC_PERP = Instrument("binance", "perp", "BTC", "USDT", "BTCUSDT")


def mini(symbol: str, close: str) -> dict:
    return {"e": "24hrMiniTicker", "E": 1767270896000, "s": symbol, "c": close, "o": "100.0",
            "h": "120.0", "l": "90.0", "v": "10.5", "q": "1155.0"}


def test_binance_all_market_mini_tickers_decode_the_known_markets_only():
    venue = registry.make_venue("binance", "spot", [BTC, ETH])
    frame = orjson.dumps({"stream": "!miniTicker@arr",
                          "data": [mini("BTCUSDT", "110.0"), mini("BNBBTC", "0.01"), mini("ETHUSDT", "99.5")]})
    out = venue.decode(frame)
    assert isinstance(out, Events)
    assert out.items == [
        Ticker(BTC.id, 1767270896000, 110.0, None, None, 120.0, 90.0, 10.5, 100.0, 1155.0),
        Ticker(ETH.id, 1767270896000, 99.5, None, None, 120.0, 90.0, 10.5, 100.0, 1155.0)]
    assert out.items[0].change_pct == 10.0
    assert out.items[0].quote_turnover == 1155.0


def test_binance_all_market_frame_of_unknown_markets_only_is_nothing():
    venue = registry.make_venue("binance", "spot", [BTC])
    assert venue.decode(orjson.dumps({"stream": "!miniTicker@arr", "data": [mini("BNBBTC", "1")]})) is None


def test_binance_all_market_mark_prices_carry_funding():
    venue = registry.make_venue("binance", "perp", [BTC_PERP])
    frame = orjson.dumps({"stream": "!markPrice@arr@1s", "data": [
        {"e": "markPriceUpdate", "E": 5, "s": "BTCUSDT", "p": "97000.1", "i": "96990.0", "P": "97001",
         "r": "-0.00012", "T": 1767283200000}]})
    assert venue.decode(frame) == Funding(BTC_PERP.id, 5, -0.00012, 1767283200000, 97000.1, 96990.0)


def test_binance_ticker_plans_are_one_connection_whatever_the_count():
    many = [Instrument("binance", "perp", f"C{i}", "USDT", f"C{i}USDT") for i in range(300)]
    plans = registry.make_venue("binance", "perp", many).ticker_plans("wss://fstream.binance.com", many)
    assert [(p.url, p.streams) for p in plans] == [
        ("wss://fstream.binance.com/market/stream", ["!miniTicker@arr", "!markPrice@arr@1s"])]
    spot = registry.make_venue("binance", "spot", [BTC]).ticker_plans("wss://x:9443/", [BTC])
    assert [(p.url, p.streams) for p in spot] == [("wss://x:9443/stream", ["!miniTicker@arr"])]


def test_okx_ticker_plans_batch_tickers_and_funding_without_books():
    insts = [Instrument("okx", "perp", f"C{i}", "USDT", f"C{i}-USDT-SWAP") for i in range(250)]
    venue = registry.make_venue("okx", "perp", insts)
    plans = venue.ticker_plans("wss://ws.okx.com:8443/ws/v5", insts)
    streams = [s for p in plans for s in p.streams]
    assert len(streams) == 500 and not any(s.startswith("books") for s in streams)
    assert {p.url for p in plans} == {"wss://ws.okx.com:8443/ws/v5/public"}
    assert all(len(m) < 64_000 for p in plans for m in venue.subscribe_messages(p.streams))


def test_okx_spot_ticker_keeps_the_quote_turnover():
    inst = Instrument("okx", "spot", "BTC", "USDT", "BTC-USDT")
    venue = registry.make_venue("okx", "spot", [inst])
    frame = orjson.dumps({"arg": {"channel": "tickers", "instId": "BTC-USDT"}, "data": [{
        "instType": "SPOT", "instId": "BTC-USDT", "last": "100", "askPx": "100.1", "bidPx": "99.9",
        "open24h": "95", "high24h": "101", "low24h": "94", "vol24h": "12", "volCcy24h": "1180",
        "ts": "1767270896000"}]})
    t = venue.decode(frame)
    assert isinstance(t, Ticker) and t.volume_24h == 12.0 and t.quote_volume_24h == 1180.0


def test_bybit_ticker_plans_and_turnover():
    insts = [Instrument("bybit", "spot", f"C{i}", "USDT", f"C{i}USDT") for i in range(25)]
    venue = registry.make_venue("bybit", "spot", insts)
    plans = venue.ticker_plans("wss://stream.bybit.com/v5/public", insts)
    assert [p.url for p in plans] == ["wss://stream.bybit.com/v5/public/spot"]
    messages = venue.subscribe_messages(plans[0].streams)
    assert len(messages) == 3 and all(len(orjson.loads(m)["args"]) <= 10 for m in messages)
    decode = venue.new_decoder()
    t = decode(orjson.dumps({"topic": "tickers.C1USDT", "ts": 7, "type": "snapshot", "data": {
        "symbol": "C1USDT", "lastPrice": "2", "highPrice24h": "3", "lowPrice24h": "1",
        "prevPrice24h": "1.6", "volume24h": "10", "turnover24h": "19.5", "price24hPcnt": "0.25"}}))
    assert isinstance(t, Ticker) and t.quote_volume_24h == 19.5 and abs(t.change_pct - 25.0) < 1e-9


def test_coinbase_ticker_batch_decodes_like_ticker():
    btc = Instrument("coinbase", "spot", "BTC", "USD", "BTC-USD")
    eth = Instrument("coinbase", "spot", "ETH", "USD", "ETH-USD")
    venue = registry.make_venue("coinbase", "spot", [btc, eth])
    plans = venue.ticker_plans("wss://advanced-trade-ws.coinbase.com", [btc, eth])
    assert plans[0].streams == ["heartbeats", "ticker_batch:BTC-USD", "ticker_batch:ETH-USD"]
    assert [orjson.loads(m) for m in venue.subscribe_messages(plans[0].streams)] == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "ticker_batch"}]
    frame = orjson.dumps({"channel": "ticker_batch", "timestamp": "2026-01-01T12:00:00Z", "sequence_num": 0,
                          "events": [{"type": "update", "tickers": [
                              {"type": "ticker", "product_id": "BTC-USD", "price": "100", "volume_24_h": "3",
                               "price_percent_chg_24_h": "25", "best_bid": "99", "best_ask": "101"},
                              {"type": "ticker", "product_id": "ETH-USD", "price": "10", "volume_24_h": "1"}]}]})
    out = venue.decode(frame)
    assert isinstance(out, Events) and [t.id for t in out.items] == [btc.id, eth.id]
    assert out.items[0].open_24h == 80.0 and out.items[0].quote_turnover == 300.0
