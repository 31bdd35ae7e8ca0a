"""Binance USD-M's user data stream against the local fake over real sockets: a listen
key from REST (and its renewal), ORDER_TRADE_UPDATE / ACCOUNT_UPDATE moving the view,
amend in place (PUT order), an expired key -> a new key, reconnect and reconcile."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from tests import fake_binance_usdm as usdm
from tests.waiting import wait_for

D = Decimal
PERP = "cryptoperp_binance_btcusdt"


@pytest.fixture
async def venue():
    server = usdm.FakeBinanceUsdm()
    await server.start()
    yield server
    assert server.unknown == []
    await server.stop()


async def start(venue) -> TradingService:
    KeyStore(environ={}).set("binanceusdm", "demo", usdm.API_KEY, usdm.SECRET)
    service = TradingService(TradingOptions(account="binanceusdm-demo", rest_url=venue.url,
                                            timeout_ms=3000))
    await service.astart()
    await wait_for(lambda: service.account is not None and service.account.streaming,
                   what="the user data stream")
    return service


async def test_a_fill_moves_orders_fills_balance_and_position_by_push(venue, memory_keyring):
    service = await start(venue)
    try:
        req = OrderRequest(PERP, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        gets = len(venue.requests)
        venue.fill(venue.by_client_id(req.client_order_id)["orderId"])
        await wait_for(lambda: service.view().fills and service.view().positions,
                       what="the fill and the position", timeout=3)
        view = service.view()
        assert view.open_orders == ()
        (pos,) = view.positions
        assert (pos.size, pos.entry_price) == (D("0.01"), D("29000"))
        assert view.balance("USDT").total == D(10000) - D("0.01") * D("29000") * D("0.0002")
        assert [n.kind for n in view.notices] == ["filled"]
        assert len(venue.requests) == gets
    finally:
        await service.aclose()


async def test_amend_in_place_keeps_the_client_id(venue, memory_keyring):
    service = await start(venue)
    try:
        req = OrderRequest(PERP, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        order = await asyncio.wrap_future(service.amend(req.client_order_id, D("29050.5"),
                                                        D("0.02")))
        assert order.client_order_id == req.client_order_id
        sent = venue.by_client_id(req.client_order_id)
        assert venue.amends == 1 and (sent["price"], D(sent["origQty"])) == ("29050.5", D("0.02"))
        assert ("PUT", "/fapi/v1/order") in venue.requests
        await wait_for(lambda: [(o.price, o.amount) for o in service.view().open_orders] ==
                       [(D("29050.5"), D("0.02"))], what="the amended order")
    finally:
        await service.aclose()


async def test_the_listen_key_is_renewed_and_an_expired_one_replaced(venue, memory_keyring):
    KeyStore(environ={}).set("binanceusdm", "demo", usdm.API_KEY, usdm.SECRET)
    service = TradingService(TradingOptions(account="binanceusdm-demo", rest_url=venue.url,
                                            timeout_ms=3000))
    await service.astart()
    try:
        account = service.account
        await wait_for(lambda: account.streaming, what="the user data stream")
        account.stream.session.renew_every = 0.05  # the venue wants one within 60 minutes
        await account.stream.drop()  # the new setting applies from the next connection
        await wait_for(lambda: venue.renewals >= 2, what="renewals", timeout=5)
        req = OrderRequest(PERP, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        keys_before = set(venue.listen_keys)
        venue.expire_listen_keys()  # ... and the stream says listenKeyExpired
        venue.fill(venue.by_client_id(req.client_order_id)["orderId"])  # nobody hears it
        await wait_for(lambda: venue.listen_keys and venue.listen_keys != keys_before,
                       what="a new listen key", timeout=5)
        await wait_for(lambda: not service.view().open_orders and service.view().positions,
                       what="reconciled after the new key", timeout=5)
    finally:
        await service.aclose()
