"""The market data a backtest runs over: bars as columns, trades, the funding schedule.

Columns (one list per field) rather than a list of objects: a year of 1m bars is 525,600
rows, and the per-bar loop and ``ctx.history`` only ever index and slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from app.market.events import Funding, Kline, Trade
from app.trading.models import dec

EIGHT_HOURS = 8 * 3600 * 1000
DEFAULT_FUNDING_RATE = Decimal("0.0001")  # 0.01 % per 8 h: the venues' neutral rate


class Bar:
    """One closed bar as a strategy sees it (prices and volume as floats)."""

    __slots__ = ("open_time", "open", "high", "low", "close", "volume")

    def __init__(self, open_time: int, open_: float, high: float, low: float, close: float,
                 volume: float) -> None:
        self.open_time = open_time
        self.open = open_
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume

    def __repr__(self) -> str:
        return (f"Bar(open_time={self.open_time}, open={self.open}, high={self.high}, "
                f"low={self.low}, close={self.close}, volume={self.volume})")


@dataclass(slots=True)
class Bars:
    step: int  # the interval in ms
    open_time: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.open_time)

    def append(self, open_time: int, open_: float, high: float, low: float, close: float,
               volume: float) -> None:
        self.open_time.append(open_time)
        self.open.append(open_)
        self.high.append(high)
        self.low.append(low)
        self.close.append(close)
        self.volume.append(volume)

    @classmethod
    def of(cls, klines: Iterable[Kline], step: int) -> Bars:
        """Closed, whole klines only: a candle still forming is not a bar a strategy may see."""
        bars = cls(step)
        for k in klines:
            if k.closed and not k.partial:
                bars.append(k.open_time, k.open, k.high, k.low, k.close, k.volume)
        return bars


class History:
    """``ctx.history(n)``: the last n closed bars, oldest first, as lists per field
    (``.open_time .open .high .low .close .volume``); ``len()`` is how many there are."""

    __slots__ = ("_bars", "_lo", "_hi")

    def __init__(self, bars: Bars, lo: int, hi: int) -> None:
        self._bars = bars
        self._lo = lo
        self._hi = hi

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def open_time(self) -> list[int]:
        return self._bars.open_time[self._lo:self._hi]

    @property
    def open(self) -> list[float]:
        return self._bars.open[self._lo:self._hi]

    @property
    def high(self) -> list[float]:
        return self._bars.high[self._lo:self._hi]

    @property
    def low(self) -> list[float]:
        return self._bars.low[self._lo:self._hi]

    @property
    def close(self) -> list[float]:
        return self._bars.close[self._lo:self._hi]

    @property
    def volume(self) -> list[float]:
        return self._bars.volume[self._lo:self._hi]


@dataclass(slots=True)
class Ticks:
    """Stored trades for tick mode, oldest first, as columns."""

    ts: list[int] = field(default_factory=list)
    price: list[float] = field(default_factory=list)
    amount: list[float] = field(default_factory=list)
    side: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def of(cls, trades: Iterable[Trade]) -> Ticks:
        t = cls()
        for tr in trades:
            t.ts.append(tr.ts)
            t.price.append(tr.price)
            t.amount.append(tr.amount)
            t.side.append(tr.side)
        return t


def funding_schedule(rows: Sequence[Funding]) -> list[tuple[int, Decimal]]:
    """(funding time, rate) from the store's funding rows: the rate last announced for each
    funding time; a row without a next funding time is a settlement at its own time."""
    by_time: dict[int, Decimal] = {}
    for r in sorted(rows, key=lambda r: r.ts):
        if r.rate is None:
            continue
        when = r.next_funding_time if r.next_funding_time is not None else r.ts
        by_time[when] = dec(r.rate)
    return sorted(by_time.items())


def flat_schedule(start: int, end: int, rate: Decimal = DEFAULT_FUNDING_RATE,
                  every: int = EIGHT_HOURS) -> list[tuple[int, Decimal]]:
    """Funding at every multiple of ``every`` (00:00, 08:00, 16:00 UTC) in [start, end]."""
    first = -(-start // every) * every
    return [(t, rate) for t in range(first, end + 1, every)]
