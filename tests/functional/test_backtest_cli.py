"""`cryptoterm backtest`: a strategy file over a real SQLite store, through main()."""

from __future__ import annotations

import csv
import io
import json
import textwrap

import pytest

from app.cli import main
from app.market.events import Funding, Kline, Trade
from app.market.instruments import Instrument
from storage.db import open_database
from storage.recorder import Recorder

BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
H = 3_600_000

ROUND_TRIP = textwrap.dedent("""
    class Strategy:
        params = {"enter": 0, "hold": 1}

        def on_start(self, ctx):
            self.i = -1

        def on_bar(self, ctx, bar):
            self.i += 1
            if self.i == self.params["enter"]:
                ctx.buy(1)
            elif self.i == self.params["enter"] + self.params["hold"]:
                ctx.close()
""")


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "bt.db"
    engine = open_database(path, tmp_path)
    rows = [(100, 101, 99, 100), (102, 103, 101, 102), (110, 111, 109, 110), (108, 109, 107, 108)]
    events = [Kline(BTC, "1h", T0 + i * H, o, h, lo, c, 50.0, closed=True)
              for i, (o, h, lo, c) in enumerate(rows)]
    # a perp: short at 100, funding recorded for 08:00 at 0.0001, covered at 105
    perp = [(100.0,) * 4] * 8 + [(105.0,) * 4] * 3
    events += [Kline(PERP, "1h", T0 + i * H, *r, 50.0, closed=True) for i, r in enumerate(perp)]
    events.append(Funding(PERP, T0 + 7 * H + 5, 0.0001, T0 + 8 * H, 100.0, 100.0))
    rec = Recorder(engine)
    for market in ("spot", "perp"):  # the venue's steps, as a recording stores them
        rec.register(Instrument("binance", market, "BTC", "USDT", "BTCUSDT", tick_size=0.01,
                                lot_size=0.001))
    rec.ingest(events)
    engine.dispose()
    return path


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strategy(tmp_path, source=ROUND_TRIP, name="strat.py"):
    f = tmp_path / name
    f.write_text(source)
    return str(f)


def test_json_report_of_a_round_trip(capsys, tmp_path, db_path):
    code, out, err = cli(capsys, "backtest", strategy(tmp_path), "binance", "BTC/USDT", "1h",
                         "--since", "2024-01-01", "--report", "json", "--db", str(db_path))
    assert code == 0, err
    got = json.loads(out)
    # binance spot: 0.1 % taker; 10000 - 102 - 0.102 + 110 - 0.110
    assert got["final_equity"] == pytest.approx(10007.788)
    assert got["return_pct"] == pytest.approx(0.07788)
    assert got["fees"] == pytest.approx(0.212)
    assert (got["trades"], got["bars"], got["exposure_pct"]) == (2, 4, 25.0)
    assert {"max_drawdown_pct", "sharpe"} <= set(got)


def test_text_report_trades_csv_and_params(capsys, tmp_path, db_path):
    csv_path = tmp_path / "trades.csv"
    code, out, err = cli(capsys, "backtest", strategy(tmp_path), "binance", "BTC/USDT", "1h",
                         "--since", "2024-01-01", "--param", "hold=2", "--fee-bps", "0",
                         "--trades-csv", str(csv_path), "--db", str(db_path))
    assert code == 0, err
    assert out.splitlines()[0].startswith("strat.py · BTC/USDT · binance spot · 1h")
    assert "params  enter=0  hold=2" in out
    assert "final equity  10,006.00 USDT" in out  # bought 102, sold 108 at bar 3's open, no fee
    assert "equity (USDT)\n" in out and "drawdown %\n" in out  # the two plots
    assert "\x1b[" not in out
    assert "trades (2)" in out
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [(r["side"], r["price"], r["fee"], r["realized_pnl"]) for r in rows] == \
        [("buy", "102", "0", "0"), ("sell", "108", "0", "6")]


def test_funding_recorded_on_a_perp_short(capsys, tmp_path, db_path):
    src = textwrap.dedent("""
        class Strategy:
            def on_start(self, ctx):
                self.i = -1
            def on_bar(self, ctx, bar):
                self.i += 1
                if self.i == 0:
                    ctx.sell(1)
                elif self.i == 9:
                    ctx.close()
    """)
    code, out, err = cli(capsys, "backtest", strategy(tmp_path, src), "binance", "BTC/USDT:USDT",
                         "1h", "--since", "2024-01-01", "--fee-bps", "0", "--leverage", "3",
                         "--report", "json", "--db", str(db_path))
    assert code == 0, err
    got = json.loads(out)
    assert got["funding"] == pytest.approx(-0.0105)
    assert got["final_equity"] == pytest.approx(9995.0105)


