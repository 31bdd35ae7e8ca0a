"""Coinbase Advanced Trade codec: every channel decoded from our fixtures, the
sequence_num rule, level2 sync, products/candles REST, and Events routing in FeedCore."""

from __future__ import annotations

import orjson
import pytest

from app.feeds.core import FeedCore
from app.feeds.hub import MarketHub
from app.feeds.replay import Replayer
from app.market.events import Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.venues import registry
from app.venues.base import APPLIED, IGNORED, SYNCED, Ack, Events, Resync, Unknown
from app.venues.coinbase import (CoinbaseBook, CoinbaseBookSync, CoinbaseDecoder, CoinbaseVenue,
                                 alias_for, aliases_from_products, instruments_from_products, iso_ms)

BTC = Instrument("coinbase", "spot", "BTC", "USD", "BTC-USD", tick_size=0.01, lot_size=1e-8)
ETH = Instrument("coinbase", "spot", "ETH", "USD", "ETH-USD", tick_size=0.01, lot_size=1e-8)
T0 = 1741082400000  # 2025-03-04T10:00:00Z


@pytest.fixture
def venue():
    return CoinbaseVenue("spot", [BTC, ETH])


@pytest.fixture
def dec(venue):
    return venue.new_decoder()


def frame(channel: str, seq: int, events: list, ts: str = "2025-03-04T10:00:00Z") -> str:
    return orjson.dumps({"channel": channel, "client_id": "", "timestamp": ts,
                         "sequence_num": seq, "events": events}).decode()


def l2(seq: int, kind: str = "update", pid: str = "BTC-USD", updates=(("bid", "100", "1"),)) -> str:
    return frame("l2_data", seq, [{"type": kind, "product_id": pid, "updates": [
        {"side": s, "event_time": "2025-03-04T10:00:00Z", "price_level": p, "new_quantity": q}
        for s, p, q in updates]}])


def heartbeat(seq: int) -> str:
    return frame("heartbeats", seq, [{"current_time": "x", "heartbeat_counter": str(seq)}])


# -- ids, products, aliases -------------------------------------------------------------

def test_ids_and_symbols():
    assert BTC.id == "cryptopair_coinbase_btcusd" and BTC.symbol == "BTC/USD"


def test_products(fixture_text):
    data = orjson.loads(fixture_text("coinbase/products.json"))
    insts = instruments_from_products(data)
    # BTC-USDC is the BTC-USD book under another name, OLD-USD is delisted, the future is not spot
    assert [i.id for i in insts] == ["cryptopair_coinbase_btcusd", "cryptopair_coinbase_etheur"]
    btc, eth = insts
    assert (btc.venue_symbol, btc.base, btc.quote) == ("BTC-USD", "BTC", "USD")
    assert (btc.tick_size, btc.lot_size, btc.min_notional, btc.contract_size) == (0.01, 1e-8, 1.0, 1.0)
    assert (eth.tick_size, eth.lot_size, eth.min_notional) == (0.05, 0.0001, 2.0)
    assert instruments_from_products(data, "perp") == []
    assert aliases_from_products(data) == {"BTC-USDC": "BTC-USD"}


def test_usdc_alias(venue):
    assert alias_for("BTC", "USDC") == "BTC-USD"
    assert alias_for("eth", "usdc") == "ETH-USD"
    assert alias_for("BTC", "EUR") is None
    assert venue.resolve("BTC", "USDC") is BTC  # a BTC/USDC request gets the BTC-USD book
    assert venue.resolve("ETH", "USD") is ETH
    assert venue.resolve("SOL", "USDC") is None


def test_registry_round_trip(fixture_text):
    assert ("coinbase", "spot") in registry.KNOWN
    assert registry.metadata_path("coinbase", "spot") == "/api/v3/brokerage/market/products?product_type=SPOT"
    insts = registry.instruments_from_metadata("coinbase", "spot", fixture_text("coinbase/products.json"))
    codec = registry.make_venue("coinbase", "spot", insts)
    assert isinstance(codec, CoinbaseVenue) and codec.instrument("btc-usd") == insts[0]
    assert registry.config_key("coinbase", "spot") == "coinbase"
    with pytest.raises(ValueError):
        CoinbaseVenue("perp", [])


