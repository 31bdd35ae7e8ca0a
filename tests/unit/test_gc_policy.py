"""The collector schedule: full passes at the start, then every few minutes; a pass
frees garbage made since the last one, frozen or not."""

from __future__ import annotations

import gc
import weakref

from app.gc_policy import EVERY_S, FIRST_PASSES_S, FreezeSchedule, freeze_long_lived


def test_schedule_runs_the_first_passes_then_one_every_few_minutes():
    schedule = FreezeSchedule()
    seen = [t for t in range(0, int(FIRST_PASSES_S[-1] + 3 * EVERY_S) + 1) if schedule.due(float(t))]
    assert seen == [int(FIRST_PASSES_S[0]), int(FIRST_PASSES_S[1]),
                    int(FIRST_PASSES_S[1] + EVERY_S), int(FIRST_PASSES_S[1] + 2 * EVERY_S),
                    int(FIRST_PASSES_S[1] + 3 * EVERY_S)]


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_a_cycle_frozen_alive_is_still_freed_by_the_next_pass():
    try:
        node = _Node()
        ref = weakref.ref(node)
        assert freeze_long_lived() > 0
        del node
        gc.collect()  # a frozen object is out of an ordinary collection's sight
        freeze_long_lived()  # the next pass unfreezes first
        assert ref() is None
    finally:
        gc.unfreeze()
