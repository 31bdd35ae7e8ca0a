"""How the UI shows a user-facing error: one toast, the error's title over its message."""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widget import Widget

from app.errors import CryptotermError


def error_toast(target: App[Any] | Widget, exc: CryptotermError, *, title: str | None = None,
                timeout: float | None = None) -> None:
    """Toast ``exc`` on ``target`` (an App, a Screen or a Widget). ``title`` names the action
    that failed when the caller knows it better than the error does ("Cancel failed").
    The message is plain text: a ``[`` in it (a config table, a symbol) is not markup."""
    target.notify(exc.message, title=title or exc.title, severity="error", timeout=timeout,
                  markup=False)
