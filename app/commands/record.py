"""`cryptoterm record --raw FILE`: a headless session that writes the raw capture."""

from __future__ import annotations

import argparse
import sys
import time

from app.commands.base import CommandError
from app.commands.tui import check_symbol
from app.config import VENUES, AppConfig

SUPPORTED_VENUES = VENUES


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.feeds.capture import CaptureWriter
    from app.feeds.engine import Engine

    venues = [v.strip().lower() for v in args.venues.split(",") if v.strip()]
    for v in venues:
        if v not in SUPPORTED_VENUES:
            raise CommandError(f"--venues: unknown venue {v!r} (available: {', '.join(SUPPORTED_VENUES)})")
    if args.duration is not None and args.duration <= 0:
        raise CommandError(f"--duration {args.duration:g}: must be above 0")
    symbols = cfg.symbols
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            check_symbol(s, "--symbols")
    world = None
    if args.demo:
        from app.sim.world import DemoWorld

        world = DemoWorld(seed=7, rate=40.0).start()
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
    start = time.monotonic()
    interactive = sys.stderr.isatty()
    try:
        while args.duration is None or time.monotonic() - start < args.duration:
            time.sleep(1.0 if args.duration is None else min(1.0, args.duration / 10))
            line = status_line(engine, capture, time.monotonic() - start)
            if interactive:
                print("\r" + line.ljust(110)[:110], end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
        capture.close()
        if world is not None:
            world.stop()
    if interactive:
        print(file=sys.stderr)
    print(f"recorded {capture.lines} lines ({capture.bytes / 1e6:.1f} MB) to {args.raw}", file=sys.stderr)
    for problem in engine.problems:
        print(f"cryptoterm: {problem}", file=sys.stderr)
    return 0


def status_line(engine, capture, elapsed: float) -> str:
    healths = engine.health()
    rate = sum(h.msgs_per_sec for h in healths)
    states = ", ".join(f"{h.name} {h.state}" for h in healths)
    unsynced = sum(len(h.unsynced) for h in healths)
    return (f"{elapsed:6.0f}s  {capture.lines:>9,} lines  {capture.bytes / 1e6:7.1f} MB  "
            f"{rate:7,.0f} msg/s  {states}" + (f"  {unsynced} UNSYNCED" if unsynced else ""))
