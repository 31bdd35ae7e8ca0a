"""Private-stream decoders on frames in the venues' documented shapes (written for these
tests under tests/fixtures/private), the login signatures, and the amend plan."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal

import pytest

from app.trading.amend import freed_balances, plan_amend
from app.trading.errors import TradingError, ValidationFailed
from app.trading.models import Balance, Order, amended_client_id
from app.trading.private import binance, bybit, okx
from app.trading.private.updates import BalancePush, FillPush, OrderPush, PositionPush
from app.trading.validation import MarketRules

D = Decimal


def read(fixture_text, name: str) -> str:
    return fixture_text(f"private/{name}.json")


def test_binance_spot_trade_is_an_order_update_and_a_fill(fixture_text):
    order, fill = binance.decode_spot(read(fixture_text, "binance_spot_execution_trade"))
    assert isinstance(order, OrderPush) and isinstance(fill, FillPush)
    assert (order.client_order_id, order.status, order.filled, order.amount, order.average) == \
        ("ct0123456789abcdef01234567", "partially_filled", D("0.01"), D("0.02"), D("29000"))
    assert order.fee is None  # Binance gives each trade's fee, not the order's total
    assert (fill.fill_id, fill.price, fill.amount, fill.fee, fill.fee_asset, fill.liquidity) == \
        ("1771", D("29000"), D("0.01"), D("0.00001"), "BTC", "maker")


def test_binance_spot_cancel_names_the_cancelled_order_not_the_request(fixture_text):
    (order,) = binance.decode_spot(read(fixture_text, "binance_spot_execution_canceled"))
    assert (order.client_order_id, order.status, order.side) == \
        ("ct0123456789abcdef01234567", "canceled", "sell")


def test_binance_spot_balances_are_the_changed_assets_only(fixture_text):
    (push,) = binance.decode_spot(read(fixture_text, "binance_spot_account_position"))
    assert push == BalancePush((("USDT", D("10000"), D("9710")), ("BTC", D("1.00999"), D("1.00999"))))
    assert not push.complete


def test_binance_usdm_order_and_account_updates(fixture_text):
    order, fill = binance.decode_usdm(read(fixture_text, "binance_usdm_order_trade_update"))
    assert (order.market, order.status, order.average, fill.fee, fill.fee_asset) == \
        ("perp", "filled", D("30500"), D("0.061"), "USDT")
    balances, position = binance.decode_usdm(read(fixture_text, "binance_usdm_account_update"))
    assert balances.rows == (("USDT", D("9999.939"), D("9999.939")),)
    assert isinstance(position, PositionPush)
    assert (position.size, position.entry_price, position.unrealized_pnl) == \
        (D("-0.010"), D("30500"), D("-0.12"))


def test_okx_orders_in_contracts_with_negative_fees(fixture_text):
    order, fill = okx.decode(read(fixture_text, "okx_orders_filled_swap"))
    assert (order.market, order.status, order.amount, order.filled, order.fee) == \
        ("perp", "filled", D(5), D(5), D("0.31"))  # contracts; the account applies ctVal
    assert (fill.fill_id, fill.fee, fill.liquidity) == ("242589207", D("0.31"), "maker")
    (balances,) = okx.decode(read(fixture_text, "okx_account"))
    assert balances.rows == (("USDT", D("9999.69"), D("9844.69")),)
    (position,) = okx.decode(read(fixture_text, "okx_positions"))
    assert (position.size, position.leverage, position.liquidation_price) == \
        (D(-5), 10, D("33950.2"))
    assert okx.decode("pong") == []


def test_bybit_order_execution_position_wallet(fixture_text):
    (order,) = bybit.decode(read(fixture_text, "bybit_order_linear"))
    assert (order.status, order.filled, order.fee, order.message) == \
        ("partially_filled", D("0.01"), D("0.059"), None)
    (fill,) = bybit.decode(read(fixture_text, "bybit_execution_linear"))
    assert (fill.price, fill.amount, fill.liquidity, fill.fee_asset) == \
        (D("29500"), D("0.01"), "maker", "USDT")
    (position,) = bybit.decode(read(fixture_text, "bybit_position_linear"))
    assert (position.size, position.margin, position.mark_price) == (D("0.01"), D("29.5"),
                                                                     D("29499.1"))
    (wallet,) = bybit.decode(read(fixture_text, "bybit_wallet"))
    assert wallet.rows == (("USDT", D("9999.941"), D("9999.941")),)


def test_signatures_follow_each_venues_recipe():
    assert binance.ws_api_signature({"timestamp": 5, "apiKey": "k"}, "s") == \
        hmac.new(b"s", b"apiKey=k&timestamp=5", hashlib.sha256).hexdigest()
    assert okx.login_sign("1538054050", "s") == base64.b64encode(
        hmac.new(b"s", b"1538054050GET/users/self/verify", hashlib.sha256).digest()).decode()
    assert bybit.auth_signature(1662350400000, "s") == \
        hmac.new(b"s", b"GET/realtime1662350400000", hashlib.sha256).hexdigest()


def test_amended_client_ids_count_the_replacements():
    root = "ct" + "0" * 24
    assert amended_client_id(root) == root + "r1"
    assert amended_client_id(root + "r1") == root + "r2"
    assert amended_client_id(root + "r9") == root + "r10"
    assert len(amended_client_id(root + "r99")) <= 32  # OKX's limit, the tightest


def _order(**kw) -> Order:
    base = dict(client_order_id="ct" + "1" * 24, instrument_id="cryptopair_binance_btcusdt",
                symbol="BTC/USDT", side="buy", type="limit", amount=D("0.02"),
                price=D("29000"), stop_price=None, status="open", created_ts=1, updated_ts=1)
    base.update(kw)
    return Order(**base)


def test_plan_amend_refuses_what_an_amend_cannot_mean():
    with pytest.raises(TradingError, match="no open order"):
        plan_amend(None, "x", D(1), None)
    with pytest.raises(TradingError, match="already filled"):
        plan_amend(_order(status="filled"), "x", D(1), None)
    with pytest.raises(TradingError, match="only limit orders"):
        plan_amend(_order(type="stop", price=None), "x", D(1), None)
    with pytest.raises(TradingError, match="nothing to change"):
        plan_amend(_order(), "x", D("29000"), D("0.02"))
    with pytest.raises(ValidationFailed, match="already filled"):
        plan_amend(_order(filled=D("0.015")), "x", None, D("0.01"))
    plan = plan_amend(_order(filled=D("0.005")), "x", D("29100"), D("0.03"))
    req = plan.replacement()
    assert (req.amount, req.price, req.client_order_id) == (D("0.025"), D("29100"),
                                                            "ct" + "1" * 24 + "r1")


def test_freed_balances_count_what_the_old_order_holds():
    rules = MarketRules("cryptopair_binance_btcusdt", "BTC/USDT", "spot", "BTC", "USDT",
                        D("0.01"), D("0.00001"), D("0.00001"))
    freed = freed_balances([Balance("USDT", D(1000), D(420))], _order(), rules)
    assert freed == [Balance("USDT", D(1000), D(420) + D("0.02") * D("29000"))]
