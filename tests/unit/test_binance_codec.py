import orjson
import pytest

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.venues.base import (APPLIED, BUFFERED, GAP, IGNORED, STALE_SNAPSHOT, SYNCED, Ack,
                             BookSnapshot, DepthDiff, Unknown)
from app.venues.binance import (BinanceBookSync, BinanceDepth, BinanceVenue,
                                instruments_from_exchange_info)

SPOT = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT")
PERP = Instrument("binance", "perp", "BTC", "USDT", "BTCUSDT")


@pytest.fixture
def spot():
    return BinanceVenue("spot", [SPOT])


@pytest.fixture
def perp():
    return BinanceVenue("perp", [PERP])


def test_ids_and_symbols():
    assert SPOT.id == "cryptopair_binance_btcusdt" and SPOT.symbol == "BTC/USDT"
    assert PERP.id == "cryptoperp_binance_btcusdt" and PERP.symbol == "BTC/USDT:USDT"


def test_depth_update_raw(spot, fixture_text):
    d = spot.decode(fixture_text("binance/spot_depth_update.json"))
    assert isinstance(d, BinanceDepth)
    assert (d.symbol, d.first, d.last, d.ts, d.prev) == ("BTCUSDT", 101, 104, 1700000000123, -1)
    assert d.bids == [(30000.1, 1.5), (29999.9, 0.0)]
    assert d.asks == [(30000.2, 0.75)]


def test_aggtrade_combined_taker_side(spot, fixture_text):
    tr = spot.decode(fixture_text("binance/spot_aggtrade_combined.json"))
    assert tr == Trade(SPOT.id, 1700000000199, 30000.2, 0.01, "sell", "555")  # m=true: buyer is maker


def test_trade(spot, fixture_text):
    tr = spot.decode(fixture_text("binance/spot_trade.json"))
    assert (tr.side, tr.trade_id, tr.price) == ("buy", "777", 30000.1)


def test_kline(spot, fixture_text):
    k = spot.decode(fixture_text("binance/spot_kline.json"))
    assert k == Kline(SPOT.id, "1m", 1699999980000, 29990.0, 30010.0, 29980.5, 30000.2, 12.5, False)
    assert k.to_json()["type"] == "kline"


def test_ticker(spot, fixture_text):
    tk = spot.decode(fixture_text("binance/spot_ticker.json"))
    assert isinstance(tk, Ticker)
    assert (tk.last, tk.bid, tk.ask, tk.high_24h, tk.low_24h, tk.volume_24h) == (
        30000.2, 30000.1, 30000.2, 30100.0, 29300.0, 15234.5)
    assert tk.change_pct == pytest.approx(2.0408, abs=1e-3)


def test_mark_price_is_funding(perp, fixture_text):
    f = perp.decode(fixture_text("binance/perp_mark_price.json"))
    assert f == Funding(PERP.id, 1700000000600, 0.0001, 1700006400000, 30005.0, 30001.5)


def test_ack_and_errors(spot):
    assert spot.decode('{"result":null,"id":3}') == Ack(3, None, None)
    ack = spot.decode('{"error":{"code":2,"msg":"Invalid request"},"id":4}')
    assert isinstance(ack, Ack) and ack.error == "Invalid request"


@pytest.mark.parametrize("frame", ['{"stream":"x","data":{', "[1,2]", "garbage",
                                   '{"e":"aggTrade","s":"BTCUSDT","p":"NaN","q":"1","T":1,"m":true,"a":1}',
                                   '{"e":"depthUpdate","s":"BTCUSDT","E":1,"U":1,"u":2,"b":5,"a":[]}',
                                   '{"e":"depthUpdate","s":"BTCUSDT","E":1,"U":1,"u":2,"b":[["1","NaN"]],"a":[]}',
                                   '{"e":"depthUpdate","s":"BTCUSDT","E":1,"U":1,"u":2,"b":[["1","-2"]],"a":[]}',
                                   '{"e":"kline","s":"BTCUSDT","k":{}}'])
def test_malformed_frames_are_reported_not_raised(spot, frame):
    out = spot.decode(frame)
    assert isinstance(out, Unknown) and out.malformed


def test_unknown_symbol_is_not_malformed(spot):
    out = spot.decode('{"e":"aggTrade","s":"DOGEUSDT","p":"1","q":"1","T":1,"m":true,"a":1}')
    assert isinstance(out, Unknown) and not out.malformed


def test_subscribe_messages_batch(spot):
    streams = [f"s{i}@aggTrade" for i in range(250)]
    msgs = [orjson.loads(m) for m in spot.subscribe_messages(streams)]
    assert [len(m["params"]) for m in msgs] == [100, 100, 50]
    assert all(m["method"] == "SUBSCRIBE" for m in msgs)
    assert len({m["id"] for m in msgs}) == 3


def test_usdm_routing(perp):
    plans = perp.connection_plans("wss://fstream.example", [PERP], ["1m"])
    by_url = {p.url: p.streams for p in plans}
    assert by_url["wss://fstream.example/public/stream"] == ["btcusdt@depth@100ms"]
    assert set(by_url["wss://fstream.example/market/stream"]) == {
        "btcusdt@aggTrade", "btcusdt@ticker", "btcusdt@markPrice@1s", "btcusdt@kline_1m"}


