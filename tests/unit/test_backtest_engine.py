"""The backtester against hand-computed cases, and against the paper account."""

from __future__ import annotations

import textwrap
from decimal import Decimal as D
from pathlib import Path

import pytest

from app.backtest.bars import Bars, flat_schedule, funding_schedule
from app.backtest.engine import Backtest, Settings
from app.backtest.metrics import summarize
from app.backtest.strategy import StrategyError, load, load_source
from app.market.events import Funding, Trade
from app.trading.fill_model import PaperFees
from app.trading.models import OrderRequest
from app.trading.paper import PaperAccount
from app.trading.validation import MarketRules

SPOT = MarketRules("cryptopair_binance_btcusdt", "BTC/USDT", "spot", "BTC", "USDT",
                   D("0.01"), D("0.001"), D("0.001"), D("5"))
PERP = MarketRules("cryptoperp_binance_btcusdt", "BTC/USDT:USDT", "perp", "BTC", "USDT",
                   D("0.01"), D("0.001"), D("0.001"), D("5"), max_leverage=100)
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
H = 3_600_000

# A strategy that does what its plan says at given bars: {bar index: [(method, args), ...]}
SCRIPTED = textwrap.dedent("""
    class Strategy:
        params = {"plan": {}}

        def on_start(self, ctx):
            self.i = -1

        def on_bar(self, ctx, bar):
            self.i += 1
            for method, args in self.params["plan"].get(self.i, []):
                getattr(ctx, method)(*args)
""")


def bars(rows: list[tuple[float, float, float, float]], step: int = H, volume: float = 100.0) -> Bars:
    b = Bars(step)
    for i, (o, h, lo, c) in enumerate(rows):
        b.append(T0 + i * step, o, h, lo, c, volume)
    return b


def run(rows, plan, rules=SPOT, **settings):
    loaded = load_source(SCRIPTED, "<scripted>")
    return Backtest(loaded, bars(rows), rules, Settings(**settings), {"plan": plan}).run()


def test_single_round_trip_with_fees() -> None:
    rows = [(100, 101, 99, 100), (102, 103, 101, 102), (110, 111, 109, 110), (108, 109, 107, 108)]
    res = run(rows, {0: [("buy", ("1",))], 1: [("close", ())]})
    buy, sell = (t.fill for t in res.trades)
    assert (buy.side, buy.price, buy.amount, buy.fee, buy.liquidity) == ("buy", D(102), D(1), D("0.102"), "taker")
    assert (sell.side, sell.price, sell.fee, sell.liquidity) == ("sell", D(110), D("0.110"), "taker")
    assert buy.ts == T0 + H and sell.ts == T0 + 2 * H  # each at the next bar's open
    # 10000 - 102 - 0.102 + 110 - 0.110
    assert res.final_cash == D("10007.788")
    assert res.final_equity == D("10007.788") and res.final_position == 0
    assert res.trades[1].realized_pnl == D(8)
    m = summarize(res)
    assert m["final_equity"] == pytest.approx(10007.788)
    assert m["return_pct"] == pytest.approx(0.07788)
    assert m["fees"] == pytest.approx(0.212)
    assert m["trades"] == 2 and m["bars"] == 4
    assert m["exposure_pct"] == 25.0  # held over the close of bar 1 only
    # equity at each close: 10000; 9897.898 + 102; 10007.788; 10007.788
    assert res.equity == pytest.approx([10000, 9999.898, 10007.788, 10007.788])
    # the peak 10000 fell to 9999.898
    assert m["max_drawdown_pct"] == pytest.approx(0.102 / 10000 * 100)


def test_slippage_bps_and_flat_fee() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)]
    res = run(rows, {0: [("buy", ("1",))], 1: [("sell", ("1",))]},
              slippage_bps=D(10), fees=PaperFees.flat(D("0.0005")))
    buy, sell = (t.fill for t in res.trades)
    assert buy.price == D("100.1") and sell.price == D("99.9")
    assert buy.fee == D("0.05005") and sell.fee == D("0.04995")
    assert res.final_cash == D(10000) - D("0.2") - D("0.1")


