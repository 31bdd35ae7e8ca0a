"""Binance private streams: spot and USD-M.

Spot: the listen-key REST endpoints were retired on 2026-02-20; the user data stream now
comes over the WebSocket API: one ``userDataStream.subscribe.signature`` request whose
``signature`` is the HMAC-SHA256 (hex, keyed with the secret) of its other parameters
sorted by name and joined as a query string. Events then arrive wrapped as
``{"subscriptionId": n, "event": {...}}``: ``executionReport`` per order change and
trade, ``outboundAccountPosition`` with the balances that changed.

USD-M: still a listen key (``POST /fapi/v1/listenKey`` with the API key header, renewed
with ``PUT`` within 60 minutes), then ``/ws/<listenKey>``: ``ORDER_TRADE_UPDATE``,
``ACCOUNT_UPDATE`` (balances and positions), ``listenKeyExpired``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from app.trading.models import OrderStatus
from app.trading.private.stream import AuthRefused, KeyedSession, StreamUnavailable
from app.trading.private.updates import (BalancePush, FillPush, OrderPush, PositionPush, Push, d,
                                         d_or_none)

STATUS: dict[str, OrderStatus] = {
    "NEW": "open", "PENDING_NEW": "pending", "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled", "CANCELED": "canceled", "PENDING_CANCEL": "open", "REJECTED": "rejected",
    "EXPIRED": "canceled", "EXPIRED_IN_MATCH": "canceled"}

# the WebSocket API of each environment (spot)
SPOT_WS_API = {"live": "wss://ws-api.binance.com:443/ws-api/v3",
               "testnet": "wss://ws-api.testnet.binance.vision/ws-api/v3",
               "demo": "wss://demo-ws-api.binance.com/ws-api/v3"}
USDM_WS = {"live": "wss://fstream.binance.com", "testnet": "wss://fstream.binancefuture.com",
           "demo": "wss://fstream.binancefuture.com"}
SPOT_WS_PATH = "/ws-api/v3"


def ws_api_signature(params: dict[str, Any], secret: str) -> str:
    """Binance's WebSocket API signature: HMAC-SHA256 hex of the sorted query string."""
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _side(s: str) -> Any:
    return "buy" if s == "BUY" else "sell"


def decode_spot(text: str) -> list[Push]:
    msg = json.loads(text)
    ev = msg.get("event") if isinstance(msg, dict) else None
    if not isinstance(ev, dict):
        return []
    kind = ev.get("e")
    if kind == "executionReport":
        return _execution_report(ev)
    if kind == "outboundAccountPosition":
        rows = tuple((b["a"], d(b["f"]) + d(b["l"]), d(b["f"])) for b in ev.get("B") or ())
        return [BalancePush(rows)]
    return []


def _execution_report(ev: dict[str, Any]) -> list[Push]:
    status = STATUS.get(ev.get("X", ""), "unknown")
    # a cancel reports the cancelled order's own id in C, and a new id of the request in c
    cid = (ev.get("C") or ev.get("c") or "") if ev.get("X") == "CANCELED" else (ev.get("c") or "")
    filled = d(ev.get("z"))
    quote = d(ev.get("Z"))
    out: list[Push] = [OrderPush(
        ev["s"], "spot", str(ev["i"]), cid, _side(ev["S"]), str(ev.get("o", "")).lower(), status,
        d(ev.get("q")), d_or_none(ev.get("p")), filled, quote / filled if filled else None, None,
        ev.get("N") or None, int(ev.get("T") or ev.get("E") or 0),
        message=(None if ev.get("r") in (None, "NONE") else str(ev["r"])))]
    if ev.get("x") == "TRADE":
        out.append(FillPush(ev["s"], "spot", str(ev["t"]), str(ev["i"]), cid, _side(ev["S"]),
                            d(ev["L"]), d(ev["l"]), d(ev.get("n")), ev.get("N") or "",
                            "maker" if ev.get("m") else "taker", int(ev.get("T") or 0)))
    return out


