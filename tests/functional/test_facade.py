"""The engine's one face (app.engine_api) and the history store's reader
(storage.history): what a full engine offers, what a bare source offers, and the
ranges the history screen and the data API read, over a real SQLite store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.config import load_config
from app.feeds.engine import Engine
from app.engine_api import (CrossVenue, EngineFacade, HistorySource, MarketDirectory, MarketSource,
                              RecordingSwitch, TradingHost, directory_of, recording_ids, trading_of)
from app.market.events import Kline
from storage.db import open_database
from storage.history import HistoryReader, KlineRange, signature
from storage.recorder import Recorder
from tests.harness import StaticSource
from tests.viewdata import BTC_SPOT

ROOT = Path(__file__).resolve().parents[2]
BTC = BTC_SPOT.id
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
STEP = 60_000
CAPABILITIES = (MarketDirectory, CrossVenue, TradingHost, RecordingSwitch, HistorySource)


def candles(count: int, start: int = T0, skip: range = range(0), open_last: bool = True) -> list[Kline]:
    out = []
    for i in range(count):
        if i in skip:
            continue
        price = 42_000.0 + i
        out.append(Kline(BTC, "1m", start + i * STEP, price, price + 2.5, price - 2.5, price + 1.25,
                         1.0 + i % 3, closed=not (open_last and i == count - 1)))
    return out


@pytest.fixture
def store(tmp_path):
    db = open_database(tmp_path / "data" / "cryptoterm.db", tmp_path)
    Recorder(db).ingest(candles(120, skip=range(40, 50)))  # two hours, a 10-minute hole
    yield db
    db.dispose()


def test_the_engine_offers_every_part_and_its_history_reads_its_store(tmp_path):
    engine = Engine(load_config(data_dir=tmp_path / "data"), ["BTC/USDT"])
    assert isinstance(engine, EngineFacade)
    assert all(isinstance(engine, part) for part in (MarketSource, *CAPABILITIES))
    assert trading_of(engine) is None  # nothing attached yet
    assert directory_of(engine) is engine and recording_ids(engine) == set()
    assert engine.history() is None  # no store configured
    opened = []

    def factory():
        opened.append(open_database(None, tmp_path / "data"))
        return opened[-1]

    engine.recording_control.database_factory = factory
    history = engine.history()
    assert isinstance(history, HistoryReader) and history.instruments() == []
    assert history.export_dir() == (tmp_path / "data" / "exports").resolve()
    for db in opened:
        db.dispose()


def test_a_bare_source_is_a_market_source_with_no_optional_part():
    source = StaticSource([BTC_SPOT], {})
    assert isinstance(source, MarketSource)
    assert not any(isinstance(source, part) for part in CAPABILITIES)
    assert trading_of(source) is None and directory_of(source) is None
    assert recording_ids(source) is None


def test_load_range_reads_the_newest_span_with_its_gaps(store):
    history = HistoryReader(store)
    stored = history.instrument(BTC)
    assert stored is not None
    everything = history.load_range(stored, "1m", None, now_ms=T0 + 120 * STEP)
    assert len(everything.klines) == 110 and everything.gaps == [(T0 + 40 * STEP, T0 + 50 * STEP)]
    assert (everything.start, everything.end) == (T0, T0 + 120 * STEP)
    assert everything.newest == signature(history.newest(BTC, "1m", T0 + 120 * STEP))
    hour = history.load_range(stored, "1m", 3_600_000, now_ms=T0 + 120 * STEP)
    assert [k.open_time for k in hour.klines] == [T0 + i * STEP for i in range(60, 120)]
    assert hour.gaps == [] and hour.span == 3_600_000
    quarters = history.load_range(stored, "15m", None, now_ms=T0 + 120 * STEP)
    assert quarters.rolled_up and quarters.base == "1m" and len(quarters.klines) == 8
    assert quarters.klines[0].volume == sum(k.volume for k in candles(15))
    assert history.load_range(stored, "1h", None).klines[0].interval == "1h"


def test_refresh_range_picks_up_what_was_stored_since(store):
    history = HistoryReader(store)
    now = T0 + 120 * STEP
    hour = history.load_range(history.instrument(BTC), "1m", 3_600_000, now_ms=now)  # type: ignore[arg-type]
    assert history.refresh_range(hour, now) is None  # nothing new
    Recorder(store).ingest(candles(123)[119:])  # 119 closes, 120..122 arrive
    result = history.refresh_range(hour, now + 3 * STEP)
    assert result is not None
    fresh, trimmed = result
    assert isinstance(fresh, KlineRange) and trimmed == 3  # a fixed-length range moves on
    assert fresh.klines[-1].open_time == T0 + 122 * STEP and fresh.klines[0].open_time == T0 + 63 * STEP
    assert len(fresh.klines) == 60 and fresh.klines[-2].closed


def test_no_stored_instrument_is_an_empty_range(tmp_path):
    db = open_database(tmp_path / "empty.db", tmp_path)
    history = HistoryReader(db)
    assert history.instruments() == [] and history.series(BTC) == [] and history.newest(BTC, "1m") is None
    db.dispose()


def _getattr_targets(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [ast.unparse(node.args[0]) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr") and node.args]


def test_the_ui_asks_the_engine_through_protocols_not_getattr():
    """Issue #16.2: the UI probed the engine for optional parts with getattr, and the
    history screen queried the store itself over a raw SQLAlchemy engine."""
    probed = {path.name: targets for path in sorted((ROOT / "app" / "ui").glob("*.py"))
              if (targets := [t for t in _getattr_targets(path)
                              if "source" in t or "trading" in t or "engine" in t])}
    assert probed == {}
    screen = ast.parse((ROOT / "app" / "ui" / "history_screen.py").read_text())
    imported = {node.module for node in ast.walk(screen) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(screen) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not any(m and (m.startswith("storage.queries") or m.startswith("sqlalchemy"))
                   for m in imported)
    assert "storage.history" in imported


def test_the_facade_and_the_history_reader_are_engine_side():
    import subprocess
    import sys

    code = ("import sys, app.engine_api, storage.history\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'widgets', 'app.ui')"
            " or m.startswith('app.ui')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