def test_volume_slippage_is_the_share_of_the_bar_range() -> None:
    # 1 of a 4-unit bar volume, range 101 - 99 = 2: the fill moves 0.5 past the open
    loaded = load_source(SCRIPTED, "<scripted>")
    b = bars([(100, 101, 99, 100), (100, 101, 99, 100)], volume=4.0)
    res = Backtest(loaded, b, SPOT, Settings(slippage_volume=True),
                   {"plan": {0: [("buy", ("1",))]}}).run()
    assert res.trades[0].fill.price == D("100.5")


def test_limit_fills_at_the_open_after_a_gap() -> None:
    rows = [(100, 101, 99, 100), (94, 96, 93, 95), (95, 96, 94, 95)]
    res = run(rows, {0: [("buy", ("1", "95"))]})
    (fill,) = (t.fill for t in res.trades)
    assert (fill.price, fill.liquidity, fill.fee, fill.ts) == (D(94), "maker", D("0.094"), T0 + H)
    assert res.final_cash == D(10000) - D(94) - D("0.094")
    assert res.final_equity == res.final_cash + D(95)


def test_limit_fills_at_its_price_only_when_traded_through() -> None:
    # bar 1 touches 95 exactly (not through: someone ahead in the queue); bar 2 goes through
    rows = [(100, 101, 99, 100), (99, 100, 95, 96), (97, 98, 94.5, 96), (96, 97, 95, 96)]
    res = run(rows, {0: [("buy", ("1", "95"))]})
    (fill,) = (t.fill for t in res.trades)
    assert (fill.price, fill.ts) == (D(95), T0 + 2 * H)


def test_stop_triggers_then_fills_like_a_market_order() -> None:
    rows = [(100, 101, 99, 100), (102, 103, 101, 102), (100, 101, 97, 98), (98, 99, 97, 98)]
    plan = {0: [("buy", ("1",))], 1: [("sell", ("1", None, "98.5"))]}
    res = run(rows, plan, slippage_bps=D(10))
    buy, stop = (t.fill for t in res.trades)
    assert buy.price == D("102.102")  # 102 + 10 bps
    assert (stop.price, stop.liquidity, stop.ts) == (D("98.5") * D("0.999"), "taker", T0 + 2 * H)
    fees = buy.price * D("0.001") + stop.price * D("0.001")
    assert res.final_cash == D(10000) - buy.price + stop.price - fees


def test_stop_gapped_through_fills_at_the_open() -> None:
    rows = [(100, 101, 99, 100), (102, 103, 101, 102), (96, 97, 95, 96)]
    res = run(rows, {0: [("buy", ("1",))], 1: [("sell", ("1", None, "98.5"))]})
    assert res.trades[1].fill.price == D(96)


def test_funding_on_a_perp_short() -> None:
    # short 1 at 100 (bar 1's open, 01:00); funding at 08:00 at bar 8's open 105, rate 0.01 %
    rows = [(100, 100, 100, 100)] * 8 + [(105, 105, 105, 105)] * 3
    sched = funding_schedule([Funding(PERP.instrument_id, T0 + 7 * H + 1, 0.0001, T0 + 8 * H, None, None)])
    res = run(rows, {0: [("sell", ("1",))], 9: [("close", ())]}, rules=PERP, leverage=5,
              fees=PaperFees.flat(D(0)), funding=tuple(sched))
    short, cover = (t.fill for t in res.trades)
    assert (short.price, cover.price) == (D(100), D(105))
    assert res.funding == D("-0.0105")  # -1 * 105 * 0.0001: the short is paid
    # 10000 + 0.0105 received - 5 lost on the short
    assert res.final_cash == D("9995.0105") and res.final_equity == D("9995.0105")
    assert summarize(res)["funding"] == pytest.approx(-0.0105)


def test_flat_funding_schedule_every_eight_hours() -> None:
    sched = flat_schedule(T0 + 1, T0 + 24 * H)
    assert [t for t, _ in sched] == [T0 + 8 * H, T0 + 16 * H, T0 + 24 * H]
    assert {r for _, r in sched} == {D("0.0001")}


def test_perp_long_with_leverage_and_margin_check() -> None:
    rows = [(100, 100, 100, 100)] * 3
    # 150 BTC at 100 = 15000 notional: at 2x needs 7500 + fee, fine; at 1x it is refused
    res = run(rows, {0: [("buy", ("150",))]}, rules=PERP, leverage=2)
    assert res.final_position == D(150)
    with pytest.raises(StrategyError, match="needs .* margin"):
        run(rows, {0: [("buy", ("150",))]}, rules=PERP, leverage=1)


