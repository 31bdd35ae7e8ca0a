"""The engine on its own thread, fed by the simulator on its own thread: what the UI sees."""

from __future__ import annotations


import pytest

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from tests.waiting import wait


@pytest.fixture
def running():
    sim = BinanceSimThread(default_demo_symbols(), seed=3, rate=100.0).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "DOGE/USDT"],
                    settings=ConnectionSettings(backoff_base=0.05))
    engine.start()
    yield engine, sim
    engine.stop()
    sim.stop()


def test_engine_serves_views_with_metadata(running):
    engine, _ = running
    wait(lambda: (v := engine.view("cryptopair_binance_btcusdt")) is not None and v.synced
         and v.ticker is not None and v.trades and v.klines, what="a full BTC/USDT view")
    view = engine.view("cryptopair_binance_btcusdt", depth=20)
    assert len(view.bids) == 20 and len(view.asks) == 20
    assert view.best_bid < view.best_ask
    assert view.bids[0].price == view.best_bid and view.bids[-1].cumulative > view.bids[0].size
    assert view.instrument.tick_size == 0.01  # from exchangeInfo, not the guess
    perp = engine.view("cryptoperp_binance_btcusdt")
    wait(lambda: engine.view("cryptoperp_binance_btcusdt").funding is not None, what="funding")
    assert perp.instrument.symbol == "BTC/USDT:USDT"
    # DOGE/USDT is not listed by the venue: dropped with a plain-words problem
    wait(lambda: engine.problems, what="the unknown-symbol problem")
    assert any(p.startswith("DOGE/USDT is not listed on binance spot; listed: BTC/USDT, ETH/USDT")
               for p in engine.problems), engine.problems
    assert all(i.base != "DOGE" for i in engine.instruments())
    names = {h.name for h in engine.health()}
    assert {"binance spot", "binance perp public", "binance perp market"} <= names


def test_watch_loads_another_interval(running):
    engine, _ = running
    iid = "cryptopair_binance_ethusdt"
    wait(lambda: (v := engine.view(iid)) is not None and v.synced, what="sync")
    assert not engine.view(iid, interval="15m").klines
    engine.watch(iid, "15m")
    wait(lambda: len(engine.view(iid, interval="15m").klines) > 100, what="15m history")
    k = engine.view(iid, interval="15m").klines
    assert all(b.open_time - a.open_time == 900_000 for a, b in zip(k, k[1:]))


def test_unreachable_venue_is_reported_in_plain_words():
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint("ws://127.0.0.1:9", "http://127.0.0.1:9"))
    engine = Engine(cfg, ["BTC/USDT"])
    engine.start()
    try:
        wait(lambda: any(h.error for h in engine.health()), what="an error")
        (h,) = engine.health()
        assert "cannot reach 127.0.0.1:9 (connection refused" in h.error
        assert h.state == "reconnecting"
    finally:
        engine.stop()


def test_any_listed_market_can_be_opened_at_runtime(running):
    engine, sim = running
    wait(lambda: engine.view("cryptopair_binance_btcusdt").synced, what="sync")
    sol = "cryptopair_binance_solusdt"  # listed by the venue, not streamed at start
    assert sol in {i.id for i in engine.markets()}
    assert engine.view(sol) is None
    engine.ensure(sol)
    assert engine.view(sol) is not None and not engine.view(sol).synced
    wait(lambda: engine.view(sol).synced and engine.view(sol).trades, what="SOL streaming")
    eth_perp = "cryptoperp_binance_ethusdt"  # a market whose feed may still be starting
    engine.ensure(eth_perp)
    wait(lambda: (v := engine.view(eth_perp)) is not None and v.synced, what="ETH perp streaming")
    last_id, bids, _ = sim.truth("ETHUSDT", "perp")
    assert engine.view(eth_perp).best_bid <= max(bids) * 1.01


def test_unreachable_reasons_are_plain():
    import asyncio
    import socket

    import aiohttp

    from app.unreachable import unreachable_reason

    dns = socket.gaierror(-2, "Name or service not known")
    key = aiohttp.client_reqrep.ConnectionKey("api.binance.com", 443, True, True, None, None, None)
    assert "does not resolve" in unreachable_reason(aiohttp.ClientConnectorError(key, dns))
    assert "does not resolve" in unreachable_reason(dns)
    assert unreachable_reason(ConnectionRefusedError(111, "refused")).startswith("connection refused")
    assert unreachable_reason(asyncio.TimeoutError()) == "timed out"
    assert unreachable_reason(OSError(101, "Network is unreachable")) == "Network is unreachable"
