"""What a backtest reads from the history store: bars, the market's rules, funding, trades."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine

from app.backtest.bars import DEFAULT_FUNDING_RATE, Bars, Ticks, flat_schedule, funding_schedule
from app.errors import CryptotermError
from app.market.events import Funding, Kline
from app.market.klines import interval_ms
from app.trading.validation import MarketRules
from storage import queries
from storage.history import as_instrument
from storage.queries import StoredInstrument


FUNDING_LOOKBACK = 8 * 3600 * 1000  # the announcement of the first funding time is older


class DataError(CryptotermError):
    """The store cannot supply what the backtest asks for."""

    default_title = "Backtest"


@dataclass(frozen=True, slots=True)
class MarketData:
    stored: StoredInstrument
    rules: MarketRules
    bars: Bars
    funding: tuple[tuple[int, Decimal], ...]
    funding_recorded: bool  # False: the flat default schedule
    rolled_up: bool
    ticks: Ticks | None = None


def load_market(engine: Engine, venue: str, symbol: str, interval: str, since: int | None,
                until: int | None, *, trades: bool = False,
                funding_rate: Decimal = DEFAULT_FUNDING_RATE) -> MarketData:
    """The store's bars (and trades, for tick mode) of one instrument over a range."""
    step = interval_ms(interval)
    stored = queries.find_instrument(engine, venue, symbol)  # QueryError: shown as is
    klines, rolled = queries.klines_or_rollup(engine, stored.id, interval, since=since,
                                              until=until)
    bars = Bars.of(klines, step)
    if not len(bars):
        raise DataError(f"no closed {interval} klines of {stored.symbol} on {stored.venue} in that "
                        f"range (record them, or fetch them with `cryptoterm backfill`)")
    first, last = bars.open_time[0], bars.open_time[-1] + step
    rows = (queries.funding(engine, stored.id, since=first - FUNDING_LOOKBACK, until=last)
            if stored.market == "perp" else [])
    ticks = None
    if trades:
        rows_t = queries.trades(engine, stored.id, since=first, until=last - 1)
        ticks = Ticks.of(rows_t) if rows_t else None
    return assemble(stored, bars, klines, rows, rolled=rolled, ticks=ticks,
                    funding_rate=funding_rate)


def assemble(stored: StoredInstrument, bars: Bars, klines: Sequence[Kline],
             funding_rows: Sequence[Funding], *, rolled: bool = False, ticks: Ticks | None = None,
             funding_rate: Decimal = DEFAULT_FUNDING_RATE) -> MarketData:
    """MarketData from what was read: the rules from the stored instrument, the funding
    schedule from the stored rows (or the flat default when there are none in range)."""
    rules = MarketRules.of(as_instrument(stored, klines))
    schedule: list[tuple[int, Decimal]] = []
    recorded = False
    if rules.is_perp and len(bars):
        first, last = bars.open_time[0], bars.open_time[-1] + bars.step
        schedule = [(t, r) for t, r in funding_schedule(funding_rows) if first < t <= last]
        recorded = bool(schedule)
        if not recorded:
            schedule = [(t, r) for t, r in flat_schedule(first, last, funding_rate) if t > first]
    return MarketData(stored, rules, bars, tuple(schedule), recorded, rolled, ticks)
