"""Storage benchmarks (not run by the default test command).

1. Ingest: Binance aggTrade capture lines (format v1) decoded with ``BinanceVenue.decode``
   and written by ``Recorder.ingest`` (trades plus the 1m klines rebuilt from them), vs a
   bare ``orjson`` parse + ``sqlite3.executemany`` of the same lines into the same table.
   Budgets: ratio >= 0.5 and >= 200k trades/s.
2. Query: 500 klines from a 10M-row klines table (< 10 ms).
3. Database bytes per million trades.

    python -m tests.bench.bench_storage [--trades 1000000] [--klines 10000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from app.market.instruments import Instrument
from app.venues.binance import BinanceVenue
from storage import queries
from storage.db import open_database
from storage.recorder import Recorder

INST = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT")
T0 = 1_704_067_200_000


def write_capture(path: Path, n: int, seed: int = 1) -> None:
    """``n`` aggTrade frames as capture lines: ~50 trades/s of a random-walk market."""
    rng = random.Random(seed)
    price = 42_000.0
    ts = T0
    with path.open("w") as fh:
        for i in range(n):
            ts += rng.randint(0, 40)
            price = round(price + rng.choice((-0.01, 0.0, 0.01)) * rng.randint(1, 30), 2)
            data = {"e": "aggTrade", "E": ts + 3, "s": "BTCUSDT", "a": 1_000_000 + i,
                    "p": f"{price:.2f}", "q": f"{rng.randint(1, 50000) / 100000:.5f}",
                    "f": 5_000_000 + 2 * i, "l": 5_000_001 + 2 * i, "T": ts, "m": rng.random() < 0.5,
                    "M": True}
            frame = orjson.dumps({"stream": "btcusdt@aggTrade", "data": data}).decode()
            line = {"recv_ts": ts * 1_000_000 + 5_000_000, "venue": "binance", "market": "spot",
                    "kind": "ws", "channel": None, "data": frame}
            fh.write(orjson.dumps(line).decode() + "\n")


def events(path: Path) -> Iterator:
    venue = BinanceVenue("spot", [INST])
    decode = venue.decode
    loads = orjson.loads
    with path.open("rb") as fh:
        for line in fh:
            yield decode(loads(line)["data"])


def bench_recorder(path: Path, db_path: Path) -> tuple[float, int]:
    engine = open_database(db_path, db_path.parent)
    rec = Recorder(engine)
    rec.register(INST)
    gc.collect()
    t = time.perf_counter()
    result = rec.ingest(events(path))
    elapsed = time.perf_counter() - t
    engine.dispose()
    return elapsed, result.trades


def bench_bare(path: Path, db_path: Path, batch: int = 100_000) -> tuple[float, int]:
    engine = open_database(db_path, db_path.parent)  # the same schema, pragmas and indexes
    engine.dispose()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("INSERT INTO instruments (id, venue, market, base, quote, symbol) "
                "VALUES ('cryptopair_binance_btcusdt', 'binance', 'spot', 'BTC', 'USDT', 'BTC/USDT')")
    con.commit()
    sql = "INSERT INTO trades (inst, trade_id, ts, price, amount, side) VALUES (?, ?, ?, ?, ?, ?)"
    loads = orjson.loads
    rows = []
    n = 0
    gc.collect()
    t = time.perf_counter()
    with path.open("rb") as fh:
        for line in fh:
            d = loads(loads(line)["data"])["data"]
            rows.append((1, str(d["a"]), d["T"], float(d["p"]), float(d["q"]), "sell" if d["m"] else "buy"))
            if len(rows) >= batch:
                con.executemany(sql, rows)
                con.commit()
                n += len(rows)
                rows.clear()
    if rows:
        con.executemany(sql, rows)
        con.commit()
        n += len(rows)
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed, n


def db_bytes(db_path: Path) -> int:
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return sum(p.stat().st_size for p in db_path.parent.glob(db_path.name + "*"))


def build_klines(db_path: Path, rows: int, instruments: int = 20) -> list[str]:
    """``rows`` 1m klines spread over ``instruments`` instruments (bulk, not timed)."""
    engine = open_database(db_path, db_path.parent)
    engine.dispose()
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    ids = []
    for k in range(instruments):
        iid = f"cryptopair_binance_c{k}usdt"
        ids.append(iid)
        con.execute("INSERT INTO instruments (id, venue, market, base, quote, symbol) VALUES (?, 'binance', "
                    "'spot', ?, 'USDT', ?)", (iid, f"C{k}", f"C{k}/USDT"))
    keys = [r[0] for r in con.execute("SELECT key FROM instruments ORDER BY key")]
    per = rows // instruments
    sql = "INSERT INTO klines VALUES (?, '1m', ?, ?, ?, ?, ?, ?, 1, 'rest', 0)"
    for key in keys:
        for start in range(0, per, 200_000):
            chunk = [(key, T0 + i * 60_000, 100.0 + i % 50, 101.0 + i % 50, 99.0 + i % 50, 100.5 + i % 50,
                      float(i % 97)) for i in range(start, min(per, start + 200_000))]
            con.executemany(sql, chunk)
        con.commit()
    con.close()
    return ids


def bench_query(db_path: Path, ids: list[str], per: int, n: int = 300) -> dict[str, float]:
    engine = open_database(db_path, db_path.parent)
    rng = random.Random(3)
    newest, ranged = [], []
    for _ in range(n):
        iid = rng.choice(ids)
        t = time.perf_counter()
        got = queries.klines(engine, iid, "1m", limit=500)
        newest.append(time.perf_counter() - t)
        assert len(got) == 500
        since = T0 + rng.randrange(0, per - 600) * 60_000
        t = time.perf_counter()
        got = queries.klines(engine, iid, "1m", since=since, limit=500)
        ranged.append(time.perf_counter() - t)
        assert len(got) == 500 and got[0].open_time == since
    engine.dispose()
    p = lambda xs, q: sorted(xs)[int(len(xs) * q) - 1] * 1000  # noqa: E731
    return {"newest_median_ms": statistics.median(newest) * 1000, "newest_p99_ms": p(newest, 0.99),
            "range_median_ms": statistics.median(ranged) * 1000, "range_p99_ms": p(ranged, 0.99)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--klines", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="cryptoterm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    capture = work / "aggtrades.jsonl"
    print(f"writing {args.trades:,} aggTrade capture lines …", flush=True)
    write_capture(capture, args.trades)
    bare_s, bare_n = bench_bare(capture, work / "bare" / "bare.db")
    rec_s, rec_n = bench_recorder(capture, work / "rec" / "rec.db")
    assert rec_n == bare_n == args.trades
    con = sqlite3.connect(work / "rec" / "rec.db")
    stored = con.execute("SELECT count(*) FROM trades").fetchone()[0]
    minutes = con.execute("SELECT count(*), sum(volume) FROM klines").fetchone()
    con.close()
    assert stored == args.trades
    size = db_bytes(work / "rec" / "rec.db")
    bare_rate, rec_rate = bare_n / bare_s, rec_n / rec_s
    print(f"ingest  bare orjson+executemany: {bare_rate:,.0f} trades/s ({bare_s:.2f} s)")
    print(f"ingest  Recorder.ingest (decode, trades, 1m klines): {rec_rate:,.0f} trades/s ({rec_s:.2f} s)"
          f"  -> {minutes[0]:,} klines")
    print(f"ingest  ratio {rec_rate / bare_rate:.2f} (budget >= 0.5), {'OK' if rec_rate >= 200_000 else 'BELOW'}"
          " 200k trades/s")
    print(f"size    {size / (args.trades / 1e6) / 1e6:.1f} MB per million trades "
          f"(trades + index + klines, after checkpoint)")
    kdb = work / "klines" / "klines.db"
    if not kdb.exists():
        print(f"building a {args.klines:,}-row klines table …", flush=True)
        t = time.perf_counter()
        ids = build_klines(kdb, args.klines)
        print(f"        built in {time.perf_counter() - t:.0f} s, {db_bytes(kdb) / 1e6:.0f} MB")
    else:
        con = sqlite3.connect(kdb)
        ids = [r[0] for r in con.execute("SELECT id FROM instruments ORDER BY key")]
        con.close()
    figures = bench_query(kdb, ids, args.klines // len(ids))
    print("query   500 klines of 10M: newest median {newest_median_ms:.2f} ms p99 {newest_p99_ms:.2f} ms; "
          "from a time median {range_median_ms:.2f} ms p99 {range_p99_ms:.2f} ms (budget < 10 ms)".format(**figures))
    if not args.dir:
        for p in sorted(work.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        os.rmdir(work)


if __name__ == "__main__":
    main()
