"""Secrets never appear in logs, exceptions, the audit trail, the database or the screen."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest
from textual.app import App
from textual.widgets import Input

import themes
from app.trading.errors import TradingError
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.redact import redact, scrub
from app.trading.service import TradingOptions, TradingService
from app.trading.store import TradingStore
from app.ui.keys_screen import KeysScreen
from storage.db import open_database
from tests.fake_binance_testnet import API_KEY, SECRET, FakeBinanceTestnet

BTC = "cryptopair_binance_btcusdt"


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "cryptoterm.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def test_scrub_and_redact_by_name_and_value(memory_keyring):
    KeyStore(environ={}).set("binance", "testnet", "visible-key-1234", "hidden-secret-5678")
    assert redact("sent hidden-secret-5678 and visible-key-1234") == "sent *** and ***"
    assert redact("timestamp=1&signature=abcdef0123") == "timestamp=1&signature=***"
    assert scrub({"apiKey": "x", "headers": {"X-MBX-APIKEY": "y", "OK-ACCESS-SIGN": "z"},
                  "note": "hidden-secret-5678"}) == \
        {"apiKey": "***", "headers": {"X-MBX-APIKEY": "***", "OK-ACCESS-SIGN": "***"}, "note": "***"}


async def test_no_secret_in_logs_exceptions_audit_or_database(tmp_path, memory_keyring, log_file):
    server = FakeBinanceTestnet()
    await server.start()
    KeyStore(environ={}).set("binance", "testnet", API_KEY, SECRET)
    store = TradingStore(open_database(None, tmp_path))
    service = TradingService(TradingOptions(account="binance-testnet", rest_url=server.url,
                                            timeout_ms=400), store=store)
    log = logging.getLogger("cryptoterm.test")
    messages = []
    try:
        await service.astart()
        order = await asyncio.wrap_future(service.place(
            OrderRequest(BTC, "buy", "limit", Decimal("0.01"), Decimal("29000"))))
        server.delay_order_response = 0.8  # a timeout, a reconcile, all audited
        await asyncio.wrap_future(service.place(
            OrderRequest(BTC, "buy", "limit", Decimal("0.01"), Decimal("28000"))))
        server.api_key = "rotated"  # now every call fails authentication
        with pytest.raises(TradingError) as err:
            await asyncio.wrap_future(service.cancel(order.client_order_id))
        messages.append(str(err.value))
        # whatever a careless log line or exception would carry
        log.warning("credentials %s / %s", API_KEY, SECRET)
        try:
            raise RuntimeError(f"request failed with secret={SECRET}")
        except RuntimeError:
            log.exception("unexpected")
    finally:
        await service.aclose()
        await server.stop()
    written = log_file.read_text()
    assert "credentials *** / ***" in written and "secret=***" in written
    rows = store.audit_rows()
    assert {r["action"] for r in rows} >= {"submit", "place", "place_timeout", "reconcile",
                                           "cancel_failed"}
    import sqlite3
    raw_db = b"".join(p.read_bytes() for p in tmp_path.glob("cryptoterm.db*"))
    for secret in (SECRET, API_KEY):
        assert secret not in written
        assert all(secret not in m for m in messages)
        assert secret.encode() not in raw_db
    with sqlite3.connect(tmp_path / "cryptoterm.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert SECRET not in dump and API_KEY not in dump and "signature=" not in dump.replace(
        "signature=***", "")


class KeysApp(App[None]):
    CSS_PATH = themes.CSS_PATH

    def __init__(self) -> None:
        super().__init__()
        themes.register_themes(self)
        self.theme = themes.DARK

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return themes.variable_defaults(self.current_theme.dark)

    def on_mount(self) -> None:
        self.push_screen(KeysScreen(KeyStore(environ={})))


async def test_keys_screen_masks_inputs_and_screenshots_hold_no_secret(memory_keyring):
    app = KeysApp()
    secret = "typed-secret-9f8e7d"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.query_one("#keys-key", Input).value = "typed-key-1a2b3c"
        screen.query_one("#keys-secret", Input).value = secret
        await pilot.pause()
        shot = app.export_screenshot()
        assert secret not in shot and "typed-key-1a2b3c" not in shot
        await pilot.click("#keys-save")
        await pilot.pause()
        assert memory_keyring.data[("cryptoterm", "binance:testnet:secret")] == secret
        assert screen.query_one("#keys-secret", Input).value == ""  # cleared once stored
        shot = app.export_screenshot()
        assert secret not in shot and "saved keys for binance testnet" in shot.replace("&#160;", " ")
