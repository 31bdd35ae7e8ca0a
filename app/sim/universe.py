"""A larger simulated market: the N most traded USDT markets of each venue.

The demo sets (three to five symbols a venue) show the terminal; the recorder, the
watchlist and the backfill benchmarks need what a real venue lists: dozens of pairs,
each with its own price scale and its own 24h turnover. ``universe_symbols(venue, n)``
gives a venue's first ``n`` base assets (spot and, where the venue lists them, the USDT
perpetual) in a fixed order that is also the order of their simulated 24h volume, so
"top N" is well defined and the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.sim.market import SimSymbol
from app.sim.okx_wire import OkxSymbol

# (base, start price): the first ones are the real leaders; the rest are made-up tickers
# whose prices walk down the decades so every price scale a venue lists is exercised.
_LEADERS: tuple[tuple[str, float], ...] = (
    ("BTC", 97_000.0), ("ETH", 3_400.0), ("SOL", 180.0), ("XRP", 2.2), ("BNB", 690.0),
    ("DOGE", 0.32), ("ADA", 0.95), ("TRX", 0.25), ("AVAX", 38.0), ("LINK", 22.0),
    ("TON", 5.5), ("DOT", 7.2), ("LTC", 105.0), ("BCH", 450.0), ("NEAR", 5.1),
    ("UNI", 13.0), ("APT", 9.5), ("ATOM", 6.8), ("ARB", 0.75), ("OP", 1.9),
    ("FIL", 5.0), ("INJ", 23.0), ("SUI", 4.2), ("ETC", 27.0), ("AAVE", 310.0),
)
MAX_UNIVERSE = 400


@dataclass(frozen=True, slots=True)
class Listing:
    """One base asset of the universe: its rank (0 = most traded) and start price."""

    rank: int
    base: str
    start_price: float

    @property
    def quote_volume_24h(self) -> float:
        """Simulated 24h turnover in quote units: falls off with rank like real venues'
        (roughly Zipf), so the leaders dominate and the tail is thin but non-zero."""
        return 2.0e9 / (1 + self.rank) ** 1.1


def _made_up_base(i: int) -> str:
    # three letters from the index, never one of the leaders' names
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    a, rest = divmod(i, len(letters) ** 2)
    b, c = divmod(rest, len(letters))
    return f"Q{letters[a % len(letters)]}{letters[b]}{letters[c]}"


def listings(n: int) -> list[Listing]:
    """The first ``n`` base assets, most traded first."""
    if not 0 < n <= MAX_UNIVERSE:
        raise ValueError(f"universe size {n}: must be 1..{MAX_UNIVERSE}")
    out = [Listing(i, base, price) for i, (base, price) in enumerate(_LEADERS[:n])]
    for i in range(len(out), n):
        # prices cycle through 1000, 100, ..., 0.001 with a per-index mantissa
        decade = 10.0 ** (3 - (i % 7))
        out.append(Listing(i, _made_up_base(i), round(decade * (1.0 + (i * 37 % 89) / 10.0), 6)))
    return out


def _steps(price: float) -> tuple[float, float]:
    """(tick, lot) a venue would list for this price: about 5 significant figures of
    price and a lot worth roughly a cent to a dollar."""
    tick = 10.0 ** (len(str(int(price))) - 6) if price >= 1 else 10.0 ** -6
    if price < 1:
        tick = 10.0 ** (int(f"{price:e}".split("e")[1]) - 4)
    lot = 10.0 ** -5 if price > 10_000 else 10.0 ** -3 if price > 10 else 1.0 if price > 0.01 else 100.0
    return float(f"{tick:.0e}"), lot


def universe_symbols(venue: str, n: int) -> list[SimSymbol] | list[OkxSymbol]:
    """A venue's simulator symbols for the first ``n`` base assets: spot for every one,
    and a USDT perpetual for the first half (venues list fewer perps than spot pairs).
    Coinbase lists USD spot pairs only."""
    out: list = []
    for listing in listings(n):
        base, price = listing.base, listing.start_price
        tick, lot = _steps(price)
        perp = listing.rank < max(1, n // 2)
        if venue == "okx":
            out.append(OkxSymbol(f"{base}-USDT", base, "USDT", "spot", price, tick, lot, lot))
            if perp:
                ct_val = "0.01" if price > 10_000 else "0.1" if price > 100 else "1" if price > 1 else "100"
                out.append(OkxSymbol(f"{base}-USDT-SWAP", base, "USDT", "perp", price * 1.0005,
                                     tick, 0.01, 0.01, ct_val))
        elif venue == "coinbase":
            out.append(SimSymbol(f"{base}-USD", base, "USD", "spot", price, tick, 0.00000001,
                                 min_notional=1.0))
        elif venue in ("binance", "bybit"):
            out.append(SimSymbol(f"{base}USDT", base, "USDT", "spot", price, tick, lot,
                                 min_notional=5.0))
            if perp:
                out.append(SimSymbol(f"{base}USDT", base, "USDT", "perp", price * 1.0005, tick, lot,
                                     min_notional=5.0))
        else:
            raise ValueError(f"no simulator for venue {venue!r}")
    return out


def turnover_24h(bases: list[str]) -> dict[str, float]:
    """Simulated 24h quote volume per base asset (``Listing.quote_volume_24h``): what a
    simulator's 24h tickers report, so ranking them gives the universe's rank order. A base
    outside the universe trades less than its whole tail."""
    known = {listing.base: listing.quote_volume_24h for listing in listings(MAX_UNIVERSE)}
    floor = Listing(MAX_UNIVERSE, "", 1.0).quote_volume_24h
    return {base: known.get(base.upper(), floor) for base in bases}


def rank_of(base: str, n: int = MAX_UNIVERSE) -> int | None:
    """The rank of a base asset in the universe (None when it is not in it)."""
    for listing in listings(n):
        if listing.base == base.upper():
            return listing.rank
    return None