# -- channels ----------------------------------------------------------------------------

def test_iso_ms():
    assert iso_ms("2025-03-04T10:00:00Z") == T0
    assert iso_ms("2025-03-04T10:00:00.123456789Z") == T0 + 123
    assert iso_ms("2025-03-04T10:00:00.5+00:00") == T0 + 500
    for bad in ("", "2025-13-04T10:00:00Z", "2025-03-04T25:00:00Z", "yesterday", "2025-03-04T10:00:00+02:00"):
        with pytest.raises(ValueError):
            iso_ms(bad)


def test_cached_time_parsing_matches_iso_ms():
    dec = CoinbaseDecoder({})
    for text in ("2025-03-04T10:00:00.123456789Z", "2025-03-04T10:00:00.9Z", "2025-03-04T10:00:59Z",
                 "2025-03-04T10:01:00.000001Z", "2025-03-04T10:00:00.25+00:00", "2025-03-05T00:00:00.5Z"):
        assert dec.ms(text) == iso_ms(text), text
    for bad in ("2025-03-04T10:00:61Z", "2025-03-04T10:00:00.Z", "2025-03-04T10:00:00.1x3Z", "2025-03-04"):
        with pytest.raises(ValueError):
            dec.ms(bad)


def test_level2_snapshot(dec, fixture_text):
    b = dec(fixture_text("coinbase/level2_snapshot.json"))
    assert isinstance(b, CoinbaseBook)
    assert (b.symbol, b.snapshot, b.ts) == ("BTC-USD", True, T0 + 123)
    assert b.bids == [(60000.01, 0.5), (59999.5, 1.25)]
    assert b.asks == [(60000.02, 0.75), (60001.0, 2.0)]


def test_level2_update(dec, fixture_text):
    b = dec(fixture_text("coinbase/level2_update.json"))
    assert (b.symbol, b.snapshot, b.ts) == ("BTC-USD", False, T0 + 1500)
    assert b.bids == [(60000.01, 0.0), (59999.9, 0.3)] and b.asks == [(60001.0, 1.5)]


def test_level2_frame_with_two_products_is_a_batch(dec, fixture_text):
    out = dec(fixture_text("coinbase/level2_two_products.json"))
    assert isinstance(out, Events) and [type(i) for i in out.items] == [CoinbaseBook, CoinbaseBook]
    eth, btc = out.items
    assert (eth.symbol, eth.snapshot, eth.bids, eth.asks) == ("ETH-USD", True, [(3000.1, 4.0)], [(3000.2, 5.0)])
    assert (btc.symbol, btc.snapshot, btc.asks) == ("BTC-USD", False, [(60000.02, 0.25)])


def test_market_trades_taker_side(dec, fixture_text):
    out = dec(fixture_text("coinbase/market_trades.json"))
    assert isinstance(out, Events)
    # Coinbase lists the batch newest first and names the MAKER side; we emit time order
    # and the taker side: a resting BUY was hit by a taker who sold.
    assert out.items == [
        Trade(BTC.id, T0 + 3001, 60000.01, 0.002, "sell", "700000001"),
        Trade(BTC.id, T0 + 3050, 60000.02, 0.01, "buy", "700000002"),
    ]


def test_single_trade_and_unknown_product(dec):
    one = frame("market_trades", 0, [{"type": "update", "trades": [
        {"product_id": "ETH-USD", "trade_id": 9, "price": "3000", "size": "1", "time": "2025-03-04T10:00:00Z",
         "side": "SELL"}]}])
    assert dec(one) == Trade(ETH.id, T0, 3000.0, 1.0, "buy", "9")
    other = frame("market_trades", 1, [{"type": "update", "trades": [
        {"product_id": "DOGE-USD", "trade_id": "1", "price": "0.1", "size": "1", "time": "2025-03-04T10:00:00Z",
         "side": "BUY"}]}])
    out = dec(other)
    assert isinstance(out, Unknown) and not out.malformed


