"""One websocket connection that stays up: backoff with jitter, resubscribe on every
connect, a staleness watchdog, and proactive rotation before the venue's lifetime cut."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection, connect

from app.feeds.health import FeedHealth
from app.unreachable import unreachable_reason

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ConnectionSettings:
    backoff_base: float = 0.5  # seconds before the first retry
    backoff_cap: float = 30.0
    stale_after: float = 30.0  # no frame at all for this long: reconnect
    max_lifetime: float = 23.5 * 3600  # Binance cuts at 24 h; leave before it does
    open_timeout: float = 10.0
    max_size: int = 16 * 1024 * 1024  # Coinbase level2 snapshots run to several MB
    ping_interval: float | None = 20.0
    control_msgs_per_sec: float = 4.0  # Binance allows 5 inbound msgs/s, pongs included
    # A connection that lived this long and carried data "worked": its drop is retried
    # at once (jittered, sub-second); shorter-lived ones count as failed connects.
    healthy_after: float = 1.0
    # More drops than this in a minute (one every 5 s, sustained) is a venue in trouble:
    # from then on each drop backs off like a failed connect. Below it, a drop of a
    # working connection is retried at once (the venue's ConnectGate still paces it).
    flaps_per_minute: int = 12
    # Book recovery. REST snapshot retries back off from resync_base to resync_cap (kept
    # small so a venue that answers again gets its books back within seconds) and use at
    # most resync_budget_share of the REST weight budget.
    resync_base: float = 0.5
    resync_cap: float = 4.0
    resync_budget_share: float = 0.75
    # A book rebuilt by resubscribing that is still unsynced after this long: resubscribe
    # again (doubling, up to 8x).
    resubscribe_timeout: float = 5.0
    # Book channel watchdog: silent for book_silence_factor x its usual gap (never less
    # than book_silence_min, never more than the feed's stream_stale_after) is dead:
    # resubscribe it, and reconnect if it stays silent as long again.
    book_silence_min: float = 3.0
    book_silence_factor: float = 8.0
    watchdog_tick: float = 0.25


class ConnectGate:
    """Paces connection attempts to one venue, across all of its connections (a token
    bucket: a start-up burst, then the venue's per-IP rate — OKX 3 connects/s, Coinbase
    8/s, Binance 300 per 5 min), so a reconnect storm after a network blip never earns a
    ban."""

    def __init__(self, per_sec: float, burst: int = 5) -> None:
        self._rate = per_sec
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self._rate)
                self._stamp = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1.0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)], never below base/2 so a
    flapping venue is not hammered."""
    ceiling = min(cap, base * (2 ** min(attempt, 60)))
    return max(base / 2, rng.uniform(0, ceiling))


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Equal jitter: in [c/2, c] for c = min(cap, base * 2**attempt). The floor keeps a
    failing endpoint from being asked in bursts; the cap bounds how long a recovered
    one waits for the next try."""
    ceiling = min(cap, base * (2 ** min(attempt, 60)))
    return rng.uniform(ceiling / 2, ceiling)


class WsConnection:
    """Keeps one websocket open. ``on_open`` runs after every (re)connect and must
    resubscribe and reset state; ``on_frame`` gets every frame with its arrival time."""

    def __init__(self, name: str, url: str, health: FeedHealth,
                 on_open: Callable[["WsConnection"], Awaitable[None]],
                 on_frame: Callable[[str | bytes, float], None],
                 on_close: Callable[["WsConnection"], None] | None = None,
                 settings: ConnectionSettings | None = None,
                 rng: random.Random | None = None, gate: ConnectGate | None = None) -> None:
        self.name = name
        self.url = url
        self.health = health
        self.settings = settings or ConnectionSettings()
        self._on_open = on_open
        self._on_frame = on_frame
        self._on_close = on_close
        self._rng = rng or random.Random()
        self._gate = gate
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._send_times: list[float] = []
        self._drops: deque[float] = deque()  # when recent connections dropped
        self.connected_at: float | None = None

    @property
    def is_open(self) -> bool:
        return self._ws is not None

    async def send(self, text: str) -> None:
        """Send a control message, paced to the venue's inbound message limit."""
        ws = self._ws
        if ws is None:
            return
        limit = self.settings.control_msgs_per_sec
        now = time.monotonic()
        self._send_times = [t for t in self._send_times if now - t < 1.0]
        if len(self._send_times) >= limit:
            await asyncio.sleep(1.0 - (now - self._send_times[0]))
        self._send_times.append(time.monotonic())
        await ws.send(text)

    async def close(self) -> None:
        """Close the current socket; ``run`` reconnects unless ``stop`` was called."""
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def stop(self) -> None:
        self._stopping = True
        await self.close()

    async def run(self) -> None:
        attempt = 0
        health = self.health
        while not self._stopping:
            health.state = "connecting" if health.reconnects == 0 and attempt == 0 else "reconnecting"
            if self._gate is not None:
                await self._gate.wait()
            try:
                ws = await connect(self.url, open_timeout=self.settings.open_timeout,
                                   max_size=self.settings.max_size,
                                   ping_interval=self.settings.ping_interval,
                                   close_timeout=2, compression=None)
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake,
                    websockets.InvalidURI) as exc:
                reason = unreachable_reason(exc) if isinstance(exc, (OSError, asyncio.TimeoutError)) \
                    else _plain(exc)
                health.error = f"cannot connect to {self.url} ({reason})"
                health.state = "reconnecting"
                log.warning("%s: %s", self.name, health.error)
                await asyncio.sleep(backoff_delay(attempt, self.settings.backoff_base,
                                                  self.settings.backoff_cap, self._rng))
                attempt += 1
                continue
            self._ws = ws
            self.connected_at = self.health.clock()
            messages_before = health.messages
            health.state = "connected"
            health.error = None
            log.info("%s: connected to %s", self.name, self.url)
            try:
                await self._on_open(self)
                await self._pump(ws)
            except websockets.ConnectionClosed as exc:
                if not self._stopping:
                    health.error = f"connection closed: {_plain(exc)}"
                    log.warning("%s: %s", self.name, health.error)
            except OSError as exc:
                health.error = f"connection lost: {_plain(exc)}"
                log.warning("%s: %s", self.name, health.error)
            except Exception as exc:  # a bug must cost a reconnect, never the feed itself
                health.error = f"internal error: {_plain(exc)}; reconnecting"
                log.exception("%s: unexpected error", self.name)
            finally:
                self._ws = None
                await ws.close()
                if self._on_close is not None:
                    self._on_close(self)
            if self._stopping:
                break
            # Only consecutive failures grow the backoff. A connection that worked (lived
            # a while and carried data) is retried at once, jittered so a venue's clients
            # do not all come back in the same millisecond; one that died at once (a
            # venue accepting and dropping) counts as a failed connect and backs off.
            lived = self.health.clock() - (self.connected_at or 0.0)
            worked = lived >= self.settings.healthy_after and self.health.messages > messages_before
            now = self.health.clock()
            drops = self._drops
            drops.append(now)
            while drops and now - drops[0] > 60.0:
                drops.popleft()
            if len(drops) > self.settings.flaps_per_minute:
                worked = False  # it keeps dropping us: a venue in trouble, back off
            attempt = 0 if worked else attempt + 1
            health.reconnects += 1
            health.state = "reconnecting"
            await asyncio.sleep(self._rng.uniform(0.02, min(0.25, self.settings.backoff_base))
                                if worked else
                                backoff_delay(attempt, self.settings.backoff_base,
                                              self.settings.backoff_cap, self._rng))
        health.state = "stopped"

    async def _pump(self, ws: ClientConnection) -> None:
        settings = self.settings
        on_frame = self._on_frame
        health = self.health
        clock = health.clock
        opened = clock()
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws, opened))
        try:
            async for frame in ws:
                now = clock()
                health.on_message(now)
                health.bytes += len(frame)
                on_frame(frame, now)
        finally:
            watchdog.cancel()
        if not self._stopping and clock() - opened < settings.max_lifetime and health.state != "stale":
            # the venue ended the stream: a reconnect, and worth saying so
            health.error = "the venue closed the connection"
            log.warning("%s: %s", self.name, health.error)

    async def _watchdog(self, ws: ClientConnection, opened: float) -> None:
        settings = self.settings
        health = self.health
        while True:
            await asyncio.sleep(min(1.0, settings.stale_after / 4))
            now = health.clock()
            if now - opened >= settings.max_lifetime:
                log.info("%s: rotating connection before the venue's lifetime limit", self.name)
                health.error = None
                await ws.close()
                return
            last = health.last_message or opened
            if now - last >= settings.stale_after:
                health.state = "stale"
                health.error = f"no data for {now - last:.0f}s; reconnecting"
                log.warning("%s: %s", self.name, health.error)
                await ws.close()
                return


def _plain(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
