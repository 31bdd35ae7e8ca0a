"""Replay a raw capture (format v1) through the same codecs, book sync and hub as a live
session. A malformed or unknown line is counted and skipped, never fatal.

Captures from other tools and versions are taken as they come: a REST snapshot is matched
to its book by endpoint and symbol (not by the exact query, whose ``limit`` varies), a
line longer than the cap is skipped without being read into memory, and a market whose
instrument list is missing gets instruments derived from its frames where the venue's
symbols allow it (``derived_instruments``). What could not be used is said in
``Replayer.notes``, one line each."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final
from urllib.parse import parse_qsl, urlsplit

import orjson

from app.errors import CryptotermError
from app.feeds import derived_instruments as derived
from app.feeds.core import FeedCore
from app.feeds.hub import MarketHub
from app.market.events import BookTop, MarketEvent
from app.market.instruments import Instrument
from app.venues import registry

# The live path caps a frame at 16 MiB; inside a capture line it is JSON-escaped (every
# quote doubles) and wrapped, so a line may be a few times that. Longer is not a frame.
MAX_LINE_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024  # how much of an over-long line is read at a time while skipping it
# Query parameters that size a REST answer without changing what it is about.
_SIZE_PARAMS = frozenset({"limit", "sz", "depth", "size"})

Record = tuple[str, str, str, str | None, str]  # venue, market, kind, channel, data


class CaptureReadError(CryptotermError):
    """The capture file itself cannot be read (not: stdout is closed)."""

    default_title = "Replay"

    def __init__(self, path: str | Path, exc: OSError) -> None:
        super().__init__(f"{path}: cannot read: {exc.strerror or exc}")


class _TooLong(enum.Enum):
    """Yielded by ``read_lines`` in place of a line over the cap (a one-member enum, so
    ``line is TOO_LONG`` narrows the line's type)."""

    TOO_LONG = "line over the cap"


TOO_LONG: Final = _TooLong.TOO_LONG


def read_lines(fh: BinaryIO, max_len: int = MAX_LINE_BYTES, path: str | Path = "capture"
               ) -> Iterator[bytes | _TooLong]:
    """The lines of ``fh``, never holding more than ``max_len`` bytes of one in memory:
    a longer line is read past in chunks and yields TOO_LONG. Raises CaptureReadError."""
    readline = fh.readline
    try:
        while True:
            line = readline(max_len + 1)  # the newline may be the byte after the cap
            if not line:
                return
            if len(line) <= max_len or line.endswith(b"\n"):
                yield line
                continue
            while line and not line.endswith(b"\n"):
                line = readline(_CHUNK)
            yield TOO_LONG
    except OSError as exc:
        raise CaptureReadError(path, exc) from None


def parse_v1(line: bytes | str) -> Record | None:
    """A format v1 line's fields, or None when it is not one."""
    try:
        rec = orjson.loads(line)
        venue, market, kind, data = rec["venue"], rec["market"], rec["kind"], rec["data"]
        channel = rec.get("channel")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if type(data) is not str or kind not in ("ws", "rest") or type(venue) is not str \
            or type(market) is not str or (channel is not None and type(channel) is not str):
        return None
    return venue, market, kind, channel, data


# -- REST paths ------------------------------------------------------------------------

def _endpoint(path: str) -> tuple[str, dict[str, str]]:
    """``/api/v3/depth?symbol=X&limit=1000`` (or a full URL) -> ("/api/v3/depth", {symbol: X})."""
    parts = urlsplit(path)
    params = {k.lower(): v.upper() for k, v in parse_qsl(parts.query) if k.lower() not in _SIZE_PARAMS}
    return parts.path.rstrip("/"), params


def same_resource(ours: str, theirs: str) -> bool:
    """Whether REST path ``theirs`` asks for what ``ours`` does: the same endpoint, and
    every parameter of ours (sizes aside) with the same value. Extra filters of theirs
    (``status=Trading``) do not matter."""
    path, params = _endpoint(ours)
    other_path, other = _endpoint(theirs)
    return path == other_path and all(other.get(k) == v for k, v in params.items())


class SnapshotRouter:
    """Which book a REST snapshot line belongs to, by endpoint and symbol."""

    def __init__(self, core: FeedCore) -> None:
        self._by_key: dict[tuple[str, tuple[Any, ...]], str] = {}
        self._keys: dict[str, tuple[str, ...]] = {}  # endpoint -> the parameters that name a book
        for inst_id, inst in core.instruments.items():
            path, params = _endpoint(core.venue.snapshot_path(inst))
            names = tuple(sorted(params))
            self._keys.setdefault(path, names)
            self._by_key[(path, tuple(params[n] for n in names))] = inst_id

    def owner(self, channel: str) -> tuple[bool, str | None]:
        """(is a snapshot endpoint, the instrument id or None)."""
        path, params = _endpoint(channel)
        names = self._keys.get(path)
        if names is None:
            return False, None
        return True, self._by_key.get((path, tuple(params.get(n) for n in names)))


# -- the replayer -----------------------------------------------------------------------

@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    messages: int = 0  # websocket frames
    rest: int = 0
    snapshots: int = 0  # REST snapshots handed to their book
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
class _Missing:
    """A market whose frames came before (or without) its instrument list."""

    where: str  # position of its first frame
    skipped: int = 0
    listed_at: str | None = None  # where its instrument list finally came


@dataclass(slots=True)
class Replayer:
    """Feeds capture lines in order; ``hub`` ends holding what the live session had.

    ``lookahead(venue, market)`` re-reads the whole capture's records of one market
    (``replay_file`` provides it): a market without an instrument list before its first
    frame takes the capture's later list, or instruments derived from its frames.
    ``venue_options`` passes codec options per market (an import's Bybit book depth)."""

    on_event: Callable[[MarketEvent], None] | None = None
    emit_books: bool = True  # also hand ``on_event`` a top-20 BookTop after every book change
    hub: MarketHub = field(default_factory=MarketHub)
    stats: ReplayStats = field(default_factory=ReplayStats)
    cores: dict[tuple[str, str], FeedCore] = field(default_factory=dict)
    handlers: dict[tuple[str, str], Callable[..., Any]] = field(default_factory=dict)
    lookahead: Callable[[str, str], Iterable[Record]] | None = None
    venue_options: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    position: Callable[[], str] | None = None  # where the current line is, for notes
    # ends the note on a market without an instrument list: (venue, market) -> a hint
    missing_hint: Callable[[str, str], str] = lambda venue, market: "was this captured by cryptoterm?"
    notes: list[str] = field(default_factory=list)
    too_long: int = 0
    max_line: int = MAX_LINE_BYTES
    _first_too_long: str | None = None
    _routers: dict[tuple[str, str], SnapshotRouter] = field(default_factory=dict)
    _missing: dict[tuple[str, str], _Missing] = field(default_factory=dict)
    _derived: dict[tuple[str, str], tuple[list[Instrument], list[str]]] = field(default_factory=dict)
    _finished: bool = False

    def where(self) -> str:
        return self.position() if self.position is not None else f"line {self.stats.lines}"

    def feed_lines(self, lines: Iterable[bytes | str | _TooLong]) -> None:
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: bytes | str | _TooLong) -> None:
        stats = self.stats
        stats.lines += 1
        if line is TOO_LONG:
            self.skip_too_long()
            return
        if not line.strip():
            return
        rec = parse_v1(line)
        if rec is None:
            stats.malformed += 1
            return
        self.feed_record(*rec)

    def skip_too_long(self) -> None:
        self.stats.malformed += 1
        self.too_long += 1
        if self._first_too_long is None:
            self._first_too_long = self.where()

    def feed_record(self, venue: str, market: str, kind: str, channel: str | None, data: str) -> None:
        """One capture record (a parsed line); counts it and routes it."""
        key = (venue, market)
        if key not in registry.KNOWN:
            self.stats.unknown += 1
            return
        if kind == "rest":
            self.stats.rest += 1
            self._rest(key, channel, data)
            return
        handler = self.handlers.get(key)
        if handler is None:
            handler = self._without_list(key)
            if handler is None:
                self.stats.unknown += 1  # nothing to decode it with
                self._missing[key].skipped += 1
                return
        handler(data, 0.0)

    # -- instrument lists --------------------------------------------------------------

    def _is_metadata(self, key: tuple[str, str], channel: str) -> bool:
        return same_resource(registry.metadata_path(*key), channel)  # type: ignore[arg-type]  # a capture names its market as text (spot|perp, as the capture writer wrote it)

    def _rest(self, key: tuple[str, str], channel: str | None, data: str) -> None:
        if channel is None:
            self.stats.malformed += 1
            return
        core = self.cores.get(key)
        if self._is_metadata(key, channel):
            if core is None:
                self._start(key, data)
                missing = self._missing.get(key)
                if missing is not None and missing.listed_at is None:
                    missing.listed_at = self.where()
            return
        if core is None:
            self.stats.unknown += 1
            return
        router = self._routers.get(key)
        if router is None:
            router = self._routers[key] = SnapshotRouter(core)
        is_snapshot, owner = router.owner(channel)
        if owner is None:
            if is_snapshot:
                self.stats.unknown += 1  # a book of a symbol the instrument list lacks
            return  # other REST lines (kline history) carry nothing the books need
        sync = core.syncs[owner]
        # A book waiting for a snapshot takes one: either asked for (pending) or, in a
        # capture of another tool, one that came before the first diff. A synced book
        # does not: after a reconnect whose diffs still chain, the live session rebuilt
        # from one but the replay never broke.
        if owner in core.snapshot_pending or (
                not sync.synced and sync.needs_snapshot and core.venue.recovery == "snapshot"):
            self.stats.snapshots += 1
            core.on_snapshot_text(owner, data)

    def _without_list(self, key: tuple[str, str]) -> Callable[..., Any] | None:
        """The first frame of a market with no instrument list yet: take the capture's
        later list, else derive instruments from its frames, else skip its frames."""
        if key in self._missing:
            return self.handlers.get(key)
        self._missing[key] = missing = _Missing(self.where())
        if self.lookahead is None:
            return None
        venue, market = key
        symbols: dict[str, None] = {}
        can_derive = derived.underivable(venue, market) is None  # type: ignore[arg-type]  # market is text from the capture, see _is_metadata
        for _, _, kind, channel, data in self.lookahead(venue, market):
            if kind == "rest":
                if channel is not None and self._is_metadata(key, channel):
                    if self._start(key, data, count=False):  # the main pass counts it
                        missing.listed_at = "later in the capture"
                        return self.handlers[key]
            elif can_derive:
                for s in derived.frame_symbols(venue, data):
                    symbols[s] = None
        if not symbols:
            return None
        found: list[Instrument] = []
        odd: list[str] = []
        for s in symbols:
            inst = derived.instrument_for(venue, market, s)  # type: ignore[arg-type]  # market is text from the capture, see _is_metadata
            if inst is not None:
                found.append(inst)
            else:
                odd.append(s)
        if not found:
            return None
        self._derived[key] = (found, odd)
        self._start_with(key, found)
        return self.handlers[key]

    def _start(self, key: tuple[str, str], metadata: str, count: bool = True) -> bool:
        venue, market = key
        try:
            instruments = registry.instruments_from_metadata(venue, market, metadata)  # type: ignore[arg-type]  # market is text from the capture, see _is_metadata
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            if count:
                self.stats.malformed += 1
            return False
        self._start_with(key, instruments)
        return True

    def _start_with(self, key: tuple[str, str], instruments: list[Instrument]) -> None:
        venue, market = key
        codec = registry.make_venue(venue, market, instruments,  # type: ignore[arg-type]  # market is text from the capture, see _is_metadata
                                    **self.venue_options.get(key, {}))
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

    # -- the end -----------------------------------------------------------------------

    def finish(self) -> ReplayStats:
        stats = self.stats
        if self._finished:
            return stats
        self._finished = True
        for core in self.cores.values():
            s = core.stats
            stats.messages += s.messages
            stats.events += s.events
            stats.gaps += s.gaps
            stats.resyncs += s.resyncs
            stats.checksum_failures += s.checksum_failures
            stats.malformed += s.malformed
            stats.unknown += s.unknown
        self.notes.extend(self._missing_notes())
        if self.too_long:
            lines = "1 line" if self.too_long == 1 else f"{self.too_long:,} lines"
            self.notes.append(f"{lines} longer than {_size(self.max_line)} skipped as malformed "
                              f"(first: {self._first_too_long}); --max-line-mb reads longer ones")
        return stats

    def _missing_notes(self) -> Iterator[str]:
        for (venue, market), m in self._missing.items():
            head = f"no instrument list for {venue} {market} before {m.where}"
            if (venue, market) in self._derived:
                found, odd = self._derived[(venue, market)]
                names = ", ".join(i.venue_symbol for i in found[:6]) + (", ..." if len(found) > 6 else "")
                tail = (f"; {len(odd)} symbol(s) of no certain base/quote skipped ({', '.join(odd[:4])})"
                        if odd else "")
                yield (f"{head}: decoded with {len(found)} instrument(s) derived from its frames "
                       f"({names}), assuming {derived.ASSUMED}{tail}")
            elif m.listed_at == "later in the capture":
                yield f"{head}: decoded with the instrument list found later in the capture"
            elif m.skipped:
                why = derived.underivable(venue, market)  # type: ignore[arg-type]  # market is text from the capture, see _is_metadata
                listed = f" (its list came at {m.listed_at})" if m.listed_at else ""
                frames = "1 frame" if m.skipped == 1 else f"{m.skipped:,} frames"
                yield (f"{head}: {frames} skipped{listed}; "
                       + (f"{why}; " if why else "") + self.missing_hint(venue, market))

    def usable(self) -> bool:
        """Whether any line gave anything: an instrument list, an event, a book."""
        return bool(self.stats.instruments or self.stats.events)

    def books(self) -> Iterator[BookTop]:
        """Final top-20 book of every instrument whose book was synced at the end."""
        for core in self.cores.values():
            for inst_id in core.instruments:
                st = self.hub.state(inst_id)
                if st is not None and st.synced:
                    bids, asks = st.book.top(20)
                    yield BookTop(inst_id, st.book.ts, bids, asks)


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MiB" if n >= 64 * 1024 else f"{n:,} bytes"


