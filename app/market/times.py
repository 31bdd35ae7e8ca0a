"""Epoch milliseconds as people read them in messages and reports."""

from __future__ import annotations

from datetime import datetime, timezone


def fmt_ms(ms: int) -> str:
    """``2024-01-31 12:00 UTC`` (seconds shown only when not zero)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC" if dt.second or dt.microsecond else "%Y-%m-%d %H:%M UTC")
