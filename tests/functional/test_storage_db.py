"""The store's entry point: default location, SQLite settings, tables, migrations."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect, text

from storage import migrations
from storage.db import DEFAULT_DB_NAME, StorageError, open_database, resolve_url


def test_default_file_in_data_dir_with_wal_and_pragmas(tmp_path):
    engine = open_database(None, tmp_path / "data")
    try:
        assert (tmp_path / "data" / DEFAULT_DB_NAME).exists()
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        tables = set(inspect(engine).get_table_names())
        assert {"instruments", "klines", "trades", "book_snapshots", "funding",
                "schema_version"} <= tables
    finally:
        engine.dispose()


def test_paths_and_urls_resolve(tmp_path):
    assert resolve_url(None, tmp_path) == f"sqlite:///{tmp_path / DEFAULT_DB_NAME}"
    assert resolve_url(str(tmp_path / "x.db"), tmp_path) == f"sqlite:///{tmp_path / 'x.db'}"
    assert resolve_url("postgresql://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:////a/b.db", tmp_path) == "sqlite:////a/b.db"


def test_reopening_keeps_data_and_version(tmp_path):
    path = tmp_path / "h.db"
    engine = open_database(path, tmp_path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO instruments (id, venue, market, base, quote, symbol) "
                          "VALUES ('cryptopair_binance_btcusdt', 'binance', 'spot', 'BTC', 'USDT', 'BTC/USDT')"))
    engine.dispose()
    engine = open_database(str(path), tmp_path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM instruments")).scalar() == 1
        assert migrations.current_version(conn) == migrations.latest_version()
    engine.dispose()


def test_forward_migration_adds_without_losing_rows(tmp_path):
    path = tmp_path / "m.db"
    engine = open_database(path, tmp_path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO instruments (id, venue, market, base, quote, symbol) "
                          "VALUES ('cryptopair_binance_ethusdt', 'binance', 'spot', 'ETH', 'USDT', 'ETH/USDT')"))

    def add_note(conn):
        conn.execute(text("ALTER TABLE instruments ADD COLUMN note VARCHAR(40) DEFAULT ''"))

    nxt = migrations.latest_version() + 1
    later = migrations.MIGRATIONS + [migrations.Migration(nxt, "instrument notes", add_note)]
    assert migrations.migrate(engine, later) == nxt
    assert migrations.migrate(engine, later) == nxt  # applied once only
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, note FROM instruments")).one()
        assert row == ("cryptopair_binance_ethusdt", "")
        assert migrations.current_version(conn) == nxt
    engine.dispose()
    # a cryptoterm that only knows the versions before refuses the newer file instead of guessing
    with pytest.raises(StorageError, match="newer"):
        open_database(path, tmp_path)


def test_unusable_database_is_one_clear_error(tmp_path):
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="junk.db"):
        open_database(not_a_db, tmp_path)
    with pytest.raises(StorageError, match="no driver|cannot open"):
        open_database("nosuchdb://x/y", tmp_path)


def test_a_crashed_stamp_is_not_mistaken_for_fresh(tmp_path):
    # tables exist but no version row (a database from before versioning): adopted as v1
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE instruments (key INTEGER PRIMARY KEY, id VARCHAR(80) UNIQUE NOT NULL, "
                "venue VARCHAR(32) NOT NULL, market VARCHAR(8) NOT NULL, base VARCHAR(24) NOT NULL, "
                "quote VARCHAR(24) NOT NULL, symbol VARCHAR(64) NOT NULL, venue_symbol VARCHAR(64))")
    con.execute("INSERT INTO instruments (id, venue, market, base, quote, symbol) "
                "VALUES ('cryptopair_binance_solusdt', 'binance', 'spot', 'SOL', 'USDT', 'SOL/USDT')")
    con.commit()
    con.close()
    engine = open_database(path, tmp_path)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT symbol FROM instruments")).scalar() == "SOL/USDT"
        # adopted as v1, then migrated forward (the later columns added to the old table)
        assert migrations.current_version(conn) == migrations.latest_version()
        assert "tick_size" in {c["name"] for c in inspect(conn).get_columns("instruments")}
        assert "trades" in inspect(conn).get_table_names()
    engine.dispose()


def test_postgresql_gets_the_same_schema_and_migrations(tmp_path):
    from tests.pg import fresh_database_url

    url = fresh_database_url()
    engine = open_database(url, tmp_path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO instruments (id, venue, market, base, quote, symbol) "
                          "VALUES ('cryptoperp_binance_btcusdt', 'binance', 'perp', 'BTC', 'USDT', 'BTC/USDT:USDT')"))

    def add_note(conn):
        conn.execute(text("ALTER TABLE instruments ADD COLUMN note VARCHAR(40) DEFAULT ''"))

    nxt = migrations.latest_version() + 1
    later = migrations.MIGRATIONS + [migrations.Migration(nxt, "instrument notes", add_note)]
    assert migrations.migrate(engine, later) == nxt
    with engine.connect() as conn:
        assert conn.execute(text("SELECT symbol, note FROM instruments")).one() == ("BTC/USDT:USDT", "")
        assert "partial" in {c["name"] for c in inspect(conn).get_columns("klines")}
    engine.dispose()
    with pytest.raises(StorageError, match="newer"):
        open_database(url, tmp_path)
    with engine.begin() as conn:  # back to what this cryptoterm knows, for the next check
        conn.execute(text(f"DELETE FROM schema_version WHERE version = {nxt}"))
    # postgresql:// without a driver name uses psycopg
    plain = open_database(url.replace("postgresql+psycopg://", "postgresql://"), tmp_path)
    assert plain.dialect.driver == "psycopg"
    plain.dispose()


def test_unreachable_postgresql_is_one_clear_error(tmp_path):
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StorageError, match=r"cannot open database postgresql\+psycopg://u:\*\*\*@127.0.0.1"):
        open_database(f"postgresql://u:secret@127.0.0.1:{port}/db", tmp_path)


def test_trading_tables_are_created_when_their_module_exists(tmp_path):
    import importlib
    import importlib.util

    if importlib.util.find_spec("storage.trading_models") is None:
        pytest.skip("storage/trading_models.py does not exist yet")
    engine = open_database(None, tmp_path)
    module = importlib.import_module("storage.trading_models")
    wanted = {obj.__tablename__ for obj in vars(module).values()
              if isinstance(obj, type) and obj.__module__ == module.__name__ and hasattr(obj, "__table__")}
    assert wanted and wanted <= set(inspect(engine).get_table_names())
    engine.dispose()


V1_KLINES = ("CREATE TABLE klines (inst INTEGER NOT NULL, interval VARCHAR(4) NOT NULL, "
             "open_time BIGINT NOT NULL, open FLOAT NOT NULL, high FLOAT NOT NULL, low FLOAT NOT NULL, "
             "close FLOAT NOT NULL, volume FLOAT NOT NULL, closed SMALLINT NOT NULL, "
             "source VARCHAR(4) NOT NULL, PRIMARY KEY (inst, interval, open_time)) WITHOUT ROWID")
V1_INSTRUMENTS = ("CREATE TABLE instruments (key INTEGER NOT NULL PRIMARY KEY, id VARCHAR(80) NOT NULL "
                  "UNIQUE, venue VARCHAR(32) NOT NULL, market VARCHAR(8) NOT NULL, base VARCHAR(24) "
                  "NOT NULL, quote VARCHAR(24) NOT NULL, symbol VARCHAR(64) NOT NULL, "
                  "venue_symbol VARCHAR(64))")


def test_a_v1_database_gains_partial_klines_and_keeps_its_rows(tmp_path):
    """A file written before schema v2 (no klines.partial, no tick sizes) opens, keeps every
    row, and a candle left open long ago by a stopped recording is marked partial."""
    import sqlite3
    import time

    from storage import queries

    path = tmp_path / "v1.db"
    now = int(time.time() * 1000)
    minute = now - now % 60_000
    con = sqlite3.connect(path)
    con.execute(V1_INSTRUMENTS)
    con.execute(V1_KLINES)
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, "
                "applied_at BIGINT NOT NULL, description VARCHAR(200) NOT NULL)")
    con.execute("INSERT INTO schema_version VALUES (1, 0, 'created')")
    con.execute("INSERT INTO instruments VALUES (1, 'cryptopair_binance_btcusdt', 'binance', 'spot', "
                "'BTC', 'USDT', 'BTC/USDT', 'BTCUSDT')")
    rows = [(1, "1m", minute - 10 * 60_000, 1.0, 2.0, 0.5, 1.5, 145.0, 1, "ws"),
            (1, "1m", minute - 9 * 60_000, 1.0, 2.0, 0.5, 1.5, 59.5, 0, "agg"),  # left open
            (1, "1m", minute, 1.0, 2.0, 0.5, 1.5, 3.0, 0, "ws")]  # forming right now
    con.executemany("INSERT INTO klines VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    engine = open_database(path, tmp_path)
    with engine.connect() as conn:
        assert migrations.current_version(conn) == migrations.latest_version()
        got = conn.execute(text("SELECT open_time, volume, closed, partial FROM klines "
                                "ORDER BY open_time")).all()
    assert got == [(minute - 10 * 60_000, 145.0, 1, 0), (minute - 9 * 60_000, 59.5, 0, 1),
                   (minute, 3.0, 0, 0)]
    (inst,) = queries.instruments(engine)
    assert inst.tick_size is None  # never told: printed at the data's own precision
    engine.dispose()
