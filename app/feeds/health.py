"""Feed health: the engine thread's counters per connection, and the frozen ``HealthView``
(defined in ``app.market.health``, so storage can report its own health without importing
the feeds) that the status bar and cross-venue view show."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.market.health import FeedState, HealthView

# HealthView stays importable from here: the feeds' callers read both types together
__all__ = ["FeedHealth", "FeedState", "HealthView"]


@dataclass(slots=True, eq=False)  # identity matters: two feeds may look alike
class FeedHealth:
    """Mutable counters owned by the engine thread."""

    name: str
    # monotonic seconds; tests freeze it so ages and rates on screen are reproducible
    clock: Callable[[], float] = time.monotonic
    state: FeedState = "connecting"
    last_message: float | None = None  # clock()
    messages: int = 0
    bytes: int = 0  # frame payload bytes (text frames: characters), for the metrics
    gaps: int = 0
    resyncs: int = 0
    reconnects: int = 0
    error: str | None = None
    unsynced: set[str] = field(default_factory=set)
    _rate: float = 0.0
    _window_start: float = 0.0
    _window_count: int = 0

    def __post_init__(self) -> None:
        self._window_start = self.clock()

    def on_message(self, now: float) -> None:
        self.last_message = now
        self.messages += 1
        self._window_count += 1
        if now - self._window_start >= 1.0:
            self._roll(now)

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed > 0:
            self._rate = self._window_count / elapsed
        self._window_start = now
        self._window_count = 0

    def view(self, now: float | None = None) -> HealthView:
        now = self.clock() if now is None else now
        if now - self._window_start >= 2.0:  # a silent feed must not keep showing its old rate
            self._roll(now)
        age = None if self.last_message is None else max(0.0, now - self.last_message)
        return HealthView(self.name, self.state, age, self._rate, self.messages, self.gaps,
                          self.resyncs, self.reconnects, tuple(sorted(self.unsynced)), self.error,
                          bytes_received=self.bytes)
