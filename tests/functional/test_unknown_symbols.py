"""A symbol the venue does not list, and a misspelt config key: said on screen (ticker
line and a toast) instead of "waiting for market data" forever, in the demo and live."""

from __future__ import annotations

from app.cli import build_parser
from app.commands import tui
from app.config import Endpoint, load_config
from tests.binance_rest import BinanceRest
from tests.harness import screen_text
from tests.waiting import wait_for

NOW = 1_700_000_000_000


def toasts(app, title: str) -> list[str]:
    return [n.message for n in app.recent_notices if n.title == title]


async def test_demo_symbols_are_looked_up_and_an_unlisted_one_is_named():
    args = build_parser().parse_args(["--demo", "--symbols", "FOO/BAR"])
    app, engine, world = tui.build(args, load_config())
    try:
        async with app.run_test(size=(160, 45)):
            said = "FOO/BAR is not listed on binance spot; listed: BTC/USDT, ETH/USDT, SOL/USDT"
            await wait_for(lambda: said in screen_text(app), 15, "the unlisted symbol on the ticker")
            text = screen_text(app)
            assert "waiting for market data" not in text
            assert engine.wait_resolved(10)
            assert engine.instruments() == []  # the demo's own symbols were not streamed instead
            await wait_for(lambda: toasts(app, "unknown symbol"), 5, "the toast")
            assert toasts(app, "unknown symbol") == [f"{said} (press s to pick a listed one)"]
    finally:
        app.alerts.stop()
        engine.stop()
        world.stop()


async def test_live_unlisted_symbol_next_to_a_listed_one(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[app]\nvenuez = [\"okx\"]\n")
    args = build_parser().parse_args(["--symbols", "FOO/BAR,ETH/USDT"])
    cfg = load_config(config)
    with BinanceRest(NOW) as server:  # the venue's REST; its websocket is nowhere (not needed)
        cfg.set_endpoint("binance", "live", Endpoint("ws://127.0.0.1:9", server.url))
        app, engine, _ = tui.build(args, cfg)
        try:
            async with app.run_test(size=(160, 45)):
                said = "FOO/BAR is not listed on binance spot; listed: BTC/USDT, ETH/USDT"
                await wait_for(lambda: said in screen_text(app), 15, "the unlisted symbol on the ticker")
                assert [i.symbol for i in engine.instruments()] == ["ETH/USDT"]
                # ETH/USDT streams: FOO/BAR is toasted because it is the one on screen
                # (notify() posts a message: the toast lands a moment after the ticker text)
                await wait_for(lambda: toasts(app, "unknown symbol"), 5, "the toast")
                assert toasts(app, "unknown symbol") == [f"{said} (press s to pick a listed one)"]
                # the misspelt key: a toast at start, naming the file, the key and the fix
                await wait_for(lambda: toasts(app, f"{config}: ignored"), 5, "the config toast")
                (warning,) = toasts(app, f"{config}: ignored")
                assert warning == "[app] venuez: unknown setting, ignored; did you mean `venues`?"
        finally:
            app.alerts.stop()
            engine.stop()


def test_the_listed_names_put_a_near_miss_first_then_the_same_quote_and_count_the_rest():
    from app.market.instruments import not_listed_message

    listed = ["ETH/BTC", "BTC/USDT", *(f"C{i}/USDT" for i in range(20))]
    assert not_listed_message("BTC/USTD", "binance spot", listed) == (
        "BTC/USTD is not listed on binance spot; listed: BTC/USDT, C0/USDT, C1/USDT, C10/USDT, "
        "C11/USDT, C12/USDT, ... (16 more)")
    assert not_listed_message("FOO/BTC", "binance spot", listed).startswith(
        "FOO/BTC is not listed on binance spot; listed: ETH/BTC, BTC/USDT, C0/USDT")
    assert not_listed_message("FOO/BAR", "okx spot", []) == "FOO/BAR is not listed on okx spot (it lists no markets)"
