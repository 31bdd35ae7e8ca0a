"""The cyclic garbage collector in a long-running process.

After start-up the heap holds a large number of tracked objects that live as long as the
process: modules, classes, the app's widgets and styles, the engine's markets. Every full
collection walks all of them; on the watchlist that was a 100-140 ms pause every few
seconds, the slowest keypresses. So full collections happen on our schedule instead: a
collection, then ``gc.freeze`` of what survived, moves the long-lived objects out of the
collector's sight, and what is allocated later is collected as usual. Each later pass
unfreezes first, so an object that died since is found then: nothing is kept for good.
"""

from __future__ import annotations

import gc

# the first passes: markets listed and screens drawn, then the watchlist's rows built;
# then one full pass every few minutes
FIRST_PASSES_S = (15.0, 60.0)
EVERY_S = 300.0
LOOK_EVERY_S = 5.0  # how often a loop or a UI timer asks FreezeSchedule.due
# a young generation of 10,000 objects instead of 700: feeds allocate thousands of small
# containers a second, nearly all freed by reference counting before a collection
YOUNG_THRESHOLD = 10_000


def calm_collector() -> None:
    """Collect the young generation less often (each pass costs about the same)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_long_lived() -> int:
    """Collect everything, then freeze what survives; returns how many objects are frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class FreezeSchedule:
    """When the next pass is due, for whatever looks now and then (``record``'s loop,
    the app's timer): the one place the schedule is spelled out."""

    def __init__(self) -> None:
        self._passes = 0

    def due(self, elapsed_s: float) -> bool:
        n = self._passes
        at = FIRST_PASSES_S[n] if n < len(FIRST_PASSES_S) else \
            FIRST_PASSES_S[-1] + EVERY_S * (n - len(FIRST_PASSES_S) + 1)
        if elapsed_s < at:
            return False
        self._passes += 1
        return True
