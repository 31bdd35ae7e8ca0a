"""Import of cryptofeed's raw data recording (``AsyncFileCallback``, as in its
``sample_data``) into a replay.

The format, as cryptofeed writes it: one file per connection, named after the
connection (``BINANCE.ws.1.0``: exchange, kind, connection number, then a rotation
count), plus a header file per exchange (``BINANCE.0``) holding the instrument-list
responses and a ``configuration: {json}`` line. Lines are

    <ts>: <frame>                       a websocket frame received (ts: epoch seconds)
    <url> -> <ts>: <body>               a REST response (``header: {json}`` may follow)
    <url> <- <ts>: <text>               something sent (subscriptions)
    <url> <-> <ts>                      a websocket connect
    configuration: <json>               the feed's subscriptions (header file)

Frames recorded as bytes appear as a Python bytes literal (``b'...'``).

The venue and market of a frame come from its connection's URL (the connect line at the
top of its first file), else from the exchange in the file name. Only the API versions
cryptoterm decodes are replayed (Binance spot and USD-M, OKX v5, Bybit v5, Coinbase
Advanced Trade); other versions, venues and markets are counted and named, never guessed.
"""

from __future__ import annotations

import ast
import heapq
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.errors import CryptotermError
from app.feeds.replay import (MAX_LINE_BYTES, TOO_LONG, CaptureReadError, Record, Replayer,
                              read_lines)
from app.market.events import MarketEvent
from app.market.instruments import MarketType
from app.venues import registry
from app.venues.bybit import BOOK_DEPTHS as BYBIT_BOOK_DEPTHS

# ``EXCHANGE.0`` (header) or ``EXCHANGE.ws|http.N.ROTATION``; exchange ids may hold dots
_NAME = re.compile(r"^(?P<ex>.+?)\.(?:(?P<kind>ws|http)\.(?P<conn>\d+)\.)?(?P<count>\d+)$")
_BYBIT_BOOK = re.compile(r"orderbook\.(\d+)\.")
_HEAD_LINES = 2000  # how far into a connection's first file its URL and book depth are sought

# cryptofeed exchange ids cryptoterm speaks: (venue, market); market None = per frame (OKX)
# or per connection URL (Bybit)
EXCHANGES: dict[str, tuple[str, str | None]] = {
    "BINANCE": ("binance", "spot"), "BINANCE_FUTURES": ("binance", "perp"),
    "OKX": ("okx", None), "BYBIT": ("bybit", None), "COINBASE": ("coinbase", "spot")}
NOT_SPOKEN = {"BINANCE_DELIVERY": "Binance COIN-M futures are not supported",
              "BINANCE_US": "Binance.US is another venue", "BINANCE_TR": "Binance TR is another venue"}

OTHER_API = "other_api"
MALFORMED = object()  # what a line that is none of the forms above carries
UNSUPPORTED = "unsupported"
_OKX_INST_TYPES: dict[str, MarketType] = {"SPOT": "spot", "SWAP": "perp"}
_BYBIT_CATEGORIES: dict[str, MarketType] = {"spot": "spot", "linear": "perp"}


class CryptofeedError(CryptotermError):
    """Nothing to import at that path; the message is for the user."""

    default_title = "Cryptofeed import"


@dataclass(slots=True)
class ImportStats:
    files: int = 0
    frames: int = 0  # websocket frames handed to the replay
    rest: int = 0  # REST responses handed to the replay
    control: int = 0  # connects, sends, configuration lines, frames naming no instrument
    other_api: int = 0  # frames and responses of API versions cryptoterm does not decode
    unsupported: int = 0  # of venues or markets cryptoterm does not speak
    malformed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True, frozen=True)
class Skip:
    """Why a connection's (or a response's) data is not replayed."""

    category: str  # OTHER_API or UNSUPPORTED
    reason: str


Route = tuple[str, str | None]  # (venue, market); market None: OKX, per frame


# -- URLs -------------------------------------------------------------------------------

