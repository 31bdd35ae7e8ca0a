"""FeedCore: what a feed does with frames, without any I/O.

Decode, route book messages through the venue's sync rules, write events into the hub,
count everything, and say (through callbacks) which I/O a book needs next: a REST
snapshot or a resubscription. The live feed and ``cryptoterm replay`` share it, so a
replayed capture goes through exactly the code a live session ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from app.feeds.health import FeedHealth
from app.feeds.hub import InstrumentState, MarketHub
from app.market.instruments import Instrument
from app.venues.base import (APPLIED, CHECKSUM_FAILED, GAP, STALE_SNAPSHOT, SYNCED, Ack, BookSync,
                             Events, Resync, Unknown, Venue)

log = logging.getLogger(__name__)


class FeedStats:
    """Counts that ``replay --emit stats`` and the benchmarks report."""

    __slots__ = ("messages", "events", "gaps", "resyncs", "checksum_failures", "malformed", "unknown")

    def __init__(self) -> None:
        self.messages = self.events = self.gaps = self.resyncs = 0
        self.checksum_failures = self.malformed = self.unknown = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class FeedCore:
    def __init__(self, venue: Venue, hub: MarketHub, instruments: list[Instrument],
                 request_snapshot: Callable[[str], None] = lambda inst_id: None,
                 resubscribe: Callable[[list[str]], None] = lambda inst_ids: None,
                 on_book: Callable[[str], None] | None = None) -> None:
        self.venue = venue
        self.hub = hub
        self.stats = FeedStats()
        self.instruments = {i.id: i for i in instruments}
        self.syncs: dict[str, BookSync] = {}
        self.health_of: dict[str, FeedHealth] = {}  # instrument id -> health of its book's connection
        self._request_snapshot = request_snapshot
        self._resubscribe = resubscribe
        self._on_book = on_book  # replay --emit events wants every book change
        self._synced_once: set[str] = set()  # a later sync of these counts as a resync
        self.snapshot_pending: set[str] = set()
        with hub.lock:
            for inst in instruments:
                sync = venue.new_book_sync(inst)
                self.syncs[inst.id] = sync
                hub.add_instrument(inst).book = sync.book
        # the hot path looks books up by the venue's own symbol
        self._by_symbol: dict[str, tuple[str, BookSync, InstrumentState]] = {
            i.venue_symbol.upper(): (i.id, self.syncs[i.id], cast(InstrumentState, hub.state(i.id)))
            for i in instruments}  # each was added to the hub just above
        self.last_book_message: dict[str, float] = {}

    def add_instrument(self, inst: Instrument) -> None:
        """Start keeping a book for one more instrument (a user opened it at runtime)."""
        if inst.id in self.syncs:
            return
        with self.hub.lock:
            sync = self.venue.new_book_sync(inst)
            self.instruments[inst.id] = inst
            self.syncs[inst.id] = sync
            state = self.hub.add_instrument(inst)
            state.book = sync.book
            # the frame handlers hold this very dict, so they route the new symbol at once
            self._by_symbol[inst.venue_symbol.upper()] = (inst.id, sync, state)

    # -- frames --------------------------------------------------------------------

    def frame_handler(self, decode: Callable[..., Any]) -> Callable[[str | bytes, float], None]:
        """The per-frame function for one connection (``decode`` may carry its state)."""
        depth_type = self.venue.depth_type
        hub = self.hub
        stats = self.stats
        by_symbol = self._by_symbol
        last_book = self.last_book_message
        on_book = self._on_book

        def on_frame(raw: str | bytes, now: float) -> None:
            stats.messages += 1
            msg = decode(raw)
            if type(msg) is Events:  # one frame, several messages: each goes its own way
                for item in msg.items:
                    route(item, now)
                return
            route(msg, now)

        def route(msg: Any, now: float) -> None:
            if type(msg) is depth_type:
                entry = by_symbol.get(msg.symbol)
                if entry is None:
                    stats.unknown += 1
                    return
                inst_id, sync, state = entry
                last_book[inst_id] = now
                with hub.lock:
                    result = sync.on_diff(msg)
                    if result == APPLIED:
                        state.seq += 1
                        if on_book is not None:
                            on_book(inst_id)
                        return
                    self._after_book_result(inst_id, sync, result)
                return
            if msg is None:
                return
            if isinstance(msg, Unknown):
                if msg.malformed:
                    stats.malformed += 1
                    log.warning("%s %s: malformed frame skipped: %s", self.venue.name,
                                self.venue.market, msg.reason)
                else:
                    stats.unknown += 1
                return
            if isinstance(msg, Ack):
                if msg.error:
                    log.warning("%s rejected a request: %s", self.venue.name, msg.error)
                return
            if isinstance(msg, Resync):
                log.warning("%s %s: %s; rebuilding books", self.venue.name, self.venue.market, msg.reason)
                with hub.lock:
                    targets = (self.syncs if msg.symbols is None else
                               [by_symbol[s][0] for s in msg.symbols if s in by_symbol])
                    lost = list(targets)
                    for inst_id in lost:
                        self.book_lost(inst_id, resubscribe=False)
                    if self.venue.recovery == "resubscribe" and lost:
                        self._resubscribe(lost)  # one batch, not a message pair per book
                return
            stats.events += 1
            with hub.lock:
                hub.on_event(msg)

        return on_frame

    def _after_book_result(self, inst_id: str, sync: BookSync, result: int) -> None:
        """Called with the hub lock held for every non-APPLIED book result."""
        if result == SYNCED:
            self._mark_synced(inst_id)
            if self._on_book is not None:
                self._on_book(inst_id)
        elif result == GAP:  # the sync has already started over
            self.book_lost(inst_id, reset=False)
        elif result == CHECKSUM_FAILED:
            self.stats.checksum_failures += 1
            self.book_lost(inst_id, reset=False)
        if sync.needs_snapshot and not sync.synced and inst_id not in self.snapshot_pending \
                and self.venue.recovery == "snapshot" and sync.first_buffered is not None:
            self.snapshot_pending.add(inst_id)
            self._request_snapshot(inst_id)

    # -- book state ------------------------------------------------------------------

    def book_lost(self, inst_id: str, reset: bool = True, resubscribe: bool = True) -> None:
        """The book cannot be trusted: hide it, count the gap, and start rebuilding it.
        Call with the hub lock held."""
        if reset:
            self.syncs[inst_id].reset()
        self.stats.gaps += 1
        health = self.health_of.get(inst_id)
        if health is not None:
            health.gaps += 1
        log.warning("%s: book out of sequence; resyncing", inst_id)
        self.mark_unsynced(inst_id)
        self.snapshot_pending.discard(inst_id)
        if self.venue.recovery == "resubscribe" and resubscribe:
            self._resubscribe([inst_id])

    def mark_unsynced(self, inst_id: str) -> None:
        self.hub.touch(inst_id, synced=False)
        health = self.health_of.get(inst_id)
        if health is not None:
            health.unsynced.add(inst_id)

    def _mark_synced(self, inst_id: str) -> None:
        self.hub.touch(inst_id, synced=True)
        health = self.health_of.get(inst_id)
        if health is not None:
            health.unsynced.discard(inst_id)
        if inst_id in self._synced_once:
            self.stats.resyncs += 1
            if health is not None:
                health.resyncs += 1
        self._synced_once.add(inst_id)

    def book_stale(self, inst_id: str) -> None:
        """Its channel went silent: the levels are old, hide them and start over (the
        caller resubscribes). Not a gap: nothing says a message was lost. Lock held."""
        self.syncs[inst_id].reset()
        self.snapshot_pending.discard(inst_id)
        self.mark_unsynced(inst_id)

    def reset_books(self, inst_ids: list[str]) -> None:
        """A (re)connect: these books start from scratch. Not a gap."""
        with self.hub.lock:
            for inst_id in inst_ids:
                self.syncs[inst_id].reset()
                self.snapshot_pending.discard(inst_id)
                self.mark_unsynced(inst_id)

    def on_snapshot_text(self, inst_id: str, text: str | bytes) -> int:
        """A REST snapshot arrived for ``inst_id``. Returns the sync result; on
        STALE_SNAPSHOT the caller should fetch another."""
        sync = self.syncs[inst_id]
        try:
            snap = self.venue.parse_snapshot(text)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: unusable snapshot (%s)", inst_id, exc)
            self.stats.malformed += 1
            return STALE_SNAPSHOT
        with self.hub.lock:
            self.snapshot_pending.discard(inst_id)
            try:
                result = sync.on_snapshot(snap)
            except ValueError as exc:
                log.warning("%s: corrupt snapshot (%s)", inst_id, exc)
                self.stats.malformed += 1
                sync.reset()
                return STALE_SNAPSHOT
            if result == SYNCED:
                self._mark_synced(inst_id)
                if self._on_book is not None:
                    self._on_book(inst_id)
            elif result == GAP:
                self.book_lost(inst_id)
            elif result == STALE_SNAPSHOT:
                self.snapshot_pending.add(inst_id)
        return result

    def snapshot_owner(self, path: str) -> str | None:
        """Which instrument a REST snapshot path (with query) belongs to."""
        for inst_id, inst in self.instruments.items():
            if self.venue.snapshot_path(inst) == path:
                return inst_id
        return None
