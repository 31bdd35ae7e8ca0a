"""TickerStrip: last price and 24 h change, touch and spread, funding countdown."""

from __future__ import annotations

from app.market.events import Funding, Ticker
from tests.harness import WidgetApp, widget_text
from tests.viewdata import BTC_SPOT, ETH_PERP, T0, book_levels, make_view
from widgets.ticker_strip import TickerStrip


def ticker(last: float, instrument=BTC_SPOT) -> Ticker:
    return Ticker(instrument.id, T0, last=last, bid=last - 0.5, ask=last + 0.5,
                  high_24h=31_000.0, low_24h=29_000.0, volume_24h=12_345.6, open_24h=29_500.0)


async def test_shows_symbol_last_change_touch_and_24h_stats() -> None:
    strip = TickerStrip()
    app = WidgetApp(strip)
    async with app.run_test(size=(140, 10)) as pilot:
        bids, asks = book_levels(30_000.0, 30_000.5, 0.5)
        strip.update_view(make_view(bids=bids, asks=asks, ticker=ticker(30_000.2)))
        await pilot.pause()
        text = widget_text(strip)
        assert "BTC/USDT" in text and "binance spot" in text
        assert "30,000.20" in text
        assert "+1.70%" in text  # (30000.2 - 29500) / 29500
        assert "bid 30,000.00" in text and "ask 30,000.50" in text
        assert "spread 0.50 (0.17 bps)" in text
        assert "high 31,000.00" in text and "low 29,000.00" in text
        assert "vol 12.35K BTC" in text


async def test_last_price_direction_follows_the_previous_price() -> None:
    strip = TickerStrip()
    app = WidgetApp(strip)
    async with app.run_test(size=(140, 10)) as pilot:
        strip.update_view(make_view(seq=1, ticker=ticker(100.0)))
        strip.update_view(make_view(seq=2, ticker=ticker(101.0)))
        await pilot.pause()
        assert "101.00 ▲" in strip.text
        up_style = strip.get_component_rich_style("ticker--up")
        strip.update_view(make_view(seq=3, ticker=ticker(99.0)))
        await pilot.pause()
        assert "99.00 ▼" in strip.text
        # the same price again keeps the last direction instead of flickering to neutral
        strip.update_view(make_view(seq=4, ticker=ticker(99.0)))
        assert "99.00 ▼" in strip.text
        assert up_style.color is not None
        assert up_style.color.get_truecolor().hex.lower() == app.theme_variables["bid"].lower()


async def test_perp_shows_funding_rate_and_countdown() -> None:
    now = T0 / 1000
    strip = TickerStrip(clock=lambda: now)
    app = WidgetApp(strip)
    async with app.run_test(size=(140, 10)) as pilot:
        funding = Funding(ETH_PERP.id, T0, rate=0.0001, next_funding_time=T0 + 3_723_000,
                          mark_price=2_000.5)
        strip.update_view(make_view(ETH_PERP, ticker=ticker(2_000.0, ETH_PERP), funding=funding))
        await pilot.pause()
        text = widget_text(strip)
        assert "ETH/USDT:USDT" in text and "okx perp" in text
        assert "funding +0.0100%" in text
        assert "in 01:02:03" in text
        assert "mark 2,000.50" in text


async def test_unsynced_book_falls_back_to_ticker_touch() -> None:
    strip = TickerStrip()
    app = WidgetApp(strip)
    async with app.run_test(size=(140, 10)) as pilot:
        bids, asks = book_levels(1.0, 2.0, 0.5)  # a stale book that must not be shown
        strip.update_view(make_view(synced=False, bids=bids, asks=asks, ticker=ticker(30_000.0)))
        await pilot.pause()
        text = widget_text(strip)
        assert "bid 29,999.50" in text and "ask 30,000.50" in text
        assert "book resyncing" in text


async def test_no_view_says_waiting() -> None:
    strip = TickerStrip()
    app = WidgetApp(strip)
    async with app.run_test(size=(80, 10)) as pilot:
        strip.update_view(None)
        await pilot.pause()
        assert "waiting for market data" in widget_text(strip)


async def test_a_narrow_strip_drops_whole_parts_instead_of_wrapping() -> None:
    strip = TickerStrip(clock=lambda: T0 / 1000)
    app = WidgetApp(strip)
    bids, asks = book_levels(30_000.0, 30_000.5, 0.5)
    async with app.run_test(size=(80, 10)) as pilot:
        strip.update_view(make_view(bids=bids, asks=asks, ticker=ticker(30_000.2)))
        await pilot.pause()
        lines = widget_text(strip).splitlines()
        assert len(lines) == 2  # never a third, wrapped line
        assert "ask 30,000.50" in lines[0]
        assert "spread" not in lines[0] and "bps" not in widget_text(strip)  # whole part gone
        assert lines[1].lstrip().startswith("24h high")
