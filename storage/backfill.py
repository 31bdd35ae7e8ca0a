"""Backfill klines from a venue's REST API through ccxt.

What is fetched is "what is missing": the gaps of the stored series within the asked
range, plus candles stored while still open. So a second run after an interruption
resumes at the first missing candle, a run over a fully stored range makes one
``load_markets`` call and nothing else, and ``--fill-gaps`` is the same procedure over
the stored extent.

Paging is by hand within each venue's row limit (``ROW_LIMITS``), one request at a time.
Rate limits and network trouble (ccxt's RateLimitExceeded, DDoSProtection,
NetworkError) are retried with exponential backoff and jitter, waiting at least what
the venue's ``Retry-After`` header asks.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from app.errors import CryptotermError
from app.market.instruments import Instrument, MarketType, not_listed_message, parse_display_symbol
from app.market.klines import bucket_start, interval_ms
from app.unreachable import host_of, unreachable_reason
from app.venues import registry
from storage import queries
from storage.instrument_keys import InstrumentKeys
from storage.models import KlineRow
from storage.statements import statements_for
from storage.tables import table_of

log = logging.getLogger(__name__)

# Rows per klines request, per ccxt exchange id (the venues' documented maxima).
ROW_LIMITS: dict[str, int] = {f.hosts.key: f.kline_page_limit
                              for d in registry.VENUES.values() for f in d.markets.values()}

# Our venue name -> ccxt exchange id per market. Binance splits spot and USD-M futures
# into two ccxt exchanges; the others serve both from one.
VENUES: dict[str, dict[MarketType, str]] = {
    name: {market: f.hosts.key for market, f in d.markets.items()} for name, d in registry.VENUES.items()}
# names users may type for a venue (ccxt ids included)
VENUE_ALIASES = {key: name for name, ids in VENUES.items() for key in ids.values() if key != name}

# ccxt options that keep load_markets to the one market type we need (Binance would
# otherwise also load coin-margined futures and options from other hosts)
_MARKET_OPTIONS: dict[str, dict[str, Any]] = {
    key: {"fetchMarkets": {"types": [f.ccxt_type for _, _, f in registry.markets_of(key)]}}
    for key, hosts in registry.HOSTS.items() if hosts.narrow_markets}


def _fetch_page(exchange: Any, symbol: str, interval: str, since: int, limit: int) -> list[Any]:
    """One page of candles starting at ``since``: ccxt's ``fetch_ohlcv``."""
    rows: list[Any] = exchange.fetch_ohlcv(symbol, interval, since=since, limit=limit)
    return rows


def _binance_futures_page(exchange: Any, symbol: str, interval: str, since: int, limit: int) -> list[Any]:
    # ccxt's fetch_ohlcv clamps Binance USD-M to 1000 rows (request and parsed result)
    # although the venue serves 1500; same ccxt request path, parser and error mapping,
    # without the clamp: a third fewer requests against the futures weight budget
    market = exchange.market(symbol)
    raw = exchange.fapiPublicGetKlines({"symbol": market["id"], "interval": interval,
                                        "startTime": since, "limit": limit})
    rows: list[Any] = exchange.parse_ohlcvs(raw, market, interval, since, None)
    return rows


_PAGE_FETCHERS: dict[str, Callable[[Any, str, str, int, int], list[Any]]] = {
    "binanceusdm": _binance_futures_page,
}

MAX_RETRIES = 8
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
MAX_RETRY_AFTER = 900.0  # a longer ban (Binance 418) is reported rather than waited out


class BackfillError(CryptotermError):
    """A backfill that cannot proceed; the message is fit to show as one line."""

    default_title = "Backfill"


def venue_names() -> list[str]:
    return sorted(VENUES)


def resolve_venue(name: str) -> str:
    key = name.strip().lower()
    key = VENUE_ALIASES.get(key, key)
    if key not in VENUES:
        raise BackfillError(f"unknown venue {name!r} (known: {', '.join(venue_names())})")
    return key


