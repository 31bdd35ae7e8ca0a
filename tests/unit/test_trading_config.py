"""The [trading] config section: accounts, the live gate, and one clear line per mistake."""

from __future__ import annotations

import pytest

from app.cli import main
from app.config import ConfigError, load_config
from app.accounts import account_names


def cfg_with(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def test_defaults_to_paper_with_live_off(tmp_path):
    cfg = load_config()
    assert cfg.trading.account == "paper" and cfg.trading.allow_live is False
    assert "binance-live" not in account_names(False) and "binance-live" in account_names(True)


def test_testnet_account_and_settings(tmp_path):
    cfg = cfg_with(tmp_path, '[trading]\naccount = "okx-demo"\npaper_balance = 2500\n'
                             'default_leverage = 3\nrest_url = "http://127.0.0.1:1/"\n')
    t = cfg.trading
    assert (t.account, t.paper_balance, t.default_leverage, t.rest_url) == \
        ("okx-demo", 2500.0, 3, "http://127.0.0.1:1")


@pytest.mark.parametrize("text, message", [
    ('account = "binance-live"', "trades real money and is off: set allow_live = true"),
    ('account = "coinbase"', "Coinbase Advanced Trade has no sandbox"),
    ('account = "kraken-demo"', "unknown account 'kraken-demo'"),
    ('allow_live = "yes"', "must be true or false"),
    ('paper_balance = -5', "must be a positive number"),
    ('default_leverage = 500', "from 1 to 125"),
    ('price_warn_pct = -1', "percentage from 0 (off) to 1000"),
    ('price_warn_pct = "5%"', "percentage from 0 (off) to 1000"),
    ('bell = 1', "must be true or false"),
])
def test_mistakes_name_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        cfg_with(tmp_path, f"[trading]\n{text}\n")
    assert message in str(err.value) and "trading." in str(err.value)


def test_an_unknown_key_is_a_warning_not_a_failure(tmp_path):
    cfg = cfg_with(tmp_path, "[trading]\nleverage = 5\n")
    assert cfg.trading.default_leverage == 10
    assert cfg.warnings == [f"{tmp_path / 'config.toml'}: [trading] leverage: unknown setting, ignored; "
                            "did you mean `default_leverage`?"]


def test_live_account_allowed_only_with_the_flag(tmp_path):
    cfg = cfg_with(tmp_path, '[trading]\nallow_live = true\naccount = "binance-live"\n')
    assert cfg.trading.account == "binance-live"


def test_cli_reports_a_bad_trading_section_in_one_line(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('[trading]\naccount = "coinbase"\n')
    assert main(["--config", str(path), "keys", "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sandbox" in err


def test_price_warning_and_bell_settings_reach_the_trading_options(tmp_path):
    from decimal import Decimal

    from app.trading.service import TradingOptions
    assert (load_config().trading.price_warn_pct, load_config().trading.bell) == (5.0, False)
    cfg = cfg_with(tmp_path, "[trading]\nprice_warn_pct = 2.5\nbell = true\n")
    options = TradingOptions.from_config(cfg)
    assert options.price_warn_pct == Decimal("2.5") and options.bell is True
