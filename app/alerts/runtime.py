"""The alerts runtime of one session: evaluates the rules a few times a second on its own
thread against the engine's state, hands what fires to the sinks, and keeps a history
the UI reads (toasts, the alerts log screen) from any thread.

``start_alerts(engine, cfg)`` is the one way to start it: the TUI, ``cryptoterm record``
and ``cryptoterm serve`` all call it, so alerts fire identically with or without a screen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from app.alert_rules import AlertRule, AlertsConfig, save_rules
from app.alerts.delivery import LOG_NAME, DesktopNotifier, JsonlLog, Sink, Webhook, now_ms, read_log
from app.alerts.evaluate import Evaluator
from app.alerts.model import Alert
from app.config import VENUES, AppConfig

log = logging.getLogger(__name__)

HISTORY_KEPT = 500


class AlertRuntime:
    def __init__(self, source: Any, cfg: AppConfig, sinks: Sequence[Sink] = (), *,
                 clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = now_ms, history: Iterable[Alert] = ()) -> None:
        """``source``: the engine (``overview()``, ``health()``, ``trading``)."""
        self.source = source
        self.cfg = cfg
        self.options: AlertsConfig = cfg.alerts
        self.sinks = list(sinks)
        self._clock = clock
        self._wall_ms = wall_ms
        self._lock = threading.Lock()
        self._history: deque[Alert] = deque(history, maxlen=HISTORY_KEPT)
        self._evaluator = Evaluator(cfg.alerts.effective_rules(cfg.alert_bps), cfg.usd_family)
        if self._history:
            self._evaluator.resume_seq(self._history[-1].seq)
        # alerts numbered above this one fired in this session (below: read from the log)
        self.session_start_seq = self._evaluator.last_seq
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.evaluations = 0

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> AlertRuntime:
        self._thread = threading.Thread(target=self._run, name="cryptoterm-alerts", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close is not None:
                close()

    def _run(self) -> None:
        while not self._stop.wait(self.options.interval):
            try:
                self.evaluate_once()
            except Exception:  # one bad pass must not end alerting for the session
                log.exception("alert evaluation failed")

    def evaluate_once(self) -> list[Alert]:
        """One pass over the engine's state; the alerts that fired (already delivered)."""
        summaries = self.source.overview()
        healths = self.source.health()
        trading = getattr(self.source, "trading", None)
        notices = trading.view().notices if trading is not None else ()
        with self._lock:
            fired = self._evaluator.evaluate(self._clock(), self._wall_ms(), summaries, healths,
                                             notices)
            self._history.extend(fired)
            self.evaluations += 1
        for alert in fired:
            log.warning("alert %s: %s", alert.rule, alert.message)
            for sink in self.sinks:
                try:
                    sink(alert)
                except Exception:  # a broken sink loses its own delivery, not the others'
                    log.exception("alert sink %r failed", sink)
        return fired

    # -- rules --------------------------------------------------------------------------

    @property
    def rules(self) -> list[AlertRule]:
        with self._lock:
            return list(self._evaluator.rules)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Evaluate these from now on (the session only; ``save_rules`` also writes the file)."""
        with self._lock:
            self._evaluator.set_rules(rules)

    def save_rules(self, rules: list[AlertRule]) -> None:
        """Write ``rules`` into the config file (raises AlertConfigError, the file
        untouched) and evaluate them from now on."""
        save_rules(self.cfg.config_path, rules, VENUES, self.cfg.alert_bps)
        self.cfg.alerts.rules = list(rules)
        self.set_rules(rules)

    def active(self, rule: str, key: str) -> bool | None:
        """Whether ``rule``'s condition held for ``key`` (an instrument id or a feed's
        name) at the last pass; None before it was seen."""
        with self._lock:
            return self._evaluator.active(rule, key)

    # -- history ------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._evaluator.last_seq

    def history(self) -> list[Alert]:
        """Every alert kept (earlier sessions' from the log first), oldest first."""
        with self._lock:
            return list(self._history)

    def since(self, seq: int) -> list[Alert]:
        """Alerts newer than ``seq``, oldest first."""
        with self._lock:
            return [a for a in self._history if a.seq > seq]


def default_sinks(cfg: AppConfig) -> list[Sink]:
    """The log file always; the desktop notifier and the webhook as configured."""
    sinks: list[Sink] = [JsonlLog(cfg.data_dir / LOG_NAME)]
    if cfg.alerts.desktop:
        sinks.append(DesktopNotifier())
    if cfg.alerts.webhook_url:
        sinks.append(Webhook(cfg.alerts.webhook_url))
    return sinks


def start_alerts(engine: Any, cfg: AppConfig, sinks: Sequence[Sink] | None = None,
                 extra: Sequence[Sink] = (), **kwargs: Any) -> AlertRuntime:
    """Start evaluating ``cfg``'s alert rules against ``engine``. ``sinks`` replaces the
    default ones (``default_sinks``); ``extra`` adds to them. The caller stops it."""
    chosen = list(default_sinks(cfg) if sinks is None else sinks) + list(extra)
    history = read_log(cfg.data_dir / LOG_NAME, HISTORY_KEPT)
    return AlertRuntime(engine, cfg, chosen, history=history, **kwargs).start()
