"""The alerts screen under Pilot: a rule added by typing is saved into the config file
(the user's other lines kept) and fires as a toast on the market screen; stray input is
refused with the field named; Esc saves nothing; on/off and delete; the alerts log."""

from __future__ import annotations

import pytest

from app.alert_rules import AlertRule
from app.alerts.runtime import AlertRuntime
from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from app.ui.alerts_screen import AlertsLogScreen, AlertsScreen
from app.ui.app import CryptotermApp
from app.ui.alert_rule_form import AlertRuleForm
from tests.harness import screen_text
from tests.waiting import wait, wait_for

BTC = "cryptopair_binance_btcusdt"
USER_CONFIG = "# mine\n[app]\nfps = 10  # smooth enough\n\n[trading]\nbell = true\n"


@pytest.fixture(scope="module")
def market():
    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=40.0).start()
    yield sim
    sim.stop()


@pytest.fixture
def session(market, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(USER_CONFIG)
    cfg = load_config(path, tmp_path / "data")
    cfg.set_endpoint("binance", "live", Endpoint(market.ws_url, market.rest_url))
    cfg.alerts.interval = 0.05
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    engine.start()
    runtime = AlertRuntime(engine, cfg).start()  # no sinks: the toast is the app's
    runtime.set_rules([])
    wait(lambda: engine.hub.book_top(BTC) is not None, 10, "a synced book")
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    app.alerts = runtime
    yield app, runtime, path
    runtime.stop()
    engine.stop()


def toasts(app, title: str) -> list[str]:
    return [n.message for n in app.recent_notices if n.title == title]


async def choose_kind(pilot, label_start: str) -> None:
    await pilot.press(*label_start)  # the kind field has the focus; typing picks one


async def test_a_rule_typed_fast_is_saved_and_fires_as_a_toast_on_the_main_screen(session):
    app, runtime, path = session
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, AlertsScreen)
        assert "No alert rules" in screen_text(app)
        await pilot.press("n")
        assert isinstance(app.screen, AlertRuleForm)
        await choose_kind(pilot, "spr")
        assert "threshold: bp spread" in screen_text(app)
        # name, symbols, venues, threshold (0.1 bp: the book is always wider), Enter saves
        await pilot.press("tab", *"wide", "tab", *"btc/usdt", "tab", *"binance", "tab", *"0.1",
                          "enter")
        await wait_for(lambda: isinstance(app.screen, AlertsScreen) and runtime.rules, 10, "the save")
        (rule,) = runtime.rules
        assert rule == AlertRule("wide", "spread", 0.1, ("BTC/USDT",), ("binance",))
        text = path.read_text()
        assert text.startswith(USER_CONFIG) and 'name = "wide"' in text
        assert load_config(path).alerts.rules == [rule]
        await wait_for(lambda: "binance: spread above 0.1 bp" in screen_text(app), 5, "the new row")
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertsScreen)
        await wait_for(lambda: toasts(app, "Spread alert · wide"), 10, "the alert's toast")
        assert toasts(app, "Spread alert · wide")[0].startswith("BTC/USDT · binance spot spread ")
        # the log screen lists it
        await pilot.press("a", "l")
        await wait_for(lambda: "BTC/USDT · binance spot spread" in screen_text(app), 10, "the log")
        assert isinstance(app.screen, AlertsLogScreen)
        log_text = screen_text(app)
        assert "wide" in log_text and "BTC/USDT · binance spot spread" in log_text


async def test_stray_characters_are_refused_and_esc_saves_nothing(session):
    app, runtime, path = session
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "n")
        await choose_kind(pilot, "pri")
        # a threshold of letters never reaches the field; Enter names what is missing
        await pilot.press("tab", *"btc-up", "tab", "tab", "tab", *"xo!k", "enter")
        await pilot.pause()
        assert isinstance(app.screen, AlertRuleForm)
        assert "rule.threshold: missing (price)" in screen_text(app)
        assert runtime.rules == []
        # a symbol that is no symbol is named too
        await pilot.press("shift+tab", "shift+tab", *"btcusdt", "tab", "tab", *"30000", "enter")
        await wait_for(lambda: "rule.symbols: symbol 'btcusdt' is not of the form" in screen_text(app),
                       5, "the symbol refused")
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, AlertsScreen), 5, "the form closed")
        assert runtime.rules == []
        assert path.read_text() == USER_CONFIG  # nothing written


