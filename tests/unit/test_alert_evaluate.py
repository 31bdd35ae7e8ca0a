"""Rule evaluation on hand-made snapshots: each kind fires once per crossing, never while
the condition holds, again after it clears, and not within the cooldown."""

from __future__ import annotations

from dataclasses import dataclass

from app.alert_rules import AlertRule
from app.alerts.evaluate import Evaluator
from app.market.compare import Summary
from app.market.health import HealthView
from app.market.instruments import Instrument

BIN = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT")
OKX = Instrument("okx", "spot", "BTC", "USDT", "BTC-USDT")
CB = Instrument("coinbase", "spot", "BTC", "USD", "BTC-USD")
PERP = Instrument("bybit", "perp", "BTC", "USDT", "BTCUSDT")


def s(inst, mid, spread=1.0, funding=None):
    return Summary(inst, mid, mid - spread / 2, mid + spread / 2, True, funding)


def run(ev, steps):
    """steps: (now, summaries[, healths[, notices]]) -> the alerts of each step."""
    return [[a.instrument for a in ev.evaluate(t, int(t * 1000), *rest)] for t, *rest in steps]


def test_price_above_fires_once_per_crossing_with_cooldown():
    ev = Evaluator([AlertRule("up", "price_above", 100.0, ("BTC/USDT",), cooldown=10.0)])
    fired = run(ev, [
        (0, [s(BIN, 101)]),  # already above at start: no crossing seen, no alert
        (1, [s(BIN, 99)]),
        (2, [s(BIN, 101)]),  # crossing
        (3, [s(BIN, 102)]),  # still above: nothing
        (4, [s(BIN, 99)]),
        (5, [s(BIN, 101)]),  # crossing within the 10 s cooldown: passed over
        (6, [s(BIN, 99)]),
        (13, [s(BIN, 101)]),  # crossing after the cooldown
    ])
    assert fired == [[], [], [BIN.id], [], [], [], [], [BIN.id]]


def test_price_below_and_the_symbol_filter_take_the_usd_family():
    ev = Evaluator([AlertRule("dn", "price_below", 100.0, ("BTC/USDT",), cooldown=0.0)])
    fired = run(ev, [(0, [s(BIN, 101), s(CB, 101), s(PERP, 101)]),
                     (1, [s(BIN, 99), s(CB, 99), s(PERP, 99)])])
    assert fired[1] == [BIN.id, CB.id]  # Coinbase's BTC-USD is BTC/USDT's family; the perp is not
    only = Evaluator([AlertRule("dn", "price_below", 100.0, venues=("okx",))])
    assert run(only, [(0, [s(BIN, 101), s(OKX, 101)]), (1, [s(BIN, 99), s(OKX, 99)])])[1] == [OKX.id]


def test_move_within_a_window():
    ev = Evaluator([AlertRule("mv", "move", 2.0, window=10.0, cooldown=0.0)])
    fired = run(ev, [(0, [s(BIN, 100)]), (5, [s(BIN, 101)]), (6, [s(BIN, 102.5)]),
                     (7, [s(BIN, 103)]),
                     (20, [s(BIN, 103)]),  # the window moved on: no move any more, re-armed
                     (25, [s(BIN, 100)])])  # -2.9 % within 10 s
    assert fired == [[], [], [BIN.id], [], [], [BIN.id]]


def test_deviation_from_the_cross_venue_median():
    ev = Evaluator([AlertRule("dev", "deviation", 50.0, cooldown=0.0)])
    calm = [s(BIN, 100.0), s(OKX, 100.01), s(CB, 99.99)]
    pushed = [s(BIN, 100.0), s(OKX, 101.0), s(CB, 99.99)]
    fired = run(ev, [(0, calm), (1, pushed), (2, pushed), (3, calm), (4, pushed)])
    assert fired == [[], [OKX.id], [], [], [OKX.id]]
    alert = ev.evaluate(5, 5000, calm) or ev.evaluate(6, 6000, pushed)
    assert alert[0].message.startswith("BTC/USD* spot on okx is +") and alert[0].value > 50


def test_funding_beyond_either_sign_and_spread():
    ev = Evaluator([AlertRule("f", "funding", 0.05, cooldown=0.0),
                    AlertRule("sp", "spread", 10.0, cooldown=0.0)])
    fired = run(ev, [(0, [s(PERP, 100, 0.01, 1e-4)]),
                     (1, [s(PERP, 100, 0.01, -6e-4)]),  # -0.06 %
                     (2, [s(PERP, 100, 0.2, -6e-4)])])  # 20 bp spread
    assert fired == [[], [PERP.id], [PERP.id]]


def hv(name, state, unsynced=()):
    return HealthView(name, state, 0.1, 10.0, 1, 0, 0, 0, tuple(unsynced), None)


def test_feed_conditions_must_last_for_the_seconds():
    ev = Evaluator([AlertRule("feeds", "feed", seconds=3.0, cooldown=0.0)])
    fired = run(ev, [(0, [s(BIN, 1)], [hv("binance spot", "connected")]),
                     (1, [s(BIN, 1)], [hv("binance spot", "reconnecting")]),
                     (3, [s(BIN, 1)], [hv("binance spot", "reconnecting")]),
                     (4.5, [s(BIN, 1)], [hv("binance spot", "reconnecting")]),  # 3.5 s down
                     (5, [s(BIN, 1)], [hv("binance spot", "failed")]),
                     (6, [s(BIN, 1)], [hv("binance spot", "connected", [BIN.id])]),
                     (9.5, [s(BIN, 1)], [hv("binance spot", "connected", [BIN.id])])])
    assert fired == [[], [], [], ["binance spot"], [], [], [BIN.id]]


@dataclass
class N:
    seq: int
    kind: str
    title: str
    text: str
    instrument_id: str


def test_order_events_after_start_only_and_filtered():
    ev = Evaluator([AlertRule("orders", "order", events=("filled", "rejected"), cooldown=0.0)])
    old = N(1, "filled", "Order filled", "BUY 1 BTC/USDT", BIN.id)
    fill = N(2, "filled", "Order filled", "BUY 1 BTC/USDT", BIN.id)
    cancel = N(3, "canceled", "Order cancelled by the venue", "SELL", BIN.id)
    reject = N(4, "rejected", "Order rejected", "SELL: no", OKX.id)
    fired = run(ev, [(0, [s(BIN, 1)], [], [old]), (1, [s(BIN, 1)], [], [old, fill, cancel]),
                     (2, [s(BIN, 1)], [], [old, fill, cancel, reject])])
    assert fired == [[], [BIN.id], [OKX.id]]


def test_a_disabled_rule_never_fires_and_editing_one_rule_keeps_the_others_state():
    a = AlertRule("a", "spread", 10.0, cooldown=0.0)
    b = AlertRule("b", "spread", 5.0, cooldown=0.0, enabled=False)
    ev = Evaluator([a, b])
    assert run(ev, [(0, [s(BIN, 100, 0.2)])]) == [[BIN.id]]  # only a
    ev.set_rules([a, AlertRule("b", "spread", 5.0, cooldown=0.0)])
    assert run(ev, [(1, [s(BIN, 100, 0.2)])]) == [[BIN.id]]  # b now; a stays quiet (still wide)