def ccxt_id(venue: str, market: MarketType) -> str:
    ids = VENUES[resolve_venue(venue)]
    if market not in ids:
        raise BackfillError(f"{venue} has no {'perpetuals' if market == 'perp' else 'spot market'}")
    return ids[market]


def make_exchange(exchange_id: str, rest_url: str | None = None, default_rest_url: str | None = None,
                  *, timeout_ms: int = 10_000) -> Any:
    """A ccxt exchange; when ``rest_url`` differs from ``default_rest_url`` every API
    url starting with the default is pointed at ``rest_url`` (proxies, testnets, tests)."""
    import ccxt

    cls = getattr(ccxt, exchange_id, None)
    if cls is None:
        raise BackfillError(f"ccxt has no exchange {exchange_id!r}")
    exchange = cls({"enableRateLimit": True, "timeout": timeout_ms,
                    "options": dict(_MARKET_OPTIONS.get(exchange_id, {}))})
    if rest_url and default_rest_url and rest_url.rstrip("/") != default_rest_url.rstrip("/"):
        _rebase_urls(exchange.urls.get("api"), default_rest_url.rstrip("/"), rest_url.rstrip("/"))
    return exchange


def _rebase_urls(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value.startswith(old):
                node[key] = new + value[len(old):]
            else:
                _rebase_urls(value, old, new)


def lookup_instrument(exchange: Any, venue: str, symbol: str, *,
                      on_wait: Callable[[float, str], None] | None = None,
                      max_retries: int = MAX_RETRIES) -> tuple[Instrument, str]:
    """(Instrument, ccxt symbol) for a display symbol, from the venue's market list;
    ``on_wait(delay, reason)`` hears of every retry of the list as it happens."""
    import ccxt

    try:
        market_type, base, quote = parse_display_symbol(symbol)
    except ValueError as exc:
        raise BackfillError(str(exc)) from None
    unified = f"{base}/{quote}" if market_type == "spot" else f"{base}/{quote}:{quote}"
    try:
        with_retries(exchange, exchange.load_markets, on_wait=on_wait, max_retries=max_retries)
    except ccxt.BaseError as exc:
        why = describe_error(exchange, exc)
        raise BackfillError(f"{venue}: cannot load the market list: {why}") from None
    except BackfillError as exc:
        raise BackfillError(f"{venue}: cannot load the market list: {exc}") from None
    market = exchange.markets.get(unified)
    if market is None:
        where = f"{venue} {'perp' if market_type == 'perp' else 'spot'}"
        listed = [name for name, m in exchange.markets.items() if _same_kind(m, market_type)]
        raise BackfillError(not_listed_message(f"{base}/{quote}" if market_type == "spot" else unified,
                                               where, listed))
    precision = market.get("precision") or {}
    price, amount = precision.get("price"), precision.get("amount")
    tick = price if isinstance(price, float) else 0.01
    lot = amount if isinstance(amount, float) else 0.00001
    return (Instrument(venue, market_type, market["base"], market["quote"], market["id"],
                       tick_size=tick, lot_size=lot), unified)


def _same_kind(market: dict[str, Any], market_type: MarketType) -> bool:
    """A ccxt market of the kind we backfill: spot pairs, or linear perpetual swaps."""
    if market_type == "spot":
        return bool(market.get("spot"))
    return bool(market.get("swap")) and market.get("linear") is not False


@dataclass(slots=True)
class BackfillProgress:
    total: int  # candles to fetch (upper bound: the venue may not have them all)
    done: int = 0  # candles covered so far (stored, or confirmed absent)
    rows: int = 0  # rows written
    requests: int = 0
    retries: int = 0
    waiting: float = 0.0  # seconds of the current backoff wait, 0 when not waiting
    note: str = ""


@dataclass(slots=True)
class BackfillResult:
    instrument: Instrument
    interval: str
    rows: int = 0
    requests: int = 0
    retries: int = 0
    ranges: list[queries.Gap] = field(default_factory=list)  # what was asked for
    missing: list[queries.Gap] = field(default_factory=list)  # still absent afterwards


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """The ``Retry-After`` of a response (seconds or an HTTP date), if any."""
    if not headers:
        return None
    value = None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def with_retries(exchange: Any, call: Callable[[], Any], *, max_retries: int = MAX_RETRIES,
                 sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[float, str], None] | None = None) -> Any:
    """Run ``call``, retrying rate limits and network errors with backoff. Before each
    wait ``on_wait(delay, reason)`` is told why, in plain words ("cannot reach
    api.binance.com (connection refused: ...); retry 2/8 in 4 s")."""
    import ccxt

    attempt = 0
    while True:
        try:
            return call()
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection, ccxt.NetworkError) as exc:
            attempt += 1
            why = describe_error(exchange, exc)
            if attempt > max_retries:
                raise BackfillError(f"gave up after {max_retries} retries: {why}") from None
            backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            asked = retry_after_seconds(getattr(exchange, "last_response_headers", None))
            if asked is not None and asked > MAX_RETRY_AFTER:
                raise BackfillError(f"{exchange.id} asks to wait {asked:.0f} s before the next "
                                    "request (rate-limit ban); try again later") from None
            # the venue's own answer wins over our guess, but we never hammer it sooner
            delay = max(backoff, asked) if asked is not None else backoff
            note = f"{why}; retry {attempt}/{max_retries} in {_seconds(delay)}"
            log.warning("%s: %s", exchange.id, note)
            if on_wait is not None:
                on_wait(delay, note)
            sleep(delay)
            exchange.last_response_headers = None


