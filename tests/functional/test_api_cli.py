"""`cryptoterm serve` as a user runs it (a subprocess stopped with Ctrl+C), its bad
arguments, `[api]` in the config, and the terminal UI serving the API with its address
in the header."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.cli import build_parser, main
from app.commands import tui
from app.config import ConfigError, load_config
from tests.harness import screen_text
from tests.waiting import wait, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


class Serving:
    """`cryptoterm serve ...` in a subprocess; ``url`` once it says where it listens."""

    def __init__(self, home: Path, *argv: str) -> None:
        env = dict(os.environ, CRYPTOTERM_HOME=str(home))
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "serve", *argv], env=env,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"at (http://\S+)/api/v1/crypto", line)
        assert m, line
        self.url = m[1]
        self.first_line = line

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        rest = self.proc.communicate(timeout=20)[1]
        return self.proc.returncode, rest


def test_serve_runs_the_engine_headless_behind_the_api_until_ctrl_c(tmp_path):
    db = tmp_path / "rec.db"
    s = Serving(tmp_path / "home", "--demo", "--venues", "binance", "--port", "0", "--record",
                "--db", str(db))
    try:
        assert s.first_line.startswith("cryptoterm: serving binance at http://127.0.0.1:")
        assert "recording to the history store" in s.first_line
        api = s.url + "/api/v1/crypto"
        assert fetch(f"{api}/exchanges") == {"exchanges": ["binance"]}
        wait(lambda: _ok(f"{api}/orderbook?symbol=cryptopair_binance_btcusdt"), 15, "a synced book")
        body = fetch(f"{api}/kdata?symbol=cryptopair_binance_btcusdt&limit=3")
        assert body["count"] == 3 and body["data"][-1]["closed"] is False
    finally:
        rc, err = s.stop()
    assert rc == 0, err
    assert "Traceback" not in err
    # --record: what streamed is in the store
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM trades").fetchone()[0] > 0


def _ok(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5)
        return True
    except OSError:
        return False


@pytest.mark.parametrize("argv, words", [
    (["--venues", "kraken"], "--venues: unknown venue 'kraken' (available: binance, okx, bybit, coinbase)"),
    (["--symbols", "BTCUSDT"], "--symbols: symbol 'BTCUSDT' is not of the form BASE/QUOTE"),
    (["--port", "70000"], "--port 70000: must be from 1 to 65535"),
    (["--host", " "], "--host: give an address such as 127.0.0.1"),
    (["--host", "no.such.host.invalid", "--port", "0"], "API host 'no.such.host.invalid': cannot resolve it"),
])
def test_bad_serve_arguments_are_one_line(capsys, argv, words):
    rc = main(["serve", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_a_taken_port_is_said_in_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        rc = main(["serve", "--demo", "--venues", "binance", "--port", str(taken.getsockname()[1])])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot listen: already in use (pick another with --port or [api] port)" in err
    assert len(err.strip().splitlines()) == 1, err


def test_api_config_section(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[api]\nenabled = true\nhost = "0.0.0.0"\nport = 9001\ntoken = "0123456789abcdefXYZ"\n')
    cfg = load_config(path)
    assert (cfg.api.enabled, cfg.api.host, cfg.api.port, cfg.api.token) == (
        True, "0.0.0.0", 9001, "0123456789abcdefXYZ")
    for text, words in (("port = 0", "api.port = 0: a port number from 1 to 65535"),
                        ("enabled = 1", "api.enabled = 1: must be true or false"),
                        ('token = "short"', "api.token: must be at least 16 characters, no spaces"),
                        ('host = ""', "api.host = '': an address such as")):
        path.write_text(f"[api]\n{text}\n")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert words in err.value.message and "short\"" not in err.value.message
    path.write_text("[api]\nportt = 1\n")
    assert "did you mean `port`?" in load_config(path).warnings[0]


async def test_the_tui_serves_the_api_and_shows_its_address(tmp_path):
    port = free_port()
    path = tmp_path / "config.toml"
    path.write_text(f"[api]\nport = {port}\n")
    args = build_parser().parse_args(["--demo", "--serve"])
    app, engine, world = tui.build(args, load_config(path))
    try:
        async with app.run_test(size=(160, 45)):
            await wait_for(lambda: f"API 127.0.0.1:{port}" in screen_text(app), 10, "the address")
            await wait_for(lambda: app.main_screen.trading_ready, what="the order panel")
            body = fetch(f"http://127.0.0.1:{port}/api/v1/crypto/exchanges")
            assert body["exchanges"] == ["binance", "okx", "bybit", "coinbase"]
    finally:
        app.api_server.stop()
        engine.stop()
        world.stop()


async def test_without_serve_the_tui_serves_nothing():
    args = build_parser().parse_args(["--demo"])
    app, engine, world = tui.build(args, load_config())
    try:
        assert app.api_server is None and app.api_address == ""
        async with app.run_test(size=(160, 45)):
            await wait_for(lambda: app.main_screen.trading_ready, what="the order panel")
            assert "API " not in screen_text(app).splitlines()[0]
    finally:
        engine.stop()
        world.stop()