def _v1_records(path: str | Path, max_line: int) -> Callable[[str, str], Iterator[Record]]:
    """A lookahead over a v1 file: every record of one market, from the top."""
    def records(venue: str, market: str) -> Iterator[Record]:
        with _open(path) as fh:
            for line in read_lines(fh, max_line, path):
                if line is TOO_LONG or not line.strip():
                    continue
                rec = parse_v1(line)
                if rec is not None and rec[0] == venue and rec[1] == market:
                    yield rec
    return records


def _open(path: str | Path) -> BinaryIO:
    try:
        return open(path, "rb")  # noqa: SIM115 (the caller closes it)
    except OSError as exc:
        raise CaptureReadError(path, exc) from None


def replay_file(path: str | Path, on_event: Callable[[MarketEvent], None] | None = None,
                emit_books: bool = True, replayer: Replayer | None = None,
                max_line: int = MAX_LINE_BYTES) -> Replayer:
    """Replay a whole capture file. Raises CaptureReadError if it cannot be read; errors
    of ``on_event`` (a closed stdout) pass through as they are."""
    rep = replayer or Replayer(on_event=on_event, emit_books=emit_books)
    rep.max_line = max_line
    if rep.lookahead is None and Path(path).is_file():  # a pipe cannot be read twice
        rep.lookahead = _v1_records(path, max_line)
    if on_event is not None:
        rep.hub.subscribe(on_event)
    with _open(path) as fh:
        rep.feed_lines(read_lines(fh, max_line, path))
    rep.finish()
    return rep
