"""Schema versions and forward migrations.

A fresh database gets every table from the metadata and is stamped with the latest
version. An existing database runs the migrations above its version, in order, each in
its own transaction together with its version stamp, so a crash mid-way leaves the
database at the last completed version. Migrations only add (tables, nullable or
defaulted columns, indexes) or copy-then-swap; they never drop data.

Adding a migration: bump nothing else, append ``Migration(n, "what", fn)`` where ``fn``
gets a SQLAlchemy ``Connection`` inside the transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlmodel import SQLModel

from storage.models import STALE_OPEN_MS, SchemaVersionRow
from storage.tables import table_of


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    # version 1 is the schema in storage.models as first released; created by create_all
    SQLModel.metadata.create_all(conn)


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    # a table created by create_all after this column was added to the models has it already
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _partial_klines_and_precision(conn: Connection) -> None:
    from app.market.klines import INTERVAL_MS

    _add_column(conn, "klines", "partial", "SMALLINT NOT NULL DEFAULT 0")
    _add_column(conn, "instruments", "tick_size", "FLOAT")
    _add_column(conn, "instruments", "lot_size", "FLOAT")
    # candles left open by a recording that stopped inside them (before v2 nothing said
    # so): still open although their interval ended long ago, so they are partial
    now = int(time.time() * 1000)
    for interval, step in INTERVAL_MS.items():
        conn.execute(text("UPDATE klines SET partial = 1 WHERE closed = 0 AND interval = :iv "
                          "AND open_time + :step < :cutoff"),
                     {"iv": interval, "step": step, "cutoff": now - STALE_OPEN_MS})


MIGRATIONS: list[Migration] = [
    Migration(1, "baseline: instruments, klines, trades, book snapshots, funding", _baseline),
    Migration(2, "klines.partial (recording did not cover the candle); instrument tick/lot sizes",
              _partial_klines_and_precision),
]


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max(m.version for m in migrations)


def current_version(conn: Connection) -> int | None:
    """The database's schema version, or None when it has never been stamped."""
    if not inspect(conn).has_table(SchemaVersionRow.__tablename__):
        return None
    table = table_of(SchemaVersionRow)
    versions = conn.execute(select(table.c.version)).scalars().all()
    return max(versions) if versions else None


def _stamp(conn: Connection, version: int, description: str) -> None:
    conn.execute(table_of(SchemaVersionRow).insert().values(
        version=version, applied_at=int(time.time() * 1000), description=description[:200]))


# PostgreSQL advisory lock key ("cryp"): several recorders starting at once against one
# fresh database would otherwise all create the tables and stamp version 1
MIGRATION_LOCK = 0x63727970


def _exclusive(conn: Connection) -> None:
    """One process at a time past this point, until the transaction ends (PostgreSQL;
    SQLite serializes writers by itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database to the latest version; return the version it is now at."""
    target = latest_version(migrations)
    with engine.begin() as conn:
        _exclusive(conn)
        version = current_version(conn)
        if version is None:
            fresh = not any(inspect(conn).has_table(t) for t in SQLModel.metadata.tables)
            SQLModel.metadata.create_all(conn)
            # a fresh file is the latest schema already; tables from before versioning are v1
            _stamp(conn, target if fresh else 1, "created" if fresh else "adopted unversioned schema")
            version = target if fresh else 1
    if version > target:
        raise RuntimeError(f"database schema version {version} is newer than this cryptoterm "
                           f"understands ({target}); upgrade cryptoterm")
    for m in sorted(migrations, key=lambda m: m.version):
        if m.version <= version:
            continue
        with engine.begin() as conn:
            _exclusive(conn)
            if (current_version(conn) or 0) >= m.version:  # another process got here first
                version = m.version
                continue
            m.apply(conn)
            _stamp(conn, m.version, m.description)
        version = m.version
    # tables added to the metadata since (e.g. the trading tables) appear without a migration;
    # create_all only creates what is missing and never alters or drops
    with engine.begin() as conn:
        _exclusive(conn)
        SQLModel.metadata.create_all(conn)
    return version
