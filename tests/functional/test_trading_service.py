"""TradingService: the audit trail in the database, paper state across restarts, venue
accounts through the same API, and plain words when keys are missing."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from app.trading.errors import TradingError, ValidationFailed
from app.trading.keys import KeyStore
from app.trading.models import Environment, OrderRequest
from app.trading.service import TradingOptions, TradingService
from app.trading.store import TradingStore
from storage.db import open_database
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet
from tests.waiting import wait, wait_for

D = Decimal
BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"


def run_demo(tmp_path, seed=3):
    sim = BinanceSimThread(default_demo_symbols(), seed=seed, rate=60.0).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "BTC/USDT:USDT"], settings=ConnectionSettings(backoff_base=0.05))
    store = TradingStore(open_database(None, tmp_path))
    service = TradingService(TradingOptions(), store=store)
    engine.attach(service)
    engine.start()
    wait(lambda: engine.hub.book_top(BTC) and engine.hub.book_top(PERP) and service.view().ready,
         what="synced books")
    return sim, engine, service, store


def test_paper_orders_are_audited_and_survive_a_restart(tmp_path):
    sim, engine, service, store = run_demo(tmp_path)
    try:
        bids, _ = engine.hub.book_top(BTC, 5)
        far = D(str(round(bids[0][0] * 0.9, 2)))
        resting = service.place(OrderRequest(BTC, "buy", "limit", D("0.01"), far)).result(5)
        filled = service.place(OrderRequest(PERP, "buy", "market", D("0.02"), leverage=5)).result(5)
        assert filled.status == "filled"
        with pytest.raises(ValidationFailed):
            service.place(OrderRequest(BTC, "buy", "limit", D("0.01"), D("1.001"))).result(5)
        view = service.view()
        assert [o.client_order_id for o in view.open_orders] == [resting.client_order_id]
        position = view.position(PERP)
        assert position.size == D("0.02") and position.leverage == 5
        usdt = view.balance("USDT")
    finally:
        engine.stop()
    store.flush()
    actions = [(r["action"], r["client_order_id"]) for r in store.audit_rows("paper")]
    assert ("submit", resting.client_order_id) in actions and ("place", resting.client_order_id) in actions
    assert ("fill", filled.client_order_id) in actions
    assert ("validation_failed", actions[-1][1]) in actions or any(a == "validation_failed" for a, _ in actions)
    rows = store.audit_rows("paper")
    assert all(r["ts"] > 1_600_000_000_000 and r["env"] == "paper" for r in rows)
    failed = next(r for r in rows if r["action"] == "validation_failed")
    assert "not a multiple of the tick" in json.loads(failed["response"])["errors"][0]["message"]
    assert {o["client_order_id"] for o in store.orders("paper")} >= {resting.client_order_id,
                                                                     filled.client_order_id}
    assert [f["client_order_id"] for f in store.fills("paper")].count(filled.client_order_id) >= 1

    # a new session over the same database: same balance, position and resting order
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine2 = Engine(cfg, ["BTC/USDT", "BTC/USDT:USDT"], settings=ConnectionSettings(backoff_base=0.05))
    service2 = TradingService(TradingOptions(), store=TradingStore(open_database(None, tmp_path)))
    engine2.attach(service2)
    engine2.start()
    try:
        wait(lambda: service2.view().ready, what="restored account")
        view2 = service2.view()
        assert view2.balance("USDT").total == usdt.total
        assert view2.position(PERP).size == D("0.02")
        assert [o.client_order_id for o in view2.open_orders] == [resting.client_order_id]
    finally:
        engine2.stop()
        sim.stop()


async def test_venue_account_through_the_service_with_audit(tmp_path, memory_keyring):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    store = TradingStore(open_database(None, tmp_path))
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=server.url,
                                            timeout_ms=2000), store=store)
    try:
        await service.astart()
        view = service.view()
        assert view.env is Environment.TESTNET and view.problem is None
        assert view.balance("USDT").total == D(10_000)
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        order = await asyncio.wrap_future(service.place(req))
        assert order.status == "open"
        assert [o.client_order_id for o in service.view().open_orders] == [req.client_order_id]
        with pytest.raises(ValidationFailed):  # checked against the venue's own metadata
            await asyncio.wrap_future(service.place(OrderRequest(BTC, "buy", "limit", D("0.01"),
                                                                 D("29000.001"))))
        assert server.order_posts == 1  # the invalid one never left
        # polling: the symbols traded here cost 6 weight each, a sweep of all 80 (once the
        # private stream's first reconcile is done and polling has slowed down)
        await wait_for(lambda: service._poll_sleeping_long and not service._poll_wake.is_set(),
                       what="the reconcile after login")
        server.open_order_symbols.clear()
        await service._refresh(sweep=False)
        await service._refresh(sweep=True)
        assert server.open_order_symbols == ["BTCUSDT", None]
        assert [o.client_order_id for o in service.view().open_orders] == [req.client_order_id]
        await asyncio.wrap_future(service.cancel(req.client_order_id))
        assert service.view().open_orders == ()
    finally:
        await service.aclose()
        await server.stop()
    rows = store.audit_rows("binance-testnet")
    assert [r["action"] for r in rows if r["client_order_id"] == req.client_order_id] == \
        ["submit", "place", "cancel_request", "cancel"]
    text = json.dumps(rows)
    assert SECRET not in text and API_KEY not in text


async def test_missing_keys_are_said_plainly(memory_keyring):
    service = TradingService(TradingOptions(account="okx-demo"))
    await service.astart()
    try:
        problem = service.view().problem
        assert "no API keys for okx demo" in problem and "cryptoterm keys set okx --env demo" in problem
        with pytest.raises(TradingError, match="no API keys"):
            okx_btc = "cryptopair_okx_btcusdt"  # a market the account could trade with keys
            await asyncio.wrap_future(service.place(OrderRequest(okx_btc, "buy", "market", D("1"))))
    finally:
        await service.aclose()


async def test_live_account_is_not_started_without_confirmation(memory_keyring):
    service = TradingService(TradingOptions(account="binance-live"))
    await service.astart()
    assert "real money" in service.view().problem and service.venue_account is None
    await service.aclose()


def test_build_trading_gates_live_accounts(tmp_path):
    from app.trading.runtime import build_trading
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text('[trading]\naccount = "binance-live"\nallow_live = true\n')
    cfg = load_config(cfg_path)
    with pytest.raises(TradingError, match="not confirmed"):
        build_trading(cfg, confirm_live=lambda name: False)
    service = build_trading(cfg, confirm_live=lambda name: True, store=object())
    assert service.options.live_confirmed and service.env is Environment.LIVE


def test_listener_ignores_instruments_without_orders(caplog):
    service = TradingService(TradingOptions())
    service._start_paper()
    from app.market.events import Trade
    caplog.set_level(logging.DEBUG)
    service._on_event(Trade(BTC, 1, 30000.0, 0.1, "buy"))
    assert service.paper.last_raw[BTC] == 30000.0 and not service.paper.last


async def test_venue_fills_and_venue_cancels_of_resting_orders_become_notices(tmp_path, memory_keyring):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=server.url,
                                            timeout_ms=2000))
    try:
        await service.astart()
        first = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        second = OrderRequest(BTC, "buy", "limit", D("0.02"), D("28000"))
        for req in (first, second):
            await asyncio.wrap_future(service.place(req))
        await service._refresh()
        assert service.view().notices == ()  # placing them is the user's doing, said elsewhere
        by_cid = {o["clientOrderId"]: o for o in server.orders.values()}
        server._fill(by_cid[first.client_order_id], D("29000"))  # the venue matched it
        server._release(by_cid[second.client_order_id])
        by_cid[second.client_order_id]["status"] = "EXPIRED"  # the venue dropped it
        await service._refresh()
        notices = {n.kind: n for n in service.view().notices}
        assert set(notices) == {"filled", "canceled"}
        assert notices["filled"].title == "Order filled"
        assert notices["filled"].text.startswith("BUY 0.01 BTC/USDT · binance spot @ 29000 (limit)")
        assert notices["canceled"].title == "Order cancelled by the venue"
        assert "0.02 BTC/USDT · binance spot @ 28000" in notices["canceled"].text
        assert all("cryptopair_" not in n.text for n in notices.values())
        await service._refresh()
        assert len(service.view().notices) == 2  # each said once
        # an order the venue rejects after taking it (Binance: status REJECTED)
        late = OrderRequest(BTC, "buy", "limit", D("0.01"), D("27500"))
        await asyncio.wrap_future(service.place(late))
        stored = next(o for o in server.orders.values()
                      if o["clientOrderId"] == late.client_order_id)
        server._release(stored)
        stored["status"] = "REJECTED"
        await service._refresh()
        rejected = service.view().notices[-1]
        assert (rejected.kind, rejected.title) == ("rejected", "Order rejected")
        assert rejected.text.startswith("BUY 0.01 BTC/USDT · binance spot @ 27500 (limit)")
        # a cancel from here is the user's own: no notice
        third = OrderRequest(BTC, "buy", "limit", D("0.01"), D("27000"))
        await asyncio.wrap_future(service.place(third))
        await asyncio.wrap_future(service.cancel(third.client_order_id))
        await service._refresh()
        assert len(service.view().notices) == 3
    finally:
        await service.aclose()
        await server.stop()


def test_which_account_can_trade_which_market():
    from app.accounts import cannot_trade

    assert cannot_trade("paper", "coinbase", "spot", "BTC/USD") is None
    assert cannot_trade("okx-demo", "okx", "perp", "BTC/USDT:USDT") is None
    assert cannot_trade("okx-demo", "binance", "spot", "BTC/USDT") == (
        "okx demo cannot trade BTC/USDT · binance spot: choose a binance account or switch to "
        "an okx market")
    assert cannot_trade("binance-testnet", "binance", "perp", "BTC/USDT:USDT") == (
        "binance testnet trades spot only, not BTC/USDT:USDT · binance perp: choose "
        "binanceusdm-demo or switch to a spot market")
    assert cannot_trade("bybit-demo", "coinbase", "spot", "BTC/USD").endswith(
        "choose paper or switch to a bybit market")  # no sandbox trades Coinbase