def describe_error(exchange: Any, exc: BaseException) -> str:
    """A ccxt failure in plain words, naming the host: "cannot reach api.binance.com (its
    name does not resolve: ...)", "api.binance.com answered HTTP 503 Service Unavailable"."""
    import ccxt

    url = getattr(exchange, "last_request_url", None)
    host = host_of(url) if url else exchange.id
    # ccxt's HTTP errors read "<id> [<METHOD> <url> ]<status> <reason> <body>"
    status = re.match(rf"{re.escape(str(exchange.id))} (?:[A-Z]+ \S+ )?(\d{{3}}) ", str(exc))
    if status is not None:
        code = int(status.group(1))
        text = _status_text(code)
        if code in (418, 429) or isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
            return f"{host} asks to slow down (HTTP {text})"
        return f"{host} answered HTTP {text}"
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return f"{host} asks to slow down ({_short(exc)})"
    if isinstance(exc, ccxt.NetworkError) and (isinstance(exc, ccxt.RequestTimeout) or exc.__cause__):
        return f"cannot reach {host} ({unreachable_reason(exc)})"
    return _short(exc)


def _status_text(code: int) -> str:
    from http import HTTPStatus

    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _seconds(delay: float) -> str:
    return f"{delay:.0f} s" if delay >= 1.5 else f"{delay:.1f} s"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return text[:200]


def _merge(ranges: list[queries.Gap]) -> list[queries.Gap]:
    out: list[queries.Gap] = []
    for g in sorted(ranges, key=lambda g: g.start):
        if out and g.start <= out[-1].end:
            last = out[-1]
            out[-1] = queries.Gap(last.start, max(last.end, g.end), last.step)
        else:
            out.append(g)
    return out


