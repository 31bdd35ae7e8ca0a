"""Bybit v5 codec: every channel decoded from our fixtures, the book sync rules of both
book modes, control frames, bad input, metadata and REST helpers."""

from __future__ import annotations

import orjson
import pytest

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.venues import registry
from app.venues.base import (APPLIED, BUFFERED, GAP, IGNORED, STALE_SNAPSHOT, SYNCED, Ack,
                             Events, Unknown)
from app.venues.bybit import (BybitBook, BybitBookSnapshot, BybitBookSync, BybitFullBookSync,
                              BybitVenue, instruments_from_instruments_info)

SPOT = Instrument("bybit", "spot", "BTC", "USDT", "BTCUSDT", 0.01, 0.000001)
ETH = Instrument("bybit", "spot", "ETH", "USDT", "ETHUSDT", 0.01, 0.00001)
PERP = Instrument("bybit", "perp", "BTC", "USDT", "BTCUSDT", 0.1, 0.001)


@pytest.fixture
def spot():
    return BybitVenue("spot", [SPOT, ETH])


@pytest.fixture
def perp():
    return BybitVenue("perp", [PERP])


def book(u: int, bids, asks, kind: str = "delta", seq: int = 0, depth: str = "50") -> bytes:
    return orjson.dumps({"topic": f"orderbook.{depth}.BTCUSDT", "type": kind, "ts": 1,
                         "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": seq}})


# -- codec basics --------------------------------------------------------------------------

def test_ids_and_protocol_settings(spot, perp):
    assert SPOT.id == "cryptopair_bybit_btcusdt" and PERP.id == "cryptoperp_bybit_btcusdt"
    assert PERP.symbol == "BTC/USDT:USDT"
    for v in (spot, perp):
        assert (v.name, v.config_key, v.recovery) == ("bybit", "bybit", "resubscribe")
        assert v.ws_ping_interval is None and v.keepalive == (20.0, '{"op":"ping"}')
        assert v.depth_type is BybitBook
    assert BybitVenue("spot", [], book_depth="full").recovery == "snapshot"
    with pytest.raises(ValueError):
        BybitVenue("spot", [], book_depth=25)


def test_connection_plans_one_per_market_path(spot, perp):
    [plan] = spot.connection_plans("wss://stream.bybit.com/v5/public/", [SPOT], ["1m", "1h"])
    assert plan.url == "wss://stream.bybit.com/v5/public/spot"
    assert plan.streams == ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT",
                            "kline.1.BTCUSDT", "kline.60.BTCUSDT"]
    [plan] = perp.connection_plans("wss://stream.bybit.com/v5/public", [PERP], ["1d"])
    assert plan.url == "wss://stream.bybit.com/v5/public/linear"
    assert "kline.D.BTCUSDT" in plan.streams
    assert spot.book_streams(SPOT) == ["orderbook.50.BTCUSDT"]
    assert BybitVenue("perp", [], book_depth=200).book_streams(PERP) == ["orderbook.200.BTCUSDT"]
    assert BybitVenue("perp", [], book_depth="full").book_streams(PERP) == ["orderbook.full.BTCUSDT"]
    assert spot.kline_stream(SPOT, "1w") == ("kline.W.BTCUSDT", "")
    with pytest.raises(ValueError):
        spot.kline_stream(SPOT, "6h")


def test_subscribe_messages_at_most_ten_args(spot):
    topics = [f"kline.1.S{i}USDT" for i in range(23)]
    msgs = [orjson.loads(m) for m in spot.subscribe_messages(topics)]
    assert [len(m["args"]) for m in msgs] == [10, 10, 3]
    assert all(m["op"] == "subscribe" for m in msgs)
    assert sum((m["args"] for m in msgs), []) == topics
    assert len({m["req_id"] for m in msgs}) == 3 and all(isinstance(m["req_id"], str) for m in msgs)
    [unsub] = [orjson.loads(m) for m in spot.subscribe_messages(topics[:2], "UNSUBSCRIBE")]
    assert unsub["op"] == "unsubscribe" and unsub["args"] == topics[:2]


# -- channels ------------------------------------------------------------------------------

