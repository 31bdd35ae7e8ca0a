"""A small Binance spot testnet on 127.0.0.1 for CcxtAccount tests.

It implements the REST endpoints ccxt's binance class calls to trade (order, cancel,
open orders, order query, account, my trades, exchange info) and checks each private
request the way Binance does: the X-MBX-APIKEY header names the test key, and the
``signature`` is the HMAC-SHA256 of the rest of the query string (or form body) keyed with
the test secret. A wrong key or signature gets Binance's own error codes.

Markets fill at a fixed ``last_price``: market orders at once, limits rest until a test
fills them (``fill``: the venue's matching engine, as far as the account can tell).

The user data stream is served the way the spot testnet serves it since the listen-key
endpoints were retired: over the WebSocket API (``/ws-api/v3``), one
``userDataStream.subscribe.signature`` request signed with HMAC-SHA256 over its sorted
parameters, a timestamp within ``recvWindow`` (5 s by default), then
``executionReport`` and ``outboundAccountPosition`` events as orders change.
``POST /api/v3/order/cancelReplace`` amends (cancel + new order, STOP_ON_FAILURE).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "test-api-key-7f3a9c"
SECRET = "test-secret-e1d2c3b4a5968778"


class FakeBinanceTestnet:
    def __init__(self, api_key: str = API_KEY, secret: str = SECRET) -> None:
        self.api_key = api_key
        self.secret = secret
        self.last_price = {"BTCUSDT": Decimal("30000.00"), "ETHUSDT": Decimal("2000.00")}
        self.balances = {"USDT": Decimal("10000"), "BTC": Decimal("1"), "ETH": Decimal("0")}
        self.locked = {a: Decimal(0) for a in self.balances}
        self.orders: dict[int, dict[str, Any]] = {}
        self.open_order_symbols: list[str | None] = []
        self.trades: list[dict[str, Any]] = []
        self.next_id = 1000
        self.order_posts = 0  # POST /api/v3/order requests that passed the signature check
        self.signed_requests = 0
        self.amends = 0  # cancelReplace requests that cancelled their order
        self.bad_signatures = 0
        self.delay_order_response = 0.0  # seconds to hold the next order response (timeouts)
        self.fail_next_order: tuple[int, dict] | None = None  # (http status, body)
        self.fail_account: tuple[int, dict] | None = None  # every balance request, while set
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.url = ""
        self._runner: web.AppRunner | None = None
        self.streams: list[web.WebSocketResponse] = []  # subscribed user data streams
        self.ws_logins = 0  # accepted userDataStream subscriptions
        self.ws_refusals: list[int] = []  # error codes of refused ones
        self.pushed: list[tuple[float, dict[str, Any]]] = []  # (monotonic time, event)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/api/v3/exchangeInfo", self._exchange_info)
        r.add_get("/api/v3/time", self._time)
        r.add_post("/api/v3/order", self._signed(self._new_order))
        r.add_delete("/api/v3/order", self._signed(self._cancel))
        r.add_get("/api/v3/order", self._signed(self._query_order))
        r.add_get("/api/v3/openOrders", self._signed(self._open_orders))
        r.add_delete("/api/v3/openOrders", self._signed(self._cancel_all))
        r.add_get("/api/v3/account", self._signed(self._account))
        r.add_get("/api/v3/myTrades", self._signed(self._my_trades))
        r.add_post("/api/v3/order/cancelReplace", self._signed(self._cancel_replace))
        r.add_get("/ws-api/v3", self._ws_api)
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

    # -- signing ---------------------------------------------------------------------------

    def _signed(self, handler):
        async def check(request: web.Request) -> web.Response:
            self.requests.append((request.method, request.path, dict(request.headers)))
            if request.headers.get("X-MBX-APIKEY") != self.api_key:
                return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
            payload = request.query_string if request.method in ("GET", "DELETE") else \
                (await request.text())
            body, sep, signature = payload.rpartition("&signature=")
            expected = hmac.new(self.secret.encode(), body.encode(), hashlib.sha256).hexdigest()
            if not sep or not hmac.compare_digest(signature, expected):
                self.bad_signatures += 1
                return _error(400, -1022, "Signature for this request is not valid.")
            params = dict(parse_qsl(body, keep_blank_values=True))
            if "timestamp" not in params:
                return _error(400, -1102, "Mandatory parameter 'timestamp' was not sent.")
            self.signed_requests += 1
            try:
                return await handler(params)
            except _Reject as rej:
                return _error(rej.status, rej.code, rej.msg)
        return check

    # -- handlers --------------------------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _now()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = []
        for sym, (base, tick, lot) in {"BTCUSDT": ("BTC", "0.01", "0.00001"),
                                       "ETHUSDT": ("ETH", "0.01", "0.0001")}.items():
            symbols.append({
                "symbol": sym, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
                "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"],
                "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False, "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00",
                     "tickSize": tick},
                    {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "9000.0", "stepSize": lot},
                    {"filterType": "NOTIONAL", "minNotional": "5.00", "applyMinToMarket": True,
                     "maxNotional": "9000000.00", "applyMaxToMarket": False, "avgPriceMins": 5},
                ]})
        return web.json_response({"timezone": "UTC", "serverTime": _now(), "rateLimits": [],
                                  "exchangeFilters": [], "symbols": symbols})

    async def _new_order(self, p: dict[str, str]) -> web.Response:
        self.order_posts += 1
        if self.fail_next_order is not None:
            status, body = self.fail_next_order
            self.fail_next_order = None
            return web.json_response(body, status=status)
        symbol, side, kind = p["symbol"], p["side"], p["type"]
        cid = p.get("newClientOrderId") or f"auto{self.next_id}"
        if any(o["clientOrderId"] == cid for o in self.orders.values()):
            raise _Reject(400, -2010, "Duplicate order sent.")
        qty = Decimal(p["quantity"])
        base = symbol.removesuffix("USDT")
        price = Decimal(p["price"]) if "price" in p else self.last_price[symbol]
        if side == "BUY" and qty * price > self._free("USDT"):
            raise _Reject(400, -2010, "Account has insufficient balance for requested action.")
        if side == "SELL" and qty > self._free(base):
            raise _Reject(400, -2010, "Account has insufficient balance for requested action.")
        self.next_id += 1
        now = _now()
        order = {"symbol": symbol, "orderId": self.next_id, "orderListId": -1,
                 "clientOrderId": cid, "transactTime": now, "price": str(price if kind != "MARKET"
                                                                          else Decimal("0")),
                 "origQty": str(qty), "executedQty": "0", "cummulativeQuoteQty": "0",
                 "status": "NEW", "timeInForce": p.get("timeInForce", "GTC"), "type": kind,
                 "side": side, "stopPrice": p.get("stopPrice", "0"), "time": now,
                 "updateTime": now, "isWorking": True, "workingTime": now,
                 "origQuoteOrderQty": "0", "selfTradePreventionMode": "EXPIRE_MAKER", "fills": []}
        self.orders[self.next_id] = order
        self._push_order(order, "NEW")
        if kind == "MARKET":
            self._fill(order, self.last_price[symbol])
        elif side == "BUY":
            self.locked["USDT"] += qty * price
        else:
            self.locked[base] += qty
        self._push_balances(["USDT", base])
        if self.delay_order_response:
            delay, self.delay_order_response = self.delay_order_response, 0.0
            await asyncio.sleep(delay)  # accepted, but the answer comes too late
        return web.json_response(order)

    def _fill(self, order: dict[str, Any], price: Decimal, *, maker: bool = False) -> None:
        qty = Decimal(order["origQty"])
        base = order["symbol"].removesuffix("USDT")
        fee = qty * price * Decimal("0.001")
        if order["side"] == "BUY":
            self.balances["USDT"] -= qty * price + fee
            self.balances[base] = self.balances.get(base, Decimal(0)) + qty
        else:
            self.balances[base] -= qty
            self.balances["USDT"] += qty * price - fee
        order.update(status="FILLED", executedQty=str(qty), cummulativeQuoteQty=str(qty * price))
        trade = {"symbol": order["symbol"], "id": len(self.trades) + 1, "orderId": order["orderId"],
                 "orderListId": -1, "price": str(price), "qty": str(qty),
                 "quoteQty": str(qty * price), "commission": str(fee), "commissionAsset": "USDT",
                 "time": _now(), "isBuyer": order["side"] == "BUY", "isMaker": maker,
                 "isBestMatch": True}
        self.trades.append(trade)
        order["fills"] = [{"price": str(price), "qty": str(qty), "commission": str(fee),
                           "commissionAsset": "USDT", "tradeId": trade["id"]}]
        self._push_order(order, "TRADE", trade)

    def _free(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal(0)) - self.locked.get(asset, Decimal(0))

    def _find(self, p: dict[str, str]) -> dict[str, Any]:
        if "orderId" in p:
            order = self.orders.get(int(p["orderId"]))
        else:
            cid = p.get("origClientOrderId")
            order = next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)
        if order is None or order["symbol"] != p.get("symbol"):
            raise _Reject(400, -2013, "Order does not exist.")
        return order

    async def _cancel(self, p: dict[str, str]) -> web.Response:
        order = self._find(p)
        if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise _Reject(400, -2011, "Unknown order sent.")
        self._release(order)
        order["status"] = "CANCELED"
        self._push_order(order, "CANCELED")
        self._push_balances(["USDT", order["symbol"].removesuffix("USDT")])
        return web.json_response(order)

    def _release(self, order: dict[str, Any]) -> None:
        qty = Decimal(order["origQty"])
        if order["type"] == "MARKET":
            return
        if order["side"] == "BUY":
            self.locked["USDT"] -= qty * Decimal(order["price"])
        else:
            self.locked[order["symbol"].removesuffix("USDT")] -= qty

    async def _query_order(self, p: dict[str, str]) -> web.Response:
        return web.json_response(self._find(p))

    async def _open_orders(self, p: dict[str, str]) -> web.Response:
        self.open_order_symbols.append(p.get("symbol"))  # None: every symbol (weight 80)
        return web.json_response([o for o in self.orders.values()
                                  if o["status"] in ("NEW", "PARTIALLY_FILLED")
                                  and (not p.get("symbol") or o["symbol"] == p["symbol"])])

    async def _cancel_all(self, p: dict[str, str]) -> web.Response:
        out = []
        for o in self.orders.values():
            if o["symbol"] == p.get("symbol") and o["status"] in ("NEW", "PARTIALLY_FILLED"):
                self._release(o)
                o["status"] = "CANCELED"
                out.append(o)
        return web.json_response(out)

    async def _account(self, p: dict[str, str]) -> web.Response:
        if self.fail_account is not None:
            status, body = self.fail_account
            return web.json_response(body, status=status)
        return web.json_response({
            "makerCommission": 10, "takerCommission": 10, "canTrade": True, "canWithdraw": False,
            "canDeposit": False, "updateTime": _now(), "accountType": "SPOT",
            "balances": [{"asset": a, "free": str(v - self.locked.get(a, Decimal(0))),
                          "locked": str(self.locked.get(a, Decimal(0)))}
                         for a, v in self.balances.items()],
            "permissions": ["SPOT"]})

    async def _my_trades(self, p: dict[str, str]) -> web.Response:
        return web.json_response([t for t in self.trades if t["symbol"] == p.get("symbol")])

    async def _cancel_replace(self, p: dict[str, str]) -> web.Response:
        if p.get("cancelReplaceMode") != "STOP_ON_FAILURE":
            raise _Reject(400, -1102, "Mandatory parameter 'cancelReplaceMode' was not sent.")
        lookup = {"symbol": p["symbol"]}
        if "cancelOrderId" in p:
            lookup["orderId"] = p["cancelOrderId"]
        else:
            lookup["origClientOrderId"] = p.get("cancelOrigClientOrderId", "")
        try:
            old = self._find(lookup)
            if old["status"] not in ("NEW", "PARTIALLY_FILLED"):
                raise _Reject(400, -2011, "Unknown order sent.")
        except _Reject as rej:
            return web.json_response({"code": -2022, "msg": "Order cancel-replace failed.", "data": {
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": {"code": rej.code, "msg": rej.msg}, "newOrderResponse": None}},
                status=400)
        self._release(old)
        old["status"] = "CANCELED"
        self._push_order(old, "CANCELED")
        self.amends += 1
        new = {k: v for k, v in p.items() if not k.startswith("cancel")}
        new_resp = await self._new_order(new)
        body = json.loads(new_resp.body)
        if new_resp.status != 200:
            return web.json_response({"code": -2021, "msg": "Order cancel-replace partially failed.",
                                      "data": {"cancelResult": "SUCCESS", "newOrderResult": "FAILURE",
                                               "cancelResponse": old, "newOrderResponse": body}},
                                     status=409)
        return web.json_response({"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                                  "cancelResponse": old, "newOrderResponse": body})

    # -- the user data stream (WebSocket API) --------------------------------------------------

    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        try:
            async for msg in ws:
                if msg.type != 1:  # aiohttp.WSMsgType.TEXT
                    continue
                req = json.loads(msg.data)
                answer = self._ws_request(req)
                await ws.send_str(json.dumps(answer))
                if answer.get("status") == 200:
                    self.streams.append(ws)
        finally:
            if ws in self.streams:
                self.streams.remove(ws)
        return ws

    def _ws_request(self, req: dict[str, Any]) -> dict[str, Any]:
        rid = req.get("id")

        def refuse(status: int, code: int, msg: str) -> dict[str, Any]:
            self.ws_refusals.append(code)
            return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}

        if req.get("method") != "userDataStream.subscribe.signature":
            return refuse(400, -1100, "Illegal characters found in parameter 'method'.")
        params = dict(req.get("params") or {})
        signature = str(params.pop("signature", ""))
        if params.get("apiKey") != self.api_key:
            return refuse(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            self.bad_signatures += 1
            return refuse(400, -1022, "Signature for this request is not valid.")
        window = int(params.get("recvWindow", 5000))
        if abs(_now() - int(params.get("timestamp", 0))) > window:
            return refuse(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        self.ws_logins += 1
        return {"id": rid, "status": 200, "result": {"subscriptionId": 0}}

    def _push(self, event: dict[str, Any]) -> None:
        self.pushed.append((time.monotonic(), event))
        text = json.dumps({"subscriptionId": 0, "event": event})
        for ws in list(self.streams):
            asyncio.ensure_future(ws.send_str(text))

    def _push_order(self, order: dict[str, Any], exec_type: str,
                    trade: dict[str, Any] | None = None) -> None:
        now = _now()
        canceled = order["status"] == "CANCELED"
        self._push({
            "e": "executionReport", "E": now, "s": order["symbol"],
            "c": f"web_{order['orderId']}" if canceled else order["clientOrderId"],
            "S": order["side"], "o": order["type"], "f": order["timeInForce"],
            "q": order["origQty"], "p": order["price"], "P": order["stopPrice"], "F": "0",
            "g": -1, "C": order["clientOrderId"] if canceled else "", "x": exec_type,
            "X": order["status"], "r": "NONE", "i": order["orderId"],
            "l": trade["qty"] if trade else "0", "z": order["executedQty"],
            "L": trade["price"] if trade else "0", "n": trade["commission"] if trade else "0",
            "N": trade["commissionAsset"] if trade else None, "T": now,
            "t": trade["id"] if trade else -1, "w": order["status"] in ("NEW", "PARTIALLY_FILLED"),
            "m": bool(trade and trade["isMaker"]), "M": bool(trade), "O": order["time"],
            "Z": order["cummulativeQuoteQty"], "Y": trade["quoteQty"] if trade else "0",
            "Q": "0", "W": order["workingTime"], "V": "EXPIRE_MAKER"})

    def _push_balances(self, assets: list[str]) -> None:
        self._push({"e": "outboundAccountPosition", "E": _now(), "u": _now(),
                    "B": [{"a": a, "f": str(self.balances.get(a, Decimal(0)) - self.locked.get(a, Decimal(0))),
                           "l": str(self.locked.get(a, Decimal(0)))} for a in assets]})

    # -- convenience for tests --------------------------------------------------------------

    def fill(self, order_id: int, price: Decimal | None = None, *, maker: bool = True) -> None:
        """The venue's matching engine fills a resting limit order (at its price by default)."""
        order = self.orders[order_id]
        self._release(order)
        self._fill(order, price if price is not None else Decimal(order["price"]), maker=maker)
        self._push_balances(["USDT", order["symbol"].removesuffix("USDT")])

    def order_by_client_id(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)

    async def drop_streams(self) -> None:
        """Cut every user data stream, as a venue restart would."""
        for ws in list(self.streams):
            await ws.close()

    def open_count(self) -> int:
        return sum(1 for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED"))


class _Reject(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _now() -> int:
    return int(time.time() * 1000)


class FakeTestnetThread:
    """The fake venue on its own thread and loop (for engine-loop integration tests)."""

    def __init__(self) -> None:
        self.server = FakeBinanceTestnet()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FakeTestnetThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, fn, *args) -> None:
        """Run ``fn(*args)`` on the fake's loop (its pushes are sent from there)."""
        self._loop.call_soon_threadsafe(fn, *args)
