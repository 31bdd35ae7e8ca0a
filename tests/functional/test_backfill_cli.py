"""`cryptoterm backfill` against a venue that does not answer: the progress bar from the
first request on, and every retry's reason (host and cause in plain words) at once."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import storage.backfill
from app.cli import main

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(storage.backfill, "BACKOFF_BASE", 0.01)


def refused_url() -> str:
    """A loopback port nothing listens on (bound once to learn it, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Unavailable:
    """A local REST host answering 503 to everything (a venue in maintenance)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = b"<html>maintenance</html>"
                self.send_response(503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config(tmp_path, rest_url: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[venues.binance.live]\nrest_url = "{rest_url}"\n')
    return str(path)


def backfill(capsys, tmp_path, rest_url: str, *extra: str) -> tuple[int, list[str]]:
    code = main(["--config", config(tmp_path, rest_url), "backfill", "binance", "BTC/USDT", "1m",
                 "--since", "2024-01-01", "--db", str(tmp_path / "bf.db"), *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def test_refused_connections_say_so_at_every_retry(capsys, tmp_path, fast_backoff):
    url = refused_url()
    host = url.removeprefix("http://")
    code, lines = backfill(capsys, tmp_path, url, "--retries", "2")
    assert code == 2
    reason = f"cannot reach {host} (connection refused: nothing listens there)"
    assert [re.sub(r"in [0-9.]+ s$", "in N s", line) for line in lines] == [
        f"cryptoterm: {reason}; retry 1/2 in N s",
        f"cryptoterm: {reason}; retry 2/2 in N s",
        f"cryptoterm: error: binance: cannot load the market list: gave up after 2 retries: {reason}",
    ]


def test_a_503_names_the_host_and_the_status(capsys, tmp_path, fast_backoff):
    server = Unavailable()
    try:
        code, lines = backfill(capsys, tmp_path, server.url, "--retries", "1", "--quiet")
    finally:
        server.close()
    host = server.url.removeprefix("http://")
    assert code == 2
    assert lines[0].startswith(f"cryptoterm: {host} answered HTTP 503 Service Unavailable; retry 1/1 in ")
    assert lines[-1] == ("cryptoterm: error: binance: cannot load the market list: gave up after 1 "
                         f"retries: {host} answered HTTP 503 Service Unavailable")


def test_bad_retries_value(capsys, tmp_path):
    code, lines = backfill(capsys, tmp_path, refused_url(), "--retries", "-1")
    assert code == 2 and lines == ["cryptoterm: error: --retries -1: must be from 0 to 100"]


def test_the_bar_and_the_reason_show_before_the_wait(tmp_path):
    """As a user sees it (rich forced to draw as on a terminal): the bar and its
    "loading the market list" first, each reason before its backoff wait, not after."""
    url = refused_url()
    env = dict(os.environ, FORCE_COLOR="1", COLUMNS="160", CRYPTOTERM_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", config(tmp_path, url), "backfill", "binance",
         "BTC/USDT", "1m", "--since", "2024-01-01", "--db", str(tmp_path / "bf.db"), "--retries", "1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    assert proc.stderr is not None
    seen = ""
    first_reason_at = None
    while True:
        chunk = proc.stderr.read1(4096) if hasattr(proc.stderr, "read1") else proc.stderr.read(1)
        if not chunk:
            break
        seen += ANSI.sub("", chunk.decode("utf-8", "replace"))
        if first_reason_at is None and "retry 1/1" in seen:
            first_reason_at = time.monotonic()
    ended_at = time.monotonic()
    assert proc.wait(10) == 2
    bar = seen.index("loading the binance market list")
    assert seen.index("BTC/USDT 1m") < bar < seen.index("connection refused")
    assert first_reason_at is not None
    # the first backoff (0.5 to 1 s) came after the reason was on screen
    assert ended_at - first_reason_at >= 0.4, seen


def test_an_offline_machine_hears_that_the_name_does_not_resolve():
    """The chain ccxt raises when DNS fails (NetworkError <- requests <- urllib3 <-
    gaierror), built as the libraries build it: no lookup leaves this machine."""
    import ccxt
    import requests
    import urllib3

    from storage.backfill import describe_error, make_exchange

    exchange = make_exchange("binance")
    exchange.last_request_url = "https://api.binance.com/api/v3/exchangeInfo"
    try:
        try:
            try:
                raise socket.gaierror(-2, "Name or service not known")
            except socket.gaierror as dns:
                raise urllib3.exceptions.NameResolutionError("api.binance.com", None, dns) from dns
        except urllib3.exceptions.NameResolutionError as unresolved:
            wrapped = urllib3.exceptions.MaxRetryError(None, "/api/v3/exchangeInfo", unresolved)
            try:
                raise requests.exceptions.ConnectionError(wrapped)
            except requests.exceptions.ConnectionError as conn:
                raise ccxt.NetworkError("binance GET " + exchange.last_request_url) from conn
    except ccxt.NetworkError as exc:
        said = describe_error(exchange, exc)
    assert said == "cannot reach api.binance.com (its name does not resolve: no network, or a DNS problem)"


@pytest.mark.parametrize("symbol, said", [
    ("FOO/BAR", "FOO/BAR is not listed on binance spot; listed: BTC/USDT, ETH/USDT"),
    ("BTC/USDC:USDC", "BTC/USDC:USDC is not listed on binance perp; listed: BTC/USDT:USDT"),
])
def test_an_unlisted_symbol_names_what_the_venue_lists(capsys, tmp_path, symbol, said):
    from tests.binance_rest import BinanceRest

    with BinanceRest(1_700_000_000_000) as server:
        path = tmp_path / "config.toml"
        path.write_text(f'[venues.binance.live]\nrest_url = "{server.url}"\n'
                        f'[venues.binanceusdm.live]\nrest_url = "{server.url}"\n')
        code = main(["--config", str(path), "backfill", "binance", symbol, "1m", "--since", "2024-01-01",
                     "--db", str(tmp_path / "bf.db")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"cryptoterm: error: {said}"]