def test_book_snapshot_and_delta_decode(spot, fixture_text):
    snap = spot.decode(fixture_text("bybit/orderbook_snapshot.json"))
    assert isinstance(snap, BybitBook) and snap.symbol == "BTCUSDT"
    assert (snap.type, snap.data.u, snap.data.seq, snap.ts) == ("snapshot", 5000, 81000, 1700000000100)
    assert snap.data.b[0] == (30000.1, 1.5) and snap.data.a[-1] == (30001.0, 3.0)
    delta = spot.decode(fixture_text("bybit/orderbook_delta.json").encode())  # bytes too
    assert (delta.type, delta.data.u) == ("delta", 5001)
    assert delta.data.b == [(30000.1, 1.2), (30000.0, 0.0), (29999.8, 0.4)]


def test_book_frame_with_data_first_still_decodes(spot):
    frame = orjson.dumps({"data": {"s": "BTCUSDT", "b": [["1.5", "2"]], "a": [], "u": 9, "seq": 3},
                          "type": "delta", "topic": "orderbook.50.BTCUSDT", "ts": 5})
    msg = spot.decode(frame)
    assert isinstance(msg, BybitBook) and msg.data.u == 9 and msg.data.b == [(1.5, 2.0)]


def test_other_book_depth_is_not_ours(spot, fixture_text):
    assert isinstance(spot.decode(book(3, [], [], depth="1")), Unknown)
    full = BybitVenue("spot", [SPOT], book_depth="full")
    assert isinstance(full.decode(fixture_text("bybit/orderbook_snapshot.json")), Unknown)
    assert isinstance(full.decode(fixture_text("bybit/orderbook_full_delta.json")), BybitBook)


def test_trades_taker_side_ids_and_batches(perp, spot, fixture_text):
    out = perp.decode(fixture_text("bybit/trade.json"))
    assert isinstance(out, Events)
    assert out.items == [
        Trade(PERP.id, 1700000000207, 30000.2, 0.01, "buy", "b1f1a2c3-0000-5000-8000-000000000001"),
        Trade(PERP.id, 1700000000207, 30000.4, 0.25, "buy", "b1f1a2c3-0000-5000-8000-000000000002"),
        Trade(PERP.id, 1700000000209, 30000.1, 1.5, "sell", "b1f1a2c3-0000-5000-8000-000000000003"),
    ]
    one = spot.decode(fixture_text("bybit/trade_single_spot.json"))
    assert one == Trade(ETH.id, 1700000000299, 2000.51, 0.0431, "sell", "2290000000061666327")


def test_kline_interval_and_confirm(spot, fixture_text):
    k = spot.decode(fixture_text("bybit/kline.json"))
    assert k == Kline(SPOT.id, "1h", 1699998000000, 29950.5, 30020.0, 29940.2, 30000.1, 123.456, True)


def test_spot_ticker_has_no_top_of_book(spot, fixture_text):
    tk = spot.decode(fixture_text("bybit/ticker_spot.json"))
    assert tk == Ticker(SPOT.id, 1700000000400, 30000.1, None, None, 30500.0, 29400.5, 15234.5, 29700.0,
                        457035000.12)  # turnover24h: the quote turnover
    assert tk.change_pct == pytest.approx(1.0104, abs=1e-3)


def test_linear_ticker_deltas_merge_into_the_snapshot(perp, fixture_text):
    decode = perp.new_decoder()
    first = decode(fixture_text("bybit/ticker_linear_snapshot.json"))
    assert isinstance(first, Events)
    ticker, funding = first.items
    assert ticker == Ticker(PERP.id, 1700000000500, 30000.5, 30000.4, 30000.5, 30510.0, 29400.0,
                            60000.25, 29703.5, 1800000000.5)
    assert funding == Funding(PERP.id, 1700000000500, -0.000025, 1700006400000, 30000.4, 29998.1)

    # only indexPrice changed: one Funding event, every other field from the snapshot
    out = decode(fixture_text("bybit/ticker_linear_delta_index.json"))
    assert out == Funding(PERP.id, 1700000000600, -0.000025, 1700006400000, 30000.4, 29999.2)

    out = decode(fixture_text("bybit/ticker_linear_delta_book.json"))
    ticker, funding = out.items
    assert ticker == Ticker(PERP.id, 1700000000700, 30001.1, 30001.0, 30001.1, 30510.0, 29400.0,
                            60000.25, 29703.5, 1800000000.5)  # merged from the snapshot
    assert funding == Funding(PERP.id, 1700000000700, 0.0001, 1700006400000, 30000.4, 29999.2)

    # a bad value is reported and leaves the merged state as it was
    bad = decode(b'{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT",'
                 b'"markPrice":"NaN"},"cs":1,"ts":1700000000800}')
    assert isinstance(bad, Unknown) and bad.malformed
    again = decode(b'{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT",'
                   b'"indexPrice":"29999.30"},"cs":2,"ts":1700000000900}')
    assert again.mark_price == 30000.4 and again.index_price == 29999.3


