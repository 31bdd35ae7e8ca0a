"""Alert delivery over real sockets: the webhook POSTs JSON to a local HTTP server and
retries after a 500; a full queue drops the oldest instead of blocking the caller."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from app.alerts.delivery import JsonlLog, Webhook, desktop_command, read_log
from app.alerts.model import Alert
from tests.waiting import wait


class Hook:
    """A local webhook receiver answering the statuses it is given, then 200."""

    def __init__(self, statuses=()) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.hits = 0
        self.gate = threading.Event()
        self.gate.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                hook.gate.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.hits += 1
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    assert self.headers["Content-Type"] == "application/json"
                    hook.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def alert(seq: int, message: str = "BTC/USDT · binance spot crossed above 30000: 30001") -> Alert:
    return Alert(seq, 1_700_000_000_000 + seq, "btc-30k", "price_above", "cryptopair_binance_btcusdt",
                 30001.0, message)


def test_webhook_posts_json_and_retries_after_a_500():
    hook = Hook([500])
    sender = Webhook(hook.url, backoff=0.05)
    try:
        sender(alert(1))
        wait(lambda: hook.bodies, 5, "the retried POST")
        assert hook.hits == 2
        assert hook.bodies == [{"ts": 1_700_000_000_001, "rule": "btc-30k", "kind": "price_above",
                                "instrument": "cryptopair_binance_btcusdt", "value": 30001.0,
                                "message": "BTC/USDT · binance spot crossed above 30000: 30001"}]
        # the server has the body before the sender has read the reply and counted it
        wait(lambda: sender.sent == 1, 5, "the sender to count the delivery")
        assert sender.sent == 1 and sender.failed == 0
    finally:
        sender.close()
        hook.close()


def test_webhook_gives_up_on_a_4xx_and_after_its_attempts():
    hook = Hook([400, 503, 503, 503])
    sender = Webhook(hook.url, attempts=3, backoff=0.02)
    try:
        sender(alert(1))
        sender(alert(2))
        wait(lambda: sender.failed == 2, 5, "both given up")
        assert hook.hits == 4 and hook.bodies == []
    finally:
        sender.close()
        hook.close()


def test_a_stuck_webhook_never_blocks_and_drops_the_oldest():
    hook = Hook()
    hook.gate.clear()  # the receiver hangs on every request
    sender = Webhook(hook.url, max_queue=3, backoff=0.02)
    try:
        start = time.monotonic()
        for i in range(1, 11):
            sender(alert(i, f"alert {i}"))
        assert time.monotonic() - start < 0.5
        assert sender.dropped >= 6
        hook.gate.set()
        wait(lambda: len(hook.bodies) == 10 - sender.dropped, 5, "the kept alerts")
        assert hook.bodies[-1]["message"] == "alert 10"  # the newest is never the one dropped
    finally:
        sender.close()
        hook.close()


def test_the_log_file_reads_back_skipping_bad_lines(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = JsonlLog(path)
    log(alert(1, "one"))
    with path.open("a") as f:
        f.write("{not json\n")
    log(alert(2, "two"))
    assert [a.message for a in read_log(path)] == ["one", "two"]
    assert read_log(tmp_path / "none.jsonl") == []


def test_desktop_notifier_only_where_there_is_one():
    a = alert(1)
    assert desktop_command(a, "linux", lambda name: None) is None
    assert desktop_command(a, "linux", lambda name: "/usr/bin/" + name)[:2] == \
        ["notify-send", "--app-name=cryptoterm"]
    mac = desktop_command(alert(1, 'say "hi"'), "darwin", lambda name: "/usr/bin/" + name)
    assert mac[0] == "osascript" and 'display notification "say \\"hi\\""' in mac[2]


def test_a_long_log_is_read_from_its_tail(tmp_path, monkeypatch):
    import app.alerts.delivery as delivery

    monkeypatch.setattr(delivery, "TAIL_BYTES", 2000)
    path = tmp_path / "alerts.jsonl"
    log = JsonlLog(path)
    for i in range(200):
        log(alert(i, f"alert {i}"))
    got = read_log(path, limit=500)
    assert got and got[-1].message == "alert 199" and len(got) < 200
    assert [a.message for a in got] == [f"alert {i}" for i in range(200 - len(got), 200)]
