"""The REST client of one venue market under that market's weight budget, and the
fetch function the bulk kline backfill pages through it (bulk ``backfill``,
``gaps --fill-gaps`` and the recorder's catch-up all fetch this way)."""

from __future__ import annotations

from app.config import AppConfig
from app.feeds.rest import RestClient, RestError, budget_for
from app.market.instruments import Instrument, MarketType
from app.venues import registry
from storage.bulk_backfill import Fetch, FetchFailed

METADATA_WEIGHT = 20  # the market list's weight where the venue weighs it (Binance spot)


def rest_for(cfg: AppConfig, venue: str, market: MarketType) -> RestClient:
    """A client on the configured REST endpoint (ConfigError when there is none)."""
    endpoint = cfg.endpoint(registry.config_key(venue, market))
    return RestClient(endpoint.rest_url, budget_for(venue, market))


def fetcher(rest: RestClient, retries: int) -> Fetch:
    async def fetch(path: str, weight: int) -> str:
        try:
            return await rest.get_text(path, weight=weight, retries=retries)
        except RestError as exc:
            raise FetchFailed(str(exc)) from None
    return fetch


async def market_list(rest: RestClient, venue: str, market: MarketType,
                      retries: int = 3) -> list[Instrument]:
    """The venue market's listed instruments (RestError when it cannot be fetched,
    ValueError when it cannot be read)."""
    text = await rest.get_text(registry.metadata_path(venue, market), weight=METADATA_WEIGHT,
                               retries=retries)
    return registry.instruments_from_metadata(venue, market, text)