def test_ticker_state_belongs_to_one_connection(perp, fixture_text):
    a, b = perp.new_decoder(), perp.new_decoder()
    a(fixture_text("bybit/ticker_linear_snapshot.json"))
    assert isinstance(a(fixture_text("bybit/ticker_linear_delta_index.json")), Funding)
    early = b(fixture_text("bybit/ticker_linear_delta_index.json"))
    assert isinstance(early, Unknown) and not early.malformed  # delta before its snapshot


def test_later_ticker_snapshot_replaces_the_state(perp, fixture_text):
    decode = perp.new_decoder()
    decode(fixture_text("bybit/ticker_linear_snapshot.json"))
    out = decode(b'{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT",'
                 b'"lastPrice":"31000"},"cs":3,"ts":5}')
    assert out == Ticker(PERP.id, 5, 31000.0)


def test_acks_errors_and_pongs(spot, perp, fixture_text):
    assert spot.decode(fixture_text("bybit/subscribe_ack_spot.json")) == Ack("7", None, "subscribe")
    assert perp.decode(fixture_text("bybit/subscribe_ack_linear.json")) == Ack("", None, "subscribe")
    err = spot.decode(fixture_text("bybit/subscribe_error.json"))
    assert isinstance(err, Ack) and err.req_id == "9" and "handler not found" in err.error
    assert spot.decode(fixture_text("bybit/pong_spot.json")) is None
    assert perp.decode(fixture_text("bybit/pong_linear.json")) is None


@pytest.mark.parametrize("frame", [
    "garbage", "[1,2]", '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":17',
    book(1, [["NaN", "1"]], []).decode(), book(1, [["100", "-1"]], []).decode(),
    book(1, [["100", "inf"]], []).decode(), book(1, [["0", "1"]], []).decode(),
    '{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":5,"a":[],"u":1}}',
    '{"topic":"publicTrade.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Hold","v":"1","p":"2","i":"x"}]}',
    '{"topic":"publicTrade.BTCUSDT","data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"1","p":"-2","i":"x"}]}',
    '{"topic":"kline.1.BTCUSDT","data":[{"start":1}]}',
    '{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","lastPrice":"abc"}}',
    '{"topic":"tickers.BTCUSDT","type":"snapshot","data":[1]}',
])
def test_malformed_frames_are_reported_not_raised(spot, frame):
    out = spot.decode(frame)
    assert isinstance(out, Unknown) and out.malformed, out


@pytest.mark.parametrize("frame", [
    '{"topic":"publicTrade.XRPUSDT","data":[{"T":1,"s":"XRPUSDT","S":"Buy","v":"1","p":"2","i":"x"}]}',
    '{"topic":"kline.1.XRPUSDT","data":[{"start":1,"interval":"1","open":"1","close":"1","high":"1","low":"1","volume":"1","confirm":false}]}',
    '{"topic":"kline.360.BTCUSDT","data":[{"start":1,"interval":"360","open":"1","close":"1","high":"1","low":"1","volume":"1","confirm":false}]}',
    '{"topic":"tickers.XRPUSDT","type":"snapshot","data":{"symbol":"XRPUSDT","lastPrice":"1"}}',
    '{"topic":"liquidation.BTCUSDT","data":{}}', '{"hello":1}',
])
def test_unknown_but_wellformed_frames(spot, frame):
    out = spot.decode(frame)
    assert isinstance(out, Unknown) and not out.malformed, out


# -- orderbook.N sync -------------------------------------------------------------------------

