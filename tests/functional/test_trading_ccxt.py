"""CcxtAccount with real ccxt over real HTTP: a local Binance spot testnet that verifies the
HMAC-SHA256 signature, and a local OKX that demands demo trading's header and signature."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.accounts import SPECS
from app.trading.ccxt_account import CcxtAccount
from app.trading.errors import TradingError
from app.trading.keys import Credentials
from app.trading.models import OrderRequest
from app.trading.redact import SafeText
from tests import fake_okx_demo
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet
from tests.fake_okx_demo import FakeOkxDemo

BTC = "cryptopair_binance_btcusdt"
D = Decimal


def creds(key: str = API_KEY, secret: str = SECRET) -> Credentials:
    return Credentials("binance", "testnet", SafeText(key), SafeText(secret))


@pytest.fixture
async def venue():
    server = FakeBinanceTestnet()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def account(venue):
    acc = CcxtAccount(SPECS["binance-testnet"], creds(), rest_url=venue.url, timeout_ms=400,
                      reconcile_delay=0.02)
    await acc.start()
    yield acc
    await acc.close()


class Audit(list):
    def __call__(self, action, request, response):
        self.append((action, request, response))


async def test_markets_rules_and_balances_come_from_the_testnet(account):
    rules = account.rules(BTC)
    assert (rules.symbol, rules.tick, rules.lot, rules.min_notional) == ("BTC/USDT", D("0.01"),
                                                                          D("0.00001"), D("5"))
    balances = {b.asset: b for b in await account.balances()}
    assert balances["USDT"].total == D(10000) and balances["BTC"].available == D(1)


async def test_limit_order_is_signed_listed_and_cancelled(account, venue):
    rules = account.rules(BTC)
    req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000.5"))
    audit = Audit()
    order = await account.place(req, rules, audit)
    assert order.status == "open" and order.client_order_id == req.client_order_id
    assert order.price == D("29000.5") and order.venue_order_id
    # the venue has it, under our client id, and checked every signature
    (stored,) = venue.orders.values()
    assert stored["clientOrderId"] == req.client_order_id and stored["type"] == "LIMIT"
    assert venue.bad_signatures == 0 and venue.signed_requests >= 1
    assert all(h.get("X-MBX-APIKEY") == API_KEY for m, p, h in venue.requests)
    listed = await account.open_orders()
    assert [o.client_order_id for o in listed] == [req.client_order_id]
    cancelled = await account.cancel(order, audit)
    assert cancelled.status == "canceled"
    assert await account.open_orders() == []
    assert [a[0] for a in audit] == ["place", "cancel"]
    # locked funds came back
    assert {b.asset: b.available for b in await account.balances()}["USDT"] == D(10000)


async def test_market_order_fills_and_shows_in_fills_and_balances(account, venue):
    rules = account.rules(BTC)
    order = await account.place(OrderRequest(BTC, "buy", "market", D("0.01")), rules)
    assert order.status == "filled" and order.filled == D("0.01")
    assert order.average == D("30000")
    balances = {b.asset: b for b in await account.balances()}
    assert balances["BTC"].total == D("1.01")
    assert balances["USDT"].total == D(10000) - D("300") - D("0.3")
    (fill,) = await account.fills()
    assert (fill.side, fill.price, fill.amount, fill.fee) == ("buy", D(30000), D("0.01"), D("0.3"))


async def test_wrong_secret_fails_the_signature_check_in_plain_words(venue):
    acc = CcxtAccount(SPECS["binance-testnet"], creds(secret="not-the-secret"), rest_url=venue.url)
    await acc.start()
    try:
        with pytest.raises(TradingError) as err:
            await acc.balances()
        assert venue.bad_signatures == 1
        assert err.value.kind == "auth" or "Signature" in str(err.value)
        assert "not-the-secret" not in str(err.value)
    finally:
        await acc.close()


async def test_bad_key_is_an_auth_error(venue):
    acc = CcxtAccount(SPECS["binance-testnet"], creds(key="someone-elses-key"), rest_url=venue.url)
    await acc.start()
    try:
        with pytest.raises(TradingError) as err:
            await acc.balances()
        assert err.value.kind == "auth"
        assert "refused the API key" in str(err.value)
    finally:
        await acc.close()


async def test_insufficient_funds_in_plain_words(account):
    rules = account.rules(BTC)
    with pytest.raises(TradingError) as err:
        await account.place(OrderRequest(BTC, "buy", "limit", D("1"), D("29000")), rules)
    assert err.value.kind == "insufficient_funds"
    assert str(err.value).startswith("insufficient funds on binance testnet")


async def test_rate_limit_and_invalid_order_in_plain_words(account, venue):
    rules = account.rules(BTC)
    venue.fail_next_order = (429, {"code": -1003, "msg": "Too many requests."})
    with pytest.raises(TradingError) as err:
        await account.place(OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000")), rules)
    assert err.value.kind == "rate_limit" and "wait a few seconds" in str(err.value)
    venue.fail_next_order = (400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
    with pytest.raises(TradingError) as err:
        await account.place(OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000")), rules)
    assert err.value.kind == "invalid_order" and "rejected the order" in str(err.value)
    assert venue.order_posts == 2 and venue.open_count() == 0  # never retried


async def test_timeout_reconciles_by_client_id_and_never_submits_twice(account, venue):
    rules = account.rules(BTC)
    venue.delay_order_response = 1.0  # accepted by the venue, answer arrives after our timeout
    audit = Audit()
    req = OrderRequest(BTC, "sell", "limit", D("0.01"), D("31000"))
    order = await account.place(req, rules, audit)
    assert order.client_order_id == req.client_order_id and order.status == "open"
    assert venue.order_posts == 1  # the one that timed out; found, so not sent again
    assert venue.open_count() == 1
    assert [a[0] for a in audit] == ["place_timeout", "reconcile"]
    assert audit[1][2]["found"] is True


async def test_timeout_of_an_order_the_venue_never_got_is_resent_once(account, venue, monkeypatch):
    rules = account.rules(BTC)
    calls = {"n": 0}
    original = account.exchange.create_order

    async def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            import ccxt
            raise ccxt.RequestTimeout("binance POST timed out")  # lost before reaching the venue
        return await original(*args, **kwargs)

    monkeypatch.setattr(account.exchange, "create_order", flaky)
    audit = Audit()
    req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
    order = await account.place(req, rules, audit)
    assert order.status == "open"
    assert venue.order_posts == 1 and venue.open_count() == 1  # exactly one order exists
    assert [a[0] for a in audit] == ["place_timeout", "reconcile", "place"]
    assert audit[1][2]["found"] is False


async def test_unreachable_venue_in_plain_words():
    acc = CcxtAccount(SPECS["binance-testnet"], creds(), rest_url="http://127.0.0.1:9")
    with pytest.raises(TradingError) as err:
        await acc.start()
    await acc.close()
    assert err.value.kind in ("unavailable", "timeout")
    assert "binance testnet" in str(err.value)


async def test_okx_demo_sends_the_simulated_trading_header_and_contracts():
    server = FakeOkxDemo()
    await server.start()
    creds_ = Credentials("okx", "demo", SafeText(fake_okx_demo.API_KEY),
                         SafeText(fake_okx_demo.SECRET), SafeText(fake_okx_demo.PASSPHRASE))
    acc = CcxtAccount(SPECS["okx-demo"], creds_, rest_url=server.url)
    try:
        await acc.start()
        rules = acc.rules("cryptoperp_okx_btcusdt")
        assert rules.lot == D("0.0001") and rules.contract_size == D("0.01")  # 0.01 contracts of 0.01 BTC
        req = OrderRequest("cryptoperp_okx_btcusdt", "buy", "limit", D("0.05"), D("30000.1"))
        order = await acc.place(req, rules)
        assert order.status in ("open", "unknown", "pending")
        (sent,) = server.orders
        assert sent["clOrdId"] == req.client_order_id
        assert sent["sz"] == "5"  # 0.05 BTC = 5 contracts of 0.01 BTC
        assert sent["instId"] == "BTC-USDT-SWAP" and sent["px"] == "30000.1"
        assert all(r["headers"].get("x-simulated-trading") == "1" for r in server.requests)
        # the same order to a server demanding the header: a missing header would be 50101
        assert any(r["method"] == "POST" for r in server.requests)
    finally:
        await acc.close()
        await server.stop()
