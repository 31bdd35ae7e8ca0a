"""The interactive terminal UI (the default command)."""

from __future__ import annotations

import argparse
import logging
import sys

from app.commands.base import CommandError
from app.config import THEMES, AppConfig, Endpoint
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
    if args.rate is not None and not 0 < args.rate <= 100_000:
        raise CommandError(f"--rate {args.rate:g}: must be above 0 and at most 100000")


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    apply_options(args, cfg)
    from app.feeds.engine import Engine
    from app.ui.app import CryptotermApp

    sim = None
    symbols = cfg.symbols
    if args.demo:
        from app.sim.binance_server import SimThread
        from app.sim.market import default_demo_symbols

        demo = default_demo_symbols()
        sim = SimThread(demo, seed=args.seed, rate=args.rate or 40.0).start()
        # the demo takes exactly the live code path: only the endpoints differ
        for key in ("binance", "binanceusdm"):
            cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
        symbols = [f"{s.base}/{s.quote}" if s.market == "spot" else f"{s.base}/{s.quote}:{s.quote}"
                   for s in demo]
    engine = Engine(cfg, symbols)
    first = _initial_id(engine, args.symbol)
    if args.symbol and first is None:
        if sim is not None:
            sim.stop()
        raise CommandError(f"--symbol {args.symbol}: not among the streamed symbols ({', '.join(symbols)})")
    engine.start()
    log.info("starting UI (%s)", "demo" if args.demo else "live data")
    try:
        CryptotermApp(engine, instrument_id=first, theme=cfg.theme, fps=cfg.fps,
                      mode_label="DEMO" if args.demo else "LIVE DATA").run()
    finally:
        engine.stop()
        if sim is not None:
            sim.stop()
    for problem in engine.problems:
        print(f"cryptoterm: {problem}", file=sys.stderr)
    return 0


def _initial_id(engine, symbol: str | None) -> str | None:
    instruments = engine.instruments()
    if not symbol:
        return instruments[0].id if instruments else None
    market, base, quote = parse_display_symbol(symbol)
    for inst in instruments:
        if (inst.market, inst.base, inst.quote) == (market, base, quote):
            return inst.id
    return None
