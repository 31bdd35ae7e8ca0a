"""``[trading] private_url``: where the account's private stream connects."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_config
from app.trading.service import TradingOptions


def test_private_url_reaches_the_trading_options(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[trading]\nprivate_url = "ws://127.0.0.1:9/ws-api/v3"\n')
    cfg = load_config(path)
    assert TradingOptions.from_config(cfg).private_url == "ws://127.0.0.1:9/ws-api/v3"
    assert cfg.warnings == []


def test_a_private_url_that_is_not_a_websocket_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[trading]\nprivate_url = "https://example.test"\n')
    with pytest.raises(ConfigError, match="trading.private_url .*must start with ws:// or wss://"):
        load_config(path)
