"""Subcommands of ``cryptoterm``: one module each, with ``register(subparsers)`` adding
its parser and setting ``func`` to a ``run(args, cfg) -> int``.

A command reports bad input by raising ``app.commands.base.CommandError`` (one clear
line, exit 2); nothing user-facing ever prints a traceback.
"""

from __future__ import annotations

from types import ModuleType


def command_modules() -> list[ModuleType]:
    # imported lazily so `cryptoterm --demo` does not pay for every command's imports
    from app.commands import backfill, backtest, gaps, history, keys, record, replay, serve, tui

    return [tui, record, replay, history, backfill, gaps, keys, backtest, serve]
