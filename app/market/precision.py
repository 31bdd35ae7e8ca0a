"""The precision numbers show when their instrument's tick size is unknown."""

from __future__ import annotations

import math
from collections.abc import Iterable


def decimals_of(values: Iterable[float], cap: int = 8) -> int:
    """The fewest decimals (up to ``cap``) that show every value as it is: the precision
    of numbers stored without their instrument's tick size. Float noise from sums
    (59.500000000000014) does not count as a digit."""
    need = 0
    for v in values:
        if not math.isfinite(v):
            continue
        tolerance = 1e-9 * max(1.0, abs(v))
        while need < cap and abs(round(v, need) - v) > tolerance:
            need += 1
        if need == cap:
            break
    return need
