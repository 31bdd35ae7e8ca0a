"""Portfolio figures: what every account is worth, in USD, and what it made.

Pure functions over an account's snapshot (``AccountSnapshot``) and two price lookups,
so the same numbers come out in the TUI, in tests computed by hand, and in the risk
check's daily loss. Conventions, chosen to be the same for every account:

- equity = every balance valued in USD + the unrealized PnL of open perp positions
  (balances are wallet balances: a perp's margin is in them, its unrealized PnL is not);
- USD stablecoins (USDT, USDC, ...) count as 1 USD; any other asset is valued at its
  USDT market (the account's own venue first); an asset without a price is left out of
  equity and named (``unpriced``), never guessed;
- unrealized PnL = (mark - entry) x size, at the market's mark price (its last trade
  when the venue sends no mark);
- realized PnL per instrument comes from the account's fills, average-cost: a fill that
  shrinks a position realizes (price - average entry) x size; fees are subtracted.
  Only the fills the account still reports count (the paper account keeps its last 500);
- today's PnL = equity now - equity when the UTC day began (``DayBaseline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from app.trading.account import AccountSnapshot
from app.trading.models import ZERO, Balance, Fill, Position

# quote currencies counted as one US dollar
USD_LIKE = frozenset({"USD", "USDT", "USDC", "FDUSD", "BUSD", "DAI", "TUSD", "USDP"})

# asset -> USD per unit, or None when no market prices it
UsdFn = Callable[[str], Decimal | None]
# instrument id -> its mark price now, or None
MarkFn = Callable[[str], Decimal | None]


class Holdings(Protocol):
    """What an account holds: an ``AccountSnapshot`` or the service's ``TradingView``."""

    @property
    def balances(self) -> tuple[Balance, ...]: ...

    @property
    def positions(self) -> tuple[Position, ...]: ...


@dataclass(frozen=True, slots=True)
class BalanceLine:
    asset: str
    total: Decimal
    available: Decimal
    usd_price: Decimal | None
    value_usd: Decimal | None


@dataclass(frozen=True, slots=True)
class PositionLine:
    instrument_id: str
    symbol: str
    size: Decimal  # signed base units
    entry: Decimal
    mark: Decimal | None
    unrealized: Decimal  # quote currency
    realized: Decimal  # quote currency, from fills, after fees
    funding_paid: Decimal  # > 0 paid
    margin: Decimal
    liquidation_price: Decimal | None
    leverage: int
    margin_mode: str


@dataclass(frozen=True, slots=True)
class AccountFigures:
    account: str
    label: str
    equity_usd: Decimal
    unrealized_usd: Decimal
    realized_usd: Decimal
    funding_paid_usd: Decimal
    margin_usd: Decimal
    today_pnl_usd: Decimal | None
    balances: tuple[BalanceLine, ...]
    positions: tuple[PositionLine, ...]
    unpriced: tuple[str, ...] = ()  # assets left out of equity: no price for them
    problem: str | None = None  # why the figures may be stale or missing


@dataclass(frozen=True, slots=True)
class Portfolio:
    accounts: tuple[AccountFigures, ...]
    total_equity_usd: Decimal
    total_today_pnl_usd: Decimal | None  # None when any account's cannot be known
    ts: int


