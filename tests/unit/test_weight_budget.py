"""The REST weight budget's arithmetic: the share retries may use, and the pace that
keeps them inside it without a burst followed by a window-long wait."""

from __future__ import annotations

import time

from app.feeds.rest import WeightBudget, budget_for


def test_retries_at_the_pace_never_run_the_share_out():
    budget = WeightBudget(5000, 60.0)  # Binance spot's budget; a depth snapshot weighs 250
    pace = budget.retry_pace(250, 0.75)
    assert pace == 4.0
    # a minute of retries, one every `pace` seconds, spends exactly the share
    now = time.monotonic()
    budget._spent = [(now - 60.0 + (i + 1) * pace, 250) for i in range(14)]
    assert sum(w for _, w in budget._spent) + 250 <= 5000 * 0.75
    assert budget.wait_for_share(250, 0.75) == 0.0


def test_a_burst_of_retries_waits_for_the_window_to_roll():
    budget = WeightBudget(5000, 60.0)
    now = time.monotonic()
    budget._spent = [(now - 1.0, 250)] * 15  # 15 quick retries: the share is gone
    assert budget.wait_for_share(250, 0.75) > 55.0


def test_venues_that_count_per_second_pace_in_fractions_of_a_second():
    okx = budget_for("okx", "spot")
    assert okx.window == 2.0
    assert okx.retry_pace(1, 0.75) < 0.2
