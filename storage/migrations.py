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

from sqlalchemy import Connection, Engine, inspect, select
from sqlmodel import SQLModel

from storage.models import SchemaVersionRow


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    # version 1 is the schema in storage.models as first released; created by create_all
    SQLModel.metadata.create_all(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "baseline: instruments, klines, trades, book snapshots, funding", _baseline),
]


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max(m.version for m in migrations)


def current_version(conn: Connection) -> int | None:
    """The database's schema version, or None when it has never been stamped."""
    if not inspect(conn).has_table(SchemaVersionRow.__tablename__):
        return None
    table = SchemaVersionRow.__table__
    versions = conn.execute(select(table.c.version)).scalars().all()
    return max(versions) if versions else None


def _stamp(conn: Connection, version: int, description: str) -> None:
    conn.execute(SchemaVersionRow.__table__.insert().values(
        version=version, applied_at=int(time.time() * 1000), description=description[:200]))


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database to the latest version; return the version it is now at."""
    target = latest_version(migrations)
    with engine.begin() as conn:
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
            m.apply(conn)
            _stamp(conn, m.version, m.description)
        version = m.version
    # tables added to the metadata since (e.g. the trading tables) appear without a migration;
    # create_all only creates what is missing and never alters or drops
    with engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
    return version