def decode_usdm(text: str) -> list[Push]:
    msg = json.loads(text)
    if not isinstance(msg, dict):
        return []
    kind = msg.get("e")
    if kind == "ORDER_TRADE_UPDATE":
        o = msg["o"]
        status = STATUS.get(o.get("X", ""), "unknown")
        out: list[Push] = [OrderPush(
            o["s"], "perp", str(o["i"]), o.get("c") or "", _side(o["S"]),
            str(o.get("o", "")).lower(), status, d(o.get("q")), d_or_none(o.get("p")),
            d(o.get("z")), d_or_none(o.get("ap")), None, o.get("N") or None,
            int(o.get("T") or msg.get("E") or 0))]
        if o.get("x") == "TRADE":
            out.append(FillPush(o["s"], "perp", str(o["t"]), str(o["i"]), o.get("c") or "",
                                _side(o["S"]), d(o["L"]), d(o["l"]), d(o.get("n")),
                                o.get("N") or "USDT", "maker" if o.get("m") else "taker",
                                int(o.get("T") or 0)))
        return out
    if kind == "ACCOUNT_UPDATE":
        a = msg.get("a") or {}
        out = []
        rows = tuple((b["a"], d(b["wb"]), d(b.get("cw", b["wb"]))) for b in a.get("B") or ())
        if rows:
            out.append(BalancePush(rows))
        for p in a.get("P") or ():
            if p.get("ps", "BOTH") != "BOTH":
                continue  # hedge mode legs are not traded from here
            out.append(PositionPush(p["s"], d(p.get("pa")), d(p.get("ep")), 0,
                                    "isolated" if p.get("mt") == "isolated" else "cross",
                                    d(p.get("iw")), None, d(p.get("up")), None))
        return out
    return []


class BinanceSpotSession(KeyedSession):
    """The spot user data stream over the WebSocket API, signed with HMAC-SHA256."""

    ping_text: str | None = None  # the server pings; the websockets library answers
    ping_every: float = 0.0
    renew_every: float | None = None

    async def login(self, ws: ClientConnection) -> None:
        params: dict[str, Any] = {"apiKey": self._key, "timestamp": self._clock()}
        params["signature"] = ws_api_signature(params, self._secret)
        await ws.send(json.dumps({"id": "ct-uds", "method": "userDataStream.subscribe.signature",
                                  "params": params}))
        while True:
            answer = json.loads(await ws.recv())
            if answer.get("id") != "ct-uds":
                continue  # an event ahead of the answer cannot be ours yet
            if answer.get("status") == 200:
                return
            err = answer.get("error") or {}
            raise AuthRefused(f"{err.get('msg') or 'refused'} (code {err.get('code')})")

    async def renew(self) -> None:
        return None

    def decode(self, text: str) -> list[Push]:
        return decode_spot(text)


class BinanceUsdmSession:
    """The USD-M user data stream: a listen key from REST (through the account's ccxt
    instance, so endpoint overrides and the API key header apply), renewed every 30 min."""

    ping_text: str | None = None
    ping_every: float = 0.0
    renew_every: float | None = 30 * 60.0

    def __init__(self, ws_base: str, exchange: Any, *, name: str) -> None:
        self._base = ws_base.rstrip("/")
        self._exchange = exchange
        self.name = name

    async def url(self) -> str:
        try:
            answer = await self._exchange.fapiPrivatePostListenKey()
        except Exception as exc:
            text = str(exc)
            if "-2015" in text or "-2014" in text or "API-key" in text:
                raise AuthRefused(text[:200]) from None
            raise StreamUnavailable(f"no listen key: {text[:200]}") from None
        key = answer.get("listenKey") if isinstance(answer, dict) else None
        if not key:
            raise StreamUnavailable("the venue sent no listen key")
        return f"{self._base}/ws/{key}"

    async def login(self, ws: ClientConnection) -> None:
        return None  # the listen key in the URL is the login

    async def renew(self) -> None:
        await self._exchange.fapiPrivatePutListenKey()

    def decode(self, text: str) -> list[Push]:
        if '"listenKeyExpired"' in text:
            raise StreamUnavailable("listen key expired")
        return decode_usdm(text)


__all__ = ["BinanceSpotSession", "BinanceUsdmSession", "decode_spot", "decode_usdm",
           "ws_api_signature"]
