"""``cryptoterm backfill VENUE[,VENUE...] SYMBOLS INTERVAL --since WHEN``: fetch missing
klines from the venues into the store, with progress bars.

One venue and one symbol go through ccxt, one request at a time, as they always have
(``connect`` / ``run_backfill``, also what ``gaps --fill-gaps`` uses). Several venues or
symbols, ``--top N`` or ``--demo`` run the bulk backfill (storage.bulk_backfill): venues
in parallel, each venue's symbols concurrently under its REST weight budget, one bar per
venue plus a total."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from app.commands.base import CommandError
from app.commands.progress_columns import RateColumn
from app.commands.storage_opts import (add_db_option, add_instrument_args, add_range_args,
                                       check_interval, check_symbol, check_venue, fmt_ms, open_db,
                                       parse_range)
from app.config import DEFAULT_ENDPOINTS, AppConfig, ConfigError
from app.market.klines import INTERVAL_MS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backfill", help="fetch historical klines from the venue into the store",
        description="Fetch the klines missing from the store between --since and --until "
                    "(default now). Re-running resumes where an interrupted run stopped.")
    p.add_argument("venue", metavar="VENUE[,VENUE...]", help="binance, okx, bybit or coinbase; "
                   "several, comma-separated, run in parallel")
    p.add_argument("symbol", metavar="SYMBOLS", nargs="?",
                   help="BTC/USDT (spot) or BTC/USDT:USDT (perpetual); several, comma-separated "
                        "(or leave out and give --top N)")
    p.add_argument("interval", metavar="INTERVAL", help=f"one of {' '.join(INTERVAL_MS)}")
    add_range_args(p, since_required=True)
    p.add_argument("--top", type=int, metavar="N",
                   help="the N most traded USDT markets of each venue (spot and perpetuals, "
                        "by 24h quote volume) instead of SYMBOLS")
    p.add_argument("--demo", action="store_true",
                   help="backfill from the built-in simulated market (started in-process)")
    p.add_argument("--seed", dest="backfill_seed", type=int, default=None, metavar="N",
                   help="demo market seed (default 7)")
    p.add_argument("--concurrency", type=int, default=None, metavar="N",
                   help="requests in flight per venue market (default 4); the venue's weight "
                        "budget paces them whatever N is")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--retries", type=int, default=None, metavar="N",
                   help="retries of a failing request before giving up (default 8; 3 in bulk)")
    add_db_option(p)
    p.set_defaults(func=run)


class BackfillDisplay:
    """The progress bar, shown from the first request on (the market list), and one
    stderr line per retry saying why at once: "cannot reach api.binance.com (...);
    retry 2/8 in 4 s". ``quiet`` hides the bar, never the reasons."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 RateColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                 console=self.console, disable=quiet, transient=False)
        self._label = label
        self._task: TaskID | None = None
        self._depth = 0

    def __enter__(self) -> "BackfillDisplay":
        if self._depth == 0:
            self.progress.start()
            self._task = self.progress.add_task(self._label, total=None, note="")
        self._depth += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._depth -= 1
        if self._depth == 0:
            if exc_type is not None and not self.progress.disable:
                # the error line says it all: no stale bar (nor rich's blank line) before it
                self.progress.live.transient = True
                self.progress.live.stop()
            else:
                self.progress.stop()

    def status(self, note: str) -> None:
        if self._task is not None:
            self.progress.update(self._task, note=note)

    def retry(self, delay: float, reason: str) -> None:
        self.console.print(f"cryptoterm: {reason}", markup=False, highlight=False, soft_wrap=True)
        self.status(f"waiting {delay:.1f} s")

    def on_progress(self, p) -> None:
        if self._task is None:
            return
        note = f"waiting {p.waiting:.1f} s" if p.waiting else ""
        self.progress.update(self._task, total=max(p.total, 1), completed=min(p.done, p.total), note=note)


def connect(venue_arg: str, symbol: str, interval: str, cfg: AppConfig,
            display: BackfillDisplay | None = None, retries: int | None = None) -> tuple[Any, Any, str]:
    """(ccxt exchange, Instrument, ccxt symbol), endpoints overridden as configured."""
    from storage.backfill import ccxt_id, lookup_instrument, make_exchange

    venue = check_venue(venue_arg)
    market, _, _ = check_symbol(symbol)
    check_interval(interval)
    display = display or BackfillDisplay(f"{symbol.upper()} {interval}", quiet=True)
    with display:
        display.status(f"loading the {venue} market list")
        exchange_id = ccxt_id(venue, market)
        default = DEFAULT_ENDPOINTS.get(exchange_id, {}).get("live", {}).get("rest_url")
        try:
            rest_url = cfg.endpoint(exchange_id).rest_url
        except ConfigError:
            rest_url = None  # no configured endpoint: ccxt's own
        exchange = make_exchange(exchange_id, rest_url, default)  # imports ccxt: seconds
        inst, unified = lookup_instrument(exchange, venue, symbol, on_wait=display.retry,
                                          **({} if retries is None else {"max_retries": retries}))
    return exchange, inst, unified


def run_backfill(engine, exchange, inst, unified: str, interval: str, since: int, until: int | None,
                 quiet: bool, ranges=None, display: BackfillDisplay | None = None,
                 retries: int | None = None):
    from storage.backfill import backfill

    display = display or BackfillDisplay(f"{inst.symbol} {interval}", quiet=quiet)

    retry_opts: dict[str, Any] = {} if retries is None else {"max_retries": retries}
    with display:
        display.status("")
        return backfill(engine, exchange, inst, unified, interval, since, until,
                        on_progress=display.on_progress, on_wait=display.retry, ranges=ranges,
                        **retry_opts)


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


def is_bulk(args: argparse.Namespace) -> bool:
    """Several venues or symbols, --top or --demo: the bulk backfill."""
    return bool("," in args.venue or (args.symbol and "," in args.symbol) or args.top is not None
                or args.demo or args.concurrency is not None)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    since, until = parse_range(args)
    assert since is not None  # --since is required
    if args.retries is not None and not 0 <= args.retries <= 100:
        raise CommandError(f"--retries {args.retries}: must be from 0 to 100")
    if args.symbol and args.top is not None:
        raise CommandError("give SYMBOLS or --top N, not both")
    if not args.symbol and args.top is None:
        raise CommandError("give SYMBOLS (e.g. BTC/USDT,ETH/USDT) or --top N")
    if is_bulk(args):
        from app.commands.bulk_backfill import run_bulk

        return run_bulk(args, cfg, since, until)
    # one display from the first request on: a venue that does not answer says so at once
    display = BackfillDisplay(f"{args.symbol.upper()} {args.interval}", quiet=args.quiet)
    with display:
        exchange, inst, unified = connect(args.venue, args.symbol, args.interval, cfg, display,
                                          args.retries)
        engine = open_db(args, cfg)
        try:
            result = run_backfill(engine, exchange, inst, unified, args.interval, since, until,
                                  args.quiet, display=display, retries=args.retries)
        finally:
            engine.dispose()
    print(summary(result))
    if result.rows:
        print(f"from {fmt_ms(result.ranges[0].start)} to {fmt_ms(result.ranges[-1].end - result.ranges[-1].step)}",
              file=sys.stderr)
    return 0
