"""A small OKX v5 demo-trading venue on 127.0.0.1: REST and the private websocket.

Private REST calls are checked the way OKX does: the OK-ACCESS-KEY / -PASSPHRASE
headers name the test key, OK-ACCESS-SIGN is base64(HMAC-SHA256(secret, timestamp +
method + path(+query) + body)), and, this being the demo environment,
``x-simulated-trading: 1`` must be present (OKX answers 50101 without it).

The private websocket (``/ws/v5/private``) wants a login first: sign =
base64(HMAC-SHA256(secret, timestamp + "GET/users/self/verify")) with the timestamp in
Unix seconds, within 30 s of the server's clock; a wrong key, passphrase, sign or
timestamp gets OKX's own 600xx error. Then ``orders`` / ``positions`` / ``account``
pushes follow every order change.

Orders: limits rest until a test fills them (``fill``); market orders fill at
``last_price``. BTC-USDT spot, and BTC-USDT-SWAP in contracts of 0.01 BTC (net mode).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

API_KEY = "okx-demo-key-5b1e"
SECRET = "okx-demo-secret-90af77c1"
PASSPHRASE = "okx-demo-pass-31"
CT_VAL = Decimal("0.01")
LEVER = Decimal(10)


class FakeOkxDemo:
    def __init__(self) -> None:
        self.requests: list[dict] = []  # method, path, headers, body
        self.orders: list[dict] = []  # every order request body as sent
        self.book: dict[str, dict[str, Any]] = {}  # ordId -> the order as OKX reports it
        self.trades: list[dict[str, Any]] = []
        self.last_price = {"BTC-USDT": Decimal("30000"), "BTC-USDT-SWAP": Decimal("30000")}
        self.cash = {"USDT": Decimal("10000"), "BTC": Decimal("1")}
        self.position = {"pos": Decimal(0), "avgPx": Decimal(0)}  # BTC-USDT-SWAP, contracts
        self.amends = 0
        self.ws_logins = 0
        self.ws_refusals: list[str] = []
        self.streams: list[web.WebSocketResponse] = []
        self.url = ""
        self._next = 312269865356374016
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/api/v5/public/instruments", self._instruments)
        r.add_post("/api/v5/trade/order", self._private(self._place))
        r.add_post("/api/v5/trade/batch-orders", self._private(self._place))  # what ccxt uses
        r.add_post("/api/v5/trade/cancel-order", self._private(self._cancel))
        r.add_post("/api/v5/trade/cancel-batch-orders", self._private(self._cancel))
        r.add_post("/api/v5/trade/amend-order", self._private(self._amend))
        r.add_get("/api/v5/trade/orders-pending", self._private(self._pending))
        r.add_get("/api/v5/trade/order", self._private(self._get_order))
        r.add_get("/api/v5/trade/fills", self._private(self._fills))
        r.add_get("/api/v5/trade/fills-history", self._private(self._fills))
        r.add_get("/api/v5/account/balance", self._private(self._balance))
        r.add_get("/api/v5/account/positions", self._private(self._positions))
        r.add_get("/ws/v5/private", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        for ws in list(self.streams):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- REST ------------------------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        self.requests.append({"method": "GET", "path": request.path_qs,
                              "headers": dict(request.headers), "body": ""})
        kind = request.query.get("instType")
        common = {"uly": "", "instFamily": "", "optType": "", "ctMult": "", "state": "live",
                  "listTime": "1606468572000", "expTime": "", "maxLmtSz": "9999999999",
                  "maxMktSz": "1000000", "stk": "", "alias": "", "ruleType": "normal"}
        if kind == "SPOT":
            data = [{**common, "instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC",
                     "quoteCcy": "USDT", "settleCcy": "", "ctValCcy": "", "ctVal": "", "ctType": "",
                     "lever": "10", "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001"}]
        elif kind == "SWAP":
            data = [{**common, "instType": "SWAP", "instId": "BTC-USDT-SWAP", "uly": "BTC-USDT",
                     "instFamily": "BTC-USDT", "baseCcy": "", "quoteCcy": "", "settleCcy": "USDT",
                     "ctValCcy": "BTC", "ctVal": "0.01", "ctType": "linear", "ctMult": "1",
                     "lever": "100", "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01"}]
        else:
            data = []
        return web.json_response({"code": "0", "msg": "", "data": data})

    def _private(self, handler):
        async def check(request: web.Request) -> web.Response:
            body = await request.text() if request.method == "POST" else ""
            h = request.headers
            self.requests.append({"method": request.method, "path": request.path_qs,
                                  "headers": dict(h), "body": body})
            if h.get("x-simulated-trading") != "1":
                return _err("50101", "APIKey does not match current environment.")
            if h.get("OK-ACCESS-KEY") != API_KEY:
                return _err("50111", "Invalid OK-ACCESS-KEY.")
            if h.get("OK-ACCESS-PASSPHRASE") != PASSPHRASE:
                return _err("50105", "Invalid OK-ACCESS-PASSPHRASE.")
            prehash = h.get("OK-ACCESS-TIMESTAMP", "") + request.method + request.path_qs + body
            expected = base64.b64encode(hmac.new(SECRET.encode(), prehash.encode(),
                                                 hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(h.get("OK-ACCESS-SIGN", ""), expected):
                return _err("50113", "Invalid Sign.")
            args = json.loads(body) if body else dict(request.query)
            data = handler(args)
            return web.json_response({"code": "0", "msg": "", "data": data})
        return check

    def _place(self, sent: Any) -> list[dict[str, Any]]:
        data = []
        for o in sent if isinstance(sent, list) else [sent]:
            self.orders.append(o)
            self._next += 1
            oid = str(self._next)
            now = _now()
            inst = o["instId"]
            order = {"instType": "SWAP" if inst.endswith("-SWAP") else "SPOT", "instId": inst,
                     "ordId": oid, "clOrdId": o.get("clOrdId", ""), "tag": "",
                     "px": o.get("px", ""), "sz": o["sz"], "ordType": o.get("ordType", "limit"),
                     "side": o["side"], "posSide": "net", "tdMode": o.get("tdMode", "cash"),
                     "state": "live", "accFillSz": "0", "avgPx": "", "fillPx": "", "fillSz": "0",
                     "tradeId": "", "fee": "0", "feeCcy": "USDT", "fillFee": "0",
                     "fillFeeCcy": "", "execType": "", "reduceOnly": o.get("reduceOnly", "false"),
                     "cTime": str(now), "uTime": str(now), "lever": "10", "category": "normal",
                     "amendResult": "", "cancelSource": ""}
            self.book[oid] = order
            self._push("orders", [order])
            if order["ordType"] == "market":
                self.fill(oid, self.last_price[inst], maker=False)
            data.append({"clOrdId": order["clOrdId"], "ordId": oid, "tag": "",
                         "ts": str(now), "sCode": "0", "sMsg": "Order placed"})
        return data

    def _find(self, args: dict[str, Any]) -> dict[str, Any] | None:
        if args.get("ordId"):
            return self.book.get(str(args["ordId"]))
        return next((o for o in self.book.values() if o["clOrdId"] == args.get("clOrdId")), None)

    def _cancel(self, sent: Any) -> list[dict[str, Any]]:
        data = []
        for a in sent if isinstance(sent, list) else [sent]:
            o = self._find(a)
            if o is None or o["state"] not in ("live", "partially_filled"):
                data.append({"ordId": a.get("ordId", ""), "clOrdId": a.get("clOrdId", ""),
                             "sCode": "51400", "sMsg": "Order cancellation failed as the order "
                             "has been filled, canceled or does not exist."})
                continue
            o.update(state="canceled", uTime=str(_now()), tradeId="", fillSz="0")
            self._push("orders", [o])
            data.append({"ordId": o["ordId"], "clOrdId": o["clOrdId"], "sCode": "0", "sMsg": ""})
        return data

    def _amend(self, a: dict[str, Any]) -> list[dict[str, Any]]:
        o = self._find(a)
        if o is None or o["state"] not in ("live", "partially_filled"):
            return [{"ordId": a.get("ordId", ""), "clOrdId": a.get("clOrdId", ""), "reqId": "",
                     "sCode": "51503", "sMsg": "Order modification failed as the order has "
                     "been filled, canceled or does not exist."}]
        if a.get("newSz"):
            if Decimal(a["newSz"]) <= Decimal(o["accFillSz"]):
                return [{"ordId": o["ordId"], "clOrdId": o["clOrdId"], "reqId": "",
                         "sCode": "51512", "sMsg": "newSz must be greater than filled size"}]
            o["sz"] = a["newSz"]
        if a.get("newPx"):
            o["px"] = a["newPx"]
        self.amends += 1
        o.update(uTime=str(_now()), amendResult="0", tradeId="", fillSz="0")
        self._push("orders", [o])
        return [{"ordId": o["ordId"], "clOrdId": o["clOrdId"], "reqId": a.get("reqId", ""),
                 "sCode": "0", "sMsg": ""}]

    def _pending(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        return [o for o in self.book.values() if o["state"] in ("live", "partially_filled")
                and (not q.get("instId") or o["instId"] == q["instId"])]

    def _get_order(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        o = self._find(q)
        return [o] if o is not None else []

    def _fills(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in self.trades if not q.get("instId") or t["instId"] == q["instId"]]

    def _balance(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"totalEq": str(self.cash["USDT"]), "uTime": str(_now()),
                 "details": self._details()}]

    def _details(self) -> list[dict[str, Any]]:
        frozen = {c: Decimal(0) for c in self.cash}
        for o in self.book.values():
            if o["state"] not in ("live", "partially_filled") or o["ordType"] == "market":
                continue
            rest = Decimal(o["sz"]) - Decimal(o["accFillSz"])
            px = Decimal(o["px"])
            if o["instType"] == "SWAP":
                frozen["USDT"] += rest * CT_VAL * px / LEVER
            elif o["side"] == "buy":
                frozen["USDT"] += rest * px
            else:
                frozen["BTC"] += rest
        return [{"ccy": c, "eq": str(v), "cashBal": str(v), "availBal": str(v - frozen[c]),
                 "frozenBal": str(frozen[c]), "availEq": str(v - frozen[c]), "uTime": str(_now())}
                for c, v in self.cash.items()]

    def _positions(self, q: dict[str, Any]) -> list[dict[str, Any]]:
        p = self._position_row()
        return [p] if Decimal(p["pos"]) else []

    def _position_row(self) -> dict[str, Any]:
        pos, avg = self.position["pos"], self.position["avgPx"]
        mark = self.last_price["BTC-USDT-SWAP"]
        upl = (mark - avg) * pos * CT_VAL
        return {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": "net", "pos": str(pos),
                "posCcy": "", "avgPx": str(avg) if pos else "", "lever": str(LEVER),
                "mgnMode": "cross", "markPx": str(mark), "upl": str(upl),
                "imr": str(abs(pos) * CT_VAL * mark / LEVER), "margin": "", "liqPx": "",
                "notionalUsd": str(abs(pos) * CT_VAL * mark), "ccy": "USDT", "last": str(mark),
                "cTime": str(_now()), "uTime": str(_now()), "posId": "1"}

    # -- the matching engine, as far as the account can tell -----------------------------------

    def fill(self, ord_id: str, price: Decimal | None = None, *, maker: bool = True) -> None:
        o = self.book[ord_id]
        px = price if price is not None else Decimal(o["px"])
        qty = Decimal(o["sz"]) - Decimal(o["accFillSz"])
        base = qty * CT_VAL if o["instType"] == "SWAP" else qty
        fee = base * px * Decimal("0.0005")
        sign = 1 if o["side"] == "buy" else -1
        if o["instType"] == "SWAP":
            pos = self.position["pos"]
            new = pos + sign * qty
            if new and (pos == 0 or (pos > 0) == (sign > 0)):
                self.position["avgPx"] = (self.position["avgPx"] * abs(pos) + px * qty) / abs(new)
            self.position["pos"] = new
            self.cash["USDT"] -= fee
        else:
            self.cash["BTC"] += sign * qty
            self.cash["USDT"] -= sign * qty * px + fee
        trade_id = str(len(self.trades) + 1)
        now = str(_now())
        o.update(state="filled", accFillSz=o["sz"], avgPx=str(px), fillPx=str(px),
                 fillSz=str(qty), tradeId=trade_id, fee=str(-fee), fillFee=str(-fee),
                 fillFeeCcy="USDT", execType="M" if maker else "T", uTime=now, fillTime=now)
        self.trades.append({"instType": o["instType"], "instId": o["instId"], "tradeId": trade_id,
                            "ordId": o["ordId"], "clOrdId": o["clOrdId"], "billId": trade_id,
                            "tag": "", "fillPx": str(px), "fillSz": str(qty), "side": o["side"],
                            "posSide": "net", "execType": "M" if maker else "T",
                            "feeCcy": "USDT", "fee": str(-fee), "ts": now, "fillTime": now})
        self._push("orders", [o])
        self._push("account", [{"uTime": now, "totalEq": str(self.cash["USDT"]),
                                "details": self._details()}])
        if o["instType"] == "SWAP":
            self._push("positions", [self._position_row()])

    def by_client_id(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.book.values() if o["clOrdId"] == cid), None)

    # -- the private websocket ------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        logged_in = False
        try:
            async for msg in ws:
                if msg.type != 1:
                    continue
                if msg.data == "ping":
                    await ws.send_str("pong")
                    continue
                req = json.loads(msg.data)
                if req.get("op") == "login":
                    code, text = self._login_check((req.get("args") or [{}])[0])
                    if code != "0":
                        self.ws_refusals.append(code)
                        await ws.send_str(json.dumps({"event": "error", "code": code,
                                                      "msg": text, "connId": "c1"}))
                        await ws.close()
                        break
                    logged_in = True
                    self.ws_logins += 1
                    await ws.send_str(json.dumps({"event": "login", "code": "0", "msg": "",
                                                  "connId": "c1"}))
                elif req.get("op") == "subscribe":
                    if not logged_in:
                        await ws.send_str(json.dumps({"event": "error", "code": "60011",
                                                      "msg": "Please log in", "connId": "c1"}))
                        continue
                    for arg in req.get("args") or []:
                        await ws.send_str(json.dumps({"id": req.get("id"), "event": "subscribe",
                                                      "arg": arg, "connId": "c1"}))
                    self.streams.append(ws)
        finally:
            if ws in self.streams:
                self.streams.remove(ws)
        return ws

    def _login_check(self, a: dict[str, Any]) -> tuple[str, str]:
        if a.get("apiKey") != API_KEY:
            return "60005", "Invalid OK-ACCESS-KEY"
        if a.get("passphrase") != PASSPHRASE:
            return "60024", "Wrong passphrase"
        try:
            ts = int(a.get("timestamp", ""))
        except ValueError:
            return "60004", "Invalid timestamp"
        if abs(time.time() - ts) > 30:
            return "60006", "Timestamp request expired"
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}GET/users/self/verify".encode(),
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(str(a.get("sign", "")), expected):
            return "60007", "Invalid sign"
        return "0", ""

    def _push(self, channel: str, data: list[dict[str, Any]]) -> None:
        arg: dict[str, Any] = {"channel": channel, "uid": "77982378738415879"}
        if channel != "account":
            arg["instType"] = "ANY"
        text = json.dumps({"arg": arg, "data": [dict(d) for d in data]})
        for ws in list(self.streams):
            asyncio.ensure_future(ws.send_str(text))

    async def drop_streams(self) -> None:
        for ws in list(self.streams):
            await ws.close()


def _err(code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": []}, status=401)


def _now() -> int:
    return int(time.time() * 1000)
