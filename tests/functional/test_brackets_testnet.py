"""A bracket on a venue account: the signed local Binance testnet fake, real ccxt. The
service places the take-profit at the venue when the entry fills there, and the spot
stop-loss it holds cancels the take-profit and sells at market when the tape crosses it."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from app.feeds.hub import MarketHub
from app.market.events import Trade
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet
from tests.paper_market import INSTRUMENTS, set_book

D = Decimal
BTC = "cryptopair_binance_btcusdt"


async def until(cond, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def venue_orders(server, side: str, kind: str) -> list[dict]:
    return [o for o in server.orders.values() if o["side"] == side and o["type"] == kind]


async def start(memory_keyring):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=server.url,
                                            timeout_ms=2000))
    service.hub = MarketHub()  # the market feed's book: a market exit is checked against it
    service.hub.add_instrument(INSTRUMENTS[BTC])
    set_book(service, BTC, [(27_950.0, 1.0)], [(27_960.0, 1.0)])
    await service.astart()
    return server, service


async def fill_entry(server, service, req: OrderRequest) -> None:
    [stored] = [o for o in server.orders.values() if o["clientOrderId"] == req.client_order_id]
    server._release(stored)
    server._fill(stored, D("29000"))  # the venue matched the entry
    await service._refresh(fills=True)


async def test_bracket_on_testnet_take_profit_then_done(memory_keyring):
    server, service = await start(memory_keyring)
    try:
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        entry = await asyncio.wrap_future(service.place_bracket(req, D("31000"), D("28000")))
        assert entry.status == "open" and not venue_orders(server, "SELL", "LIMIT")
        await fill_entry(server, service, req)
        await until(lambda: venue_orders(server, "SELL", "LIMIT"), "the take-profit at the venue")
        [tp] = venue_orders(server, "SELL", "LIMIT")
        assert (tp["origQty"], tp["price"], tp["status"]) == ("0.01", "31000", "NEW")
        assert not venue_orders(server, "SELL", "STOP_LOSS")  # the spot stop is held here
        await service._refresh()
        assert service.view().bracket_role(tp["clientOrderId"]) == "TP (SL 28000 held here)"
        server._release(tp)
        server._fill(tp, D("31000"))  # the take-profit fills at the venue
        await service._refresh()
        await until(lambda: not service.brackets(), "the bracket done")
        assert not venue_orders(server, "SELL", "MARKET")  # the held stop never went out
    finally:
        await service.aclose()
        await server.stop()


async def test_bracket_on_testnet_held_stop_cancels_the_take_profit_and_sells(memory_keyring):
    server, service = await start(memory_keyring)
    try:
        req = OrderRequest(BTC, "buy", "limit", D("0.01"), D("29000"))
        await asyncio.wrap_future(service.place_bracket(req, D("31000"), D("28000")))
        await fill_entry(server, service, req)
        await until(lambda: venue_orders(server, "SELL", "LIMIT"), "the take-profit at the venue")
        server.last_price["BTCUSDT"] = D("27950")
        # the tape (from the market feed) prints through the stop
        service._check_held_stops(Trade(BTC, 1, 27_950.0, 0.5, "sell"))
        await until(lambda: venue_orders(server, "SELL", "MARKET"), "the stop's market sell")
        [tp] = venue_orders(server, "SELL", "LIMIT")
        [out] = venue_orders(server, "SELL", "MARKET")
        assert tp["status"] == "CANCELED"  # cancelled before the sell: the coins were locked
        assert (out["origQty"], out["status"]) == ("0.01", "FILLED")
        await service._refresh()
        await until(lambda: not service.brackets(), "the bracket done")
        actions = [e["action"] for e in service.audit_log]
        assert actions.index("stop_triggered") < actions.index("cancel_request")
    finally:
        await service.aclose()
        await server.stop()
