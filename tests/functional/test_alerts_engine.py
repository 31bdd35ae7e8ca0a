"""Alert rules evaluated against the engine on the simulated venues: each kind fires once
per crossing, not again while its condition holds, not within the cooldown, and again
once the cooldown has passed; order alerts from the paper account; alerts.jsonl."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.alert_rules import AlertRule
from app.alerts.delivery import JsonlLog
from app.alerts.runtime import AlertRuntime
from app.config import load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.world import DemoWorld
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from tests.waiting import wait

BTC = "cryptopair_binance_btcusdt"
OKX_BTC = "cryptopair_okx_btcusdt"
BYBIT_BTC = "cryptopair_bybit_btcusdt"
BIN_PERP = "cryptoperp_binance_btcusdt"


class Clock:
    """The alerts' monotonic clock, moved by hand: cooldowns without sleeping through them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data = tmp_path_factory.mktemp("alerts")
    cfg = load_config(None, data)
    cfg.alerts.interval = 0.05
    cfg.alerts.desktop = False
    world = DemoWorld(seed=5, rate=200.0, venues=("binance", "okx", "bybit")).start()
    world.configure(cfg)
    engine = Engine(cfg, ["BTC/USDT", "BTC/USDT:USDT"],
                    settings=ConnectionSettings(backoff_base=0.05, control_msgs_per_sec=20))
    service = TradingService(TradingOptions())
    engine.attach(service)
    engine.start()
    fired = []
    clock = Clock()
    runtime = AlertRuntime(engine, cfg, [fired.append, JsonlLog(data / "alerts.jsonl")],
                           clock=clock).start()
    wait(lambda: sum(1 for s in engine.overview() if s.synced) == 6 and service.view().ready,
         20, "every book synced")
    yield world, engine, runtime, fired, clock, data / "alerts.jsonl"
    runtime.stop()
    engine.stop()
    world.stop()


def mid(engine, instrument_id):
    return next(s.mid for s in engine.overview() if s.instrument.id == instrument_id)


def crossings(session, rule, key, on, off):
    """Condition on: one alert; held: still one; off and on again within the cooldown:
    still one; off, the cooldown over, on again: a second alert."""
    world, engine, runtime, fired, clock, _ = session
    fired.clear()
    runtime.set_rules([rule])
    mine = lambda: [a for a in fired if a.rule == rule.name and a.instrument == key]  # noqa: E731
    wait(lambda: runtime.active(rule.name, key) is False, 10, "the condition off at first")
    on()
    wait(lambda: len(mine()) == 1, 15, f"{rule.name} to fire")
    first = mine()[0]
    n = runtime.evaluations
    wait(lambda: runtime.evaluations >= n + 10, 5, "ten more passes")
    assert len(mine()) == 1 and runtime.active(rule.name, key) is True  # held: said once
    off()
    wait(lambda: runtime.active(rule.name, key) is False, 15, f"{rule.name}'s condition to clear")
    on()
    wait(lambda: runtime.active(rule.name, key) is True, 15, f"{rule.name}'s condition again")
    assert len(mine()) == 1  # crossed again within the cooldown: passed over
    off()
    wait(lambda: runtime.active(rule.name, key) is False, 15, f"{rule.name}'s condition to clear")
    clock.now += rule.cooldown + 1
    on()
    wait(lambda: len(mine()) == 2, 15, f"{rule.name} to fire after its cooldown")
    off()
    runtime.set_rules([])
    return first


def test_deviation_fires_once_per_crossing(session):
    world = session[0]
    rule = AlertRule("dev", "deviation", 100.0, ("BTC/USDT",), cooldown=30.0)
    alert = crossings(session, rule, OKX_BTC, lambda: world.push_venue("okx", 300),
                      lambda: world.push_venue("okx", 0))
    assert alert.message.startswith("BTC/USD* spot on okx is +") and alert.value > 100


def test_price_above_crosses_on_one_venue(session):
    world, engine = session[0], session[1]
    level = mid(engine, BYBIT_BTC) * 1.01
    rule = AlertRule("up", "price_above", level, venues=("bybit",), symbols=("BTC/USDT",), cooldown=30.0)
    alert = crossings(session, rule, BYBIT_BTC, lambda: world.push_venue("bybit", 250),
                      lambda: world.push_venue("bybit", 0))
    assert "BTC/USDT · bybit spot crossed above" in alert.message and alert.value > level