def test_ticker(dec, fixture_text):
    tk = dec(fixture_text("coinbase/ticker.json"))
    assert isinstance(tk, Ticker)
    assert (tk.id, tk.ts, tk.last, tk.bid, tk.ask, tk.high_24h, tk.low_24h, tk.volume_24h) == (
        BTC.id, T0 + 4000, 60600.0, 60599.99, 60600.01, 61000.5, 59000.0, 12345.678)
    # price_percent_chg_24_h is in percent: +1 % means the day opened at 60000
    assert tk.open_24h == pytest.approx(60000.0)
    assert tk.change_pct == pytest.approx(1.0)


def test_candles_are_5m_klines(dec, fixture_text):
    out = dec(fixture_text("coinbase/candles.json"))
    assert isinstance(out, Events)
    assert out.items == [
        Kline(BTC.id, "5m", T0, 59950.0, 60010.0, 59900.0, 60000.0, 20.25, True),
        Kline(BTC.id, "5m", T0 + 300_000, 60000.0, 60100.0, 59950.5, 60050.0, 12.5, False),
    ]


def test_heartbeats_acks_and_errors(dec, fixture_text):
    assert dec(fixture_text("coinbase/heartbeats.json")) is None
    ack = dec(fixture_text("coinbase/subscriptions.json"))
    assert isinstance(ack, Ack) and ack.error is None
    assert ack.result == {"level2": ["BTC-USD", "ETH-USD"], "heartbeats": ["heartbeats"]}
    err = dec(fixture_text("coinbase/error.json"))
    assert isinstance(err, Ack) and err.error == "Failure to subscribe: unknown product id(s) DOGE-EUR"


# -- sequence_num ------------------------------------------------------------------------

def test_sequence_jump_is_a_resync(venue):
    dec = CoinbaseDecoder({"BTC-USD": BTC.id})
    assert dec.decode(heartbeat(57)) is None  # a connection may start anywhere
    assert isinstance(dec.decode(l2(58)), CoinbaseBook)
    assert dec.decode(heartbeat(59)) is None
    out = dec.decode(l2(61))  # 60 never arrived
    assert isinstance(out, Events)
    gap, book = out.items
    assert gap == Resync("sequence_num jumped from 59 to 61") and gap.symbols is None
    assert isinstance(book, CoinbaseBook)
    assert dec.decode(heartbeat(62)) is None  # counting resumes from the new number
    assert dec.decode(heartbeat(64)) == Events([Resync("sequence_num jumped from 62 to 64")])


def test_new_connection_restarts_the_count(venue):
    dec = CoinbaseDecoder({})
    for seq in range(5):
        assert dec.decode(heartbeat(seq)) is None
    # a reconnect numbers from zero again; the feed has already reset the books itself
    assert dec.decode(heartbeat(0)) is None and dec.decode(heartbeat(1)) is None
    assert dec.last_seq == 1


def test_decoders_are_per_connection(venue):
    a, b = venue.new_decoder(), venue.new_decoder()
    assert a(heartbeat(10)) is None
    assert b(heartbeat(0)) is None and b(heartbeat(1)) is None
    assert a(heartbeat(11)) is None


def test_acks_consume_sequence_numbers(dec, fixture_text):
    assert isinstance(dec(fixture_text("coinbase/subscriptions.json")), Ack)  # 0
    assert isinstance(dec(fixture_text("coinbase/level2_snapshot.json")), CoinbaseBook)  # 1
    assert isinstance(dec(fixture_text("coinbase/level2_update.json")), CoinbaseBook)  # 2
    # the error frame carries no sequence_num and changes nothing
    assert isinstance(dec(fixture_text("coinbase/error.json")), Ack)
    assert isinstance(dec(fixture_text("coinbase/level2_two_products.json")), Events)  # 3
    out = dec(fixture_text("coinbase/ticker.json"))  # 5: 4 was lost
    assert isinstance(out, Events) and isinstance(out.items[0], Resync)


# -- malformed and unknown -----------------------------------------------------------------

