"""A small OKX v5 REST server on 127.0.0.1 for demo-trading tests.

It records every request's headers and checks private calls the way OKX does: the
OK-ACCESS-KEY / -PASSPHRASE headers name the test key, OK-ACCESS-SIGN is
base64(HMAC-SHA256(secret, timestamp + method + path + body)), and, this being the demo
environment, ``x-simulated-trading: 1`` must be present (OKX answers 50101 without it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time

from aiohttp import web

API_KEY = "okx-demo-key-5b1e"
SECRET = "okx-demo-secret-90af77c1"
PASSPHRASE = "okx-demo-pass-31"


class FakeOkxDemo:
    def __init__(self) -> None:
        self.requests: list[dict] = []  # method, path, headers, body
        self.orders: list[dict] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v5/public/instruments", self._instruments)
        app.router.add_post("/api/v5/trade/order", self._order)
        app.router.add_post("/api/v5/trade/batch-orders", self._order)  # what ccxt uses
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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

    async def _order(self, request: web.Request) -> web.Response:
        body = await request.text()
        h = request.headers
        self.requests.append({"method": "POST", "path": request.path_qs, "headers": dict(h),
                              "body": body})
        if h.get("x-simulated-trading") != "1":
            return _err("50101", "APIKey does not match current environment.")
        if h.get("OK-ACCESS-KEY") != API_KEY or h.get("OK-ACCESS-PASSPHRASE") != PASSPHRASE:
            return _err("50111", "Invalid OK-ACCESS-KEY.")
        prehash = h.get("OK-ACCESS-TIMESTAMP", "") + "POST" + request.path_qs + body
        expected = base64.b64encode(hmac.new(SECRET.encode(), prehash.encode(),
                                             hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(h.get("OK-ACCESS-SIGN", ""), expected):
            return _err("50113", "Invalid Sign.")
        sent = json.loads(body)
        data = []
        for order in sent if isinstance(sent, list) else [sent]:
            self.orders.append(order)
            data.append({"clOrdId": order.get("clOrdId", ""),
                         "ordId": str(312269865356374016 + len(self.orders)), "tag": "",
                         "ts": str(int(time.time() * 1000)), "sCode": "0", "sMsg": "Order placed"})
        return web.json_response({"code": "0", "msg": "", "data": data})


def _err(code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": []}, status=401)
