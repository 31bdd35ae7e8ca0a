"""OKX v5 codec: every channel from fixtures, units (SWAP contracts -> base), the books
sync rules of both modes, checksums, subscriptions and connection plans."""

import zlib

import orjson
import pytest

from app.market.events import Funding, Kline, Ticker, Trade
from app.market.instruments import Instrument
from app.venues.base import (APPLIED, BUFFERED, CHECKSUM_FAILED, GAP, IGNORED, STALE_SNAPSHOT,
                             SYNCED, Ack, BookSnapshot, Events, Unknown)
from app.venues.okx import (OkxBook, OkxBookSync, OkxVenue, book_checksum, instruments_from_okx,
                            size_parser)

SPOT = Instrument("okx", "spot", "BTC", "USDT", "BTC-USDT", tick_size=0.1, lot_size=1e-8)
SWAP = Instrument("okx", "perp", "BTC", "USDT", "BTC-USDT-SWAP", tick_size=0.1, lot_size=0.0001,
                  contract_size=0.01)


@pytest.fixture
def spot():
    return OkxVenue("spot", [SPOT])


@pytest.fixture
def perp():
    return OkxVenue("perp", [SWAP])


def frame(fixture_text, name: str) -> str:
    return fixture_text(f"okx/{name}.json")


def test_ids_and_symbols():
    assert SPOT.id == "cryptopair_okx_btcusdt" and SPOT.symbol == "BTC/USDT"
    assert SWAP.id == "cryptoperp_okx_btcusdt" and SWAP.symbol == "BTC/USDT:USDT"


# -- checksum ---------------------------------------------------------------------------

def test_published_checksum_example():
    # 3366.1:7:3366.8:9:3366:6:3368:8 -> -1881014294 (OKX's documented example)
    bids, asks = [("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")]
    assert book_checksum(bids, asks) == -1881014294


def test_checksum_interleaves_unequal_sides_and_stops_at_25():
    bids = [(str(100 - i), "1") for i in range(30)]
    asks = [("101", "2")]
    parts = ["100", "1", "101", "2"] + [x for i in range(1, 25) for x in (str(100 - i), "1")]
    expected = zlib.crc32(":".join(parts).encode())
    expected = expected - (1 << 32) if expected >= 1 << 31 else expected
    assert book_checksum(bids, asks) == expected


# -- units --------------------------------------------------------------------------------

def test_contract_sizes_convert_exactly():
    to_base = size_parser(0.01)
    assert to_base("12.34") == 0.1234 and to_base("415") == 4.15 and to_base("3") == 0.03
    assert size_parser(1000.0)("0.1") == 100.0
    assert size_parser(0.5)("3") == 1.5  # not a power of ten: exact decimal product
    assert size_parser(1.0) is float


# -- books ----------------------------------------------------------------------------------

def test_books_snapshot_and_update_decode(spot, fixture_text):
    snap = spot.decode(frame(fixture_text, "books_snapshot"))
    assert isinstance(snap, OkxBook)
    assert (snap.symbol, snap.action, snap.prev, snap.seq, snap.ts) == (
        "BTC-USDT", "snapshot", -1, 9001234567, 1786540400100)
    assert snap.bids[0] == (64120.5, 0.5) and snap.asks[1] == (64121.0, 3.0)
    assert snap.raw_bids[1] == ("64120", "1.25")  # the text is kept for the checksum
    upd = spot.decode(frame(fixture_text, "books_update"))
    assert (upd.action, upd.prev, upd.seq) == ("update", 9001234567, 9001234574)
    assert upd.bids == [(64120.0, 0.0), (64120.2, 0.3)]


def _zeroed(text: str) -> str:
    """The frame as production sends it since 2026-06: ``checksum: 0``."""
    msg = orjson.loads(text)
    msg["data"][0]["checksum"] = 0
    return orjson.dumps(msg).decode()


def test_zero_checksum_push_decodes_without_raw_strings(spot, perp, fixture_text):
    snap = spot.decode(_zeroed(frame(fixture_text, "books_snapshot")))
    assert snap.checksum == 0 and snap.raw_bids is None and snap.raw_asks is None
    assert snap.bids[0] == (64120.5, 0.5) and snap.asks[1] == (64121.0, 3.0)
    msg = perp.decode(_zeroed(frame(fixture_text, "books_snapshot_swap")))
    assert msg.raw_bids is None
    assert msg.bids == [(63921.0, 7.793), (63920.5, 0.12)]  # contracts -> base, as with raw
    assert msg.asks == [(63921.1, 18.7175), (63922.0, 0.0001)]


