"""Loading a user's strategy file and reporting its faults in its own terms.

A strategy is a plain Python file with a ``class Strategy`` (see the README); nothing to
install or import. Whatever goes wrong in it (a syntax error, an exception in ``on_bar``, an
order the market refuses) becomes a StrategyError naming the file and line of the user's
code: cryptoterm's own frames are not the user's business.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from app.errors import CryptotermError

HOOKS = ("on_start", "on_bar", "on_trade", "on_fill")


class StrategyError(CryptotermError):
    """A fault of the strategy file; the message starts with ``file:line:``."""

    default_title = "Strategy"


@dataclass(frozen=True, slots=True)
class LoadedStrategy:
    path: str  # as compiled: the name every frame of the user's code carries
    source: str
    cls: type
    params: dict[str, Any]

    def make(self, params: dict[str, Any]) -> Any:
        try:
            strategy = self.cls()
        except Exception as exc:
            raise fault(self.path, exc, "creating Strategy()") from None
        strategy.params = params
        return strategy

    def has(self, hook: str) -> bool:
        return callable(getattr(self.cls, hook, None))


def load(path: str | Path) -> LoadedStrategy:
    """Read and run the file; StrategyError when it cannot be a strategy."""
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StrategyError(f"{file}: no such strategy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StrategyError(f"{file}: cannot read it ({exc})") from None
    return load_source(source, str(file))


def load_source(source: str, path: str) -> LoadedStrategy:
    try:
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else path
        raise StrategyError(f"{where}: syntax error: {exc.msg}") from None
    namespace: dict[str, Any] = {"__name__": "cryptoterm_strategy", "__file__": path}
    try:
        exec(code, namespace)  # noqa: S102 - running the user's own strategy is the point
    except Exception as exc:
        raise fault(path, exc, "loading the file") from None
    cls = namespace.get("Strategy")
    if not isinstance(cls, type):
        raise StrategyError(f"{path}: defines no class Strategy (see `cryptoterm backtest "
                            f"--example` for one)")
    if not callable(getattr(cls, "on_bar", None)) and not callable(getattr(cls, "on_trade", None)):
        raise StrategyError(f"{path}: class Strategy has neither on_bar nor on_trade")
    params = getattr(cls, "params", {})
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise StrategyError(f"{path}: Strategy.params must be a dict of names to values")
    return LoadedStrategy(path, source, cls, dict(params))


def user_line(path: str, tb: TracebackType | None) -> int | None:
    """The line of the innermost frame of the strategy file in a traceback."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == path:
            line = lineno
    return line


def fault(path: str, exc: BaseException, doing: str) -> StrategyError:
    """A StrategyError for an exception raised while running the user's code."""
    line = user_line(path, exc.__traceback__)
    where = f"{path}:{line}" if line is not None else path
    text = str(exc)
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return StrategyError(f"{where}: {detail} (while {doing})")


def order_fault(path: str, message: str) -> StrategyError:
    """A StrategyError for an order the market refused, at the line that placed it."""
    line = None
    for frame in traceback.extract_stack():
        if frame.filename == path:
            line = frame.lineno
    where = f"{path}:{line}" if line is not None else path
    return StrategyError(f"{where}: order refused: {message}")
