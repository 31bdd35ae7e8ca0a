"""`cryptoterm history | backfill | gaps`: formats, ranges, and one clear line for bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.cli import main
from app.market.events import Kline
from storage import queries
from storage.db import open_database
from storage.recorder import Recorder
from tests.binance_rest import BinanceRest

BTC = "cryptopair_binance_btcusdt"
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP = 60_000


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "hist.db"
    engine = open_database(path, tmp_path)
    klines = [Kline(BTC, "1m", T0 + i * STEP, 100.0 + i, 101.5 + i, 99.25 + i, 100.5 + i, 2.0 + i,
                    closed=i < 9) for i in range(10)]
    Recorder(engine).ingest(klines)
    engine.dispose()
    return path


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_csv_has_header_and_epoch_ms(capsys, db_path):
    code, out, err = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--format", "csv",
                         "--db", str(db_path))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:6] == ["open_time", "open", "high", "low", "close", "volume"]
    assert [int(r["open_time"]) for r in rows] == [T0 + i * STEP for i in range(10)]
    assert float(rows[3]["low"]) == 102.25 and float(rows[3]["volume"]) == 5.0
    assert rows[-1]["closed"] == "0"


def test_range_limit_and_iso_or_epoch_dates(capsys, db_path):
    code, out, _ = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--format", "json",
                       "--since", "2024-01-01T00:02:00Z", "--until", str(T0 + 5 * STEP), "--db", str(db_path))
    assert code == 0
    got = json.loads(out)
    assert [k["open_time"] for k in got] == [T0 + i * STEP for i in range(2, 6)]
    assert got[0] == {"type": "kline", "id": BTC, "interval": "1m", "open_time": T0 + 2 * STEP,
                      "open": 102.0, "high": 103.5, "low": 101.25, "close": 102.5, "volume": 4.0,
                      "closed": True, "partial": False}
    # --limit without --since: the newest N, still oldest first
    _, out, _ = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--format", "json", "--limit", "3",
                    "--db", str(db_path))
    assert [k["open_time"] for k in json.loads(out)] == [T0 + 7 * STEP, T0 + 8 * STEP, T0 + 9 * STEP]
    _, out, _ = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--format", "json", "--limit", "2",
                    "--since", "2024-01-01", "--db", str(db_path))
    assert [k["open_time"] for k in json.loads(out)] == [T0, T0 + STEP]


def test_table_and_rollup(capsys, db_path):
    code, out, _ = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--db", str(db_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "BTC/USDT · binance spot · 1m"
    assert lines[1].split()[:3] == ["open", "time", "(UTC)"]
    # no tick size stored: as many decimals as the stored prices need, the same in every row
    assert lines[2].split() == ["2024-01-01", "00:00", "100.00", "101.50", "99.25", "100.50", "2"]
    # left open in 2024: no recorder is going to close it, it is a partial candle
    assert lines[-1].endswith("partial")
    code, out, err = cli(capsys, "history", "binance", "BTC/USDT", "5m", "--format", "csv",
                         "--db", str(db_path))
    assert "rolled up from 1m" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(int(r["open_time"]), float(r["volume"])) for r in rows] == [(T0, 20.0), (T0 + 5 * STEP, 45.0)]
    assert [r["closed"] for r in rows] == ["1", "0"]


@pytest.mark.parametrize("argv, message", [
    (["history", "kraken", "BTC/USDT", "1m"], "unknown venue 'kraken' (known: binance"),
    (["history", "binance", "DOGE/USDT", "1m"], "no recorded data for DOGE/USDT on binance (stored: BTC/USDT)"),
    (["history", "binance", "BTCUSDT", "1m"], "symbol 'BTCUSDT' is not of the form BASE/QUOTE"),
    (["history", "binance", "BTC/USDT", "7m"], "unknown interval '7m'"),
    (["history", "binance", "BTC/USDT", "1m", "--since", "yesterday-ish"], "--since 'yesterday-ish': not a date"),
    (["history", "binance", "BTC/USDT", "1m", "--since", "1700000000"], "looks like epoch seconds"),
    (["history", "binance", "BTC/USDT", "1m", "--since", "2024-02-01", "--until", "2024-01-01"],
     "is after --until"),
    (["history", "binance", "BTC/USDT", "1m", "--limit", "0"], "--limit 0: must be at least 1"),
    (["history", "binance", "BTC/USDT", "1m", "--format", "xml"], "invalid choice: 'xml'"),
    (["gaps", "binance", "ETH/USDT", "1m"], "no recorded data for ETH/USDT on binance"),
    (["backfill", "binance", "BTC/USDT", "1m"], "the following arguments are required: --since"),
    (["backfill", "nyse", "BTC/USDT", "1m", "--since", "2024-01-01"], "unknown venue 'nyse'"),
])
def test_bad_arguments_are_one_clear_line(capsys, db_path, argv, message):
    code, out, err = cli(capsys, *argv, "--db", str(db_path))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cryptoterm: error: ")
    assert message in err
    assert "Traceback" not in err


def test_bad_db_is_one_clear_line(capsys, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all" * 50)
    code, _, err = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--db", str(junk))
    assert code == 2 and err.count("\n") == 1 and "junk.db" in err


def _config(tmp_path, url: str):
    path = tmp_path / "config.toml"
    path.write_text(f'[venues.binance.live]\nrest_url = "{url}"\n'
                    f'[venues.binanceusdm.live]\nrest_url = "{url}"\n')
    return str(path)


def test_backfill_then_gaps_then_fill_through_the_cli(capsys, tmp_path):
    import time

    # the venue's clock is frozen at `now` while `gaps` judges by the wall clock: a minute
    # that turns mid-test would add a candle the venue never served, so start early in one
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    now = int(time.time() * 1000)
    db = str(tmp_path / "cli.db")
    with BinanceRest(now) as srv:
        cfg = _config(tmp_path, srv.url)
        since = now - 90 * STEP
        first = since - since % STEP
        srv.holes.append((first + 30 * STEP, first + 40 * STEP))
        code, out, err = cli(capsys, "--config", cfg, "backfill", "binance", "BTC/USDT", "1m",
                             "--since", str(since), "--db", db, "--quiet")
        assert code == 0, err
        assert out.startswith("stored 81 klines of BTC/USDT 1m on binance")
        assert "no data for 10 candles in 1 range(s)" in out
        code, out, err = cli(capsys, "gaps", "binance", "BTC/USDT", "1m", "--db", db)
        assert code == 0
        assert out.splitlines()[0] == "1 gap(s), 10 candles missing in BTC/USDT 1m on binance:"
        # the venue fills its hole later; --fill-gaps repairs ours
        srv.holes.clear()
        code, out, err = cli(capsys, "--config", cfg, "gaps", "binance", "BTC/USDT", "1m",
                             "--fill-gaps", "--quiet", "--db", db)
        assert code == 0, err
        assert "stored 10 klines" in out and out.rstrip().endswith("all gaps filled")
        code, out, _ = cli(capsys, "gaps", "binance", "BTC/USDT", "1m", "--db", db)
        assert out.startswith("no gaps: BTC/USDT 1m on binance")
        # an unknown symbol is judged by the venue's own market list
        code, _, err = cli(capsys, "--config", cfg, "backfill", "binance", "XRP/USDT", "1m",
                           "--since", "2024-01-01", "--db", db)
        assert code == 2 and err.strip() == ("cryptoterm: error: XRP/USDT is not listed on binance spot; "
                                             "listed: BTC/USDT, ETH/USDT")
    engine = open_database(db, tmp_path)
    assert len(queries.klines(engine, BTC, "1m")) == 91
    engine.dispose()


def test_history_from_postgresql_with_a_db_url(capsys, tmp_path):
    from tests.pg import fresh_database_url

    url = fresh_database_url()
    engine = open_database(url, tmp_path)
    Recorder(engine).ingest([Kline(BTC, "1h", T0 + i * 3_600_000, 1.0 + i, 2.0 + i, 0.5, 1.5, 10.0,
                                   closed=True) for i in range(5)])
    engine.dispose()
    code, out, err = cli(capsys, "history", "binance", "BTC/USDT", "1h", "--format", "csv", "--db", url)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["open_time"]) for r in rows] == [T0 + i * 3_600_000 for i in range(5)]
    code, out, _ = cli(capsys, "gaps", "binance", "BTC/USDT", "1h", "--db", url)
    assert out.startswith("no gaps: BTC/USDT 1h on binance, 5 candles")


def test_table_prints_the_instruments_precision(capsys, tmp_path):
    """Issue #9.12: 95312.98 was printed as 95313 (six significant digits)."""
    from app.market.instruments import Instrument

    path = tmp_path / "p.db"
    engine = open_database(path, tmp_path)
    rec = Recorder(engine)
    rec.register(Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT", tick_size=0.01,
                            lot_size=0.00001))
    rec.ingest([Kline(BTC, "1m", T0, 95312.98, 95320.0, 95301.5, 95313.0, 145.12345, closed=True),
                Kline(BTC, "1m", T0 + STEP, 95313.0, 95315.25, 95310.0, 95312.01, 3.0, closed=True)])
    engine.dispose()
    code, out, err = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--db", str(path))
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:]]
    assert rows[0][2:] == ["95312.98", "95320.00", "95301.50", "95313.00", "145.12345"]
    assert rows[1][2:] == ["95313.00", "95315.25", "95310.00", "95312.01", "3.00000"]