@pytest.mark.parametrize("raw", ["garbage", "[1,2]", '{"channel":"l2_data","sequence_num":',
                                 frame("market_trades", 0, [{"trades": [{"product_id": "BTC-USD", "trade_id": "1",
                                       "price": "NaN", "size": "1", "time": "2025-03-04T10:00:00Z", "side": "BUY"}]}]),
                                 frame("market_trades", 0, [{"trades": [{"product_id": "BTC-USD", "trade_id": "1",
                                       "price": "1", "size": "1", "time": "2025-03-04T10:00:00Z", "side": "UP"}]}]),
                                 frame("market_trades", 0, [{"trades": [{"product_id": "BTC-USD", "trade_id": "1",
                                       "price": "1", "size": "1", "time": "noon", "side": "BUY"}]}]),
                                 frame("ticker", 0, [{"tickers": [{"product_id": "BTC-USD", "price": "-5"}]}]),
                                 frame("candles", 0, [{"candles": [{"start": "x", "product_id": "BTC-USD"}]}])])
def test_malformed_frames_are_reported_not_raised(dec, raw):
    out = dec(raw)
    assert isinstance(out, Unknown) and out.malformed


@pytest.mark.parametrize("updates", [(("bid", "NaN", "1"),), (("bid", "100", "-1"),), (("bid", "inf", "1"),),
                                     (("middle", "100", "1"),), (("offer", "0", "1"),)])
def test_unusable_level2_frame_rebuilds_books(dec, updates):
    """A level2 frame we cannot read is a book update we missed: rebuild now."""
    assert dec(heartbeat(0)) is None
    out = dec(l2(1, updates=updates))
    assert isinstance(out, Events)
    kinds = {type(i) for i in out.items}
    assert kinds == {Resync, Unknown} and any(getattr(i, "malformed", False) for i in out.items)
    assert dec(heartbeat(2)) is None  # the bad frame still counted: no second resync


def test_unknown_channel_is_not_malformed_and_counts(dec):
    assert dec(heartbeat(0)) is None
    out = dec(frame("status", 1, []))
    assert isinstance(out, Unknown) and not out.malformed
    assert dec(heartbeat(2)) is None


# -- subscriptions and plans ---------------------------------------------------------------

def test_subscribe_messages_group_per_channel(venue):
    streams = ["heartbeats", "level2:BTC-USD", "market_trades:BTC-USD", "level2:ETH-USD",
               "market_trades:ETH-USD", "candles:BTC-USD", "candles:BTC-USD"]
    msgs = [orjson.loads(m) for m in venue.subscribe_messages(streams)]
    assert msgs == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "candles"},
    ]
    assert [orjson.loads(m) for m in venue.subscribe_messages(venue.book_streams(BTC), "UNSUBSCRIBE")] == [
        {"type": "unsubscribe", "product_ids": ["BTC-USD"], "channel": "level2"}]


def test_connection_plan(venue):
    (plan,) = venue.connection_plans("wss://advanced-trade-ws.coinbase.com", [BTC, ETH], ["1m"])
    assert plan.url == "wss://advanced-trade-ws.coinbase.com"
    assert plan.streams[0] == "heartbeats"  # first, so no channel ever goes quiet
    assert set(plan.streams) == {"heartbeats", "level2:BTC-USD", "market_trades:BTC-USD", "ticker:BTC-USD",
                                 "candles:BTC-USD", "level2:ETH-USD", "market_trades:ETH-USD",
                                 "ticker:ETH-USD", "candles:ETH-USD"}
    assert venue.kline_stream(BTC, "1h") == ("candles:BTC-USD", "")
    assert venue.stream_group("level2:BTC-USD") == ""
    assert (venue.recovery, venue.keepalive, venue.ws_ping_interval) == ("resubscribe", None, 20.0)


def test_added_instrument_decodes_on_existing_decoders():
    venue = CoinbaseVenue("spot", [BTC])
    dec = venue.new_decoder()
    trade = frame("market_trades", 0, [{"type": "update", "trades": [
        {"product_id": "ETH-USD", "trade_id": "5", "price": "3000", "size": "1", "time": "2025-03-04T10:00:00Z",
         "side": "BUY"}]}])
    assert isinstance(dec(trade), Unknown)
    venue.add_instrument(ETH)
    assert dec(trade) == Trade(ETH.id, T0, 3000.0, 1.0, "sell", "5")
    assert venue.instrument("ETH-USD") is ETH and venue.max_streams("") >= 1 + 4 * 200


