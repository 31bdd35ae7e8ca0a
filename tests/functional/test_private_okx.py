"""OKX demo trading's private stream against the local fake over real sockets: login
signed as OKX documents, pushes of orders / account / positions moving the view, native
amend-order, reconnect + reconcile, refused logins in plain words."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.trading.errors import ValidationFailed
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from tests import fake_okx_demo as okx
from tests.waiting import wait_for

D = Decimal
SPOT = "cryptopair_okx_btcusdt"
PERP = "cryptoperp_okx_btcusdt"


@pytest.fixture
async def venue():
    server = okx.FakeOkxDemo()
    await server.start()
    yield server
    await server.stop()


async def start(venue, passphrase: str = okx.PASSPHRASE) -> TradingService:
    KeyStore(environ={}).set("okx", "demo", okx.API_KEY, okx.SECRET, passphrase)
    service = TradingService(TradingOptions(account="okx-demo", rest_url=venue.url,
                                            timeout_ms=2000))
    await service.astart()
    return service


async def streaming(service) -> None:
    await wait_for(lambda: service.account is not None and service.account.streaming,
                   what="the private stream logged in")


async def test_spot_and_swap_fills_arrive_by_push(venue, memory_keyring):
    service = await start(venue)
    try:
        await streaming(service)
        assert venue.ws_logins == 1
        spot = OrderRequest(SPOT, "buy", "limit", D("0.01"), D("29000"))
        perp = OrderRequest(PERP, "sell", "limit", D("0.05"), D("31000"))
        for req in (spot, perp):
            await asyncio.wrap_future(service.place(req))
        await wait_for(lambda: len(service.view().open_orders) == 2, what="both orders open")
        gets = len(venue.requests)
        venue.fill(venue.by_client_id(spot.client_order_id)["ordId"])
        venue.fill(venue.by_client_id(perp.client_order_id)["ordId"])
        await wait_for(lambda: len(service.view().fills) == 2 and service.view().positions,
                       what="fills and the position", timeout=3)
        view = service.view()
        assert view.open_orders == ()
        fills = {f.client_order_id: f for f in view.fills}
        assert (fills[spot.client_order_id].amount, fills[spot.client_order_id].price) == \
            (D("0.01"), D("29000"))
        assert fills[perp.client_order_id].amount == D("0.05")  # 5 contracts of 0.01 BTC
        (pos,) = view.positions
        assert (pos.instrument_id, pos.size, pos.entry_price) == (PERP, D("-0.05"), D("31000"))
        assert view.balance("BTC").total == D("1.01")
        assert sorted(n.kind for n in view.notices) == ["filled", "filled"]
        assert len(venue.requests) == gets
    finally:
        await service.aclose()


async def test_amend_is_native_and_keeps_the_client_id(venue, memory_keyring):
    service = await start(venue)
    try:
        await streaming(service)
        req = OrderRequest(PERP, "buy", "limit", D("0.05"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        await wait_for(lambda: service.view().open_orders, what="the order open")
        order = await asyncio.wrap_future(service.amend(req.client_order_id, D("29100.5"),
                                                        D("0.08")))
        assert order.client_order_id == req.client_order_id
        sent = venue.by_client_id(req.client_order_id)
        assert venue.amends == 1 and (sent["px"], sent["sz"]) == ("29100.5", "8")
        await wait_for(lambda: [(o.price, o.amount) for o in service.view().open_orders] ==
                       [(D("29100.5"), D("0.08"))], what="the amended order in the view")
        with pytest.raises(ValidationFailed):  # tick 0.1, like a new order
            await asyncio.wrap_future(service.amend(req.client_order_id, D("29100.55"), None))
        assert venue.amends == 1
        assert service.view().notices == ()
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
        venue.fill(venue.by_client_id(req.client_order_id)["ordId"])
        await asyncio.sleep(0.2)
        assert service.view().open_orders  # nobody told us
        for ws in streams:
            await ws.close()
        await wait_for(lambda: venue.ws_logins == 2, what="a new login", timeout=5)
        await wait_for(lambda: not service.view().open_orders, what="reconciled", timeout=5)
        assert service.view().balance("BTC").total == D("1.01")
    finally:
        await service.aclose()


async def test_wrong_passphrase_is_refused_in_plain_words(venue, memory_keyring):
    service = await start(venue, passphrase="not-it")
    try:
        await wait_for(lambda: venue.ws_refusals, what="a refused login", timeout=5)
        assert venue.ws_refusals == ["60024"]
        await wait_for(lambda: "refused the login: Wrong passphrase (code 60024)"
                       in (service.view().problem or ""), what="the problem shown")
    finally:
        await service.aclose()
