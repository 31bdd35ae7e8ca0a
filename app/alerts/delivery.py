"""Where fired alerts go besides the UI: ``alerts.jsonl`` in the data dir, the desktop's
notifier, a webhook. None of them may hold up the engine loop: the log is one short
append, the notifier a detached process, the webhook a bounded queue on its own thread.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from app.alerts.model import Alert

log = logging.getLogger(__name__)

Sink = Callable[[Alert], None]
LOG_NAME = "alerts.jsonl"
TAIL_BYTES = 1 << 20  # what the history screen reads back of earlier sessions


class JsonlLog:
    """Appends one JSON object per alert (ts, rule, kind, instrument, value, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failed = False

    def __call__(self, alert: Alert) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(alert.to_json(), ensure_ascii=False) + "\n")
            self._failed = False
        except OSError as exc:
            if not self._failed:  # said once, not once per alert
                log.warning("cannot write %s: %s", self.path, exc)
            self._failed = True


def read_log(path: Path, limit: int = 500) -> list[Alert]:
    """The last ``limit`` alerts of earlier sessions (bad lines skipped), oldest first."""
    try:
        with path.open("rb") as f:
            # the tail only: a log of years must not slow the start down
            start = max(0, f.seek(0, 2) - TAIL_BYTES)
            f.seek(start)
            chunk = f.read()
    except OSError:
        return []
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # cut mid-line
    lines = lines[-limit:]
    out: list[Alert] = []
    for line in lines:
        try:
            out.append(Alert.from_json(json.loads(line), len(out) + 1))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def desktop_command(alert: Alert, platform: str = sys.platform,
                    which: Callable[[str], str | None] = shutil.which) -> list[str] | None:
    """The notifier command for this platform, or None where there is none."""
    if platform == "darwin" and which("osascript"):
        def q(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return ["osascript", "-e", f"display notification {q(alert.message)} with title {q(alert.title)}"]
    if which("notify-send"):
        return ["notify-send", "--app-name=cryptoterm", alert.title, alert.message]
    return None


class DesktopNotifier:
    """A desktop notification per alert where the system has a notifier; silently
    nothing where it has none."""

    def __init__(self, command: Callable[[Alert], list[str] | None] = desktop_command) -> None:
        self._command = command

    def __call__(self, alert: Alert) -> None:
        argv = self._command(alert)
        if argv is None:
            return
        try:
            subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            log.info("desktop notification failed: %s", exc)


class Webhook:
    """POSTs each alert as JSON to ``url`` from its own thread. A failed POST (no answer,
    or a 5xx/429) is retried with doubling waits; a queue of ``max_queue`` alerts bounds
    what waits, and beyond it the oldest is dropped and logged: the feed never waits."""

    def __init__(self, url: str, max_queue: int = 100, attempts: int = 5, backoff: float = 1.0,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[Alert | None] = queue.Queue(max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cryptoterm-webhook", daemon=True)
        self._thread.start()

    def __call__(self, alert: Alert) -> None:
        while True:
            try:
                self._queue.put_nowait(alert)
                return
            except queue.Full:
                try:
                    old = self._queue.get_nowait()
                except queue.Empty:
                    continue
                if old is not None:
                    self.dropped += 1
                    log.warning("webhook: queue full, dropped alert %s (%s)", old.rule, old.message)

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            alert = self._queue.get()
            if alert is None:
                return
            self._send(alert)

    def _send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json(), ensure_ascii=False).encode()
        wait = self.backoff
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(self.url, body, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "User-Agent": "cryptoterm"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                self.sent += 1
                return
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:  # the hook refuses it: retrying will not help
                    log.warning("webhook %s refused an alert: HTTP %s", self.url, exc.code)
                    self.failed += 1
                    return
                why = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                why = str(getattr(exc, "reason", exc))
            if attempt == self.attempts or self._stop.wait(wait):
                log.warning("webhook %s: alert not delivered after %d attempts (%s)",
                            self.url, attempt, why)
                self.failed += 1
                return
            wait = min(wait * 2, 60.0)


def now_ms() -> int:
    return int(time.time() * 1000)
