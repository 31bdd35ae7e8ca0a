"""``cryptoterm backtest STRATEGY.py VENUE SYMBOL INTERVAL --since WHEN``: run a strategy file
over stored history with the paper account's fill model; ``--grid`` sweeps its parameters
over all cores."""

from __future__ import annotations

import argparse
import shutil
import sys
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from app.commands.base import CommandError
from app.commands.storage_opts import (add_db_option, add_range_args, check_interval, check_symbol,
                                       check_venue, fmt_ms, open_db, parse_range)
from app.config import AppConfig
from app.market.klines import INTERVAL_MS
from app.trading.numbers import NumberError, parse_number

EXAMPLE = "sma_crossover.py"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "backtest", help="run a strategy file over recorded history",
        description="Run STRATEGY.py (a plain Python file with a class Strategy; "
                    "`cryptoterm backtest --example` prints one) over the stored klines of one "
                    "instrument. Orders fill by the paper account's rules: market orders at the "
                    "next bar's open plus slippage, limits when a later bar trades through them, "
                    "stops when a later bar reaches them.")
    p.add_argument("strategy", metavar="STRATEGY.py", nargs="?", help="the strategy file")
    p.add_argument("venue", metavar="VENUE", nargs="?", help="binance, okx, bybit or coinbase")
    p.add_argument("symbol", metavar="SYMBOL", nargs="?",
                   help="BTC/USDT (spot) or BTC/USDT:USDT (perpetual)")
    p.add_argument("interval", metavar="INTERVAL", nargs="?", help=f"one of {' '.join(INTERVAL_MS)}")
    add_range_args(p)
    p.add_argument("--example", action="store_true",
                   help="print the example SMA-crossover strategy (copy it to start your own)")
    p.add_argument("--cash", default="10000", metavar="AMOUNT",
                   help="starting cash in the quote currency (default 10000)")
    p.add_argument("--fee-bps", metavar="BPS",
                   help="one fee rate for maker and taker, in basis points (default: the venue's "
                        "base-tier schedule)")
    slip = p.add_mutually_exclusive_group()
    slip.add_argument("--slippage-bps", default="0", metavar="BPS",
                      help="market and stop fills this many basis points worse (default 0)")
    slip.add_argument("--slippage", choices=("volume",),
                      help="volume: slippage proportional to the order's share of the bar's "
                           "volume (all of it costs the bar's whole range)")
    p.add_argument("--leverage", type=int, default=1, metavar="N", help="perpetuals: leverage (default 1)")
    p.add_argument("--funding-rate", default="0.0001", metavar="RATE",
                   help="perpetuals: the flat 8 h funding rate used when none is stored "
                        "(default 0.0001 = 0.01 %%)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override one of the strategy's params (repeatable)")
    p.add_argument("--grid", nargs="+", default=[], metavar="NAME=LO:HI:STEP",
                   help="sweep params over every combination (LO..HI inclusive, or a,b,c), "
                        "one process per core")
    p.add_argument("--sort", default="return_pct", metavar="METRIC",
                   help="the grid's order: return_pct (default), sharpe, max_drawdown_pct, "
                        "final_equity, trades, fees, exposure_pct, ...")
    p.add_argument("--workers", type=int, metavar="N", help="grid processes (default: all cores)")
    p.add_argument("--report", choices=("text", "json"), default="text",
                   help="text (figures, equity curve, drawdown, trades) or one JSON object")
    p.add_argument("--trades-csv", metavar="FILE", help="write every fill to FILE as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_db_option(p)
    p.set_defaults(func=run)


def _decimal(text: str, flag: str, *, positive: bool = False) -> Decimal:
    try:
        value = parse_number(text)
    except NumberError as exc:
        raise CommandError(f"{flag} {text}: {exc.message}") from None
    if positive and value <= 0:
        raise CommandError(f"{flag} {text}: must be above zero")
    return value


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.backtest import strategy as strategy_mod
    from app.backtest.bars import Bars
    from app.backtest.data import load_market
    from app.backtest.engine import Settings
    from app.backtest.grid import parse_grid, parse_params
    from app.backtest.metrics import METRICS
    from app.trading.fill_model import PaperFees, venue_fees
    from app.trading.validation import fmt

    if args.example:
        sys.stdout.write((files("app.backtest.examples") / EXAMPLE).read_text(encoding="utf-8"))
        return 0
    missing = [n for n in ("strategy", "venue", "symbol", "interval") if getattr(args, n) is None]
    if missing:
        raise CommandError("backtest: give STRATEGY.py VENUE SYMBOL INTERVAL --since WHEN "
                           f"(missing: {' '.join(m.upper() for m in missing)})")
    if args.since is None:
        raise CommandError("backtest: --since is required (the first bar to test)")
    venue = check_venue(args.venue)
    market, _, _ = check_symbol(args.symbol)
    interval = check_interval(args.interval)
    since, until = parse_range(args)
    cash = _decimal(args.cash, "--cash", positive=True)
    slippage_bps = _decimal(args.slippage_bps, "--slippage-bps")
    funding_rate = _decimal(args.funding_rate.lstrip("-"), "--funding-rate")
    if args.funding_rate.strip().startswith("-"):
        funding_rate = -funding_rate
    if args.leverage < 1:
        raise CommandError(f"--leverage {args.leverage}: must be at least 1")
    if market == "spot" and args.leverage != 1:
        raise CommandError("--leverage: spot has no leverage (use a perpetual, e.g. BTC/USDT:USDT)")
    if args.sort not in METRICS:
        raise CommandError(f"--sort {args.sort}: one of {', '.join(METRICS)}")
    if args.grid and args.trades_csv:
        raise CommandError("--trades-csv: one run's trades; not with --grid")
    fees = (PaperFees.flat(_decimal(args.fee_bps, "--fee-bps") / 10_000)
            if args.fee_bps is not None else venue_fees(venue))

    loaded = strategy_mod.load(args.strategy)  # StrategyError: one line, the file's own line
    params = parse_params(args.param, loaded.params)
    grid = parse_grid(args.grid, loaded.params)

    engine = open_db(args, cfg)
    try:
        data = load_market(engine, venue, args.symbol, interval, since, until,
                           trades=loaded.has("on_trade"), funding_rate=funding_rate)
    finally:
        engine.dispose()
    if data.rolled_up:
        print(f"cryptoterm: note: no {interval} klines stored; rolled up from 1m", file=sys.stderr)
    if data.stored.tick_size is None or data.stored.lot_size is None:
        print(f"cryptoterm: note: {data.stored.symbol}'s tick and lot sizes were never stored; "
              f"orders are checked against tick {fmt(data.rules.tick)} (the finest step the "
              f"prices use) and lot {fmt(data.rules.lot)}", file=sys.stderr)
    if loaded.has("on_trade"):
        if data.ticks is None:
            print("cryptoterm: note: no trades stored in the range; on_trade is not called "
                  "(bar mode)", file=sys.stderr)
        else:
            print(f"cryptoterm: note: tick mode, {len(data.ticks):,} stored trades",
                  file=sys.stderr)
    if data.rules.is_perp and args.leverage > data.rules.max_leverage:
        raise CommandError(f"--leverage {args.leverage}: at most {data.rules.max_leverage}x "
                           f"on {data.stored.symbol}")
    settings = Settings(cash=cash, fees=fees, slippage_bps=slippage_bps,
                        slippage_volume=args.slippage == "volume", leverage=args.leverage,
                        funding=data.funding)
    bars: Bars = data.bars
    title = (f"{Path(args.strategy).name} · {data.stored.label} · {interval} · "
             f"{fmt_ms(bars.open_time[0])} – {fmt_ms(bars.open_time[-1] + bars.step)}")
    if data.rules.is_perp:
        title += (f" · funding {'recorded' if data.funding_recorded else 'flat '}"
                  + ("" if data.funding_recorded else f"{funding_rate} / 8 h"))
    if grid:
        return _run_grid(args, loaded, data, settings, params, grid, title)
    return _run_single(args, loaded, data, settings, params, title)


def _progress(args: argparse.Namespace, label: str, unit: str):
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = Console(stderr=True)
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                    disable=args.quiet or not console.is_terminal, transient=True)


