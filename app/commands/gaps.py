"""``cryptoterm gaps VENUE SYMBOL INTERVAL``: list missing kline ranges and partial candles
(stored, but the recording covered only part of their interval); ``--fill-gaps`` fetches
both from the venue, the venue's whole candles replacing the partial ones.

``cryptoterm gaps --all``: the same for every stored instrument and interval, as a
completeness report (coverage %, holes with their ranges); ``--fill-gaps`` repairs them
all through the bulk backfill, venues in parallel."""

from __future__ import annotations

import argparse

from app.commands.base import CommandError
from app.commands.storage_opts import (add_db_option, add_range_args, check_interval, check_symbol,
                                       check_venue, fmt_ms, open_db, parse_range)
from app.config import AppConfig
from app.market.klines import INTERVAL_MS, interval_ms


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gaps", help="report (and with --fill-gaps repair) missing klines in the store",
        description="Missing candles between the first and last stored one (or --since/--until), "
                    "and partial ones: stored, but recorded over part of their interval only "
                    "(the recording started or stopped inside them).")
    p.add_argument("venue", metavar="VENUE", nargs="?", help="binance, okx, bybit or coinbase")
    p.add_argument("symbol", metavar="SYMBOL", nargs="?",
                   help="BTC/USDT (spot) or BTC/USDT:USDT (perpetual)")
    p.add_argument("interval", metavar="INTERVAL", nargs="?", help=f"one of {' '.join(INTERVAL_MS)}")
    p.add_argument("--all", action="store_true", dest="all_series",
                   help="every stored instrument and interval: coverage %% and holes of each")
    add_range_args(p)
    p.add_argument("--fill-gaps", action="store_true",
                   help="fetch the missing candles from the venue and replace the partial ones")
    p.add_argument("--demo", action="store_true",
                   help="with --all --fill-gaps: fill from the built-in simulated market")
    p.add_argument("--holes", type=int, default=10, metavar="N",
                   help="with --all: holes listed per series (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar while filling")
    add_db_option(p)
    p.set_defaults(func=run)


def describe(gaps) -> list[str]:
    return [f"{fmt_ms(g.start)} → {fmt_ms(g.end - g.step)}  ({g.candles:,} candle"
            f"{'s' if g.candles != 1 else ''} missing)" for g in gaps]


def describe_partial(open_times: list[int], shown: int = 20) -> list[str]:
    lines = [fmt_ms(t) for t in open_times[:shown]]
    if len(open_times) > shown:
        lines.append(f"… and {len(open_times) - shown:,} more")
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from storage import queries

    if args.all_series:
        if args.venue or args.symbol or args.interval:
            raise CommandError("--all reports every stored series: give it no VENUE SYMBOL INTERVAL")
        from app.commands.coverage_report import run_all

        return run_all(args, cfg)
    if args.demo:
        raise CommandError("--demo fills from the simulated market with --all --fill-gaps only")
    if not (args.venue and args.symbol and args.interval):
        raise CommandError("give VENUE SYMBOL INTERVAL, or --all for every stored series")
    venue = check_venue(args.venue)
    check_symbol(args.symbol)
    interval = check_interval(args.interval)
    since, until = parse_range(args)
    engine = open_db(args, cfg)
    try:
        inst = queries.find_instrument(engine, venue, args.symbol)  # QueryError: CLI prints it
        found = queries.gaps(engine, inst.id, interval, since, until)
        partial = queries.incomplete(engine, inst.id, interval, since, until)
        info = {s.interval: s for s in queries.series(engine, inst.id)}.get(interval)
        where = f"{inst.symbol} {interval} on {inst.venue}"
        if info is None and not found:
            raise CommandError(f"no {interval} klines of {inst.symbol} stored on {inst.venue}")
        if not found and not partial:
            assert info is not None
            print(f"no gaps: {where}, {info.count:,} candles from {fmt_ms(info.first)} "
                  f"to {fmt_ms(info.last)}")
            return 0
        if found:
            total = sum(g.candles for g in found)
            print(f"{len(found)} gap(s), {total:,} candles missing in {where}:")
            for line in describe(found):
                print("  " + line)
        else:
            print(f"no gaps in {where}")
        if partial:
            print(f"{_plural(len(partial), 'partial candle')} (recorded over part of "
                  f"{'its' if len(partial) == 1 else 'their'} interval only):")
            for line in describe_partial(partial):
                print("  " + line)
        if not args.fill_gaps:
            return 0
        from app.commands.backfill import connect, run_backfill, summary

        step = interval_ms(interval)
        ranges = sorted(found + queries.runs(partial, step), key=lambda g: g.start)
        exchange, binst, unified = connect(args.venue, args.symbol, interval, cfg)
        result = run_backfill(engine, exchange, binst, unified, interval, ranges[0].start,
                              ranges[-1].end - step, args.quiet, ranges=ranges)
        print(summary(result, quiet_missing=True))
        left = queries.incomplete(engine, inst.id, interval, since, until)
        if result.missing:
            print(f"still missing (the venue has no data): {len(result.missing)} range(s)")
            for line in describe(result.missing):
                print("  " + line)
        if left:
            print(f"still partial (the venue sent no whole candle): {_plural(len(left), 'candle')}")
            for line in describe_partial(left):
                print("  " + line)
        if not result.missing and not left:
            print("all gaps filled" + (f", {_plural(len(partial), 'partial candle')} replaced"
                                       if partial else ""))
        return 0
    finally:
        engine.dispose()
