"""KlineChart: candles and volume render, empty data waits, redraws are throttled."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from app.market.events import Kline
from tests.harness import WidgetApp, screen_text, widget_text
from tests.viewdata import BTC_SPOT, T0, make_klines, make_view
from tests.waiting import wait_for
from widgets.kline_chart import MAX_REDRAWS_PER_SEC, WAITING_TEXT, KlineChart


async def test_renders_candles_and_volume_with_time_labels() -> None:
    chart = KlineChart()
    app = WidgetApp(chart)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert chart.update_view(make_view(klines=make_klines(BTC_SPOT, 60), interval="1m"))
        await pilot.pause()
        price, volume = chart.query(PlotextPlot)
        assert price.display and volume.display
        assert not chart.query_one("#kline-waiting").display
        price_text, volume_text = widget_text(price), widget_text(volume)
        assert "█" in price_text and "│" in price_text  # candle bodies and wicks
        assert "30,0" in price_text  # price axis labels
        assert "█" in volume_text
        assert ":" in volume_text  # HH:MM time labels under the volume panel
        text = widget_text(chart)
        assert "BTC/USDT · 1m" in text  # the title names the interval
        assert "(live)" in text  # the last candle is open


async def test_without_klines_it_waits() -> None:
    chart = KlineChart()
    app = WidgetApp(chart)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        chart.update_view(make_view(klines=()))
        await pilot.pause()
        assert chart.query_one("#kline-waiting").display
        assert WAITING_TEXT in widget_text(chart.query_one("#kline-waiting"))
        assert not any(plot.display for plot in chart.query(PlotextPlot))

        chart.update_view(None)
        await pilot.pause()
        assert chart.query_one("#kline-waiting").display


async def test_unchanged_klines_are_not_redrawn_and_bursts_are_throttled() -> None:
    chart = KlineChart()
    app = WidgetApp(chart)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        klines = make_klines(BTC_SPOT, 60)
        chart.update_view(make_view(seq=1, klines=klines))
        await pilot.pause()
        draws = chart.draws
        assert draws >= 1
        assert not chart.update_view(make_view(seq=2, klines=klines))

        # a burst of live-candle updates inside one throttle window: at most one more draw
        for step in range(20):
            live = list(klines)
            last = live[-1]
            live[-1] = type(last)(last.id, last.interval, last.open_time, last.open, last.high + step,
                                  last.low, last.close + step, last.volume, False)
            chart.update_view(make_view(seq=3 + step, klines=tuple(live)))
        assert chart.draws <= draws + 1
        # the newest state is drawn once the window has passed
        await wait_for(lambda: chart.up_to_date, 2 / MAX_REDRAWS_PER_SEC, "the throttled redraw")
        assert chart.draws <= draws + 2
        assert f"C {live[-1].close:,.2f}" in widget_text(chart)


async def test_switching_interval_redraws_with_the_new_title() -> None:
    chart = KlineChart()
    app = WidgetApp(chart)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        chart.update_view(make_view(klines=make_klines(BTC_SPOT, 30, "1m"), interval="1m"))
        await wait_for(lambda: chart.up_to_date, what="the 1m chart")
        chart.update_view(make_view(klines=make_klines(BTC_SPOT, 30, "1h"), interval="1h"))
        await wait_for(lambda: chart.up_to_date, what="the 1h chart")
        await pilot.pause()
        assert "BTC/USDT · 1h" in widget_text(chart)


async def test_flat_market_and_single_candle_render() -> None:
    """plotext divides by the price range; a flat market must not crash the screen."""
    chart = KlineChart()
    app = WidgetApp(chart)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        flat = tuple(Kline(BTC_SPOT.id, "1m", T0 + i * 60_000, 100.0, 100.0, 100.0, 100.0, 0.0, True)
                     for i in range(3))
        chart.update_view(make_view(klines=flat[:1]))
        await wait_for(lambda: chart.draws == 1 and chart.up_to_date, what="one candle drawn")
        chart.update_view(make_view(klines=flat))
        await wait_for(lambda: chart.draws == 2 and chart.up_to_date, what="three candles drawn")
        await pilot.pause()
        assert app.is_running
        assert "100.00" in screen_text(app)
        assert "(closed)" in widget_text(chart)
