"""Risk limits: each one refuses with the limit's name and the amount it is exceeded by,
the daily loss rolls over at 00:00 UTC (injected clock), and the service runs the check
on every order before it leaves, recording the refusal in the audit trail."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.config import load_config
from app.market.events import Trade
from app.trading.models import OrderRequest
from app.trading.risk import DAY_MS, DayBaseline, RiskInputs, RiskLimits, RiskRefused, check, needs_confirm
from app.trading.service import TradingOptions, TradingService
from tests.paper_market import Clock, paper_service

D = Decimal
BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"
MIDNIGHT = 20_000 * DAY_MS  # a UTC midnight


def inputs(**kw) -> RiskInputs:
    base = dict(instrument_id=BTC, side="buy", amount=D("0.5"), price=D(30_000),
                limit_price=D(30_000), mid=D(30_000), usd_rate=D(1))
    base.update(kw)
    return RiskInputs(**base)


def messages(limits: RiskLimits, **kw) -> list[str]:
    return [r.message for r in check(limits, inputs(**kw))]


def test_nothing_configured_refuses_nothing():
    assert check(RiskLimits(), inputs(amount=D(1000), open_orders=10_000)) == []
    assert not RiskLimits().active


def test_max_order_notional_says_by_how_much():
    limits = RiskLimits(max_order_notional=D(10_000))
    assert messages(limits, amount=D("0.3")) == []  # 9,000 USD
    [r] = check(limits, inputs(amount=D("0.5")))  # 15,000 USD
    assert r.limit == "max_order_notional" and r.field == "amount"
    assert r.message == ("max order notional: 15,000 USD is 5,000 USD over the limit of "
                         "10,000 USD")


def test_max_order_notional_in_usd_for_another_quote():
    # ETH/BTC: 10 ETH at 0.05 BTC = 0.5 BTC, at 60,000 USD per BTC = 30,000 USD
    [msg] = messages(RiskLimits(max_order_notional=D(20_000)), amount=D(10), price=D("0.05"),
                     limit_price=D("0.05"), mid=D("0.05"), usd_rate=D(60_000))
    assert "30,000 USD is 10,000 USD over" in msg


def test_a_limit_that_cannot_be_measured_refuses():
    [msg] = messages(RiskLimits(max_order_notional=D(10_000)), price=None, limit_price=None)
    assert msg == "max order notional: no price to value it at, so it cannot be checked"
    [msg] = messages(RiskLimits(max_order_notional=D(10_000)), usd_rate=None)
    assert "no USD rate" in msg


def test_max_position_notional_counts_the_position_and_resting_orders():
    limits = RiskLimits(max_position_notional=D(50_000))
    # holds 1 BTC, 0.5 resting to buy, buys 0.5: 2 BTC = 60,000 USD
    [r] = check(limits, inputs(position=D(1), open_same_side=D("0.5")))
    assert r.message == ("max position notional: 60,000 USD with this order and those resting "
                         "is 10,000 USD over the limit of 50,000 USD")
    assert messages(limits, position=D(1)) == []  # 45,000 USD
    # selling out of a long that is too big already is never refused for size
    assert messages(limits, side="sell", position=D(3)) == []
    # a short grows with sells
    [msg] = messages(limits, side="sell", position=D(-1.5))
    assert "60,000 USD" in msg and "10,000 USD over" in msg
    # reduce-only orders are exempt
    assert messages(limits, position=D(1), open_same_side=D(1), reducing=True) == []


def test_max_open_orders():
    limits = RiskLimits(max_open_orders=3)
    assert messages(limits, open_orders=2) == []
    assert messages(limits, open_orders=3) == [
        "max open orders: this would make 4 open, 1 over the limit of 3"]
    # an entry with take-profit and stop-loss can make three
    assert messages(limits, open_orders=1, new_orders=3) == [
        "max open orders: this would make 4 open, 1 over the limit of 3"]


def test_price_band_is_a_hard_refusal_with_the_distance():
    limits = RiskLimits(price_band_pct=D(2))
    assert messages(limits, limit_price=D(30_600)) == []  # exactly 2 %
    [r] = check(limits, inputs(limit_price=D(31_500)))
    assert r.limit == "price_band_pct" and r.field == "price"
    assert r.message == "price band: 31500 is 5% from the mid 30000, 3% beyond the ±2% band"
    [msg] = messages(limits, side="sell", limit_price=D(29_100))
    assert msg == "price band: 29100 is 3% from the mid 30000, 1% beyond the ±2% band"
    # market and stop orders have no limit price to hold to the band
    assert messages(limits, limit_price=None, price=D(25_000)) == []
    [msg] = messages(limits, mid=None)
    assert msg == "price band: no mid price to measure the limit price against"


def test_max_daily_loss_refuses_new_orders_but_not_reducing_ones():
    limits = RiskLimits(max_daily_loss=D(500))
    assert messages(limits, daily_pnl=D("-499.99")) == []
    [r] = check(limits, inputs(daily_pnl=D("-612.4")))
    assert r.limit == "max_daily_loss"
    assert r.message == ("max daily loss: today's PnL -612.40 USD is 112.40 USD past the limit "
                         "of -500 USD; new orders are refused until 00:00 UTC (reduce-only "
                         "orders still go)")
    assert messages(limits, daily_pnl=D(-600), reducing=True) == []
    [msg] = messages(limits, daily_pnl=None)
    assert "cannot be valued" in msg


def test_every_broken_limit_is_said():
    limits = RiskLimits(max_order_notional=D(1000), price_band_pct=D(1), max_open_orders=1,
                        max_daily_loss=D(10))
    names = [r.limit for r in check(limits, inputs(limit_price=D(31_000), open_orders=1,
                                                   daily_pnl=D(-20)))]
    assert names == ["max_daily_loss", "max_open_orders", "price_band_pct", "max_order_notional"]


def test_confirm_modal_only_above_the_notional():
    assert needs_confirm(RiskLimits(), D(1))  # not configured: always asked
    limits = RiskLimits(confirm_notional=D(1000))
    assert not needs_confirm(limits, D(1000))
    assert needs_confirm(limits, D("1000.01"))
    assert needs_confirm(limits, None)  # a value not known is asked about


def test_day_baseline_rolls_over_at_midnight_utc():
    base = DayBaseline()
    assert base.pnl(MIDNIGHT + 3_600_000, D(10_000)) == 0  # first sight: the day starts here
    assert base.pnl(MIDNIGHT + 7_200_000, D(9_400)) == D(-600)
    assert base.pnl(MIDNIGHT + DAY_MS - 1, D(9_300)) == D(-700)  # 23:59:59.999, same day
    assert base.pnl(MIDNIGHT + DAY_MS, D(9_300)) == 0  # 00:00 next day: a new start
    assert base.pnl(MIDNIGHT + DAY_MS + 60_000, D(9_350)) == D(50)
    again = DayBaseline.from_json(base.to_json())
    assert (again.day, again.equity) == (base.day, base.equity)


def test_config_risk_section_with_account_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[risk]\nmax_order_notional = 25000\nprice_band_pct = 5\nmax_open_orders = 20\n"
                    "[risk.binance-testnet]\nmax_order_notional = 1000\nprice_band_pct = 0\n")
    cfg = load_config(path)
    opts = TradingOptions.from_config(cfg)
    assert opts.limits_for("paper") == RiskLimits(D(25000), None, 20, None, D(5))
    assert opts.limits_for("binance-testnet") == RiskLimits(D(1000), None, 20, None, None)


@pytest.mark.parametrize("text, words", [
    ("[risk]\nmax_order_notional = -1\n", "risk.max_order_notional = -1: a number from 0 (off)"),
    ("[risk]\nmax_open_orders = 2.5\n", "risk.max_open_orders = 2.5: a whole number"),
    ("[risk.nowhere]\nmax_open_orders = 2\n", "[risk.nowhere]: unknown account 'nowhere'"),
])
def test_config_risk_errors_are_one_line(tmp_path, text, words):
    from app.config import ConfigError
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_config_risk_unknown_key_is_a_warning(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[risk]\nmax_order_notionl = 5\n")
    cfg = load_config(path)
    assert any("did you mean `max_order_notional`" in w for w in cfg.warnings)


# -- the service: every order passes the check before it leaves -------------------------------

def place(service: TradingService, req: OrderRequest):
    return asyncio.run(service._place(req))


def test_service_refuses_before_sending_and_audits_the_limit():
    clock = Clock(MIDNIGHT + 3_600_000)
    service = paper_service(RiskLimits(max_order_notional=D(10_000), price_band_pct=D(3)), clock)
    with pytest.raises(RiskRefused) as err:
        place(service, OrderRequest(BTC, "buy", "limit", D("0.5"), D(30_000)))
    assert str(err.value) == ("amount: max order notional: 15,000 USD is 5,000 USD over the "
                              "limit of 10,000 USD")
    assert [e.field for e in err.value.errors] == ["amount"]
    assert service.paper.orders == {}  # nothing reached the account
    refused = service.audit_log[-1]
    assert refused["action"] == "risk_refused"
    assert refused["response"]["refusals"][0]["limit"] == "max_order_notional"
    assert "5,000 USD over" in refused["response"]["refusals"][0]["message"]
    with pytest.raises(RiskRefused, match=r"price band: 25000 is 16\.67% from the mid 30000"):
        place(service, OrderRequest(BTC, "buy", "limit", D("0.1"), D(25_000)))
    # a market order is valued at the best ask it would take
    with pytest.raises(RiskRefused, match="15,005 USD is 5,005 USD over"):
        place(service, OrderRequest(BTC, "buy", "market", D("0.5")))
    order = place(service, OrderRequest(BTC, "buy", "limit", D("0.1"), D(29_500)))
    assert order.status == "open"


def test_amend_check_does_not_count_the_order_it_replaces():
    clock = Clock(MIDNIGHT + 3_600_000)
    service = paper_service(RiskLimits(max_open_orders=1, max_position_notional=D(20_000)), clock)
    first = place(service, OrderRequest(BTC, "buy", "limit", D("0.5"), D(29_500)))
    with pytest.raises(RiskRefused, match="max open orders: this would make 2 open"):
        place(service, OrderRequest(BTC, "buy", "limit", D("0.1"), D(29_400)))
    amended = OrderRequest(BTC, "buy", "limit", D("0.6"), D(29_600),
                           client_order_id=first.client_order_id)
    service.check_risk(amended, replacing=first.client_order_id)  # 0.6 x 29,600 = 17,760
    with pytest.raises(RiskRefused, match="max position notional: 23,680 USD"):
        service.check_risk(amended.__class__(BTC, "buy", "limit", D("0.8"), D(29_600)),
                           replacing=first.client_order_id)


def test_service_daily_loss_stops_new_orders_until_the_next_utc_day():
    clock = Clock(MIDNIGHT + 10 * 3_600_000)
    service = paper_service(RiskLimits(max_daily_loss=D(100)), clock)
    place(service, OrderRequest(PERP, "buy", "market", D(1), leverage=10))  # long 1 at 30,005
    hub = service.hub
    start = service.daily_pnl()
    assert start is not None
    with hub.lock:
        hub.on_event(Trade(PERP, clock(), 29_800.0, 0.1, "sell"))  # mark 29,800: -205 unrealized
    service._on_event(Trade(PERP, clock(), 29_800.0, 0.1, "sell"))
    service._publish()  # what the loop does 100 ms after a market move
    pnl = service.daily_pnl()
    assert pnl is not None and pnl < D(-100)
    with pytest.raises(RiskRefused, match="max daily loss: today's PnL -2"):
        place(service, OrderRequest(PERP, "buy", "market", D("0.01")))
    # closing the position is still allowed
    closed = place(service, OrderRequest(PERP, "sell", "market", D("0.5"), reduce_only=True))
    assert closed.status == "filled"
    clock.now = MIDNIGHT + DAY_MS + 1  # the next UTC day: a fresh start
    order = place(service, OrderRequest(PERP, "buy", "market", D("0.01")))
    assert order.status == "filled"


def test_amend_check_by_client_id_uses_the_new_price_and_amount():
    clock = Clock(MIDNIGHT + 3_600_000)
    service = paper_service(RiskLimits(max_order_notional=D(10_000), price_band_pct=D(3)), clock)
    order = place(service, OrderRequest(BTC, "buy", "limit", D("0.2"), D(29_500)))
    service.check_amend_risk(order.client_order_id, price=D(29_600))  # 5,920 USD, 1.3 %
    with pytest.raises(RiskRefused, match="price band: 27000 is 10% from the mid"):
        service.check_amend_risk(order.client_order_id, price=D(27_000))
    with pytest.raises(RiskRefused, match="max order notional: 14,750 USD is 4,750 USD over"):
        service.check_amend_risk(order.client_order_id, amount=D("0.5"))
    assert service.audit_log[-1]["action"] == "risk_refused"
    assert service.audit_log[-1]["client_order_id"] == order.client_order_id
