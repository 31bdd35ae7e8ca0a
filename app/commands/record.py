"""`cryptoterm record --raw FILE`: a headless session that writes the raw capture."""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from app.commands.base import CommandError
from app.commands.tui import check_symbol
from app.config import VENUES, AppConfig, ConfigError

SUPPORTED_VENUES = VENUES
MAX_RATE = 100_000
# health errors that name the host a feed could not reach (app.feeds.connection / rest)
_UNREACHABLE = re.compile(r"cannot (?:connect to|reach) (?P<url>\S+) \((?P<why>.*)\)$")


def register(subparsers) -> None:
    p = subparsers.add_parser("record", help="record market data headless (raw capture)")
    p.add_argument("--raw", metavar="FILE", required=True,
                   help="append every websocket frame and REST response to FILE (format v1)")
    p.add_argument("--venues", metavar="LIST", default="binance",
                   help=f"comma-separated venues (available: {', '.join(SUPPORTED_VENUES)})")
    p.add_argument("--symbols", metavar="LIST",
                   help="comma-separated symbols, e.g. BTC/USDT,BTC/USDT:USDT (default: config)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds (default: until Ctrl+C)")
    p.add_argument("--demo", action="store_true", help="record the built-in simulated market")
    # SUPPRESS: absent here, the top-level `cryptoterm --seed N record` value stands
    p.add_argument("--seed", dest="record_seed", type=int, default=argparse.SUPPRESS, metavar="N",
                   help="demo market seed (default 7)")
    p.add_argument("--rate", dest="record_rate", type=float, default=argparse.SUPPRESS, metavar="N",
                   help="demo market events per second per symbol (default 40)")
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
    from app.feeds.capture import CaptureWriter
    from app.feeds.engine import Engine

    venues = [v.strip().lower() for v in args.venues.split(",") if v.strip()]
    for v in venues:
        if v not in SUPPORTED_VENUES:
            raise CommandError(f"--venues: unknown venue {v!r} (available: {', '.join(SUPPORTED_VENUES)})")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise CommandError(f"--duration {args.duration:g}: must be a number of seconds above 0 "
                           "(leave it out to record until Ctrl+C)")
    seed, rate = demo_options(args)
    symbols = cfg.symbols
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            check_symbol(s, "--symbols")
    world = None
    if args.demo:
        from app.sim.world import DemoWorld

        world = DemoWorld(seed=seed, rate=rate).start()
        world.configure(cfg)
        venues = world.venues()
        if not args.symbols:
            symbols = world.symbols()
    try:
        capture = CaptureWriter(args.raw)
    except OSError as exc:
        if world is not None:
            world.stop()
        raise CommandError(f"--raw {args.raw}: cannot write: {exc.strerror or exc}") from None
    engine = Engine(cfg, symbols, capture=capture, venues=venues)
    engine.start()
    from app.alerts.runtime import start_alerts  # alert rules fire headless too

    alerts = start_alerts(engine, cfg, extra=[lambda a: print(
        ("\n" if sys.stderr.isatty() else "") + f"cryptoterm: alert: {a.message}", file=sys.stderr)])
    start = time.monotonic()
    interactive = sys.stderr.isatty()
    watch = FeedWatch(lambda name: _host_of(cfg, name))
    try:
        while args.duration is None or time.monotonic() - start < args.duration:
            time.sleep(1.0 if args.duration is None else min(1.0, args.duration / 10))
            watch.look(engine.health())
            if engine.wait_resolved(0) and not engine.instruments():
                break  # every requested symbol is unlisted: nothing will ever stream
            line = status_line(engine, capture, time.monotonic() - start)
            if interactive:
                print("\r" + line.ljust(110)[:110], end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        watch.look(engine.health())
        alerts.stop()
        engine.stop()
        capture.close()
        if world is not None:
            world.stop()
    elapsed = time.monotonic() - start
    if interactive:
        print(file=sys.stderr)
    print(f"recorded {capture.lines} lines ({capture.bytes / 1e6:.1f} MB) to {args.raw}", file=sys.stderr)
    # the demo's simulated venues list different coins on purpose (as in the TUI, only
    # symbols the user asked for are worth a word)
    for problem in engine.problems if not args.demo or args.symbols else ():
        print(f"cryptoterm: {problem}", file=sys.stderr)
    for text in watch.unreached(elapsed):
        print(f"cryptoterm: {text}", file=sys.stderr)
    if engine.wait_resolved(0) and not engine.instruments():
        raise CommandError("none of the requested symbols is listed on "
                           f"{', '.join(venues)}: nothing to record")
    if capture.frames == 0:
        raise CommandError(f"nothing recorded to {args.raw} in {elapsed:.0f}s: no market data "
                           f"arrived from {', '.join(venues)}"
                           + (f" (only {capture.lines} REST line(s))" if capture.lines else ""))
    return 0


class FeedWatch:
    """Remembers, per feed, whether it ever got data and the last error it showed: a
    feed's error clears on every retry, so the end of the run alone would miss it."""

    def __init__(self, host_of: Callable[[str], str | None] = lambda name: None) -> None:
        self.errors: dict[str, str | None] = {}  # every feed seen, in order
        self.got_data: set[str] = set()
        self._host_of = host_of

    def look(self, healths) -> None:
        for h in healths:
            if h.messages:
                self.got_data.add(h.name)
            if h.error or h.name not in self.errors:
                self.errors[h.name] = h.error or self.errors.get(h.name)

    def unreached(self, elapsed: float) -> list[str]:
        """One plain line per feed that never got data: which venue, which host, why."""
        out = []
        for name, error in self.errors.items():
            if name in self.got_data:
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


def status_line(engine, capture, elapsed: float) -> str:
    healths = engine.health()
    rate = sum(h.msgs_per_sec for h in healths)
    states = ", ".join(f"{h.name} {h.state}" for h in healths)
    unsynced = sum(len(h.unsynced) for h in healths)
    return (f"{elapsed:6.0f}s  {capture.lines:>9,} lines  {capture.bytes / 1e6:7.1f} MB  "
            f"{rate:7,.0f} msg/s  {states}" + (f"  {unsynced} UNSYNCED" if unsynced else ""))
