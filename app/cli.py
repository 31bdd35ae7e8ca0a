"""The ``cryptoterm`` command line. Every user-facing failure is one clear line on
stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.config import THEMES, AppConfig, ConfigError, Endpoint, load_config
from app.logs import setup_logging
from app.market.instruments import parse_display_symbol

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad command-line input; the message is shown as is."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cryptoterm",
        description="Watch and trade crypto across exchanges from the terminal.",
        epilog="With no options: live Binance public market data (no keys needed). "
               "--demo: a built-in simulated market, no internet needed.")
    p.add_argument("--version", action="version", version=f"cryptoterm {__version__}")
    p.add_argument("--demo", action="store_true",
                   help="run on the built-in simulated market (no internet, no keys)")
    p.add_argument("--symbol", metavar="SYMBOL",
                   help="instrument to open first, e.g. BTC/USDT or BTC/USDT:USDT")
    p.add_argument("--symbols", metavar="LIST",
                   help="comma-separated instruments to stream (default: from config)")
    p.add_argument("--config", metavar="PATH", help="config file (TOML)")
    p.add_argument("--data-dir", metavar="PATH", help="where logs and recordings go")
    p.add_argument("--theme", choices=THEMES, help="colour theme")
    p.add_argument("--fps", type=float, metavar="N", help="UI frames per second (1-60)")
    p.add_argument("--seed", type=int, default=7, help="demo market seed (default 7)")
    p.add_argument("--rate", type=float, default=None, metavar="N",
                   help="demo market events per second per symbol")
    p.add_argument("--print-config", action="store_true",
                   help="print an example config file and where it is read from, then exit")
    return p


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()

    def error(message: str) -> None:  # argparse's own errors are already one line
        raise UsageError(message)

    parser.error = error  # type: ignore[method-assign]
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace) -> AppConfig:
    cfg = load_config(args.config, args.data_dir)
    if args.theme:
        cfg.theme = args.theme
    if args.fps is not None:
        if not 1 <= args.fps <= 60:
            raise UsageError(f"--fps {args.fps:g}: must be from 1 to 60")
        cfg.fps = args.fps
    if args.symbols:
        symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
        for s in symbols:
            _check_symbol(s, "--symbols")
        cfg.symbols = symbols
    if args.symbol:
        _check_symbol(args.symbol, "--symbol")
    if args.rate is not None and not 0 < args.rate <= 100_000:
        raise UsageError(f"--rate {args.rate:g}: must be above 0 and at most 100000")
    return cfg


def _check_symbol(text: str, flag: str) -> None:
    try:
        parse_display_symbol(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        if args.print_config:
            from app.config import EXAMPLE_CONFIG, default_paths
            print(f"# read from: {args.config or default_paths()[0]}")
            print(EXAMPLE_CONFIG, end="")
            return 0
        cfg = resolve(args)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        setup_logging(cfg.log_path)
    except (ConfigError, UsageError) as exc:
        print(f"cryptoterm: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cryptoterm: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    try:
        return run_tui(cfg, args)
    except KeyboardInterrupt:
        return 130


def run_tui(cfg: AppConfig, args: argparse.Namespace) -> int:
    from app.feeds.engine import Engine
    from app.ui.app import CryptotermApp

    sim = None
    symbols = cfg.symbols
    if args.demo:
        from app.sim.binance_server import SimThread, default_demo_symbols

        demo = default_demo_symbols()
        sim = SimThread(demo, seed=args.seed, rate=args.rate or 40.0)
        sim.start()
        # the demo goes through exactly the live code path: only the endpoints differ
        for key in ("binance", "binanceusdm"):
            cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
        symbols = [_display(s) for s in demo]
    engine = Engine(cfg, symbols)
    first = _initial_id(engine, args.symbol)
    if args.symbol and first is None:
        engine.stop(0)
        if sim is not None:
            sim.stop()
        print(f"cryptoterm: error: --symbol {args.symbol}: not among the streamed symbols "
              f"({', '.join(symbols)})", file=sys.stderr)
        return 2
    engine.start()
    log.info("starting UI (%s)", "demo" if args.demo else "live data")
    try:
        app = CryptotermApp(engine, instrument_id=first, theme=cfg.theme, fps=cfg.fps,
                            mode_label="DEMO" if args.demo else "LIVE DATA")
        app.run()
    finally:
        engine.stop()
        if sim is not None:
            sim.stop()
    for problem in engine.problems:
        print(f"cryptoterm: {problem}", file=sys.stderr)
    return 0


def _display(sym) -> str:
    return f"{sym.base}/{sym.quote}" if sym.market == "spot" else f"{sym.base}/{sym.quote}:{sym.quote}"


def _initial_id(engine, symbol: str | None) -> str | None:
    instruments = engine.instruments()
    if not symbol:
        return instruments[0].id if instruments else None
    market, base, quote = parse_display_symbol(symbol)
    for inst in instruments:
        if (inst.market, inst.base, inst.quote) == (market, base, quote):
            return inst.id
    return None


if __name__ == "__main__":
    sys.exit(main())
