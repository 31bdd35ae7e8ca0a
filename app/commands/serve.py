"""`cryptoterm serve`: the engine headless plus the local data API (app.api), and the
recorder with ``--record``. Runs until Ctrl+C."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.commands.base import CommandError
from app.commands.record import FeedWatch, _host_of
from app.commands.storage_opts import add_db_option
from app.commands.tui import check_symbol
from app.config import VENUES, AppConfig


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the local data API (REST + WebSocket), headless")
    p.add_argument("--demo", action="store_true", help="serve the built-in simulated market")
    p.add_argument("--venues", metavar="LIST",
                   help=f"comma-separated venues (available: {', '.join(VENUES)}; default: config)")
    p.add_argument("--symbols", metavar="LIST",
                   help="comma-separated symbols, e.g. BTC/USDT,BTC/USDT:USDT (default: config)")
    add_db_option(p)
    p.add_argument("--host", metavar="ADDRESS",
                   help="address to listen on (default: [api] host, 127.0.0.1); any other "
                        "than the loopback requires a token")
    p.add_argument("--port", type=int, metavar="N", help="port (default: [api] port, 8765)")
    p.add_argument("--record", action="store_true",
                   help="also record everything streamed into the history store")
    p.set_defaults(func=run)


def options(args: argparse.Namespace, cfg: AppConfig) -> tuple[list[str], list[str], str, int]:
    """(venues, symbols, host, port) from the flags over the config; CommandError when bad."""
    venues = list(cfg.venues)
    if args.venues is not None:
        venues = [v.strip().lower() for v in args.venues.split(",") if v.strip()]
        if not venues:
            raise CommandError("--venues: name at least one venue")
        for v in venues:
            if v not in VENUES:
                raise CommandError(f"--venues: unknown venue {v!r} (available: {', '.join(VENUES)})")
    symbols = list(cfg.symbols)
    if args.symbols is not None:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        if not symbols:
            raise CommandError("--symbols: name at least one symbol, e.g. BTC/USDT")
        for s in symbols:
            check_symbol(s, "--symbols")
    host = (args.host if args.host is not None else cfg.api.host).strip()
    if not host:
        raise CommandError("--host: give an address such as 127.0.0.1")
    port = args.port if args.port is not None else cfg.api.port
    if not 0 <= port <= 65535:
        raise CommandError(f"--port {port}: must be from 1 to 65535 (0: any free port)")
    return venues, symbols, host, port


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.api.server import ApiServer
    from app.feeds.engine import Engine

    venues, symbols, host, port = options(args, cfg)
    world = None
    if args.demo:
        from app.sim.world import DemoWorld

        world = DemoWorld(seed=getattr(args, "seed", 7), rate=getattr(args, "rate", None) or 40.0,
                          venues=venues if args.venues is not None else None).start()
        world.configure(cfg)
        venues = world.venues()
        if args.symbols is None:
            symbols = world.symbols()
    engine = Engine(cfg, symbols, venues=venues)
    server = alerts = None
    try:
        db = _open_store(args, cfg, engine)
        engine.start()
        server = ApiServer(engine, host, port, token=cfg.api.token)
        server.start()  # ApiStartError (a CryptotermError): the CLI prints its one line
        print(f"cryptoterm: serving {', '.join(venues)} at {server.url}/api/v1/crypto "
              f"(docs: {server.url}/docs)" + ("; recording to the history store" if db else ""),
              file=sys.stderr, flush=True)
        if server.token_generated:
            # shown once, here only: it is never logged nor stored
            print(f"cryptoterm: API token (send as 'Authorization: Bearer <token>'): {server.token}",
                  file=sys.stderr, flush=True)
        from app.alerts.runtime import start_alerts  # alert rules fire behind the API too

        alerts = start_alerts(engine, cfg, extra=[lambda a: print(
            f"cryptoterm: alert: {a.message}", file=sys.stderr, flush=True)])
        _wait(engine)
    except KeyboardInterrupt:
        pass
    finally:
        watch = FeedWatch(lambda name: _host_of(cfg, name))
        watch.look(engine.health())
        if alerts is not None:
            alerts.stop()
        if server is not None:
            server.stop()
        engine.stop()
        if world is not None:
            world.stop()
    for problem in engine.problems if not args.demo or args.symbols else ():
        print(f"cryptoterm: {problem}", file=sys.stderr)
    return 0


def _open_store(args: argparse.Namespace, cfg: AppConfig, engine) -> object | None:
    """The store the history endpoints read (opened when first asked); with --record it is
    opened now and everything streamed is recorded into it."""
    def open_store():
        from storage.db import open_database

        return open_database(getattr(args, "db", None), Path(cfg.data_dir))  # or StorageError

    engine.recording_control.database_factory = open_store
    engine.recording_control.recorder_options.update(
        book_interval=cfg.book_snapshot_interval, book_depth=cfg.book_snapshot_depth)
    if not args.record:
        return None
    from storage.recorder import Recorder

    db = engine.recording_control.database()
    engine.attach_recorder(Recorder(db, record=None, book_interval=cfg.book_snapshot_interval,
                                    book_depth=cfg.book_snapshot_depth))
    return db


def _wait(engine) -> None:
    while True:
        time.sleep(0.5)
        if engine.wait_resolved(0) and not engine.instruments():
            raise CommandError("none of the requested symbols is listed on the venues: "
                               "nothing to serve")
