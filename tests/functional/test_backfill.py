"""Backfill through real ccxt against a local server speaking Binance's klines REST:
paging within the row limit, 429 + Retry-After, resume, gaps and their repair."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from storage import queries
from storage.backfill import (BackfillError, backfill, lookup_instrument, make_exchange, plan,
                              retry_after_seconds)
from storage.db import open_database
from tests.binance_rest import BinanceRest, kline_price
from tests.pg import fresh_database_url

NOW = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 30_000  # mid-minute
STEP = 60_000
SPOT_DEFAULT = "https://api.binance.com"
PERP_DEFAULT = "https://fapi.binance.com"


@pytest.fixture
def server():
    with BinanceRest(NOW, listed_ms=NOW - 30 * 86_400_000) as srv:
        yield srv


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    target = tmp_path / "bf.db" if request.param == "sqlite" else fresh_database_url()
    engine = open_database(target, tmp_path)
    yield engine
    engine.dispose()


def spot(server):
    ex = make_exchange("binance", server.url, SPOT_DEFAULT)
    inst, symbol = lookup_instrument(ex, "binance", "BTC/USDT")
    return ex, inst, symbol


def stored(db, inst_id, interval="1m"):
    return queries.klines(db, inst_id, interval)


def run(db, ex, inst, symbol, since, until=NOW, **kw):
    kw.setdefault("sleep", lambda s: None)
    return backfill(db, ex, inst, symbol, "1m", since, until, now_ms=lambda: NOW, **kw)


def test_pages_by_hand_within_the_row_limit(server, db):
    ex, inst, symbol = spot(server)
    since = NOW - 2500 * STEP
    result = run(db, ex, inst, symbol, since)
    reqs = server.kline_requests()
    assert [int(r["limit"]) for r in reqs] == [1000, 1000, 501]
    starts = [int(r["startTime"]) for r in reqs]
    first = since - since % STEP
    assert starts == [first, first + 1000 * STEP, first + 2000 * STEP]  # no overlap, no hole
    rows = stored(db, inst.id)
    assert len(rows) == result.rows == 2501
    assert [k.open_time for k in rows] == list(range(first, first + 2501 * STEP, STEP))
    k = rows[1234]
    assert (k.open, k.high, k.low, k.close, k.volume) == tuple(
        round(x, 2) if i < 4 else x for i, x in enumerate(kline_price("BTCUSDT", k.open_time)))
    assert all(k.closed for k in rows[:-1]) and not rows[-1].closed  # NOW is mid-candle
    assert result.missing == []


def test_exact_page_boundary_and_perp_row_limit(server, db):
    ex, inst, symbol = spot(server)
    run(db, ex, inst, symbol, NOW - 999 * STEP)  # 1000 candles: exactly one page
    assert [int(r["limit"]) for r in server.kline_requests()] == [1000]
    perp = make_exchange("binanceusdm", server.url, PERP_DEFAULT)
    pinst, psymbol = lookup_instrument(perp, "binance", "BTC/USDT:USDT")
    assert pinst.id == "cryptoperp_binance_btcusdt"
    run(db, perp, pinst, psymbol, NOW - 1999 * STEP)
    perp_reqs = [r for _, p, r in server.log if p == "/fapi/v1/klines"]
    assert [int(r["limit"]) for r in perp_reqs] == [1500, 500]
    assert len(stored(db, pinst.id)) == 2000


def test_429_with_retry_after_is_honoured(server, db):
    ex, inst, symbol = spot(server)
    server.rate_limit_once(retry_after=1)
    waits: list[float] = []
    result = backfill(db, ex, inst, symbol, "1m", NOW - 1500 * STEP, NOW, now_ms=lambda: NOW,
                      on_progress=lambda p: waits.append(p.waiting) if p.waiting else None)
    times = [t for t, p, _ in server.log if p.endswith("/klines")]
    assert len(times) == 3  # the refused one, its retry, the second page
    assert times[1] - times[0] >= 1.0  # waited what the venue asked
    assert result.retries == 1 and waits and waits[0] >= 1.0
    assert len(stored(db, inst.id)) == 1501


def test_interrupted_backfill_resumes_from_the_last_stored_kline(server, db):
    ex, inst, symbol = spot(server)
    since = NOW - 3000 * STEP
    first = since - since % STEP
    server.scripted.append(None)  # placeholder replaced below: fail the *second* request
    server.scripted.clear()
    calls = {"n": 0}
    original = ex.fetch_ohlcv

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            server.rate_limit_once(retry_after=0)
        return original(*args, **kwargs)

    ex.fetch_ohlcv = flaky
    with pytest.raises(BackfillError, match="gave up"):
        run(db, ex, inst, symbol, since, max_retries=0)
    assert len(stored(db, inst.id)) == 1000  # the first page is kept
    server.log.clear()
    ex.fetch_ohlcv = original
    result = run(db, ex, inst, symbol, since)
    starts = [int(r["startTime"]) for r in server.kline_requests()]
    assert starts[0] == first + 1000 * STEP  # picks up right after the stored page
    assert len(stored(db, inst.id)) == 3001 and result.rows == 2001
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM klines")).scalar() == 3001
    # a third run has nothing to fetch but the still-open newest candle
    server.log.clear()
    assert plan(db, inst.id, "1m", since, NOW) == [queries.Gap(NOW - NOW % STEP, NOW - NOW % STEP + STEP, STEP)]
    run(db, ex, inst, symbol, since)
    assert len(server.kline_requests()) == 1


def test_gaps_found_and_filled_venue_holes_reported(server, db):
    ex, inst, symbol = spot(server)
    since = NOW - 600 * STEP
    first = since - since % STEP
    # the venue itself has no candles for 10 minutes (maintenance)
    server.holes.append((first + 100 * STEP, first + 110 * STEP))
    run(db, ex, inst, symbol, since)
    assert queries.gaps(db, inst.id, "1m") == [queries.Gap(first + 100 * STEP, first + 110 * STEP, STEP)]
    # punch holes of our own (e.g. the app was closed), then repair them
    with db.begin() as conn:
        conn.execute(text("DELETE FROM klines WHERE open_time >= :a AND open_time < :b"),
                     {"a": first + 200 * STEP, "b": first + 260 * STEP})
        conn.execute(text("DELETE FROM klines WHERE open_time = :a"), {"a": first + 500 * STEP})
    holes = queries.gaps(db, inst.id, "1m")
    assert [(g.start, g.candles) for g in holes] == [
        (first + 100 * STEP, 10), (first + 200 * STEP, 60), (first + 500 * STEP, 1)]
    server.log.clear()
    result = run(db, ex, inst, symbol, since, ranges=holes)
    assert len(server.kline_requests()) == 3  # one request per gap
    assert result.rows == 61
    assert result.missing == [queries.Gap(first + 100 * STEP, first + 110 * STEP, STEP)]


def test_unknown_symbol_and_interval(server, db):
    ex = make_exchange("binance", server.url, SPOT_DEFAULT)
    with pytest.raises(BackfillError, match=r"^DOGE/USDT is not listed on binance spot; listed: BTC/USDT, ETH/USDT$"):
        lookup_instrument(ex, "binance", "DOGE/USDT")
    inst, symbol = lookup_instrument(ex, "binance", "ETH/USDT")
    with pytest.raises(BackfillError, match="no 7m klines"):
        backfill(db, ex, inst, symbol, "7m", NOW - STEP, NOW)


def test_retry_after_parsing():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"},
                               now=1445412480.0) == 5.0
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"Retry-After": "soon"}) is None