def test_zero_checksum_books_sync_from_fixtures(spot, fixture_text):
    sync = spot.new_book_sync(SPOT)
    assert sync.on_diff(spot.decode(_zeroed(frame(fixture_text, "books_snapshot")))) == SYNCED
    assert sync.on_diff(spot.decode(_zeroed(frame(fixture_text, "books_update")))) == APPLIED
    assert not sync.verifies_checksums and sync.checksums_checked == 0
    assert sync.book.side_dicts() == ({64120.5: 0.5, 64120.2: 0.3, 64119.9: 0.002},
                                      {64120.6: 0.75, 64121.0: 2.5, 64122.4: 0.01})


def test_books_sync_snapshot_update_with_checksums(spot, fixture_text):
    sync = spot.new_book_sync(SPOT)
    assert sync.on_diff(spot.decode(frame(fixture_text, "books_update"))) == IGNORED  # no snapshot yet
    assert sync.on_diff(spot.decode(frame(fixture_text, "books_snapshot"))) == SYNCED
    assert sync.on_diff(spot.decode(frame(fixture_text, "books_update"))) == APPLIED
    assert sync.checksums_checked == 2 and sync.verifies_checksums
    bids, asks = sync.book.side_dicts()
    assert bids == {64120.5: 0.5, 64120.2: 0.3, 64119.9: 0.002}
    assert asks == {64120.6: 0.75, 64121.0: 2.5, 64122.4: 0.01}
    assert sync.last_id == 9001234574


def _unsequenced(text: str) -> str:
    """The frame as OKX sent it before 2023: no ``seqId``/``prevSeqId``, checksum only."""
    msg = orjson.loads(text)
    for d in msg["data"]:
        d.pop("seqId", None)
        d.pop("prevSeqId", None)
    return orjson.dumps(msg).decode()


def test_books_without_sequence_ids_decode_and_sync_by_checksum(spot, fixture_text):
    snap = spot.decode(_unsequenced(frame(fixture_text, "books_snapshot")))
    upd = spot.decode(_unsequenced(frame(fixture_text, "books_update")))
    assert isinstance(snap, OkxBook) and isinstance(upd, OkxBook)  # not malformed
    sync = spot.new_book_sync(SPOT)
    assert sync.on_diff(snap) == SYNCED and sync.verifies_checksums
    assert sync.on_diff(upd) == APPLIED  # nothing to chain: the checksum vouches for it
    assert sync.checksums_checked == 2
    assert sync.book.side_dicts() == ({64120.5: 0.5, 64120.2: 0.3, 64119.9: 0.002},
                                      {64120.6: 0.75, 64121.0: 2.5, 64122.4: 0.01})


def test_books_without_sequence_ids_fail_on_a_bad_checksum(spot, fixture_text):
    sync = spot.new_book_sync(SPOT)
    assert sync.on_diff(spot.decode(_unsequenced(frame(fixture_text, "books_snapshot")))) == SYNCED
    bad = orjson.loads(_unsequenced(frame(fixture_text, "books_update")))
    bad["data"][0]["checksum"] = 12345  # a lost update shows as a wrong checksum
    assert sync.on_diff(spot.decode(orjson.dumps(bad))) == CHECKSUM_FAILED
    assert not sync.synced and len(sync.book) == 0


def test_sequence_ids_appearing_on_an_unsequenced_book_start_the_chain(spot, fixture_text):
    sync = spot.new_book_sync(SPOT)
    assert sync.on_diff(spot.decode(_unsequenced(frame(fixture_text, "books_snapshot")))) == SYNCED
    assert sync.on_diff(spot.decode(frame(fixture_text, "books_update"))) == APPLIED
    assert sync.last_id == 9001234574  # chained from here on
    assert sync.on_diff(_book("update", 9001234570, 9001234580)) == GAP


def test_swap_book_in_base_units_checksum_on_contract_strings(perp, fixture_text):
    msg = perp.decode(frame(fixture_text, "books_snapshot_swap"))
    assert msg.bids == [(63921.0, 7.793), (63920.5, 0.12)]
    assert msg.asks == [(63921.1, 18.7175), (63922.0, 0.0001)]
    sync = perp.new_book_sync(SWAP)
    assert sync.on_diff(msg) == SYNCED  # the checksum is over "779.3" etc., as received


def _book(action, prev, seq, bids=(), asks=(), checksum=0):
    raw_b = [(str(p), str(q)) for p, q in bids]
    raw_a = [(str(p), str(q)) for p, q in asks]
    return OkxBook("BTC-USDT", action, 1, seq, prev, checksum, list(bids), list(asks), raw_b, raw_a)


