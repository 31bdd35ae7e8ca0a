"""What every simulated venue shares: listening on 127.0.0.1 (websocket + REST on
ephemeral ports), the clock task that turns wall time into model events, connection and
subscriber bookkeeping, JSON REST endpoints, shutdown, the rate/pause knobs, and the
thread that runs a simulator beside the app (``SimThread``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol, Self, TypeVar

import orjson
from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from app.sim.market import SimMarket, SimSymbol

Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
Handler = Callable[[web.Request], Awaitable[web.Response]]
# a REST endpoint's request weight: fixed, or computed from the request (Binance weighs
# by parameters: a ticker without a symbol costs 40x one with)
Weight = int | Callable[[web.Request], int]
FROZEN_NOW_MS = 1_767_270_896_000  # 2026-01-01 12:34:56 UTC: "now" in screenshot tests
K = TypeVar("K")
C = TypeVar("C")
T = TypeVar("T")


class Paced(Protocol):
    """Per-symbol publishing state that the clock owes model events to."""

    carry: float  # fractional events not yet run


class HttpRefusal(Exception):
    """A REST request the venue refuses, answered with HTTP ``status``; each venue's
    subclass carries its own error fields and ``LocalVenue._refusal`` turns them into
    the body. The simulator's own reply, never shown to a user: the client side meets it
    as ``app.feeds.rest.RestError``."""

    status: int = 400


@dataclass(slots=True)
class Cadence:
    """A push due every ``period_ms`` of model time, or at once when forced (``pump``)."""

    period_ms: int
    next_ms: int

    @classmethod
    def starting(cls, now_ms: int, period_ms: int) -> Cadence:
        return cls(period_ms, now_ms + period_ms)

    def due(self, now_ms: int, force: bool = False) -> bool:
        if force or now_ms >= self.next_ms:
            self.next_ms = now_ms + self.period_ms
            return True
        return False


@dataclass(slots=True)
class CandlePacer:
    """When a live candle goes out again: as soon as it changed (at the venue's push
    cadence), and every ``idle_ms`` even if it did not, as the venues do, so a client
    that subscribes in a quiet market still gets one."""

    idle_ms: int
    versions: dict[str, int] = field(default_factory=dict)
    pushed_ms: dict[str, int] = field(default_factory=dict)

    def due(self, key: str, version: int, now_ms: int, force: bool) -> bool:
        if (force or version != self.versions.get(key)
                or now_ms - self.pushed_ms.get(key, 0) >= self.idle_ms):
            self.versions[key] = version
            self.pushed_ms[key] = now_ms
            return True
        return False


class Subscribers(dict[K, set[C]]):
    """Stream key -> the clients subscribed to it. A key nobody listens to any more is
    removed, so ``get(key)`` is falsy exactly when a frame need not be encoded."""

    def add(self, key: K, client: C) -> None:
        self.setdefault(key, set()).add(client)

    def drop(self, key: K, client: C) -> None:
        clients = self.get(key)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self[key]


class LocalVenue:
    """Base of the simulators. ``__init__`` sets up the model and the knobs; subclasses
    implement the hooks ``_paced``, ``_advance``, ``_flush``, ``_on_message`` and
    ``_forget`` (plus ``_wall_tick``, ``_ws_route`` and ``_refusal`` where they need
    them), their ``_handle_ws`` and REST handlers; ``start`` calls ``_listen``."""

    _server: Server | None = None
    _runner: web.AppRunner | None = None
    _clock: asyncio.Task | None = None
    _paused: bool = False
    _rate: float = 0.0
    _malformed_frame: bytes = b""  # what ``send_malformed`` sends: a truncated frame
    ws_url: str = ""
    rest_url: str = ""

    def __init__(self, market: SimMarket, *, rate: float, paused: bool, warmup_steps: int,
                 warmup_step_ms: int, anchors: Any = None, venue: str = "") -> None:
        if anchors is not None:  # app.sim.underlying.Anchors: track the other venues
            market.anchor_to(anchors, venue)
        if warmup_steps:
            market.warm_up(warmup_steps, warmup_step_ms)
        self.market = market
        self.set_rate(rate)
        self._paused = paused
        self._clients: set[Any] = set()
        self.frames_sent = 0
        self.rest_requests = 0
        self.rest_weight = 0  # request weight of every REST request served, the venue's units
        self.rest_refused = 0  # answered by the ``fail_rest`` knob
        # fault knobs: a REST outage (status, until loop time, path prefix, Retry-After) and
        # connections whose book frames are withheld (value: sticky, see silence_books)
        self._rest_fault: tuple[int, float, str, float | None] | None = None
        self._muted: dict[Any, bool] = {}

    @classmethod
    def frozen(cls, symbols: list[Any] | None = None, *, seed: int = 1, now_ms: int = FROZEN_NOW_MS,
               warmup_steps: int = 300, warmup_step_ms: int = 100, **kwargs: Any):
        """A paused sim whose model clock reads exactly ``now_ms`` after a deterministic
        warm-up: same seed and same calls give byte-identical frames and responses.
        ``pump()`` pushes frames out while it stays paused."""
        start = now_ms - warmup_steps * warmup_step_ms
        return cls(symbols, seed=seed, start_time_ms=start, warmup_steps=warmup_steps,  # type: ignore[call-arg, arg-type]  # always called on a venue subclass, whose __init__ takes (symbols, **options)
                   warmup_step_ms=warmup_step_ms, paused=True, **kwargs)

    # -- hooks ---------------------------------------------------------------------------

    def _paced(self) -> Collection[Paced]:
        """Each symbol's publishing state, in the order ``_advance`` takes counts."""
        raise NotImplementedError

    def _advance(self, dt_ms: int, counts: list[int], force: bool) -> None:
        """Move model time by ``dt_ms``, run ``counts[i]`` events for the i-th symbol and
        push what is due (everything periodic when ``force``)."""
        raise NotImplementedError

    def _flush(self, unit: Any) -> None:
        """Send a symbol's changes still held back, so a synced client reaches the truth."""
        raise NotImplementedError

    def _wall_tick(self, now: float) -> None:
        """Wall-clock chores on every clock tick, paused or not (keepalives, timeouts)."""

    def _clock_started(self, now: float) -> None:
        """The clock task's first loop time, before its first tick."""

    def _on_message(self, client: Any, message: str | bytes) -> bytes | None:
        """Answer one client message; a returned frame is sent (awaited) to the client."""
        raise NotImplementedError

    def _forget(self, client: Any) -> None:
        """Drop a closed connection's subscriptions."""
        raise NotImplementedError

    def _ws_route(self, path: str) -> Any:
        """What a websocket path serves; None for a path the venue refuses with 404."""
        return path

    def _refusal(self, error: Any) -> Any:
        """The JSON body an ``HttpRefusal`` of this venue answers with."""
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------

    async def _listen(self, routes: Iterable[Route], ws_path: str = "", clock_name: str = "sim-clock",
                      **ws_options: Any) -> None:
        options: dict[str, Any] = {"max_size": 2**20, "compression": None, "close_timeout": 2}
        options.update(ws_options)
        self._server = await serve(self._handle_ws, "127.0.0.1", 0, **options)  # type: ignore[attr-defined]  # every venue subclass defines _handle_ws
        self.ws_url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}{ws_path}"
        app = web.Application()
        for path, handler in routes:
            app.router.add_get(path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.rest_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._clock = asyncio.create_task(self._run_clock(), name=clock_name)

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- clock ---------------------------------------------------------------------------

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        self._clock_started(last)
        carry_ms = 0.0
        while True:
            rate = self._rate
            await asyncio.sleep(0.02 if rate <= 0 else min(0.02, max(0.002, 1.0 / rate)))
            now = loop.time()
            # A stalled loop (debugger, suspended laptop) must not come back as a burst.
            elapsed = min(now - last, 0.5)
            last = now
            self._wall_tick(now)
            if self._paused:
                continue
            carry_ms += elapsed * 1000.0
            dt_ms = int(carry_ms)
            carry_ms -= dt_ms
            rate = self._rate
            counts = []
            burst_cap = max(1.0, rate * 0.25)
            for unit in self._paced():
                unit.carry = min(unit.carry + rate * elapsed, burst_cap)
                n = int(unit.carry)
                unit.carry -= n
                counts.append(n)
            self._advance(dt_ms, counts, False)

    # -- knobs ---------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop the model clock. Changes already made are flushed now, so a synced client
        can reach ``truth()``; the model stands still until ``resume`` (wall-clock
        chores such as keepalives and heartbeats go on)."""
        self._paused = True
        for unit in self._paced():
            self._flush(unit)

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def pump(self, steps: int = 1, dt_ms: int = 0) -> None:
        """Advance the model by hand (works while paused): move time by ``dt_ms``, run
        ``steps`` events per symbol, then push every due frame at once. Deterministic:
        no wall clock involved."""
        self._advance(dt_ms, [steps] * len(self._paced()), True)

    def set_rate(self, events_per_second: float) -> None:
        """Model events per second per symbol."""
        if events_per_second < 0:
            raise ValueError("rate must be >= 0")
        self._rate = float(events_per_second)

    @property
    def rate(self) -> float:
        return self._rate

    def drop_connections(self) -> None:
        """Abort every client websocket without a closing handshake."""
        for c in list(self._clients):
            c.ws.transport.abort()

    def fail_rest(self, status: int = 503, seconds: float = 150.0, path: str = "",
                  retry_after: float | None = None) -> None:
        """Answer every REST request whose path starts with ``path`` with HTTP ``status``
        for ``seconds`` (0 ends an outage at once), with a Retry-After header if given."""
        until = asyncio.get_running_loop().time() + seconds
        self._rest_fault = (status, until, path, retry_after) if seconds > 0 else None

    def silence_books(self, sticky: bool = False) -> None:
        """Stop sending book frames to every connection open now, while everything else
        (trades, tickers, heartbeats, pongs) goes on: a dead channel on a live socket. A
        fresh book subscription on that connection cures it, unless ``sticky``: then only a
        new connection does."""
        for client in self._clients:
            self._muted[client] = sticky

    def unsilence_books(self) -> None:
        self._muted.clear()

    @property
    def silenced(self) -> int:
        """Connections whose book frames are withheld."""
        return len(self._muted)

    def _audible(self, clients: Collection[C]) -> Collection[C]:
        """``clients`` less those whose book frames are withheld."""
        muted = self._muted
        if not muted:
            return clients
        return [c for c in clients if c not in muted]

    def _book_subscribed(self, client: Any) -> None:
        """A client (re)subscribed a book: a non-sticky silence ends for it."""
        if self._muted.get(client) is False:
            del self._muted[client]

    def send_malformed(self) -> None:
        """Send one truncated JSON text frame to every connection."""
        self._broadcast(self._clients, self._malformed_frame)

    @property
    def connections(self) -> int:
        return len(self._clients)

    # -- websocket -----------------------------------------------------------------------

    def _broadcast(self, clients: Collection[Any], payload: bytes) -> None:
        """One frame to every client in ``clients``. ``broadcast`` writes without
        awaiting, so nothing sent later can overtake it."""
        broadcast([c.ws for c in clients], payload, text=True)
        self.frames_sent += len(clients)

    def _check_path(self, conn: ServerConnection, request: Request) -> Response | None:
        if self._ws_route(request.path) is None:
            return conn.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _converse(self, client: Any) -> None:
        """Serve one connection until it closes, then forget its subscriptions."""
        self._clients.add(client)
        try:
            async for message in client.ws:
                reply = self._on_message(client, message)
                if reply is not None:
                    await client.ws.send(reply, text=True)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            self._muted.pop(client, None)
            self._forget(client)

    # -- REST ----------------------------------------------------------------------------

    def _endpoint(self, answer: Callable[[web.Request], Any], weight: Weight = 1) -> Handler:
        """An aiohttp handler around a synchronous one. Handlers never await, so each
        response is computed atomically between model events (snapshots stay exact).
        Every request counts its ``weight``, as the venue would, refused or not."""
        async def respond(request: web.Request) -> web.Response:
            self.rest_requests += 1
            self.rest_weight += weight if isinstance(weight, int) else weight(request)
            fault = self._rest_fault
            if fault is not None:
                status, until, prefix, retry_after = fault
                if asyncio.get_running_loop().time() >= until:
                    self._rest_fault = None
                elif request.path.startswith(prefix):
                    self.rest_refused += 1
                    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
                    return web.Response(body=orjson.dumps({"error": HTTPStatus(status).phrase}),
                                        status=status, headers=headers,
                                        content_type="application/json")
            try:
                body, status = orjson.dumps(answer(request)), 200
            except HttpRefusal as e:
                body, status = orjson.dumps(self._refusal(e)), e.status
            return web.Response(body=body, status=status, content_type="application/json")
        return respond


class SimThread:
    """Runs a simulator on its own thread with its own event loop (``--demo`` mode).

    Each venue's subclass names its simulator in ``sim_class`` and adds its own knobs.
    ``start()`` returns once the ports are known; every knob is marshalled onto the
    sim's loop, so it is safe to call from any other thread.
    """

    # set by each venue's subclass: a LocalVenue subclass taking (symbols, **options)
    sim_class: Callable[..., Any]

    def __init__(self, symbols: list[Any] | None = None, **kwargs: Any) -> None:
        self._symbols = symbols
        self._kwargs = kwargs
        self._sim: LocalVenue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        if not hasattr(type(self), "sim_class"):
            raise TypeError(f"{type(self).__name__} names no simulator (sim_class)")
        name = type(self).sim_class.__name__.removesuffix("Sim").lower() + "-sim"
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("the simulator failed to start") from self._error
        return self

    def _main(self) -> None:
        asyncio.run(self._amain())

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            sim = type(self).sim_class(self._symbols, **self._kwargs)
            await sim.start()
        except BaseException as e:  # reported to the starting thread by start()
            self._error = e
            self._ready.set()
            return
        self._sim = sim
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await sim.stop()

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> SimThread:
        return self if self._thread is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def sim(self) -> Any:
        """The sim itself: read-only use from other threads (urls, counters)."""
        if self._sim is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._sim

    @property
    def ws_url(self) -> str:
        return self.sim.ws_url

    @property
    def rest_url(self) -> str:
        return self.sim.rest_url

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the sim's loop and return its result."""
        loop = self._loop
        if loop is None or self._sim is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        if threading.current_thread() is self._thread:
            return fn(*args)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # handed to the calling thread
                fut.set_exception(e)

        loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def pause(self) -> None:
        self.call(self.sim.pause)

    def resume(self) -> None:
        self.call(self.sim.resume)

    def pump(self, steps: int = 1, dt_ms: int = 0) -> None:
        self.call(self.sim.pump, steps, dt_ms)

    def drop_connections(self) -> None:
        self.call(self.sim.drop_connections)

    def skip_sequence(self, symbol: str, market: str | None = None) -> None:
        self.call(self.sim.skip_sequence, symbol, market)

    def send_malformed(self) -> None:
        self.call(self.sim.send_malformed)

    def fail_rest(self, status: int = 503, seconds: float = 150.0, path: str = "",
                  retry_after: float | None = None) -> None:
        self.call(self.sim.fail_rest, status, seconds, path, retry_after)

    def silence_books(self, sticky: bool = False) -> None:
        self.call(self.sim.silence_books, sticky)

    def unsilence_books(self) -> None:
        self.call(self.sim.unsilence_books)

    @property
    def rest_requests(self) -> int:
        return self.sim.rest_requests

    @property
    def rest_weight(self) -> int:
        return self.sim.rest_weight

    def set_rate(self, events_per_second: float) -> None:
        self.call(self.sim.set_rate, events_per_second)

    def truth(self, symbol: str, market: str | None = None
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.call(self.sim.truth, symbol, market)

    def last_sent_update_id(self, symbol: str, market: str | None = None) -> int | None:
        return self.call(self.sim.last_sent_update_id, symbol, market)

    @property
    def frames_sent(self) -> int:
        return self.sim.frames_sent

    @property
    def connections(self) -> int:
        return self.sim.connections