def plan(engine: Engine, instrument_id: str, interval: str, since: int, until: int) -> list[queries.Gap]:
    """Ranges to fetch: stored gaps within [since, until], candles stored while open and
    partial candles (the recording covered part of their interval)."""
    step = interval_ms(interval)
    lo = bucket_start(since, interval)
    hi = bucket_start(until, interval)
    if hi < lo:
        return []
    ranges = queries.gaps(engine, instrument_id, interval, lo, hi)
    key = queries.resolve_key(engine, instrument_id)
    if key is not None:
        k = table_of(KlineRow)
        stmt = select(k.c.open_time).where(and_(k.c.inst == key, k.c.interval == interval,
                                                or_(k.c.closed == 0, k.c.partial == 1),
                                                k.c.open_time >= lo,
                                                k.c.open_time <= hi))
        with engine.connect() as conn:
            ranges += [queries.Gap(t, t + step, step) for t in conn.execute(stmt).scalars()]
    elif not ranges:
        ranges = [queries.Gap(lo, hi + step, step)]
    return _merge(ranges)


def backfill(engine: Engine, exchange: Any, instrument: Instrument, ccxt_symbol: str, interval: str,
             since: int, until: int | None = None, *, limit: int | None = None,
             now_ms: Callable[[], int] | None = None, sleep: Callable[[float], None] = time.sleep,
             on_progress: Callable[[BackfillProgress], None] | None = None,
             on_wait: Callable[[float, str], None] | None = None,
             max_retries: int = MAX_RETRIES, ranges: list[queries.Gap] | None = None) -> BackfillResult:
    """Fetch the missing klines of ``instrument`` between ``since`` and ``until``
    (epoch ms, inclusive of the candles containing them; ``until`` defaults to now)."""
    clock = now_ms or (lambda: int(time.time() * 1000))
    if exchange.timeframes and interval not in exchange.timeframes:
        raise BackfillError(f"{exchange.id} has no {interval} klines "
                            f"(it has: {', '.join(exchange.timeframes)})")
    step = interval_ms(interval)
    end = min(until if until is not None else clock(), clock())
    keys = InstrumentKeys(engine)
    keys.remember(instrument)
    key = keys.key(instrument.id)
    todo = plan(engine, instrument.id, interval, since, end) if ranges is None else ranges
    result = BackfillResult(instrument, interval, ranges=todo)
    page = limit or ROW_LIMITS.get(exchange.id, 500)
    progress = BackfillProgress(total=sum(g.candles for g in todo))
    upsert = statements_for(engine).upsert_klines
    fetch_page = _PAGE_FETCHERS.get(exchange.id, _fetch_page)

    def report() -> None:
        if on_progress is not None:
            on_progress(progress)

    def waiting(delay: float, note: str) -> None:
        progress.retries += 1
        progress.waiting = delay
        progress.note = note
        if on_wait is not None:
            on_wait(delay, note)
        report()

    report()
    for gap in todo:
        cursor = gap.start
        while cursor < gap.end:
            want = min(page, (gap.end - cursor) // step)
            rows = with_retries(
                exchange, lambda: fetch_page(exchange, ccxt_symbol, interval, cursor, want),
                max_retries=max_retries, sleep=sleep, on_wait=waiting)
            progress.requests += 1
            progress.waiting = 0.0
            progress.note = ""
            now = clock()
            batch = []
            for row in rows or ():
                open_time = int(row[0])
                if open_time < cursor or open_time >= gap.end or None in row[1:6]:
                    continue
                closed = 1 if open_time + step <= now else 0
                batch.append((key, interval, open_time, float(row[1]), float(row[2]), float(row[3]),
                              float(row[4]), float(row[5]), closed, "rest", 0))
            if batch:
                with engine.begin() as conn:
                    conn.exec_driver_sql(upsert, batch)
                progress.rows += len(batch)
            if not batch:
                # nothing at or after the cursor in this range: the venue has no data here
                progress.done += (gap.end - cursor) // step
                report()
                break
            last = batch[-1][2]
            progress.done += (last + step - cursor) // step
            cursor = last + step
            report()
    result.rows = progress.rows
    result.requests = progress.requests
    result.retries = progress.retries
    if todo:
        result.missing = queries.gaps(engine, instrument.id, interval, todo[0].start,
                                      todo[-1].end - step)
    return result
