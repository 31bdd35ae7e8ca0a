"""The backtest screen, opened with `b` from the history screen, through Pilot."""

from __future__ import annotations

import time

from textual.widgets import DataTable, Input

from app.ui import CryptotermApp
from app.ui.backtest_screen import BacktestScreen
from tests.functional.test_history_screen import BTC, SIZE, RecordingSource, db, open_history  # noqa: F401
from tests.harness import screen_text

BUY_THEN_CLOSE = """
class Strategy:
    params = {"hold": 10}

    def on_start(self, ctx):
        self.i = -1

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.i == 0:
            ctx.buy(0.01)
        elif self.i == self.params["hold"]:
            ctx.close()
"""


async def run_and_wait(pilot, screen: BacktestScreen) -> None:
    await pilot.press("ctrl+r")
    deadline = time.monotonic() + 10
    while screen.running or (screen.result is None and screen.error is None):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert time.monotonic() < deadline, "backtest did not finish"


async def open_backtest(pilot, tmp_path) -> BacktestScreen:
    await open_history(pilot)
    await pilot.press("b")
    screen = pilot.app.screen
    assert isinstance(screen, BacktestScreen)
    return screen


async def test_b_runs_a_strategy_file_over_the_loaded_range(db, tmp_path):  # noqa: F811
    f = tmp_path / "mine.py"
    f.write_text(BUY_THEN_CLOSE)
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_backtest(pilot, tmp_path)
        screen.query_one("#backtest-path", Input).value = str(f)
        screen.query_one("#backtest-params", Input).value = "hold=5"
        await run_and_wait(pilot, screen)
        assert screen.error is None
        m = screen.metrics
        assert m["trades"] == 2 and m["bars"] == 329  # 330 stored minutes, the newest still open
        buy, sell = (t.fill for t in screen.result.trades)
        assert sell.ts - buy.ts == 5 * 60_000
        table = screen.query_one("#backtest-trades", DataTable)
        assert table.row_count == 2
        text = screen_text(app)
        assert "Backtest · BTC/USDT · binance spot · 1m" in text
        assert "params  hold=5" in text and "final equity" in text
        assert "trades        2 (1 closing" in text
        assert "equity (USDT)" in text and "drawdown %" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, BacktestScreen)


async def test_a_faulty_strategy_shows_its_own_file_and_line(db, tmp_path):  # noqa: F811
    f = tmp_path / "broken.py"
    f.write_text("class Strategy:\n    def on_bar(self, ctx, bar):\n        ctx.buy(-1)\n")
    app = CryptotermApp(RecordingSource(db), BTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_backtest(pilot, tmp_path)
        screen.query_one("#backtest-path", Input).value = str(f)
        await run_and_wait(pilot, screen)
        assert screen.error == f"{f}:3: order refused: amount must be above zero"
        assert f"{f.name}:3: order refused" in screen_text(app)
