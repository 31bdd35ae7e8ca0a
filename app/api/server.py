"""uvicorn on a thread of its own with its own event loop: requests and pushes never
wait on the engine's loop or the UI's, and a slow client waits on nobody but itself."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from app.api.auth import TokenGate, is_loopback, new_token
from app.api.routes import build_app
from app.api.stream import Pace, StreamBroker
from app.engine_api import LiveSource
from app.errors import CryptotermError

log = logging.getLogger(__name__)


# Bytes a stream client may have in flight on our side (kernel send buffer, then the
# transport's): small, so a reader slower than its pushes holds up the sender within a
# few dozen books, and its slots coalesce from then on, instead of megabytes of old books
# queueing in the kernel. On loopback or a LAN that still carries tens of MB/s.
SEND_BUFFER = 8 * 1024
UNSENT_LOW_WATER = 4 * 1024  # Linux: the kernel refuses more while this much is unsent
WRITE_HIGH_WATER = 4 * 1024


class _PacedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the send buffers above."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn types it as BaseTransport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                if hasattr(socket, "TCP_NOTSENT_LOWAT"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, UNSENT_LOW_WATER)
            except OSError:  # not a TCP socket (a test transport): its defaults stand
                pass
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        super().connection_made(transport)


class ApiStartError(CryptotermError):
    default_title = "Data API"


def _loop_factory() -> Any:
    try:
        import uvloop  # uvicorn's fast loop, when installed (uvicorn[standard])
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401  # the C parser: most of the per-request cost otherwise
    except ImportError:
        return "h11"
    return "httptools"


class ApiServer:
    """The data API over ``source``. ``port=0`` takes a free port (see ``port`` after
    ``start``). Beyond the loopback interface a token is required: ``token``, or one
    generated here (``token_generated``) for the caller to show the user once."""

    def __init__(self, source: LiveSource, host: str = "127.0.0.1", port: int = 8765,
                 token: str | None = None, pace: Pace | None = None) -> None:
        self.host = host
        self.port = port
        self.token_generated = token is None and not is_loopback(host)
        self.token = new_token() if self.token_generated else token
        self.broker = StreamBroker(source, pace)
        self.app = build_app(source, self.broker)
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._failed: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> str:
        """What the header shows: ``API 127.0.0.1:8765``."""
        return self.url.removeprefix("http://")

    def _bind(self) -> socket.socket:
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(self.host, self.port,
                                                              type=socket.SOCK_STREAM)[0]
        except socket.gaierror as exc:
            raise ApiStartError(f"API host {self.host!r}: cannot resolve it ({exc.strerror})") from None
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            why = "already in use (pick another with --port or [api] port)" \
                if exc.errno == 98 else (exc.strerror or str(exc))
            raise ApiStartError(f"API {self.host}:{self.port}: cannot listen: {why}") from None
        self.port = sock.getsockname()[1]
        return sock

    def start(self) -> None:
        sock = self._bind()
        asgi: Any = self.app if self.token is None else TokenGate(self.app, self.token)
        config = uvicorn.Config(
            asgi, log_config=None, log_level="warning", access_log=False, lifespan="off",
            # no permessage-deflate: on loopback or a LAN bytes are free and CPU is not (zlib
            # per message per client), and a compressed book is so small that thousands of
            # them would fit the few KB a slow reader may have in flight
            ws_per_message_deflate=False,
            http=_http_impl(), ws=_PacedWebSocket, ws_max_size=65_536, ws_ping_interval=20.0,
            ws_ping_timeout=20.0, timeout_graceful_shutdown=2, server_header=False)
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, args=(sock, ready),
                                        name="cryptoterm-api", daemon=True)
        self._thread.start()
        ready.wait(10)
        if self._failed is not None:
            raise ApiStartError(f"API {self.address}: could not start: {self._failed}")

    def _thread_main(self, sock: socket.socket, ready: threading.Event) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main(sock, ready))
        except BaseException as exc:  # said once by start(), or in the log after it
            self._failed = exc
            log.exception("data API stopped")
        finally:
            ready.set()

    async def _main(self, sock: socket.socket, ready: threading.Event) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        broker = asyncio.get_running_loop().create_task(self.broker.run())
        serving = asyncio.get_running_loop().create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not serving.done():
            await asyncio.sleep(0.01)
        ready.set()
        try:
            await serving
        finally:
            broker.cancel()
            await asyncio.gather(broker, return_exceptions=True)

    def stop(self, timeout: float = 5.0) -> None:
        loop, server = self._loop, self._server
        if loop is not None and server is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.broker.shutdown)
            except RuntimeError:  # closed in between
                pass
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
