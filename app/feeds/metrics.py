"""What a headless recording session counts: the one-line status every few seconds and
the Prometheus endpoint (``cryptoterm record --metrics-port``) read the same numbers.

Nearly everything is already counted by the engine (connection health, feed stats) and
the recorder (rows per venue and table); a custom collector reads those on each scrape,
so the hot path pays nothing for them. The only things measured here are lags: a hub
listener times every event that carries the venue's own timestamp (exchange time ->
received), and the recorder's commit hook times every trade row (exchange time ->
committed). Each session owns its own ``CollectorRegistry``: no process-global state,
so tests and several sessions in one process never see each other's values.

Labels: ``venue`` always; ``stream`` is the connection (``spot``, ``perp #2``, ``linear``)
for connection counters, the event kind for lags, the table for rows.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.feeds.core import FeedStats
from app.feeds.health import HealthView
from app.market.events import Funding, Ticker, Trade

# seconds; venues stamp events a few ms before we see them, a congested link makes it seconds
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_KIND = {Trade: "trades", Ticker: "ticker", Funding: "funding"}


class MetricsEngine(Protocol):
    """What the metrics read of the engine (app.feeds.engine.Engine)."""

    def health(self) -> list[HealthView]: ...

    def feed_stats(self) -> list[tuple[str, Any, FeedStats]]: ...


class RowSource(Protocol):
    """What the metrics read of the recorder (storage.recorder.Recorder)."""

    def rows_by_venue(self) -> dict[tuple[str, str], int]: ...

    def lost_by_venue(self) -> dict[tuple[str, str], int]: ...

    def stats(self) -> Any: ...


def venue_of(instrument_id: str) -> str:
    parts = instrument_id.split("_", 2)
    return parts[1] if len(parts) == 3 else ""


def split_name(name: str) -> tuple[str, str]:
    """("binance", "spot #2") from a connection's health name "binance spot #2"."""
    venue, _, stream = name.partition(" ")
    return venue, stream


@dataclass(slots=True)
class VenueStatus:
    """One venue in the status line: rates over the last period, totals since start."""

    venue: str
    msgs_per_sec: float = 0.0
    rows_per_sec: float = 0.0
    lag_p50: float | None = None  # seconds, exchange time -> received, this period
    lag_p99: float | None = None
    gaps: int = 0
    reconnects: int = 0
    connected: int = 0
    connections: int = 0


@dataclass(slots=True)
class _Period:
    at: float
    messages: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