def test_snapshot_then_deltas_build_the_book(spot, fixture_text):
    sync = spot.new_book_sync(SPOT)
    assert isinstance(sync, BybitBookSync) and not sync.needs_snapshot
    assert sync.on_diff(spot.decode(fixture_text("bybit/orderbook_delta.json"))) == IGNORED  # no snapshot yet
    assert sync.on_diff(spot.decode(fixture_text("bybit/orderbook_snapshot.json"))) == SYNCED
    assert sync.synced and sync.last_id == 5000
    assert sync.on_diff(spot.decode(fixture_text("bybit/orderbook_delta.json"))) == APPLIED
    bids, asks = sync.book.side_dicts()
    assert bids == {30000.1: 1.2, 29999.8: 0.4, 29999.5: 2.0}  # "0" deleted 30000.00
    assert asks == {30000.3: 0.9, 30000.4: 1.1, 30001.0: 3.0}
    assert sync.last_id == 5001


def test_u_jump_is_a_gap_and_repeats_are_ignored():
    sync = BybitBookSync()
    venue = BybitVenue("spot", [SPOT])
    assert sync.on_diff(venue.decode(book(10, [["100", "1"]], [["101", "1"]], "snapshot"))) == SYNCED
    assert sync.on_diff(venue.decode(book(11, [["100", "2"]], []))) == APPLIED
    assert sync.on_diff(venue.decode(book(11, [["100", "3"]], []))) == IGNORED
    assert sync.book.side_dicts()[0] == {100.0: 2.0}
    assert sync.on_diff(venue.decode(book(13, [], []))) == GAP
    assert not sync.synced and sync.book.side_dicts() == ({}, {})
    assert sync.on_diff(venue.decode(book(14, [], []))) == IGNORED  # until the new snapshot


def test_u_going_back_is_a_gap():
    venue = BybitVenue("spot", [SPOT])
    sync = BybitBookSync()
    sync.on_diff(venue.decode(book(50, [["100", "1"]], [], "snapshot")))
    assert sync.on_diff(venue.decode(book(7, [["100", "2"]], []))) == GAP


def test_new_snapshot_mid_stream_replaces_the_book_without_a_gap():
    venue = BybitVenue("spot", [SPOT])
    sync = BybitBookSync()
    sync.on_diff(venue.decode(book(10, [["100", "1"], ["99", "1"]], [["101", "1"]], "snapshot")))
    sync.on_diff(venue.decode(book(11, [["98", "5"]], [])))
    # the venue re-sends a snapshot (its u need not follow): levels it lacks are gone
    assert sync.on_diff(venue.decode(book(40, [["100", "7"]], [["102", "2"]], "snapshot"))) == APPLIED
    assert sync.book.side_dicts() == ({100.0: 7.0}, {102.0: 2.0})
    assert sync.on_diff(venue.decode(book(41, [["97", "1"]], []))) == APPLIED
    assert sync.book.side_dicts()[0] == {100.0: 7.0, 97.0: 1.0}


@pytest.mark.parametrize("kind", ["delta", "snapshot"])
def test_u_equal_1_is_a_restart_that_overwrites(kind):
    venue = BybitVenue("perp", [PERP])
    sync = BybitBookSync()
    sync.on_diff(venue.decode(book(500, [["100", "1"], ["99", "1"]], [["101", "1"]], "snapshot")))
    assert sync.on_diff(venue.decode(book(1, [["95", "4"]], [["96", "4"]], kind))) == APPLIED
    assert sync.book.side_dicts() == ({95.0: 4.0}, {96.0: 4.0})
    assert sync.on_diff(venue.decode(book(2, [["94", "1"]], []))) == APPLIED
    assert sync.last_id == 2


def test_restart_before_the_first_snapshot_syncs():
    venue = BybitVenue("perp", [PERP])
    sync = BybitBookSync()
    assert sync.on_diff(venue.decode(book(1, [["95", "4"]], [["96", "4"]]))) == SYNCED


# -- orderbook.full sync ---------------------------------------------------------------------

def full_delta(u: int, seq: int, bids, asks=()) -> BybitBook:
    return BybitVenue("spot", [SPOT], book_depth="full").decode(
        orjson.dumps({"topic": "orderbook.full.BTCUSDT", "type": "delta", "ts": seq,
                      "data": {"s": "BTCUSDT", "b": bids, "a": list(asks), "u": u, "seq": seq}}))


