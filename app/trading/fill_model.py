"""The fill model the paper account and the backtester share.

One place decides what a fill does to an account (fee, wallet, perp position) and when a
price fills a resting order, so a paper session, a backtest and a replay of the same
market agree to the last digit:

- a fee is ``price * amount * rate`` in the quote currency, maker for a resting order
  that a later print filled, taker for anything that took liquidity;
- a limit fills only when a price prints *through* it (a print at the limit may have been
  someone ahead in the queue); a stop triggers when a price reaches it, then executes as a
  market order;
- spot fills move base and quote in the wallet; perp fills move one net position per
  instrument (average entry on adds, realized PnL into the wallet on reductions, the rest
  opening the other way when a fill goes through zero); initial margin is notional /
  leverage;
- funding: ``size * mark * rate`` leaves the wallet at each funding time (a positive rate
  means longs pay shorts).

The bar rules below are how the backtester applies these to OHLC bars, where the prints
inside a bar are unknown: a bar's open is its first print, so an order waiting for it
fills there, and the bar's high / low bound every other print.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.trading.models import ZERO, Liquidity, MarginMode, Side
from app.trading.validation import MarketRules

__all__ = ["PaperFees", "PerpPosition", "VENUE_FEES", "apply_fill", "apply_funding",
           "bar_limit_price", "bar_stop_price", "limit_through", "perp_fill", "stop_hit",
           "venue_fees"]


@dataclass(frozen=True, slots=True)
class PaperFees:
    """Fee rates (fractions). Defaults are Binance's base tiers."""

    spot_maker: Decimal = Decimal("0.001")
    spot_taker: Decimal = Decimal("0.001")
    perp_maker: Decimal = Decimal("0.0002")
    perp_taker: Decimal = Decimal("0.0005")

    def rate(self, rules: MarketRules, liquidity: Liquidity) -> Decimal:
        if rules.is_perp:
            return self.perp_maker if liquidity == "maker" else self.perp_taker
        return self.spot_maker if liquidity == "maker" else self.spot_taker

    @classmethod
    def flat(cls, rate: Decimal) -> PaperFees:
        """One rate for maker and taker, spot and perp (``--fee-bps``)."""
        return cls(rate, rate, rate, rate)


# Each venue's base-tier (no volume, no token discount) schedule, from its public fee page.
VENUE_FEES: dict[str, PaperFees] = {
    "binance": PaperFees(),
    "okx": PaperFees(Decimal("0.0008"), Decimal("0.001"), Decimal("0.0002"), Decimal("0.0005")),
    "bybit": PaperFees(Decimal("0.001"), Decimal("0.001"), Decimal("0.0002"), Decimal("0.00055")),
    "coinbase": PaperFees(Decimal("0.004"), Decimal("0.006"), Decimal("0.004"), Decimal("0.006")),
}


def venue_fees(venue: str) -> PaperFees:
    """The venue's base-tier schedule (Binance's for a venue not listed)."""
    return VENUE_FEES.get(venue, VENUE_FEES["binance"])


@dataclass(slots=True)
class PerpPosition:
    """One net perpetual position; ``size`` is signed base units."""

    size: Decimal = ZERO
    entry: Decimal = ZERO
    margin: Decimal = ZERO
    leverage: int = 10
    mode: MarginMode = "cross"
    realized: Decimal = ZERO
    funding_paid: Decimal = ZERO


# -- when a price fills an order ----------------------------------------------------------

def limit_through(side: Side, limit: Decimal, price: Decimal) -> bool:
    """Whether a print at ``price`` went through a resting limit (strictly)."""
    return price < limit if side == "buy" else price > limit


def stop_hit(side: Side, stop: Decimal, price: Decimal) -> bool:
    """Whether a print at ``price`` triggers a stop (a sell stop at or below, a buy at or above)."""
    return price <= stop if side == "sell" else price >= stop


