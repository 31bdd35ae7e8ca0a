"""Why a host could not be reached, in words a user can act on."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

_TIMEOUT_NAMES = ("Timeout", "TimeoutError", "ReadTimeout", "ConnectTimeout", "RequestTimeout",
                  "ReadTimeoutError", "ServerTimeoutError")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it, outermost first: causes, contexts, and the
    ``reason`` / ``os_error`` / args that aiohttp, requests and urllib3 wrap them in."""
    out: list[BaseException] = []
    todo = [exc]
    while todo and len(out) < 32:
        e = todo.pop(0)
        if any(e is seen for seen in out):
            continue
        out.append(e)
        inner = [e.__cause__, e.__context__, getattr(e, "os_error", None), getattr(e, "reason", None)]
        inner += list(getattr(e, "args", ()))
        todo += [i for i in inner if isinstance(i, BaseException)]
    return out


def unreachable_reason(exc: BaseException) -> str:
    """The cause of a failed connect: the library texts ("Cannot connect to host x:443
    ssl:default [Name or service not known]", "Max retries exceeded with url") hide it
    at their end or several exceptions deep."""
    chain = _chain(exc)
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "its name does not resolve: no network, or a DNS problem"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing listens there"
        if isinstance(cause, (asyncio.TimeoutError, TimeoutError)):
            return "timed out"
    for cause in chain:  # a system error says most (requests' OSError wrappers have none)
        if isinstance(cause, OSError) and cause.errno is not None and cause.strerror:
            return cause.strerror
    for cause in chain:  # library timeouts that carry no socket error
        if any(cls.__name__ in _TIMEOUT_NAMES for cls in type(cause).__mro__):
            return "timed out"
    text = (getattr(exc, "strerror", None) or str(exc)).strip()
    return text or type(exc).__name__


def host_of(url: str) -> str:
    """``api.binance.com`` of ``https://api.binance.com/api/v3``; host:port when a port is
    given (``127.0.0.1:8080``): what a user types into ping or a proxy setting."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url