def full_snapshot(venue: BybitVenue, seq: int, bids, asks, u: int = 0) -> BybitBookSnapshot:
    return venue.parse_snapshot(orjson.dumps({"retCode": 0, "retMsg": "OK", "result": {
        "s": "BTCUSDT", "b": bids, "a": asks, "ts": 1, "u": u, "seq": seq}}))


def test_full_book_buffers_until_the_rest_snapshot():
    venue = BybitVenue("spot", [SPOT], book_depth="full")
    sync = venue.new_book_sync(SPOT)
    assert isinstance(sync, BybitFullBookSync) and sync.needs_snapshot
    assert sync.on_diff(full_delta(100, 1000, [["98", "5"]])) == BUFFERED
    assert sync.first_buffered == 1000
    assert sync.on_diff(full_delta(101, 1004, [["99", "2"]])) == BUFFERED
    assert sync.on_diff(full_delta(102, 1009, [["100", "0"]], [["101", "3"]])) == BUFFERED
    # the book already holds everything up to seq 1005 (98 changed again since delta 100,
    # in a delta still on its way): deltas 100 and 101 must not be applied over it
    snap = full_snapshot(venue, 1005, [["100", "1"], ["99", "2"], ["98", "9"]], [["102", "1"]])
    assert sync.on_snapshot(snap) == SYNCED and sync.synced and not sync.needs_snapshot
    assert sync.book.side_dicts() == ({99.0: 2.0, 98.0: 9.0}, {101.0: 3.0, 102.0: 1.0})
    assert sync.on_diff(full_delta(103, 1010, [["97", "1"]])) == APPLIED
    assert sync.on_diff(full_delta(103, 1010, [["97", "1"]])) == IGNORED  # a repeat
    assert sync.on_diff(full_delta(105, 1020, [["96", "1"]])) == GAP
    assert not sync.synced and sync.needs_snapshot and sync.first_buffered == 1020


def test_full_book_snapshot_older_than_the_buffer_is_stale():
    venue = BybitVenue("spot", [SPOT], book_depth="full")
    sync = venue.new_book_sync(SPOT)
    sync.on_diff(full_delta(100, 1000, [["100", "1"]]))
    assert sync.on_snapshot(full_snapshot(venue, 990, [["100", "5"]], [])) == STALE_SNAPSHOT
    assert not sync.synced and sync.first_buffered == 1000
    assert sync.on_snapshot(full_snapshot(venue, 1000, [["100", "1"]], [["101", "1"]])) == SYNCED
    # seq == snapshot.seq is kept and re-applied: absolute sizes make that harmless
    assert sync.book.side_dicts() == ({100.0: 1.0}, {101.0: 1.0})


def test_full_book_newer_snapshot_ignores_deltas_in_flight():
    venue = BybitVenue("spot", [SPOT], book_depth="full")
    sync = venue.new_book_sync(SPOT)
    sync.on_diff(full_delta(100, 1000, [["100", "1"]]))
    assert sync.on_snapshot(full_snapshot(venue, 1050, [["100", "4"]], [["101", "1"]])) == SYNCED
    # sent before the snapshot was taken: it chains on u but the book already has it
    assert sync.on_diff(full_delta(101, 1040, [["100", "2"]])) == IGNORED
    assert sync.on_diff(full_delta(102, 1060, [["99", "1"]])) == APPLIED
    assert sync.book.side_dicts()[0] == {100.0: 4.0, 99.0: 1.0}
    assert sync.on_diff(full_delta(104, 1070, [])) == GAP


def test_full_book_hole_in_the_buffer_restarts_it():
    venue = BybitVenue("spot", [SPOT], book_depth="full")
    sync = venue.new_book_sync(SPOT)
    sync.on_diff(full_delta(100, 1000, [["100", "1"]]))
    assert sync.on_diff(full_delta(102, 1010, [["99", "1"]])) == BUFFERED
    assert sync.first_buffered == 1010


def test_full_book_restart_numbering_is_a_gap():
    venue = BybitVenue("spot", [SPOT], book_depth="full")
    sync = venue.new_book_sync(SPOT)
    sync.on_diff(full_delta(100, 1000, [["100", "1"]]))
    sync.on_snapshot(full_snapshot(venue, 1000, [["100", "1"]], []))
    assert sync.on_diff(full_delta(1, 5, [["100", "1"]])) == GAP


