"""``cryptoterm history VENUE SYMBOL INTERVAL``: print stored klines as a table, CSV or JSON.

``cryptoterm history import FILE VENUE SYMBOL INTERVAL``: load klines from a CSV file
(Binance's public kline files, .zip or .csv, or a CSV with a header) into the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import TextIO

import orjson

from app.commands.base import CommandError
from app.commands.storage_opts import (add_db_option, add_instrument_args, add_range_args,
                                       check_interval, check_symbol, check_venue, fmt_ms, open_db,
                                       parse_range)
from app.config import AppConfig
from app.market.events import Kline
from storage.export import write_csv


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "history", help="print recorded klines (table, CSV or JSON)",
        description="Print stored klines of one instrument, oldest first. Without --since, "
                    "the newest --limit candles. Intervals not stored are rolled up from 1m. "
                    "`history import FILE VENUE SYMBOL INTERVAL` loads klines from CSV instead: "
                    "Binance's public kline files (data.binance.vision, .zip or .csv, no header, "
                    "open time in ms or µs) or a CSV with the header "
                    "open_time,open,high,low,close,volume (open_time in epoch ms).")
    add_instrument_args(p)
    # `history import FILE VENUE SYMBOL INTERVAL`: the extra positional
    p.add_argument("import_args", nargs="*", metavar="...", help=argparse.SUPPRESS)
    p.add_argument("--skip-bad", action="store_true",
                   help="import: load the good rows of a file with bad ones (default: refuse it)")
    add_range_args(p)
    p.add_argument("--limit", type=int, metavar="N", help="at most N candles (default: all in range, "
                                                          "or the newest 500 with no range)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default table); CSV and JSON carry open_time in epoch ms")
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from storage import queries

    if args.venue == "import":
        from app.commands.history_import import run_import

        if len(args.import_args) != 2:  # argparse saw FILE VENUE as SYMBOL INTERVAL
            raise CommandError("usage: cryptoterm history import FILE VENUE SYMBOL INTERVAL")
        return run_import(args.symbol, args.interval, *args.import_args, args=args, cfg=cfg)
    if args.import_args:
        raise CommandError(f"unrecognized arguments: {' '.join(args.import_args)}")
    if args.skip_bad:
        raise CommandError("--skip-bad is for `history import`")
    venue = check_venue(args.venue)
    check_symbol(args.symbol)
    interval = check_interval(args.interval)
    since, until = parse_range(args)
    limit = args.limit
    if limit is not None and limit < 1:
        raise CommandError(f"--limit {limit}: must be at least 1")
    if limit is None and since is None and until is None:
        limit = 500
    engine = open_db(args, cfg)
    try:
        inst = queries.find_instrument(engine, venue, args.symbol)  # QueryError: CLI prints it
        rows, rolled = queries.klines_or_rollup(engine, inst.id, interval, since=since, until=until,
                                                limit=limit)
    finally:
        engine.dispose()
    if rolled:
        print(f"cryptoterm: note: no {interval} klines stored; rolled up from 1m", file=sys.stderr)
    write(rows, args.format, sys.stdout, title=f"{inst.symbol} · {inst.venue} {inst.market} · {interval}",
          tick_size=inst.tick_size, lot_size=inst.lot_size)
    if not rows:
        print(f"cryptoterm: no {interval} klines of {inst.symbol} on {inst.venue} in that range",
              file=sys.stderr)
    return 0


def write(rows: Iterable[Kline], fmt: str, out: TextIO, title: str = "", *,
          tick_size: float | None = None, lot_size: float | None = None) -> None:
    if fmt == "csv":
        write_csv(rows, out)
    elif fmt == "json":
        # the event JSON plus the store's word on whether the candle is whole
        out.write(orjson.dumps([{**k.to_json(), "partial": k.partial} for k in rows],
                               option=orjson.OPT_INDENT_2).decode())
        out.write("\n")
    else:
        write_table(list(rows), out, title, tick_size=tick_size, lot_size=lot_size)


def status(k: Kline) -> str:
    """``partial``: the recording saw part of the interval; ``open``: still forming."""
    return "partial" if k.partial else "" if k.closed else "open"


def write_table(rows: list[Kline], out: TextIO, title: str, *, tick_size: float | None = None,
                lot_size: float | None = None) -> None:
    from widgets.format import decimals_for, decimals_of

    # the instrument's precision, or what the stored numbers need when it was never stored
    # (and more than the tick where old candles were quoted finer)
    prices = [v for k in rows for v in (k.open, k.high, k.low, k.close)]
    p = max(decimals_for(tick_size) if tick_size else 0, decimals_of(prices))
    q = max(decimals_for(lot_size) if lot_size else 0, decimals_of(k.volume for k in rows))
    header = ("open time (UTC)", "open", "high", "low", "close", "volume", "")
    cells = [(fmt_ms(k.open_time).removesuffix(" UTC"), f"{k.open:.{p}f}", f"{k.high:.{p}f}",
              f"{k.low:.{p}f}", f"{k.close:.{p}f}", f"{k.volume:.{q}f}", status(k)) for k in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    if title:
        out.write(title + "\n")

    def line(values: tuple[str, ...]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:-1], widths[1:-1])]
        return "  ".join([first, *rest, values[-1]]).rstrip() + "\n"

    out.write(line(header))
    for c in cells:
        out.write(line(c))
