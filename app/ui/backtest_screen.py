"""The backtest screen: a strategy file over the range the history screen has loaded.

Opened with ``b`` from the history screen. The user picks a strategy file (the shipped
example, ``*.py`` files of the working directory and of ``<data dir>/strategies``, or any
path typed in), optionally params (``fast=5 slow=20``), and runs it. The run happens in a
worker thread with a progress bar; the screen then shows the equity curve, the drawdown,
the figures and the trades. A fault in the strategy is shown as its file and line.
"""

from __future__ import annotations

import time
from importlib.resources import files
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, ProgressBar, Select, Static
from textual_plotext import PlotextPlot

from app.backtest.bars import Bars
from app.backtest.data import assemble
from app.backtest.engine import Backtest, Cancelled, Result, Settings
from app.backtest.grid import parse_params
from app.backtest.metrics import drawdown_pct, summarize
from app.backtest.report import downsample, figures_table, trade_rows
from app.backtest.strategy import load
from app.errors import CryptotermError
from app.market.klines import interval_ms
from app.trading.fill_model import venue_fees
from app.trading.models import dec
from storage.history import HistoryReader, KlineRange, StoredInstrument

EXAMPLE = str(files("app.backtest.examples") / "sma_crossover.py")
MAX_FILES = 40
TRADE_ROWS = 500  # the table lists the newest trades


def strategy_files(*dirs: Path) -> list[str]:
    """The example first, then ``*.py`` files of ``dirs`` (a few, by name)."""
    found = [EXAMPLE]
    for d in dirs:
        try:
            found += sorted(str(p) for p in d.glob("*.py") if p.is_file())[:MAX_FILES]
        except OSError:
            continue
    return list(dict.fromkeys(found))


class BacktestScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="Back to the history screen"),
        Binding("ctrl+r", "run", "Run", tooltip="Run the strategy over the loaded range"),
    ]

    def __init__(self, history: HistoryReader, loaded: KlineRange, stored: StoredInstrument,
                 *, range_label: str = "", cash: float = 10_000.0,
                 search_dirs: tuple[Path, ...] | None = None) -> None:
        super().__init__()
        self.history = history
        self.loaded = loaded
        self.stored = stored
        self.range_label = range_label
        self.cash = cash
        data_dir = history.export_dir().parent
        self.search_dirs = search_dirs if search_dirs is not None else (Path.cwd(),
                                                                          data_dir / "strategies")
        self.result: Result | None = None
        self.metrics: dict[str, Any] | None = None
        self.error: str | None = None
        self.running = False
        self._cancelled = False  # set when the screen goes: the run stops at its next report

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="backtest-title")
        choices = strategy_files(*self.search_dirs)
        with Horizontal(id="backtest-controls"):
            yield Select[str]([(Path(p).name, p) for p in choices], value=EXAMPLE,
                              allow_blank=False, id="backtest-file")
            yield Input(EXAMPLE, placeholder="strategy file (.py)", id="backtest-path")
            yield Input("", placeholder="params: fast=5 slow=20", id="backtest-params")
            yield Button("Run", id="backtest-run", variant="primary")
        yield ProgressBar(id="backtest-progress", show_eta=False)
        with Horizontal(id="backtest-body"):
            with Vertical(id="backtest-left"):
                yield PlotextPlot(id="backtest-equity")
                yield PlotextPlot(id="backtest-drawdown")
            with Vertical(id="backtest-right"):
                yield Static("pick a strategy file and press Run (ctrl+r)", id="backtest-metrics")
                yield DataTable(id="backtest-trades", cursor_type="row", zebra_stripes=True)
        yield Static("", id="backtest-status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#backtest-trades", DataTable)
        table.add_columns("time (UTC)", "side", "type", "price", "amount", "fee", "pnl", "position")
        for pid, title in (("#backtest-equity", f"equity ({self.loaded.instrument.quote.upper()})"),
                           ("#backtest-drawdown", "drawdown %")):
            self.query_one(pid, PlotextPlot).border_title = title

    def _title(self) -> str:
        inst = self.loaded.instrument
        n = sum(1 for k in self.loaded.klines if k.closed and not k.partial)
        where = f" · {self.range_label}" if self.range_label else ""
        return f"Backtest · {inst.label} · {self.loaded.interval}{where} · {n:,} bars"

    # -- choosing and running ------------------------------------------------------------

    @on(Select.Changed, "#backtest-file")
    def _picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#backtest-path", Input).value = event.value

    @on(Input.Submitted)
    @on(Button.Pressed, "#backtest-run")
    def _submit(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        if self.running:
            self.notify("a backtest is already running", severity="warning")
            return
        path = self.query_one("#backtest-path", Input).value.strip()
        if not path:
            self._set_status("give a strategy file")
            return
        self.running = True
        self.error = None
        self._set_status(f"running {Path(path).name} …")
        self.query_one("#backtest-progress", ProgressBar).update(total=None, progress=0)
        self.run_backtest(path, self.query_one("#backtest-params", Input).value)

    @work(thread=True, exclusive=True, group="backtest-run")
    def run_backtest(self, path: str, params_text: str) -> None:
        try:
            result = self._compute(path, params_text)
        except Cancelled:
            return
        except CryptotermError as exc:
            self.app.call_from_thread(self._failed, exc.message)
            return
        except Exception as exc:  # a defect must not take the UI down
            self.app.call_from_thread(self._failed, f"unexpected {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, result)

    def _compute(self, path: str, params_text: str) -> Result:
        loaded = load(Path(path).expanduser())
        items = [t for t in params_text.replace(",", " ").split() if t]
        params = parse_params(items, loaded.params)
        step = interval_ms(self.loaded.interval)
        bars = Bars.of(self.loaded.klines, step)
        if not len(bars):
            raise CryptotermError("no closed bars in the loaded range")
        rows = []
        if self.stored.market == "perp":
            rows = self.history.funding(self.stored.id, since=bars.open_time[0] - 8 * 3_600_000,
                                        until=bars.open_time[-1] + step)
        data = assemble(self.stored, bars, self.loaded.klines, rows)
        settings = Settings(cash=dec(self.cash), fees=venue_fees(self.stored.venue),
                            funding=data.funding)
        progress = self.query_one("#backtest-progress", ProgressBar)

        def report(i: int, n: int) -> None:
            if self._cancelled:
                raise Cancelled("backtest cancelled")
            self.app.call_from_thread(progress.update, total=n, progress=i)

        return Backtest(loaded, data.bars, data.rules, settings, params, progress=report).run()

    def _failed(self, message: str) -> None:
        self.running = False
        self.error = message
        self._set_status(message)
        self.notify(message, title="Backtest failed", severity="error", timeout=8)

    def _show(self, result: Result) -> None:
        self.running = False
        self.result = result
        self.metrics = m = summarize(result)
        lines = figures_table(m, result.rules.quote)
        if result.params:
            lines.insert(0, "params  " + "  ".join(f"{k}={v}" for k, v in result.params.items()))
        self.query_one("#backtest-metrics", Static).update("\n".join(lines))
        self._plot(result)
        table = self.query_one("#backtest-trades", DataTable)
        table.clear()
        for row in trade_rows(result.trades[-TRADE_ROWS:]):
            table.add_row(*row)
        if result.trades:
            table.move_cursor(row=table.row_count - 1)
        self._set_status(f"done: {m['bars']:,} bars, {m['trades']} trades "
                         f"at {time.strftime('%H:%M:%S')}")

    def _plot(self, result: Result) -> None:
        dd = [-d for d in drawdown_pct(result.equity)]
        for pid, ys in (("#backtest-equity", result.equity), ("#backtest-drawdown", dd)):
            widget = self.query_one(pid, PlotextPlot)
            xs, ys2 = downsample(list(range(len(ys))), ys, max(20, widget.size.width))
            plt = widget.plt
            plt.clear_data()
            plt.clear_figure()
            plt.plot(xs, ys2, marker="braille")
            plt.xticks([], [])
            widget.refresh()

    def _set_status(self, text: str) -> None:
        self.query_one("#backtest-status", Static).update(text)

    def action_close(self) -> None:
        self._cancelled = True
        self.dismiss(None)

    def on_unmount(self) -> None:
        self._cancelled = True
