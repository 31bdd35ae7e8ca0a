"""Keeping secrets out of logs, exceptions, the audit trail and anything else written down.

Two layers, because either alone leaks:
- by *value*: every secret loaded (API key, secret, passphrase) is registered here, and a
  log-record factory replaces it wherever it appears in a message or traceback, whatever
  library logged it (ccxt puts request details in some exception texts);
- by *name*: ``scrub`` drops fields called like secrets (apiKey, signature, X-MBX-APIKEY,
  OK-ACCESS-SIGN ...) from dicts before they are stored.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"
_MIN_LEN = 4  # a 1-3 character "secret" would mask ordinary text everywhere

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False

SECRET_NAMES = re.compile(
    r"(api[-_]?key|secret|passphrase|password|signature|sign$|access[-_]sign|access[-_]key|"
    r"access[-_]passphrase|x-mbx-apikey|x-bapi-api-key|x-bapi-sign|authorization|private[-_]?key)",
    re.IGNORECASE)
# signature=... in a query string or form body (Binance), whatever the secret was
_SIGNATURE_PARAM = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+", re.IGNORECASE)


def register_secret(*values: str | None) -> None:
    """Remember values that must never be written anywhere (call when keys are loaded)."""
    global _pattern
    with _lock:
        for v in values:
            if v and len(v) >= _MIN_LEN:
                _secrets.add(v)
        if _secrets:
            # longest first, so a secret containing another is masked whole
            alternatives = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in alternatives))
    install_log_redaction()


def forget_secrets() -> None:
    """Tests only: start again with no registered secrets."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact(text: str) -> str:
    """``text`` with every registered secret and every signature parameter masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if "ignature=" in text or "IGNATURE=" in text:
        text = _SIGNATURE_PARAM.sub(r"\1" + MASK, text)
    return text


def scrub(value: Any) -> Any:
    """A JSON-able copy of ``value`` without secret-named fields and with secrets masked."""
    if isinstance(value, dict):
        return {str(k): (MASK if SECRET_NAMES.search(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def install_log_redaction() -> None:
    """Wrap the log-record factory once: every record's text is redacted at creation,
    before any handler (file, console, test capture) can see it."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logger's problem, not ours
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text)
        return record

    logging.setLogRecordFactory(factory)


class SafeText(str):
    """A str whose repr is masked (keys held in dataclasses print as ***)."""

    def __repr__(self) -> str:
        return f"'{MASK}'"
