"""The whole app over the real engine and simulator: what a user of `cryptoterm --demo` sees."""

from __future__ import annotations

import time

import pytest

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import FROZEN_NOW_MS, BinanceSimThread
from app.sim.market import default_demo_symbols
from app.trading.service import TradingOptions, TradingService
from app.ui.app import CryptotermApp
from tests.harness import screen_text
from widgets.kline_chart import KlineChart
from tests.waiting import wait_for

DEMO = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]
BTC = "cryptopair_binance_btcusdt"


def start_engine(sim: BinanceSimThread, **kwargs) -> Engine:
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, DEMO, settings=ConnectionSettings(backoff_base=0.05), **kwargs)
    engine.start()
    return engine


def fmt(price: float) -> str:
    return f"{price:,.2f}"


@pytest.fixture
def live_demo():
    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=40.0).start()
    engine = start_engine(sim)
    yield engine
    engine.stop()
    sim.stop()


async def test_demo_shows_live_book_ticker_tape_and_chart(live_demo):
    engine = live_demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: (v := engine.view(BTC)) is not None and v.synced and v.ticker and v.trades,
                    what="a synced book")

        def on_screen() -> bool:
            text = screen_text(app)
            view = engine.view(BTC)
            return all(s in text for s in ("DEMO", "BTC/USDT", "Order book", "spread", "Trades",
                                            "connected", fmt(view.trades[0].price)))
        await wait_for(on_screen, what="book, ticker and tape on screen")
        text = screen_text(app)
        assert "UNSYNCED" not in text
        assert "waiting for klines" not in text
        # the best bid shown is one the engine really has
        view = engine.view(BTC)
        assert any(fmt(row.price) in text for row in view.bids[:3])


async def test_symbol_switch_and_interval(live_demo):
    engine = live_demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: engine.view(BTC) is not None and engine.view(BTC).synced, what="sync")
        await pilot.press("s")
        await pilot.pause(0.2)
        await pilot.press(*"eth/usdt:usdt")
        await pilot.press("enter")
        await wait_for(lambda: "ETH/USDT:USDT · binance perp" in screen_text(app), what="the switch")
        await wait_for(lambda: "funding" in screen_text(app), what="perp funding on the ticker")
        await pilot.press("2")
        await wait_for(lambda: "5m candles" in screen_text(app), what="5m interval")
        await wait_for(lambda: len(engine.view("cryptoperp_binance_ethusdt", interval="5m").klines) > 50,
                    what="5m history loaded by the engine")


# -- screenshots: a frozen, seeded simulator and a frozen clock ----------------------------

@pytest.fixture
def frozen_demo():
    start = FROZEN_NOW_MS - 300 * 100
    sim = BinanceSimThread(default_demo_symbols(), seed=7, start_time_ms=start, warmup_steps=300,
                    warmup_step_ms=100, paused=True).start()
    engine = start_engine(sim, clock=lambda: 1000.0)
    yield engine, sim
    engine.stop()
    sim.stop()


def _settled(engine: Engine) -> bool:
    view = engine.view(BTC)
    return (view is not None and view.synced and view.ticker is not None and len(view.trades) > 20
            and len(view.klines) > 100 and len(engine.health()) == 3
            and all(h.state == "connected" for h in engine.health()))


@pytest.fixture
def frozen_trading_demo():
    """The frozen demo with the paper account, as `cryptoterm --demo` has it."""
    start = FROZEN_NOW_MS - 300 * 100
    sim = BinanceSimThread(default_demo_symbols(), seed=7, start_time_ms=start, warmup_steps=300,
                    warmup_step_ms=100, paused=True).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, DEMO, settings=ConnectionSettings(backoff_base=0.05), clock=lambda: 1000.0)
    service = TradingService(TradingOptions())
    engine.attach(service)
    engine.start()
    yield engine, sim, service
    engine.stop()
    sim.stop()