def test_paper_session_and_backtest_give_the_same_fills(tmp_path: Path) -> None:
    for rules in (SPOT, PERP):
        # backtest: market buy at bar 1's open (102); limit sell at 109 filled in bar 2
        rows = [(100, 101, 99, 100), (102, 103, 101, 102), (108, 111, 107, 110), (110, 111, 109, 110)]
        res = run(rows, {0: [("buy", ("2",))], 1: [("sell", ("2", "109"))]}, rules=rules,
                  leverage=10)

        # paper: the same trades against a book whose best level is that bar's open
        book = {"top": ([[101.9, 50.0]], [[102.0, 50.0]])}
        paper = PaperAccount(lambda iid: rules, lambda iid: book["top"], clock=lambda: T0 + H,
                             balances={"USDT": D(10_000)})
        paper.place(OrderRequest(rules.instrument_id, "buy", "market", D(2)))
        paper.place(OrderRequest(rules.instrument_id, "sell", "limit", D(2), price=D(109)))
        paper.on_trade(Trade(rules.instrument_id, T0 + 2 * H + 1, 110.0, 0.5, "buy", "1"))

        def key(f):
            return (f.side, f.price, f.amount, f.fee, f.liquidity)

        assert [key(t.fill) for t in res.trades] == [key(f) for f in reversed(paper.fills)]
        assert res.final_cash == paper.wallet["USDT"]
        if not rules.is_perp:
            assert paper.wallet["BTC"] == res.final_position == 0
        else:
            assert paper.positions[rules.instrument_id].realized == D(14)
            assert res.trades[1].realized_pnl == D(14)


def test_syntax_error_names_the_strategy_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.py"
    f.write_text("class Strategy:\n    def on_bar(self, ctx, bar)\n        pass\n")
    with pytest.raises(StrategyError) as err:
        load(f)
    assert str(err.value).startswith(f"{f}:2: syntax error")


def test_exception_in_on_bar_names_the_strategy_line(tmp_path: Path) -> None:
    f = tmp_path / "boom.py"
    f.write_text("class Strategy:\n    def on_bar(self, ctx, bar):\n        x = 1\n"
                 "        return x / 0\n")
    with pytest.raises(StrategyError) as err:
        Backtest(load(f), bars([(1, 1, 1, 1)]), SPOT).run()
    assert str(err.value).startswith(f"{f}:4: ZeroDivisionError: division by zero")
    assert "app/backtest" not in str(err.value)


def test_order_breaking_the_lot_size_names_the_strategy_line(tmp_path: Path) -> None:
    f = tmp_path / "lot.py"
    f.write_text("class Strategy:\n    def on_bar(self, ctx, bar):\n"
                 "        ctx.buy(0.0015)\n")
    with pytest.raises(StrategyError) as err:
        Backtest(load(f), bars([(100, 100, 100, 100)]), SPOT).run()
    assert str(err.value) == (f"{f}:3: order refused: amount 0.0015 is not a multiple of the lot "
                              f"size 0.001 (nearest: 0.001 or 0.002)")


def test_missing_strategy_class(tmp_path: Path) -> None:
    f = tmp_path / "none.py"
    f.write_text("x = 1\n")
    with pytest.raises(StrategyError, match="defines no class Strategy"):
        load(f)


def test_history_and_context_state() -> None:
    src = textwrap.dedent("""
        class Strategy:
            def on_start(self, ctx):
                self.seen = []
            def on_bar(self, ctx, bar):
                h = ctx.history(2)
                self.seen.append((ctx.now, len(h), h.close, ctx.position, ctx.cash))
                if len(self.seen) == 1:
                    ctx.buy(1)
    """)
    bt = Backtest(load_source(src, "<s>"), bars([(10, 10, 10, 10), (20, 20, 20, 21), (30, 30, 30, 31)]),
                  SPOT, Settings(fees=PaperFees.flat(D(0))))
    bt.run()
    assert bt.strategy.seen == [(T0 + H, 1, [10], 0.0, 10000.0),
                                (T0 + 2 * H, 2, [10, 21], 1.0, 9980.0),
                                (T0 + 3 * H, 2, [21, 31], 1.0, 9980.0)]


