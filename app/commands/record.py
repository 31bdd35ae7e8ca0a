"""`cryptoterm record --store / --raw FILE`: a headless session on the TUI's engine and
recorder, into the history store, a raw capture, or both."""

from __future__ import annotations

import argparse
import logging
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from app.commands.base import CommandError
from app.commands.storage_opts import add_db_option
from app.commands.tui import check_symbol
from app.config import VENUES, AppConfig, ConfigError
from app.gc_policy import FreezeSchedule, calm_collector, freeze_long_lived

log = logging.getLogger(__name__)

SUPPORTED_VENUES = VENUES
MAX_RATE = 100_000
STOP_TIMEOUT = 30.0
REPAIR_GRACE = 5.0  # seconds past a minute's end before a repair pass looks at it
REPAIR_WINDOW_MS = 60 * 60_000  # how far back each repair pass looks
RECORDER_KLINE_DEPTH = 3  # candles kept in memory per series: the open one and two before it
REPAIR_LAG_MS = 120_000  # younger candles are the stream's to close
TABLES = ("trades", "klines", "funding", "books")
MAX_TOP = 200
# health errors that name the host a feed could not reach (app.feeds.connection / rest)
_UNREACHABLE = re.compile(r"cannot (?:connect to|reach) (?P<url>\S+) \((?P<why>.*)\)$")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "record", help="record market data headless: into the history store and/or a raw capture",
        description="Record without the UI, on the same engine and recorder as the TUI's r key: "
                    "--store writes trades, 1m klines, funding and book snapshots into the history "
                    "store; --raw FILE writes the raw capture. Give one or both. Runs until Ctrl+C "
                    "or SIGTERM (or --duration), then flushes and exits 0.")
    p.add_argument("--store", action="store_true",
                   help="record into the history store (see --db); on restart the klines missed "
                        "while it was down are backfilled from REST first")
    p.add_argument("--raw", metavar="FILE",
                   help="append every websocket frame and REST response to FILE (format v1)")
    add_db_option(p)
    p.add_argument("--venues", metavar="LIST", default=None,
                   help=f"comma-separated venues (available: {', '.join(SUPPORTED_VENUES)}; "
                        "default binance, or every simulated venue with --demo)")
    p.add_argument("--symbols", metavar="LIST",
                   help="comma-separated symbols, e.g. BTC/USDT,BTC/USDT:USDT (default: config)")
    p.add_argument("--top", type=int, metavar="N",
                   help="instead of --symbols: each venue's N most traded USDT spot markets and N "
                        "USDT perpetuals, ranked by 24h quote volume when the run starts")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl+C / SIGTERM)")
    p.add_argument("--demo", action="store_true", help="record the built-in simulated market")
    p.add_argument("--quiet", action="store_true",
                   help="no status line on stderr (it still goes to the log): for services")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS",
                   help="seconds between status lines (default 10)")
    p.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus metrics on this port (e.g. 9108; 0 picks a free one)")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="address the metrics endpoint binds to (default 127.0.0.1)")
    # SUPPRESS: absent here, the top-level `cryptoterm --seed N record` value stands
    p.add_argument("--seed", dest="record_seed", type=int, default=argparse.SUPPRESS, metavar="N",
                   help="demo market seed (default 7)")
    p.add_argument("--rate", dest="record_rate", type=float, default=argparse.SUPPRESS, metavar="N",
                   help="demo market events per second per symbol (default 40)")
    p.add_argument("--universe", type=int, metavar="N",
                   help="with --demo: list the N most traded assets on every simulated venue")
    p.set_defaults(func=run)


