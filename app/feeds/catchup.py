"""Catch-up for a recorder coming back: the 1m klines missing between the last stored
candle of each instrument and now, fetched from the venue's REST (through the store's
backfill, ccxt) before streaming resumes, so a restart leaves no hole.

Only instruments already in the store are caught up (a first run has nothing to
resume). The watermark is the newest stored candle's open time; ``storage.backfill.plan``
then also refetches candles stored open or partial (the last minutes of the previous run),
and every write is an idempotent upsert (a venue's candle replaces one built from trades).

Trades are not caught up: the simulators and several venues serve no trade history by
id over REST, and the klines carry the volume and prices of the missing minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from app.config import DEFAULT_ENDPOINTS, AppConfig, ConfigError
from app.errors import CryptotermError
from app.market.instruments import Instrument, parse_display_symbol
from storage import queries

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


# (venue, "spot"|"perp" stream, rows, requests, seconds) after each instrument
Progress = Callable[[str, str, int, int, float], None]


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


def _exchange_for(cfg: AppConfig, venue: str, market: Any) -> Any:
    from storage.backfill import ccxt_id, make_exchange

    exchange_id = ccxt_id(venue, market)
    default = DEFAULT_ENDPOINTS.get(exchange_id, {}).get("live", {}).get("rest_url")
    try:
        rest_url: str | None = cfg.endpoint(exchange_id).rest_url
    except ConfigError:
        rest_url = None
    exchange = make_exchange(exchange_id, rest_url, default)
    if rest_url and default and rest_url.rstrip("/") != default.rstrip("/"):
        _pin(exchange.urls.get("api"), getattr(exchange, "hostname", None) or "",
             default.rstrip("/"), rest_url.rstrip("/"))
    return exchange


def _pin(node: Any, hostname: str, old: str, new: str) -> None:
    """Point every API url still on the venue's default host at the configured one.
    ccxt templates some hosts (OKX ``https://{hostname}``, Bybit ``https://api.{hostname}``)
    that a plain prefix match misses: rendered first, so a configured endpoint (a proxy,
    the simulator) is what catch-up talks to, never the public venue."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if isinstance(value, str):
            rendered = value.replace("{hostname}", hostname) if hostname else value
            if rendered.startswith(old):
                node[key] = new + rendered[len(old):]
        else:
            _pin(value, hostname, old, new)


def catch_up(db: Engine, cfg: AppConfig, targets: list[queries.StoredInstrument],
             since: dict[str, int], *, until_ms: int | None = None,
             progress: Progress | None = None, max_retries: int = 3,
             exchanges: dict[tuple[str, str], Any] | None = None) -> CatchupResult:
    """Backfill the 1m klines of ``targets`` from ``since[id]`` to ``until_ms`` (default
    now), venue markets in parallel, instruments of one market in turn (its REST weight
    budget is shared). ``exchanges`` keeps the ccxt exchanges (and their market lists)
    from one call to the next."""
    cache: dict[tuple[str, str], Any] = {} if exchanges is None else exchanges
    from storage.backfill import BackfillError, backfill, lookup_instrument

    result = CatchupResult()
    groups: dict[tuple[str, str], list[queries.StoredInstrument]] = {}
    for stored in targets:
        if stored.id in since:
            groups.setdefault((stored.venue, stored.market), []).append(stored)

    def one_market(venue: str, market: str, members: list[queries.StoredInstrument]) -> None:
        name = f"{venue} {market}"
        started = time.monotonic()
        exchange = cache.get((venue, market))
        if exchange is None:
            try:
                exchange = cache[(venue, market)] = _exchange_for(cfg, venue, market)
            except (CryptotermError, ConfigError) as exc:
                result.problems.append(f"{name}: catch-up skipped: {exc}")
                return
        for stored in members:
            before = time.monotonic()
            try:
                parse_display_symbol(stored.symbol)
                inst, unified = lookup_instrument(exchange, venue, stored.symbol,
                                                  max_retries=max_retries)
            except BackfillError as exc:
                if "cannot load the market list" in str(exc):  # the same for every symbol
                    why = str(exc).removeprefix(f"{venue}: ")
                    result.problems.append(f"{name}: catch-up skipped: {why}")
                    return
                result.problems.append(f"{name} {stored.symbol}: catch-up failed: {exc}")
                continue
            except ValueError as exc:
                result.problems.append(f"{name} {stored.symbol}: catch-up failed: {exc}")
                continue
            try:
                done = backfill(db, exchange, inst, unified, INTERVAL, since[stored.id], until_ms,
                                max_retries=max_retries)
            except BackfillError as exc:
                result.problems.append(f"{name} {stored.symbol}: catch-up failed: {exc}")
                continue
            except Exception as exc:  # a venue answering nonsense costs this symbol only
                log.exception("%s %s: catch-up failed", name, stored.symbol)
                result.problems.append(f"{name} {stored.symbol}: catch-up failed: "
                                       f"{type(exc).__name__}: {exc}".splitlines()[0][:200])
                continue
            spent = time.monotonic() - before
            result.rows[name] = result.rows.get(name, 0) + done.rows
            result.requests[name] = result.requests.get(name, 0) + done.requests
            result.instruments += 1
            if progress is not None:
                progress(venue, market, done.rows, done.requests, spent)
        result.seconds[name] = time.monotonic() - started

    if groups:
        with ThreadPoolExecutor(max_workers=min(8, len(groups)),
                                thread_name_prefix="cryptoterm-catchup") as pool:
            for future in [pool.submit(one_market, v, m, members)
                           for (v, m), members in groups.items()]:
                future.result()
    return result
