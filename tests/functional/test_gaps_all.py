"""`cryptoterm gaps --all`: the completeness report of every stored series, and
`--fill-gaps` repairing every hole (here from the in-process simulators)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from app.cli import main
from storage import queries
from storage.db import open_database
from storage.queries import Coverage, Gap

H = 3_600_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture()
def db(tmp_path, capsys):
    path = tmp_path / "g.db"
    assert main(["backfill", "binance,okx", "BTC/USDT,ETH/USDT:USDT", "1h", "--since", "2026-09-01",
                 "--until", "2026-09-30T23:00Z", "--demo", "--quiet", "--db", str(path)]) == 0
    capsys.readouterr()
    return path


def delete(path, inst_id: str, lo: str, hi: str) -> None:
    con = sqlite3.connect(path)
    con.execute("DELETE FROM klines WHERE inst = (SELECT key FROM instruments WHERE id = ?) "
                "AND open_time BETWEEN ? AND ?", (inst_id, ms(lo), ms(hi)))
    con.commit()


def test_the_report_names_coverage_and_every_hole_then_fill_repairs_all(db, capsys):
    delete(db, "cryptopair_binance_btcusdt", "2026-09-10T00:00", "2026-09-10T05:00")
    delete(db, "cryptopair_binance_btcusdt", "2026-09-20T12:00", "2026-09-20T12:00")
    delete(db, "cryptoperp_okx_ethusdt", "2026-09-02T00:00", "2026-09-03T23:00")
    assert main(["gaps", "--all", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    span = "(2026-09-01 00:00 UTC → 2026-09-30 23:00 UTC)"
    assert out == [
        f"binance ETH/USDT:USDT 1h: 100.00% of 720 candles {span}",
        f"binance BTC/USDT 1h: 99.02% of 720 candles {span}, 2 holes, 7 missing",
        "    2026-09-10 00:00 UTC → 2026-09-10 05:00 UTC  (6 candles missing)",
        "    2026-09-20 12:00 UTC → 2026-09-20 12:00 UTC  (1 candle missing)",
        f"okx ETH/USDT:USDT 1h: 93.33% of 720 candles {span}, 1 hole, 48 missing",
        "    2026-09-02 00:00 UTC → 2026-09-03 23:00 UTC  (48 candles missing)",
        f"okx BTC/USDT 1h: 100.00% of 720 candles {span}",
        "4 series: 2 complete, 2 with holes (55 candles missing)",
    ]
    assert main(["gaps", "--all", "--fill-gaps", "--demo", "--quiet", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "filled: 55 klines in 3 requests" in out
    assert out.rstrip().endswith("after filling: 4 series: 4 complete")


def test_holes_listed_are_capped_and_nothing_stored_is_one_line(db, capsys, tmp_path):
    for day in range(2, 8):
        delete(db, "cryptopair_okx_btcusdt", f"2026-09-0{day}T03:00", f"2026-09-0{day}T03:00")
    assert main(["gaps", "--all", "--holes", "2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "okx BTC/USDT 1h: 99.16% of 720 candles" in out and "    … and 4 more" in out
    assert main(["gaps", "--all", "--db", str(tmp_path / "empty.db")]) == 2
    assert capsys.readouterr().err == "cryptoterm: error: no klines stored\n"
    assert main(["gaps", "--all", "binance", "--db", str(db)]) == 2
    assert "give it no VENUE SYMBOL INTERVAL" in capsys.readouterr().err


def test_coverage_of_a_span_counts_what_lies_outside_the_stored_extent(db, tmp_path):
    engine = open_database(db, tmp_path)
    try:
        cov = queries.coverage(engine, "cryptopair_binance_btcusdt", "1h", ms("2026-08-31T00:00"),
                               ms("2026-09-01T23:00"))
        assert (cov.expected, cov.stored, cov.missing, cov.percent) == (48, 24, 24, 50.0)
        assert cov.holes == (Gap(ms("2026-08-31T00:00"), ms("2026-09-01T00:00"), H),)
    finally:
        engine.dispose()


def test_percent_is_100_only_when_nothing_is_missing():
    one_missing = Coverage("x", "1m", 0, 99_999 * 60_000, 99_999, (Gap(60_000, 120_000, 60_000),))
    assert one_missing.percent == 99.99
    assert Coverage("x", "1m", 0, 59 * 60_000, 60, ()).percent == 100.0
    assert Coverage("x", "1m", 0, 59 * 60_000, 60, (), partial=1).percent == 98.33