def test_huge_product_lists_split(venue):
    insts = [Instrument("coinbase", "spot", f"C{i}", "USD", f"C{i}-USD") for i in range(250)]
    plans = CoinbaseVenue("spot", insts).connection_plans("wss://x", insts, [])
    assert [len(p.streams) for p in plans] == [1 + 3 * 200, 1 + 3 * 50]
    assert all(p.streams[0] == "heartbeats" for p in plans)


# -- level2 sync ---------------------------------------------------------------------------

def book(snapshot: bool, bids=(), asks=()) -> CoinbaseBook:
    return CoinbaseBook("BTC-USD", 1, snapshot, [(float(p), float(q)) for p, q in bids],
                        [(float(p), float(q)) for p, q in asks])


def test_sync_snapshot_then_updates():
    sync = CoinbaseBookSync()
    assert not sync.synced and not sync.needs_snapshot and sync.first_buffered is None
    assert sync.on_diff(book(False, [(1, 1)])) == IGNORED  # leftovers before the snapshot
    assert sync.on_diff(book(True, [(100, 1), (99, 2)], [(101, 3)])) == SYNCED
    assert sync.on_diff(book(False, [(100, 0), (98, 5)], [(101, 1.5)])) == APPLIED
    assert sync.book.side_dicts() == ({99.0: 2.0, 98.0: 5.0}, {101.0: 1.5})
    assert sync.on_diff(book(True, [(50, 1)], [(60, 1)])) == SYNCED  # a new snapshot replaces all
    assert sync.book.side_dicts() == ({50.0: 1.0}, {60.0: 1.0})
    sync.reset()
    assert not sync.synced and len(sync.book) == 0
    assert sync.on_diff(book(False, [(1, 1)])) == IGNORED


def test_large_snapshot_decodes(dec):
    """A BTC-USD sized book: tens of thousands of levels, several megabytes."""
    n = 25_000
    ups = ([{"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": f"{50000 - i * 0.01:.2f}",
             "new_quantity": f"{(i % 97 + 1) / 1000:.8f}"} for i in range(n)]
           + [{"side": "offer", "event_time": "1970-01-01T00:00:00Z", "price_level": f"{50000.01 + i * 0.01:.2f}",
               "new_quantity": f"{(i % 89 + 1) / 1000:.8f}"} for i in range(n)])
    raw = orjson.dumps({"channel": "l2_data", "client_id": "", "timestamp": "2025-03-04T10:00:00Z",
                        "sequence_num": 0, "events": [{"type": "snapshot", "product_id": "BTC-USD", "updates": ups}]})
    assert len(raw) > 5_000_000
    msg = dec(raw)
    assert isinstance(msg, CoinbaseBook) and len(msg.bids) == n and len(msg.asks) == n
    sync = CoinbaseBookSync()
    assert sync.on_diff(msg) == SYNCED
    assert sync.book.best_bid == (50000.0, 0.001) and sync.book.best_ask == (50000.01, 0.001)
    assert len(sync.book) == 2 * n


# -- REST ----------------------------------------------------------------------------------

def test_rest_candles(venue, fixture_text):
    ks = venue.parse_klines(fixture_text("coinbase/candles_rest.json"), BTC, "5m")
    assert [k.open_time for k in ks] == [T0 - 300_000, T0, T0 + 300_000]  # oldest first
    assert [k.closed for k in ks] == [True, True, False]
    assert ks[0] == Kline(BTC.id, "5m", T0 - 300_000, 59850.0, 59990.0, 59800.0, 59950.0, 8.0, True)
    ks = venue.parse_klines(fixture_text("coinbase/candles_rest.json"), BTC, "5m", now_ms=T0 + 300_000)
    assert [k.closed for k in ks] == [True, True, False]
    with pytest.raises(ValueError):
        venue.parse_klines('{"error":"NOT_FOUND"}', BTC, "5m")


