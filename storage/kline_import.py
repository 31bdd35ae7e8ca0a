"""Klines from CSV files into the store: Binance's public kline files (data.binance.vision,
monthly or daily, .zip or .csv: 12 columns, no header, open time in ms, or µs in newer
spot files) and any CSV with a header naming open_time, open, high, low, close, volume.

Reading is strict: every row is checked (numbers, finite, positive prices, high/low
around open and close, open time on the interval's boundary), and a bad row is named by
its line number. Writing is the store's idempotent upsert, so importing a file twice
leaves the same rows."""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, and_, func, select

from app.errors import CryptotermError
from app.market.instruments import Instrument
from app.market.klines import INTERVAL_MS, bucket_start
from storage.instrument_keys import InstrumentKeys
from storage.models import KlineRow
from storage.statements import statements_for
from storage.tables import table_of

HEADER_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
SOURCE = "file"  # the klines.source of imported rows
BATCH = 20_000
_US_FLOOR = 10**14  # an open time above this is in microseconds (ms reach it in 5138)
_MS_FLOOR = 10**11  # below this it is seconds, which no kline file uses
# Binance's file names: BTCUSDT-1m-2024-01.zip, ETHUSDT-1h-2024-01-31.csv
_BINANCE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<interval>\d+[smhdwM]o?)-\d{4}-\d{2}(-\d{2})?$")


class ImportError_(CryptotermError):
    """A file that cannot be imported as asked; the message is one line."""

    default_title = "History import"


@dataclass(slots=True)
class BadRow:
    line: int
    reason: str


@dataclass(slots=True)
class Parsed:
    rows: list[tuple[int, float, float, float, float, float]] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


def name_hints(path: Path) -> tuple[str, str] | None:
    """(venue symbol, interval) from a Binance public file's name, if it is one."""
    stem = path.name
    for suffix in (".zip", ".csv", ".CSV", ".ZIP"):
        stem = stem.removesuffix(suffix)
    m = _BINANCE_NAME.match(stem)
    return (m.group("symbol"), m.group("interval")) if m else None


def open_text(path: Path) -> Iterator[str]:
    """The file's lines: a .zip's CSV member (the one there is), or the file itself."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise ImportError_(f"{path.name}: a zip holding one CSV file was expected, "
                                       f"it holds {len(members)}")
                with zf.open(members[0]) as raw:
                    yield from io.TextIOWrapper(raw, encoding="utf-8", newline="")
            return
        with path.open(encoding="utf-8", newline="") as f:
            yield from f
    except UnicodeDecodeError:
        raise ImportError_(f"{path.name}: not a text CSV file") from None
    except zipfile.BadZipFile as exc:
        raise ImportError_(f"{path.name}: broken zip file ({exc})") from None


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text.strip()!r} is not a finite number")
    return value


def _open_time(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(r"\d+(\.0*)?", raw):
        raise ValueError(f"open_time {raw!r} is not a whole number of ms or µs")
    value = int(float(raw)) if "." in raw else int(raw)
    if value >= _US_FLOOR:
        return value // 1000  # µs (Binance spot files from 2025 on)
    if value < _MS_FLOOR:
        raise ValueError(f"open_time {raw} looks like seconds; kline files carry ms or µs")
    return value


def parse(lines: Iterator[str], interval: str) -> Parsed:
    """Rows (open_time ms, o, h, l, c, v) and bad rows by line number (1-based)."""
    out = Parsed()
    columns: list[int] | None = None  # positions of HEADER_COLUMNS; None: Binance's order
    for number, fields in enumerate(csv.reader(lines), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if number == 1 and not fields[0].strip().lstrip("-").replace(".", "", 1).isdigit():
            names = [f.strip().lower() for f in fields]
            missing = [c for c in HEADER_COLUMNS if c not in names]
            if missing:
                raise ImportError_(f"line 1: a header must name {', '.join(HEADER_COLUMNS)}; "
                                   f"missing: {', '.join(missing)}")
            columns = [names.index(c) for c in HEADER_COLUMNS]
            continue
        try:
            picked = [fields[i] for i in columns] if columns else fields[:6]
            if len(picked) < 6 or (columns and len(fields) < len(names)):
                raise IndexError
        except IndexError:
            out.bad.append(BadRow(number, f"{len(fields)} column(s), at least 6 expected"))
            continue
        try:
            t = _open_time(picked[0])
            o, h, lo, c, v = (_number(x, n) for x, n in zip(picked[1:], HEADER_COLUMNS[1:]))
            if min(o, h, lo, c) <= 0:
                raise ValueError("prices must be above 0")
            if v < 0:
                raise ValueError("volume must not be negative")
            if h < max(o, c) or lo > min(o, c):
                raise ValueError(f"high {h:g} / low {lo:g} do not enclose open {o:g} and close {c:g}")
            if bucket_start(t, interval) != t:
                raise ValueError(f"open time {t} is not on a {interval} boundary")
        except ValueError as exc:
            out.bad.append(BadRow(number, str(exc)))
            continue
        out.rows.append((t, o, h, lo, c, v))
    return out


def check_spacing(rows: list[tuple[int, float, float, float, float, float]], interval: str) -> str | None:
    """Why the rows are not ``interval`` candles (their usual spacing), or None."""
    if len(rows) < 3:
        return None
    opens = sorted({r[0] for r in rows})
    deltas = Counter(b - a for a, b in zip(opens, opens[1:]))
    usual, _ = deltas.most_common(1)[0]
    step = INTERVAL_MS[interval]
    if usual == step:
        return None
    named = next((name for name, ms in INTERVAL_MS.items() if ms == usual), f"{usual:,} ms")
    return f"the file holds {named} candles (open times {usual:,} ms apart), not {interval}"


@dataclass(slots=True)
class ImportResult:
    rows: int  # rows in the file that were written
    new: int  # of which the store did not hold before
    first: int
    last: int


def store(engine: Engine, instrument: Instrument, interval: str,
          rows: list[tuple[int, float, float, float, float, float]], now_ms: int) -> ImportResult:
    """Upsert the rows (closed when their interval has ended); idempotent."""
    keys = InstrumentKeys(engine)
    keys.remember(instrument)
    key = keys.key(instrument.id)
    step = INTERVAL_MS[interval]
    first, last = min(r[0] for r in rows), max(r[0] for r in rows)
    k = table_of(KlineRow)
    counting = select(func.count()).where(and_(k.c.inst == key, k.c.interval == interval,
                                               k.c.open_time >= first, k.c.open_time <= last))
    sql = statements_for(engine).upsert_klines
    with engine.begin() as conn:
        before = conn.execute(counting).scalar_one()
        for i in range(0, len(rows), BATCH):
            conn.exec_driver_sql(sql, [(key, interval, t, o, h, lo, c, v, 1 if t + step <= now_ms else 0,
                                        SOURCE, 0) for t, o, h, lo, c, v in rows[i:i + BATCH]])
        after = conn.execute(counting).scalar_one()
    return ImportResult(len({r[0] for r in rows}), int(after) - int(before), first, last)
