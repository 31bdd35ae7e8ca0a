"""The history browser and the record toggle, through Pilot, plus a snapshot."""

from __future__ import annotations

import asyncio
import csv
import time

import pytest
from textual.widgets import DataTable, Select

from app.market.events import Kline
from app.ui import CryptotermApp
from app.ui.header import AppHeader
from app.ui.history_screen import HistoryScreen, merge_candles
from storage.db import open_database
from storage.history import HistoryReader
from storage.recorder import Recorder
from tests.harness import StaticSource, screen_text
from tests.viewdata import BTC_SPOT, make_klines, make_view
from tests.waiting import wait_for
from storage import queries
from widgets.coverage_strip import CoverageStrip, coverage_cells
from widgets.kline_chart import KlineChart

BTC = BTC_SPOT.id  # cryptopair_binance_btcusdt
ETH = "cryptopair_binance_ethusdt"
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
STEP = 60_000
SIZE = (150, 42)


def series(instrument_id: str, count: int, start: int = T0, skip: range = range(0),
           price: float = 42_000.0) -> list[Kline]:
    out = []
    for i in range(count):
        if i in skip:
            continue
        o = price + (i % 17) * 3.0 - (i % 5) * 4.0
        c = o + (6.0 if i % 3 else -5.0)
        out.append(Kline(instrument_id, "1m", start + i * STEP, o, max(o, c) + 2.0, min(o, c) - 2.0, c,
                         1.0 + (i % 7), closed=i < count - 1))
    return out


@pytest.fixture
def db(tmp_path):
    engine = open_database(tmp_path / "data" / "cryptoterm.db", tmp_path)
    rec = Recorder(engine)
    # 6 hours of BTC minutes with a 30-minute hole; 2 hours of ETH minutes
    rec.ingest(series(BTC, 360, skip=range(200, 230)))
    rec.ingest(series(ETH, 120, price=2_300.0))
    yield engine
    engine.dispose()


class RecordingSource(StaticSource):
    """A MarketSource with the optional recording part, over a real store."""

    def __init__(self, db) -> None:
        super().__init__([BTC_SPOT], {BTC: make_view(BTC_SPOT, klines=make_klines(BTC_SPOT, 20))})
        self.db = db
        self.recorded: set[str] = set()

    def recording(self) -> set[str]:
        return set(self.recorded)

    def set_recording(self, instrument_id: str, on: bool) -> None:
        (self.recorded.add if on else self.recorded.discard)(instrument_id)

    def history(self) -> HistoryReader:
        return HistoryReader(self.db)


async def loaded(pilot, screen: HistoryScreen, instrument_id: str = BTC, interval: str = "1m") -> None:
    deadline = time.monotonic() + 10
    while True:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        done = screen.loaded
        if done is not None and done.instrument.id == instrument_id and done.interval == interval:
            return
        assert time.monotonic() < deadline, "history did not load"


async def open_history(pilot) -> HistoryScreen:
    await pilot.press("h")
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    await loaded(pilot, screen)
    return screen


async def test_h_opens_the_history_of_the_instrument_on_screen(db):
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        assert len(screen.loaded.klines) == 330  # 360 minutes minus the 30-minute hole
        assert screen.loaded.gaps == [(T0 + 200 * STEP, T0 + 230 * STEP)]
        shown = screen.visible()
        assert shown[-1].open_time == T0 + 359 * STEP  # opens at the newest candle
        chart = screen.query_one("#history-chart", KlineChart)
        assert chart.border_title.startswith("BTC/USDT · 1m")
        table = screen.query_one(DataTable)
        assert table.row_count == len(shown)
        assert table.get_row_at(table.row_count - 1)[0] == "2024-01-01 05:59"
        strip = screen.query_one(CoverageStrip)
        assert strip.stored_fraction == pytest.approx(330 / 360)
        text = screen_text(app)
        assert "History · BTC/USDT · binance spot · 1m" in text
        assert "330 candles" in text and "1 gap" in text
        # the strip's figure is `gaps --all`'s: whole candles (the stale open one is partial)
        cov = queries.coverage(db, BTC, "1m")
        assert (cov.percent, len(cov.holes), cov.partial) == (91.38, 1, 1)
        assert "91.38% · 1 hole" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)


