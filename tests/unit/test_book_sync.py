"""The buffered-snapshot sync every REST-snapshot venue shares (app.venues.base): the
same buffer limit and overflow rule for Binance, OKX's snapshot-less mode and Bybit's
``orderbook.full``, and the feed counting an overflow as a gap and asking for a new
snapshot that then builds the right book."""

import orjson
import pytest

import app.venues.base as base
from app.feeds.core import FeedCore
from app.feeds.hub import MarketHub
from app.market.instruments import Instrument
from app.venues.base import (APPLIED, BUFFERED, GAP, SYNCED, BookSnapshot, BufferedBookSync,
                             DepthDiff)
from app.venues.binance import BinanceBookSync, BinanceVenue
from app.venues.bybit import BybitBook, BybitBookData, BybitFullBookSync
from app.venues.okx import OkxBook, OkxBookSync

BTC = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT", tick_size=0.01, lot_size=0.00001)


@pytest.fixture
def small_buffer(monkeypatch):
    monkeypatch.setattr(base, "MAX_BUFFERED_DIFFS", 3)
    return 3


def _binance(first: int) -> DepthDiff:
    return DepthDiff("BTCUSDT", 0, first, first, first - 1, [(100.0, float(first))], [])


def _okx(prev: int) -> OkxBook:
    return OkxBook("BTC-USDT", "update", 1, prev + 1, prev, 0, [(100.0, float(prev))], [], None, None)


def _bybit(u: int) -> BybitBook:
    return BybitBook("orderbook.full.BTCUSDT", "delta",
                     BybitBookData("BTCUSDT", [(100.0, float(u))], [], u, 1000 + u), 1)


@pytest.mark.parametrize("make_sync, diff", [
    (lambda: BinanceBookSync(perp=False), _binance),
    (lambda: BinanceBookSync(perp=True), _binance),
    (lambda: OkxBookSync(snapshotless=True), _okx),
    (BybitFullBookSync, _bybit),
])
def test_a_full_buffer_is_a_gap_and_the_diff_opens_the_next(small_buffer, make_sync, diff):
    sync = make_sync()
    assert isinstance(sync, BufferedBookSync)
    assert [sync.on_diff(diff(n)) for n in (10, 11, 12)] == [BUFFERED] * 3
    first = sync.first_buffered
    assert sync.on_diff(diff(13)) == GAP  # the snapshot is not coming: start over, counted
    assert not sync.synced and sync.needs_snapshot
    assert sync.first_buffered != first and sync._buffer == [diff(13)]
    assert sync.on_diff(diff(14)) == BUFFERED


def test_one_buffer_limit_for_every_venue():
    import app.venues.binance as binance
    import app.venues.bybit as bybit
    import app.venues.okx as okx
    for module in (binance, bybit, okx):
        assert not hasattr(module, "MAX_BUFFERED_DIFFS"), module.__name__


def _depth_frame(first: int, last: int, bids: list) -> str:
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": last, "b": bids,
        "a": []}}).decode()


def test_feed_counts_an_overflow_as_a_gap_and_resyncs_from_a_new_snapshot(small_buffer):
    venue = BinanceVenue("spot", [BTC])
    hub = MarketHub()
    requested: list[str] = []
    core = FeedCore(venue, hub, [BTC], request_snapshot=requested.append)
    on_frame = core.frame_handler(venue.new_decoder())
    for n in range(1, 4):
        on_frame(_depth_frame(n, n, [[f"{100 + n}", "1"]]), 0.0)
    assert requested == [BTC.id] and core.stats.gaps == 0
    # the snapshot never came and the buffer is full: the fourth diff is a gap
    on_frame(_depth_frame(4, 4, [["104", "1"]]), 0.0)
    assert core.stats.gaps == 1 and not hub.state(BTC.id).synced
    assert requested == [BTC.id, BTC.id]  # asked again, for the buffer as it now is
    on_frame(_depth_frame(5, 5, [["101", "0"]]), 0.0)
    snapshot = orjson.dumps({"lastUpdateId": 4, "bids": [["101", "1"], ["104", "1"]], "asks": [["110", "2"]]})
    assert core.on_snapshot_text(BTC.id, snapshot) == SYNCED
    assert hub.state(BTC.id).synced
    assert hub.state(BTC.id).book.side_dicts() == ({104.0: 1.0}, {110.0: 2.0})


def test_snapshot_replays_the_kept_diffs_through_the_venue_rule():
    sync = BinanceBookSync(perp=False)
    for first in (5, 6, 7):
        assert sync.on_diff(_binance(first)) == BUFFERED
    assert sync.on_snapshot(BookSnapshot(5, [["100", "9"]], [])) == SYNCED
    assert sync.last_id == 7 and sync.book.side_dicts() == ({100.0: 7.0}, {})
    assert sync.on_diff(_binance(8)) == APPLIED
    assert sync.on_diff(_binance(10)) == GAP