def _synced(checksum=False):
    """A book at seqId 100: 10 x 1 / 11 x 1, its snapshot with a legacy checksum or 0."""
    sync = OkxBookSync()
    crc = book_checksum([("10.0", "1.0")], [("11.0", "1.0")]) if checksum else 0
    assert sync.on_diff(_book("snapshot", -1, 100, [(10.0, 1.0)], [(11.0, 1.0)], crc)) == SYNCED
    assert sync.verifies_checksums is checksum
    return sync


def test_gap_resets_the_book():
    sync = _synced()
    assert sync.on_diff(_book("update", 100, 105, [(10.0, 2.0)])) == APPLIED
    assert sync.on_diff(_book("update", 106, 110, [(10.0, 3.0)])) == GAP
    assert not sync.synced and len(sync.book) == 0 and sync.last_id == -1
    assert sync.on_diff(_book("update", 110, 111)) == IGNORED  # until the new snapshot


def test_keepalive_update_and_maintenance_seq_reset_are_accepted():
    sync = _synced()
    assert sync.on_diff(_book("update", 100, 100)) == APPLIED  # empty keepalive
    assert sync.on_diff(_book("update", 100, 7, [(9.0, 1.0)])) == APPLIED  # seqId went down
    assert sync.on_diff(_book("update", 7, 12, [(9.0, 0.0)])) == APPLIED
    assert sync.synced and sync.last_id == 12
    assert sync.book.side_dicts() == ({10.0: 1.0}, {11.0: 1.0})


def test_checksum_mismatch_fails_and_resets():
    sync = _synced(checksum=True)
    good = book_checksum([("10.0", "2.0")], [("11.0", "1.0")])
    assert sync.on_diff(_book("update", 100, 101, [(10.0, 2.0)], checksum=good)) == APPLIED
    assert sync.on_diff(_book("update", 101, 102, [(10.0, 3.0)], checksum=good)) == CHECKSUM_FAILED
    assert not sync.synced and len(sync.book) == 0
    # a zero checksum (production since 2026-06) is not checked
    sync = _synced()
    assert sync.on_diff(_book("update", 100, 101, [(10.0, 5.0)], checksum=0)) == APPLIED
    assert sync.checksums_checked == 0


def test_zero_checksum_snapshot_keeps_no_raw_strings():
    sync = _synced()
    assert sync.on_diff(_book("update", 100, 101, [(10.0, 5.0)], [(12.0, 1.0)])) == APPLIED
    assert sync.on_diff(_book("update", 101, 101)) == APPLIED  # keepalive
    assert not sync.verifies_checksums and not sync._raw_bids and not sync._raw_asks
    assert sync.book.side_dicts() == ({10.0: 5.0}, {11.0: 1.0, 12.0: 1.0})
    assert sync.checksums_checked == 0


def test_checksum_on_a_book_without_raw_strings_resyncs_then_verifies():
    """Checksums come back (legacy mode) while the book was loaded from a zero-checksum
    snapshot: it cannot be verified, so it is rebuilt; the new snapshot turns tracking on."""
    sync = _synced()
    crc = book_checksum([("10.0", "2.0")], [("11.0", "1.0")])
    assert sync.on_diff(_book("update", 100, 101, [(10.0, 2.0)], checksum=crc)) == GAP
    assert not sync.synced and len(sync.book) == 0 and sync.checksums_checked == 0
    assert sync.on_diff(_book("update", 101, 102, checksum=crc)) == IGNORED  # until the snapshot
    snap = _book("snapshot", -1, 102, [(10.0, 2.0)], [(11.0, 1.0)], checksum=crc)
    assert sync.on_diff(snap) == SYNCED
    assert sync.verifies_checksums and sync.checksums_checked == 1
    crc = book_checksum([("10.0", "2.0")], [("11.0", "4.0")])
    assert sync.on_diff(_book("update", 102, 103, asks=[(11.0, 4.0)], checksum=crc)) == APPLIED
    assert sync.checksums_checked == 2
    bad = _book("update", 103, 104, asks=[(11.0, 5.0)], checksum=crc)
    assert sync.on_diff(bad) == CHECKSUM_FAILED


def test_zero_checksum_update_stops_tracking_and_a_later_checksum_resyncs():
    sync = _synced(checksum=True)
    assert sync.on_diff(_book("update", 100, 101, [(10.0, 3.0)])) == APPLIED
    assert not sync.verifies_checksums and not sync._raw_bids and not sync._raw_asks
    crc = book_checksum([("10.0", "3.0")], [("11.0", "1.0")])  # right, but unverifiable
    assert sync.on_diff(_book("update", 101, 102, checksum=crc)) == GAP
    assert not sync.synced


def test_checksum_uses_the_received_text_not_the_float():
    sync = OkxBookSync()
    msg = OkxBook("X", "snapshot", 1, 5, -1, book_checksum([("8477", "7")], [("8478.50", "1")]),
                  [(8477.0, 7.0)], [(8478.5, 1.0)], [("8477", "7")], [("8478.50", "1")])
    assert sync.on_diff(msg) == SYNCED