def test_example_sma_crossover_runs() -> None:
    import math
    from importlib.resources import files

    path = str(files("app.backtest.examples") / "sma_crossover.py")
    rows = []
    for i in range(400):
        p = 100 + 10 * math.sin(i / 20)
        rows.append((p, p + 0.5, p - 0.5, p))
    res = Backtest(load(path), bars(rows), SPOT, params={"fast": 5, "slow": 20}).run()
    m = summarize(res)
    assert m["trades"] >= 4 and m["bars"] == 400
    assert res.final_equity == res.final_cash + res.final_position * D(repr(rows[-1][3]))


TICKER = textwrap.dedent("""
    class Strategy:
        params = {"plan": {}}

        def on_start(self, ctx):
            self.n = -1
            self.seen = []

        def on_trade(self, ctx, trade):
            self.n += 1
            self.seen.append((trade.ts, trade.price, ctx.now))
            for method, args in self.params["plan"].get(self.n, []):
                getattr(ctx, method)(*args)

        def on_bar(self, ctx, bar):
            self.seen.append(("bar", bar.close, ctx.now))
""")


def test_tick_mode_fills_against_trades_like_the_paper_account() -> None:
    from app.backtest.bars import Ticks

    b = bars([(100, 103, 97, 101), (101, 102, 95, 96)])
    prices = [100.0, 101.0, 99.0, 103.0, 97.0, 101.0, 100.0, 96.5, 95.0, 96.0]
    ticks = Ticks.of(Trade(SPOT.instrument_id, T0 + i * (H // 5), p, 1.0, "buy", str(i))
                     for i, p in enumerate(prices))
    # trade 0: market buy -> fills at trade 1 (101); trade 1: limit sell at 102 -> through at 103;
    # trade 4: sell stop at 96.5 for a new long -> market buy at trade 5 (101) first
    plan = {0: [("buy", ("1",))], 1: [("sell", ("1", "102"))], 4: [("buy", ("1",))],
            5: [("sell", ("1", None, "96.5"))]}
    bt = Backtest(load_source(TICKER, "<t>"), b, SPOT, Settings(), {"plan": plan}, ticks)
    res = bt.run()
    got = [(t.fill.side, t.fill.price, t.fill.liquidity, t.fill.ts) for t in res.trades]
    step = H // 5
    assert got == [("buy", D(101), "taker", T0 + step), ("sell", D(102), "maker", T0 + 3 * step),
                   ("buy", D(101), "taker", T0 + 5 * step),
                   ("sell", D("96.5"), "taker", T0 + 7 * step)]  # the print at 96.5 triggers it
    assert bt.strategy.seen[5] == ("bar", 101, T0 + H)  # on_bar after the bar's trades
    assert bt.strategy.seen[0] == (T0, 100.0, T0)


def test_orders_from_on_start_are_refused_with_a_reason() -> None:
    src = "class Strategy:\n    def on_start(self, ctx):\n        ctx.buy(1)\n    def on_bar(self, ctx, bar):\n        pass\n"
    with pytest.raises(StrategyError, match=r"<s>:3: order refused: .*first bar"):
        Backtest(load_source(src, "<s>"), bars([(1, 1, 1, 1)]), SPOT).run()


def test_a_progress_callback_can_cancel_the_run() -> None:
    from app.backtest.engine import Cancelled

    def stop(i: int, n: int) -> None:
        raise Cancelled("gone")

    noop = "class Strategy:\n    def on_bar(self, ctx, bar):\n        pass\n"
    with pytest.raises(Cancelled):
        Backtest(load_source(noop, "<s>"), bars([(1, 1, 1, 1)] * 3), SPOT, progress=stop).run()


def test_round_amount_is_a_float_orders_read_back_exactly() -> None:
    bt = Backtest(load_source(SCRIPTED, "<s>"), bars([(1, 1, 1, 1)]), SPOT)
    for x in (0.123456789, 9897.898 * 0.95 / 40123.17, 1e-3, 7.0, 0.0009):
        got = bt.ctx.round_amount(x)
        assert isinstance(got, float)
        assert D(repr(got)) % SPOT.lot == 0 and 0 <= x - got < 0.001
