"""Number and time formatting shared by the widgets.

Precision follows the instrument (tick size for prices, lot size for amounts), so
a 0.01-tick BTC book and a 1e-8-tick SHIB book both show every digit that can
change and none that cannot.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal

from app.market.precision import decimals_of  # noqa: F401  (the widgets' name for it)

MAX_DECIMALS = 10


def decimals_for(step: float) -> int:
    """Decimals needed to show multiples of ``step`` exactly (0.01 -> 2, 0.5 -> 1, 10 -> 0)."""
    if not step or step <= 0 or not math.isfinite(step):
        return 2
    # round() first so float noise such as 0.30000000000000004 does not ask for 17 digits
    exponent = Decimal(repr(round(step, MAX_DECIMALS))).normalize().as_tuple().exponent
    return min(MAX_DECIMALS, max(0, -int(exponent)))


def fmt_fixed(value: float | None, decimals: int, sep: bool = True) -> str:
    """``value`` with ``decimals`` digits (thousands separated); a dash when unknown."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value + 0.0:,.{decimals}f}" if sep else f"{value + 0.0:.{decimals}f}"
    # "-0.00" reads like a real negative value; a rounded-away sign is noise
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]
    return text


def fmt_compact(value: float | None, decimals: int = 2) -> str:
    """Large amounts for narrow columns: 1234567 -> ``1.23M``."""
    if value is None or not math.isfinite(value):
        return "—"
    magnitude = abs(value)
    for threshold, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= threshold:
            return f"{value / threshold:.{decimals}f}{suffix}"
    return f"{value:.{decimals}f}"


def fmt_pct(value: float | None, decimals: int = 2) -> str:
    """Signed percentage: ``+1.23%``."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value + 0.0:+.{decimals}f}%"


def fmt_bps(spread: float | None, mid: float | None) -> str:
    """Spread relative to mid in basis points: ``1.5 bps``."""
    if spread is None or not mid:
        return "— bps"
    bps = spread / mid * 10_000.0
    # one-tick spreads on BTC are ~0.001 bps: keep enough digits to tell them apart from 0
    decimals = 3 if abs(bps) < 0.1 else 2 if abs(bps) < 10 else 1
    return f"{bps:.{decimals}f} bps"


def fmt_age(seconds: float | None) -> str:
    """Age of the last message: ``0.1s``, ``12s``, ``3m``, ``2h``; ``—`` before the first."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds // 60:.0f}m"
    return f"{seconds // 3600:.0f}h"


def fmt_countdown(ms: int | float) -> str:
    """Time left as ``HH:MM:SS`` (never negative: a passed deadline shows 00:00:00)."""
    total = max(0, int(ms // 1000))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def fmt_hms_utc(ts_ms: int) -> str:
    """Epoch milliseconds as ``HH:MM:SS`` in UTC."""
    return time.strftime("%H:%M:%S", time.gmtime(ts_ms / 1000.0))


def fmt_hm_utc(ts_ms: int) -> str:
    """Epoch milliseconds as ``HH:MM`` in UTC."""
    return time.strftime("%H:%M", time.gmtime(ts_ms / 1000.0))
