"""Number and time formatting shared by the widgets."""

from __future__ import annotations

import math

import pytest

from widgets.format import (decimals_for, fmt_age, fmt_bps, fmt_compact, fmt_countdown, fmt_fixed,
                            fmt_hms_utc, fmt_pct)


@pytest.mark.parametrize(("step", "decimals"), [
    (0.01, 2), (0.5, 1), (1.0, 0), (10.0, 0), (1e-05, 5), (2.5e-06, 7), (1e-08, 8),
    (0.1 + 0.2, 1), (0.0, 2), (math.nan, 2),
])
def test_decimals_follow_the_step(step: float, decimals: int) -> None:
    assert decimals_for(step) == decimals


def test_fixed_formatting() -> None:
    assert fmt_fixed(30_000.2, 2) == "30,000.20"
    assert fmt_fixed(-0.001, 2) == "0.00"  # no "-0.00"
    assert fmt_fixed(-1.5, 1) == "-1.5"
    assert fmt_fixed(None, 2) == "—" and fmt_fixed(math.inf, 2) == "—"


def test_other_formats() -> None:
    assert fmt_compact(12_345.6) == "12.35K" and fmt_compact(2.5e9) == "2.50B"
    assert fmt_pct(1.7) == "+1.70%" and fmt_pct(-2.0) == "-2.00%" and fmt_pct(None) == "—"
    assert fmt_bps(0.5, 30_000.25) == "0.17 bps"
    assert fmt_bps(0.01, 97_000.0) == "0.001 bps"
    assert fmt_bps(None, 1.0) == "— bps"
    assert [fmt_age(a) for a in (None, 0.05, 12.4, 300, 9000)] == ["—", "0.1s", "12s", "5m", "2h"]
    assert fmt_countdown(3_723_000) == "01:02:03" and fmt_countdown(-5) == "00:00:00"
    assert fmt_hms_utc(1_700_000_000_000) == "22:13:20"


def test_decimals_of_stored_numbers_ignores_float_noise():
    from widgets.format import decimals_of

    assert decimals_of([95312.98, 95313.0]) == 2
    assert decimals_of([59.500000000000014, 145.0]) == 1  # a sum of trade sizes
    assert decimals_of([42_000.0, 41_999.0]) == 0
    assert decimals_of([0.00001234]) == 8 and decimals_of([]) == 0