class SessionMetrics:
    """Counters and lags of one recording session (any thread may read them)."""

    def __init__(self, engine: MetricsEngine, recorder: RowSource | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.engine = engine
        self.recorder = recorder
        self.clock = clock
        self.wall_ms = wall_ms
        self.registry = CollectorRegistry(auto_describe=True)
        self.lag = Histogram("cryptoterm_message_lag_seconds",
                             "Venue event time to arrival in the engine", ["venue", "stream"],
                             buckets=LAG_BUCKETS, registry=self.registry)
        self.commit_lag = Histogram("cryptoterm_trade_commit_lag_seconds",
                                    "Venue trade time to its row committed in the store", ["venue"],
                                    buckets=LAG_BUCKETS, registry=self.registry)
        self.backfill_rows = Counter("cryptoterm_backfill_rows",
                                     "Klines fetched from REST to fill holes (restart catch-up)",
                                     ["venue", "stream"], registry=self.registry)
        self.backfill_requests = Counter("cryptoterm_backfill_requests",
                                         "REST requests made by the catch-up backfill",
                                         ["venue", "stream"], registry=self.registry)
        self.backfill_seconds = Counter("cryptoterm_backfill_seconds",
                                        "Time spent in the catch-up backfill (rows / seconds: its rate)",
                                        ["venue", "stream"], registry=self.registry)
        self.registry.register(_EngineCollector(self))
        # the usual process_* (CPU, resident memory, open fds) and python_gc_* series
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._observers: dict[tuple[str, str], tuple[Callable[[float], None], list[float]]] = {}
        self._commit: dict[str, Callable[[float], None]] = {}
        self._window: dict[str, list[float]] = {}  # venue -> lags (s) since the last status
        self._lock = threading.Lock()
        self._last: _Period | None = None

    # -- hot path ------------------------------------------------------------------

    def on_event(self, ev: Any) -> None:
        """MarketHub listener (engine thread, hub lock held): time events that carry
        the venue's timestamp."""
        kind = _KIND.get(type(ev))
        if kind is None:
            return
        entry = self._observers.get((ev.id, kind))
        if entry is None:
            venue = venue_of(ev.id)
            with self._lock:
                window = self._window.setdefault(venue, [])
            entry = self._observers[(ev.id, kind)] = (self.lag.labels(venue, kind).observe, window)
        lag = (self.wall_ms() - ev.ts) / 1000.0
        observe, window = entry
        observe(lag)
        window.append(lag)

    def on_commit(self, trades: list[tuple[Any, ...]], commit_ms: int) -> None:
        """Recorder commit hook (writer thread): rows are (inst key, trade id, ts, ...)."""
        recorder = self.recorder
        venue_of_key: dict[int, str] = getattr(recorder, "_venue_of", {})
        observers = self._commit
        for row in trades:
            key = row[0]
            observe = observers.get(key)
            if observe is None:
                observe = observers[key] = self.commit_lag.labels(venue_of_key.get(key, "")).observe
            observe((commit_ms - row[2]) / 1000.0)

    # -- status --------------------------------------------------------------------

    def status(self) -> list[VenueStatus]:
        """Per venue: rates since the previous call (the first call: since start)."""
        now = self.clock()
        healths = [h for h in self.engine.health() if h.backlog is None]
        messages: dict[str, int] = {}
        out: dict[str, VenueStatus] = {}
        for h in healths:
            venue, _ = split_name(h.name)
            st = out.setdefault(venue, VenueStatus(venue))
            messages[venue] = messages.get(venue, 0) + h.messages
            st.gaps += h.gaps
            st.reconnects += h.reconnects
            st.connections += 1
            st.connected += h.state == "connected"
        rows: dict[str, int] = {}
        if self.recorder is not None:
            for (venue, _table), n in self.recorder.rows_by_venue().items():
                rows[venue] = rows.get(venue, 0) + n
                out.setdefault(venue, VenueStatus(venue))
        with self._lock:
            windows = {v: w for v, w in self._window.items()}
            for venue, lags in windows.items():
                taken = lags[:]
                del lags[: len(taken)]
                if taken and venue in out:
                    taken.sort()
                    out[venue].lag_p50 = taken[len(taken) // 2]
                    out[venue].lag_p99 = taken[min(len(taken) - 1, int(len(taken) * 0.99))]
        last = self._last
        since = last.at if last is not None else None
        for venue, st in out.items():
            if since is not None and now > since:
                span = now - since
                st.msgs_per_sec = (messages.get(venue, 0) - last.messages.get(venue, 0)) / span  # type: ignore[union-attr]  # since is set only with last
                st.rows_per_sec = (rows.get(venue, 0) - last.rows.get(venue, 0)) / span  # type: ignore[union-attr]  # as above
        self._last = _Period(now, messages, rows)
        return sorted(out.values(), key=lambda s: s.venue)

    def reset_period(self) -> None:
        """Start the first status period now (call when streaming starts)."""
        self.status()


def format_status(venues: Iterable[VenueStatus], elapsed: float, backlog: int | None = None,
                  failed: str | None = None) -> str:
    """One line: ``120s binance 812 msg/s 530 rows/s lag 12/40 ms gaps 0 reconn 0 | ...``."""
    parts = []
    for v in venues:
        lag = "lag -" if v.lag_p50 is None else \
            f"lag {v.lag_p50 * 1000:.0f}/{(v.lag_p99 or 0) * 1000:.0f} ms"
        down = "" if v.connected == v.connections else f" {v.connections - v.connected} down"
        parts.append(f"{v.venue} {v.msgs_per_sec:,.0f} msg/s {v.rows_per_sec:,.0f} rows/s {lag} "
                     f"gaps {v.gaps} reconn {v.reconnects}{down}")
    line = f"{elapsed:.0f}s " + (" | ".join(parts) if parts else "connecting")
    if backlog:
        line += f" | backlog {backlog:,}"
    if failed:
        line += f" | store failing: {failed}"
    return line


class _EngineCollector(Collector):
    """Reads the engine's and the recorder's own counters on each scrape."""

    def __init__(self, session: SessionMetrics) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        labels = ["venue", "stream"]
        families = {
            "messages": CounterMetricFamily("cryptoterm_messages_received",
                                            "Websocket frames received", labels=labels),
            "bytes": CounterMetricFamily("cryptoterm_bytes_received",
                                         "Websocket payload received (bytes; text frames: characters)",
                                         labels=labels),
            "reconnects": CounterMetricFamily("cryptoterm_reconnects", "Connections re-established",
                                              labels=labels),
            "gaps": CounterMetricFamily("cryptoterm_gaps",
                                        "Book sequence gaps and checksum failures (book rebuilt)",
                                        labels=labels),
            "resyncs": CounterMetricFamily("cryptoterm_resyncs", "Books synced again after a loss",
                                           labels=labels),
        }
        up = GaugeMetricFamily("cryptoterm_connection_up", "1 while the connection is connected",
                               labels=labels)
        for h in self.session.engine.health():
            if h.backlog is not None:  # the recorder's own entry
                continue
            values = split_name(h.name)
            families["messages"].add_metric(values, h.messages)
            families["bytes"].add_metric(values, h.bytes_received)
            families["reconnects"].add_metric(values, h.reconnects)
            families["gaps"].add_metric(values, h.gaps)
            families["resyncs"].add_metric(values, h.resyncs)
            up.add_metric(values, 1.0 if h.state == "connected" else 0.0)
        yield from families.values()
        yield up
        checksum = CounterMetricFamily("cryptoterm_checksum_failures",
                                       "Books that failed the venue's checksum", labels=labels)
        malformed = CounterMetricFamily("cryptoterm_malformed_frames",
                                        "Frames that could not be decoded (skipped)", labels=labels)
        for venue, market, stats in self.session.engine.feed_stats():
            checksum.add_metric([venue, str(market)], stats.checksum_failures)
            malformed.add_metric([venue, str(market)], stats.malformed)
        yield checksum
        yield malformed
        # Python's own heap: a leak in our objects grows it, SQLite's page cache (which fills
        # up to its cache_size as the file grows, and shows in RSS) does not
        yield GaugeMetricFamily("cryptoterm_python_allocated_blocks",
                                "Memory blocks the Python allocator has handed out",
                                value=sys.getallocatedblocks())
        recorder = self.session.recorder
        if recorder is None:
            return
        written = CounterMetricFamily("cryptoterm_rows_written", "Rows committed to the store",
                                      labels=["venue", "stream"])
        for (venue, table), n in sorted(recorder.rows_by_venue().items()):
            written.add_metric([venue, table], n)
        yield written
        dropped = CounterMetricFamily("cryptoterm_rows_dropped",
                                      "Events not stored: backlog full, or unusable values",
                                      labels=["venue", "reason"])
        for (venue, reason), n in sorted(recorder.lost_by_venue().items()):
            dropped.add_metric([venue, reason], n)
        yield dropped
        stats = recorder.stats()
        yield GaugeMetricFamily("cryptoterm_recorder_backlog", "Events waiting to be written",
                                value=stats.backlog)
        yield GaugeMetricFamily("cryptoterm_recorder_up", "1 while the store accepts writes",
                                value=0.0 if stats.state == "failed" else 1.0)


class MetricsServer:
    """The registry served over HTTP on ``host:port`` (``/metrics``) on a daemon thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self.server, self.thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2.0)