def test_snapshot_checksum_failure():
    sync = OkxBookSync()
    bad = _book("snapshot", -1, 5, [(10.0, 1.0)], [(11.0, 1.0)], checksum=123)
    assert sync.on_diff(bad) == CHECKSUM_FAILED
    assert not sync.synced


# -- snapshot-less mode ---------------------------------------------------------------------

def test_snapshotless_buffers_then_rest_snapshot():
    sync = OkxBookSync(snapshotless=True)
    assert sync.needs_snapshot and sync.first_buffered is None
    assert sync.on_diff(_book("update", 100, 104, [(10.0, 2.0)])) == BUFFERED
    assert sync.on_diff(_book("update", 104, 109, [(9.0, 1.0)])) == BUFFERED
    assert sync.first_buffered == 100
    assert sync.on_snapshot(BookSnapshot(99, [["10", "1"]], [["11", "1"]])) == STALE_SNAPSHOT
    # seqId 104 is in the snapshot; 109 straddles it (104 <= 104 < 109) and applies
    assert sync.on_snapshot(BookSnapshot(104, [["10", "2"]], [["11", "1"]])) == SYNCED
    assert sync.synced and not sync.needs_snapshot and sync.last_id == 109
    assert sync.book.side_dicts() == ({10.0: 2.0, 9.0: 1.0}, {11.0: 1.0})
    assert sync.on_diff(_book("update", 109, 110, [(9.0, 0.0)])) == APPLIED


def test_snapshotless_first_kept_must_straddle():
    sync = OkxBookSync(snapshotless=True)
    sync.on_diff(_book("update", 100, 104))
    sync.on_diff(_book("update", 106, 109))  # 104 -> 106 is missing
    assert sync.on_snapshot(BookSnapshot(105, [["10", "1"]], [["11", "1"]])) == GAP
    assert not sync.synced


def test_snapshotless_snapshot_newer_than_buffer_then_straddling_live_update():
    sync = OkxBookSync(snapshotless=True)
    sync.on_diff(_book("update", 100, 104))
    assert sync.on_snapshot(BookSnapshot(106, [["10", "1"]], [["11", "1"]])) == SYNCED
    assert sync.on_diff(_book("update", 104, 106)) == IGNORED  # already in the snapshot
    assert sync.on_diff(_book("update", 106, 108, [(10.0, 4.0)])) == APPLIED
    assert sync.on_diff(_book("update", 109, 111)) == GAP
    assert sync.first_buffered == 109  # the revealing update opens the new buffer


def test_snapshotless_gap_after_live_update():
    sync = OkxBookSync(snapshotless=True)
    sync.on_diff(_book("update", 100, 104))
    assert sync.on_snapshot(BookSnapshot(100, [["10", "1"]], [["11", "1"]])) == SYNCED
    assert sync.on_diff(_book("update", 110, 111)) == GAP
    assert sync.needs_snapshot and sync.first_buffered == 110


def test_snapshotless_first_update_decides_tracking():
    """A REST snapshot has no checksum field: tracking starts on and the first update
    with ``checksum: 0`` turns it off; one with a checksum is verified."""
    sync = OkxBookSync(snapshotless=True)
    sync.on_diff(_book("update", 100, 104))
    assert sync.on_snapshot(BookSnapshot(104, [["10", "1"]], [["11", "1"]])) == SYNCED
    assert sync.verifies_checksums
    assert sync.on_diff(_book("update", 104, 105, [(10.0, 2.0)])) == APPLIED
    assert not sync.verifies_checksums and sync.checksums_checked == 0
    # kept updates carrying checksums are verified against the REST text
    sync = OkxBookSync(snapshotless=True)
    crc = book_checksum([("10", "1")], [("11.0", "3.0")])
    sync.on_diff(_book("update", 100, 106, asks=[(11.0, 3.0)], checksum=crc))
    assert sync.on_snapshot(BookSnapshot(104, [["10", "1"]], [["11", "1"]])) == SYNCED
    assert sync.verifies_checksums and sync.checksums_checked == 1
    sync = OkxBookSync(snapshotless=True)
    sync.on_diff(_book("update", 100, 106, asks=[(11.0, 3.0)], checksum=crc ^ 1))
    assert sync.on_snapshot(BookSnapshot(104, [["10", "1"]], [["11", "1"]])) == GAP


