"""Trading failures, each a message a user can act on (never a traceback, never a secret)."""

from __future__ import annotations

from enum import StrEnum

from app.errors import CryptotermError
from app.trading.models import FieldError


class ErrorKind(StrEnum):
    """What kind of failure an order action met: the UI picks a colour or a field by it.

    A ``StrEnum``, so the audit trail records the plain word (``"auth"``) and a kind still
    compares equal to it."""

    ERROR = "error"  # nothing more specific is known
    VALIDATION = "validation"  # broke the market's rules or the account's limits; nothing sent
    INVALID_ORDER = "invalid_order"  # the venue (or the account) refused the order as such
    INSUFFICIENT_FUNDS = "insufficient_funds"
    NOT_FOUND = "not_found"  # no such order
    NOT_OPEN = "not_open"  # the order is already filled / cancelled / rejected
    AUTH = "auth"  # the venue refused the API key
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"  # no account, venue down or under maintenance
    NOT_SUPPORTED = "not_supported"
    UNKNOWN = "unknown"  # the venue could not tell whether the order exists


# a toast's title for each kind: what failed, in a few words
TITLES: dict[ErrorKind, str] = {
    ErrorKind.ERROR: "Trading",
    ErrorKind.VALIDATION: "Order not sent",
    ErrorKind.INVALID_ORDER: "Order refused",
    ErrorKind.INSUFFICIENT_FUNDS: "Insufficient funds",
    ErrorKind.NOT_FOUND: "No such order",
    ErrorKind.NOT_OPEN: "Order not open",
    ErrorKind.AUTH: "API key refused",
    ErrorKind.RATE_LIMIT: "Rate limited",
    ErrorKind.TIMEOUT: "Venue timed out",
    ErrorKind.UNAVAILABLE: "Venue unavailable",
    ErrorKind.NOT_SUPPORTED: "Not supported",
    ErrorKind.UNKNOWN: "Order state unknown",
}


class TradingError(CryptotermError):
    """An order action failed. ``kind`` lets the UI pick a colour or a field; ``str()`` is
    the sentence shown to the user; ``title`` follows the kind."""

    def __init__(self, message: str, kind: ErrorKind = ErrorKind.ERROR) -> None:
        super().__init__(message, TITLES[kind])
        self.kind = kind


class ValidationFailed(TradingError):
    """The order broke the market's rules or the account's limits; nothing was sent."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors), ErrorKind.VALIDATION)
        self.errors = errors
