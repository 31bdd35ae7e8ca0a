"""Catch-up for a recorder coming back: the 1m klines missing between the last stored
candle of each instrument and now, fetched from the venue's REST before streaming
resumes, so a restart leaves no hole.

Only instruments already in the store are caught up (a first run has nothing to
resume). The watermark is the newest stored candle's open time; ``storage.backfill.plan``
then also refetches candles stored open or partial (the last minutes of the previous run),
and every write is an idempotent upsert (a venue's candle replaces one built from trades).
The fetching is the bulk backfill's: the feeds' REST client under each venue market's
weight budget, the venue's own codec, one writer thread; venue markets side by side.

Trades are not caught up: the simulators and several venues serve no trade history by
id over REST, and the klines carry the volume and prices of the missing minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from app.config import AppConfig, ConfigError
from app.feeds.rest import RestClient, RestError
from app.feeds.venue_rest import fetcher, market_list, rest_for
from app.market.instruments import Instrument, MarketType
from app.market.klines import interval_ms
from app.market.times import fmt_ms
from storage import queries
from storage.backfill import plan
from storage.bulk_backfill import DEFAULT_CONCURRENCY, MarketRun, Target, bulk_backfill

log = logging.getLogger(__name__)

INTERVAL = "1m"
USD_FAMILY = ("USDT", "USD", "USDC")


@dataclass(slots=True)
class CatchupResult:
    """What one catch-up pass did, per venue market ("binance spot")."""

    rows: dict[str, int] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    instruments: int = 0
    problems: list[str] = field(default_factory=list)  # one line each, for the user


# (venue, "spot"|"perp" stream, rows, requests, seconds) after each venue market
Progress = Callable[[str, str, int, int, float], None]
# (venue, market) -> the venue's listed instruments by id, kept from one pass to the next
Listings = dict[tuple[str, str], dict[str, Instrument]]


def stored_targets(db: Engine, wanted: list[Instrument]) -> list[queries.StoredInstrument]:
    """The stored instruments a recording of ``wanted`` continues: the same id, or on a
    venue quoting in another dollar (Coinbase BTC-USD for BTC/USDT) that one."""
    out: list[queries.StoredInstrument] = []
    by_venue: dict[str, list[queries.StoredInstrument]] = {}
    for inst in wanted:
        if inst.venue not in by_venue:
            by_venue[inst.venue] = queries.instruments(db, inst.venue)
        for stored in by_venue[inst.venue]:
            same = stored.market == inst.market and stored.base.upper() == inst.base.upper()
            quote_ok = stored.quote.upper() == inst.quote.upper() or (
                inst.quote.upper() in USD_FAMILY and stored.quote.upper() in USD_FAMILY)
            if same and quote_ok and stored not in out:
                out.append(stored)
    return out


def watermarks(db: Engine, targets: list[queries.StoredInstrument]) -> dict[str, int]:
    """Instrument id -> open time of its newest stored 1m candle (instruments without
    one are left out: nothing to resume)."""
    out: dict[str, int] = {}
    for stored in targets:
        newest = queries.newest_kline(db, stored.id, INTERVAL)
        if newest is not None:
            out[stored.id] = newest.open_time
    return out


def catch_up(db: Engine, cfg: AppConfig, targets: list[queries.StoredInstrument],
             since: dict[str, int], *, until_ms: int | None = None,
             progress: Progress | None = None, max_retries: int = 3,
             listings: Listings | None = None) -> CatchupResult:
    """Backfill the 1m klines of ``targets`` from ``since[id]`` to ``until_ms`` (default
    now), venue markets in parallel, the instruments of one market under its REST weight
    budget. ``listings`` keeps the venues' market lists from one call to the next. Runs
    its own event loop: call it from a thread that has none (the recorder's main thread
    before streaming, its repair thread)."""
    return asyncio.run(_catch_up(db, cfg, targets, since, until_ms, progress, max_retries,
                                 {} if listings is None else listings))


async def _catch_up(db: Engine, cfg: AppConfig, targets: list[queries.StoredInstrument],
                    since: dict[str, int], until_ms: int | None, progress: Progress | None,
                    retries: int, listings: Listings) -> CatchupResult:
    result = CatchupResult()
    end = int(time.time() * 1000) if until_ms is None else until_ms
    groups: dict[tuple[str, MarketType], list[queries.StoredInstrument]] = {}
    for stored in targets:
        if stored.id in since:
            market: MarketType = "perp" if stored.market == "perp" else "spot"
            groups.setdefault((stored.venue, market), []).append(stored)

    clients: list[RestClient] = []
    runs = []
    try:
        for (venue, market), members in groups.items():
            name = f"{venue} {market}"
            try:
                rest = rest_for(cfg, venue, market)
            except ConfigError as exc:
                result.problems.append(f"{name}: catch-up skipped: {exc}")
                continue
            clients.append(rest)
            listed = listings.get((venue, market))
            if listed is None:
                try:
                    listed = listings[(venue, market)] = {
                        i.id: i for i in await market_list(rest, venue, market, retries)}
                except RestError as exc:
                    result.problems.append(f"{name}: catch-up skipped: cannot load the market "
                                           f"list: {exc}")
                    continue
                except ValueError as exc:
                    result.problems.append(f"{name}: catch-up skipped: unreadable market list "
                                           f"({exc})")
                    continue
            work = []
            for stored in members:
                inst = listed.get(stored.id)
                if inst is None:
                    result.problems.append(f"{name} {stored.symbol}: catch-up skipped: no longer "
                                           f"listed on {name}")
                    continue
                result.instruments += 1
                ranges = plan(db, inst.id, INTERVAL, since[stored.id], end)
                if ranges:
                    work.append(Target(inst, INTERVAL, ranges))
            if work:
                runs.append((MarketRun(venue, market, work), fetcher(rest, retries)))
        began = time.monotonic()
        finished: dict[str, float] = {}

        def note_done(run: MarketRun) -> None:
            if run.done >= run.total:
                finished.setdefault(run.label, time.monotonic() - began)

        if runs:
            await bulk_backfill(db, runs, concurrency=DEFAULT_CONCURRENCY, on_progress=note_done)
    finally:
        for rest in clients:
            await rest.close()

    for run, _ in runs:
        name = run.label
        result.rows[name] = run.rows
        result.requests[name] = run.requests
        result.seconds[name] = finished.get(name, time.monotonic() - began)
        for page in run.failed:
            step = interval_ms(page.target.interval)
            result.problems.append(
                f"{name} {page.target.instrument.symbol}: catch-up failed for "
                f"{(page.end - page.start) // step} candle(s) from {fmt_ms(page.start)}: {page.reason}")
        if progress is not None:
            progress(run.venue, run.market, run.rows, run.requests, result.seconds[name])
    return result

