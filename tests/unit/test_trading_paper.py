"""PaperAccount fills: market orders walk the book, limits fill only on trade-through,
fees, stops, perps (leverage, PnL, funding, liquidation) and state that survives restarts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.market.events import Funding, Trade
from app.trading.errors import ValidationFailed
from app.trading.models import OrderRequest
from app.trading.paper import PaperAccount, PaperFees
from app.trading.validation import MarketRules

D = Decimal
START = D(100_000)
SPOT_ID, PERP_ID = "cryptopair_binance_btcusdt", "cryptoperp_binance_btcusdt"
RULES = {
    SPOT_ID: MarketRules(SPOT_ID, "BTC/USDT", "spot", "BTC", "USDT", D("0.01"), D("0.001"),
                         D("0.001"), D("5"), 1),
    PERP_ID: MarketRules(PERP_ID, "BTC/USDT:USDT", "perp", "BTC", "USDT", D("0.1"), D("0.001"),
                         D("0.001"), D("5"), 50),
}
BOOK = ([(29_999.0, 0.5), (29_998.0, 1.0), (29_990.0, 2.0)],
        [(30_001.0, 0.5), (30_002.0, 1.0), (30_010.0, 2.0)])


class Clock:
    now = 1_700_000_000_000

    def __call__(self) -> int:
        return self.now


def account(book=BOOK, balance=100_000, **kw) -> PaperAccount:
    return PaperAccount(RULES.get, lambda iid: book, balances={"USDT": D(balance)},
                        clock=Clock(), **kw)


def trade(price: float, iid: str = SPOT_ID, ts: int = 1_700_000_001_000) -> Trade:
    return Trade(iid, ts, price, 0.1, "sell")


def test_market_buy_walks_the_book_at_vwap_and_pays_taker_fee():
    acc = account()
    order = acc.place(OrderRequest(SPOT_ID, "buy", "market", D("1.2")))
    # 0.5 @ 30001 + 0.7 @ 30002
    vwap = (D("0.5") * 30_001 + D("0.7") * 30_002) / D("1.2")
    assert order.status == "filled" and order.filled == D("1.2") and order.average == vwap
    cost = D("0.5") * 30_001 + D("0.7") * 30_002
    assert order.fee == cost * D("0.001")
    assert acc.wallet["BTC"] == D("1.2") and acc.wallet["USDT"] == START - cost - order.fee
    assert [f.price for f in acc.fills] == [D(30_002), D(30_001)]  # newest first
    assert all(f.liquidity == "taker" for f in acc.fills)
    assert "slippage" in order.message  # VWAP vs the best ask, reported


def test_market_order_bigger_than_the_book_fills_what_is_there():
    acc = account(balance=1_000_000)
    order = acc.place(OrderRequest(SPOT_ID, "buy", "market", D("5")))
    assert order.status == "canceled" and order.filled == D("3.5")
    assert "book too thin: filled 3.5 of 5" in order.message


def test_limit_rests_and_fills_only_when_a_trade_prints_through():
    acc = account()
    order = acc.place(OrderRequest(SPOT_ID, "buy", "limit", D("0.1"), D("29995")))
    assert order.status == "open" and acc.open_orders() == [order]
    assert acc.available("USDT") == START - D("2999.5") * D("1.001")  # reserved with fee
    acc.on_trade(trade(29_996.0))
    acc.on_trade(trade(29_995.0))  # at the price: someone ahead of us in the queue
    assert acc.orders[order.client_order_id].status == "open"
    acc.on_trade(trade(29_994.99))  # through it: we must have been filled
    filled = acc.orders[order.client_order_id]
    assert filled.status == "filled" and filled.average == D("29995")
    assert filled.fee == D("2999.5") * D("0.001")  # maker fee
    assert acc.fills[0].liquidity == "maker" and acc.open_orders() == []
    assert acc.wallet["BTC"] == D("0.1")


def test_marketable_limit_takes_up_to_its_price_then_rests():
    acc = account()
    order = acc.place(OrderRequest(SPOT_ID, "buy", "limit", D("1"), D("30001")))
    assert order.status == "partially_filled" and order.filled == D("0.5")
    assert acc.open_orders()[0].remaining == D("0.5")


def test_post_only_that_would_cross_is_refused():
    acc = account()
    with pytest.raises(ValidationFailed) as err:
        acc.place(OrderRequest(SPOT_ID, "buy", "limit", D("0.1"), D("30001"), time_in_force="PO"))
    assert err.value.errors[0].field == "price"
    assert acc.orders == {}


def test_stop_loss_triggers_on_the_last_trade_and_executes_at_market():
    acc = account()
    acc.place(OrderRequest(SPOT_ID, "buy", "market", D("1")))
    acc.on_trade(trade(30_000.0))
    stop = acc.place(OrderRequest(SPOT_ID, "sell", "stop", D("1"), stop_price=D("29995")))
    assert acc.on_trade(trade(29_996.0)) == []
    assert acc.on_trade(trade(29_995.0)) == [stop.client_order_id]
    done = acc.execute_stop(stop.client_order_id)
    assert done.status == "filled"
    assert done.average == (D("0.5") * 29_999 + D("0.5") * 29_998)  # walks the bids
    assert acc.wallet.get("BTC") == D(0)


def test_cancel_releases_the_reservation():
    acc = account()
    order = acc.place(OrderRequest(SPOT_ID, "buy", "limit", D("0.1"), D("29000")))
    acc.cancel(order.client_order_id)
    assert acc.available("USDT") == START and acc.orders[order.client_order_id].status == "canceled"


def test_same_client_order_id_is_never_executed_twice():
    acc = account()
    req = OrderRequest(SPOT_ID, "buy", "market", D("0.1"))
    first = acc.place(req)
    again = acc.place(req)
    assert again == first and len(acc.fills) == 1


def test_perp_position_leverage_pnl_and_close():
    acc = account(fees=PaperFees())
    acc.place(OrderRequest(PERP_ID, "buy", "market", D("0.5"), leverage=10))
    (pos,) = acc.position_views()
    assert pos.size == D("0.5") and pos.entry_price == D(30_001) and pos.leverage == 10
    assert pos.margin == D(30_001) * D("0.5") / 10
    fee_open = D(30_001) * D("0.5") * D("0.0005")
    assert acc.wallet["USDT"] == START - fee_open
    acc.on_funding(Funding(PERP_ID, 1_700_000_001_000, 0.0001, 1_700_000_100_000, 30_101.0))
    (pos,) = acc.position_views()
    assert pos.mark_price == D(30_101) and pos.unrealized_pnl == D(100) * D("0.5")
    # cross margin: the loss side counts against available, a gain does not add to it
    assert acc.available("USDT") == acc.wallet["USDT"] - pos.margin
    acc.place(OrderRequest(PERP_ID, "sell", "market", D("0.5"), reduce_only=True))
    assert acc.position_views() == []
    realized = (D(29_999) - D(30_001)) * D("0.5")
    fee_close = D(29_999) * D("0.5") * D("0.0005")
    assert acc.wallet["USDT"] == START - fee_open + realized - fee_close


def test_perp_short_and_flip_through_zero():
    acc = account()
    acc.place(OrderRequest(PERP_ID, "sell", "market", D("0.2"), leverage=5))
    assert acc.position_views()[0].size == D("-0.2")
    acc.place(OrderRequest(PERP_ID, "buy", "market", D("0.5")))
    (pos,) = acc.position_views()
    assert pos.size == D("0.3") and pos.entry_price == D(30_001)


def test_funding_is_paid_when_the_funding_time_passes():
    acc = account()
    acc.place(OrderRequest(PERP_ID, "buy", "market", D("0.5"), leverage=10))
    before = acc.wallet["USDT"]
    t_fund = 1_700_000_100_000
    acc.on_funding(Funding(PERP_ID, t_fund - 5_000, 0.0001, t_fund, 30_000.0))
    acc.on_funding(Funding(PERP_ID, t_fund - 1_000, 0.0001, t_fund, 30_000.0))
    assert acc.wallet["USDT"] == before  # not yet
    acc.on_funding(Funding(PERP_ID, t_fund + 1_000, 0.0002, t_fund + 28_800_000, 30_000.0))
    paid = D("0.5") * D(30_000) * D("0.0001")  # the rate in force, at the mark
    assert acc.wallet["USDT"] == before - paid
    assert acc.position_views()[0].funding_paid == paid
    # a short receives when the rate is positive
    acc.place(OrderRequest(PERP_ID, "sell", "market", D("1")))
    assert acc.position_views()[0].size == D("-0.5")
    before = acc.wallet["USDT"]
    acc.on_funding(Funding(PERP_ID, t_fund + 28_801_000, 0.0002, t_fund + 57_600_000, 30_000.0))
    assert acc.wallet["USDT"] == before + D("0.5") * D(30_000) * D("0.0002")


def test_isolated_position_is_liquidated_when_its_margin_is_gone():
    acc = account()
    acc.place(OrderRequest(PERP_ID, "buy", "market", D("0.5"), leverage=20,
                           margin_mode="isolated"))
    (pos,) = acc.position_views()
    assert pos.liquidation_price is not None and pos.liquidation_price < pos.entry_price
    wallet = acc.wallet["USDT"]
    acc.on_funding(Funding(PERP_ID, 1_700_000_001_000, 0.0, None,
                           float(pos.liquidation_price) - 10))
    assert acc.position_views() == []
    assert acc.wallet["USDT"] == wallet - pos.margin  # lost the isolated margin, no more


def test_state_round_trips():
    acc = account()
    acc.place(OrderRequest(PERP_ID, "buy", "market", D("0.5"), leverage=7))
    acc.place(OrderRequest(SPOT_ID, "buy", "limit", D("0.1"), D("29000")))
    again = account()
    again.load_state(acc.to_state())
    assert again.wallet == acc.wallet
    assert again.position_views() == acc.position_views()
    assert again.open_orders() == acc.open_orders()
    assert list(again.fills) == list(acc.fills)
    again.on_trade(trade(28_999.0))  # the restored order still fills
    assert again.open_orders() == []