def _run_single(args, loaded, data, settings, params, title) -> int:
    from app.backtest.engine import Backtest
    from app.backtest.metrics import summarize
    from app.backtest.report import write_text, write_trades_csv

    with _progress(args, "backtest", "bars") as bar:
        task = bar.add_task("bars", total=len(data.bars))
        result = Backtest(loaded, data.bars, data.rules, settings, params, data.ticks,
                          progress=lambda i, n: bar.update(task, completed=i)).run()
    metrics = summarize(result)
    if args.trades_csv:
        with open(args.trades_csv, "w", newline="", encoding="utf-8") as fh:
            count = write_trades_csv(result, fh)
        print(f"cryptoterm: {count} trades written to {args.trades_csv}", file=sys.stderr)
    if args.report == "json":
        out = {**metrics, "strategy": args.strategy, "venue": data.stored.venue,
               "symbol": data.stored.symbol, "interval": args.interval,
               "start": data.bars.open_time[0], "end": data.bars.open_time[-1] + data.bars.step,
               "start_cash": float(settings.cash)}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        width = min(120, max(60, shutil.get_terminal_size((100, 30)).columns - 2))
        write_text(result, metrics, sys.stdout, title, width=width)
    return 0


def _run_grid(args, loaded, data, settings, params, grid, title) -> int:
    from rich.console import Console

    from app.backtest.grid import run_grid, sort_rows
    from app.backtest.report import grid_table

    runs = 1
    for values in grid.values():
        runs *= len(values)
    with _progress(args, "grid", "runs") as bar:
        task = bar.add_task("runs", total=runs)
        rows = run_grid(loaded, data.bars, data.rules, settings, grid, params, data.ticks,
                        workers=args.workers, progress=lambda i, n: bar.update(task, completed=i))
    rows = sort_rows(rows, args.sort)
    if args.report == "json":
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    console = Console(width=max(100, shutil.get_terminal_size((120, 30)).columns))
    console.print(title, highlight=False)
    console.print(grid_table(rows, list(grid)))
    failed = [r for r in rows if "error" in r]
    if failed:
        print(f"cryptoterm: {len(failed)} of {len(rows)} runs failed; first: {failed[0]['error']}",
              file=sys.stderr)
    best: dict[str, Any] = next((r for r in rows if "error" not in r), {})
    if best:
        print(f"best by {args.sort}: " + " ".join(f"--param {k}={v}" for k, v in best["params"].items()
                                                  if k in grid))
    return 0
