"""What the status bar and cross-venue view show about each connection or writer.

A plain value type at the bottom of the engine: the feeds fill it in from their counters
(``app.feeds.health``) and the recorder reports its own backlog in the same shape, so
neither has to import the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeedState = Literal["connecting", "connected", "stale", "reconnecting", "failed", "stopped"]


@dataclass(slots=True, frozen=True)
class HealthView:
    """An immutable copy of one connection's health, safe to hand to the UI thread."""

    name: str  # e.g. "binance spot"
    state: FeedState
    last_message_age: float | None  # seconds since the last frame; None before the first
    msgs_per_sec: float
    messages: int
    gaps: int
    resyncs: int
    reconnects: int
    unsynced: tuple[str, ...]  # instrument ids whose book is resyncing
    error: str | None  # last connection error in plain words
    # set only by a writer (the recorder): events waiting for the disk; rows/s in msgs_per_sec
    backlog: int | None = None
    bytes_received: int = 0  # frame payload received (the metrics endpoint serves it)