def bar_limit_price(side: Side, limit: Decimal, open_: Decimal, high: Decimal,
                    low: Decimal) -> Decimal | None:
    """Where a bar fills a resting limit: at the open when the bar opens through it (a gap),
    at the limit when a later print in the bar goes through it, else None."""
    if limit_through(side, limit, open_):
        return open_
    if limit_through(side, limit, low if side == "buy" else high):
        return limit
    return None


def bar_stop_price(side: Side, stop: Decimal, open_: Decimal, high: Decimal,
                   low: Decimal) -> Decimal | None:
    """The price at which a bar triggers a stop (before slippage): the open when the bar
    opens beyond the trigger, the trigger when the bar reaches it later, else None."""
    if stop_hit(side, stop, open_):
        return open_
    if stop_hit(side, stop, low if side == "sell" else high):
        return stop
    return None


# -- what a fill does to the account -------------------------------------------------------

def apply_fill(wallet: dict[str, Decimal], positions: dict[str, PerpPosition],
               rules: MarketRules, side: Side, price: Decimal, qty: Decimal, fee: Decimal,
               leverage: int, mode: MarginMode) -> None:
    """Book one fill: spot moves base and quote, a perp moves its position; the fee is
    paid in the quote currency either way."""
    if rules.is_perp:
        perp_fill(wallet, positions, rules, side, price, qty, leverage, mode)
    else:
        base, quote = rules.base, rules.quote
        if side == "buy":
            wallet[quote] = wallet.get(quote, ZERO) - price * qty
            wallet[base] = wallet.get(base, ZERO) + qty
        else:
            wallet[base] = wallet.get(base, ZERO) - qty
            wallet[quote] = wallet.get(quote, ZERO) + price * qty
    wallet[rules.quote] = wallet.get(rules.quote, ZERO) - fee


def perp_fill(wallet: dict[str, Decimal], positions: dict[str, PerpPosition], rules: MarketRules,
              side: Side, price: Decimal, qty: Decimal, leverage: int, mode: MarginMode) -> None:
    """Move the net position of ``rules.instrument_id`` by one fill (no fee)."""
    iid = rules.instrument_id
    pos = positions.get(iid)
    if pos is None or pos.size == 0:
        pos = positions[iid] = PerpPosition(leverage=leverage, mode=mode,
                                            realized=pos.realized if pos else ZERO,
                                            funding_paid=pos.funding_paid if pos else ZERO)
    signed = qty if side == "buy" else -qty
    if pos.size == 0 or (pos.size > 0) == (signed > 0):
        new_size = pos.size + signed
        pos.entry = (pos.entry * abs(pos.size) + price * qty) / abs(new_size)
        pos.size = new_size
        pos.margin += price * qty / pos.leverage
        return
    closing = min(qty, abs(pos.size))
    direction = 1 if pos.size > 0 else -1
    pnl = (price - pos.entry) * closing * direction
    wallet[rules.quote] = wallet.get(rules.quote, ZERO) + pnl
    pos.realized += pnl
    share = closing / abs(pos.size)
    pos.margin -= pos.margin * share
    pos.size += signed if qty <= abs(pos.size) else -pos.size
    if pos.size == 0:
        pos.entry = ZERO
        pos.margin = ZERO
    opening = qty - closing
    if opening > 0:  # flipped through zero: the rest opens the other way
        pos.leverage, pos.mode = leverage, mode
        pos.size = opening if side == "buy" else -opening
        pos.entry = price
        pos.margin = price * opening / pos.leverage


def apply_funding(wallet: dict[str, Decimal], pos: PerpPosition, quote: str, mark: Decimal,
                  rate: Decimal) -> Decimal:
    """Charge one funding payment on ``pos`` at ``mark``; returns what was paid (< 0: received)."""
    payment = pos.size * mark * rate  # positive rate: longs pay shorts
    wallet[quote] = wallet.get(quote, ZERO) - payment
    pos.funding_paid += payment
    if pos.mode == "isolated":
        pos.margin -= payment
    return payment
