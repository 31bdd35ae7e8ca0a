"""Recording a live session: the engine (fed by the simulator over real sockets) into the
store through the record toggle; trades, klines, books and funding land in the database."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from storage import queries
from storage.db import open_database
from tests.waiting import wait

BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"
ETH = "cryptopair_binance_ethusdt"


@pytest.fixture
def session(tmp_path):
    sim = BinanceSimThread(default_demo_symbols(), seed=5, rate=200.0).start()
    cfg = load_config(data_dir=tmp_path / "data")
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"],
                    settings=ConnectionSettings(backoff_base=0.05))
    opened = []

    def factory():
        db = open_database(None, cfg.data_dir)
        opened.append(db)
        return db

    engine.recording_control.database_factory = factory
    engine.recording_control.recorder_options = {"book_interval": 0.5, "flush_interval": 0.25}
    engine.start()
    yield engine, opened
    engine.stop()
    sim.stop()
    for db in opened:
        db.dispose()


def count(db, sql: str, **params) -> int:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def test_record_toggle_writes_the_instrument_to_the_store(session):
    engine, opened = session
    wait(lambda: (v := engine.view(BTC)) is not None and v.synced and v.trades, what="BTC live")
    assert engine.recording() == set() and opened == []  # nothing touches the disk until asked
    engine.set_recording(BTC, True)
    engine.set_recording(PERP, True)
    assert engine.recording() == {BTC, PERP}
    db = engine.database()
    assert db is opened[0]
    key = queries.instrument(db, BTC)
    wait(lambda: queries.instrument(db, BTC) is not None
         and count(db, "SELECT count(*) FROM trades t JOIN instruments i ON i.key = t.inst "
                       "WHERE i.id = :i", i=BTC) > 20, what="recorded trades")
    wait(lambda: queries.book_snapshots(db, BTC), what="a book snapshot")
    wait(lambda: queries.funding(db, PERP), what="funding rows")
    wait(lambda: queries.klines(db, BTC, "1m"), what="1m klines")
    key = queries.instrument(db, BTC)
    assert key.symbol == "BTC/USDT" and key.venue_symbol == "BTCUSDT"
    snap = queries.book_snapshots(db, BTC)[-1]
    assert snap.bids[0][0] < snap.asks[0][0] and len(snap.bids) == 20
    # only what was switched on is recorded
    assert queries.instrument(db, ETH) is None
    # the recorder reports itself next to the feeds
    health = {h.name: h for h in engine.health()}["recorder"]
    assert health.state == "connected" and health.backlog is not None and health.messages > 0
    engine.set_recording(BTC, False)
    time.sleep(0.6)
    before = count(db, "SELECT count(*) FROM trades t JOIN instruments i ON i.key = t.inst WHERE i.id = :i", i=BTC)
    time.sleep(0.8)
    after = count(db, "SELECT count(*) FROM trades t JOIN instruments i ON i.key = t.inst WHERE i.id = :i", i=BTC)
    assert after == before  # switched off: nothing more
    assert engine.recording() == {PERP}


def test_stopping_the_engine_flushes_the_recorder(session):
    engine, opened = session
    wait(lambda: (v := engine.view(ETH)) is not None and v.trades, what="ETH live")
    engine.set_recording(ETH, True)
    time.sleep(0.5)
    engine.stop()
    db = opened[0]
    stored = count(db, "SELECT count(*) FROM trades")
    queued = engine.recording_control.recorder.stats().backlog
    assert stored > 0 and queued == 0
