"""The interactive terminal UI (the default command)."""

from __future__ import annotations

import argparse
import logging
import sys

from app.commands.base import CommandError
from app.config import MAX_WATCH_TOP, THEMES, AppConfig
from app.market.instruments import parse_display_symbol

log = logging.getLogger(__name__)


def add_options(p: argparse.ArgumentParser) -> None:
    """Options of the UI, accepted both bare (`cryptoterm --demo`) and as `cryptoterm ui`."""
    p.add_argument("--demo", action="store_true",
                   help="run on the built-in simulated market (no internet, no keys)")
    p.add_argument("--symbol", metavar="SYMBOL",
                   help="instrument to open first, e.g. BTC/USDT or BTC/USDT:USDT")
    p.add_argument("--symbols", metavar="LIST",
                   help="comma-separated instruments to stream (default: from config)")
    p.add_argument("--theme", choices=THEMES, help="colour theme")
    p.add_argument("--fps", type=float, metavar="N", help="UI frames per second (1-60)")
    p.add_argument("--seed", type=int, default=7, help="demo market seed (default 7)")
    p.add_argument("--rate", type=float, default=None, metavar="N",
                   help="demo market events per second per symbol (default 40)")
    p.add_argument("--universe", type=int, metavar="N", default=None,
                   help="with --demo: list the N most traded assets on every simulated venue, "
                        "so the watchlist (key w) has them all; books stay on the demo's few")
    p.add_argument("--top", type=int, metavar="N", default=None,
                   help="books for the N most traded USDT markets of each venue; the watchlist "
                        "(key w) streams every other market as tickers only (default: config "
                        "[app] watch_top)")
    p.add_argument("--serve", action="store_true",
                   help="serve the local data API from this session too (as [api] enabled = "
                        "true; address and token from [api])")
    p.add_argument("--db", metavar="URL_OR_PATH",
                   help="history store for recording and the history screen (default: "
                        "cryptoterm.db in the data dir; or postgresql+psycopg://...)")


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", help="the interactive terminal UI (the default)")
    add_options(p)
    p.set_defaults(func=run)


def check_symbol(text: str, flag: str) -> None:
    try:
        parse_display_symbol(text)
    except ValueError as exc:
        raise CommandError(f"{flag}: {exc}") from None


def apply_options(args: argparse.Namespace, cfg: AppConfig) -> None:
    if args.theme:
        cfg.theme = args.theme
    if args.fps is not None:
        if not 1 <= args.fps <= 60:
            raise CommandError(f"--fps {args.fps:g}: must be from 1 to 60")
        cfg.fps = args.fps
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            check_symbol(s, "--symbols")
        cfg.symbols = symbols
    if args.symbol:
        check_symbol(args.symbol, "--symbol")
    top = getattr(args, "top", None)
    if top is not None:
        if not 0 <= top <= MAX_WATCH_TOP:
            raise CommandError(f"--top {top}: must be from 0 to {MAX_WATCH_TOP}")
        cfg.watch_top = top
    if args.rate is not None and not 0 < args.rate <= 100_000:
        raise CommandError(f"--rate {args.rate:g}: must be above 0 and at most 100000")
    universe = getattr(args, "universe", None)
    if universe is not None:
        from app.sim.universe import MAX_UNIVERSE

        if not args.demo:
            raise CommandError("--universe shapes the demo market: use with --demo")
        if not 1 <= universe <= MAX_UNIVERSE:
            raise CommandError(f"--universe {universe}: must be from 1 to {MAX_UNIVERSE}")


