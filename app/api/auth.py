"""The token: required once the API listens beyond the loopback interface, checked on
every HTTP request and every WebSocket handshake (a rejected handshake never reaches the
stream). Given as ``Authorization: Bearer <token>``, ``?token=<token>`` (for clients that
cannot set headers) or the cookie /docs sets, so the OpenAPI page works in a browser."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "cryptoterm_api_token"
WS_POLICY_VIOLATION = 1008


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def presented_token(scope: Scope) -> str | None:
    """The token a request carries, from its header, query string or cookie."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = bytes(value).decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
        elif name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no token, not a failure
                continue
            if COOKIE in jar:
                return str(jar[COOKIE].value)
    query = scope.get("query_string", b"")
    if b"token=" in query:
        values = parse_qs(query.decode("latin-1")).get("token")
        if values:
            return str(values[0])
    return None


class TokenGate:
    """ASGI middleware refusing anything without the token."""

    def __init__(self, app: Asgi, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def _ok(self, scope: Scope) -> bool:
        given = presented_token(scope)
        return given is not None and secrets.compare_digest(given.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or self._ok(scope):
            if kind == "http" and scope.get("path") == "/docs" and b"token=" in scope.get(
                    "query_string", b""):
                send = _set_cookie(send, presented_token(scope) or "")
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            # closing before accepting: the client's handshake fails with HTTP 403
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            return
        body = orjson.dumps({"error": "a token is required: send 'Authorization: Bearer <token>' "
                             "or ?token=<token> (the token serve printed, or [api] token)",
                             "param": "token"})
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": body})


def _set_cookie(send: Send, token: str) -> Send:
    """/docs?token=...: remember the token in a cookie, so the page's own fetch of
    /openapi.json passes the gate too."""
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            headers.append((b"set-cookie", f"{COOKIE}={token}; HttpOnly; SameSite=Strict; "
                                           "Path=/".encode("latin-1")))
            message = dict(message, headers=headers)
        await send(message)
    return wrapped