def quote_of(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``USDT`` (ccxt unified: the settle currency of a perp)."""
    if ":" in symbol:
        return symbol.rsplit(":", 1)[1]
    return symbol.split("/", 1)[1] if "/" in symbol else "USDT"


def realized_by_instrument(fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Average-cost realized PnL per instrument, fees subtracted (fills in any order)."""
    size: dict[str, Decimal] = {}
    avg: dict[str, Decimal] = {}
    out: dict[str, Decimal] = {}
    for f in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
        iid = f.instrument_id
        pos, entry = size.get(iid, ZERO), avg.get(iid, ZERO)
        signed = f.amount if f.side == "buy" else -f.amount
        pnl = -f.fee if f.fee_asset == quote_of(f.symbol) else ZERO
        if pos == 0 or (pos > 0) == (signed > 0):  # opening or adding
            new = pos + signed
            avg[iid] = (entry * abs(pos) + f.price * f.amount) / abs(new)
            size[iid] = new
        else:
            closing = min(f.amount, abs(pos))
            pnl += (f.price - entry) * closing * (1 if pos > 0 else -1)
            rest = f.amount - closing
            if rest > 0:  # through zero: the rest opens the other way at this price
                size[iid] = rest if signed > 0 else -rest
                avg[iid] = f.price
            else:
                size[iid] = pos + signed
                if size[iid] == 0:
                    avg[iid] = ZERO
        out[iid] = out.get(iid, ZERO) + pnl
    return out


def account_figures(account: str, label: str, snap: AccountSnapshot, *, usd: UsdFn,
                    mark: MarkFn, day_start_equity: Decimal | None = None,
                    problem: str | None = None) -> AccountFigures:
    """One account's figures (see the module's conventions)."""
    balances: list[BalanceLine] = []
    unpriced: list[str] = []
    equity = ZERO
    for b in snap.balances:
        price = usd_rate(b.asset, usd)
        value = None if price is None else b.total * price
        if value is None:
            if b.total != 0:
                unpriced.append(b.asset)
        else:
            equity += value
        balances.append(BalanceLine(b.asset, b.total, b.available, price, value))
    realized = realized_by_instrument(snap.fills)
    positions: list[PositionLine] = []
    upnl_usd = funding_usd = margin_usd = ZERO
    for p in snap.positions:
        line = position_line(p, mark(p.instrument_id), realized.get(p.instrument_id, ZERO))
        positions.append(line)
        rate = usd_rate(quote_of(p.symbol), usd)
        if rate is None:
            unpriced.append(p.symbol)
            continue
        upnl_usd += line.unrealized * rate
        funding_usd += line.funding_paid * rate
        margin_usd += line.margin * rate
    equity += upnl_usd
    realized_usd = ZERO
    for f_iid, pnl in realized.items():
        symbol = next((f.symbol for f in snap.fills if f.instrument_id == f_iid), "")
        rate = usd_rate(quote_of(symbol), usd)
        if rate is not None:
            realized_usd += pnl * rate
    today = None if day_start_equity is None else equity - day_start_equity
    return AccountFigures(account, label, equity, upnl_usd, realized_usd, funding_usd,
                          margin_usd, today, tuple(balances), tuple(positions),
                          tuple(dict.fromkeys(unpriced)), problem)


def equity_usd(snap: Holdings, *, usd: UsdFn, mark: MarkFn) -> tuple[Decimal, tuple[str, ...]]:
    """(``account_figures(...).equity_usd``, what it could not price), without the rest:
    the risk check's daily loss asks for it before every order."""
    equity = ZERO
    unpriced: list[str] = []
    for b in snap.balances:
        price = usd_rate(b.asset, usd)
        if price is not None:
            equity += b.total * price
        elif b.total != 0:
            unpriced.append(b.asset)
    for p in snap.positions:
        rate = usd_rate(quote_of(p.symbol), usd)
        line = position_line(p, mark(p.instrument_id), ZERO)
        if rate is not None and line.mark is not None:
            equity += line.unrealized * rate
        else:
            unpriced.append(p.symbol)
    return equity, tuple(unpriced)


def position_line(p: Position, mark: Decimal | None, realized: Decimal) -> PositionLine:
    """A position valued at ``mark`` (the account's own mark when the market has none)."""
    m = mark if mark is not None else p.mark_price
    upnl = (m - p.entry_price) * p.size if m is not None else p.unrealized_pnl
    return PositionLine(p.instrument_id, p.symbol, p.size, p.entry_price, m, upnl, realized,
                        p.funding_paid, p.margin, p.liquidation_price, p.leverage,
                        p.margin_mode)


def usd_rate(asset: str, usd: UsdFn) -> Decimal | None:
    return Decimal(1) if asset.upper() in USD_LIKE else usd(asset.upper())


def portfolio(accounts: Sequence[AccountFigures], ts: int) -> Portfolio:
    total = sum((a.equity_usd for a in accounts), ZERO)
    today: Decimal | None = ZERO
    for a in accounts:
        if a.today_pnl_usd is None or today is None:
            today = None
        else:
            today += a.today_pnl_usd
    return Portfolio(tuple(accounts), total, today, ts)


__all__ = ["AccountFigures", "BalanceLine", "MarkFn", "Portfolio", "PositionLine", "USD_LIKE",
           "UsdFn", "account_figures", "equity_usd", "portfolio", "position_line", "quote_of",
           "realized_by_instrument", "usd_rate"]
