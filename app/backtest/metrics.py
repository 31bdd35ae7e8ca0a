"""The figures of a backtest: what ``--report json`` prints and the grid sorts by."""

from __future__ import annotations

import math
from typing import Any

from app.backtest.engine import Result

YEAR_MS = 365 * 24 * 3600 * 1000

# the grid's --sort: higher is better for all but these
LOWER_IS_BETTER = frozenset({"max_drawdown_pct", "fees"})
METRICS = ("return_pct", "sharpe", "max_drawdown_pct", "final_equity", "trades", "fees",
           "exposure_pct", "funding", "round_trips", "win_rate_pct")


def drawdown_pct(equity: list[float]) -> list[float]:
    """Per bar: how far equity is below its running peak, in % (0 at a new high)."""
    out: list[float] = []
    peak = -math.inf
    for e in equity:
        if e > peak:
            peak = e
        out.append((peak - e) / peak * 100 if peak > 0 else 0.0)
    return out


def sharpe(equity: list[float], start: float, step: int) -> float:
    """Annualized Sharpe ratio of the per-bar returns (risk-free rate 0)."""
    if len(equity) < 2:
        return 0.0
    prev = start
    rets: list[float] = []
    for e in equity:
        rets.append(e / prev - 1 if prev else 0.0)
        prev = e
    mean = sum(rets) / len(rets)
    var = sum((r - mean) ** 2 for r in rets) / (len(rets) - 1)
    if var <= 0:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(YEAR_MS / step)


def summarize(result: Result) -> dict[str, Any]:
    start = float(result.start_cash)
    final = float(result.final_equity)
    dd = drawdown_pct(result.equity)
    closing = [t for t in result.trades if t.realized_pnl != 0]
    wins = sum(1 for t in closing if t.realized_pnl > 0)
    return {
        "final_equity": round(final, 8),
        "return_pct": round((final / start - 1) * 100, 6) if start else 0.0,
        "max_drawdown_pct": round(max(dd, default=0.0), 6),
        "sharpe": round(sharpe(result.equity, start, result.step), 6),
        "trades": len(result.trades),
        "round_trips": len(closing),
        "win_rate_pct": round(wins / len(closing) * 100, 4) if closing else 0.0,
        "fees": round(float(result.fees), 8),
        "funding": round(float(result.funding), 8),
        "exposure_pct": round(result.exposed_bars / result.bars * 100, 4) if result.bars else 0.0,
        "bars": result.bars,
        "liquidations": result.liquidations,
        "params": result.params,
    }