def test_spot_plan_splits_at_stream_cap(spot):
    insts = [Instrument("binance", "spot", f"C{i}", "USDT", f"C{i}USDT") for i in range(300)]
    plans = BinanceVenue("spot", insts).connection_plans("wss://x", insts, ["1m"])
    assert len(plans) == 2 and sum(len(p.streams) for p in plans) == 1200


def test_exchange_info(fixture_text):
    insts = instruments_from_exchange_info(orjson.loads(fixture_text("binance/exchange_info_spot.json")), "spot")
    assert [i.id for i in insts] == ["cryptopair_binance_btcusdt"]  # ETHBTC is not trading
    assert (insts[0].tick_size, insts[0].lot_size, insts[0].min_notional) == (0.01, 0.00001, 5.0)


def test_rest_klines(spot, fixture_text):
    ks = spot.parse_klines(fixture_text("binance/klines_rest.json"), SPOT, "1m")
    assert [k.closed for k in ks] == [True, True, False]
    assert ks[-1].close == 30000.2 and ks[0].volume == 10.5
    assert spot.klines_path(SPOT, "1m", 500).startswith("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=500")


# -- sync ------------------------------------------------------------------------------

def diff(first, last, bids=(), asks=(), prev=-1):
    return DepthDiff("BTCUSDT", 0, first, last, prev, [(float(p), float(q)) for p, q in bids],
                     [(float(p), float(q)) for p, q in asks])


def test_spot_sync_buffer_drop_straddle(spot, fixture_text):
    sync = BinanceBookSync(perp=False)
    snap = spot.parse_snapshot(fixture_text("binance/spot_depth_snapshot.json"))  # lastUpdateId 100
    assert sync.on_diff(diff(95, 99, [("1", "1")])) == BUFFERED  # entirely before the snapshot
    assert sync.on_diff(diff(100, 102, [("30000.10", "5")])) == BUFFERED  # straddles 101
    assert sync.on_diff(diff(103, 105, asks=[("30000.20", "0")])) == BUFFERED
    assert sync.on_snapshot(snap) == SYNCED
    bids, _ = sync.book.side_dicts()
    assert bids[30000.1] == 5.0 and 1.0 not in bids
    assert sync.book.best_ask == (30000.5, 1.25)
    assert sync.last_id == 105
    assert sync.on_diff(diff(100, 104)) == IGNORED
    assert sync.on_diff(diff(106, 106, [("29999.50", "0")])) == APPLIED
    assert sync.on_diff(diff(108, 110)) == GAP  # 107 lost
    assert not sync.synced and sync.needs_snapshot and len(sync.book) == 0
    assert sync.first_buffered == 108  # the new stream starts with the diff that showed the gap


def test_spot_snapshot_older_than_buffer_is_refetched(spot):
    sync = BinanceBookSync(perp=False)
    sync.on_diff(diff(200, 205))
    assert sync.on_snapshot(BookSnapshot(150, [["1", "1"]], [["2", "1"]])) == STALE_SNAPSHOT
    assert not sync.synced
    assert sync.on_snapshot(BookSnapshot(201, [["1", "1"]], [["2", "1"]])) == SYNCED


def test_spot_buffer_not_connecting_to_snapshot_is_a_gap():
    sync = BinanceBookSync(perp=False)
    sync.on_diff(diff(100, 101))
    sync.on_diff(diff(105, 106))  # 102-104 were lost while buffering
    assert sync.on_snapshot(BookSnapshot(102, [], [])) == GAP
    assert not sync.synced


def test_spot_snapshot_with_empty_buffer_then_first_event():
    sync = BinanceBookSync(perp=False)
    assert sync.on_snapshot(BookSnapshot(50, [["1", "1"]], [["2", "1"]])) == SYNCED
    assert sync.on_diff(diff(40, 50)) == IGNORED
    assert sync.on_diff(diff(45, 52, [("1", "3")])) == APPLIED
    assert sync.book.best_bid == (1.0, 3.0)


def test_perp_sync_pu_chaining(perp, fixture_text):
    sync = BinanceBookSync(perp=True)
    frames = orjson.loads(fixture_text("binance/perp_depth_sequence.json"))
    diffs = [perp.decode(orjson.dumps(f)) for f in frames]
    for d in diffs:
        assert sync.on_diff(d) == BUFFERED
    snap = perp.parse_snapshot(fixture_text("binance/perp_depth_snapshot.json"))  # lastUpdateId 5005
    assert sync.on_snapshot(snap) == SYNCED  # first kept: U 5000 <= 5005 <= u 5010
    assert sync.last_id == 5052
    assert sync.book.side_dicts() == ({30000.0: 2.0, 30000.5: 0.1},
                                      {30001.0: 1.0, 30002.0: 4.5, 30003.0: 1.0})
    # futures U jumps: only pu matters
    nxt = DepthDiff("BTCUSDT", 0, 5070, 5080, 5052, [], [(30001.0, 0.0)])
    assert sync.on_diff(nxt) == APPLIED
    bad = DepthDiff("BTCUSDT", 0, 5081, 5090, 5079, [], [])
    assert sync.on_diff(bad) == GAP


def test_perp_first_event_must_straddle():
    sync = BinanceBookSync(perp=True)
    sync.on_snapshot(BookSnapshot(100, [], []))
    assert sync.on_diff(DepthDiff("BTCUSDT", 0, 102, 110, 101, [], [])) == GAP
