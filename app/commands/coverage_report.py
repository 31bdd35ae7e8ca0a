"""``cryptoterm gaps --all``: a completeness report of every stored series (coverage %,
holes with their ranges) and, with ``--fill-gaps``, their repair through the bulk
backfill, venues in parallel under their weight budgets."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.commands.base import CommandError
from app.commands.storage_opts import fmt_ms, open_db, parse_range
from app.config import AppConfig, ConfigError
from app.market.instruments import Instrument, MarketType
from app.market.klines import interval_ms


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def describe(inst, cov, holes_shown: int) -> list[str]:
    """One line per series, then its holes (at most ``holes_shown``)."""
    head = (f"{inst.venue} {inst.symbol} {cov.interval}: {cov.percent:.2f}% of "
            f"{plural(cov.expected, 'candle')} ({fmt_ms(cov.first)} → {fmt_ms(cov.last)})")
    extra = []
    if cov.holes:
        extra.append(f"{plural(len(cov.holes), 'hole')}, {cov.missing:,} missing")
    if cov.partial:
        extra.append(f"{cov.partial:,} partial")
    lines = [head + (", " + ", ".join(extra) if extra else "")]
    for g in cov.holes[:holes_shown]:
        lines.append(f"    {fmt_ms(g.start)} → {fmt_ms(g.end - g.step)}  ({plural(g.candles, 'candle')} missing)")
    if len(cov.holes) > holes_shown:
        lines.append(f"    … and {len(cov.holes) - holes_shown:,} more")
    return lines


def summary(covs: Sequence) -> str:
    whole = sum(1 for _, c in covs if not c.holes and not c.partial)
    missing = sum(c.missing for _, c in covs)
    partial = sum(c.partial for _, c in covs)
    text = f"{len(covs):,} series: {whole:,} complete"
    if whole < len(covs):
        text += f", {len(covs) - whole:,} with holes ({missing:,} candles missing"
        text += f", {partial:,} partial)" if partial else ")"
    return text


def print_report(covs: Sequence, holes_shown: int) -> None:
    for inst, cov in covs:
        for line in describe(inst, cov, holes_shown):
            print(line)
    print(summary(covs))


def instrument_of(stored) -> Instrument:
    market: MarketType = "perp" if stored.market == "perp" else "spot"
    venue_symbol = stored.venue_symbol or f"{stored.base}{stored.quote}"
    return Instrument(stored.venue, market, stored.base, stored.quote, venue_symbol,
                      tick_size=stored.tick_size or 0.01, lot_size=stored.lot_size or 0.00001)


def repair_targets(engine, covs: Sequence) -> dict[tuple[str, MarketType], list]:
    """Holes and partial candles of every series, as bulk-backfill targets per venue market."""
    from storage import queries
    from storage.bulk_backfill import Target

    out: dict[tuple[str, MarketType], list] = {}
    for stored, cov in covs:
        if not cov.holes and not cov.partial:
            continue
        inst = instrument_of(stored)
        partial = queries.incomplete(engine, stored.id, cov.interval, cov.first, cov.last)
        ranges = sorted(list(cov.holes) + queries.runs(partial, interval_ms(cov.interval)),
                        key=lambda g: g.start)
        out.setdefault((inst.venue, inst.market), []).append(Target(inst, cov.interval, ranges))
    return out


async def fill(cfg: AppConfig, engine, work: dict, *, retries: int, concurrency: int, display) -> list:
    from app.feeds.venue_rest import fetcher, rest_for
    from storage.bulk_backfill import MarketRun, bulk_backfill

    clients = []
    try:
        runs = []
        for (venue, market), targets in work.items():
            try:
                rest = rest_for(cfg, venue, market)
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
            clients.append(rest)
            runs.append((MarketRun(venue, market, targets), fetcher(rest, retries)))
        if display is not None:
            display.start([r for r, _ in runs])
        return await bulk_backfill(engine, runs, concurrency=concurrency,
                                   on_progress=None if display is None else display.update)
    finally:
        for rest in clients:
            await rest.close()


def run_all(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.commands.bulk_backfill import BULK_RETRIES, DEFAULT_CONCURRENCY, BulkDisplay, demo_universe
    from storage import queries

    if args.holes < 0:
        raise CommandError(f"--holes {args.holes}: must be 0 or more")
    since, until = parse_range(args)
    engine = open_db(args, cfg)
    world = None
    try:
        covs = queries.coverage_all(engine, since, until)
        if not covs:
            raise CommandError("no klines stored" + (" in that range" if since or until else ""))
        print_report(covs, args.holes)
        if not args.fill_gaps:
            return 0
        work = repair_targets(engine, covs)
        if not work:
            print("nothing to fill")
            return 0
        venues = list(dict.fromkeys(v for v, _ in work))
        if args.demo:
            from app.sim.world import DemoWorld

            symbols = [s.symbol for s, _ in covs]
            world = DemoWorld(seed=7, rate=0.0, venues=venues,
                              universe=demo_universe(venues, symbols, None)).start()
            world.configure(cfg)
        display = BulkDisplay(venues, args.quiet)
        with display:
            runs = asyncio.run(fill(cfg, engine, work, retries=BULK_RETRIES,
                                    concurrency=DEFAULT_CONCURRENCY, display=display))
        rows = sum(r.rows for r in runs)
        print(f"filled: {rows:,} klines in {sum(r.requests for r in runs):,} requests")
        after = queries.coverage_all(engine, since, until)
        left = [(s, c) for s, c in after if c.holes or c.partial]
        failed = sum(len(r.failed) for r in runs)
        if failed:
            print(f"{plural(failed, 'page')} could not be fetched; run again to retry them", file=sys.stderr)
        if left:
            print("still incomplete (the venue has no data there, or a request failed):")
            for inst, cov in left:
                for line in describe(inst, cov, args.holes):
                    print("  " + line)
        print("after filling: " + summary(after))
        return 1 if failed else 0
    finally:
        engine.dispose()
        if world is not None:
            world.stop()
