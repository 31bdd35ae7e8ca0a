"""Raw capture, format v1: every websocket frame and every REST response a feed used,
one JSON object per line, in arrival order (see DESIGN.md)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import orjson

FrameHandler = Callable[[str | bytes, float], None]


class CaptureWriter:
    """Appends capture lines to a file. Used from the engine thread only.

    Lines are buffered and flushed at least once a second, so a killed process loses
    at most the last second and never leaves a torn line in the middle of the file."""

    def __init__(self, path: str | Path, flush_every: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: io.BufferedWriter = open(self.path, "ab")  # noqa: SIM115 (closed in close())
        self._pending: list[bytes] = []
        self._flush_every = flush_every
        self._last_flush = time.monotonic()
        self.lines = 0
        self.frames = 0  # websocket lines: the market data itself
        self.bytes = 0

    def write(self, venue: str, market: str, kind: str, channel: str | None, data: str | bytes) -> None:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        line = orjson.dumps({"recv_ts": time.time_ns(), "venue": venue, "market": market,
                             "kind": kind, "channel": channel, "data": data}) + b"\n"
        self._pending.append(line)
        self.lines += 1
        if kind == "ws":
            self.frames += 1
        self.bytes += len(line)
        now = time.monotonic()
        if now - self._last_flush >= self._flush_every:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._file.flush()
        self._last_flush = time.monotonic() if now is None else now

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
            self._file.close()

    def wrap(self, venue: str, market: str, handler: FrameHandler) -> FrameHandler:
        """A frame handler that records each frame before handling it."""
        write = self.write

        def capturing(raw: str | bytes, now: float) -> None:
            write(venue, market, "ws", None, raw)
            handler(raw, now)

        return capturing

    def rest_recorder(self, venue: str, market: str) -> Callable[[str, str], None]:
        def record(path: str, text: str) -> None:
            self.write(venue, market, "rest", path, text)
        return record