def _record_a_session(engine, start: int, stop: int) -> None:
    """A live recording of BTC/USDT trades from ``start`` to ``stop`` (wall ms), through the
    recorder's own writer thread, with its clock at those times."""
    from app.market.events import Trade

    now = [start]
    rec = Recorder(engine, flush_interval=0.05, record=(), clock_ms=lambda: now[0]).start()
    try:
        rec.set_recording(BTC, True)
        for i, ts in enumerate(range(start, stop, 1000)):
            rec.on_event(Trade(BTC, ts, 30_000.0 + (i % 7), 0.5, "buy", str(i + 1)))
        now[0] = stop
        rec.set_recording(BTC, False)
    finally:
        rec.stop()


def test_gaps_reports_partial_candles_and_fill_gaps_replaces_them(capsys, tmp_path):
    """Issue #9.12: a recording stopped mid-minute left a partial candle that `history`
    showed as open forever and `gaps` did not report; now both say so, and --fill-gaps
    replaces it (and the one the recording started inside) with the venue's candles."""
    import time

    from tests.binance_rest import kline_price

    now = int(time.time() * 1000)
    base = now - now % STEP - 30 * STEP  # a minute boundary half an hour ago
    db = str(tmp_path / "rec.db")
    engine = open_database(db, tmp_path)
    _record_a_session(engine, base + 20_000, base + 2 * STEP + 30_000)  # :20 of m0 to :30 of m2
    engine.dispose()

    code, out, err = cli(capsys, "history", "binance", "BTC/USDT", "1m", "--db", db)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[2:]]
    # the minutes the recording started and stopped inside hold 40 s and 30 s of trades
    assert [(r[-2], r[-1]) for r in (rows[0], rows[2])] == [("20", "partial"), ("15", "partial")]
    assert len(rows[1]) == 7 and rows[1][-1] == "30"  # whole: no mark
    code, out, err = cli(capsys, "gaps", "binance", "BTC/USDT", "1m", "--db", db)
    assert code == 0, err
    assert out.splitlines() == [
        "no gaps in BTC/USDT 1m on binance",
        "2 partial candles (recorded over part of their interval only):",
        "  " + fmt(base), "  " + fmt(base + 2 * STEP)]

    with BinanceRest(now) as srv:
        cfg = _config(tmp_path, srv.url)
        code, out, err = cli(capsys, "--config", cfg, "gaps", "binance", "BTC/USDT", "1m",
                             "--fill-gaps", "--quiet", "--db", db)
        assert code == 0, err
        assert "stored 2 klines" in out
        assert out.rstrip().endswith("all gaps filled, 2 partial candles replaced")
        asked = sorted(int(q["startTime"]) for q in srv.kline_requests())
        assert asked == [base, base + 2 * STEP]  # only the partial candles, not the whole one
    engine = open_database(db, tmp_path)
    got = {k.open_time: k for k in queries.klines(engine, BTC, "1m")}
    engine.dispose()
    for t in (base, base + 2 * STEP):
        o, h, lo, c, v = kline_price("BTCUSDT", t)
        assert (got[t].open, got[t].close, got[t].volume, got[t].partial) == (o, c, v, False)
    assert got[base + STEP].volume == 30.0  # the whole recorded minute is kept as recorded
    code, out, _ = cli(capsys, "gaps", "binance", "BTC/USDT", "1m", "--db", db)
    assert out.startswith("no gaps: BTC/USDT 1m on binance, 3 candles")


def fmt(ms: int) -> str:
    from app.commands.storage_opts import fmt_ms

    return fmt_ms(ms)
