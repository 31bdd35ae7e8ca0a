"""The ``cryptoterm`` command line. Every user-facing failure (a ``CryptotermError``) is
one clear line on stderr and exit status 2, never a traceback; so is anything unexpected,
whose traceback goes to the log file instead."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__
from app.commands import command_modules
from app.commands.base import CommandError
from app.commands.tui import add_options
from app.commands.tui import run as run_tui
from app.config import load_config
from app.errors import CryptotermError
from app.logs import setup_logging

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit; we want one line
        sub = self.prog.removeprefix("cryptoterm").strip()
        raise CommandError(f"{sub}: {message}" if sub else message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cryptoterm",
        description="Watch and trade crypto across exchanges from the terminal.",
        epilog="With no command: the terminal UI on live Binance public market data (no keys "
               "needed). --demo: a built-in simulated market, no internet needed.")
    p.add_argument("--version", action="version", version=f"cryptoterm {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (TOML)")
    p.add_argument("--data-dir", metavar="PATH", help="where logs and recordings go")
    p.add_argument("--print-config", action="store_true",
                   help="print an example config file and where it is read from, then exit")
    add_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in command_modules():
        module.register(sub)
    p.set_defaults(func=run_tui)
    return p


def error_line(exc: CryptotermError) -> str:
    """How the CLI prints any user-facing error: one line, the message only."""
    return f"cryptoterm: error: {exc.message}"


def main(argv: Sequence[str] | None = None) -> int:
    # The engine thread wakes on every socket event; with the default 5 ms GIL switch
    # interval each wake-up can wait a full slice behind the UI thread's rendering.
    sys.setswitchinterval(0.001)
    log_path: Path | None = None  # set once logging writes to the file
    try:
        args = build_parser().parse_args(argv)
        if args.print_config:
            from app.config import EXAMPLE_CONFIG, default_paths
            print(f"# read from: {args.config or default_paths()[0]}")
            print(EXAMPLE_CONFIG, end="")
            return 0
        cfg = load_config(args.config, args.data_dir)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        setup_logging(cfg.log_path)
        log_path = cfg.log_path
        for warning in cfg.warnings:
            log.warning("config: %s", warning)
            if args.func is not run_tui:  # the UI shows them as notifications instead
                print(f"cryptoterm: warning: {warning}", file=sys.stderr)
        return args.func(args, cfg)
    except CryptotermError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cryptoterm replay ... | head`: the reader had enough
        # (before OSError, which it is one of); the interpreter's last flush of stdout
        # must not find the pipe either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"cryptoterm: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a defect: one line on screen, the traceback in the log
        if log_path is not None:
            log.exception("unexpected error")
        where = f" (details in {log_path})" if log_path is not None else ""
        print(f"cryptoterm: error: unexpected {type(exc).__name__}: {exc}".splitlines()[0][:300]
              + where, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
