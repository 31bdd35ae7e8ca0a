"""The N most traded dollar markets of a venue: its 24h tickers ranked by quote volume.

What ``--top N`` means in ``record``, ``backfill`` and the watchlist. Two REST calls per
venue market: the market list (symbols become instruments from the venue's own metadata,
never by splitting names) and the all-symbols 24h tickers declared on the venue's
descriptor (``MarketFacts.tickers``), each at its request weight under the market's budget.
Coinbase lists USD pairs where the others list USDT: they count as its USDT markets and
come back as ``BTC/USDT``, which every command matches to Coinbase's ``BTC-USD``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson

from app.config import AppConfig
from app.errors import CryptotermError
from app.feeds.rest import RestClient, RestError, budget_for
from app.feeds.venue_rest import METADATA_WEIGHT
from app.market.instruments import Instrument, MarketType
from app.venues import registry



class TopMarketsError(CryptotermError):
    """The top markets cannot be ranked; the message is fit to show as one line."""

    default_title = "Top markets"


@dataclass(frozen=True, slots=True)
class MarketVolume:
    """One market and its 24h turnover in quote units."""

    instrument: Instrument
    quote_volume_24h: float

    @property
    def symbol(self) -> str:
        """The unified symbol, with USDT as the quote (``BTC/USDT``, ``BTC/USDT:USDT``)."""
        base = self.instrument.base.upper()
        return f"{base}/USDT" if self.instrument.market == "spot" else f"{base}/USDT:USDT"


def ranked(instruments: list[Instrument], volumes: dict[str, float], quote: str
           ) -> list[MarketVolume]:
    """The listed instruments quoted in ``quote`` that have a 24h ticker, most traded
    first (ties by symbol, so the order is the same on every call)."""
    out = [MarketVolume(inst, volumes[inst.venue_symbol]) for inst in instruments
           if inst.quote.upper() == quote and inst.venue_symbol in volumes]
    out.sort(key=lambda m: (-m.quote_volume_24h, m.instrument.base))
    return out


async def market_volumes(rest: RestClient, venue: str, market: MarketType, retries: int = 3
                         ) -> list[MarketVolume]:
    """Every dollar market of one venue market with its 24h turnover, most traded first;
    ``retries`` of each request that fails for a reason worth retrying."""
    try:
        facts = registry.facts(venue, market)
    except KeyError:
        raise TopMarketsError(f"{venue} has no {'perpetuals' if market == 'perp' else 'spot market'}") from None
    tickers = facts.tickers
    if tickers is None:
        raise TopMarketsError(f"{venue} {market}: no 24h tickers endpoint is known")
    meta_path = registry.metadata_path(venue, market)
    try:
        meta_text = await rest.get_text(meta_path, weight=METADATA_WEIGHT, retries=retries)
        # Coinbase's product list is both: one request, not two
        ticker_text = meta_text if tickers.path == meta_path else await rest.get_text(
            tickers.path, weight=tickers.weight, retries=retries)
        instruments = registry.instruments_from_metadata(venue, market, meta_text)
        volumes = tickers.parse(orjson.loads(ticker_text))
    except RestError as exc:
        raise TopMarketsError(f"{venue} {market}: cannot rank its markets: {exc}") from None
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TopMarketsError(f"{venue} {market}: unreadable answer while ranking its markets ({exc})") from None
    return ranked(instruments, volumes, tickers.quote)


async def top_markets(rest: RestClient, venue: str, market: MarketType, n: int,
                      retries: int = 3) -> list[str]:
    """The unified symbols of the ``n`` most traded dollar markets, most traded first."""
    if n < 1:
        raise TopMarketsError(f"--top {n}: must be at least 1")
    return [m.symbol for m in (await market_volumes(rest, venue, market, retries))[:n]]


def rest_client(cfg: AppConfig, venue: str, market: MarketType) -> RestClient:
    """A REST client for one venue market at the config's endpoint, under its weight budget."""
    endpoint = cfg.endpoint(registry.config_key(venue, market))
    return RestClient(endpoint.rest_url, budget_for(venue, market))


async def top_symbols(cfg: AppConfig, venue: str, n: int,
                      markets: tuple[MarketType, ...] = ("spot", "perp"), retries: int = 3) -> list[str]:
    """The ``n`` most traded markets of each market type the venue has among ``markets``
    (spot first, then perps), as unified symbols."""
    out: list[str] = []
    for market in markets:
        if (venue, market) not in registry.KNOWN:
            continue
        rest = rest_client(cfg, venue, market)
        try:
            out += await top_markets(rest, venue, market, n, retries)
        finally:
            await rest.close()
    return out


def top_symbols_sync(cfg: AppConfig, venue: str, n: int,
                     markets: tuple[MarketType, ...] = ("spot", "perp"), retries: int = 3) -> list[str]:
    """``top_symbols`` for a caller with no event loop running (CLI commands)."""
    return asyncio.run(top_symbols(cfg, venue, n, markets, retries))
