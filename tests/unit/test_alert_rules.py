"""Alert rules in the config file: read with file/key/nearest-name messages, written back
without losing the user's other settings and comments."""

from __future__ import annotations

import tomllib

import pytest

from app.alert_rules import AlertRule, parse_alerts, rules_text, save_rules
from app.alert_rules import AlertConfigError
from app.cli import main
from app.config import VENUES, ConfigError, load_config


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_alerts_table_means_the_deviation_rule_at_alert_bps(tmp_path):
    cfg = load_config(write(tmp_path, "[app]\nalert_bps = 35\n"), tmp_path / "d")
    assert cfg.alerts.rules is None
    (rule,) = cfg.alerts.effective_rules(cfg.alert_bps)
    assert (rule.kind, rule.threshold, rule.enabled) == ("deviation", 35.0, True)


def test_rules_of_every_kind_are_read(tmp_path):
    cfg = load_config(write(tmp_path, """
[alerts]
bell = true
webhook_url = "http://127.0.0.1:9/hook"
[[alerts.rules]]
name = "btc-30k"
kind = "price_above"
symbols = ["btc/usdt"]
venues = ["binance"]
threshold = 30000
cooldown = 5
[[alerts.rules]]
kind = "move"
threshold = 2
window = 300
[[alerts.rules]]
kind = "deviation"
[[alerts.rules]]
kind = "feed"
conditions = ["stale", "unsynced"]
seconds = 3
enabled = false
[[alerts.rules]]
kind = "order"
events = ["filled", "canceled"]
"""), tmp_path / "d")
    a = cfg.alerts
    assert a.bell is True and a.webhook_url == "http://127.0.0.1:9/hook"
    price, move, dev, feed, order = a.rules
    assert price == AlertRule("btc-30k", "price_above", 30000.0, ("BTC/USDT",), ("binance",), cooldown=5.0)
    assert (move.name, move.threshold, move.window) == ("move", 2.0, 300.0)
    assert dev.threshold == cfg.alert_bps  # the deviation default is alert_bps
    assert feed.conditions == ("stale", "unsynced") and feed.seconds == 3 and not feed.enabled
    assert order.events == ("filled", "cancelled") and order.cooldown == 0.0


