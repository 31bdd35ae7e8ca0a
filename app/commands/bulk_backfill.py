"""The bulk side of ``cryptoterm backfill``: venues in parallel, each venue's symbols
concurrently under its REST weight budget, resumable, one rich bar per venue plus a total.

Instruments come from each venue's own market list (or its 24h tickers for ``--top N``);
the fetching is the feeds' REST client (weight budget, 429/418 and Retry-After), the
planning and writing is storage.bulk_backfill."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from app.commands.base import CommandError
from app.commands.progress_columns import RateColumn
from app.commands.storage_opts import check_interval, check_symbol, fmt_ms, open_db
from app.config import AppConfig, ConfigError
from app.feeds.rest import RestClient, RestError
from app.feeds.venue_rest import fetcher, market_list, rest_for
from app.market.instruments import Instrument, MarketType, not_listed_message
from app.market.klines import bucket_start
from app.venues import registry
from storage.backfill import resolve_venue
from storage.bulk_backfill import DEFAULT_CONCURRENCY, MarketRun

BULK_RETRIES = 3  # per request; a page that still fails is a hole for --fill-gaps
DEMO_UNIVERSE_MIN = 20


@dataclass(slots=True)
class VenueMarket:
    """One venue market to fill: its instruments and the client that fetches them."""

    venue: str
    market: MarketType
    instruments: list[Instrument]
    rest: RestClient


def parse_venues(text: str) -> list[str]:
    out: list[str] = []
    for name in text.split(","):
        if name.strip():
            venue = resolve_venue(name)  # BackfillError: one line
            if venue not in out:
                out.append(venue)
    if not out:
        raise CommandError("no venue given")
    return out


def parse_symbols(text: str) -> list[str]:
    out = [s.strip() for s in text.split(",") if s.strip()]
    for s in out:
        check_symbol(s)
    if not out:
        raise CommandError("no symbol given")
    return out


async def resolve(cfg: AppConfig, venues: list[str], symbols: list[str] | None, top: int | None,
                  retries: int, warn) -> list[VenueMarket]:
    """Every venue market with the instruments to fill, from the venues' own lists."""
    from app.feeds.engine import match_instruments, preliminary_instruments
    from app.feeds.top_markets import TopMarketsError, market_volumes

    out: list[VenueMarket] = []
    for venue in venues:
        for market in registry.VENUES[venue].markets:
            wanted = [] if symbols is None else [
                i for i in preliminary_instruments([venue], symbols) if i.market == market]
            if symbols is not None and not wanted:
                continue
            try:
                rest = rest_for(cfg, venue, market)
            except ConfigError as exc:
                raise CommandError(str(exc)) from None
            try:
                if top is not None:
                    ranked = await market_volumes(rest, venue, market, retries)
                    found = [m.instrument for m in ranked[:top]]
                else:
                    available = await market_list(rest, venue, market, retries)
                    found, missing = match_instruments(wanted, available)
                    for inst in missing:
                        warn(not_listed_message(inst.symbol, f"{venue} {market}",
                                                [i.symbol for i in available]))
            except TopMarketsError as exc:
                await rest.close()
                raise CommandError(str(exc)) from None
            except RestError as exc:
                await rest.close()
                raise CommandError(f"{venue} {market}: cannot load the market list: {exc}") from None
            except ValueError as exc:
                await rest.close()
                raise CommandError(f"{venue} {market}: unreadable market list ({exc})") from None
            if found:
                out.append(VenueMarket(venue, market, found, rest))
            else:
                await rest.close()
    return out


class BulkDisplay:
    """One bar per venue and a total; quiet hides them, never the warnings."""

    def __init__(self, venues: list[str], quiet: bool) -> None:
        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                                 RateColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                 console=self.console, disable=quiet, transient=False)
        self._venues: dict[str, TaskID] = {}
        self._order = venues
        self._total: TaskID | None = None
        self._runs: dict[str, MarketRun] = {}

    def __enter__(self) -> "BulkDisplay":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def warn(self, text: str) -> None:
        self.console.print(f"cryptoterm: warning: {text}", markup=False, highlight=False, soft_wrap=True)

    def start(self, runs: list[MarketRun]) -> None:
        for venue in self._order:
            mine = [r for r in runs if r.venue == venue]
            if mine:
                self._venues[venue] = self.progress.add_task(
                    venue, total=max(1, sum(r.total for r in mine)), note="")
        self._total = self.progress.add_task("total", total=max(1, sum(r.total for r in runs)), note="")
        for r in runs:
            self._runs[r.label] = r

    def update(self, run: MarketRun) -> None:
        task = self._venues.get(run.venue)
        if task is None or self._total is None:
            return
        mine = [r for r in self._runs.values() if r.venue == run.venue]
        failed = sum(len(r.failed) for r in mine)
        self.progress.update(task, completed=sum(r.done for r in mine),
                             note=f"{failed} page(s) failed" if failed else "")
        self.progress.update(self._total, completed=sum(r.done for r in self._runs.values()))


