"""Bad config and bad flags: one clear line naming what and where, exit 2, no traceback."""

from __future__ import annotations

import pytest

from app.cli import main
from app.config import ConfigError, default_paths, load_config


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("cryptoterm: error: ")
    return lines[0]


@pytest.mark.parametrize("argv,needle", [
    (["--fps", "0"], "--fps 0: must be from 1 to 60"),
    (["--symbol", "BTCUSDT"], "--symbol: symbol 'BTCUSDT' is not of the form"),
    (["--symbols", "BTC/USDT,nope"], "--symbols: symbol 'nope'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--theme", "pink"], "invalid choice: 'pink'"),
    (["--rate", "-3", "--demo"], "--rate -3: must be above 0"),
    (["--config", "/nonexistent/c.toml"], "/nonexistent/c.toml: config file not found"),
])
def test_bad_flags(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert needle in one_line_error(err)


@pytest.mark.parametrize("text,needle", [
    ("app = [", "not valid TOML"),
    ("[app]\nfps = 'x'\n", "app.fps = 'x': must be a number from 1 to 60"),
    ("[app]\ntheme = 'neon'\n", "app.theme = 'neon'"),
    ("[app]\nsymbols = ['BTC-USDT']\n", "app.symbols: symbol 'BTC-USDT'"),
    ("[venues.binance.live]\nws_url='http://x'\n", "venues.binance.live.ws_url = 'http://x': must start with ws:// or wss://"),
])
def test_bad_config_file(tmp_path, capsys, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(text)
    code, _, err = run(capsys, "--config", str(path))
    assert code == 2
    line = one_line_error(err)
    assert str(path) in line and needle in line


def test_config_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[app]\ntheme = 'cryptoterm-light'\nfps = 20\nsymbols = ['ETH/USDT:USDT']\n"
                    "[venues.binanceusdm.live]\nws_url = 'ws://127.0.0.1:1234/'\n")
    cfg = load_config(path, tmp_path / "data")
    assert (cfg.theme, cfg.fps, cfg.symbols) == ("cryptoterm-light", 20.0, ["ETH/USDT:USDT"])
    ep = cfg.endpoint("binanceusdm")
    assert ep.ws_url == "ws://127.0.0.1:1234" and ep.rest_url == "https://fapi.binance.com"
    assert cfg.endpoint("binance").ws_url.startswith("wss://stream.binance.com")
    assert cfg.data_dir == tmp_path / "data"
    with pytest.raises(ConfigError):
        cfg.endpoint("binance", "paper")


def test_cryptoterm_home(tmp_path):
    cfg_path, data = default_paths({"CRYPTOTERM_HOME": str(tmp_path)})
    assert cfg_path == tmp_path / "config.toml" and data == tmp_path / "data"
    assert load_config(None, None, {"CRYPTOTERM_HOME": str(tmp_path)}).data_dir == tmp_path / "data"


def test_print_config(capsys):
    code, out, _ = run(capsys, "--print-config")
    assert code == 0 and "[app]" in out and "symbols" in out


def test_storage_section(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[storage]\nbook_snapshot_interval = 2\nbook_snapshot_depth = 50\n")
    cfg = load_config(path)
    assert (cfg.book_snapshot_interval, cfg.book_snapshot_depth) == (2.0, 50)
    path.write_text("[storage]\nbook_snapshot_interval = 0\n")
    code, _, err = run(capsys, "--config", str(path))
    assert code == 2 and "storage.book_snapshot_interval = 0" in one_line_error(err)


UNKNOWN_KEYS = """\
venuez = 3
[app]
venuez = ["okx"]
colour = 1
[storag]
x = 1
[storage]
book_depth = 3
[trading]
leverage = 5
[venues.binanse.live]
ws_url = "wss://x"
[venues.binance.prod]
ws_url = "wss://x"
[venues.binance.live]
rest = "https://x"
"""


def test_unknown_keys_warn_with_file_key_and_nearest_name(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(UNKNOWN_KEYS)
    cfg = load_config(path)
    assert cfg.venues == ["binance"]  # nothing of the misspelt keys was applied
    assert cfg.warnings == [f"{path}: {text}" for text in [
        "venuez: unknown setting outside any table, ignored; did you mean `venues` under [app]?",
        "[storag]: unknown section, ignored; did you mean `[storage]`?",
        "[app] venuez: unknown setting, ignored; did you mean `venues`?",
        "[app] colour: unknown setting, ignored (known: theme, fps, venues, symbols, alert_bps, "
        "usd_family, environment, watch_top, favourites, reduced_motion)",
        "[venues] binanse: unknown venue, ignored; did you mean `binance`?",
        "[venues.binance] prod: unknown environment, ignored (known: live, testnet, demo)",
        "[venues.binance.live] rest: unknown setting, ignored; did you mean `rest_url`?",
        "[trading] leverage: unknown setting, ignored; did you mean `default_leverage`?",
        "[storage] book_depth: unknown setting, ignored; did you mean `book_snapshot_depth`?",
    ]]


def test_a_cli_command_starts_and_says_so_on_stderr(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[app]\nvenuez = 3\n")
    code, out, err = run(capsys, "--config", str(path), "keys", "list")
    assert code == 0, err
    assert f"cryptoterm: warning: {path}: [app] venuez: unknown setting, ignored; did you mean `venues`?" \
        in err.splitlines()
    assert "Traceback" not in err
