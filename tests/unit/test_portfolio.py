"""Portfolio figures for a mixed spot/perp account, every number computed by hand."""

from __future__ import annotations

from decimal import Decimal

from app.trading.account import AccountSnapshot
from app.trading.models import Balance, Fill, Position
from app.trading.portfolio import account_figures, equity_usd, portfolio, realized_by_instrument

D = Decimal
SPOT_BTC = "cryptopair_binance_btcusdt"
PERP_BTC = "cryptoperp_binance_btcusdt"
PERP_ETH = "cryptoperp_binance_ethusdt"


def fill(n: int, iid: str, symbol: str, side: str, price: str, amount: str, fee: str,
         asset: str = "USDT") -> Fill:
    return Fill(f"f{n}", f"o{n}", iid, symbol, side, D(price), D(amount), D(fee), asset,
                "taker", 1_700_000_000_000 + n)


SNAP = AccountSnapshot(
    balances=(Balance("USDT", D(10_000), D(9_000)), Balance("BTC", D("0.5"), D("0.5")),
              Balance("ETH", D(2), D(2)), Balance("XYZ", D(100), D(100))),
    positions=(
        Position(PERP_BTC, "BTC/USDT:USDT", D("0.2"), D(60_000), 10, "isolated", D(1_200),
                 mark_price=D(60_500), funding_paid=D("3.5"), liquidation_price=D(54_300)),
        Position(PERP_ETH, "ETH/USDT:USDT", D(-1), D(3_000), 10, "cross", D(300))),
    fills=(  # newest first, as accounts report them
        fill(6, PERP_ETH, "ETH/USDT:USDT", "sell", "3000", "1", "1.5"),
        fill(5, PERP_BTC, "BTC/USDT:USDT", "sell", "62000", "0.1", "3.1"),
        fill(4, PERP_BTC, "BTC/USDT:USDT", "buy", "60000", "0.3", "9"),
        fill(3, SPOT_BTC, "BTC/USDT", "sell", "56000", "0.5", "28"),
        fill(2, SPOT_BTC, "BTC/USDT", "buy", "54000", "0.5", "27"),
        fill(1, SPOT_BTC, "BTC/USDT", "buy", "50000", "0.5", "25")))
USD = {"BTC": D(61_500), "ETH": D(3_050)}
MARKS = {PERP_BTC: D(61_000), PERP_ETH: D(3_100)}


def test_realized_pnl_average_cost_after_fees():
    realized = realized_by_instrument(SNAP.fills)
    # spot BTC: bought 0.5 @ 50,000 and 0.5 @ 54,000 (average 52,000), sold 0.5 @ 56,000:
    # (56,000 - 52,000) x 0.5 = 2,000, less 25 + 27 + 28 fees = 1,920
    assert realized[SPOT_BTC] == D(1_920)
    # perp BTC: long 0.3 @ 60,000, 0.1 closed @ 62,000: 200 less 9 + 3.1 fees = 187.9
    assert realized[PERP_BTC] == D("187.9")
    assert realized[PERP_ETH] == D("-1.5")  # opened a short: only the fee so far


def test_realized_pnl_through_zero():
    fills = [fill(1, PERP_BTC, "BTC/USDT:USDT", "buy", "100", "1", "0"),
             fill(2, PERP_BTC, "BTC/USDT:USDT", "sell", "110", "3", "0"),  # +10, short 2 @ 110
             fill(3, PERP_BTC, "BTC/USDT:USDT", "buy", "100", "2", "0")]  # +20
    assert realized_by_instrument(fills)[PERP_BTC] == D(30)


def test_mixed_spot_and_perp_account_figures():
    figs = account_figures("binance-testnet", "TESTNET · Binance", SNAP, usd=USD.get,
                           mark=MARKS.get, day_start_equity=D(46_000))
    # 10,000 USDT + 0.5 BTC x 61,500 + 2 ETH x 3,050 + BTC perp (61,000 - 60,000) x 0.2
    # + ETH perp (3,100 - 3,000) x -1 = 10,000 + 30,750 + 6,100 + 200 - 100
    assert figs.equity_usd == D(46_950)
    assert figs.unpriced == ("XYZ",)  # no market for it: left out, named
    assert figs.unrealized_usd == D(100)
    assert figs.realized_usd == D("2106.4")  # 1,920 + 187.9 - 1.5
    assert figs.funding_paid_usd == D("3.5")
    assert figs.margin_usd == D(1_500)
    assert figs.today_pnl_usd == D(950)
    btc, eth = figs.positions
    assert (btc.mark, btc.unrealized, btc.realized, btc.liquidation_price) == (
        D(61_000), D(200), D("187.9"), D(54_300))  # the market's mark over the account's
    assert (eth.unrealized, eth.margin, eth.margin_mode) == (D(-100), D(300), "cross")
    values = {b.asset: b.value_usd for b in figs.balances}
    assert values == {"USDT": D(10_000), "BTC": D(30_750), "ETH": D(6_100), "XYZ": None}
    # the risk check's equity is the same number, and says what it could not price
    assert equity_usd(SNAP, usd=USD.get, mark=MARKS.get) == (D(46_950), ("XYZ",))


def test_position_without_a_market_mark_uses_the_accounts_own():
    figs = account_figures("a", "A", SNAP, usd=USD.get, mark=lambda iid: None)
    btc = figs.positions[0]
    assert (btc.mark, btc.unrealized) == (D(60_500), D(100))  # (60,500 - 60,000) x 0.2


def test_portfolio_totals_across_accounts():
    a = account_figures("binance-testnet", "T", SNAP, usd=USD.get, mark=MARKS.get,
                        day_start_equity=D(46_000))
    paper = account_figures("paper", "PAPER", AccountSnapshot(balances=(Balance("USDT", D(5_000), D(5_000)),)),
                            usd=USD.get, mark=MARKS.get, day_start_equity=D(5_100))
    total = portfolio([a, paper], ts=1)
    assert total.total_equity_usd == D(51_950)
    assert total.total_today_pnl_usd == D(850)  # 950 - 100
    unknown = account_figures("x", "X", AccountSnapshot(), usd=USD.get, mark=MARKS.get)
    assert portfolio([a, unknown], ts=1).total_today_pnl_usd is None