@pytest.mark.parametrize("rule,needle", [
    ('kind = "price_abov"\nthreshold = 1', "alerts.rules[1].kind = 'price_abov': unknown rule kind; "
                                          "did you mean `price_above`?"),
    ('kind = "price_above"', "alerts.rules[1].threshold: missing (price)"),
    ('kind = "spread"\nthreshold = "ten"', "alerts.rules[1].threshold = 'ten': basis points, above 0"),
    ('kind = "spread"\nthreshold = 5\nvenues = ["binanse"]', "unknown venue 'binanse'; did you mean `binance`?"),
    ('kind = "spread"\nthreshold = 5\nsymbols = ["BTCUSDT"]', "alerts.rules[1].symbols: symbol 'BTCUSDT'"),
    ('kind = "feed"\nconditions = ["stael"]', "unknown condition 'stael'; did you mean `stale`?"),
    ('kind = "order"\nevents = ["fill"]', "unknown order event 'fill'; did you mean `filled`?"),
    ('kind = "spread"\nthreshold = 5\nenabled = "yes"', "alerts.rules[1].enabled = 'yes': must be true or false"),
    ('kind = "spread"\nthreshold = 5\ncooldown = -1', "alerts.rules[1].cooldown = -1: seconds, from 0"),
])
def test_bad_rules_say_file_key_and_nearest_name(tmp_path, capsys, rule, needle):
    path = write(tmp_path, f"[[alerts.rules]]\n{rule}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, tmp_path / "d")
    assert str(exc.value).startswith(f"{path}: ") and needle in str(exc.value)
    # and the CLI says it in one line, no traceback
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cryptoterm: error: ") and needle in err[0]


def test_two_rules_with_one_name_are_refused(tmp_path):
    path = write(tmp_path, '[[alerts.rules]]\nname="a"\nkind="deviation"\n'
                           '[[alerts.rules]]\nname="a"\nkind="spread"\nthreshold=3\n')
    with pytest.raises(ConfigError, match=r"alerts.rules\[2\].name = 'a': another rule has that name"):
        load_config(path, tmp_path / "d")


def test_unknown_keys_warn_with_the_nearest_name(tmp_path):
    cfg = load_config(write(tmp_path, '[alerts]\nbel = true\n[[alerts.rules]]\nkind="deviation"\n'
                                      'cooldwn = 3\n'), tmp_path / "d")
    assert any("[alerts] bel: unknown setting, ignored; did you mean `bell`?" in w for w in cfg.warnings)
    assert any("alerts.rules[1]: cooldwn: unknown rule setting, ignored; did you mean `cooldown`?" in w
               for w in cfg.warnings)


USER_FILE = """\
# my config
[app]
venues = ["binance", "okx"]   # both
alert_bps = 40

[[alerts.rules]]
name = "old"
kind = "spread"
threshold = 9

# trading below: keep this comment
[trading]
bell = true
"""


def test_saving_rules_keeps_every_other_line_and_comment(tmp_path):
    path = write(tmp_path, USER_FILE)
    rules = [AlertRule("btc", "price_below", 25000.0, ("BTC/USDT",)),
             AlertRule("feeds", "feed", seconds=4.0, conditions=("disconnected",), enabled=False)]
    save_rules(path, rules, VENUES)
    text = path.read_text()
    for line in ("# my config", 'venues = ["binance", "okx"]   # both', "alert_bps = 40",
                 "# trading below: keep this comment", "[trading]", "bell = true"):
        assert line in text
    assert 'name = "old"' not in text
    assert text.index("[app]") < text.index("[[alerts.rules]]") < text.index("[trading]")
    cfg = load_config(path, tmp_path / "d")
    assert cfg.alerts.rules == rules and cfg.trading.bell is True and cfg.venues == ["binance", "okx"]


def test_saving_no_rules_writes_an_empty_list_not_the_default(tmp_path):
    path = write(tmp_path, USER_FILE)
    save_rules(path, [], VENUES)
    cfg = load_config(path, tmp_path / "d")
    assert cfg.alerts.rules == [] and cfg.alerts.effective_rules(cfg.alert_bps) == []
    # and back to some rules again: the empty list goes
    save_rules(path, [AlertRule("d", "deviation", 20.0)], VENUES)
    assert load_config(path, tmp_path / "d").alerts.rules == [AlertRule("d", "deviation", 20.0)]
    assert "rules = []" not in path.read_text()


def test_saving_into_a_missing_file_and_an_alerts_table(tmp_path):
    path = tmp_path / "new" / "config.toml"
    save_rules(path, [AlertRule("s", "spread", 3.0)], VENUES)
    assert load_config(path, tmp_path / "d").alerts.rules == [AlertRule("s", "spread", 3.0)]
    text = '[alerts]\nbell = true  # ring\nrules = [\n  {kind = "spread", threshold = 2},\n]\n[app]\nfps = 5\n'
    new = rules_text(text, [AlertRule("m", "move", 1.5, window=30.0)])
    data = tomllib.loads(new)
    assert data["app"]["fps"] == 5 and data["alerts"]["bell"] is True
    assert parse_alerts(data["alerts"], path, VENUES).rules == [AlertRule("m", "move", 1.5, window=30.0)]
    assert "bell = true  # ring" in new


def test_a_quote_in_a_name_round_trips(tmp_path):
    path = tmp_path / "c.toml"
    with pytest.raises(AlertConfigError):  # names are plain words: refused before writing
        save_rules(path, [AlertRule('a"b', "spread", 3.0)], VENUES)
    assert not path.exists()
