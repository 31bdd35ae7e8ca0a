"""Exact fixed-point values for the simulator.

The model keeps prices as integer counts of ticks and quantities as integer counts of
lots, so book arithmetic is exact and the wire strings ("30000.10", "0.12345") are
produced from integers, never by rounding floats: a client that parses them sees the
same value the simulator's truth reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Scale:
    """A step such as 0.01 expressed as ``unit`` x 10**-``decimals`` (0.25 -> 25, 2)."""

    decimals: int
    unit: int

    @classmethod
    def of(cls, step: float) -> Scale:
        if not step > 0:
            raise ValueError(f"step must be positive, got {step!r}")
        # repr() gives the shortest string that round-trips, so 0.1 stays "0.1".
        dec = Decimal(repr(step)).normalize()
        exponent = dec.as_tuple().exponent
        assert isinstance(exponent, int)
        decimals = max(0, -exponent)
        return cls(decimals, int(dec.scaleb(decimals)))

    @property
    def step(self) -> float:
        return self.unit / 10 ** self.decimals

    def fmt(self, count: int) -> str:
        """Wire string of ``count`` steps, with exactly ``decimals`` digits after the point."""
        return fmt_fixed(count * self.unit, self.decimals)

    def to_float(self, count: int) -> float:
        # Parse the wire string, so the float equals what any client computes from it.
        return float(self.fmt(count))

    def count(self, value: float) -> int:
        """Nearest whole number of steps in ``value``."""
        return round(value * 10 ** self.decimals / self.unit)


def fmt_fixed(scaled: int, decimals: int) -> str:
    """``scaled`` x 10**-``decimals`` as a plain decimal string (12345, 2 -> "123.45")."""
    if decimals == 0:
        return str(scaled)
    digits = str(scaled)
    if scaled >= 0 and len(digits) > decimals:  # the common case, in one slice (hot in REST pages)
        return digits[:-decimals] + "." + digits[-decimals:]
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"
