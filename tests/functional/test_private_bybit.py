"""Bybit testnet's private stream against the local fake over real sockets: auth signed
as Bybit documents, order / execution / position / wallet pushes moving the view, native
/v5/order/amend, reconnect + reconcile, refused auth in plain words."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.trading.errors import ValidationFailed
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from tests import fake_bybit_testnet as bybit
from tests.waiting import wait_for

D = Decimal
SPOT = "cryptopair_bybit_btcusdt"
PERP = "cryptoperp_bybit_btcusdt"


@pytest.fixture
async def venue():
    server = bybit.FakeBybitTestnet()
    await server.start()
    yield server
    assert server.unknown == []  # every call the session made is one the fake serves
    await server.stop()


async def start(venue, secret: str = bybit.SECRET, clock=None) -> TradingService:
    KeyStore(environ={}).set("bybit", "testnet", bybit.API_KEY, secret)
    kwargs = {"clock": clock} if clock else {}
    service = TradingService(TradingOptions(account="bybit-testnet", rest_url=venue.url,
                                            timeout_ms=3000), **kwargs)
    await service.astart()
    return service


async def streaming(service) -> None:
    await wait_for(lambda: service.account is not None and service.account.streaming,
                   what="the private stream authenticated")


async def test_spot_and_linear_fills_arrive_by_push(venue, memory_keyring):
    service = await start(venue)
    try:
        await streaming(service)
        spot = OrderRequest(SPOT, "buy", "limit", D("0.01"), D("29000"))
        perp = OrderRequest(PERP, "buy", "limit", D("0.02"), D("29500"))
        for req in (spot, perp):
            await asyncio.wrap_future(service.place(req))
        await wait_for(lambda: sorted(o.status for o in service.view().open_orders) ==
                       ["open", "open"], what="both orders open (pushed)")
        gets = len(venue.requests)
        for req in (spot, perp):
            venue.fill(venue.by_link_id(req.client_order_id)["orderId"])
        await wait_for(lambda: len(service.view().fills) == 2 and service.view().positions,
                       what="fills and the position", timeout=3)
        view = service.view()
        assert view.open_orders == ()
        (pos,) = view.positions
        assert (pos.instrument_id, pos.size, pos.entry_price) == (PERP, D("0.02"), D("29500"))
        assert view.balance("BTC").total == D("1.01")
        fees = {f.client_order_id: f.fee for f in view.fills}
        assert fees[spot.client_order_id] == D("0.01") * D("29000") * D("0.0002")
        assert sorted(n.kind for n in view.notices) == ["filled", "filled"]
        assert len(venue.requests) == gets
    finally:
        await service.aclose()


async def test_amend_is_native_and_keeps_the_client_id(venue, memory_keyring):
    service = await start(venue)
    try:
        await streaming(service)
        req = OrderRequest(PERP, "sell", "limit", D("0.02"), D("31000"))
        await asyncio.wrap_future(service.place(req))
        await wait_for(lambda: service.view().open_orders, what="the order open")
        order = await asyncio.wrap_future(service.amend(req.client_order_id, D("30900.5"), None))
        assert order.client_order_id == req.client_order_id
        sent = venue.by_link_id(req.client_order_id)
        assert venue.amends == 1 and (sent["price"], sent["qty"]) == ("30900.5", "0.02")
        await wait_for(lambda: [o.price for o in service.view().open_orders] == [D("30900.5")],
                       what="the amended price in the view")
        with pytest.raises(ValidationFailed):  # lot 0.001, as for a new order
            await asyncio.wrap_future(service.amend(req.client_order_id, None, D("0.0205")))
        assert venue.amends == 1 and service.view().notices == ()
    finally:
        await service.aclose()


async def test_reconnect_reconciles(venue, memory_keyring):
    service = await start(venue)
    try:
        await streaming(service)
        req = OrderRequest(SPOT, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        await wait_for(lambda: service.view().open_orders, what="the order open")
        streams, venue.streams = venue.streams, []
        venue.fill(venue.by_link_id(req.client_order_id)["orderId"])
        await asyncio.sleep(0.2)
        assert service.view().open_orders
        for ws in streams:
            await ws.close()
        await wait_for(lambda: venue.ws_logins == 2, what="a new auth", timeout=5)
        await wait_for(lambda: not service.view().open_orders, what="reconciled", timeout=5)
        assert service.view().balance("BTC").total == D("1.01")
        assert [n.kind for n in service.view().notices] == ["filled"]
    finally:
        await service.aclose()


async def test_an_expired_auth_is_refused_in_plain_words(venue, memory_keyring):
    import time
    service = await start(venue, clock=lambda: int(time.time() * 1000) - 60_000)
    try:
        await wait_for(lambda: venue.ws_refusals, what="a refused auth", timeout=5)
        assert venue.ws_refusals == ["error:request expired"]
    finally:
        await service.aclose()


async def test_a_wrong_secret_is_refused_in_plain_words(venue, memory_keyring):
    # loading the markets already signs a call (the coin list): the venue refuses it, so
    # the account never starts and no stream is attempted
    service = await start(venue, secret="not-the-secret")
    try:
        problem = service.view().problem or ""
        assert "bybit testnet" in problem and "refused the API key" in problem
        assert "not-the-secret" not in problem and venue.ws_logins == 0
    finally:
        await service.aclose()
