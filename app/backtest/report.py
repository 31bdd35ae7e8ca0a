"""A backtest's outcome as text (figures, equity curve and drawdown plotted with plotext,
the trades), as CSV of the trades, and the grid's results table."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, TextIO

from app.backtest.engine import Result, TradeRecord
from app.backtest.metrics import drawdown_pct
from app.trading.validation import fmt

MAX_TRADES_SHOWN = 50
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
CSV_FIELDS = ("time", "ts", "side", "type", "price", "amount", "fee", "fee_asset", "liquidity",
              "realized_pnl", "position_after", "equity_after", "order_id")


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def figures_lines(m: dict[str, Any], quote: str) -> list[str]:
    return [
        f"final equity  {m['final_equity']:,.2f} {quote}    return  {m['return_pct']:+.2f} %    "
        f"max drawdown  {m['max_drawdown_pct']:.2f} %    sharpe  {m['sharpe']:.2f}",
        f"trades  {m['trades']} ({m['round_trips']} closing, {m['win_rate_pct']:.0f} % won)    "
        f"fees  {m['fees']:,.2f} {quote}    funding  {m['funding']:+,.4f} {quote}    "
        f"exposure  {m['exposure_pct']:.1f} %    bars  {m['bars']}"
        + (f"    liquidations  {m['liquidations']}" if m.get("liquidations") else ""),
    ]


def figures_table(m: dict[str, Any], quote: str) -> list[str]:
    """The figures one per line (a narrow panel)."""
    rows = [("final equity", f"{m['final_equity']:,.2f} {quote}"),
            ("return", f"{m['return_pct']:+.2f} %"),
            ("max drawdown", f"{m['max_drawdown_pct']:.2f} %"),
            ("sharpe", f"{m['sharpe']:.2f}"),
            ("trades", f"{m['trades']} ({m['round_trips']} closing, {m['win_rate_pct']:.0f} % won)"),
            ("fees", f"{m['fees']:,.2f} {quote}"),
            ("funding", f"{m['funding']:+,.4f} {quote}"),
            ("exposure", f"{m['exposure_pct']:.1f} %"),
            ("bars", f"{m['bars']:,}")]
    if m.get("liquidations"):
        rows.append(("liquidations", str(m["liquidations"])))
    return [f"{k:<13} {v}" for k, v in rows]


def downsample(xs: list[int], ys: list[float], width: int) -> tuple[list[int], list[float]]:
    """At most ~2 points per column, keeping each bucket's extreme (a drawdown stays visible)."""
    n = len(ys)
    if n <= width * 2:
        return xs, ys
    per = n / (width * 2)
    ox: list[int] = []
    oy: list[float] = []
    k = 0.0
    while int(k) < n:
        lo, hi = int(k), min(n, int(k + per) or 1)
        seg = ys[lo:hi]
        j = lo + min(range(len(seg)), key=seg.__getitem__)
        ox.append(xs[j])
        oy.append(ys[j])
        k += per
    return ox, oy


