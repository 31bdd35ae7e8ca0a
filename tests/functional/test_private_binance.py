"""Binance spot's private stream against the local testnet over real sockets: the
WebSocket API subscription signed as Binance documents, pushes that move the blotter's
orders, fills and balances, reconnect + reconcile, amend through cancelReplace."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.accounts import SPECS
from app.trading.ccxt_account import CcxtAccount
from app.trading.errors import TradingError, ValidationFailed
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from app.trading.store import TradingStore
from storage.db import open_database
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet
from tests.waiting import wait_for

D = Decimal
BTC = "cryptopair_binance_btcusdt"


@pytest.fixture
async def venue():
    server = FakeBinanceTestnet()
    await server.start()
    yield server
    await server.stop()


async def start_service(tmp_path, venue, *, secret: str = SECRET, clock=None, interval=60.0):
    KeyStore(environ={}).set("binance", "testnet", API_KEY, secret)
    store = TradingStore(open_database(None, tmp_path))
    kwargs = {"clock": clock} if clock else {}
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=venue.url,
                                            timeout_ms=2000, reconcile_interval=interval),
                             store=store, **kwargs)
    await service.astart()
    return service, store


async def streaming(service) -> None:
    await wait_for(lambda: service.account is not None and service.account.streaming,
                   what="the private stream logged in")


async def test_a_fill_on_the_venue_reaches_the_view_by_push(tmp_path, venue, memory_keyring):
    service, store = await start_service(tmp_path, venue)
    try:
        await streaming(service)
        assert venue.ws_logins == 1 and venue.bad_signatures == 0
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        gets = len(venue.requests)
        venue.fill(venue.order_by_client_id(req.client_order_id)["orderId"])
        await wait_for(lambda: service.view().fills, what="the fill in the view", timeout=2)
        view = service.view()
        assert view.open_orders == ()
        fill = view.fills[0]
        assert (fill.client_order_id, fill.price, fill.amount, fill.liquidity) == \
            (req.client_order_id, D("29000"), D("0.01"), "maker")
        assert view.balance("BTC").total == D("1.01")
        assert view.balance("USDT").total == D(10000) - D("290") - D("0.29")
        assert [n.kind for n in view.notices] == ["filled"]
        assert len(venue.requests) == gets  # no REST call was needed to learn it
    finally:
        await service.aclose()


async def test_reconnect_reconciles_what_happened_while_the_stream_was_down(
        tmp_path, venue, memory_keyring):
    service, store = await start_service(tmp_path, venue)
    try:
        await streaming(service)
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        # the venue goes deaf: nothing pushed reaches us while the order fills
        streams, venue.streams = venue.streams, []
        venue.fill(venue.order_by_client_id(req.client_order_id)["orderId"])
        await asyncio.sleep(0.2)
        assert [o.client_order_id for o in service.view().open_orders] == [req.client_order_id]
        for ws in streams:
            await ws.close()
        await wait_for(lambda: venue.ws_logins == 2, what="a new login", timeout=5)
        await wait_for(lambda: service.view().open_orders == (), what="reconciled", timeout=5)
        view = service.view()
        assert view.balance("BTC").total == D("1.01")
        assert [n.kind for n in view.notices] == ["filled"]
    finally:
        await service.aclose()


async def test_wrong_secret_is_refused_and_said_in_plain_words(tmp_path, venue, memory_keyring):
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    from app.trading.keys import Credentials
    from app.trading.redact import SafeText
    acc = CcxtAccount(SPECS["binance-testnet"],
                      Credentials("binance", "testnet", SafeText(API_KEY), SafeText("wrong")),
                      rest_url=venue.url)
    problems: list[str | None] = []

    async def connected() -> None:
        return None

    await acc.start()
    try:
        assert acc.start_stream(lambda: None, connected, problems.append)
        await wait_for(lambda: any(problems), what="a refusal", timeout=5)
        assert problems[-1] == ("binance testnet private stream refused the login: Signature for "
                                "this request is not valid. (code -1022)")
        assert "wrong" not in problems[-1] and not acc.streaming
    finally:
        await acc.close()


async def test_a_clock_off_by_minutes_is_refused_as_outside_the_recv_window(
        tmp_path, venue, memory_keyring):
    import time
    service, store = await start_service(tmp_path, venue,
                                         clock=lambda: int(time.time() * 1000) - 120_000)
    try:
        await wait_for(lambda: service.view().problem and "recvWindow" in service.view().problem,
                       what="the refusal in the view", timeout=5)
        assert venue.ws_refusals == [-1021]
        assert "refused the login: Timestamp for this request is outside of the recvWindow." \
            in service.view().problem
    finally:
        await service.aclose()


async def test_amend_is_a_cancel_replace_under_the_next_client_id(tmp_path, venue,
                                                                 memory_keyring):
    service, store = await start_service(tmp_path, venue)
    try:
        await streaming(service)
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        order = await asyncio.wrap_future(service.amend(req.client_order_id, D("29100.5"),
                                                        D("0.02")))
        assert order.client_order_id == req.client_order_id + "r1"
        assert (order.price, order.amount, order.status) == (D("29100.5"), D("0.02"), "open")
        assert venue.amends == 1
        old = venue.order_by_client_id(req.client_order_id)
        new = venue.order_by_client_id(req.client_order_id + "r1")
        assert old["status"] == "CANCELED" and (new["price"], new["origQty"]) == ("29100.5", "0.02")
        await asyncio.sleep(0.1)  # the pushes of the cancel and the new order
        view = service.view()
        assert [(o.client_order_id, o.price) for o in view.open_orders] == \
            [(order.client_order_id, D("29100.5"))]
        assert view.notices == ()  # the user did it: nothing to announce
        actions = [(e["action"], e["client_order_id"]) for e in service.audit_log]
        assert ("amend_request", req.client_order_id) in actions
        assert ("amend", req.client_order_id) in actions
        amend = next(e for e in service.audit_log if e["action"] == "amend")
        assert amend["request"]["replaced_by"] == order.client_order_id
    finally:
        await service.aclose()


async def test_amend_checks_tick_and_lot_like_a_new_order(tmp_path, venue, memory_keyring):
    service, store = await start_service(tmp_path, venue)
    try:
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place(req))
        with pytest.raises(ValidationFailed) as info:
            await asyncio.wrap_future(service.amend(req.client_order_id, D("29000.005"), None))
        assert "tick" in str(info.value.errors[0].message)
        with pytest.raises(ValidationFailed):
            await asyncio.wrap_future(service.amend(req.client_order_id, None, D("0.000001")))
        with pytest.raises(TradingError, match="nothing to change"):
            await asyncio.wrap_future(service.amend(req.client_order_id, D("29000"), None))
        assert venue.amends == 0 and venue.open_count() == 1
        assert [e["action"] for e in service.audit_log].count("amend_rejected") == 3
    finally:
        await service.aclose()