def build(args: argparse.Namespace, cfg: AppConfig):
    """(app, engine, demo world or None): the session ``run`` runs, its engine started
    (tests drive the app with Pilot). Whoever calls it stops the engine and the world."""
    apply_options(args, cfg)
    from app.feeds.engine import Engine
    from app.ui.app import CryptotermApp
    from app.ui.watchlist_screen import WatchSettings

    world = None
    symbols = cfg.symbols
    if args.demo:
        from app.sim.world import DEMO_SYMBOLS, DemoWorld

        # the demo takes exactly the live code path: only the endpoints differ
        universe = getattr(args, "universe", None)
        world = DemoWorld(seed=args.seed, rate=args.rate or 40.0, universe=universe).start()
        world.configure(cfg)
        # the demo's own list unless the user named symbols: those are looked up on the
        # simulated venues like on real ones (and reported when not listed). A universe
        # lists many more; books for all of them would be a recorder's load, so the
        # demo's few (those it lists) get books and the watchlist shows the rest as tickers
        listed = world.symbols()
        symbols = cfg.symbols if args.symbols else (
            listed if universe is None else
            [s for s in DEMO_SYMBOLS if s in listed] or listed[:len(DEMO_SYMBOLS)])
    engine = Engine(cfg, symbols, top=cfg.watch_top)
    _enable_recording(engine, cfg, args)
    _attach_trading(engine, cfg, args, world)
    first = _initial_id(engine, args.symbol)
    if args.symbol and first is None:
        if world is not None:
            world.stop()
        raise CommandError(f"--symbol {args.symbol}: not among the streamed symbols ({', '.join(symbols)})")
    engine.prioritize(first)
    engine.start()
    server = None
    try:
        server = _start_api(engine, cfg, args)
        app = CryptotermApp(engine, instrument_id=first, theme=cfg.theme, fps=cfg.fps,
                            mode_label="DEMO DATA" if args.demo else "LIVE DATA",
                            notices=[w.removeprefix(f"{cfg.config_path}: ") for w in cfg.warnings],
                            notices_title=f"{cfg.config_path}: ignored",
                            api_address=server.address if server is not None else "")
    except BaseException:
        if server is not None:
            server.stop()
        engine.stop()
        if world is not None:
            world.stop()
        raise
    app.alert_bps, app.usd_family = cfg.alert_bps, cfg.usd_family
    from app.alerts.runtime import start_alerts

    app.alerts = start_alerts(engine, cfg)  # stopped by ``run`` (or whoever runs the app)
    app.watch_settings = WatchSettings(list(cfg.favourites), cfg.reduced_motion, cfg.config_path)
    if server is not None:
        app.api_server = server
        if server.token_generated:  # shown once, in this toast only: never logged or stored
            app.call_later(app.notify, f"API token: {server.token}\n(send as Authorization: "
                           "Bearer <token>; set [api] token to keep one)", title="data API",
                           timeout=60, markup=False)
    return app, engine, world


def _start_api(engine, cfg: AppConfig, args: argparse.Namespace):
    """The data API over this session's engine when [api] enabled or --serve, else None."""
    if not (cfg.api.enabled or getattr(args, "serve", False)):
        return None
    from app.api.server import ApiServer

    server = ApiServer(engine, cfg.api.host, cfg.api.port, token=cfg.api.token)
    server.start()  # ApiStartError: the CLI prints it (the port is taken, ...)
    return server


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    app, engine, world = build(args, cfg)
    log.info("starting UI (%s)", "demo" if args.demo else "live data")
    try:
        app.run()
    finally:
        if app.alerts is not None:
            app.alerts.stop()
        if app.api_server is not None:
            app.api_server.stop()
        engine.stop()
        if world is not None:
            world.stop()
    # the demo's simulated venues list different coins on purpose; only symbols the user
    # asked for need to be reported missing
    for problem in engine.problems if not args.demo or args.symbols else ():
        print(f"cryptoterm: {problem}", file=sys.stderr)
    return 0


def _attach_trading(engine, cfg: AppConfig, args: argparse.Namespace, world) -> None:
    """Orders go to PAPER unless the config picks a testnet/demo (or confirmed live) account."""
    from app.trading.errors import TradingError
    from app.trading.runtime import build_trading, confirm_live_in_terminal

    try:
        engine.attach(build_trading(cfg, demo=args.demo, confirm_live=confirm_live_in_terminal))
    except TradingError:  # a CryptotermError: the CLI prints its message
        if world is not None:
            world.stop()
        raise


def _enable_recording(engine, cfg: AppConfig, args: argparse.Namespace) -> None:
    """The store opens on first use (record toggle or history screen), not at startup."""
    from pathlib import Path

    def open_store():
        from storage.db import open_database

        return open_database(getattr(args, "db", None), Path(cfg.data_dir))  # or StorageError

    engine.recording_control.database_factory = open_store
    engine.recording_control.recorder_options.update(
        book_interval=cfg.book_snapshot_interval, book_depth=cfg.book_snapshot_depth)


def _initial_id(engine, symbol: str | None) -> str | None:
    instruments = engine.instruments()
    if not symbol:
        return instruments[0].id if instruments else None
    market, base, quote = parse_display_symbol(symbol)
    for inst in instruments:
        if (inst.market, inst.base, inst.quote) == (market, base, quote):
            return inst.id
    return None