# the sizes a newcomer's terminal has: 80x24 keeps the book and the whole order panel,
# 120x35 adds a chart and a short tape, 160x45 has everything at full size
@pytest.mark.parametrize("theme,size", [
    ("cryptoterm-dark", (160, 45)),
    ("cryptoterm-dark", (120, 35)),
    ("cryptoterm-dark", (80, 24)),
    ("cryptoterm-light", (160, 45)),
    ("cryptoterm-high-contrast", (120, 35)),
], ids=["dark-160x45", "dark-120x35", "dark-80x24", "light-160x45", "high-contrast-120x35"])
def test_main_screen_snapshot(frozen_trading_demo, snap_compare, theme, size):
    engine, sim, service = frozen_trading_demo
    deadline = time.monotonic() + 10
    while not all(h.state == "connected" for h in engine.health()) or len(engine.health()) < 3:
        assert time.monotonic() < deadline, "engine did not connect"
        time.sleep(0.05)
    time.sleep(0.3)  # subscriptions acknowledged
    sim.pump(steps=60)  # deterministic frames: diffs, trades, klines, tickers
    deadline = time.monotonic() + 10
    while not (_settled(engine) and service.view().ready):
        assert time.monotonic() < deadline, "frozen demo did not settle"
        sim.pump(steps=0)
        time.sleep(0.1)
    app = CryptotermApp(engine, BTC, theme=theme, mode_label="DEMO",
                        clock=lambda: FROZEN_NOW_MS / 1000)

    async def settle(pilot):
        await wait_for(lambda: app.main_screen.trading_ready, what="the order panel")
        await pilot.pause()  # the layout with the order panel in it
        chart = app.main_screen.query_one(KlineChart)
        # (at 80x24 the chart has no room: nothing to wait for)
        await wait_for(lambda: not chart.size.area or (chart.draws >= 1 and chart.up_to_date),
                       what="the chart drawn")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


async def test_cross_venue_view_opens_instrument(live_demo):
    engine = live_demo
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: all(s.synced for s in engine.overview()), what="all books synced")
        await pilot.press("x")
        await wait_for(lambda: "BTC/USD* perp" in screen_text(app) and "ETH/USD* spot" in screen_text(app),
                    what="the cross-venue table")
        await wait_for(lambda: " f+" in screen_text(app) or " f-" in screen_text(app),
                    what="perp funding with its countdown")
        text = screen_text(app)
        assert "binance ● connected 3/3" in text  # venue health strip
        assert " b+" in text or " b-" in text  # perp basis against spot
        # the cursor starts on the first market's first venue column: open it
        await pilot.press("right")
        await pilot.press("enter")
        await wait_for(lambda: "Order book" in screen_text(app), what="back on the main screen")
        assert app.main_screen.instrument_id == BTC


def test_cross_venue_snapshot(frozen_demo, snap_compare):
    engine, sim = frozen_demo
    deadline = time.monotonic() + 10
    while len(engine.health()) < 3 or not all(h.state == "connected" for h in engine.health()):
        assert time.monotonic() < deadline, "engine did not connect"
        time.sleep(0.05)
    time.sleep(0.3)
    sim.pump(steps=60)
    deadline = time.monotonic() + 10
    while not (all(s.synced and s.last for s in engine.overview())
               and all(s.funding_rate is not None for s in engine.overview()
                       if s.instrument.market == "perp")):
        assert time.monotonic() < deadline, "frozen demo did not settle"
        sim.pump(steps=0)
        time.sleep(0.1)
    app = CryptotermApp(engine, BTC, mode_label="DEMO", clock=lambda: FROZEN_NOW_MS / 1000)

    async def open_view(pilot):
        await pilot.press("x")
        await pilot.pause(0.8)

    assert snap_compare(app, terminal_size=(160, 30), run_before=open_view)


async def test_a_venue_that_cannot_be_reached_says_so_on_screen():
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint("ws://127.0.0.1:9", "http://127.0.0.1:9"))
    engine = Engine(cfg, ["BTC/USDT"])
    engine.start()
    app = CryptotermApp(engine, "cryptopair_binance_btcusdt", mode_label="LIVE DATA")
    try:
        async with app.run_test(size=(160, 45)):
            await wait_for(lambda: "cannot reach 127.0.0.1:9" in screen_text(app), 15,
                           "the reason in the status bar")
            # notify() posts a message: the toast lands a moment after the status bar text
            await wait_for(lambda: [n for n in app.recent_notices
                                    if n.title == "binance spot: cannot stream"], 5, "the toast")
            toasts = [n for n in app.recent_notices if n.title == "binance spot: cannot stream"]
            assert len(toasts) == 1 and "127.0.0.1:9" in toasts[0].message
    finally:
        engine.stop()