def ws_route(url: str) -> Route | Skip:
    """Which venue market a websocket URL serves, or why it is not replayed."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host.endswith(".binance.us"):
        return Skip(UNSUPPORTED, "Binance.US is another venue")
    if host.endswith(("binance.com", "binance.vision", "binancefuture.com")):
        if host.startswith("dstream"):
            return Skip(UNSUPPORTED, "Binance COIN-M futures are not supported")
        if host.startswith("fstream") or host.endswith("binancefuture.com"):
            return ("binance", "perp")
        return ("binance", "spot")
    if host.endswith(("okx.com", "okex.com")):
        if "/ws/v5/" not in path:
            return Skip(OTHER_API, f"OKX's pre-v5 API ({path or '/'}); cryptoterm decodes v5")
        if path.endswith("/private"):
            return Skip(UNSUPPORTED, "a private (account) connection")
        return ("okx", None)
    if host.endswith("bybit.com"):
        if path.startswith("/v5/public/spot"):
            return ("bybit", "spot")
        if path.startswith("/v5/public/linear"):
            return ("bybit", "perp")
        if path.startswith("/v5/"):
            return Skip(UNSUPPORTED, f"Bybit {path.rsplit('/', 1)[-1]} is not supported")
        return Skip(OTHER_API, f"Bybit's pre-v5 API ({path or '/'}); cryptoterm decodes v5")
    if host.endswith("coinbase.com"):
        if host.startswith("advanced-trade-ws"):
            return ("coinbase", "spot")
        return Skip(OTHER_API, f"the {host} feed (Coinbase Exchange/Pro); cryptoterm decodes "
                               "Coinbase Advanced Trade")
    return Skip(UNSUPPORTED, f"{host or url}: not a venue cryptoterm speaks")


def rest_route(url: str) -> tuple[str, str, str] | Skip | None:
    """(venue, market, channel) of a REST response, a Skip, or None when it is of no use
    to a replay (open interest polls, other markets' lists). An instrument list gets the
    path cryptoterm itself asks for, so the replay knows it for one."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path.rstrip("/")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    channel = path + (f"?{parts.query}" if parts.query else "")
    if host.endswith(".binance.us"):
        return Skip(UNSUPPORTED, "Binance.US is another venue")
    if host.endswith(("binance.com", "binance.vision", "binancefuture.com")):
        market: MarketType | None = ("perp" if path.startswith("/fapi/")
                                     else "spot" if path.startswith("/api/v3/") else None)
        if market is None:
            return Skip(UNSUPPORTED, f"Binance {path}: not a market cryptoterm speaks")
        if path.endswith("/exchangeInfo"):
            return ("binance", market, registry.metadata_path("binance", market))
        return ("binance", market, channel)
    if host.endswith(("okx.com", "okex.com")):
        if not path.startswith("/api/v5/"):
            return Skip(OTHER_API, f"OKX's pre-v5 API ({path}); cryptoterm decodes v5")
        if path == "/api/v5/public/instruments":
            market = _OKX_INST_TYPES.get(query.get("instType", ""))
            return None if market is None else ("okx", market, registry.metadata_path("okx", market))
        inst_id = query.get("instId", "")
        return None if not inst_id else ("okx", okx_market(inst_id) or "spot", channel)
    if host.endswith("bybit.com"):
        if not path.startswith("/v5/"):
            return Skip(OTHER_API, f"Bybit's pre-v5 API ({path}); cryptoterm decodes v5")
        market = _BYBIT_CATEGORIES.get(query.get("category", ""))
        if market is None:
            return None
        if path == "/v5/market/instruments-info":
            return ("bybit", market, registry.metadata_path("bybit", market))
        return ("bybit", market, channel)
    if host.endswith("coinbase.com"):
        if host != "api.coinbase.com":
            return Skip(OTHER_API, f"{host} (Coinbase Exchange/Pro); cryptoterm decodes "
                                   "Coinbase Advanced Trade")
        if path in ("/api/v3/brokerage/products", "/api/v3/brokerage/market/products"):
            return ("coinbase", "spot", registry.metadata_path("coinbase", "spot"))
        return ("coinbase", "spot", channel)
    return Skip(UNSUPPORTED, f"{host or url}: not a venue cryptoterm speaks")


def okx_market(inst_id: str) -> str | None:
    """``BTC-USDT`` spot, ``BTC-USDT-SWAP`` perp; dated futures, options and swaps not
    settled in USDT (inverse ``BTC-USD-SWAP``): None."""
    if inst_id.endswith("-USDT-SWAP"):
        return "perp"
    return "spot" if inst_id.count("-") == 1 else None


def _okx_inst_id(frame: str) -> str | None:
    i = frame.find('"instId":"')
    if i < 0:
        return None
    j = frame.find('"', i + 10)
    return frame[i + 10:j] if j > 0 else None


def _frame_text(message: str) -> str | None:
    """A frame as text: bytes literals (``b'...'``) are evaluated, inflated if deflated."""
    if not message.startswith(("b'", 'b"')):
        return message
    try:
        raw = ast.literal_eval(message)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if type(raw) is not bytes:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        pass
    try:
        return zlib.decompress(raw, -15).decode()  # OKX's compressed frames: raw deflate
    except (zlib.error, UnicodeDecodeError):
        return None


# -- files ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Stream:
    """One connection's files (rotations in order), or an exchange's header file."""

    uuid: str  # "BINANCE.ws.1", "BINANCE.http.0", "BINANCE"
    exchange: str | None
    kind: str  # "ws", "http", "header"
    paths: list[Path] = field(default_factory=list)
    url: str | None = None  # the websocket URL, from its connect (or send) lines
    route: Route | Skip | None = None
    book_depth: int | None = None  # Bybit: orderbook.N of its subscriptions


@dataclass(slots=True)
class _Cursor:
    """Where one pass over a stream is: its connection, and the last timestamp (lines
    without one keep their place after it)."""

    route: Route | Skip | None
    stats: ImportStats
    url: str | None = None
    ts: float = 0.0


def _parse_name(path: Path) -> tuple[str, str, str, int] | None:
    """(exchange, kind, uuid, rotation) of a cryptofeed file name."""
    m = _NAME.match(path.name)
    if m is None:
        return None
    ex, kind, conn = m["ex"], m["kind"] or "header", m["conn"]
    uuid = ex if kind == "header" else f"{ex}.{kind}.{conn}"
    return ex, kind, uuid, int(m["count"])


class CryptofeedImport:
    """A set of cryptofeed raw data files, read as one capture, merged by timestamp."""

    def __init__(self, streams: list[_Stream], skipped_exchanges: dict[str, int],
                 max_line: int = MAX_LINE_BYTES) -> None:
        self.streams = streams
        self.skipped_exchanges = skipped_exchanges  # exchange id -> files not read
        self.max_line = max_line
        self.stats = ImportStats(files=sum(len(s.paths) for s in streams))
        self.notes: list[str] = []
        self._skips: Counter[tuple[str, str]] = Counter()  # (where, reason) -> lines
        self._okx_other: Counter[str] = Counter()  # instIds of dated futures and options
        self._pos: tuple[str, int] = ("", 0)
        for s in streams:
            self._read_head(s)

    @classmethod
    def open(cls, path: str | Path, max_line: int = MAX_LINE_BYTES) -> CryptofeedImport:
        """The files at ``path``: a directory's cryptofeed files, or a file together with
        every file of its exchange beside it. Raises CryptofeedError."""
        p = Path(path)
        if p.is_dir():
            candidates = sorted(q for q in p.iterdir() if q.is_file())
            exchange = None
        elif p.is_file():
            parsed = _parse_name(p)
            if parsed is None:  # renamed: this file alone, its URLs say what it is
                return cls([_Stream(p.name, None, "ws", [p])], {}, max_line)
            exchange = parsed[0]
            candidates = sorted(q for q in p.parent.iterdir() if q.is_file())
        else:
            raise CryptofeedError(f"{path}: cannot read: no such file or directory")
        streams: dict[str, _Stream] = {}
        skipped: Counter[str] = Counter()
        rotations: dict[str, list[tuple[int, Path]]] = {}
        for q in candidates:
            parsed = _parse_name(q)
            if parsed is None:
                continue
            ex, kind, uuid, count = parsed
            if exchange is not None and ex != exchange:
                continue
            if ex not in EXCHANGES:
                skipped[ex] += 1
                continue
            streams.setdefault(uuid, _Stream(uuid, ex, kind))
            rotations.setdefault(uuid, []).append((count, q))
        if not streams and not skipped:
            raise CryptofeedError(f"{path}: no cryptofeed raw data files (named like BINANCE.0, "
                                  "BINANCE.ws.1.0) there")
        order = {"header": 0, "http": 1, "ws": 2}
        for uuid, files in rotations.items():
            streams[uuid].paths = [q for _, q in sorted(files)]
        return cls(sorted(streams.values(), key=lambda s: (order[s.kind], s.uuid)), dict(skipped),
                   max_line)

    def _read_head(self, s: _Stream) -> None:
        """A connection's URL and (Bybit) book depth, from the top of its first file."""
        if s.kind != "ws" or not s.paths:
            return
        try:
            with open(s.paths[0], "rb") as fh:
                for n, line in enumerate(read_lines(fh, self.max_line, s.paths[0])):
                    if n >= _HEAD_LINES:
                        break
                    if line is TOO_LONG:
                        continue
                    text = line.decode("utf-8", "replace")
                    if s.url is None and text.startswith(("ws", "http")) and " <-" in text:
                        s.url = text.split(" ", 1)[0]
                    if s.book_depth is None and (m := _BYBIT_BOOK.search(text)):
                        s.book_depth = int(m.group(1))
                    if s.url is not None and s.book_depth is not None:
                        break
        except (OSError, CaptureReadError):
            pass  # the main pass says it cannot read the file
        s.route = self._route_of(s)

    @staticmethod
    def _route_of(s: _Stream) -> Route | Skip | None:
        if s.url is not None:
            return ws_route(s.url)
        if s.exchange is None:
            return None  # a renamed file without a URL line: nothing says what it is
        venue, market = EXCHANGES[s.exchange]
        if venue == "bybit":
            return Skip(UNSUPPORTED, f"cannot tell Bybit spot from linear: the connection's "
                                     f"first file ({s.uuid}.0), whose connect line names its "
                                     "URL, is missing")
        return (venue, market)

    def venue_options(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Codec options the capture implies: Bybit's book depth, as subscribed."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for s in self.streams:
            route = s.route
            if isinstance(route, tuple) and route[0] == "bybit" and route[1] and s.book_depth:
                if s.book_depth in BYBIT_BOOK_DEPTHS[route[1]]:
                    out.setdefault(("bybit", route[1]), {"book_depth": s.book_depth})
        return out

    def plan_notes(self) -> list[str]:
        """What will be read, one line per exchange, before the replay starts."""
        notes = []
        by_ex: dict[str, list[str]] = {}
        for s in self.streams:
            by_ex.setdefault(s.exchange or "?", []).extend(p.name for p in s.paths)
        for ex, names in by_ex.items():
            shown = ", ".join(names[:6]) + (f", ... ({len(names)} files)" if len(names) > 6 else "")
            notes.append(f"cryptofeed capture: reading {shown}")
        for ex, n in self.skipped_exchanges.items():
            why = NOT_SPOKEN.get(ex, "not a venue cryptoterm speaks")
            notes.append(f"cryptofeed capture: {ex}: {why}; {n} file(s) skipped")
        return notes

    # -- reading ----------------------------------------------------------------------

    def position(self) -> str:
        name, line = self._pos
        return f"{name} line {line}"

    def replay(self, rep: Replayer, on_event: Callable[[MarketEvent], None] | None = None) -> Replayer:
        """Feed every file into ``rep`` in timestamp order. Raises CaptureReadError."""
        rep.max_line = self.max_line
        rep.position = self.position
        rep.venue_options.update(self.venue_options())
        rep.lookahead = self._lookahead
        rep.missing_hint = self._missing_hint
        if on_event is not None:
            rep.hub.subscribe(on_event)
        stats = self.stats
        for item in heapq.merge(*(self._items(s, count=True) for s in self.streams),
                                key=lambda it: it[0]):
            _, name, lineno, rec = item
            self._pos = (name, lineno)
            rep.stats.lines += 1
            if rec is None:
                continue
            if rec is TOO_LONG:
                stats.malformed += 1
                rep.skip_too_long()
                continue
            if isinstance(rec, Skip):
                rep.stats.unknown += 1
                continue
            if rec is MALFORMED:
                stats.malformed += 1
                rep.stats.malformed += 1
                continue
            rep.feed_record(*rec)
        rep.finish()
        self.notes.extend(self._skip_notes())
        return rep

    @staticmethod
    def _missing_hint(venue: str, market: str) -> str:
        names = [f"{ex}.0" for ex, (v, m) in EXCHANGES.items() if v == venue and m in (market, None)]
        return (f"cryptofeed writes the instrument lists to the exchange's header file "
                f"({' or '.join(names)}): is it beside the others?")

    def _lookahead(self, venue: str, market: str) -> Iterator[Record]:
        """Every record of one market, from the start: a capture without an instrument list
        takes instruments from its frames."""
        for _, _, _, rec in heapq.merge(*(self._items(s, count=False) for s in self.streams),
                                        key=lambda it: it[0]):
            if type(rec) is tuple and rec[0] == venue and rec[1] == market:
                yield rec

    def _items(self, s: _Stream, count: bool) -> Iterator[tuple[Any, ...]]:
        """(ts, file name, line number, record | Skip | TOO_LONG | MALFORMED | None)
        for every line of a stream's files; None for lines that carry nothing to replay."""
        cur = _Cursor(s.route, self.stats if count else ImportStats(), s.url)
        for path in s.paths:
            try:
                fh = open(path, "rb")  # noqa: SIM115 (closed below)
            except OSError as exc:
                raise CaptureReadError(path, exc) from None
            with fh:
                for lineno, raw in enumerate(read_lines(fh, self.max_line, path), 1):
                    if raw is TOO_LONG:
                        yield cur.ts, path.name, lineno, TOO_LONG
                        continue
                    try:
                        line = raw.decode().rstrip("\r\n")
                    except UnicodeDecodeError:
                        cur.stats.malformed += 1
                        yield cur.ts, path.name, lineno, MALFORMED
                        continue
                    rec = self._parse(s, cur, line, path.name) if line else None
                    yield cur.ts, path.name, lineno, rec

    def _parse(self, s: _Stream, cur: _Cursor, line: str, where: str) -> object:
        """What one line carries; moves the cursor's timestamp and connection URL."""
        stats = cur.stats
        if line[0].isdigit():
            head, sep, message = line.partition(": ")
            try:
                ts = float(head)
            except ValueError:
                sep = ""
            if not sep:
                stats.malformed += 1
                return MALFORMED
            cur.ts = ts
            return self._frame(cur, message, where)
        if line.startswith("configuration: "):
            stats.control += 1
            return None
        address, _, rest = line.partition(" ")
        arrow, _, rest = rest.partition(" ")
        stamp, _, body = rest.partition(": ")
        at: float | None
        try:
            at = float(stamp)
        except ValueError:
            at = None
        if at is None or arrow not in ("<->", "<-", "->"):
            stats.malformed += 1
            return MALFORMED
        cur.ts = at
        if arrow in ("<->", "<-"):  # a connect, or something we sent: the URL, nothing else
            stats.control += 1
            if s.kind == "ws" and address.startswith("ws") and address != cur.url:
                cur.url = address
                cur.route = ws_route(address)
            return None
        if " header: {" in body:  # the response's headers, when cryptofeed was asked for them
            head, _, tail = body.rpartition(" header: ")
            if tail.endswith("}"):
                body = head
        route = rest_route(address)
        if route is None:
            stats.control += 1
            return None
        if isinstance(route, Skip):
            self._count_skip(stats, address.split("?", 1)[0], route)
            return route
        stats.rest += 1
        venue, market, channel = route
        return (venue, market, "rest", channel, body)

    def _frame(self, cur: _Cursor, message: str, where: str) -> object:
        route, stats = cur.route, cur.stats
        if route is None:
            skip = Skip(UNSUPPORTED, "no connect line names its URL and its file name no exchange")
            self._count_skip(stats, where, skip)
            return skip
        if isinstance(route, Skip):
            self._count_skip(stats, cur.url or where, route)
            return route
        text = _frame_text(message)
        if text is None:
            stats.malformed += 1
            return MALFORMED
        venue, market = route
        if venue == "okx":
            inst_id = _okx_inst_id(text)
            if inst_id is None:  # pong, errors, notices: nothing a book or tape needs
                stats.control += 1
                return None
            market = okx_market(inst_id)
            if market is None:
                if stats is self.stats:
                    self._okx_other[inst_id] += 1
                stats.unsupported += 1
                return Skip(UNSUPPORTED, "okx futures, options and inverse swaps")
        stats.frames += 1
        return (venue, market, "ws", None, text)

    def _count_skip(self, stats: ImportStats, where: str, skip: Skip) -> None:
        if skip.category == OTHER_API:
            stats.other_api += 1
        else:
            stats.unsupported += 1
        if stats is self.stats:
            self._skips[(where, skip.reason)] += 1

    def _skip_notes(self) -> Iterator[str]:
        for (where, reason), n in self._skips.items():
            yield f"cryptofeed capture: {n:,} line(s) from {where} skipped: {reason}"
        if self._okx_other:
            ids = ", ".join(list(self._okx_other)[:4]) + (", ..." if len(self._okx_other) > 4 else "")
            n = sum(self._okx_other.values())
            yield (f"cryptofeed capture: {n:,} okx frame(s) of dated futures, options and swaps "
                   f"not settled in USDT skipped ({ids}): cryptoterm streams spot and USDT swaps")


def replay_cryptofeed(path: str | Path, on_event: Callable[..., Any] | None = None, emit_books: bool = True,
                      max_line: int = MAX_LINE_BYTES) -> tuple[Replayer, CryptofeedImport]:
    """Import and replay a cryptofeed capture. Raises CryptofeedError, CaptureReadError."""
    imp = CryptofeedImport.open(path, max_line=max_line)
    rep = Replayer(on_event=on_event, emit_books=emit_books)
    imp.replay(rep, on_event)
    return rep, imp