def demo_options(args: argparse.Namespace) -> tuple[int, float]:
    """(seed, rate) of the demo market, from `record --seed/--rate` or `cryptoterm --seed/--rate`.
    Raises CommandError when they are out of range or given without --demo."""
    seed = getattr(args, "record_seed", getattr(args, "seed", 7))
    rate = getattr(args, "record_rate", getattr(args, "rate", None))
    if not args.demo:
        given = [f for f, dest in (("--seed", "record_seed"), ("--rate", "record_rate"))
                 if hasattr(args, dest)] or (["--rate"] if rate is not None else [])
        if given:
            verb = "shape" if len(given) > 1 else "shapes"
            raise CommandError(f"{' and '.join(given)} {verb} the demo market: use with --demo")
    if rate is not None and not (math.isfinite(rate) and 0 < rate <= MAX_RATE):
        raise CommandError(f"--rate {rate:g}: must be above 0 and at most {MAX_RATE}")
    return seed, (40.0 if rate is None else rate)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    if not args.store and not args.raw:
        raise CommandError("record needs somewhere to write: --store (the history store), "
                           "--raw FILE (a raw capture), or both")
    db_arg = getattr(args, "db", None)
    if db_arg is not None and not args.store:
        raise CommandError(f"--db {db_arg}: names the history store; add --store to record into it")
    venues = None
    if args.venues is not None:
        venues = [v.strip().lower() for v in args.venues.split(",") if v.strip()]
        for v in venues:
            if v not in SUPPORTED_VENUES:
                raise CommandError(f"--venues: unknown venue {v!r} "
                                   f"(available: {', '.join(SUPPORTED_VENUES)})")
        if not venues:
            raise CommandError("--venues: name at least one venue")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise CommandError(f"--duration {args.duration:g}: must be a number of seconds above 0 "
                           "(leave it out to record until Ctrl+C)")
    if not (math.isfinite(args.status_every) and args.status_every >= 0.2):
        raise CommandError(f"--status-every {args.status_every:g}: must be at least 0.2 seconds")
    if args.metrics_port is not None and not 0 <= args.metrics_port <= 65535:
        raise CommandError(f"--metrics-port {args.metrics_port}: must be from 0 to 65535")
    if args.universe is not None:
        from app.sim.universe import MAX_UNIVERSE

        if not args.demo:
            raise CommandError("--universe shapes the demo market: use with --demo")
        if not 1 <= args.universe <= MAX_UNIVERSE:
            raise CommandError(f"--universe {args.universe}: must be from 1 to {MAX_UNIVERSE}")
    seed, rate = demo_options(args)
    if args.top is not None:
        if args.symbols:
            raise CommandError("--top and --symbols both pick the symbols: give one of them")
        if not 1 <= args.top <= MAX_TOP:
            raise CommandError(f"--top {args.top}: must be from 1 to {MAX_TOP}")
    symbols = cfg.symbols
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            check_symbol(s, "--symbols")
    world = None
    if args.demo:
        from app.sim.world import DemoWorld

        universe = args.universe
        if universe is None and args.top is not None:
            # more listed than asked for, so the ranking has something to leave out
            universe = args.top + max(5, args.top // 2)
        world = DemoWorld(seed=seed, rate=rate, universe=universe, venues=venues).start()
        world.configure(cfg)
        venues = world.venues()
        if not args.symbols:
            symbols = world.symbols()
    try:
        venues = venues or ["binance"]
        per_venue = None if args.top is None else _top(cfg, venues, args.top, args.quiet)
        return _record(args, cfg, venues, symbols, per_venue)
    finally:
        if world is not None:
            world.stop()


def _top(cfg: AppConfig, venues: list[str], n: int, quiet: bool) -> dict[str, list[str]]:
    """Each venue's ``n`` most traded USDT spot markets and perpetuals (its 24h tickers)."""
    from app.feeds.top_markets import top_symbols_sync

    out = {}
    for venue in venues:
        out[venue] = top_symbols_sync(cfg, venue, n)  # TopMarketsError: one line from the CLI
        say(f"{venue}: top {n}: {', '.join(out[venue])}", quiet)
    return out


def _record(args: argparse.Namespace, cfg: AppConfig, venues: list[str], symbols: list[str],
            per_venue: dict[str, list[str]] | None) -> int:
    from app.feeds.capture import CaptureWriter

    capture = None
    if args.raw:
        try:
            capture = CaptureWriter(args.raw)
        except OSError as exc:
            raise CommandError(f"--raw {args.raw}: cannot write: {exc.strerror or exc}") from None
    db = None
    try:
        if args.store:
            from app.commands.storage_opts import open_db

            db = open_db(args, cfg)  # StorageError: one line from the CLI
        return _session(args, cfg, venues, symbols, per_venue, capture, db)
    finally:
        if capture is not None:
            capture.close()
        if db is not None:
            db.dispose()


def _session(args: argparse.Namespace, cfg: AppConfig, venues: list[str], symbols: list[str],
             per_venue: dict[str, list[str]] | None, capture, db) -> int:
    from app.feeds.engine import Engine
    from app.feeds.metrics import MetricsServer, SessionMetrics, format_status

    quiet = args.quiet
    # no chart here: the store has the candles, memory keeps only the open ones
    engine = Engine(cfg, symbols, capture=capture, venues=venues, per_venue=per_venue,
                    kline_depth=RECORDER_KLINE_DEPTH)
    recorder = None
    if db is not None:
        from storage.recorder import Recorder

        recorder = Recorder(db, record=None, book_interval=cfg.book_snapshot_interval,
                            book_depth=cfg.book_snapshot_depth)
    metrics = SessionMetrics(engine, recorder)
    server = None
    if args.metrics_port is not None:
        try:
            server = MetricsServer(metrics.registry, args.metrics_host, args.metrics_port)
        except OSError as exc:
            raise CommandError(f"--metrics-port {args.metrics_port}: cannot listen on "
                               f"{args.metrics_host}:{args.metrics_port}: {exc.strerror or exc}") from None
        say(f"metrics on http://{server.host}:{server.port}/metrics", quiet)
    try:
        resume = None
        if db is not None:
            resume = _catch_up(db, cfg, venues, per_venue or {v: symbols for v in venues},
                               metrics, quiet)
        with engine.hub.lock:
            engine.hub.subscribe(metrics.on_event)
        if recorder is not None:
            recorder.on_commit = metrics.on_commit
            engine.attach_recorder(recorder)  # before the feeds start: no event is missed
        return _stream(args, cfg, engine, recorder, capture, db, metrics, resume, format_status)
    finally:
        if server is not None:
            server.close()


def _catch_up(db, cfg: AppConfig, venues: list[str], symbols: dict[str, list[str]], metrics,
              quiet: bool):
    """Fill the hole a previous run left (before streaming); returns (wanted instruments,
    watermarks) for the repair passes while streaming."""
    from app.feeds.catchup import catch_up, stored_targets, watermarks
    from app.feeds.engine import preliminary_instruments

    wanted = [i for v in venues for i in preliminary_instruments([v], symbols.get(v, []))]
    targets = stored_targets(db, wanted)
    marks = watermarks(db, targets)
    if not marks:
        return wanted, {}
    began = time.monotonic()
    say(f"catching up {len(marks)} instrument(s) from the store's last klines", quiet)
    result = catch_up(db, cfg, targets, marks, progress=_backfill_counter(metrics))
    for problem in result.problems:
        log.warning("%s", problem)
        print(f"cryptoterm: warning: {problem}", file=sys.stderr)
    rows = sum(result.rows.values())
    say(f"caught up {rows:,} klines of {result.instruments} instrument(s) in "
        f"{time.monotonic() - began:.1f}s", quiet)
    return wanted, marks


def _backfill_counter(metrics):
    def progress(venue: str, market: str, rows: int, requests: int, seconds: float) -> None:
        labels = (venue, f"{market} klines 1m")
        metrics.backfill_rows.labels(*labels).inc(rows)
        metrics.backfill_requests.labels(*labels).inc(requests)
        metrics.backfill_seconds.labels(*labels).inc(seconds)
    return progress


def _stream(args, cfg: AppConfig, engine, recorder, capture, db, metrics, resume,
            format_status) -> int:
    stop = threading.Event()
    restore = _on_sigterm(stop.set)
    engine.start()
    from app.alerts.runtime import start_alerts  # alert rules fire headless too

    alerts = start_alerts(engine, cfg, extra=[lambda a: print(
        ("\n" if sys.stderr.isatty() else "") + f"cryptoterm: alert: {a.message}", file=sys.stderr)])
    metrics.reset_period()
    start = time.monotonic()
    watch = FeedWatch(lambda name: _host_of(cfg, name))
    repair = None
    if resume is not None:
        repair = threading.Thread(target=_repair, args=(db, cfg, resume, metrics, stop),
                                name="cryptoterm-kline-repair", daemon=True)
        repair.start()
    next_status = start + args.status_every
    tick = 1.0 if args.duration is None else min(1.0, args.duration / 10)
    calm_collector()
    collector = FreezeSchedule()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if args.duration is not None and now - start >= args.duration:
                break
            if collector.due(now - start):
                freeze_long_lived()
            stop.wait(min(tick, max(0.01, next_status - now)))
            watch.look(engine.health())
            if engine.wait_resolved(0) and not engine.instruments():
                break  # every requested symbol is unlisted: nothing will ever stream
            if time.monotonic() >= next_status:
                next_status += args.status_every
                _status(engine, recorder, capture, metrics, time.monotonic() - start, args.quiet,
                        format_status)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        restore()
        alerts.stop()
        watch.look(engine.health())
        # the feeds, then the recorder: what is queued is written. A loaded machine may take
        # seconds to close every connection; events after the last flush would be lost
        engine.stop(timeout=STOP_TIMEOUT)
        if repair is not None:
            repair.join(30)
    elapsed = time.monotonic() - start
    return _report(args, engine, recorder, capture, db, watch, elapsed)


def _repair(db, cfg: AppConfig, resume, metrics, stop: threading.Event) -> None:
    """Once a minute, fetch from REST the 1m klines of the last REPAIR_WINDOW that the
    stream did not deliver whole: the minute that rolled over while streaming started,
    minutes lost while a connection was down, candles built from part of a minute.
    Normally there are none and no request is made past each venue's market list."""
    from app.feeds.catchup import catch_up, stored_targets

    wanted, marks = resume
    session_start = int(time.time() * 1000) // 60_000 * 60_000
    listings: dict = {}
    reported: set[str] = set()
    while True:
        wait = 60 - (time.time() % 60) + REPAIR_GRACE
        if stop.wait(wait):
            return
        now_ms = int(time.time() * 1000)
        horizon = now_ms - REPAIR_WINDOW_MS
        try:
            targets = stored_targets(db, wanted)
            since = {t.id: max(marks.get(t.id, session_start), horizon) for t in targets}
            # only minutes the stream has had time to close
            result = catch_up(db, cfg, targets, since, until_ms=now_ms - REPAIR_LAG_MS,
                              progress=_backfill_counter(metrics), listings=listings)
        except Exception:  # the next pass, the next restart or `gaps --fill-gaps` tries again
            log.exception("kline repair failed")
            continue
        for problem in result.problems:
            if problem not in reported:  # once a session, not once a minute
                reported.add(problem)
                log.warning("repair: %s", problem)
        rows = sum(result.rows.values())
        if rows:
            log.info("repair: fetched %d klines the stream had not delivered whole", rows)


def _status(engine, recorder, capture, metrics, elapsed: float, quiet: bool, format_status) -> None:
    stats = None if recorder is None else recorder.stats()
    line = format_status(metrics.status(), elapsed, None if stats is None else stats.backlog,
                         None if stats is None or stats.state != "failed" else stats.error)
    if capture is not None:
        line += f" | raw {capture.lines:,} lines {capture.bytes / 1e6:.1f} MB"
    unsynced = sum(len(h.unsynced) for h in engine.health())
    if unsynced:
        line += f" | {unsynced} book(s) resyncing"
    log.info("status: %s", line)
    if not quiet:
        print(line, file=sys.stderr, flush=True)


def _report(args, engine, recorder, capture, db, watch, elapsed: float) -> int:
    venues = engine.venues
    if capture is not None:
        say(f"recorded {capture.lines} lines ({capture.bytes / 1e6:.1f} MB) to {args.raw}", args.quiet)
    if recorder is not None:
        by_table: dict[str, int] = {}
        for (_venue, table), n in recorder.rows_by_venue().items():
            by_table[table] = by_table.get(table, 0) + n
        shown = db.url.render_as_string(hide_password=True)
        say(f"recorded {sum(by_table.values()):,} rows ("
            + ", ".join(f"{table} {by_table.get(table, 0):,}" for table in TABLES)
            + f") into {shown}", args.quiet)
    # the demo's simulated venues list different coins on purpose (as in the TUI, only
    # symbols the user asked for are worth a word)
    for problem in engine.problems if (not args.demo or args.symbols) and args.top is None else ():
        print(f"cryptoterm: {problem}", file=sys.stderr)
    for text in watch.unreached(elapsed):
        print(f"cryptoterm: {text}", file=sys.stderr)
    if engine.wait_resolved(0) and not engine.instruments():
        raise CommandError("none of the requested symbols is listed on "
                           f"{', '.join(venues)}: nothing to record")
    if recorder is not None:
        stats = recorder.stats()
        if stats.state == "failed":
            raise CommandError(f"the history store failed ({stats.error}): "
                               f"{stats.backlog:,} events could not be written")
        if stats.backlog:  # the engine outlived STOP_TIMEOUT and kept delivering
            log.warning("%d events arrived after the last write and were not stored", stats.backlog)
            print(f"cryptoterm: warning: {stats.backlog:,} events arrived after the last write "
                  "and were not stored", file=sys.stderr)
    if capture is not None and capture.frames == 0:
        raise CommandError(f"nothing recorded to {args.raw} in {elapsed:.0f}s: no market data "
                           f"arrived from {', '.join(venues)}"
                           + (f" (only {capture.lines} REST line(s))" if capture.lines else ""))
    if capture is None and not watch.got_data:
        raise CommandError(f"nothing recorded in {elapsed:.0f}s: no market data arrived from "
                           f"{', '.join(venues)}")
    return 0


def say(text: str, quiet: bool) -> None:
    """A progress line: stderr unless --quiet, and always the log."""
    log.info("%s", text)
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _on_sigterm(action) -> Callable[[], None]:
    """SIGTERM (systemd stop, docker stop, kill) ends the run like Ctrl+C: flush, exit 0.
    Returns what puts the previous handler back. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: action())

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
    return restore


class FeedWatch:
    """Remembers, per feed, whether it ever got data and the last error it showed: a
    feed's error clears on every retry, so the end of the run alone would miss it."""

    def __init__(self, host_of: Callable[[str], str | None] = lambda name: None) -> None:
        self.errors: dict[str, str | None] = {}  # every feed seen, in order
        self.got_data: set[str] = set()
        self.present: set[str] = set()  # names in the engine's last health list
        self._host_of = host_of

    def look(self, healths) -> None:
        self.present = {h.name for h in healths}
        for h in healths:
            if h.messages:
                self.got_data.add(h.name)
            if h.error or h.name not in self.errors:
                self.errors[h.name] = h.error or self.errors.get(h.name)

    def unreached(self, elapsed: float) -> list[str]:
        """One plain line per feed that never got data: which venue, which host, why."""
        out = []
        for name, error in self.errors.items():
            # gone from the engine: a market-list step ("bybit perp") that finished; its
            # connections ("bybit linear") carry the data under their own names
            if name in self.got_data or name not in self.present:
                continue
            m = _UNREACHABLE.search(error or "")
            if m is not None:
                host = urlsplit(m["url"]).netloc or m["url"]
                out.append(f"{name}: could not connect to {host}: {m['why']}")
            elif error:
                out.append(f"{name}: recorded nothing: {error}")
            else:
                host = self._host_of(name)
                out.append(f"{name}: no data in {elapsed:.0f}s: still connecting"
                           + (f" to {host}" if host else ""))
        return out


def _host_of(cfg: AppConfig, feed_name: str) -> str | None:
    """The host a feed talks to: the REST host while it loads its market list (its health
    is then named "venue market"), else the websocket host."""
    from app.venues import registry

    parts = feed_name.split()
    if len(parts) < 2 or (parts[0], parts[1]) not in registry.KNOWN:
        return None
    try:
        ep = cfg.endpoint(registry.config_key(parts[0], parts[1]))  # type: ignore[arg-type]  # (venue, market) was checked against registry.KNOWN above
    except ConfigError:  # a name we cannot place costs only the host in a message
        return None
    return urlsplit(ep.rest_url if len(parts) == 2 else ep.ws_url).netloc or None