async def test_switch_off_edit_and_delete(session):
    app, runtime, path = session
    runtime.save_rules([AlertRule("d", "deviation", 40.0), AlertRule("f", "funding", 0.05)])
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("a")
        await pilot.press("down", "space")
        await wait_for(lambda: not runtime.rules[1].enabled, 5, "switched off")
        assert [r.enabled for r in runtime.rules] == [True, False]
        assert load_config(path).alerts.rules[1].enabled is False
        # Enter edits: the cooldown becomes 5
        await pilot.press("enter")
        assert isinstance(app.screen, AlertRuleForm)
        app.screen.query_one("#rule-cooldown").focus()
        await pilot.press("end", "backspace", "backspace", *"5", "enter")
        await wait_for(lambda: runtime.rules[1].cooldown != 60.0, 5, "the edit saved")
        assert runtime.rules[1].cooldown == 5.0
        # d asks; n keeps it, y deletes it
        await pilot.press("d", "n")
        await pilot.pause()
        assert len(runtime.rules) == 2
        await pilot.press("d", "y")
        await wait_for(lambda: len(runtime.rules) == 1, 5, "the delete")
        assert [r.name for r in runtime.rules] == ["d"]
        assert [r.name for r in load_config(path).alerts.rules] == ["d"]
        assert "[trading]\nbell = true" in path.read_text()


async def test_a_burst_of_keys_lands_field_by_field(session):
    """Keys that arrive together (fast typing, a terminal's buffered input) are handled
    in order: each Tab moves on before the characters after it are taken."""
    from textual import events

    app, runtime, path = session
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "n")
        await wait_for(lambda: isinstance(app.screen, AlertRuleForm)
                       and app.focused is app.screen.query_one("#rule-kind"), 5, "the form")
        burst = [*"spr", "tab", *"wide", "tab", *"btc/usdt", "tab", *"binance", "tab", *"2.5"]
        for key in burst:  # posted at once, without waiting for each to be handled
            char = {"tab": None}.get(key, key)
            app.post_message(events.Key(key, char))
        await wait_for(lambda: isinstance(app.screen, AlertRuleForm)
                       and app.screen.query_one("#rule-threshold").value == "2.5", 5, "the burst")
        form = app.screen
        assert isinstance(form, AlertRuleForm)
        values = {f: form.query_one(f"#rule-{f}").value for f in ("name", "symbols", "venues",
                                                                   "threshold")}
        assert values == {"name": "wide", "symbols": "btc/usdt", "venues": "binance",
                          "threshold": "2.5"}
        assert form.query_one("#rule-kind").value == "spread"


async def test_earlier_sessions_alerts_are_in_the_log_not_toasted_again(market, tmp_path):
    import json

    from app.alerts.runtime import start_alerts

    data = tmp_path / "data"
    data.mkdir()
    (data / "alerts.jsonl").write_text(json.dumps(
        {"ts": 1_700_000_000_000, "rule": "old-one", "kind": "spread", "instrument": BTC,
         "value": 3.0, "message": "yesterday's spread alert"}) + "\n")
    cfg = load_config(None, data)
    cfg.set_endpoint("binance", "live", Endpoint(market.ws_url, market.rest_url))
    cfg.alerts.desktop = False
    cfg.alerts.rules = [AlertRule("wide", "spread", 0.1, ("BTC/USDT",))]
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    engine.start()
    runtime = start_alerts(engine, cfg)
    try:
        # this session's first alert may fire before the screen is up: it is still toasted
        wait(lambda: any(a.rule == "wide" for a in runtime.history()), 10, "this session's alert")
        app = CryptotermApp(engine, BTC, mode_label="DEMO")
        app.alerts = runtime
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_for(lambda: toasts(app, "Spread alert · wide"), 5, "the toast")
            assert not any("yesterday" in n.message for n in app.recent_notices)
            await pilot.press("a", "l")
            await wait_for(lambda: "yesterday's spread alert" in screen_text(app), 5, "the old alert")
            assert "11-14 22:13:20" in screen_text(app)  # UTC
    finally:
        runtime.stop()
        engine.stop()
    lines = (data / "alerts.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["rule"] == "old-one" and json.loads(lines[1])["rule"] == "wide"


async def test_letters_on_the_kind_field_pick_a_kind_and_nothing_else(session):
    app, runtime, path = session
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("a", "n")
        await wait_for(lambda: isinstance(app.screen, AlertRuleForm), 5, "the form")
        form = app.screen
        await pilot.press("q", "x", "a", "t")  # app keys elsewhere: here only a search
        await pilot.pause()
        assert app.screen is form and app.is_running
        await pilot.press("o")
        assert form.query_one("#rule-kind").value == "order"
        await pilot.press("left")
        assert form.query_one("#rule-kind").value == "feed"
        assert "Events" not in screen_text(app) and "Conditions" in screen_text(app)
