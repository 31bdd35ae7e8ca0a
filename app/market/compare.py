"""Cross-venue comparison: one row per market (base, quote family, spot/perp), one cell
per venue, deviations from the cross-venue median in basis points, perp basis against
spot. Pure functions of summaries; the UI only formats the result."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.market.instruments import Instrument

DEFAULT_FAMILIES: dict[str, str] = {"USDT": "USD", "USD": "USD", "USDC": "USD"}


@dataclass(slots=True, frozen=True)
class Summary:
    """What one instrument looks like right now (built by the hub under its lock)."""

    instrument: Instrument
    last: float | None
    bid: float | None
    ask: float | None
    synced: bool
    funding_rate: float | None = None
    next_funding_time: int | None = None
    mark: float | None = None
    feed_state: str = "connecting"
    last_message_age: float | None = None
    change_24h_pct: float | None = None  # last against the ticker's 24 h open
    quote_volume_24h: float | None = None  # 24 h turnover in quote units
    book: bool = True  # False: streamed without a book (ticker only; bid/ask from the ticker)
    seq: int = 0  # changes whenever the instrument's state does (redraw only what moved)

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None and self.synced:
            return (self.bid + self.ask) / 2.0
        return self.last


@dataclass(slots=True)
class Cell:
    summary: Summary
    deviation_bps: float | None = None  # against the median mid of the row
    basis_bps: float | None = None  # perp only: against the same venue's (or median) spot
    alert: bool = False


@dataclass(slots=True)
class Row:
    key: tuple[str, str, str]  # (base, quote family, market)
    label: str  # "BTC/USD* perp"
    median: float | None
    cells: dict[str, Cell] = field(default_factory=dict)  # venue -> cell


def family_of(quote: str, families: dict[str, str]) -> str:
    return families.get(quote.upper(), quote.upper())


def build_rows(summaries: Iterable[Summary], threshold_bps: float = 50.0,
               families: dict[str, str] | None = None) -> list[Row]:
    """Rows sorted by base then spot before perp; a cell deviating from the row's median
    by more than ``threshold_bps`` is flagged (only when at least two venues quote it)."""
    families = DEFAULT_FAMILIES if families is None else families
    rows: dict[tuple[str, str, str], Row] = {}
    for s in summaries:
        inst = s.instrument
        fam = family_of(inst.quote, families)
        key = (inst.base.upper(), fam, inst.market)
        row = rows.get(key)
        if row is None:
            suffix = "*" if fam != inst.quote.upper() or fam in families.values() else ""
            row = rows[key] = Row(key, f"{key[0]}/{fam}{suffix} {inst.market}", None)
        row.cells[inst.venue] = Cell(s)
    spot_mid: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows.values():
        mids = [c.summary.mid for c in row.cells.values() if c.summary.mid is not None]
        row.median = statistics.median(mids) if mids else None
        if row.median and len(mids) >= 2:
            for cell in row.cells.values():
                mid = cell.summary.mid
                if mid is not None:
                    cell.deviation_bps = (mid - row.median) / row.median * 10_000.0
                    cell.alert = abs(cell.deviation_bps) > threshold_bps
        if row.key[2] == "spot":
            spot_mid[row.key[:2]] = {v: c.summary.mid for v, c in row.cells.items()
                                     if c.summary.mid is not None}
            spot_mid[row.key[:2]]["*median"] = row.median  # type: ignore[assignment]  # None without mids: read via .get(), where None is as absent
    for row in rows.values():
        if row.key[2] != "perp":
            continue
        spots = spot_mid.get(row.key[:2], {})
        for venue, cell in row.cells.items():
            ref = spots.get(venue) or spots.get("*median")
            mid = cell.summary.mark or cell.summary.mid
            if ref and mid is not None:
                cell.basis_bps = (mid - ref) / ref * 10_000.0
    return sorted(rows.values(), key=lambda r: (r.key[0], r.key[1], r.key[2] != "spot"))


def alerts(rows: list[Row]) -> list[tuple[str, str, float]]:
    """(row label, venue, deviation bps) of every flagged cell."""
    return [(row.label, venue, cell.deviation_bps or 0.0)
            for row in rows for venue, cell in row.cells.items() if cell.alert]
