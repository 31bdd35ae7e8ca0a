"""``cryptoterm gaps VENUE SYMBOL INTERVAL``: list missing kline ranges; ``--fill-gaps``
fetches them from the venue."""

from __future__ import annotations

import argparse

from app.commands.base import CommandError
from app.commands.storage_opts import (add_db_option, add_instrument_args, add_range_args,
                                       check_interval, check_symbol, check_venue, fmt_ms, open_db,
                                       parse_range)
from app.config import AppConfig


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gaps", help="report (and with --fill-gaps repair) missing klines in the store",
        description="Missing candles between the first and last stored one (or --since/--until).")
    add_instrument_args(p)
    add_range_args(p)
    p.add_argument("--fill-gaps", action="store_true", help="fetch the missing candles from the venue")
    p.add_argument("--quiet", action="store_true", help="no progress bar while filling")
    add_db_option(p)
    p.set_defaults(func=run)


def describe(gaps) -> list[str]:
    return [f"{fmt_ms(g.start)} → {fmt_ms(g.end - g.step)}  ({g.candles:,} candle"
            f"{'s' if g.candles != 1 else ''} missing)" for g in gaps]


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from storage import queries

    venue = check_venue(args.venue)
    check_symbol(args.symbol)
    interval = check_interval(args.interval)
    since, until = parse_range(args)
    engine = open_db(args, cfg)
    try:
        try:
            inst = queries.find_instrument(engine, venue, args.symbol)
        except queries.QueryError as exc:
            raise CommandError(str(exc)) from None
        found = queries.gaps(engine, inst.id, interval, since, until)
        info = {s.interval: s for s in queries.series(engine, inst.id)}.get(interval)
        where = f"{inst.symbol} {interval} on {inst.venue}"
        if info is None and not found:
            raise CommandError(f"no {interval} klines of {inst.symbol} stored on {inst.venue}")
        if not found:
            assert info is not None
            print(f"no gaps: {where}, {info.count:,} candles from {fmt_ms(info.first)} "
                  f"to {fmt_ms(info.last)}")
            return 0
        total = sum(g.candles for g in found)
        print(f"{len(found)} gap(s), {total:,} candles missing in {where}:")
        for line in describe(found):
            print("  " + line)
        if not args.fill_gaps:
            return 0
        from app.commands.backfill import connect, run_backfill, summary

        exchange, binst, unified = connect(args.venue, args.symbol, interval, cfg)
        result = run_backfill(engine, exchange, binst, unified, interval, found[0].start,
                              found[-1].end - found[-1].step, args.quiet, ranges=found)
        print(summary(result, quiet_missing=True))
        if result.missing:
            print(f"still missing (the venue has no data): {len(result.missing)} range(s)")
            for line in describe(result.missing):
                print("  " + line)
        else:
            print("all gaps filled")
        return 0
    finally:
        engine.dispose()
