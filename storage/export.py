"""Klines to CSV: the one format the CLI and the history screen both export."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from app.market.events import Kline

# partial: 1 when the recording covered only part of the candle's interval
CSV_HEADER = ("open_time", "open", "high", "low", "close", "volume", "closed", "partial")


def write_csv(rows: Iterable[Kline], out: TextIO) -> int:
    """Header plus one line per kline; open_time in epoch ms, floats that round-trip."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    n = 0
    for k in rows:
        w.writerow((k.open_time, repr(k.open), repr(k.high), repr(k.low), repr(k.close),
                    repr(k.volume), int(k.closed), int(k.partial)))
        n += 1
    return n


def export_csv(rows: Iterable[Kline], path: Path) -> int:
    """Write ``rows`` to ``path`` atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        n = write_csv(rows, fh)
    tmp.replace(path)
    return n