def test_snapshotless_venue_recovers_by_rest(fixture_text):
    venue = OkxVenue("spot", [SPOT], snapshotless=True)
    assert venue.recovery == "snapshot"
    snap = venue.parse_snapshot(frame(fixture_text, "books_rest"))
    assert snap.last_update_id == 9001234570 and snap.bids[0][:2] == ["64120.5", "0.5"]
    assert venue.snapshot_path(SPOT) == "/api/v5/market/books?instId=BTC-USDT&sz=400"
    sync = venue.new_book_sync(SPOT)
    sync.on_diff(venue.decode(frame(fixture_text, "books_update")))  # prev ...567 <= ...570 < ...574
    assert sync.on_snapshot(snap) == SYNCED and sync.last_id == 9001234574


def test_rest_snapshot_without_seq_is_refused(spot):
    with pytest.raises(ValueError):
        spot.parse_snapshot('{"code":"0","msg":"","data":[{"asks":[],"bids":[],"ts":"1"}]}')
    with pytest.raises(ValueError):
        spot.parse_snapshot('{"code":"51001","msg":"Instrument ID does not exist","data":[]}')


# -- other channels ---------------------------------------------------------------------------

def test_trades_taker_side_and_units(spot, perp, fixture_text):
    assert spot.decode(frame(fixture_text, "trades_spot")) == Trade(
        SPOT.id, 1786540436001, 64120.6, 0.01834, "buy", "611021433")
    t = perp.decode(frame(fixture_text, "trades_swap"))
    assert t == Trade(SWAP.id, 1786540436090, 63913.4, 0.3495, "sell", "2832749650")  # 34.95 contracts


def test_several_trades_in_one_frame(spot):
    raw = ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":['
           '{"instId":"BTC-USDT","tradeId":"1","px":"10","sz":"1","side":"buy","ts":"5"},'
           '{"instId":"BTC-USDT","tradeId":"2","px":"11","sz":"2","side":"sell","ts":"6"}]}')
    out = spot.decode(raw)
    assert isinstance(out, Events)
    assert [t.trade_id for t in out.items] == ["1", "2"] and out.items[1].side == "sell"


def test_tickers_volume_in_base(spot, perp, fixture_text):
    tk = spot.decode(frame(fixture_text, "tickers_spot"))
    # SPOT volCcy24h is the quote turnover, kept for the watchlist's 24h volume column
    assert tk == Ticker(SPOT.id, 1786540436100, 64120.6, 64120.5, 64120.6, 64500.0, 62800.1, 8012.5, 63000.0,
                        512345678.9)
    tk = perp.decode(frame(fixture_text, "tickers_swap"))
    assert isinstance(tk, Ticker)
    assert tk.volume_24h == 73998.8786  # volCcy24h (base); vol24h counts contracts
    assert (tk.last, tk.bid, tk.ask, tk.open_24h) == (63921.0, 63921.0, 63921.1, 64297.6)


def test_ticker_empty_fields_are_none(spot):
    raw = ('{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
           '"last":"10","bidPx":"","askPx":"","ts":"1"}]}')
    tk = spot.decode(raw)
    assert (tk.last, tk.bid, tk.ask, tk.volume_24h) == (10.0, None, None, None)


def test_candles(spot, perp, fixture_text):
    k = spot.decode(frame(fixture_text, "candle1m_spot"))
    assert k == Kline(SPOT.id, "1m", 1786540440000, 64100.0, 64130.2, 64099.5, 64120.6, 12.5, False)
    k = perp.decode(frame(fixture_text, "candle1H_swap"))
    assert (k.interval, k.volume, k.closed) == ("1h", 18.0361, True)  # volCcy: base units


def test_funding_and_mark_are_partial_funding_events(perp, fixture_text):
    f = perp.decode(frame(fixture_text, "funding_rate"))
    assert f == Funding(SWAP.id, 1786540475402, -0.0000312, 1786550400000, None, None)
    m = perp.decode(frame(fixture_text, "mark_price"))
    assert m == Funding(SWAP.id, 1786540475500, None, None, 63920.7, None)


def test_acks_errors_and_pong(spot, fixture_text):
    ack = spot.decode(frame(fixture_text, "subscribe_ack"))
    assert ack == Ack("17", None, {"channel": "books", "instId": "BTC-USDT"})
    err = spot.decode(frame(fixture_text, "subscribe_error"))
    assert isinstance(err, Ack) and err.req_id == "18" and err.error.startswith("60018")
    assert spot.decode("pong") is None and spot.decode(b"pong") is None
    assert spot.decode('{"event":"unsubscribe","arg":{"channel":"books","instId":"BTC-USDT"}}').error is None
    assert spot.decode('{"event":"notice","code":"64008","msg":"reconnect soon"}') is None


