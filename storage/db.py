"""Opening the store: a SQLite file in the data dir by default, or any SQLAlchemy URL
(``postgresql+psycopg://user@host/db``). Everything that touches storage goes through
``open_database`` so pragmas, tables and migrations are always in place.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from app.errors import CryptotermError
import storage.models  # noqa: F401  (registers the market-data tables in SQLModel.metadata)

DEFAULT_DB_NAME = "cryptoterm.db"
BUSY_TIMEOUT_MS = 5000


class StorageError(CryptotermError):
    """The store cannot be opened or used; the message is fit to show as one line."""

    default_title = "History store"


def _load_optional_models() -> None:
    # the trading tables (orders, fills, audit log) live with the trading code; create them
    # too when that module exists so one database holds everything
    if importlib.util.find_spec("storage.trading_models") is not None:
        importlib.import_module("storage.trading_models")


def resolve_url(url_or_path: str | Path | None, data_dir: Path) -> str:
    """A SQLAlchemy URL for a path, a URL, or None (the default file in ``data_dir``)."""
    if url_or_path is None or str(url_or_path).strip() == "":
        path = Path(data_dir) / DEFAULT_DB_NAME
        return f"sqlite:///{path}"
    text_ = str(url_or_path).strip()
    if "://" not in text_:
        return f"sqlite:///{Path(text_).expanduser()}"
    # plain postgresql:// would pick psycopg2, which we do not ship; psycopg (3) is the driver
    for prefix in ("postgresql://", "postgres://"):
        if text_.startswith(prefix):
            return "postgresql+psycopg://" + text_[len(prefix):]
    return text_


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# SQLite's page cache per connection. It fills up to this as the file grows and stays in RSS;
# the OS caches the file anyway, so a larger one buys little for our indexed range reads
PAGE_CACHE_KIB = 16 * 1024


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        # WAL: readers (the history screen) never block the recorder, and a killed process
        # leaves committed transactions intact. synchronous=NORMAL fsyncs at checkpoints
        # only: a power cut may lose the last commits, a killed process loses nothing committed.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    finally:
        cur.close()


def create_db_engine(url: str) -> Engine:
    """An Engine with our connection settings but no schema work."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"--db {url!r}: not a path or a database URL") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:" and not database.startswith("file:"):
                parent = Path(database).expanduser().parent
                try:
                    parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageError(f"{database}: cannot create its directory: {exc.strerror}") from None
            engine = create_engine(parsed, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        hint = " (install cryptoterm[postgres])" if parsed.get_backend_name() == "postgresql" else ""
        raise StorageError(f"--db {parsed.render_as_string(hide_password=True)}: "
                           f"no driver for this database{hint}: {exc}") from None
    return engine


def open_database(url_or_path: str | Path | None, data_dir: Path) -> Engine:
    """Open (creating if needed) the store and bring its schema up to date.

    ``url_or_path``: a SQLAlchemy URL, a file path (SQLite), or None for
    ``<data_dir>/cryptoterm.db``. Raises StorageError with a one-line message.
    """
    from storage.migrations import migrate

    _load_optional_models()
    url = resolve_url(url_or_path, data_dir)
    engine = create_db_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StorageError(f"cannot open database {shown}: {reason}") from None
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StorageError(f"database {shown}: {exc.__class__.__name__}: {exc}".splitlines()[0]) from None
    except RuntimeError as exc:
        engine.dispose()
        raise StorageError(f"database {shown}: {exc}") from None
    return engine
