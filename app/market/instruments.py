"""Instruments and their canonical ids.

Ids are built from venue metadata (base, quote, market type), never by splitting a
venue symbol: ``BTCUSDT`` is both a spot pair and a perpetual on Binance.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

MarketType = Literal["spot", "perp"]


def canonical_id(venue: str, market: MarketType, base: str, quote: str) -> str:
    """``cryptopair_binance_btcusdt`` for spot, ``cryptoperp_okx_btcusdt`` for USDT perps."""
    prefix = "cryptopair" if market == "spot" else "cryptoperp"
    return f"{prefix}_{venue}_{base}{quote}".lower()


def display_symbol(market: MarketType, base: str, quote: str) -> str:
    """ccxt's unified symbol: ``BTC/USDT`` for spot, ``BTC/USDT:USDT`` for linear perps."""
    base, quote = base.upper(), quote.upper()
    return f"{base}/{quote}" if market == "spot" else f"{base}/{quote}:{quote}"


@dataclass(frozen=True, slots=True)
class Instrument:
    venue: str
    market: MarketType
    base: str
    quote: str
    venue_symbol: str  # what the venue calls it on the wire, e.g. "BTCUSDT", "BTC-USDT-SWAP"
    tick_size: float = 0.01
    lot_size: float = 0.00001
    min_notional: float = 0.0
    contract_size: float = 1.0  # base units per contract (OKX SWAP ctVal); 1 where sizes are in base
    # derived once: decoders read ``id`` for every event they emit
    id: str = field(init=False, compare=False, repr=False)
    symbol: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", canonical_id(self.venue, self.market, self.base, self.quote))
        object.__setattr__(self, "symbol", display_symbol(self.market, self.base, self.quote))

    @property
    def label(self) -> str:
        """What a user reads in a list: ``BTC/USDT · binance spot``."""
        return f"{self.symbol} · {self.venue} {self.market}"


def parse_display_symbol(text: str) -> tuple[MarketType, str, str]:
    """``BTC/USDT`` -> ("spot", "BTC", "USDT"); ``BTC/USDT:USDT`` -> ("perp", ...).

    Raises ValueError with a message fit to show a user.
    """
    raw = text.strip().upper()
    settle = None
    if ":" in raw:
        raw, settle = raw.split(":", 1)
    if raw.count("/") != 1:
        raise ValueError(f"symbol {text!r} is not of the form BASE/QUOTE or BASE/QUOTE:SETTLE")
    base, quote = raw.split("/")
    if not base.isalnum() or not quote.isalnum():
        raise ValueError(f"symbol {text!r} is not of the form BASE/QUOTE or BASE/QUOTE:SETTLE")
    if settle is not None and settle != quote:
        raise ValueError(f"symbol {text!r}: only linear perpetuals settled in the quote are supported")
    return ("perp" if settle else "spot"), base, quote


LISTED_SHOWN = 6  # markets named in a "not listed" message before "(N more)"


def not_listed_message(symbol: str, where: str, listed: list[str], shown: int = LISTED_SHOWN) -> str:
    """``FOO/BAR is not listed on binance spot; listed: BTC/USDT, ETH/USDT, ... (N more)``:
    the nearest names first (a typo finds its market), then the same quote, then the rest."""
    names = sorted(set(listed))
    if not names:
        return f"{symbol} is not listed on {where} (it lists no markets)"
    near = difflib.get_close_matches(symbol.upper(), names, n=shown, cutoff=0.8)
    quote = symbol.upper().rpartition("/")[2]
    rest = sorted((n for n in names if n not in near), key=lambda n: (n.rpartition("/")[2] != quote, n))
    head = (near + rest)[:shown]
    more = len(names) - len(head)
    tail = f", ... ({more:,} more)" if more else ""
    return f"{symbol} is not listed on {where}; listed: {', '.join(head)}{tail}"