async def test_pan_and_zoom_on_keys(db):
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        window = screen.window
        end = screen.end_index
        await pilot.press("left")
        assert screen.end_index == end - window // 4
        await pilot.press("right", "right")
        assert screen.end_index == end  # clamped at the newest candle
        await pilot.press("minus")
        assert screen.window == min(2 * window, 330)
        assert screen.merge >= 2  # more candles than chart columns: neighbours merged
        assert "×" in screen.query_one("#history-chart", KlineChart).border_title
        await pilot.press("plus", "plus")
        assert screen.window == max(10, min(2 * window, 330) // 4)
        await pilot.press("home")
        assert screen.visible()[0].open_time == T0
        await pilot.press("end")
        assert screen.visible()[-1].open_time == T0 + 359 * STEP


async def test_choose_instrument_interval_and_range_from_what_is_stored(db):
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        screen.query_one("#history-instrument", Select).value = ETH
        await loaded(pilot, screen, ETH)
        assert len(screen.loaded.klines) == 120 and screen.loaded.gaps == []
        intervals = [v for _, v in screen.query_one("#history-interval", Select)._options if isinstance(v, str)]
        assert intervals[:3] == ["1m", "5m", "15m"]  # 1m stored, the rest rolled up from it
        screen.query_one("#history-interval", Select).value = "15m"
        await loaded(pilot, screen, ETH, "15m")
        assert screen.loaded.rolled_up and len(screen.loaded.klines) == 8
        assert screen.loaded.klines[0].volume == sum(k.volume for k in series(ETH, 15, price=2_300.0))
        screen.query_one("#history-range", Select).value = "last 1h"
        await pilot.pause()
        await loaded(pilot, screen, ETH, "15m")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert len(screen.loaded.klines) == 4


async def test_export_writes_the_loaded_range_as_csv(db, tmp_path):
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_history(pilot)
        await pilot.press("e")
        path = screen.last_export
        assert path is not None and path.parent == tmp_path / "data" / "exports"
        rows = list(csv.DictReader(path.open()))
        assert len(rows) == 330
        assert int(rows[0]["open_time"]) == T0 and list(rows[0])[:6] == [
            "open_time", "open", "high", "low", "close", "volume"]


async def test_record_toggle_shows_rec_in_the_header(db):
    source = RecordingSource(db)
    app = CryptotermApp(source, BTC)
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one(AppHeader)
        assert not header.recording and "● REC" not in screen_text(app)
        await pilot.press("r")
        assert source.recorded == {BTC}
        await pilot.pause()
        assert header.recording and "● REC" in screen_text(app)
        screen = await open_history(pilot)
        assert "● REC" in str(screen.query_one("#history-title").render())
        await pilot.press("r")  # the history screen toggles the browsed instrument too
        assert source.recorded == set()
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert not header.recording


async def test_sources_without_recording_get_a_notice():
    source = StaticSource([BTC_SPOT], {BTC: make_view(BTC_SPOT)})
    app = CryptotermApp(source, BTC)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r", "h")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)
        assert len(app.recent_notices) == 2


async def test_empty_store_says_how_to_fill_it(tmp_path):
    engine = open_database(tmp_path / "empty.db", tmp_path)
    app = CryptotermApp(RecordingSource(engine), BTC)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert "Nothing recorded yet" in screen_text(app)
    engine.dispose()


def test_merge_and_coverage_helpers():
    ks = series(BTC, 10)
    merged = merge_candles(ks, 4)
    assert [k.open_time for k in merged] == [T0, T0 + 2 * STEP, T0 + 6 * STEP]
    assert merged[1].volume == sum(k.volume for k in ks[2:6])
    assert merged[1].high == max(k.high for k in ks[2:6]) and merged[1].close == ks[5].close
    assert coverage_cells(0, 100, [(25, 50)], 4) == [0.0, 1.0, 0.0, 0.0]
    assert coverage_cells(0, 100, [(10, 20), (30, 35)], 2) == [0.3, 0.0]


def test_history_screen_snapshot(db, snap_compare):
    app = CryptotermApp(RecordingSource(db), BTC, clock=lambda: T0 / 1000)

    async def run_before(pilot):
        await open_history(pilot)
        await pilot.press("left")
        await pilot.pause()
        chart = app.screen.query_one("#history-chart", KlineChart)
        await wait_for(lambda: chart.draws >= 1 and chart.up_to_date, what="the chart drawn")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_a_store_that_fails_is_reported_not_fatal(tmp_path):
    from sqlalchemy import create_engine

    broken = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    app = CryptotermApp(RecordingSource(broken), BTC)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        assert "cannot read the history store" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)


