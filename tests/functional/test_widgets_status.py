"""FeedStatusBar: connection states and counters, the UNSYNCED alarm, the clock."""

from __future__ import annotations

from tests.harness import WidgetApp, widget_text
from tests.viewdata import BTC_SPOT, ETH_PERP, T0, make_health, make_view
from widgets.status_bar import FeedStatusBar


def healths():
    return [
        make_health("binance spot", "connected", age=0.1, rate=523.0, gaps=1, resyncs=2, reconnects=3),
        make_health("okx perp", "stale", age=12.0),
        make_health("bybit spot", "reconnecting", age=None),
    ]


async def test_shows_each_connection_state_age_rate_and_counters() -> None:
    bar = FeedStatusBar(clock=lambda: T0 / 1000)
    app = WidgetApp(bar)
    async with app.run_test(size=(220, 5)) as pilot:
        bar.update(healths(), make_view(BTC_SPOT))
        await pilot.pause()
        text = widget_text(bar)
        assert "binance spot ● connected 0.1s 523 msg/s gaps 1 resyncs 2 reconnects 3" in text
        assert "okx perp ● stale 12s" in text
        assert "bybit spot ● reconnecting —" in text
        assert "22:13:20 UTC" in text
        assert "UNSYNCED" not in text


async def test_a_feed_that_cannot_connect_says_why() -> None:
    bar = FeedStatusBar(clock=lambda: T0 / 1000)
    app = WidgetApp(bar)
    down = make_health("binance spot", "reconnecting", age=None,
                       error="cannot reach https://api.binance.com: Name or service not known")
    async with app.run_test(size=(220, 5)) as pilot:
        bar.update([down], make_view(BTC_SPOT))
        await pilot.pause()
        text = widget_text(bar)
        assert "binance spot ● reconnecting — cannot reach https://api.binance.com" in text
        assert "msg/s" not in text  # zero counters give way to the reason
        bar.update([make_health("binance spot", "connected", error=None)], make_view(BTC_SPOT))
        await pilot.pause()
        assert "msg/s" in widget_text(bar)


async def test_state_colours_come_from_the_theme() -> None:
    bar = FeedStatusBar()
    app = WidgetApp(bar)
    async with app.run_test(size=(220, 5)) as pilot:
        bar.update(healths(), None)
        await pilot.pause()
        colours = {segment.text.strip(): segment.style.color.get_truecolor().hex.lower()
                   for segment in bar.render_line(0) if segment.text.startswith("● ")}
        assert colours["● connected"] == app.theme_variables["success"].lower()
        assert colours["● stale"] == app.theme_variables["warning"].lower()
        assert colours["● connected"] != colours["● stale"]


async def test_unsynced_book_raises_the_alarm() -> None:
    bar = FeedStatusBar(clock=lambda: T0 / 1000)
    app = WidgetApp(bar)
    async with app.run_test(size=(120, 5)) as pilot:
        bar.update(healths(), make_view(BTC_SPOT, synced=False))
        await pilot.pause()
        text = widget_text(bar)
        assert "UNSYNCED" in text and "22:13:20 UTC" in text
        alarm = next(s for s in bar.render_line(0) if "UNSYNCED" in s.text)
        assert alarm.style.bgcolor.get_truecolor().hex.lower() == app.theme_variables["unsynced"].lower()

        # the feed's own list of resyncing books raises it too
        flagged = [make_health("binance spot", unsynced=(BTC_SPOT.id,))]
        bar.update(flagged, make_view(BTC_SPOT, synced=True))
        await pilot.pause()
        assert "UNSYNCED" in widget_text(bar)


async def test_narrow_bar_keeps_the_current_feed_in_full() -> None:
    bar = FeedStatusBar(clock=lambda: T0 / 1000)
    app = WidgetApp(bar)
    async with app.run_test(size=(100, 5)) as pilot:
        view = make_view(ETH_PERP)  # its feed is "okx perp"
        bar.update(healths(), view)
        await pilot.pause()
        text = widget_text(bar)
        assert text.lstrip().startswith("okx perp ● stale 12s")
        assert "binance spot ●" in text
        assert text.rstrip().endswith("22:13:20 UTC")  # the clock is never pushed off


def demo_healths():
    """What `cryptoterm --demo` streams: four venues, nine connections."""
    return [make_health("binance spot", age=0.0, rate=86.0), make_health("binance perp"),
            make_health("binance klines"), make_health("okx spot"), make_health("okx perp"),
            make_health("okx klines"), make_health("okx funding"), make_health("bybit spot"),
            make_health("bybit perp"), make_health("coinbase spot")]


async def bar_text(width: int) -> str:
    bar = FeedStatusBar(clock=lambda: T0 / 1000)
    async with WidgetApp(bar).run_test(size=(width, 5)) as pilot:
        bar.update(demo_healths(), make_view(BTC_SPOT))
        await pilot.pause()
        return widget_text(bar)


async def test_every_venue_is_on_the_bar_at_160_columns() -> None:
    text = await bar_text(160)
    assert text.lstrip().startswith("binance spot ● connected 0.0s 86 msg/s")
    for venue in ("okx ● connected 4/4", "bybit ● connected 2/2", "coinbase spot ● connected"):
        assert venue in text, venue
    assert "…" not in text and text.rstrip().endswith("22:13:20 UTC")


async def test_narrower_bars_fall_back_to_venue_summaries_then_dots() -> None:
    text = await bar_text(120)
    assert "binance ● connected 3/3 │ okx ● connected 4/4 │ bybit ● connected 2/2" in text
    assert "coinbase" in text and "…" not in text
    text = await bar_text(80)
    assert "binance ● okx ● bybit ● coinbase ●" in text and "22:13:20 UTC" in text
