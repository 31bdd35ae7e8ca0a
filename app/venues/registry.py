"""Every venue the program knows: one descriptor per venue module, and the few look-ups
callers need. A new venue is one more entry in ``VENUES`` and nothing else here."""

from __future__ import annotations

from typing import Any

import orjson

from app.market.instruments import Instrument, MarketType
from app.venues import binance, bybit, coinbase, okx
from app.venues.base import Hosts, MarketFacts, Venue, VenueDescriptor

# the order users see in lists and messages
VENUES: dict[str, VenueDescriptor] = {d.name: d for d in (binance.DESCRIPTOR, okx.DESCRIPTOR,
                                                          bybit.DESCRIPTOR, coinbase.DESCRIPTOR)}

KNOWN: frozenset[tuple[str, MarketType]] = frozenset(
    (name, market) for name, d in VENUES.items() for market in d.markets)


def facts(venue: str, market: MarketType) -> MarketFacts:
    """One venue market's facts; KeyError when the venue has no such market."""
    return VENUES[venue].markets[market]


def metadata_path(venue: str, market: MarketType) -> str:
    """The REST path (with query) a session uses to load instruments."""
    facts(venue, market)
    return VENUES[venue].metadata_path(market)


def instruments_from_metadata(venue: str, market: MarketType, text: str | bytes) -> list[Instrument]:
    facts(venue, market)
    return VENUES[venue].parse_metadata(orjson.loads(text), market)


def make_venue(venue: str, market: MarketType, instruments: list[Instrument], **options: Any) -> Venue:
    """The codec of one venue market; ``options`` are the codec's own keyword arguments
    (Bybit's ``book_depth``, OKX's ``snapshotless``)."""
    facts(venue, market)
    return VENUES[venue].codec(market, instruments, **options)


def config_key(venue: str, market: MarketType) -> str:
    """The endpoint section of a venue market in config (ccxt's ids: Binance's futures
    live on other hosts, every other venue serves both markets from one)."""
    return facts(venue, market).hosts.key


def collect_hosts(venues: dict[str, VenueDescriptor]) -> dict[str, Hosts]:
    """Every host set by its key (config section and ccxt id), in venue order. Two
    markets sharing a key must share the hosts: one config section cannot mean two."""
    out: dict[str, Hosts] = {}
    for d in venues.values():
        for market, f in d.markets.items():
            seen = out.setdefault(f.hosts.key, f.hosts)
            if seen != f.hosts:
                raise ValueError(f"{d.name} {market}: hosts {f.hosts.key!r} differ from another market's")
    return out


# every host set by its key (config section and ccxt id), in venue order
HOSTS: dict[str, Hosts] = collect_hosts(VENUES)


def markets_of(key: str) -> list[tuple[str, MarketType, MarketFacts]]:
    """(venue, market, facts) of every market served by the host set ``key``."""
    return [(name, market, f) for name, d in VENUES.items() for market, f in d.markets.items()
            if f.hosts.key == key]
