"""A small REST client for the venue endpoints the feeds use (snapshots, klines,
metadata): one aiohttp session, a request-weight budget, and Retry-After honoured so a
busy client never earns the venue's 418 ban."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from http import HTTPStatus

import aiohttp

from app.errors import CryptotermError
from app.market.instruments import MarketType
from app.unreachable import host_of, unreachable_reason
from app.venues import registry

log = logging.getLogger(__name__)


class RestError(CryptotermError):
    """A REST call failed; the message is fit to show a user."""

    default_title = "Venue request failed"

    def __init__(self, message: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after  # seconds the venue asked us to wait, if it said


class WeightBudget:
    """Sliding budget of request weight: ``per_minute`` weight per ``window`` seconds
    (Binance counts 6000 a minute; see ``budget_for`` for the venues that count per second)."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window  # seconds: the venue's own counting window (tests shorten it too)
        self._spent: list[tuple[float, int]] = []
        self.blocked_until = 0.0

    def wait_for_share(self, weight: int, share: float) -> float:
        """Seconds until spending ``weight`` keeps this minute's spend within ``share`` of
        the budget: retries of a failing endpoint use only part of it, so they never
        starve the requests that work."""
        now = time.monotonic()
        spent = [(t, w) for t, w in self._spent if now - t < self.window]
        limit = self.per_minute * share
        used = sum(w for _, w in spent)
        wait = max(0.0, self.blocked_until - now)
        for t, w in spent:  # oldest first: each expiry frees its weight
            if used + weight <= limit:
                break
            used -= w
            wait = max(wait, self.window - (now - t))
        return wait

    def retry_pace(self, weight: int, share: float) -> float:
        """Seconds between retries of a ``weight`` request that keep them within ``share``
        of the budget for good: retried faster, they would run the share out in a burst
        and then wait for a whole window (a minute on Binance) when the venue is back."""
        return weight * self.window / max(1.0, self.per_minute * share)

    async def take(self, weight: int) -> None:
        while True:
            now = time.monotonic()
            if now < self.blocked_until:
                await asyncio.sleep(self.blocked_until - now)
                continue
            self._spent = [(t, w) for t, w in self._spent if now - t < self.window]
            used = sum(w for _, w in self._spent)
            if used + weight <= self.per_minute or not self._spent:
                self._spent.append((now, weight))
                return
            await asyncio.sleep(self.window - (now - self._spent[0][0]) + 0.01)


def budget_for(venue: str, market: MarketType) -> WeightBudget:
    """The venue market's weight budget over the venue's own rate-limit window."""
    facts = registry.facts(venue, market)
    return WeightBudget(facts.window_budget(), facts.rest_window_s)


class RestClient:
    def __init__(self, base_url: str, budget: WeightBudget | None = None,
                 timeout: float = 10.0,
                 on_response: Callable[[str, str], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.budget = budget or WeightBudget(6000)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # called with (path_and_query, text) for every successful response: raw capture
        self.on_response = on_response

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get_text(self, path: str, weight: int = 1, retries: int = 3) -> str:
        """GET ``path`` (with query); retries network errors and 429/418/5xx with backoff."""
        url = self.base_url + path
        last_error = "no attempt made"
        status: int | None = None
        retry_after: float | None = None
        for attempt in range(retries + 1):
            await self.budget.take(weight)
            try:
                session = await self._get_session()
                async with session.get(url) as resp:
                    text = await resp.text()
                    if resp.status == 200:
                        if self.on_response is not None:
                            self.on_response(path, text)
                        return text
                    status = resp.status
                    if resp.status in (418, 429):
                        wait = _retry_after(resp.headers.get("Retry-After"), default=2.0 ** attempt)
                        retry_after = wait
                        self.budget.blocked_until = time.monotonic() + wait
                        last_error = f"rate limited by the venue (HTTP {resp.status}); waiting {wait:.0f}s"
                        log.warning("%s: %s", url, last_error)
                        continue
                    if resp.status >= 500:
                        last_error = f"{host_of(self.base_url)} answered HTTP {_status_text(resp.status)}"
                        # a 503 may say when the venue expects to be back
                        header = resp.headers.get("Retry-After")
                        retry_after = None if header is None else _retry_after(header, default=0.0)
                    else:
                        raise RestError(f"GET {path} failed: HTTP {resp.status} {text[:200]}", resp.status)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                status = retry_after = None
                last_error = f"cannot reach {host_of(self.base_url)} ({unreachable_reason(exc)})"
            if attempt < retries:
                await asyncio.sleep(max(retry_after or 0.0, min(10.0, 0.5 * 2 ** attempt)))
        raise RestError(last_error if last_error.startswith("cannot reach")
                        else f"GET {path} failed: {last_error}", status, retry_after)


def _status_text(status: int) -> str:
    """``503 Service Unavailable``."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
