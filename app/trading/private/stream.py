"""Keep one private venue session connected and hand its pushes to the account.

The session (one per venue module) knows the wire; this loop knows staying up: connect,
log in, subscribe, pump, ping when the venue wants client pings, renew a listen key, and
on any drop reconnect with exponential backoff and jitter. ``on_connected`` runs after
every successful login: the owner reconciles over REST then, because whatever happened
while the socket was down was pushed to nobody. A refused login is reported in plain
words (``on_problem``) and retried slowly: keys get fixed, venues come back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import websockets
from websockets.asyncio.client import ClientConnection, connect

from app.errors import CryptotermError
from app.trading.private.updates import Push

log = logging.getLogger(__name__)


class AuthRefused(CryptotermError):
    """The venue refused the login or subscription: the message says why, in its words."""

    default_title = "Private stream refused"


class StreamUnavailable(CryptotermError):
    """The session could not be opened (no listen key, bad answer): retried with backoff."""

    default_title = "Private stream down"


class Session(Protocol):
    """One venue's private session. ``decode`` is pure; the rest talks to the venue."""

    name: str  # "binance testnet private"
    ping_text: str | None  # sent every ``ping_every`` s when the venue wants client pings
    ping_every: float
    renew_every: float | None  # s between listen-key renewals, None: nothing to renew

    async def url(self) -> str:
        """Where to connect (may ask the venue's REST API for a listen key first)."""

    async def login(self, ws: ClientConnection) -> None:
        """Authenticate and subscribe; AuthRefused when the venue says no."""

    async def renew(self) -> None:
        """Keep the listen key alive (only when ``renew_every`` is set)."""

    def decode(self, text: str) -> list[Push]: ...



class KeyedSession:
    """What a session signed with an API key and secret holds: the URL, the key pair and
    the clock its signatures read (a venue's session adds its own login)."""

    def __init__(self, url: str, api_key: str, secret: str, *, name: str,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._url = url
        self._key = api_key
        self._secret = secret
        self._clock = clock
        self.name = name

    async def url(self) -> str:
        return self._url


@dataclass(slots=True)
class StreamSettings:
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    auth_retry: float = 30.0  # s between logins after the venue refused one
    open_timeout: float = 10.0
    login_timeout: float = 10.0


class PrivateStream:
    def __init__(self, session: Session, on_pushes: Callable[[list[Push]], None],
                 on_connected: Callable[[], Awaitable[None]],
                 on_problem: Callable[[str | None], None],
                 settings: StreamSettings | None = None, rng: random.Random | None = None) -> None:
        self.session = session
        self._on_pushes = on_pushes
        self._on_connected = on_connected
        self._on_problem = on_problem
        self.settings = settings or StreamSettings()
        self._rng = rng or random.Random()
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.connects = 0  # successful logins, for tests and the status line

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def drop(self) -> None:
        """Close the current socket (tests; a venue cut looks the same): it reconnects."""
        if self._ws is not None:
            await self._ws.close()

    async def _run(self) -> None:
        attempt = 0
        s = self.settings
        while True:
            delay = 0.0
            try:
                url = await self.session.url()
                async with connect(url, open_timeout=s.open_timeout, close_timeout=2,
                                   compression=None, max_size=4 * 1024 * 1024) as ws:
                    self._ws = ws
                    await asyncio.wait_for(self.session.login(ws), s.login_timeout)
                    self.connected = True
                    self.connects += 1
                    attempt = 0
                    self._on_problem(None)
                    await self._on_connected()
                    await self._pump(ws)
            except asyncio.CancelledError:
                raise
            except AuthRefused as exc:
                self._on_problem(f"{self.session.name} refused the login: {exc}")
                delay = s.auth_retry
            except (OSError, asyncio.TimeoutError, websockets.WebSocketException,
                    StreamUnavailable) as exc:
                text = str(exc) or type(exc).__name__
                log.warning("%s: %s", self.session.name, text)
                if not self.connected:
                    self._on_problem(f"{self.session.name} is down ({text[:120]}); "
                                     "polling the account meanwhile")
            except Exception as exc:  # a bug must cost a reconnect, never the stream itself
                log.exception("%s: unexpected error", self.session.name)
                self._on_problem(f"{self.session.name}: internal error ({str(exc)[:120]}); "
                                 "reconnecting")
            finally:
                self._ws = None
                self.connected = False
            if not delay:
                delay = min(s.backoff_cap, s.backoff_base * 2 ** attempt)
                delay *= self._rng.uniform(0.5, 1.0)
                attempt += 1
            await asyncio.sleep(delay)

    async def _pump(self, ws: ClientConnection) -> None:
        helpers = []
        session = self.session
        if session.ping_text is not None:
            helpers.append(asyncio.create_task(self._ping(ws, session.ping_text,
                                                          session.ping_every)))
        if session.renew_every is not None:
            helpers.append(asyncio.create_task(self._renew(session.renew_every)))
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                pushes = session.decode(text)
                if pushes:
                    self._on_pushes(pushes)
        finally:
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _ping(self, ws: ClientConnection, text: str, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await ws.send(text)

    async def _renew(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.session.renew()
            except Exception as exc:  # the key lapses: the venue closes us, and we reconnect
                log.warning("%s: listen key renewal failed: %s", self.session.name, exc)


__all__ = ["AuthRefused", "PrivateStream", "Session", "StreamSettings", "StreamUnavailable"]