def test_unknown_instrument_and_channel(spot):
    out = spot.decode('{"arg":{"channel":"trades","instId":"DOGE-USDT"},"data":[]}')
    assert isinstance(out, Unknown) and not out.malformed
    out = spot.decode('{"arg":{"channel":"opt-summary","instId":"BTC-USDT"},"data":[{}]}')
    assert isinstance(out, Unknown) and not out.malformed
    out = spot.decode('{"arg":{"channel":"candle1D","instId":"BTC-USDT"},"data":[[]]}')
    assert isinstance(out, Unknown) and not out.malformed  # Hong Kong days are not ours


BAD_BOOK = ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":%s,'
            '"bids":[],"ts":"1","checksum":0,"prevSeqId":1,"seqId":2}]}')
CHECKED_BAD_BOOK = BAD_BOOK.replace('"checksum":0', '"checksum":-12345')


@pytest.mark.parametrize("raw", [
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["9',
    "garbage", "[1,2]", '"text"',
    BAD_BOOK % '[["NaN","1","0","1"]]', BAD_BOOK % '[["10","-1","0","1"]]',
    BAD_BOOK % '[["inf","1","0","1"]]', BAD_BOOK % '[["10"]]', BAD_BOOK % '5',
    # the same levels on a push with a checksum (the path that keeps the raw text)
    CHECKED_BAD_BOOK % '[["NaN","1","0","1"]]', CHECKED_BAD_BOOK % '[["10","-1","0","1"]]',
    CHECKED_BAD_BOOK % '[["inf","1","0","1"]]', CHECKED_BAD_BOOK % '[["10"]]',
    CHECKED_BAD_BOOK % '[["10","nan","0","1"]]', BAD_BOOK % '[["10","inf","0","1"]]',
    ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"bogus",'
     '"data":[{"asks":[],"bids":[],"ts":"1","seqId":2}]}'),
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"nan","sz":"1","side":"buy","ts":"1"}]}',
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"10","sz":"1","side":"up","ts":"1"}]}',
    '{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"last":"-3","ts":"1"}]}',
    '{"arg":{"channel":"candle1m","instId":"BTC-USDT"},"data":[["1","2"]]}',
    '{"arg":{"channel":"mark-price","instId":"BTC-USDT"},"data":[{"markPx":"0","ts":"1"}]}',
])
def test_malformed_frames_are_reported_not_raised(spot, raw):
    out = spot.decode(raw)
    assert isinstance(out, Unknown) and out.malformed, out


def test_swap_malformed_contract_size(perp):
    raw = ('{"arg":{"channel":"trades","instId":"BTC-USDT-SWAP"},"data":[{"px":"10","sz":"abc",'
           '"side":"buy","ts":"1"}]}')
    assert perp.decode(raw).malformed
    for checksum in ("0", "7"):  # a bad contract size is malformed on both books paths
        raw = ('{"arg":{"channel":"books","instId":"BTC-USDT-SWAP"},"action":"update","data":'
               '[{"asks":[["10","abc","0","1"]],"bids":[],"ts":"1","checksum":%s,'
               '"prevSeqId":1,"seqId":2}]}' % checksum)
        assert perp.decode(raw).malformed


# -- subscriptions and connections ------------------------------------------------------------

def test_subscribe_messages(spot):
    msgs = [orjson.loads(m) for m in spot.subscribe_messages(["books:BTC-USDT", "candle1m:BTC-USDT"])]
    assert len(msgs) == 1
    assert msgs[0]["op"] == "subscribe" and isinstance(msgs[0]["id"], str)
    assert msgs[0]["args"] == [{"channel": "books", "instId": "BTC-USDT"},
                               {"channel": "candle1m", "instId": "BTC-USDT"}]
    unsub = orjson.loads(spot.subscribe_messages(["books:BTC-USDT"], "UNSUBSCRIBE")[0])
    assert unsub["op"] == "unsubscribe" and unsub["id"] != msgs[0]["id"]


def test_subscribe_messages_stay_under_64kb(spot):
    streams = [f"candle1m:COIN{i:05d}-USDT-SWAP" for i in range(3000)]
    msgs = spot.subscribe_messages(streams)
    assert len(msgs) > 1 and all(len(m.encode()) < 64 * 1024 for m in msgs)
    assert sum(len(orjson.loads(m)["args"]) for m in msgs) == 3000


