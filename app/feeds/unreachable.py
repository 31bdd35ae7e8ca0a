"""Why a host could not be reached, in words a user can act on."""

from __future__ import annotations

import asyncio
import socket


def unreachable_reason(exc: BaseException) -> str:
    """The cause of a failed connect: the library texts ("Cannot connect to host x:443
    ssl:default [Name or service not known]") hide it at their end."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    cause = getattr(exc, "os_error", None) or exc  # aiohttp wraps the OSError
    if isinstance(cause, socket.gaierror):
        return "its name does not resolve: no network, or a DNS problem"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    text = (getattr(cause, "strerror", None) or str(exc)).strip()
    return text or type(exc).__name__
