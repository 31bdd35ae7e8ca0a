"""--top N: the most traded dollar markets of each venue from its 24h tickers REST,
against the simulators (whose tickers report the universe's turnover, rank order)."""

from __future__ import annotations

import asyncio

import pytest

from app.config import load_config
from app.feeds.rest import RestClient
from app.feeds.top_markets import TopMarketsError, market_volumes, top_markets, top_symbols_sync
from app.sim.universe import listings
from app.sim.world import DemoWorld

UNIVERSE = 12


@pytest.fixture(scope="module")
def world():
    with DemoWorld(seed=3, rate=0.0, universe=UNIVERSE) as w:
        yield w


@pytest.fixture()
def cfg(world):
    cfg = load_config()
    world.configure(cfg)
    return cfg


def leaders(n: int) -> list[str]:
    return [listing.base for listing in listings(UNIVERSE)[:n]]


@pytest.mark.parametrize("venue", ["binance", "okx", "bybit"])
def test_top_n_spot_then_perps_in_rank_order(cfg, venue):
    got = top_symbols_sync(cfg, venue, 4)
    assert got == [f"{b}/USDT" for b in leaders(4)] + [f"{b}/USDT:USDT" for b in leaders(4)]


def test_coinbase_usd_pairs_are_its_usdt_markets(cfg):
    # Coinbase lists BTC-USD (and a BTC-USDC alias of the same book): one market each
    assert top_symbols_sync(cfg, "coinbase", 3) == [f"{b}/USDT" for b in leaders(3)]


def test_n_larger_than_the_listing_gives_every_market_once(cfg):
    got = top_symbols_sync(cfg, "bybit", 100, markets=("perp",))
    assert got == [f"{b}/USDT:USDT" for b in leaders(UNIVERSE // 2)]  # half the universe has perps


def test_volumes_are_the_universe_turnover_in_quote_units(world):
    async def run():
        rest = RestClient(world.threads["okx"].rest_url)
        try:
            return await market_volumes(rest, "okx", "perp")  # SWAP: base volume x last
        finally:
            await rest.close()

    got = asyncio.run(run())
    expected = {listing.base: listing.quote_volume_24h for listing in listings(UNIVERSE)}
    assert [m.instrument.venue_symbol for m in got][:2] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
    for m in got:
        assert m.quote_volume_24h == pytest.approx(expected[m.instrument.base], rel=1e-6)


@pytest.mark.parametrize("market,weight", [("spot", 20 + 80), ("perp", 1 + 40)])
def test_binance_ticker_weight_is_counted(world, market, weight):
    sim = world.threads["binance"]
    path = "/api/v3" if market == "spot" else "/fapi/v1"

    async def run():
        rest = RestClient(sim.rest_url)
        try:
            before = sim.rest_weight
            top = await top_markets(rest, "binance", market, 2)
            # one symbol's ticker costs what Binance says, not the whole market's
            await rest.get_text(f"{path}/ticker/24hr?symbol=BTCUSDT")
            return top, sim.rest_weight - before
        finally:
            await rest.close()

    top, spent = asyncio.run(run())
    assert len(top) == 2
    assert spent == weight + (2 if market == "spot" else 1)


def test_top_zero_and_unknown_market_are_refused(cfg):
    with pytest.raises(TopMarketsError, match="at least 1"):
        top_symbols_sync(cfg, "binance", 0)
    assert top_symbols_sync(cfg, "coinbase", 2, markets=("perp",)) == []  # no perps: nothing


def test_a_venue_that_does_not_answer_is_one_line(cfg):
    from app.config import Endpoint

    cfg.set_endpoint("bybit", "live", Endpoint("ws://127.0.0.1:9", "http://127.0.0.1:9"))
    with pytest.raises(TopMarketsError, match=r"^bybit spot: cannot rank its markets: cannot reach 127\.0\.0\.1"):
        top_symbols_sync(cfg, "bybit", 3, retries=0)
