"""Arguments shared by the commands that touch storage: ``--db``, WHEN values,
VENUE SYMBOL INTERVAL. Each turns bad input into a one-line CryptotermError."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timezone
from pathlib import Path

from app.commands.base import CommandError
from app.config import AppConfig
from app.market.instruments import MarketType, parse_display_symbol
from app.market.klines import INTERVAL_MS
from app.market.times import fmt_ms  # noqa: F401  # the commands' name for it

_EPOCH_MS_MIN = 10**11  # 1973-03-03 in ms; a smaller number is almost surely seconds


def add_db_option(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand without --db keeps a `cryptoterm --db X ...` given before it
    p.add_argument("--db", metavar="URL_OR_PATH", default=argparse.SUPPRESS,
                   help="database: a SQLite file path or a URL such as "
                        "postgresql+psycopg://user@host/db (default: cryptoterm.db in the data dir)")


def add_instrument_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("venue", metavar="VENUE", help="binance, okx, bybit or coinbase")
    p.add_argument("symbol", metavar="SYMBOL", help="BTC/USDT (spot) or BTC/USDT:USDT (perpetual)")
    p.add_argument("interval", metavar="INTERVAL", help=f"one of {' '.join(INTERVAL_MS)}")


def add_range_args(p: argparse.ArgumentParser, since_required: bool = False) -> None:
    when = "ISO-8601 (2024-01-31, 2024-01-31T12:00Z) or epoch milliseconds"
    p.add_argument("--since", metavar="WHEN", required=since_required, help=f"from: {when}")
    p.add_argument("--until", metavar="WHEN", help=f"to (inclusive): {when}")


def open_db(args: argparse.Namespace, cfg: AppConfig):
    """The store named by ``--db`` (or the default file), schema up to date."""
    from storage.db import open_database

    return open_database(getattr(args, "db", None), Path(cfg.data_dir))  # StorageError: CLI prints it


def parse_when(text: str | None, flag: str) -> int | None:
    """ISO-8601 date/time (UTC unless an offset is given) or epoch milliseconds -> ms."""
    if text is None:
        return None
    raw = text.strip()
    if re.fullmatch(r"-?\d+", raw):
        value = int(raw)
        if 0 <= value < _EPOCH_MS_MIN:
            raise CommandError(f"{flag} {text}: looks like epoch seconds; give epoch milliseconds "
                               f"({value * 1000}) or an ISO-8601 date")
        if value < 0:
            raise CommandError(f"{flag} {text}: must not be before 1970")
        return value
    iso = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise CommandError(f"{flag} {text!r}: not a date; use ISO-8601 like 2024-01-31 or "
                           "2024-01-31T12:00:00Z, or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def parse_range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    since = parse_when(getattr(args, "since", None), "--since")
    until = parse_when(getattr(args, "until", None), "--until")
    if since is not None and until is not None and since > until:
        raise CommandError(f"--since {args.since} is after --until {args.until}")
    return since, until


def check_interval(interval: str) -> str:
    if interval not in INTERVAL_MS:
        raise CommandError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_MS)}")
    return interval


def check_symbol(symbol: str) -> tuple[MarketType, str, str]:
    try:
        return parse_display_symbol(symbol)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def check_venue(name: str) -> str:
    from storage.backfill import resolve_venue

    return resolve_venue(name)  # BackfillError: the CLI prints it

