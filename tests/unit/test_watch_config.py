"""[app] watch_top / favourites / reduced_motion, --top, and favourites written back."""

from __future__ import annotations

import os

import pytest

from app.cli import main
from app.config import ConfigError, load_config, save_favourites


def test_watch_settings_read_from_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[app]\nwatch_top = 25\nfavourites = ["cryptopair_binance_btcusdt"]\n'
                    'reduced_motion = true\n')
    cfg = load_config(path, tmp_path)
    assert (cfg.watch_top, cfg.favourites, cfg.reduced_motion) == (25, ["cryptopair_binance_btcusdt"], True)
    assert not cfg.warnings


@pytest.mark.parametrize("line,needle", [
    ("watch_top = -1", "app.watch_top = -1: a whole number from 0 to 200"),
    ("watch_top = 2.5", "app.watch_top = 2.5: a whole number"),
    ("watch_top = true", "app.watch_top = True: a whole number"),
    ("favourites = \"btc\"", "app.favourites: must be a list of instrument ids"),
    ("reduced_motion = 1", "app.reduced_motion = 1: must be true or false"),
])
def test_bad_watch_settings(tmp_path, line, needle):
    path = tmp_path / "c.toml"
    path.write_text(f"[app]\n{line}\n")
    with pytest.raises(ConfigError, match=None) as info:
        load_config(path, tmp_path)
    assert needle in info.value.message


def test_bad_top_flag_is_one_line(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path), "--config", str(_empty(tmp_path)), "--top", "999"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "cryptoterm: error: --top 999: must be from 0 to 200"


def _empty(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path


def test_save_favourites_keeps_every_other_line(tmp_path):
    path = tmp_path / "c.toml"
    original = ('# my config\n[app]\nfps = 20  # smooth\nfavourites = ["a"]\nvenues = ["binance"]\n\n'
                '[trading]\naccount = "paper"\n')
    path.write_text(original)
    save_favourites(path, ["a", "cryptoperp_okx_btcusdt"])
    text = path.read_text()
    assert text == original.replace('favourites = ["a"]', 'favourites = ["a", "cryptoperp_okx_btcusdt"]')
    cfg = load_config(path, tmp_path)
    assert cfg.favourites == ["a", "cryptoperp_okx_btcusdt"] and cfg.fps == 20


def test_save_favourites_adds_the_key_or_the_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[app]\nfps = 5\n[trading]\naccount = "paper"\n')
    save_favourites(path, ["x"])
    assert load_config(path, tmp_path).favourites == ["x"]
    assert '[app]\nfavourites = ["x"]\nfps = 5\n' in path.read_text()
    other = tmp_path / "d.toml"
    other.write_text('[trading]\naccount = "paper"')
    save_favourites(other, [])
    cfg = load_config(other, tmp_path)
    assert cfg.favourites == [] and cfg.trading.account == "paper"
    fresh = tmp_path / "sub" / "new.toml"
    save_favourites(fresh, ["y"])
    assert load_config(fresh, tmp_path).favourites == ["y"]


def test_save_favourites_refuses_what_it_cannot_rewrite_and_leaves_the_file(tmp_path):
    path = tmp_path / "c.toml"
    odd = '[app]\nfavourites = [\n  "a", # the ] inside a comment\n  "b",\n]\n'
    path.write_text(odd)
    with pytest.raises(ConfigError, match="edit the file by hand"):
        save_favourites(path, ["c"])
    assert path.read_text() == odd


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_save_favourites_unwritable_is_a_config_error(tmp_path):
    path = tmp_path / "ro" / "c.toml"
    path.parent.mkdir()
    path.write_text("[app]\n")
    path.parent.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write"):
            save_favourites(path, ["x"])
    finally:
        path.parent.chmod(0o700)