def test_klines_path(venue):
    path = venue.klines_path(BTC, "5m", 500, end_ms=T0)
    assert path == ("/api/v3/brokerage/market/products/BTC-USD/candles?start=1740977400&end=1741082400"
                    "&granularity=FIVE_MINUTE&limit=350")  # 350 rows at most, seconds
    assert "granularity=ONE_MINUTE" in venue.klines_path(BTC, "1m", 100)
    assert "start=1741082400&end=1741088400" in venue.klines_path(BTC, "1m", 100, start_ms=T0)
    with pytest.raises(ValueError, match="no 3m candles"):
        venue.klines_path(BTC, "3m", 100)


def test_product_book_snapshot(venue, fixture_text):
    snap = venue.parse_snapshot(fixture_text("coinbase/product_book.json"))
    assert snap.ts == T0 + 500 and snap.last_update_id == 0
    sync = CoinbaseBookSync()
    assert sync.on_snapshot(snap) == SYNCED
    assert sync.book.side_dicts() == ({60000.01: 0.5, 59999.5: 1.25}, {60000.02: 0.75})
    assert venue.snapshot_path(BTC) == "/api/v3/brokerage/market/product_book?product_id=BTC-USD"
    with pytest.raises(ValueError):
        venue.parse_snapshot("{}")


# -- Events through FeedCore and replay ------------------------------------------------------

def test_feed_core_routes_each_item_of_a_batch(venue, fixture_text):
    hub = MarketHub()
    resubscribed: list[str] = []
    core = FeedCore(venue, hub, [BTC, ETH], resubscribe=resubscribed.extend)
    on_frame = core.frame_handler(venue.new_decoder())
    for name in ("subscriptions", "level2_snapshot", "level2_update", "level2_two_products", "market_trades"):
        on_frame(fixture_text(f"coinbase/{name}.json"), 0.0)
    btc, eth = hub.state(BTC.id), hub.state(ETH.id)
    assert btc.synced and eth.synced
    assert btc.book.side_dicts() == ({59999.9: 0.3, 59999.5: 1.25}, {60000.02: 0.25, 60001.0: 1.5})
    assert eth.book.side_dicts() == ({3000.1: 4.0}, {3000.2: 5.0})
    assert [t.trade_id for t in btc.trades] == ["700000002", "700000001"]  # the tape: newest first
    assert core.stats.events == 2 and core.stats.gaps == 0
    on_frame(fixture_text("coinbase/candles.json"), 0.0)  # seq 6: 5 was lost
    assert not btc.synced and not eth.synced
    assert sorted(resubscribed) == sorted([BTC.id, ETH.id])
    assert core.stats.gaps == 2 and len(btc.kline_series("5m")) == 2  # the frame's candles still count


def test_replay_of_a_coinbase_capture(fixture_text):
    def line(kind: str, data: str, channel: str | None = None) -> bytes:
        return orjson.dumps({"recv_ts": 1, "venue": "coinbase", "market": "spot", "kind": kind,
                             "channel": channel, "data": data})
    products = orjson.dumps({"products": [
        {"product_id": p, "base_currency_id": p[:3], "quote_currency_id": "USD", "price_increment": "0.01",
         "base_increment": "0.00000001", "quote_min_size": "1", "status": "online", "product_type": "SPOT",
         "alias": ""} for p in ("BTC-USD", "ETH-USD")]}).decode()
    rep = Replayer()
    rep.feed_lines([line("rest", products, registry.metadata_path("coinbase", "spot"))]
                   + [line("ws", fixture_text(f"coinbase/{n}.json"))
                      for n in ("subscriptions", "level2_snapshot", "level2_update", "level2_two_products",
                                "market_trades", "ticker")])
    stats = rep.finish()
    assert (stats.instruments, stats.messages, stats.gaps, stats.malformed) == (2, 6, 0, 0)
    tops = {b.id: b for b in rep.books()}
    assert tops[BTC.id].bids == [(59999.9, 0.3), (59999.5, 1.25)]
    assert tops[ETH.id].asks == [(3000.2, 5.0)]
