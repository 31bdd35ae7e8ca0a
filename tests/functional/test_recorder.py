"""The recorder: idempotent trades, klines aggregated from trades, venue klines,
funding, book snapshots, the live writer thread and its health."""

from __future__ import annotations

import math
import time

import pytest
from sqlalchemy import text

from app.market.events import BookTop, Funding, Kline, Trade
from app.market.instruments import Instrument
from storage import queries
from storage.db import open_database
from storage.recorder import Recorder
from tests.pg import fresh_database_url

BTC = "cryptopair_binance_btcusdt"
ETH = "cryptopair_binance_ethusdt"
M0 = 1_700_000_040_000  # a minute boundary
assert M0 % 60_000 == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The same tests on both backends (PostgreSQL skips when it cannot run here)."""
    target = tmp_path / "rec.db" if request.param == "sqlite" else fresh_database_url()
    engine = open_database(target, tmp_path)
    yield engine
    engine.dispose()


def tape(instrument_id: str = BTC, start: int = M0, seconds: int = 180, every_ms: int = 1000,
         first_id: int = 1) -> list[Trade]:
    """One trade per ``every_ms``: prices cycle so each minute has a distinct OHLC."""
    out = []
    for i in range(seconds * 1000 // every_ms):
        ts = start + i * every_ms
        price = 100.0 + (i % 13) - (i // 60)
        out.append(Trade(instrument_id, ts, price, 0.25 + (i % 4) * 0.25, "buy" if i % 3 else "sell",
                         str(first_id + i)))
    return out


def expected_minutes(trades: list[Trade]) -> dict[int, tuple[float, float, float, float, float]]:
    minutes: dict[int, list[Trade]] = {}
    for t in trades:
        minutes.setdefault(t.ts - t.ts % 60_000, []).append(t)
    return {m: (ts[0].price, max(t.price for t in ts), min(t.price for t in ts), ts[-1].price,
                sum(t.amount for t in ts)) for m, ts in minutes.items()}


def stored_minutes(db, instrument_id: str = BTC) -> dict[int, tuple]:
    return {k.open_time: (k.open, k.high, k.low, k.close, k.volume)
            for k in queries.klines(db, instrument_id, "1m")}


def count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_klines_aggregated_from_trades_per_minute(db):
    trades = tape(seconds=180)
    Recorder(db).ingest(trades)
    got = stored_minutes(db)
    want = expected_minutes(trades)
    assert sorted(got) == [M0, M0 + 60_000, M0 + 120_000]
    for minute, ohlcv in want.items():
        assert got[minute][:4] == ohlcv[:4]
        assert math.isclose(got[minute][4], ohlcv[4])
    closed = [k.closed for k in queries.klines(db, BTC, "1m")]
    assert closed == [True, True, False]  # the last minute may still get trades


def test_minutes_without_trades_are_absent_not_flat(db):
    trades = tape(seconds=60) + tape(start=M0 + 180_000, seconds=60, first_id=1000)
    Recorder(db).ingest(trades)
    assert sorted(stored_minutes(db)) == [M0, M0 + 180_000]
    assert queries.gaps(db, BTC, "1m") == [queries.Gap(M0 + 60_000, M0 + 180_000, 60_000)]


def test_same_trades_twice_never_double_count(db):
    trades = tape(seconds=240)
    want = expected_minutes(trades)
    rec = Recorder(db)
    rec.ingest(trades)
    first = stored_minutes(db)
    # a reconnect overlap: the second half again, then everything again in a new batch
    rec.ingest(trades[100:])
    rec.ingest(trades, batch_size=37)
    # and a new process (fresh recorder) replaying the same capture
    Recorder(db).ingest(trades)
    assert count(db, "trades") == len(trades)
    assert stored_minutes(db) == first
    for minute, ohlcv in want.items():
        assert math.isclose(stored_minutes(db)[minute][4], ohlcv[4])


def test_partial_captures_of_one_minute_merge(db):
    # two sessions each saw part of the same minute, overlapping: the kline is their union
    trades = tape(seconds=60)
    Recorder(db).ingest(trades[:40])
    Recorder(db).ingest(trades[25:])
    got = stored_minutes(db)[M0]
    want = expected_minutes(trades)[M0]
    assert got[:4] == want[:4] and math.isclose(got[4], want[4])


def test_venue_klines_win_over_aggregated_and_closed_wins_over_open(db):
    rec = Recorder(db)
    rec.ingest(tape(seconds=120))
    venue_open = Kline(BTC, "1m", M0, 1.0, 2.0, 0.5, 1.5, 10.0, closed=False)
    venue_closed = Kline(BTC, "1m", M0, 1.0, 3.0, 0.5, 2.5, 42.0, closed=True)
    rec.ingest([venue_open])
    assert stored_minutes(db)[M0] == (1.0, 2.0, 0.5, 1.5, 10.0)  # the open kline updates
    rec.ingest([venue_closed])
    rec.ingest([venue_open])  # a stale open update arriving late changes nothing
    rec.ingest(tape(seconds=120))  # nor does re-aggregating the same minute from trades
    assert stored_minutes(db)[M0] == (1.0, 3.0, 0.5, 2.5, 42.0)
    assert queries.klines(db, BTC, "1m")[0].closed
    # other intervals from the venue's stream are stored as they come
    rec.ingest([Kline(BTC, "5m", M0, 1.0, 3.0, 0.5, 2.5, 99.0, closed=True)])
    assert [k.volume for k in queries.klines(db, BTC, "5m")] == [99.0]


def test_bad_values_are_skipped_not_fatal(db):
    good = tape(seconds=3)
    bad = [Trade(BTC, M0 + 5, float("nan"), 1.0, "buy", "x1"),
           Trade(BTC, M0 + 6, 100.0, -1.0, "buy", "x2"),
           Trade(BTC, M0 + 7, float("inf"), 1.0, "buy", "x3")]
    result = Recorder(db).ingest(good + bad)
    assert result.rejected == 3
    assert count(db, "trades") == len(good)


def test_trades_without_ids_are_still_idempotent(db):
    trades = [Trade(ETH, M0 + i, 2000.0 + i, 0.1, "sell", None) for i in range(50)]
    Recorder(db).ingest(trades)
    Recorder(db).ingest(trades)
    assert count(db, "trades") == 50
    assert [t.trade_id for t in queries.trades(db, ETH)] == [None] * 50


def test_funding_throttled_and_books_sampled(db):
    perp = "cryptoperp_binance_btcusdt"
    rec = Recorder(db, book_interval=5.0, funding_interval=60.0)
    # mark price every second for 3 minutes, one rate change in the middle
    marks = [Funding(perp, M0 + i * 1000, 0.0001 if i < 90 else 0.0002, M0 + 3_600_000,
                     30_000.0 + i, 29_999.0 + i) for i in range(180)]
    books = [BookTop(BTC, M0 + i * 1000, [(100.0 - j, 1.0) for j in range(30)],
                     [(101.0 + j, 1.0) for j in range(30)]) for i in range(20)]
    rec.ingest(marks + books)
    rows = queries.funding(db, perp)
    assert [r.ts for r in rows] == [M0, M0 + 60_000, M0 + 90_000, M0 + 150_000]
    assert rows[2].rate == 0.0002
    snaps = queries.book_snapshots(db, BTC)
    assert [s.ts for s in snaps] == [M0, M0 + 5000, M0 + 10_000, M0 + 15_000]
    assert len(snaps[0].bids) == 20 and snaps[0].bids[0] == (100.0, 1.0)


def test_reads_by_id_or_by_venue_and_symbol_agree_and_unknown_names_say_what_is_stored(db):
    perp = "cryptoperp_binance_btcusdt"
    Recorder(db).ingest(tape(BTC, seconds=4) + [Funding(perp, M0, 0.0001, M0 + 3_600_000, 30_000.0, 29_999.0)])
    assert queries.trades(db, venue="binance", symbol="btc/usdt") == queries.trades(db, BTC)
    assert len(queries.trades(db, BTC, limit=2)) == 2
    assert queries.funding(db, venue="binance", symbol="BTC/USDT:USDT") == queries.funding(db, perp)
    # an id nothing was stored for reads as empty; a name that is not stored is an error saying so
    assert queries.trades(db, "cryptopair_binance_nousdt") == []
    assert queries.book_snapshots(db, "cryptopair_binance_nousdt") == []
    with pytest.raises(queries.QueryError, match=r"no recorded data for DOGE/USDT on binance \(stored: BTC/USDT"):
        queries.trades(db, venue="binance", symbol="DOGE/USDT")
    with pytest.raises(queries.QueryError, match="by id, or by venue and symbol"):
        queries.funding(db, venue="binance")


def test_recording_set_filters_events(db):
    rec = Recorder(db, record={ETH})
    rec.ingest(tape(BTC, seconds=5) + tape(ETH, seconds=5, first_id=9000))
    assert queries.trades(db, BTC) == [] and len(queries.trades(db, ETH)) == 5
    rec.set_recording(BTC, True)
    rec.set_recording(ETH, False)
    assert rec.recording() == {BTC}


def test_instrument_metadata_is_kept(db):
    rec = Recorder(db)
    rec.register(Instrument("binance", "perp", "1000PEPE", "USDT", "1000PEPEUSDT"))
    rec.ingest([Trade("cryptoperp_binance_1000pepeusdt", M0, 0.01, 5.0, "buy", "1")])
    inst = queries.find_instrument(db, "binance", "1000PEPE/USDT:USDT")
    assert (inst.base, inst.quote, inst.venue_symbol) == ("1000PEPE", "USDT", "1000PEPEUSDT")


def test_live_writer_flushes_within_a_second_and_reports_health(db):
    now = [M0 + 30_000]
    rec = Recorder(db, flush_interval=0.2, clock_ms=lambda: now[0]).start()
    try:
        for t in tape(seconds=30):  # the engine thread calls on_event per event
            rec.on_event(t)
        deadline = time.monotonic() + 1.0
        while count(db, "trades") < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert count(db, "trades") == 30
        health = rec.health_view()
        assert health.name == "recorder" and health.state == "connected"
        assert health.backlog == 0 and health.messages >= 30
        assert queries.klines(db, BTC, "1m")[0].closed is False
        # the clock passes the minute with no new trade: the kline closes anyway
        now[0] = M0 + 65_000
        deadline = time.monotonic() + 1.0
        while not queries.klines(db, BTC, "1m")[0].closed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert queries.klines(db, BTC, "1m")[0].closed
    finally:
        rec.stop()
    assert rec.health_view().state == "stopped"


def test_stop_writes_what_is_queued(db):
    rec = Recorder(db, flush_interval=30.0).start()
    for t in tape(seconds=10):
        rec.on_event(t)
    rec.stop()
    assert count(db, "trades") == 10


def test_push_style_sink_for_replay(db):
    rec = Recorder(db)
    trades = tape(seconds=50)
    with rec.sink(batch_size=16) as put:
        for t in trades:
            put(t)
        put(Trade("not-an-instrument-id", M0, 1.0, 1.0, "buy", "1"))  # skipped, not fatal
    assert put.result.trades == 50 and put.result.rejected == 1
    assert count(db, "trades") == 50
    assert sum(k.volume for k in queries.klines(db, BTC, "1m")) == pytest.approx(sum(t.amount for t in trades))


def test_recording_started_and_stopped_inside_minutes_marks_those_candles_partial(db):
    """Issue #9.12: the minute a recording starts or stops inside is stored as partial (a
    59.5 volume among ~145s), the whole minutes between are not."""
    now = [M0 + 20_000]
    rec = Recorder(db, flush_interval=0.05, record=(), clock_ms=lambda: now[0]).start()
    try:
        rec.set_recording(BTC, True)  # 20 s into minute 0
        rec.set_recording(ETH, True)
        for t in tape(start=M0 + 20_000, seconds=120):  # to 20 s into minute 2
            rec.on_event(t)
        # ETH through the venue's kline stream: its candle is whole from its open, however
        # late we joined; the one still open when we stop is not
        rec.on_event(Kline(ETH, "1m", M0, 10.0, 11.0, 9.0, 10.5, 145.0, closed=True))
        rec.on_event(Kline(ETH, "1m", M0 + 60_000, 10.5, 11.0, 10.0, 10.8, 140.0, closed=True))
        rec.on_event(Kline(ETH, "1m", M0 + 120_000, 10.8, 10.9, 10.7, 10.75, 59.5, closed=False))
        now[0] = M0 + 140_000
        rec.set_recording(BTC, False)  # 20 s into minute 2
    finally:
        rec.stop()  # ETH's recording stops with the recorder
    later = M0 + 3_600_000
    btc = [(k.open_time - M0, k.closed, k.partial) for k in queries.klines(db, BTC, "1m", now_ms=later)]
    assert btc == [(0, True, True), (60_000, True, False), (120_000, False, True)]
    eth = [(k.open_time - M0, k.partial) for k in queries.klines(db, ETH, "1m", now_ms=later)]
    assert eth == [(0, False), (60_000, False), (120_000, True)]
    assert queries.incomplete(db, BTC, "1m", now_ms=later) == [M0, M0 + 120_000]
    # recording again inside the same minute: the venue's candle replaces the partial one
    rec = Recorder(db, flush_interval=0.05, record=(), clock_ms=lambda: now[0]).start()
    try:
        rec.set_recording(ETH, True)
        rec.on_event(Kline(ETH, "1m", M0 + 120_000, 10.8, 11.2, 10.6, 11.0, 150.0, closed=True))
    finally:
        rec.stop()
    last = queries.klines(db, ETH, "1m", now_ms=later)[-1]
    assert (last.volume, last.closed, last.partial) == (150.0, True, False)


def test_a_minute_over_when_the_recording_stops_is_whole(db):
    # stopped 1 s after the minute ended (inside the close grace): that minute is complete
    now = [M0 + 30_000]
    rec = Recorder(db, flush_interval=0.05, record=(), clock_ms=lambda: now[0]).start()
    try:
        rec.set_recording(BTC, True)
        for t in tape(start=M0 + 30_000, seconds=90):  # the last trade at M0 + 119 s
            rec.on_event(t)
        now[0] = M0 + 121_000
        rec.set_recording(BTC, False)
    finally:
        rec.stop()
    got = [(k.open_time - M0, k.closed, k.partial)
           for k in queries.klines(db, BTC, "1m", now_ms=M0 + 3_600_000)]
    assert got == [(0, True, True), (60_000, True, False)]


def test_an_event_queued_just_after_the_stop_is_not_recorded(db):
    # the engine thread may read the recording set an instant before the UI swaps it and
    # queue one more event behind the stop mark: it must not reopen the partial candle
    from storage.recorder import Coverage

    now = [M0 + 20_000]
    rec = Recorder(db, flush_interval=30.0, record=(), clock_ms=lambda: now[0]).start()
    rec.set_recording(ETH, True)
    rec.on_event(Kline(ETH, "1m", M0, 10.0, 11.0, 9.0, 10.5, 59.5, closed=False))
    rec.set_recording(ETH, False)
    rec._queue.append(Kline(ETH, "1m", M0, 10.0, 11.0, 9.0, 10.6, 60.0, closed=False))  # the late one
    assert isinstance(rec._queue[-2], Coverage)
    rec.stop()
    (k,) = queries.klines(db, ETH, "1m", now_ms=M0 + 30_000)
    assert (k.volume, k.partial) == (59.5, True)