async def test_the_screen_follows_what_the_recorder_stores(tmp_path):
    """Issue #9.11: left open for minutes, the screen still showed the first 2 candles with
    the last one labelled live. Now it picks up new candles while the range reaches the
    present, off the UI thread, and the newest candle's label follows the clock."""
    import threading

    from sqlalchemy import event

    engine = open_database(tmp_path / "live.db", tmp_path)
    m0 = T0 + 600 * STEP
    now = [m0 + STEP + 30_000]  # half-way through the second candle
    rec = Recorder(engine)

    def candle(i: int, closed: bool, volume: float = 145.0) -> Kline:
        return Kline(BTC, "1m", m0 + i * STEP, 42_000.0 + i, 42_010.0 + i, 41_990.0 + i,
                     42_005.25 + i, volume, closed=closed)

    rec.ingest([candle(0, True), candle(1, False, 20.0)])
    on_ui_thread: list[bool] = []

    @event.listens_for(engine, "before_cursor_execute")
    def where(*_args) -> None:
        on_ui_thread.append(threading.current_thread() is threading.main_thread())

    app = CryptotermApp(RecordingSource(engine), BTC, clock=lambda: now[0] / 1000)
    async with app.run_test(size=SIZE) as pilot:
        screen = HistoryScreen(HistoryReader(engine), instrument_id=BTC, range_label="last 1h", refresh_interval=0.05)
        await app.push_screen(screen)
        await loaded(pilot, screen)
        chart = screen.query_one("#history-chart", KlineChart)

        async def until(check, what: str) -> None:
            deadline = time.monotonic() + 5
            while not check():
                assert time.monotonic() < deadline, what
                await pilot.pause(0.05)

        await until(lambda: "(live)" in str(chart.border_subtitle), "the live label")
        assert len(screen.loaded.klines) == 2
        # the recorder closes candle 1 and stores five more minutes as they pass
        for i in range(2, 7):
            now[0] = m0 + i * STEP + 10_000
            # written from another thread, as the recorder's writer does
            await asyncio.to_thread(rec.ingest, [candle(i - 1, True), candle(i, False, 30.0)])
            await until(lambda: screen.loaded.klines[-1].open_time == m0 + i * STEP,
                        f"candle {i} on screen")
        await until(lambda: "(live)" in str(chart.border_subtitle), "the newest candle live")
        assert [k.closed for k in screen.loaded.klines] == [True] * 6 + [False]
        assert screen.visible()[-1].open_time == m0 + 6 * STEP  # the window follows the newest
        assert "7 candles" in screen_text(app)
        assert "42,011.25" in screen_text(app)  # the table: the prices' own precision
        # the recording stopped: once its minute is over the candle is no longer live, and
        # a minute later nothing will close it any more: partial
        now[0] = m0 + 7 * STEP + 5_000
        await until(lambda: "(open)" in str(chart.border_subtitle), "the open label")
        now[0] = m0 + 9 * STEP
        await until(lambda: "(partial)" in str(chart.border_subtitle), "the partial label")
        assert "1 partial" in screen_text(app)
    assert on_ui_thread and not any(on_ui_thread), "the UI thread queried the database"
    engine.dispose()


async def test_on_a_narrow_terminal_the_chart_keeps_the_width(db):
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_history(pilot)
        await pilot.pause()
        assert not screen.query_one(DataTable).display
        assert screen.query_one("#history-chart", KlineChart).size.width >= 78
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_history(pilot)
        await pilot.pause()
        assert screen.query_one(DataTable).outer_size.width == 46
