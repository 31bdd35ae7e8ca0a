"""Strategy parameters from the command line, and the parameter sweep over all cores."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from decimal import Decimal, InvalidOperation
from typing import Any

from app.backtest.bars import Bars, Ticks
from app.backtest.engine import Backtest, Settings
from app.backtest.metrics import LOWER_IS_BETTER, summarize
from app.backtest.strategy import LoadedStrategy, StrategyError, load_source
from app.errors import CryptotermError
from app.trading.validation import MarketRules

MAX_RUNS = 10_000


class ParamError(CryptotermError):
    default_title = "Backtest"


def parse_value(text: str) -> Any:
    """``5`` -> 5, ``0.5`` -> 0.5, ``true``/``false`` -> bool, anything else stays text."""
    raw = text.strip()
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def parse_params(items: list[str], known: dict[str, Any]) -> dict[str, Any]:
    """``--param k=v`` items, each naming one of the strategy's ``params``."""
    out: dict[str, Any] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ParamError(f"--param {item!r}: write NAME=VALUE, e.g. fast=5")
        _check_known(name, known, "--param")
        out[name] = parse_value(value)
    return out


def parse_grid(items: list[str], known: dict[str, Any]) -> dict[str, list[Any]]:
    """``--grid fast=5:50:5`` items: from lo to hi inclusive in steps (or ``a,b,c``)."""
    out: dict[str, list[Any]] = {}
    for item in items:
        name, eq, spec = item.partition("=")
        name = name.strip()
        if not eq or not name:
            raise ParamError(f"--grid {item!r}: write NAME=LO:HI:STEP, e.g. fast=5:50:5")
        _check_known(name, known, "--grid")
        if ":" in spec:
            out[name] = _range(name, spec)
        else:
            out[name] = [parse_value(v) for v in spec.split(",") if v.strip()]
        if not out[name]:
            raise ParamError(f"--grid {item!r}: no values")
    runs = 1
    for values in out.values():
        runs *= len(values)
    if runs > MAX_RUNS:
        raise ParamError(f"--grid: {runs} runs is more than {MAX_RUNS}; use coarser steps")
    return out


def _range(name: str, spec: str) -> list[Any]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ParamError(f"--grid {name}={spec}: write LO:HI:STEP, e.g. 5:50:5")
    try:
        lo, hi, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise ParamError(f"--grid {name}={spec}: LO, HI and STEP must be numbers") from None
    if step <= 0:
        raise ParamError(f"--grid {name}={spec}: STEP must be above zero")
    if lo > hi:
        raise ParamError(f"--grid {name}={spec}: LO is above HI")
    count = int((hi - lo) / step) + 1
    if count > MAX_RUNS:
        raise ParamError(f"--grid {name}={spec}: {count} values is too many")
    whole = all(v == v.to_integral_value() for v in (lo, step))
    return [int(lo + k * step) if whole else float(lo + k * step) for k in range(count)]


def _check_known(name: str, known: dict[str, Any], flag: str) -> None:
    if name not in known:
        listing = ", ".join(known) or "none"
        raise ParamError(f"{flag} {name}: the strategy has no such parameter (its params: {listing})")


def combinations(grid: dict[str, list[Any]]) -> Iterator[dict[str, Any]]:
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        yield dict(zip(names, values))


def sort_rows(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first by ``metric``; failed runs last."""
    worst = float("inf") if metric in LOWER_IS_BETTER else float("-inf")
    reverse = metric not in LOWER_IS_BETTER
    return sorted(rows, key=lambda r: r.get(metric, worst) if "error" not in r else worst,
                  reverse=reverse)


# -- the sweep ------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # one process's copy of the run's inputs (set by _init)


def _init(path: str, source: str, bars: Bars, rules: MarketRules, settings: Settings,
          ticks: Ticks | None) -> None:
    _WORKER.update(loaded=load_source(source, path), bars=bars, rules=rules, settings=settings,
                   ticks=ticks)


def _one(params: dict[str, Any]) -> dict[str, Any]:
    return run_one(_WORKER["loaded"], _WORKER["bars"], _WORKER["rules"], _WORKER["settings"],
                   params, _WORKER["ticks"])


def run_one(loaded: LoadedStrategy, bars: Bars, rules: MarketRules, settings: Settings,
            params: dict[str, Any], ticks: Ticks | None = None) -> dict[str, Any]:
    """One run's figures, or ``{"params":..., "error": message}`` when the strategy failed."""
    try:
        result = Backtest(loaded, bars, rules, settings, params, ticks).run()
    except StrategyError as exc:
        return {"params": {**loaded.params, **params}, "error": exc.message}
    return summarize(result)


def run_grid(loaded: LoadedStrategy, bars: Bars, rules: MarketRules, settings: Settings,
             grid: dict[str, list[Any]], base: dict[str, Any] | None = None,
             ticks: Ticks | None = None, workers: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Every combination of ``grid`` (over ``base`` params), one process per core."""
    runs = [{**(base or {}), **combo} for combo in combinations(grid)]
    total = len(runs)
    workers = max(1, min(workers or os.cpu_count() or 1, total))
    rows: list[dict[str, Any]] = []
    if progress is not None:
        progress(0, total)
    if workers == 1:
        for params in runs:
            rows.append(run_one(loaded, bars, rules, settings, params, ticks))
            if progress is not None:
                progress(len(rows), total)
        return rows
    # spawn, not fork: the caller may be the TUI, with threads a fork would copy mid-step
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                             initargs=(loaded.path, loaded.source, bars, rules, settings,
                                       ticks)) as pool:
        pending: set[Future[dict[str, Any]]] = {pool.submit(_one, p) for p in runs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    rows.append(fut.result())
                if progress is not None:
                    progress(len(rows), total)
        except BaseException:  # ctrl-c (or a cancelled caller): drop the runs not started
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return rows
