"""What every simulated venue shares: listening on 127.0.0.1 (websocket + REST on
ephemeral ports), its clock task, shutdown, and the rate/pause knobs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from websockets.asyncio.server import Server, serve

Route = tuple[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]
FROZEN_NOW_MS = 1_767_270_896_000  # 2026-01-01 12:34:56 UTC: "now" in screenshot tests


class LocalVenue:
    """Base of the simulators. Subclasses set up ``_paused``/``_rate`` and implement
    ``_handle_ws``, ``_run_clock`` and their REST handlers; ``start`` calls ``_listen``."""

    _server: Server | None = None
    _runner: web.AppRunner | None = None
    _clock: asyncio.Task | None = None
    _paused: bool = False
    _rate: float = 0.0
    ws_url: str = ""
    rest_url: str = ""

    @classmethod
    def frozen(cls, symbols: list | None = None, *, seed: int = 1, now_ms: int = FROZEN_NOW_MS,
               warmup_steps: int = 300, warmup_step_ms: int = 100, **kwargs: Any):
        """A paused sim whose model clock reads exactly ``now_ms`` after a deterministic
        warm-up: same seed and same calls give byte-identical frames and responses.
        ``pump()`` pushes frames out while it stays paused."""
        start = now_ms - warmup_steps * warmup_step_ms
        return cls(symbols, seed=seed, start_time_ms=start, warmup_steps=warmup_steps,  # type: ignore[call-arg]
                   warmup_step_ms=warmup_step_ms, paused=True, **kwargs)

    async def _listen(self, routes: Iterable[Route], ws_path: str = "", clock_name: str = "sim-clock",
                      **ws_options: Any) -> None:
        options: dict[str, Any] = {"max_size": 2**20, "compression": None, "close_timeout": 2}
        options.update(ws_options)
        self._server = await serve(self._handle_ws, "127.0.0.1", 0, **options)  # type: ignore[attr-defined]
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
        self._clock = asyncio.create_task(self._run_clock(), name=clock_name)  # type: ignore[attr-defined]

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
        await self.start()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        """Abort every client websocket without a closing handshake."""
        for c in list(self._clients):  # type: ignore[attr-defined]
            c.ws.transport.abort()

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def set_rate(self, events_per_second: float) -> None:
        """Model events per second per symbol."""
        if events_per_second < 0:
            raise ValueError("rate must be >= 0")
        self._rate = float(events_per_second)

    @property
    def rate(self) -> float:
        return self._rate
