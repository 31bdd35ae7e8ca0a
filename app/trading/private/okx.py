"""OKX's private stream (``/ws/v5/private``; demo trading on ``wspap.okx.com``).

Login: ``{"op":"login","args":[{apiKey, passphrase, timestamp, sign}]}`` where the
timestamp is Unix seconds and ``sign`` is base64(HMAC-SHA256(secret, timestamp + "GET" +
"/users/self/verify")). Then ``orders`` and ``positions`` (instType ANY) and ``account``.
Sizes of SWAP orders and positions are contracts (the account multiplies by ctVal);
fees come negative when paid. OKX wants a text ``ping`` when idle (< 30 s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from app.trading.models import OrderStatus
from app.trading.private.stream import AuthRefused
from app.trading.private.updates import (BalancePush, FillPush, OrderPush, PositionPush, Push, d,
                                         d_or_none)

STATUS: dict[str, OrderStatus] = {"live": "open", "partially_filled": "partially_filled",
                                  "filled": "filled", "canceled": "canceled",
                                  "mmp_canceled": "canceled"}
WS_PATH = "/ws/v5/private"
PRIVATE_WS = {"live": "wss://ws.okx.com:8443/ws/v5/private",
              "demo": "wss://wspap.okx.com:8443/ws/v5/private",
              "testnet": "wss://wspap.okx.com:8443/ws/v5/private"}
CHANNELS = [{"channel": "orders", "instType": "ANY"}, {"channel": "positions", "instType": "ANY"},
            {"channel": "account"}]


def login_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}GET/users/self/verify".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _market(inst_type: str) -> Any:
    return "spot" if inst_type == "SPOT" else "perp"


def decode(text: str) -> list[Push]:
    if text == "pong":
        return []
    msg = json.loads(text)
    if not isinstance(msg, dict) or "data" not in msg:
        return []
    channel = (msg.get("arg") or {}).get("channel")
    out: list[Push] = []
    for item in msg["data"]:
        if channel == "orders":
            out += _order(item)
        elif channel == "account":
            rows = tuple((c["ccy"], d(c.get("cashBal") or c.get("eq")),
                          d(c.get("availBal") or c.get("cashBal"))) for c in item.get("details") or ())
            out.append(BalancePush(rows))
        elif channel == "positions":
            if item.get("instType") not in ("SWAP",) or item.get("posSide", "net") != "net":
                continue
            out.append(PositionPush(item["instId"], d(item.get("pos")), d(item.get("avgPx")),
                                    int(d(item.get("lever"), "1")),
                                    "isolated" if item.get("mgnMode") == "isolated" else "cross",
                                    d(item.get("imr") or item.get("margin")),
                                    d_or_none(item.get("markPx")), d(item.get("upl")),
                                    d_or_none(item.get("liqPx"))))
    return out


def _order(o: dict[str, Any]) -> list[Push]:
    side: Any = o.get("side") or "buy"
    market = _market(o.get("instType", ""))
    fee = -d(o.get("fee"))
    out: list[Push] = [OrderPush(
        o["instId"], market, str(o["ordId"]), o.get("clOrdId") or "", side,
        str(o.get("ordType") or "limit"), STATUS.get(o.get("state", ""), "unknown"),
        d(o.get("sz")), d_or_none(o.get("px")), d(o.get("accFillSz")), d_or_none(o.get("avgPx")),
        fee, o.get("feeCcy") or None, int(o.get("uTime") or 0))]
    if o.get("tradeId") and d(o.get("fillSz")):
        out.append(FillPush(o["instId"], market, str(o["tradeId"]), str(o["ordId"]),
                            o.get("clOrdId") or "", side, d(o.get("fillPx")), d(o.get("fillSz")),
                            -d(o.get("fillFee")), o.get("fillFeeCcy") or "",
                            "maker" if o.get("execType") == "M" else "taker",
                            int(o.get("fillTime") or o.get("uTime") or 0)))
    return out


class OkxSession:
    ping_text: str | None = "ping"
    ping_every: float = 20.0
    renew_every: float | None = None

    def __init__(self, url: str, api_key: str, secret: str, passphrase: str, *, name: str,
                 clock: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._url = url
        self._key = api_key
        self._secret = secret
        self._passphrase = passphrase
        self._clock = clock
        self.name = name

    async def url(self) -> str:
        return self._url

    async def login(self, ws: ClientConnection) -> None:
        ts = str(self._clock() // 1000)
        await ws.send(json.dumps({"op": "login", "args": [{
            "apiKey": self._key, "passphrase": self._passphrase, "timestamp": ts,
            "sign": login_sign(ts, self._secret)}]}))
        answer = await _event(ws)
        if answer.get("event") != "login" or answer.get("code") != "0":
            raise AuthRefused(f"{answer.get('msg') or 'login failed'} (code {answer.get('code')})")
        await ws.send(json.dumps({"id": "ct1", "op": "subscribe", "args": CHANNELS}))
        for _ in CHANNELS:
            answer = await _event(ws)
            if answer.get("event") == "error":
                raise AuthRefused(f"{answer.get('msg')} (code {answer.get('code')})")

    async def renew(self) -> None:
        return None

    def decode(self, text: str) -> list[Push]:
        return decode(text)


async def _event(ws: ClientConnection) -> dict[str, Any]:
    """The next control message (login / subscribe answer or error)."""
    while True:
        text = await ws.recv()
        if text == "pong":
            continue
        msg = json.loads(text)
        if isinstance(msg, dict) and "event" in msg:
            return msg


__all__ = ["OkxSession", "decode", "login_sign"]
