"""``cryptoterm backfill VENUE SYMBOL INTERVAL --since WHEN``: fetch missing klines
from the venue (ccxt) into the store, with a progress bar."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeRemainingColumn)
from rich.text import Text

from app.commands.base import CommandError
from app.commands.storage_opts import (add_db_option, add_instrument_args, add_range_args,
                                       check_interval, check_symbol, check_venue, fmt_ms, open_db,
                                       parse_range)
from app.config import DEFAULT_ENDPOINTS, AppConfig, ConfigError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backfill", help="fetch historical klines from the venue into the store",
        description="Fetch the klines missing from the store between --since and --until "
                    "(default now). Re-running resumes where an interrupted run stopped.")
    add_instrument_args(p)
    add_range_args(p, since_required=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_db_option(p)
    p.set_defaults(func=run)


class RateColumn(ProgressColumn):
    """Candles per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("–– rows/s" if speed is None else f"{speed:,.0f} rows/s", style="progress.data.speed")


def connect(venue_arg: str, symbol: str, interval: str, cfg: AppConfig) -> tuple[Any, Any, str]:
    """(ccxt exchange, Instrument, ccxt symbol), endpoints overridden as configured."""
    from storage.backfill import BackfillError, ccxt_id, lookup_instrument, make_exchange

    venue = check_venue(venue_arg)
    market, _, _ = check_symbol(symbol)
    check_interval(interval)
    try:
        exchange_id = ccxt_id(venue, market)
        default = DEFAULT_ENDPOINTS.get(exchange_id, {}).get("live", {}).get("rest_url")
        try:
            rest_url = cfg.endpoint(exchange_id).rest_url
        except ConfigError:
            rest_url = None  # no configured endpoint: ccxt's own
        exchange = make_exchange(exchange_id, rest_url, default)
        inst, unified = lookup_instrument(exchange, venue, symbol)
    except BackfillError as exc:
        raise CommandError(str(exc)) from None
    return exchange, inst, unified


def run_backfill(engine, exchange, inst, unified: str, interval: str, since: int, until: int | None,
                 quiet: bool, ranges=None):
    from storage.backfill import BackfillError, backfill

    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        RateColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                        console=console, disable=quiet, transient=False)
    task = None

    def on_progress(p) -> None:
        nonlocal task
        if task is None:
            task = progress.add_task(f"{inst.symbol} {interval}", total=max(p.total, 1), note="")
        note = f"waiting {p.waiting:.1f} s ({p.note})" if p.waiting else ""
        progress.update(task, completed=min(p.done, p.total), note=note)

    try:
        with progress:
            return backfill(engine, exchange, inst, unified, interval, since, until,
                            on_progress=on_progress)
    except BackfillError as exc:
        raise CommandError(str(exc)) from None


def summary(result, quiet_missing: bool = False) -> str:
    inst = result.instrument
    where = f"{inst.symbol} {result.interval} on {inst.venue}"
    if not result.ranges:
        return f"nothing to fetch: {where} is already stored for that range"
    retries = f", {result.retries} retr{'y' if result.retries == 1 else 'ies'}" if result.retries else ""
    text = (f"stored {result.rows:,} klines of {where} "
            f"({result.requests} request{'s' if result.requests != 1 else ''}{retries})")
    if result.missing and not quiet_missing:
        n = sum(g.candles for g in result.missing)
        text += f"; the venue has no data for {n:,} candles in {len(result.missing)} range(s)"
    return text


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    since, until = parse_range(args)
    assert since is not None  # --since is required
    exchange, inst, unified = connect(args.venue, args.symbol, args.interval, cfg)
    engine = open_db(args, cfg)
    try:
        result = run_backfill(engine, exchange, inst, unified, args.interval, since, until, args.quiet)
    finally:
        engine.dispose()
    print(summary(result))
    if result.rows:
        print(f"from {fmt_ms(result.ranges[0].start)} to {fmt_ms(result.ranges[-1].end - result.ranges[-1].step)}",
              file=sys.stderr)
    return 0