def test_connection_plans_split_books_and_business():
    insts = [Instrument("okx", "perp", f"C{i}", "USDT", f"C{i}-USDT-SWAP", contract_size=1.0)
             for i in range(60)]
    venue = OkxVenue("perp", insts)
    plans = venue.connection_plans("wss://ws.okx.com:8443/ws/v5/", insts, ["1m", "1h"])
    public = [p for p in plans if p.url.endswith("/public")]
    business = [p for p in plans if p.url.endswith("/business")]
    assert [p.url for p in public] == ["wss://ws.okx.com:8443/ws/v5/public"] * 3
    for p in public:
        assert sum(s.startswith("books:") for s in p.streams) < 30
    assert {s.split(":")[0] for s in public[0].streams} == {
        "books", "trades", "tickers", "funding-rate", "mark-price"}
    assert len(business) == 1 and len(business[0].streams) == 120
    assert "candle1H:C0-USDT-SWAP" in business[0].streams
    assert all(venue.stream_group(s) == "business" for s in business[0].streams)
    assert venue.kline_stream(insts[0], "1d") == ("candle1Dutc:C0-USDT-SWAP", "business")
    assert venue.book_streams(insts[0]) == ["books:C0-USDT-SWAP"]
    # a connection full to max_streams("public") still carries fewer than 30 books
    assert venue.max_streams("public") // len(venue.public_streams(insts[0])) < 30
    assert venue.max_streams("business") >= len(business[0].streams)


def test_spot_plans_and_keepalive(spot):
    plans = spot.connection_plans("wss://ws.okx.com:8443/ws/v5", [SPOT], ["1m"])
    assert [(p.url, p.streams) for p in plans] == [
        ("wss://ws.okx.com:8443/ws/v5/public", ["books:BTC-USDT", "trades:BTC-USDT", "tickers:BTC-USDT"]),
        ("wss://ws.okx.com:8443/ws/v5/business", ["candle1m:BTC-USDT"])]
    assert spot.ws_ping_interval is None and spot.keepalive == (25.0, "ping")
    assert spot.recovery == "resubscribe" and spot.config_key == "okx"


# -- REST ---------------------------------------------------------------------------------------

def test_instruments_spot(fixture_text):
    insts = instruments_from_okx(orjson.loads(frame(fixture_text, "instruments_spot")), "spot")
    assert [i.id for i in insts] == ["cryptopair_okx_btcusdt", "cryptopair_okx_ethusdc"]  # suspended dropped
    btc = insts[0]
    assert (btc.venue_symbol, btc.tick_size, btc.lot_size, btc.contract_size) == ("BTC-USDT", 0.1, 1e-8, 1.0)


def test_instruments_swap_linear_usdt_only(fixture_text):
    data = orjson.loads(frame(fixture_text, "instruments_swap"))
    insts = instruments_from_okx(data, "perp")
    assert [i.venue_symbol for i in insts] == ["BTC-USDT-SWAP", "DOGE-USDT-SWAP"]
    btc, doge = insts
    assert (btc.id, btc.base, btc.quote, btc.contract_size, btc.lot_size) == (
        "cryptoperp_okx_btcusdt", "BTC", "USDT", 0.01, 0.0001)  # lotSz 0.01 contracts
    assert (doge.contract_size, doge.lot_size) == (1000.0, 100.0)
    assert instruments_from_okx(data, "perp", wanted={"DOGE-USDT-SWAP"}) == [doge]
    with pytest.raises(ValueError):
        instruments_from_okx({"code": "50011", "msg": "Too Many Requests", "data": []}, "perp")



def test_a_range_further_back_than_candles_serves_goes_to_history_candles():
    """``/market/candles`` answers only the latest 1440 bars; older pages go to
    ``history-candles``, at its 100 rows a request."""
    now = 1_800_000_000_000
    venue = OkxVenue("perp", [SWAP], clock=lambda: now)
    recent = venue.klines_path(SWAP, "1m", 300, start_ms=now - 600 * 60_000, end_ms=now - 301 * 60_000)
    assert recent.startswith("/api/v5/market/candles?") and "limit=300" in recent
    old = venue.klines_path(SWAP, "1m", 300, start_ms=now - 3 * 86_400_000)
    assert old.startswith("/api/v5/market/history-candles?") and "limit=100" in old
    # by bars, not minutes: 100 hourly bars back is recent, 2000 are not
    assert "/candles?" in venue.klines_path(SWAP, "1h", 100, start_ms=now - 100 * 3_600_000)
    assert "/history-candles?" in venue.klines_path(SWAP, "1h", 100, start_ms=now - 2000 * 3_600_000)
    assert "/candles?" in venue.klines_path(SWAP, "1m", 300)  # the latest bars: no start

def test_klines_rest_oldest_first_in_base(perp, fixture_text):
    path = perp.klines_path(SWAP, "1m", 500)
    assert path == "/api/v5/market/candles?instId=BTC-USDT-SWAP&bar=1m&limit=300"
    assert "bar=1Dutc" in perp.klines_path(SWAP, "1d", 10)
    assert "after=1001" in perp.klines_path(SWAP, "1m", 10, end_ms=1000)
    ks = perp.parse_klines(frame(fixture_text, "candles_rest_swap"), SWAP, "1m")
    assert [k.open_time for k in ks] == [1786540440000, 1786540500000]
    assert (ks[0].volume, ks[0].closed, ks[1].closed) == (18.0361, True, False)
    with pytest.raises(ValueError):
        perp.parse_klines('{"code":"51001","msg":"Instrument ID does not exist","data":[]}', SWAP, "1m")


