"""Waiting on a condition in tests: poll it until it holds or the timeout names what
never happened. Timeouts are generous because only a failing test ever reaches them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_for(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition",
                   poll: float = 0.01) -> float:
    """In a test's event loop; returns the seconds it took."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic() - start


def wait(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition",
         poll: float = 0.02) -> float:
    """From a plain test while other threads (engine, simulator) do the work."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start
