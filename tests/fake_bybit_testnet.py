"""A small Bybit v5 testnet on 127.0.0.1: the REST a trading session uses and the private
websocket, for CcxtAccount tests.

Private REST is checked as Bybit documents: X-BAPI-API-KEY names the test key,
X-BAPI-SIGN is the hex HMAC-SHA256 of timestamp + api key + recv window + (query string
for GET, body for POST), and the timestamp must be within the recv window (retCode
10003 bad key, 10004 bad sign, 10002 clock). The private websocket (``/v5/private``)
takes ``{"op":"auth","args":[key, expires, hex HMAC("GET/realtime" + expires)]}`` with
``expires`` in the future, then ``order`` / ``execution`` / ``position`` / ``wallet``
pushes follow every order change.

BTCUSDT spot and linear (one-way mode, USDT settled) in a unified account; limits rest
until a test fills them (``fill``), market orders fill at ``last_price``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

API_KEY = "bybit-test-key-88c1"
SECRET = "bybit-test-secret-4d2e9a"
LEVER = Decimal(10)

_SPOT = {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "innovation": "0",
         "status": "Trading", "marginTrading": "utaOnly", "stTag": "0",
         "lotSizeFilter": {"basePrecision": "0.000001", "quotePrecision": "0.00000001",
                           "minOrderQty": "0.000048", "maxOrderQty": "71.73956243",
                           "minOrderAmt": "1", "maxOrderAmt": "2000000"},
         "priceFilter": {"tickSize": "0.01"},
         "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"}}
_LINEAR = {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
           "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000",
           "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": "2",
           "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
           "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
           "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                             "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                             "minNotionalValue": "5"},
           "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
           "copyTrading": "both", "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375",
           "isPreListing": False, "preListingInfo": None}


class FakeBybitTestnet:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.unknown: list[str] = []  # paths asked for that this fake does not serve
        self.book: dict[str, dict[str, Any]] = {}  # orderId -> the order as Bybit reports it
        self.executions: list[dict[str, Any]] = []
        self.last_price = Decimal("30000")
        self.wallet = {"USDT": Decimal("10000"), "BTC": Decimal("1")}
        self.position = {"size": Decimal(0), "avg": Decimal(0)}  # signed, BTC
        self.amends = 0
        self.ws_logins = 0
        self.ws_refusals: list[str] = []
        self.streams: list[web.WebSocketResponse] = []
        self.url = ""
        self._next = 1_000_000
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/v5/market/instruments-info", self._instruments)
        r.add_get("/v5/market/time", self._time)
        private = {
            ("GET", "/v5/asset/coin/query-info"): lambda a: {"rows": []},
            ("GET", "/v5/user/query-api"): self._query_api,
            ("GET", "/v5/account/info"): lambda a: {"unifiedMarginStatus": 4, "marginMode":
                                                    "REGULAR_MARGIN", "isMasterTrader": False,
                                                    "spotHedgingStatus": "OFF",
                                                    "updatedTime": str(_now()), "dcpStatus": "OFF",
                                                    "timeWindow": 0, "smpGroup": 0},
            ("GET", "/v5/account/wallet-balance"): self._wallet_balance,
            ("GET", "/v5/order/realtime"): self._realtime,
            ("GET", "/v5/order/history"): self._history,
            ("GET", "/v5/position/list"): self._position_list,
            ("GET", "/v5/execution/list"): self._execution_list,
            ("POST", "/v5/order/create"): self._create,
            ("POST", "/v5/order/cancel"): self._cancel,
            ("POST", "/v5/order/amend"): self._amend,
        }
        for (method, path), handler in private.items():
            r.add_route(method, path, self._private(handler))
        r.add_get("/v5/private", self._ws)
        r.add_route("*", "/{tail:.*}", self._not_served)
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

    async def _not_served(self, request: web.Request) -> web.Response:
        self.unknown.append(f"{request.method} {request.path}")
        return web.json_response({"retCode": 10001, "retMsg": "not served by the test venue",
                                  "result": {}, "retExtInfo": {}, "time": _now()}, status=404)

    async def _time(self, request: web.Request) -> web.Response:
        now = _now()
        return _ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})

    async def _instruments(self, request: web.Request) -> web.Response:
        category = request.query.get("category")
        rows = [_SPOT] if category == "spot" else [_LINEAR] if category == "linear" else []
        return _ok({"category": category, "list": rows, "nextPageCursor": ""})

    def _private(self, handler):
        async def check(request: web.Request) -> web.Response:
            body = await request.text() if request.method == "POST" else ""
            h = request.headers
            self.requests.append({"method": request.method, "path": request.path_qs,
                                  "headers": dict(h), "body": body})
            if h.get("X-BAPI-API-KEY") != API_KEY:
                return _fail(10003, "API key is invalid.")
            ts, window = h.get("X-BAPI-TIMESTAMP", ""), h.get("X-BAPI-RECV-WINDOW", "5000")
            payload = request.query_string if request.method == "GET" else body
            expected = hmac.new(SECRET.encode(), f"{ts}{API_KEY}{window}{payload}".encode(),
                                hashlib.sha256).hexdigest()
            if not hmac.compare_digest(h.get("X-BAPI-SIGN", ""), expected):
                return _fail(10004, "error sign! origin_string[...]")
            if not ts.isdigit() or abs(_now() - int(ts)) > int(window):
                return _fail(10002, "invalid request, please check your server timestamp or "
                                    "recv_window param")
            args = json.loads(body) if body else dict(parse_qsl(request.query_string))
            try:
                return _ok(handler(args))
            except _Reject as rej:
                return _fail(rej.code, rej.msg)
        return check

    def _query_api(self, a: dict[str, Any]) -> dict[str, Any]:
        return {"id": "1", "note": "test", "apiKey": API_KEY, "readOnly": 0, "secret": "",
                "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
                                "Wallet": [], "Options": [], "Derivatives": [],
                                "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": []},
                "ips": ["*"], "type": 1, "deadlineDay": 80, "expiredAt": "", "createdAt": "",
                "unified": 0, "uta": 1, "userID": 24617703, "inviterID": 0,
                "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0}

    def _coins(self) -> list[dict[str, Any]]:
        locked = self._locked()
        return [{"coin": c, "equity": str(v), "walletBalance": str(v), "locked": str(locked[c]),
                 "free": str(v - locked[c]), "availableToWithdraw": str(v - locked[c]),
                 "usdValue": str(v if c == "USDT" else v * self.last_price),
                 "unrealisedPnl": "0", "cumRealisedPnl": "0", "totalOrderIM": "0",
                 "totalPositionIM": "0", "totalPositionMM": "0", "borrowAmount": "0",
                 "accruedInterest": "0", "bonus": "0", "collateralSwitch": True,
                 "marginCollateral": True, "spotHedgingQty": "0"}
                for c, v in self.wallet.items()]

    def _locked(self) -> dict[str, Decimal]:
        locked = {c: Decimal(0) for c in self.wallet}
        for o in self.book.values():
            if o["orderStatus"] not in ("New", "PartiallyFilled") or o["orderType"] == "Market":
                continue
            rest, px = Decimal(o["qty"]) - Decimal(o["cumExecQty"]), Decimal(o["price"])
            if o["category"] == "linear":
                locked["USDT"] += rest * px / LEVER
            elif o["side"] == "Buy":
                locked["USDT"] += rest * px
            else:
                locked["BTC"] += rest
        return locked

    def _wallet_balance(self, a: dict[str, Any]) -> dict[str, Any]:
        return {"list": [self._wallet_row()]}

    def _wallet_row(self) -> dict[str, Any]:
        total = str(self.wallet["USDT"])
        return {"accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0",
                "totalEquity": total, "totalWalletBalance": total, "totalMarginBalance": total,
                "totalAvailableBalance": total, "totalPerpUPL": "0", "totalInitialMargin": "0",
                "totalMaintenanceMargin": "0", "accountLTV": "0", "coin": self._coins()}

    def _orders(self, a: dict[str, Any], open_: bool) -> dict[str, Any]:
        rows = [o for o in self.book.values()
                if (o["orderStatus"] in ("New", "PartiallyFilled")) == open_
                and (not a.get("category") or o["category"] == a["category"])
                and (not a.get("symbol") or o["symbol"] == a["symbol"])
                and (not a.get("orderId") or o["orderId"] == a["orderId"])
                and (not a.get("orderLinkId") or o["orderLinkId"] == a["orderLinkId"])]
        return {"category": a.get("category", "spot"), "list": rows, "nextPageCursor": ""}

    def _realtime(self, a: dict[str, Any]) -> dict[str, Any]:
        if a.get("orderId") or a.get("orderLinkId"):  # a lookup: open or recently closed
            found = self._orders(a, True)
            found["list"] += self._orders(a, False)["list"]
            return found
        return self._orders(a, True)

    def _history(self, a: dict[str, Any]) -> dict[str, Any]:
        return self._orders(a, False)

    def _position_list(self, a: dict[str, Any]) -> dict[str, Any]:
        row = self._position_row()
        return {"category": "linear", "list": [row] if self.position["size"] else [],
                "nextPageCursor": ""}

    def _position_row(self) -> dict[str, Any]:
        size, avg = self.position["size"], self.position["avg"]
        mark = self.last_price
        return {"positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": "BTCUSDT",
                "side": "Buy" if size > 0 else "Sell" if size < 0 else "", "size": str(abs(size)),
                "avgPrice": str(avg), "entryPrice": str(avg), "positionValue": str(abs(size) * avg),
                "tradeMode": 0, "autoAddMargin": 0, "positionStatus": "Normal",
                "leverage": str(LEVER), "markPrice": str(mark), "liqPrice": "",
                "bustPrice": "", "positionIM": str(abs(size) * avg / LEVER), "positionMM": "0",
                "positionBalance": "0", "takeProfit": "0", "stopLoss": "0",
                "trailingStop": "0", "unrealisedPnl": str((mark - avg) * size),
                "curRealisedPnl": "0", "cumRealisedPnl": "0", "adlRankIndicator": 2,
                "createdTime": str(_now()), "updatedTime": str(_now()), "seq": 1,
                "isReduceOnly": False, "category": "linear"}

    def _execution_list(self, a: dict[str, Any]) -> dict[str, Any]:
        rows = [e for e in self.executions
                if (not a.get("category") or e["category"] == a["category"])
                and (not a.get("symbol") or e["symbol"] == a["symbol"])]
        return {"category": a.get("category", "spot"), "list": rows, "nextPageCursor": ""}

    def _create(self, a: dict[str, Any]) -> dict[str, Any]:
        link = a.get("orderLinkId") or ""
        if link and any(o["orderLinkId"] == link for o in self.book.values()):
            raise _Reject(110072, "OrderLinkedID is duplicate")
        self._next += 1
        oid = f"1d8e{self._next}"
        now = str(_now())
        order = {"category": a["category"], "symbol": a["symbol"], "orderId": oid,
                 "orderLinkId": link, "blockTradeId": "", "side": a["side"],
                 "orderType": a["orderType"], "price": a.get("price", "0"), "qty": a["qty"],
                 "timeInForce": a.get("timeInForce", "GTC"), "orderStatus": "New",
                 "positionIdx": 0, "cumExecQty": "0", "cumExecValue": "0", "cumExecFee": "0",
                 "avgPrice": "", "leavesQty": a["qty"], "leavesValue": "0",
                 "rejectReason": "EC_NoError", "reduceOnly": bool(a.get("reduceOnly")),
                 "closeOnTrigger": False, "stopOrderType": "", "triggerPrice": "",
                 "takeProfit": "", "stopLoss": "", "createdTime": now, "updatedTime": now,
                 "feeCurrency": ""}
        if a["category"] == "linear":
            order["tpslMode"] = "Full"  # a contract order's field (ccxt tells them apart by it)
        self.book[oid] = order
        self._push("order", [order])
        if order["orderType"] == "Market":
            self.fill(oid, self.last_price, maker=False)
        return {"orderId": oid, "orderLinkId": link}

    def _find(self, a: dict[str, Any]) -> dict[str, Any]:
        if a.get("orderId"):
            o = self.book.get(a["orderId"])
        else:
            o = next((x for x in self.book.values() if x["orderLinkId"] == a.get("orderLinkId")),
                     None)
        if o is None or o["orderStatus"] not in ("New", "PartiallyFilled"):
            raise _Reject(110001, "order not exists or too late to cancel")
        return o

    def _cancel(self, a: dict[str, Any]) -> dict[str, Any]:
        o = self._find(a)
        o.update(orderStatus="Cancelled", updatedTime=str(_now()))
        self._push("order", [o])
        self._push("wallet", [self._wallet_row()])
        return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}

    def _amend(self, a: dict[str, Any]) -> dict[str, Any]:
        o = self._find(a)
        if a.get("qty"):
            if Decimal(a["qty"]) <= Decimal(o["cumExecQty"]):
                raise _Reject(110010, "The order qty must be greater than the filled qty")
            o["qty"] = a["qty"]
            o["leavesQty"] = str(Decimal(a["qty"]) - Decimal(o["cumExecQty"]))
        if a.get("price"):
            o["price"] = a["price"]
        self.amends += 1
        o["updatedTime"] = str(_now())
        self._push("order", [o])
        return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}

    # -- the matching engine, as far as the account can tell -----------------------------------

    def fill(self, order_id: str, price: Decimal | None = None, *, maker: bool = True) -> None:
        o = self.book[order_id]
        px = price if price is not None else Decimal(o["price"])
        qty = Decimal(o["qty"]) - Decimal(o["cumExecQty"])
        fee = qty * px * (Decimal("0.0002") if maker else Decimal("0.00055"))
        sign = 1 if o["side"] == "Buy" else -1
        if o["category"] == "linear":
            size = self.position["size"]
            new = size + sign * qty
            if new and (size == 0 or (size > 0) == (sign > 0)):
                self.position["avg"] = (self.position["avg"] * abs(size) + px * qty) / abs(new)
            self.position["size"] = new
            self.wallet["USDT"] -= fee
        else:
            self.wallet["BTC"] += sign * qty
            self.wallet["USDT"] -= sign * qty * px + fee
        now = str(_now())
        o.update(orderStatus="Filled", cumExecQty=o["qty"], cumExecValue=str(qty * px),
                 cumExecFee=str(fee), avgPrice=str(px), leavesQty="0", updatedTime=now,
                 feeCurrency="USDT")
        execution = {"category": o["category"], "symbol": o["symbol"],
                     "execId": f"e{len(self.executions) + 1}", "execPrice": str(px),
                     "execQty": str(qty), "execFee": str(fee), "feeCurrency": "USDT",
                     "execType": "Trade", "execValue": str(qty * px), "orderId": o["orderId"],
                     "orderLinkId": o["orderLinkId"], "side": o["side"], "execTime": now,
                     "isMaker": maker, "orderPrice": o["price"], "orderQty": o["qty"],
                     "orderType": o["orderType"], "leavesQty": "0", "feeRate": "0.0002"}
        self.executions.append(execution)
        self._push("order", [o])
        self._push("execution", [execution])
        if o["category"] == "linear":
            self._push("position", [self._position_row()])
        self._push("wallet", [self._wallet_row()])

    def by_link_id(self, link: str) -> dict[str, Any] | None:
        return next((o for o in self.book.values() if o["orderLinkId"] == link), None)

    # -- the private websocket ------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        authed = False
        try:
            async for msg in ws:
                if msg.type != 1:
                    continue
                req = json.loads(msg.data)
                op = req.get("op")
                if op == "ping":
                    await ws.send_str(json.dumps({"success": True, "ret_msg": "pong",
                                                  "conn_id": "c1", "op": "ping"}))
                elif op == "auth":
                    problem = self._auth_check(req.get("args") or [])
                    if problem:
                        self.ws_refusals.append(problem)
                    authed = not problem
                    if authed:
                        self.ws_logins += 1
                    await ws.send_str(json.dumps({"success": authed, "ret_msg": problem,
                                                  "op": "auth", "conn_id": "c1",
                                                  "req_id": req.get("req_id")}))
                elif op == "subscribe":
                    if not authed:
                        await ws.send_str(json.dumps({"success": False, "op": "subscribe",
                                                      "ret_msg": "Request not authorized",
                                                      "conn_id": "c1"}))
                        continue
                    await ws.send_str(json.dumps({"success": True, "ret_msg": "",
                                                  "op": "subscribe", "conn_id": "c1",
                                                  "req_id": req.get("req_id")}))
                    self.streams.append(ws)
        finally:
            if ws in self.streams:
                self.streams.remove(ws)
        return ws

    def _auth_check(self, args: list[Any]) -> str:
        if len(args) != 3:
            return "Params Error"
        key, expires, signature = args
        if key != API_KEY:
            return "error:API key is invalid"
        if not isinstance(expires, int) or expires <= _now():
            return "error:request expired"
        expected = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(str(signature), expected):
            return "error:signature verification failed"
        return ""

    def _push(self, topic: str, data: list[dict[str, Any]]) -> None:
        text = json.dumps({"id": f"{topic}-{_now()}", "topic": topic, "creationTime": _now(),
                           "data": [dict(d) for d in data]})
        for ws in list(self.streams):
            asyncio.ensure_future(ws.send_str(text))


class _Reject(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _ok(result: Any) -> web.Response:
    return web.json_response({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                              "time": _now()})


def _fail(code: int, msg: str) -> web.Response:
    return web.json_response({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {},
                              "time": _now()})


def _now() -> int:
    return int(time.time() * 1000)