# -- metadata and REST -------------------------------------------------------------------------

def test_instruments_spot(fixture_text):
    insts = instruments_from_instruments_info(orjson.loads(fixture_text("bybit/instruments_spot.json")), "spot")
    assert [i.id for i in insts] == ["cryptopair_bybit_btcusdt", "cryptopair_bybit_ethusdc"]
    btc = insts[0]
    assert (btc.venue_symbol, btc.tick_size, btc.lot_size, btc.min_notional, btc.contract_size) == (
        "BTCUSDT", 0.01, 0.000001, 1.0, 1.0)


def test_instruments_linear_usdt_perpetuals_only(fixture_text):
    insts = instruments_from_instruments_info(orjson.loads(fixture_text("bybit/instruments_linear.json")), "perp")
    assert [i.id for i in insts] == ["cryptoperp_bybit_btcusdt", "cryptoperp_bybit_1000pepeusdt"]
    btc = insts[0]
    assert (btc.symbol, btc.tick_size, btc.lot_size, btc.min_notional) == ("BTC/USDT:USDT", 0.1, 0.001, 5.0)
    assert insts[1].base == "1000PEPE" and insts[1].lot_size == 100.0


def test_instruments_error_reply_raises(fixture_text):
    with pytest.raises(ValueError):
        instruments_from_instruments_info(orjson.loads(fixture_text("bybit/error_rest.json")), "spot")


def test_kline_history_oldest_first(spot, fixture_text):
    assert spot.klines_path(SPOT, "1m", 500) == \
        "/v5/market/kline?category=spot&symbol=BTCUSDT&interval=1&limit=500"
    assert BybitVenue("perp", []).klines_path(PERP, "4h", 5000, start_ms=1, end_ms=2) == \
        "/v5/market/kline?category=linear&symbol=BTCUSDT&interval=240&start=1&end=2&limit=1000"
    ks = spot.parse_klines(fixture_text("bybit/kline_rest.json"), SPOT, "1m")
    assert [k.open_time for k in ks] == [1699999920000, 1699999980000, 1700000040000]
    assert ks[0] == Kline(SPOT.id, "1m", 1699999920000, 29990.0, 30001.0, 29985.0, 30000.0, 0.75, True)
    assert [k.closed for k in ks] == [True, True, False]
    ks = spot.parse_klines(fixture_text("bybit/kline_rest.json"), SPOT, "1m", now_ms=1700000100000)
    assert all(k.closed for k in ks)
    with pytest.raises(ValueError):
        spot.parse_klines(fixture_text("bybit/error_rest.json"), SPOT, "1m")


def test_snapshot_paths_and_parsing(fixture_text):
    full = BybitVenue("perp", [PERP], book_depth="full")
    assert full.snapshot_path(PERP) == "/v5/market/full_orderbook?category=linear&symbol=BTCUSDT"
    assert BybitVenue("spot", [SPOT]).snapshot_path(SPOT) == \
        "/v5/market/orderbook?category=spot&symbol=BTCUSDT&limit=200"
    snap = full.parse_snapshot(fixture_text("bybit/full_orderbook_rest.json"))
    assert (snap.last_update_id, snap.seq, snap.ts) == (7000, 81005, 1700000000130)
    assert snap.bids[0] == ["30000.10", "1.500"]
    for bad in (fixture_text("bybit/error_rest.json"), '{"retCode":0,"result":{}}'):
        with pytest.raises(ValueError):
            full.parse_snapshot(bad)


def test_registry_knows_bybit(fixture_text):
    assert ("bybit", "spot") in registry.KNOWN and ("bybit", "perp") in registry.KNOWN
    assert registry.metadata_path("bybit", "spot") == "/v5/market/instruments-info?category=spot"
    assert registry.metadata_path("bybit", "perp").startswith("/v5/market/instruments-info?category=linear")
    insts = registry.instruments_from_metadata("bybit", "perp", fixture_text("bybit/instruments_linear.json"))
    venue = registry.make_venue("bybit", "perp", insts)
    assert isinstance(venue, BybitVenue) and venue.instrument("BTCUSDT").id == PERP.id
