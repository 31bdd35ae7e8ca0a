"""``cryptoterm history import FILE VENUE SYMBOL INTERVAL``: klines from a CSV file into the
store (storage.kline_import), for an instrument the store or the venue knows."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from app.commands.base import CommandError
from app.commands.storage_opts import check_interval, check_symbol, check_venue, fmt_ms, open_db
from app.config import AppConfig, ConfigError
from app.market.instruments import Instrument, canonical_id, not_listed_message
from app.venues import registry

BAD_ROWS_SHOWN = 10


def known_instrument(engine, cfg: AppConfig, venue: str, symbol: str) -> Instrument:
    """The instrument from the store, else from the venue's market list; a clear error
    when neither knows it."""
    from app.feeds.engine import match_instruments, preliminary_instruments
    from app.feeds.rest import RestClient, RestError
    from app.feeds.venue_rest import market_list
    from storage import queries

    market, base, quote = check_symbol(symbol)
    stored = queries.instrument(engine, canonical_id(venue, market, base, quote))
    if stored is not None and stored.venue_symbol:
        return Instrument(venue, market, stored.base, stored.quote, stored.venue_symbol,
                          tick_size=stored.tick_size or 0.01, lot_size=stored.lot_size or 0.00001)
    where = f"{venue} {market}"
    if (venue, market) not in registry.KNOWN:
        raise CommandError(f"{venue} has no {'perpetuals' if market == 'perp' else 'spot market'}")
    try:
        rest = RestClient(cfg.endpoint(registry.config_key(venue, market)).rest_url)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None

    async def fetch() -> list[Instrument]:
        try:
            return await market_list(rest, venue, market, retries=1)
        finally:
            await rest.close()

    try:
        available = asyncio.run(fetch())
    except RestError as exc:
        raise CommandError(f"{symbol.upper()} on {venue} is not in the store, and {venue}'s market "
                           f"list cannot be fetched to check it ({exc}); record or backfill it "
                           "once, then import") from None
    except ValueError as exc:
        raise CommandError(f"{where}: unreadable market list ({exc})") from None
    found, _ = match_instruments(preliminary_instruments([venue], [symbol]), available)
    if not found:
        raise CommandError("unknown instrument: " + not_listed_message(
            symbol.upper(), where, [i.symbol for i in available]))
    return found[0]


def run_import(file: str, venue_arg: str, symbol: str, interval_arg: str, *,
               args: argparse.Namespace, cfg: AppConfig) -> int:
    from storage import kline_import

    path = Path(file)
    if not path.is_file():
        raise CommandError(f"{file}: no such file")
    venue = check_venue(venue_arg)
    check_symbol(symbol)
    interval = check_interval(interval_arg)
    hints = kline_import.name_hints(path)
    if hints is not None and hints[1] != interval:
        raise CommandError(f"interval mismatch: {path.name} holds {hints[1]} klines, not {interval}")
    parsed = kline_import.parse(kline_import.open_text(path), interval)
    for bad in parsed.bad[:BAD_ROWS_SHOWN]:
        print(f"cryptoterm: {path.name} line {bad.line}: {bad.reason}", file=sys.stderr)
    if len(parsed.bad) > BAD_ROWS_SHOWN:
        print(f"cryptoterm: … and {len(parsed.bad) - BAD_ROWS_SHOWN:,} more bad rows", file=sys.stderr)
    if parsed.bad and not args.skip_bad:
        raise CommandError(f"{path.name}: {len(parsed.bad):,} bad row(s), nothing imported "
                           "(fix them, or --skip-bad to import the others)")
    if not parsed.rows:
        raise CommandError(f"{path.name}: no klines in the file")
    mismatch = kline_import.check_spacing(parsed.rows, interval)
    if mismatch is not None:
        raise CommandError(f"interval mismatch: {mismatch}")
    engine = open_db(args, cfg)
    try:
        inst = known_instrument(engine, cfg, venue, symbol)
        if hints is not None and venue == "binance" and hints[0] != inst.venue_symbol.upper():
            raise CommandError(f"{path.name} is a file of {hints[0]}, not {inst.symbol} "
                               f"({inst.venue_symbol.upper()})")
        result = kline_import.store(engine, inst, interval, parsed.rows, int(time.time() * 1000))
    finally:
        engine.dispose()
    skipped = f", {len(parsed.bad):,} bad row(s) skipped" if parsed.bad else ""
    print(f"imported {result.rows:,} {interval} klines of {inst.symbol} on {inst.venue} "
          f"({result.new:,} new{skipped}): {fmt_ms(result.first)} → {fmt_ms(result.last)}")
    return 0
