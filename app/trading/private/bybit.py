"""Bybit v5's private stream (``/v5/private``; testnet ``stream-testnet.bybit.com``).

Auth: ``{"op":"auth","args":[apiKey, expires, signature]}``: ``expires`` a time in ms a
few seconds ahead, ``signature`` the hex HMAC-SHA256 of ``"GET/realtime" + expires``
keyed with the secret. Then ``order``, ``execution``, ``position`` and ``wallet`` (all
categories on one connection). Bybit wants ``{"op":"ping"}`` every 20 s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from app.trading.models import OrderStatus
from app.trading.private.stream import AuthRefused, KeyedSession
from app.trading.private.updates import (BalancePush, FillPush, OrderPush, PositionPush, Push, d,
                                         d_or_none)

STATUS: dict[str, OrderStatus] = {
    "New": "open", "Created": "pending", "PartiallyFilled": "partially_filled",
    "Untriggered": "open", "Triggered": "open", "Filled": "filled", "Cancelled": "canceled",
    "PartiallyFilledCanceled": "canceled", "Deactivated": "canceled", "Rejected": "rejected"}
WS_PATH = "/v5/private"
PRIVATE_WS = {"live": "wss://stream.bybit.com/v5/private",
              "testnet": "wss://stream-testnet.bybit.com/v5/private",
              "demo": "wss://stream-demo.bybit.com/v5/private"}
TOPICS = ["order", "execution", "position", "wallet"]
EXPIRES_AHEAD_MS = 10_000


def auth_signature(expires: int, secret: str) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


def _market(category: str) -> Any:
    return "spot" if category == "spot" else "perp"


def _side(s: str) -> Any:
    return "buy" if s == "Buy" else "sell"


def decode(text: str) -> list[Push]:
    msg = json.loads(text)
    if not isinstance(msg, dict) or "topic" not in msg:
        return []
    topic = msg["topic"]
    out: list[Push] = []
    for item in msg.get("data") or ():
        if topic == "order":
            status = STATUS.get(item.get("orderStatus", ""), "unknown")
            reason = item.get("rejectReason")
            out.append(OrderPush(
                item["symbol"], _market(item.get("category", "")), str(item["orderId"]),
                item.get("orderLinkId") or "", _side(item.get("side", "")),
                str(item.get("orderType") or "Limit").lower(), status, d(item.get("qty")),
                d_or_none(item.get("price")), d(item.get("cumExecQty")),
                d_or_none(item.get("avgPrice")), d(item.get("cumExecFee")),
                item.get("feeCurrency") or None, int(item.get("updatedTime") or 0),
                message=None if reason in (None, "", "EC_NoError") else str(reason)))
        elif topic == "execution":
            if item.get("execType", "Trade") != "Trade":
                continue  # funding and settlement rows are not fills
            out.append(FillPush(
                item["symbol"], _market(item.get("category", "")), str(item["execId"]),
                str(item["orderId"]), item.get("orderLinkId") or "", _side(item.get("side", "")),
                d(item["execPrice"]), d(item["execQty"]), d(item.get("execFee")),
                item.get("feeCurrency") or "", "maker" if item.get("isMaker") else "taker",
                int(item.get("execTime") or 0)))
        elif topic == "position":
            if item.get("category") != "linear" or item.get("positionIdx", 0) != 0:
                continue  # one-way mode only
            size = d(item.get("size"))
            if item.get("side") == "Sell":
                size = -size
            out.append(PositionPush(
                item["symbol"], size, d(item.get("entryPrice") or item.get("avgPrice")),
                int(d(item.get("leverage"), "1")),
                "isolated" if item.get("tradeMode") == 1 else "cross",
                d(item.get("positionIM")), d_or_none(item.get("markPrice")),
                d(item.get("unrealisedPnl")), d_or_none(item.get("liqPrice"))))
        elif topic == "wallet":
            rows = tuple((c["coin"], d(c.get("walletBalance")),
                          d(c.get("walletBalance")) - d(c.get("locked")))
                         for c in item.get("coin") or ())
            out.append(BalancePush(rows))
    return out


class BybitSession(KeyedSession):
    ping_text: str | None = '{"op":"ping"}'
    ping_every: float = 20.0
    renew_every: float | None = None

    async def login(self, ws: ClientConnection) -> None:
        expires = self._clock() + EXPIRES_AHEAD_MS
        await ws.send(json.dumps({"req_id": "ct-auth", "op": "auth",
                                  "args": [self._key, expires, auth_signature(expires, self._secret)]}))
        answer = await _answer(ws, "auth")
        if not answer.get("success"):
            raise AuthRefused(str(answer.get("ret_msg") or "auth failed"))
        await ws.send(json.dumps({"req_id": "ct-sub", "op": "subscribe", "args": TOPICS}))
        answer = await _answer(ws, "subscribe")
        if not answer.get("success"):
            raise AuthRefused(str(answer.get("ret_msg") or "subscription refused"))

    async def renew(self) -> None:
        return None

    def decode(self, text: str) -> list[Push]:
        return decode(text)


async def _answer(ws: ClientConnection, op: str) -> dict[str, Any]:
    while True:
        msg = json.loads(await ws.recv())
        if isinstance(msg, dict) and msg.get("op") == op:
            return msg


__all__ = ["BybitSession", "auth_signature", "decode"]