def plot(result: Result, width: int = 100, height: int = 14) -> str:
    """The equity curve and the drawdown below it, as terminal text."""
    import plotext as plt

    if not result.equity:
        return ""
    dd = [-d for d in drawdown_pct(result.equity)]
    out = []
    for title, ys in ((f"equity ({result.rules.quote})", result.equity), ("drawdown %", dd)):
        xs, ys2 = downsample(result.open_time, ys, width)
        plt.clear_figure()
        plt.plot_size(width, height if ys is result.equity else max(6, height // 2))
        plt.theme("clear")
        plt.plot([x / 1000 for x in xs], ys2, marker="braille")
        plt.xaxes(True, False)
        plt.yaxes(True, False)
        span = (xs[-1] - xs[0]) / 1000 if len(xs) > 1 else 0
        plt.date_form("d/m/Y H:M" if span < 3 * 86400 else "d/m/Y", "d/m/Y H:M:S")
        ticks = [xs[int(i * (len(xs) - 1) / 3)] / 1000 for i in range(4)] if len(xs) > 1 else []
        if ticks:
            plt.xticks(ticks, [when(int(t * 1000))[:10 if span >= 3 * 86400 else 16]
                               for t in ticks])
        out.append(f"{title}\n" + _ANSI.sub("", plt.build()))
    plt.clear_figure()
    return "\n".join(out)


def trade_rows(trades: list[TradeRecord]) -> list[tuple[str, ...]]:
    return [(when(t.fill.ts), t.fill.side, t.order_type, fmt(t.fill.price), fmt(t.fill.amount),
             _fee(t.fill.fee), f"{t.realized_pnl:+.2f}" if t.realized_pnl else "",
             fmt(t.position_after)) for t in trades]


def write_text(result: Result, m: dict[str, Any], out: TextIO, title: str, *,
               width: int = 100, chart: bool = True) -> None:
    out.write(title + "\n")
    if result.params:
        out.write("params  " + "  ".join(f"{k}={v}" for k, v in result.params.items()) + "\n")
    for line in figures_lines(m, result.rules.quote):
        out.write(line + "\n")
    if chart and result.equity:
        out.write(plot(result, width=width) + "\n")
    out.write(f"\ntrades ({len(result.trades)})\n")
    header = ("time (UTC)", "side", "type", "price", "amount", "fee", "pnl", "position")
    shown = result.trades[-MAX_TRADES_SHOWN:]
    rows = trade_rows(shown)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths))).rstrip() + "\n")
    if len(result.trades) > len(shown):
        out.write(f"(the last {len(shown)} of {len(result.trades)}; --trades-csv FILE has them all)\n")
    rejected = [o for o in result.orders if o.status == "rejected"]
    if rejected:
        out.write(f"\n{len(rejected)} order(s) rejected at fill time, e.g. {when(rejected[0].updated_ts)}: "
                  f"{rejected[0].message}\n")


def _fee(fee: Decimal) -> str:
    """Four decimals, or four significant digits when smaller (the CSV has them exact)."""
    if fee == 0:
        return "0"
    return f"{fee:.4f}" if abs(fee) >= 1 else f"{float(fee):.4g}"


def write_trades_csv(result: Result, out: TextIO) -> int:
    w = csv.writer(out)
    w.writerow(CSV_FIELDS)
    for t in result.trades:
        f = t.fill
        w.writerow((when(f.ts), f.ts, f.side, t.order_type, fmt(f.price), fmt(f.amount),
                    fmt(f.fee), f.fee_asset, f.liquidity, fmt(t.realized_pnl),
                    fmt(t.position_after), f"{t.equity_after:.8f}", f.client_order_id))
    return len(result.trades)


GRID_COLUMNS = ("return_pct", "sharpe", "max_drawdown_pct", "trades", "fees", "final_equity")


def grid_table(rows: list[dict[str, Any]], names: list[str]) -> Any:
    """A rich Table of the sweep (rows already sorted)."""
    from rich.table import Table

    table = Table(title=f"{len(rows)} runs", show_edge=False, header_style="bold")
    for n in names:
        table.add_column(n, justify="right")
    for c in GRID_COLUMNS:
        table.add_column(c.replace("_pct", " %").replace("_", " "), justify="right")
    for r in rows:
        cells = [str(r["params"].get(n, "")) for n in names]
        if "error" in r:
            table.add_row(*cells, f"[red]{r['error']}[/red]", *[""] * (len(GRID_COLUMNS) - 1))
            continue
        table.add_row(*cells, f"{r['return_pct']:+.2f}", f"{r['sharpe']:.2f}",
                      f"{r['max_drawdown_pct']:.2f}", str(r["trades"]), f"{r['fees']:,.2f}",
                      f"{r['final_equity']:,.2f}")
    return table


