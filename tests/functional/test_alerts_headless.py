"""Alerts fire headless: `cryptoterm record` evaluates the config's rules with no screen,
writes alerts.jsonl in the data dir and says each alert on stderr."""

from __future__ import annotations

import json

from app.cli import main


def test_record_fires_the_configured_rules(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('[alerts]\ndesktop = false\ninterval = 0.1\n'
                      '[[alerts.rules]]\nname = "wide"\nkind = "spread"\nthreshold = 0.1\n'
                      'symbols = ["BTC/USDT"]\nvenues = ["binance"]\n')
    data = tmp_path / "data"
    assert main(["--config", str(config), "--data-dir", str(data), "record", "--demo",
                 "--raw", str(tmp_path / "raw.jsonl"), "--duration", "3",
                 "--symbols", "BTC/USDT"]) == 0
    err = capsys.readouterr().err
    lines = [json.loads(x) for x in (data / "alerts.jsonl").read_text().splitlines()]
    # once per crossing: the sim's book is always wider than 0.1 bp, so exactly one
    assert [(x["rule"], x["instrument"]) for x in lines] == [("wide", "cryptopair_binance_btcusdt")]
    assert lines[0]["message"].startswith("BTC/USDT · binance spot spread ")
    assert "cryptoterm: alert: BTC/USDT · binance spot spread " in err