def test_instruments_path(spot, perp):
    assert spot.instruments_path() == "/api/v5/public/instruments?instType=SPOT"
    assert perp.instruments_path() == "/api/v5/public/instruments?instType=SWAP"


# -- the books fast path ---------------------------------------------------------------------

def _push(inst_id: str, asks: list, bids: list, checksum: int = 0, action: str = "update") -> str:
    return orjson.dumps({"arg": {"channel": "books", "instId": inst_id}, "action": action,
                         "data": [{"asks": asks, "bids": bids, "ts": "1786540471710",
                                   "checksum": checksum, "prevSeqId": 5, "seqId": 9}]}).decode()


def test_fast_path_gives_what_the_general_path_gives(spot, perp, fixture_text):
    for venue, name in ((spot, "books_snapshot"), (spot, "books_update"), (perp, "books_snapshot_swap")):
        raw = _zeroed(frame(fixture_text, name))  # compact, checksum 0: as production sends it
        fast = venue._fast_book(raw)
        assert fast is not None and fast == venue._decode_general(raw) == venue.decode(raw)
        # a legacy checksum needs the raw strings: those pushes take the text path
        assert venue._fast_book(orjson.dumps(orjson.loads(frame(fixture_text, name))).decode()) is None


def test_fast_path_swap_contracts_are_exact_base_amounts():
    swap = Instrument("okx", "perp", "ETH", "USDT", "ETH-USDT-SWAP", tick_size=0.01,
                      lot_size=0.001, contract_size=0.1)  # lot 0.01 contracts
    venue = OkxVenue("perp", [swap])
    sizes = [f"{n / 100:.2f}".rstrip("0").rstrip(".") for n in range(1, 100_000, 37)]
    rows = [[f"{3000 + i / 100:.2f}", sz, "0", "1"] for i, sz in enumerate(sizes)]
    msg = venue._fast_book(_push(swap.venue_symbol, rows, []))
    assert msg is not None
    # float("12.34e-1") is the correctly rounded base amount; q * 0.1 often is not
    assert [q for _, q in msg.asks] == [float(sz + "e-1") for sz in sizes]


def test_contracts_finer_than_the_lot_take_the_exact_path(perp):
    raw = _push("BTC-USDT-SWAP", [["10", "0.123456789", "0", "1"]], [["9", "3", "0", "1"]])
    assert perp._fast_book(raw) is None  # the lot-unit check refuses it
    msg = perp.decode(raw)
    assert isinstance(msg, OkxBook) and msg.asks == [(10.0, 0.00123456789)] and msg.bids == [(9.0, 0.03)]


def test_contract_size_not_a_power_of_ten_takes_the_exact_path():
    odd = Instrument("okx", "perp", "XYZ", "USDT", "XYZ-USDT-SWAP", tick_size=0.1,
                     lot_size=0.5, contract_size=0.5)
    venue = OkxVenue("perp", [odd])
    raw = _push(odd.venue_symbol, [["10", "3", "0", "1"]], [])
    assert venue._fast_book(raw) is None and venue.decode(raw).asks == [(10.0, 1.5)]


@pytest.mark.parametrize("levels", ['[["NaN","1","0","1"]]', '[["10","-1","0","1"]]',
                                    '[["10","1e400","0","1"]]', '[["0","1","0","1"]]'])
def test_fast_path_rejects_bad_levels_and_the_general_path_reports_them(spot, perp, levels):
    for venue, inst_id in ((spot, "BTC-USDT"), (perp, "BTC-USDT-SWAP")):
        raw = BAD_BOOK.replace("BTC-USDT", inst_id) % levels
        assert venue._fast_book(raw) is None
        out = venue.decode(raw)
        assert isinstance(out, Unknown) and out.malformed, out


def test_fast_path_large_contract_values_are_exact():
    doge = Instrument("okx", "perp", "DOGE", "USDT", "DOGE-USDT-SWAP", tick_size=0.00001,
                      lot_size=1000.0, contract_size=1000.0)  # ctVal 1000, lot 1 contract
    venue = OkxVenue("perp", [doge])
    raw = _push(doge.venue_symbol, [["0.1", "7", "0", "1"], ["0.2", "12345", "0", "1"]], [])
    msg = venue._fast_book(raw)
    assert msg is not None and msg.asks == [(0.1, 7000.0), (0.2, 12345000.0)]
