"""Trading failures, each a message a user can act on (never a traceback, never a secret)."""

from __future__ import annotations

from app.trading.models import FieldError


class TradingError(Exception):
    """An order action failed. ``kind`` lets the UI pick a colour or a field; ``str()`` is
    the sentence shown to the user."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind  # insufficient_funds, invalid_order, auth, rate_limit, unavailable, ...


class ValidationFailed(TradingError):
    """The order broke the market's rules or the account's limits; nothing was sent."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors), "validation")
        self.errors = errors