def demo_universe(venues: list[str], symbols: list[str] | None, top: int | None) -> int:
    """How many base assets the demo world must list for what was asked."""
    from app.sim.universe import MAX_UNIVERSE, rank_of

    need = DEMO_UNIVERSE_MIN
    if top is not None:
        need = max(need, 2 * top)  # perps are listed for the first half
    for text in symbols or ():
        market, base, _ = check_symbol(text)
        rank = rank_of(base)
        if rank is not None:
            need = max(need, 2 * (rank + 1) if market == "perp" else rank + 1)
    return min(need, MAX_UNIVERSE)


async def backfill_markets(engine, markets: list[VenueMarket], interval: str, since: int, until: int,
                           *, concurrency: int = DEFAULT_CONCURRENCY, retries: int = BULK_RETRIES,
                           display: BulkDisplay | None = None) -> list[MarketRun]:
    """Plan (what is stored is skipped) and fetch every venue market in parallel."""
    from storage.bulk_backfill import bulk_backfill, plan_targets

    runs = [(MarketRun(m.venue, m.market, plan_targets(engine, m.instruments, interval, since, until)),
             fetcher(m.rest, retries)) for m in markets]
    if display is not None:
        display.start([r for r, _ in runs])
    return await bulk_backfill(engine, [(r, f) for r, f in runs if r.targets],
                               concurrency=concurrency,
                               on_progress=None if display is None else display.update) + \
        [r for r, _ in runs if not r.targets]


def report(runs: list[MarketRun], instruments: int, interval: str, elapsed: float) -> list[str]:
    lines = []
    for r in runs:
        fails = f", {len(r.failed)} page(s) failed" if r.failed else ""
        lines.append(f"{r.label}: {r.rows:,} klines of {len(r.targets)} instrument(s) "
                     f"({r.requests:,} request{'s' if r.requests != 1 else ''}{fails})")
    rows = sum(r.rows for r in runs)
    requests = sum(r.requests for r in runs)
    if not any(r.targets for r in runs):
        lines.append(f"nothing to fetch: {interval} klines of all {instruments} instrument(s) "
                     "are already stored for that range")
    else:
        rate = f", {rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        lines.append(f"stored {rows:,} {interval} klines of {instruments} instrument(s) in "
                     f"{requests:,} requests ({elapsed:.1f} s{rate})")
    return lines


def run_bulk(args: argparse.Namespace, cfg: AppConfig, since: int, until: int | None) -> int:
    venues = parse_venues(args.venue)
    interval = check_interval(args.interval)
    symbols = parse_symbols(args.symbol) if args.symbol else None
    if args.top is not None and not 1 <= args.top <= 1000:
        raise CommandError(f"--top {args.top}: must be from 1 to 1000")
    if args.concurrency is not None and not 1 <= args.concurrency <= 64:
        raise CommandError(f"--concurrency {args.concurrency}: must be from 1 to 64")
    if args.backfill_seed is not None and not args.demo:
        raise CommandError("--seed shapes the demo market: use with --demo")
    retries = BULK_RETRIES if args.retries is None else args.retries
    concurrency = args.concurrency or DEFAULT_CONCURRENCY
    end = int(time.time() * 1000) if until is None else min(until, int(time.time() * 1000))
    if bucket_start(end, interval) < bucket_start(since, interval):
        raise CommandError("--since is in the future: nothing to fetch")
    world = None
    if args.demo:
        from app.sim.world import DemoWorld

        world = DemoWorld(seed=7 if args.backfill_seed is None else args.backfill_seed, rate=0.0, venues=venues,
                          universe=demo_universe(venues, symbols, args.top)).start()
        world.configure(cfg)
    engine = open_db(args, cfg)
    display = BulkDisplay(venues, args.quiet)
    started = time.monotonic()
    try:
        with display:
            async def main() -> tuple[list[MarketRun], int]:
                markets = await resolve(cfg, venues, symbols, args.top, retries, display.warn)
                try:
                    if not markets:
                        raise CommandError("none of the symbols is listed on "
                                           + ", ".join(venues))
                    runs = await backfill_markets(engine, markets, interval, since, end,
                                                  concurrency=concurrency, retries=retries,
                                                  display=display)
                    return runs, sum(len(m.instruments) for m in markets)
                finally:
                    for m in markets:
                        await m.rest.close()

            runs, count = asyncio.run(main())
    finally:
        engine.dispose()
        if world is not None:
            world.stop()
    for line in report(runs, count, interval, time.monotonic() - started):
        print(line)
    failed = [f for r in runs for f in r.failed]
    if failed:
        first = failed[0]
        print(f"{len(failed)} page(s) could not be fetched (first: {first.target.instrument.symbol} on "
              f"{first.target.instrument.venue} from {fmt_ms(first.start)}: {first.reason}); "
              "run `cryptoterm gaps --all --fill-gaps` to repair", file=sys.stderr)
        return 1
    return 0
