"""Which venue modules exist, and how to build a codec from a venue's metadata."""

from __future__ import annotations

import orjson

from app.market.instruments import Instrument, MarketType
from app.venues import binance


def metadata_path(venue: str, market: MarketType) -> str:
    """The REST path (with query) a session uses to load instruments."""
    if venue == "binance":
        return binance.BinanceVenue(market, []).exchange_info_path()
    raise KeyError(venue)


def instruments_from_metadata(venue: str, market: MarketType, text: str | bytes) -> list[Instrument]:
    if venue == "binance":
        return binance.instruments_from_exchange_info(orjson.loads(text), market)
    raise KeyError(venue)


def make_venue(venue: str, market: MarketType, instruments: list[Instrument]):
    if venue == "binance":
        return binance.BinanceVenue(market, instruments)
    raise KeyError(venue)


KNOWN = {("binance", "spot"), ("binance", "perp")}