def test_move_within_a_window(session):
    world = session[0]
    rule = AlertRule("mv", "move", 1.0, ("BTC/USDT",), ("okx",), window=5.0, cooldown=30.0)
    alert = crossings(session, rule, OKX_BTC, lambda: world.push_venue("okx", -250),
                      lambda: world.push_venue("okx", 0))
    assert "moved -" in alert.message


def test_funding_beyond_a_rate(session):
    world = session[0]
    rule = AlertRule("fund", "funding", 0.1, venues=("binance",), cooldown=30.0)
    alert = crossings(session, rule, BIN_PERP, lambda: world.set_funding("binance", -0.002),
                      lambda: world.set_funding("binance", None))
    assert "funding -0.2000% is beyond ±0.1%" in alert.message


def test_spread_above(session):
    world = session[0]
    rule = AlertRule("wide", "spread", 20.0, ("BTC/USDT",), ("bybit",), cooldown=30.0)
    alert = crossings(session, rule, BYBIT_BTC, lambda: world.widen_venue("bybit", 40),
                      lambda: world.widen_venue("bybit", 0))
    assert alert.value > 20 and "spread" in alert.message


def test_a_paper_fill_is_an_order_alert(session):
    world, engine, runtime, fired, clock, _ = session
    fired.clear()
    runtime.set_rules([AlertRule("orders", "order", symbols=("BTC/USDT",))])
    n = runtime.evaluations
    wait(lambda: runtime.evaluations >= n + 2, 5, "the rule in force")
    bids, _ = engine.hub.book_top(BTC, 1)
    price = Decimal(str(bids[0][0]))
    service = engine.trading
    service.place(OrderRequest(BTC, "buy", "limit", Decimal("0.001"), price)).result(5)
    world.push_venue("binance", -150)  # the price comes down through the resting bid
    try:
        wait(lambda: any(a.rule == "orders" for a in fired), 15, "the fill's alert")
    finally:
        world.push_venue("binance", 0)
    (alert,) = [a for a in fired if a.rule == "orders"]
    assert alert.instrument == BTC and alert.message.startswith("Order filled: BUY 0.001 BTC/USDT")
    runtime.set_rules([])


def test_alerts_jsonl_holds_every_alert(session):
    _, _, runtime, _, _, path = session
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines and all(set(x) == {"ts", "rule", "kind", "instrument", "value", "message"} for x in lines)
    by_rule = {x["rule"] for x in lines}
    assert {"dev", "up", "mv", "fund", "wide", "orders"} <= by_rule
    assert [x["message"] for x in lines] == [a.message for a in runtime.history()]
    assert all(isinstance(x["ts"], int) and x["ts"] > 1_600_000_000_000 for x in lines)


def test_a_venue_going_away_is_one_feed_alert(tmp_path):
    from app.sim.binance_server import BinanceSimThread
    from app.sim.market import default_demo_symbols
    from app.config import Endpoint

    sim = BinanceSimThread(default_demo_symbols(), seed=2, rate=40.0).start()
    cfg = load_config(None, tmp_path)
    cfg.set_endpoint("binance", "live", Endpoint(sim.ws_url, sim.rest_url))
    cfg.alerts.interval = 0.05
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    engine.start()
    fired = []
    runtime = AlertRuntime(engine, cfg, [fired.append])
    runtime.set_rules([AlertRule("feeds", "feed", seconds=0.3, conditions=("disconnected",))])
    runtime.start()
    try:
        wait(lambda: engine.hub.book_top(BTC) is not None, 10, "a synced book")
        assert runtime.active("feeds", "binance spot") is False
        sim.stop()
        wait(lambda: fired, 10, "the feed alert")
        n = runtime.evaluations
        wait(lambda: runtime.evaluations >= n + 20, 5, "twenty more passes")
        (alert,) = fired
        assert alert.instrument == "binance spot" and alert.kind == "feed"
        assert alert.message.startswith("binance spot disconnected for ") and alert.value >= 0.3
    finally:
        runtime.stop()
        engine.stop()
        sim.stop()