def test_grid_over_processes_sorted(capsys, tmp_path, db_path):
    code, out, err = cli(capsys, "backtest", strategy(tmp_path), "binance", "BTC/USDT", "1h",
                         "--since", "2024-01-01", "--grid", "enter=0:1:1", "hold=1,2",
                         "--workers", "2", "--sort", "return_pct", "--report", "json",
                         "--fee-bps", "0", "--db", str(db_path))
    assert code == 0, err
    rows = json.loads(out)
    finals = [r["final_equity"] for r in rows]
    assert finals == sorted(finals, reverse=True) and len(rows) == 4
    assert rows[0]["params"] == {"enter": 0, "hold": 1} and finals[0] == pytest.approx(10008.0)
    code, out, err = cli(capsys, "backtest", strategy(tmp_path), "binance", "BTC/USDT", "1h",
                         "--since", "2024-01-01", "--grid", "enter=0:1:1", "--workers", "1",
                         "--db", str(db_path))
    assert code == 0, err
    assert "2 runs" in out and "best by return_pct: --param enter=0" in out


@pytest.mark.parametrize("source, expect", [
    ("class Strategy:\n    def on_bar(self, ctx, bar)\n        pass\n", ":2: syntax error"),
    ("class Strategy:\n    def on_bar(self, ctx, bar):\n        {}['x']\n", ":3: KeyError: 'x'"),
    ("class Strategy:\n    def on_bar(self, ctx, bar):\n        ctx.buy(1, limit=100.005)\n",
     ":3: order refused: price 100.005 is not a multiple of the tick 0.01 "
     "(nearest: 100 or 100.01)"),
])
def test_bad_strategy_code_is_one_line_at_its_own_line(capsys, tmp_path, db_path, source, expect):
    path = strategy(tmp_path, source, "bad.py")
    code, out, err = cli(capsys, "backtest", path, "binance", "BTC/USDT", "1h", "--since",
                         "2024-01-01", "--db", str(db_path))
    assert code == 2
    assert err.startswith(f"cryptoterm: error: {path}{expect}"), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_arguments(capsys, tmp_path, db_path):
    path = strategy(tmp_path)
    base = ["backtest", path, "binance", "BTC/USDT", "1h", "--db", str(db_path)]
    for extra, msg in [((), "--since is required"),
                       (("--since", "2024-01-01", "--param", "nope=1"), "no such parameter"),
                       (("--since", "2024-01-01", "--grid", "enter=5:1:1"), "LO is above HI"),
                       (("--since", "2024-01-01", "--leverage", "3"), "spot has no leverage"),
                       (("--since", "2025-06-01"), "no closed 1h klines")]:
        code, _, err = cli(capsys, *base, *extra)
        assert code == 2 and msg in err, err


def test_example_prints_a_strategy(capsys, tmp_path, db_path):
    code, out, _ = cli(capsys, "backtest", "--example")
    assert code == 0 and "class Strategy" in out
    f = tmp_path / "mine.py"
    f.write_text(out)
    code, out, err = cli(capsys, "backtest", str(f), "binance", "BTC/USDT", "1h", "--since",
                         "2024-01-01", "--param", "slow=2", "--param", "fast=1", "--report", "json",
                         "--db", str(db_path))
    assert code == 0, err
    assert json.loads(out)["bars"] == 4


def test_tick_mode_when_the_strategy_reads_stored_trades(capsys, tmp_path):
    path = tmp_path / "ticks.db"
    engine = open_database(path, tmp_path)
    rec = Recorder(engine)
    rec.register(Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT", tick_size=0.01,
                            lot_size=0.001))
    rec.ingest([Kline(BTC, "1h", T0 + i * H, 100.0, 101.0, 99.0, 100.0, 5.0, closed=True)
                for i in range(2)]
               + [Trade(BTC, T0 + k * 600_000, p, 0.5, "buy", str(k))
                  for k, p in enumerate([100.0, 100.5, 99.5, 101.0, 100.25, 99.0])])
    engine.dispose()
    src = textwrap.dedent("""
        class Strategy:
            def on_start(self, ctx):
                self.n = 0
            def on_trade(self, ctx, trade):
                self.n += 1
                if self.n == 1:
                    ctx.buy(1)                 # fills at the next trade: 100.5
                elif self.n == 3:
                    ctx.sell(1, limit=100.75)  # through at 101.0
    """)
    code, out, err = cli(capsys, "backtest", strategy(tmp_path, src), "binance", "BTC/USDT", "1h",
                         "--since", "2024-01-01", "--fee-bps", "0", "--report", "json",
                         "--db", str(path))
    assert code == 0, err
    assert "tick mode, 6 stored trades" in err
    got = json.loads(out)
    assert got["trades"] == 2 and got["final_equity"] == pytest.approx(10000.25)
