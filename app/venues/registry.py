"""Which venue modules exist, and how to build a codec from a venue's metadata."""

from __future__ import annotations

import orjson

from app.market.instruments import Instrument, MarketType
from app.venues import binance, bybit, coinbase, okx


def metadata_path(venue: str, market: MarketType) -> str:
    """The REST path (with query) a session uses to load instruments."""
    if venue == "binance":
        return binance.BinanceVenue(market, []).exchange_info_path()
    if venue == "coinbase" and market == "spot":
        return coinbase.CoinbaseVenue(market, []).products_path()
    if venue == "bybit":
        return bybit.BybitVenue(market, []).instruments_path()
    if venue == "okx":
        return okx.OkxVenue(market, []).instruments_path()
    raise KeyError(venue)


def instruments_from_metadata(venue: str, market: MarketType, text: str | bytes) -> list[Instrument]:
    if venue == "binance":
        return binance.instruments_from_exchange_info(orjson.loads(text), market)
    if venue == "coinbase" and market == "spot":
        return coinbase.instruments_from_products(orjson.loads(text), market)
    if venue == "bybit":
        return bybit.instruments_from_instruments_info(orjson.loads(text), market)
    if venue == "okx":
        return okx.instruments_from_okx(orjson.loads(text), market)
    raise KeyError(venue)


def make_venue(venue: str, market: MarketType, instruments: list[Instrument], **options):
    """The codec of one venue market; ``options`` are the codec's own keyword arguments
    (Bybit's ``book_depth``, OKX's ``snapshotless``)."""
    if venue == "binance":
        return binance.BinanceVenue(market, instruments, **options)
    if venue == "coinbase" and market == "spot":
        return coinbase.CoinbaseVenue(market, instruments, **options)
    if venue == "bybit":
        return bybit.BybitVenue(market, instruments, **options)
    if venue == "okx":
        return okx.OkxVenue(market, instruments, **options)
    raise KeyError(venue)


KNOWN = {("binance", "spot"), ("binance", "perp"), ("coinbase", "spot"), ("bybit", "spot"),
         ("bybit", "perp"), ("okx", "spot"), ("okx", "perp")}


def config_key(venue: str, market: MarketType) -> str:
    """The endpoint section of a venue market in config (ccxt's ids: Binance's futures
    live on other hosts, every other venue serves both markets from one)."""
    if venue == "binance":
        return "binance" if market == "spot" else "binanceusdm"
    return venue
