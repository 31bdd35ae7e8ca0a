"""Replay a raw capture (format v1) through the same codecs, book sync and hub as a live
session. A malformed or unknown line is counted and skipped, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from app.feeds.core import FeedCore
from app.feeds.hub import MarketHub
from app.market.events import BookTop, MarketEvent
from app.venues import registry

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    messages: int = 0  # websocket frames
    rest: int = 0
    events: int = 0
    gaps: int = 0
    resyncs: int = 0
    checksum_failures: int = 0
    malformed: int = 0  # unreadable lines and unusable frames
    unknown: int = 0  # readable, but nothing we can use (unknown venue, symbol or event)
    instruments: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class Replayer:
    """Feeds capture lines in order; ``hub`` ends holding what the live session had."""

    on_event: Callable[[MarketEvent], None] | None = None
    emit_books: bool = True  # also hand ``on_event`` a top-20 BookTop after every book change
    hub: MarketHub = field(default_factory=MarketHub)
    stats: ReplayStats = field(default_factory=ReplayStats)
    cores: dict[tuple[str, str], FeedCore] = field(default_factory=dict)
    handlers: dict[tuple[str, str], Callable] = field(default_factory=dict)

    def feed_lines(self, lines: Iterable[bytes | str]) -> None:
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: bytes | str) -> None:
        stats = self.stats
        stats.lines += 1
        if not line.strip():
            return
        try:
            rec = orjson.loads(line)
            venue, market, kind, data = rec["venue"], rec["market"], rec["kind"], rec["data"]
            channel = rec.get("channel")
            if not isinstance(data, str) or kind not in ("ws", "rest"):
                raise ValueError("bad kind or data")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            stats.malformed += 1
            return
        key = (venue, market)
        if key not in registry.KNOWN:
            stats.unknown += 1
            return
        if kind == "rest":
            stats.rest += 1
            self._rest(key, channel, data)
            return
        handler = self.handlers.get(key)
        if handler is None:
            stats.unknown += 1  # a frame before the instrument list: nothing to decode it with
            return
        handler(data, 0.0)

    def _rest(self, key: tuple[str, str], channel: str | None, data: str) -> None:
        venue, market = key
        if channel is None:
            self.stats.malformed += 1
            return
        core = self.cores.get(key)
        if channel == registry.metadata_path(venue, market):  # type: ignore[arg-type]
            if core is None:
                self._start(key, data)
            return
        if core is None:
            self.stats.unknown += 1
            return
        owner = core.snapshot_owner(channel)
        # Only a book that is waiting takes a snapshot. After a reconnect whose diffs
        # still chain, the live session rebuilt from one but the replay never broke.
        if owner is not None and owner in core.snapshot_pending:
            core.on_snapshot_text(owner, data)
        # other REST lines (kline history) carry nothing the books need

    def _start(self, key: tuple[str, str], metadata: str) -> None:
        venue, market = key
        try:
            instruments = registry.instruments_from_metadata(venue, market, metadata)  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.stats.malformed += 1
            return
        codec = registry.make_venue(venue, market, instruments)  # type: ignore[arg-type]
        on_book = self._emit_book if self.on_event is not None and self.emit_books else None
        core = FeedCore(codec, self.hub, instruments, on_book=on_book)
        self.cores[key] = core
        self.handlers[key] = core.frame_handler(codec.new_decoder())
        self.stats.instruments += len(instruments)

    def _emit_book(self, inst_id: str) -> None:
        st = self.hub.state(inst_id)
        if st is None or self.on_event is None:
            return
        bids, asks = st.book.top(20)
        self.on_event(BookTop(inst_id, st.book.ts, bids, asks))

    def finish(self) -> ReplayStats:
        stats = self.stats
        for core in self.cores.values():
            s = core.stats
            stats.messages += s.messages
            stats.events += s.events
            stats.gaps += s.gaps
            stats.resyncs += s.resyncs
            stats.checksum_failures += s.checksum_failures
            stats.malformed += s.malformed
            stats.unknown += s.unknown
        return stats

    def books(self) -> Iterator[BookTop]:
        """Final top-20 book of every instrument whose book was synced at the end."""
        for core in self.cores.values():
            for inst_id in core.instruments:
                st = self.hub.state(inst_id)
                if st is not None and st.synced:
                    bids, asks = st.book.top(20)
                    yield BookTop(inst_id, st.book.ts, bids, asks)


def replay_file(path: str | Path, on_event: Callable[[MarketEvent], None] | None = None,
                emit_books: bool = True, replayer: Replayer | None = None) -> Replayer:
    """Replay a whole capture file. Raises OSError if it cannot be read."""
    rep = replayer or Replayer(on_event=on_event, emit_books=emit_books)
    if on_event is not None:
        rep.hub.subscribe(on_event)
    with open(path, "rb") as fh:
        rep.feed_lines(fh)
    rep.finish()
    return rep
