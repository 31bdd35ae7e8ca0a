"""Every validation failure: a specific message at its field, and nothing sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.trading.errors import ValidationFailed
from app.trading.models import OrderRequest
from app.trading.paper import PaperAccount
from app.trading.validation import AccountContext, MarketRules, validate

D = Decimal
SPOT = MarketRules("cryptopair_binance_btcusdt", "BTC/USDT", "spot", "BTC", "USDT", D("0.01"),
                   D("0.00001"), D("0.0001"), D("5"), 1)
PERP = MarketRules("cryptoperp_binance_btcusdt", "BTC/USDT:USDT", "perp", "BTC", "USDT", D("0.1"),
                   D("0.001"), D("0.001"), D("5"), 20)


def ctx(**kw) -> AccountContext:
    base = dict(available_quote=D(10_000), available_base=D("0.5"), reference_price=D(30_000),
                last_price=D(30_000), leverage=10)
    base.update(kw)
    return AccountContext(**base)


def errors(req: OrderRequest, rules: MarketRules = SPOT, **kw) -> dict[str, str]:
    return {e.field: e.message for e in validate(req, rules, ctx(**kw))}


def spot(side="buy", kind="limit", amount="0.01", price="29000", **kw) -> OrderRequest:
    return OrderRequest(SPOT.instrument_id, side, kind, D(amount),
                        D(price) if price is not None else None, **kw)


def perp(side="buy", kind="limit", amount="0.01", price="29000", **kw) -> OrderRequest:
    return OrderRequest(PERP.instrument_id, side, kind, D(amount),
                        D(price) if price is not None else None, **kw)


def test_a_good_order_passes():
    assert errors(spot()) == {}
    assert errors(perp(leverage=5, margin_mode="isolated"), PERP) == {}


@pytest.mark.parametrize("req, field, text", [
    (spot(price="29000.005"), "price", "price 29000.005 is not a multiple of the tick 0.01 (nearest: 29000 or 29000.01)"),
    (spot(price="0"), "price", "a limit order needs a price above zero"),
    (spot(price=None), "price", "a limit order needs a price above zero"),
    (spot(amount="0.000015"), "amount", "amount 0.000015 is not a multiple of the lot size 0.00001 (nearest: 0.00001 or 0.00002)"),
    (spot(amount="0.00005"), "amount", "amount 0.00005 is below the minimum 0.0001 BTC"),
    (spot(amount="0"), "amount", "amount must be above zero"),
    (spot(amount="0.0001", price="100"), "amount",
     "order value 0.01 USDT is below the minimum 5 USDT"),
    (spot(amount="0.5", price="30000"), "amount", "costs 15015.00 USDT with fee, available 10000.00"),
    (spot(side="sell", amount="0.6", price="31000"), "amount", "0.6 BTC to sell, available 0.5"),
    (spot(leverage=3), "leverage", "spot orders have no leverage"),
    (spot(reduce_only=True), "reduce_only", "reduce-only applies to perpetuals only"),
    (spot(kind="market", price=None, time_in_force="PO"), "type",
     "post-only applies to limit orders only"),
    (spot(price="30000", time_in_force="PO"), "price",
     "post-only at 30000 would cross the book (best ask 30000) and be cancelled"),
])
def test_spot_failures_name_their_field(req, field, text):
    found = errors(req)
    assert found.get(field) == text, found


def test_stop_trigger_on_the_wrong_side_would_fire_at_once():
    stop = OrderRequest(SPOT.instrument_id, "sell", "stop", D("0.01"), stop_price=D("30500"))
    assert "a sell stop must be below the last price 30000" in errors(stop)["stop_price"]
    stop = OrderRequest(SPOT.instrument_id, "buy", "stop", D("0.01"), stop_price=D("29000"))
    assert "a buy stop must be above the last price 30000" in errors(stop)["stop_price"]
    stop = OrderRequest(SPOT.instrument_id, "sell", "stop", D("0.01"), stop_price=D("29000.001"))
    assert errors(stop)["stop_price"] == "trigger 29000.001 is not a multiple of the tick 0.01 (nearest: 29000 or 29000.01)"


def test_market_order_without_a_book_cannot_be_checked():
    assert errors(spot(kind="market", price=None), reference_price=None)["type"].startswith(
        "no price to check a market order against")


@pytest.mark.parametrize("req, kw, field, text", [
    (perp(leverage=25), {}, "leverage", "leverage must be from 1 to 20x"),
    (perp(leverage=0), {}, "leverage", "leverage must be from 1 to 20x"),
    (perp(amount="1", leverage=2), {}, "amount",
     "needs 14529.00 USDT margin + fee at 2x, available 10000.00"),
    (perp(side="sell", reduce_only=True), {}, "reduce_only",
     "reduce-only needs an open position on the other side"),
    (perp(side="sell", reduce_only=True, amount="0.5"), {"position_size": D("0.2")}, "amount",
     "reduce-only amount 0.5 exceeds the position 0.2 BTC"),
    (perp(margin_mode="isolated"), {"position_size": D("0.2"), "position_margin_mode": "cross"},
     "margin_mode", "a cross position is open: close it before switching to isolated"),
    (perp(price="29000.05"), {}, "price", "price 29000.05 is not a multiple of the tick 0.1 (nearest: 29000 or 29000.1)"),
])
def test_perp_failures_name_their_field(req, kw, field, text):
    found = errors(req, PERP, **kw)
    assert found.get(field) == text, found


def test_reduce_only_needs_no_margin():
    req = perp(side="sell", reduce_only=True, amount="0.2")
    assert errors(req, PERP, position_size=D("0.2"), available_quote=D(0)) == {}


def test_a_failing_order_is_not_placed():
    acc = PaperAccount(lambda iid: SPOT if iid == SPOT.instrument_id else None,
                       lambda iid: ([(29999.0, 1.0)], [(30001.0, 1.0)]))
    with pytest.raises(ValidationFailed) as err:
        acc.place(spot(price="29000.005", amount="0.000015"))
    assert {e.field for e in err.value.errors} == {"price", "amount"}
    assert acc.orders == {} and acc.open_orders() == [] and acc.wallet["USDT"] == D(10_000)


def test_off_step_values_name_the_nearest_valid_ones_instead_of_rounding():
    assert errors(spot(amount="0.000005"))["amount"].endswith("(nearest: 0.00001)")
    assert errors(spot(price="0.005"))["price"].endswith("(nearest: 0.01)")


def test_price_band_warning_past_the_configured_distance_from_mid():
    from app.trading.validation import price_band_warning
    eth_mid = D("3406")
    leftover = OrderRequest("cryptopair_binance_ethusdt", "buy", "limit", D("0.1"), D("91000"))
    assert price_band_warning(leftover, eth_mid, D(5)) == \
        "limit 91000 is +2572% from mid 3406 (warning above 5%); send anyway?"
    near = OrderRequest(leftover.instrument_id, "buy", "limit", D("0.1"), D("3300"))
    assert price_band_warning(near, eth_mid, D(5)) is None  # -3.1 %: inside the band
    assert "-3.1% from mid" in price_band_warning(near, eth_mid, D(2))
    stop = OrderRequest(leftover.instrument_id, "sell", "stop", D("0.1"), stop_price=D("3000"))
    assert price_band_warning(stop, eth_mid, D(5)).startswith("trigger 3000 is -12% from mid 3406")
    market = OrderRequest(leftover.instrument_id, "buy", "market", D("0.1"))
    assert price_band_warning(market, eth_mid, D(5)) is None
    assert price_band_warning(leftover, None, D(5)) is None  # no book: nothing to compare
    assert price_band_warning(leftover, eth_mid, D(0)) is None  # 0 turns it off
