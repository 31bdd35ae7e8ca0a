"""Price grouping steps for the ladder: the tick, then 1-2-5 multiples of it.

Multiples of the tick (not round numbers) keep every bucket on the tick grid: with a
0.25 tick, a 0.5 bucket holds two ticks, whereas a bucket of 0.2 would hold one or two.
"""

from __future__ import annotations

from decimal import Decimal

MAX_STEPS = 16  # tick x 1 ... x 100000: past that a 20-row ladder spans the whole book


def group_steps(tick: float, count: int = MAX_STEPS) -> list[float]:
    """``[tick, 2 tick, 5 tick, 10 tick, 20 tick, ...]``, ``count`` values, free of float noise."""
    base = Decimal(repr(tick)) if tick > 0 else Decimal("0.01")
    steps: list[float] = []
    decade = Decimal(1)
    while len(steps) < count:
        for multiple in (1, 2, 5):
            if len(steps) < count:
                steps.append(float(base * multiple * decade))
        decade *= 10
    return steps


def step_index(index: int, direction: int, count: int = MAX_STEPS) -> int:
    """The step index after moving ``direction`` (+1 coarser, -1 finer), clamped."""
    return max(0, min(count - 1, index + direction))


def group_for(tick: float, index: int) -> float:
    """The ``group`` argument for ``MarketSource.view``: 0.0 (raw levels) at the tick step."""
    return 0.0 if index <= 0 else group_steps(tick)[min(index, MAX_STEPS - 1)]
