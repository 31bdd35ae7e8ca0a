"""One ``Account`` protocol under the service: the paper account and a venue's account
(real ccxt against a local Binance testnet) go through the same operations, and what
each operation leaves behind (orders on the venue, rows in the store, notices, the
parked paper account) is the same whichever account it is."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from app.trading.store import TradingStore
from storage.db import open_database
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet, FakeTestnetThread
from tests.waiting import wait

D = Decimal
BTC = "cryptopair_binance_btcusdt"
DOWN = (503, {"code": -1001, "msg": "Internal error; unable to process your request."})


async def venue_service(tmp_path):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    store = TradingStore(open_database(None, tmp_path))
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=server.url,
                                            timeout_ms=2000), store=store)
    await service.astart()
    return server, store, service


async def test_an_order_the_venue_took_is_not_reported_rejected_when_the_refresh_fails(
        tmp_path, memory_keyring):
    server, store, service = await venue_service(tmp_path)
    try:
        server.fail_account = DOWN  # balances cannot be read after the order is placed
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        order = await asyncio.wrap_future(service.place(req))
        assert order.status == "open" and server.open_count() == 1
        view = service.view()
        assert [o.client_order_id for o in view.open_orders] == [req.client_order_id]
        assert "binance testnet" in view.problem
    finally:
        await service.aclose()
        await server.stop()
    actions = [r["action"] for r in store.audit_rows("binance-testnet")
               if r["client_order_id"] == req.client_order_id]
    assert actions == ["submit", "place"]


async def test_venue_orders_are_stored_with_their_final_state(tmp_path, memory_keyring):
    server, store, service = await venue_service(tmp_path)
    try:
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        stored = next(o for o in server.orders.values()
                      if o["clientOrderId"] == req.client_order_id)
        server._fill(stored, D("29000"))  # matched on the venue, off our screen
        await service._refresh(fills=True)
        assert [n.kind for n in service.view().notices] == ["filled"]
    finally:
        await service.aclose()
        await server.stop()
    (row,) = [o for o in store.orders("binance-testnet")
              if o["client_order_id"] == req.client_order_id]
    assert row["status"] == "filled" and D(row["filled"]) == D("0.01")
    assert [f["client_order_id"] for f in store.fills("binance-testnet")] == [req.client_order_id]
    # a venue's fills are its report, in the fills table; the audit trail is what we did
    assert "fill" not in [r["action"] for r in store.audit_rows("binance-testnet")]


async def test_cancel_all_on_a_venue_cancels_each_and_announces_none(tmp_path, memory_keyring):
    server, store, service = await venue_service(tmp_path)
    try:
        reqs = [OrderRequest(BTC, "buy", "limit", D("0.01"), D(p)) for p in ("29000", "28000")]
        for req in reqs:
            await asyncio.wrap_future(service.place(req))
        cancelled = await asyncio.wrap_future(service.cancel_all())
        assert sorted(o.client_order_id for o in cancelled) == sorted(r.client_order_id
                                                                     for r in reqs)
        assert all(o.status == "canceled" for o in cancelled) and server.open_count() == 0
        await service._refresh()
        view = service.view()
        assert view.open_orders == () and view.notices == ()  # the user's own doing
        assert view.balance("USDT").available == D(10_000)
    finally:
        await service.aclose()
        await server.stop()
    actions = [(r["action"], r["client_order_id"]) for r in store.audit_rows("binance-testnet")]
    assert ("cancel_all", None) in actions
    assert all(("cancel", r.client_order_id) in actions for r in reqs)


def test_switching_to_a_venue_and_back_keeps_the_paper_account(tmp_path, memory_keyring):
    sim = BinanceSimThread(default_demo_symbols(), seed=5, rate=60.0).start()
    venue = FakeTestnetThread().start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    cfg = load_config()
    cfg.set_endpoint("binance", "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    store = TradingStore(open_database(None, tmp_path))
    service = TradingService(TradingOptions(rest_url=venue.url, timeout_ms=2000), store=store)
    engine.attach(service)
    engine.start()
    try:
        wait(lambda: engine.hub.book_top(BTC) and service.view().ready, what="a synced book")
        bids, _ = engine.hub.book_top(BTC, 5)
        far = D(str(round(bids[0][0] * 0.9, 2)))
        paper_order = service.place(OrderRequest(BTC, "buy", "limit", D("0.01"), far)).result(5)

        view = service.switch_account("binance-testnet").result(10)
        assert view.account == "binance-testnet" and view.ready and view.problem is None
        assert view.open_orders == () and view.balance("USDT").total == D(10_000)
        venue_req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        service.place(venue_req).result(5)
        assert venue.server.open_count() == 1  # it went to the venue, not to paper
        assert [o.client_order_id for o in service.view().open_orders] == \
            [venue_req.client_order_id]

        view = service.switch_account("paper").result(10)
        assert [o.client_order_id for o in view.open_orders] == [paper_order.client_order_id]
        assert venue.server.open_count() == 1  # switching away cancels nothing
        service.cancel_all().result(5)
        assert service.view().open_orders == () and service.view().notices == ()
    finally:
        engine.stop()
        venue.stop()
        sim.stop()
    paper_ids = {o["client_order_id"]: o["status"] for o in store.orders("paper")}
    assert paper_ids == {paper_order.client_order_id: "canceled"}
    assert [o["client_order_id"] for o in store.orders("binance-testnet")] == \
        [venue_req.client_order_id]
