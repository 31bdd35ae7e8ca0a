"""The portfolio across configured accounts: the paper account trading, a Binance
testnet account (signed local fake, real ccxt) opened read-only because it has keys,
each valued at the hub's prices; today's PnL from the day's first sight."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from app.market.events import Trade
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet
from tests.paper_market import BTC, PERP, paper_service, trade

D = Decimal


async def until(cond, what: str, timeout: float = 8.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_portfolio_over_paper_and_a_testnet_account(memory_keyring):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    service = paper_service()
    service.loop = asyncio.get_running_loop()
    service._endpoint = lambda spec: server.url  # where the config would point it
    try:
        await service._place(OrderRequest(PERP, "buy", "market", D(1), leverage=10))
        assert service.portfolio_accounts() == ["paper", "binance-testnet"]
        await service._watch_portfolio(True)
        await until(lambda: service.portfolio_view() is not None and
                    service.portfolio_view().accounts[1].problem is None and
                    service.portfolio_view().accounts[1].balances, "both accounts")
        pf = service.portfolio_view()
        paper, testnet = pf.accounts
        # paper: 100,000 USDT less the taker fee on 1 BTC at 30,005 (0.05 %: 15.0025);
        # long 1 at 30,005 marked at the last trade 30,000 (the market order's print is
        # not on the tape): -5
        fee = paper.balances[0].total - D(100_000)
        assert paper.positions[0].entry == D(30_005) and paper.positions[0].mark == D(30_000)
        assert paper.equity_usd == D(100_000) + fee - D(5)
        # the day started when the account was first published, before the order
        assert paper.today_pnl_usd == fee - D(5) == D("-20.0025")
        # testnet: 10,000 USDT + 1 BTC valued at the hub's BTC/USDT (last trade 30,000)
        assert testnet.label == "TESTNET · Binance spot testnet"
        assert testnet.equity_usd == D(40_000)
        assert pf.total_equity_usd == paper.equity_usd + D(40_000)
        # the mark moves: unrealized and today's PnL follow, the testnet BTC too
        trade(service, PERP, 30_105.0)
        trade(service, BTC, 30_500.0)
        await until(lambda: service.portfolio_view().accounts[0].unrealized_usd == D(100),
                    "the new mark")
        paper, testnet = service.portfolio_view().accounts
        assert paper.today_pnl_usd == fee + D(100)  # -5 -> +100 unrealized
        assert testnet.equity_usd == D(40_500) and testnet.today_pnl_usd == D(500)
        await service._watch_portfolio(False)
        assert service._watched == {}
    finally:
        await service.aclose()
        await server.stop()
