"""A small Binance USD-M futures venue (demo trading) on 127.0.0.1: the REST a trading
session uses and the user data stream, for CcxtAccount tests.

Signed requests are checked as on spot (X-MBX-APIKEY, HMAC-SHA256 ``signature`` over the
rest of the query or form body). The user data stream keeps the listen key: ``POST
/fapi/v1/listenKey`` (API key header only, no signature) hands one out, ``PUT`` renews
it, and ``/ws/<listenKey>`` streams ``ORDER_TRADE_UPDATE`` and ``ACCOUNT_UPDATE``; an
unknown or expired key is refused at the handshake. ``PUT /fapi/v1/order`` amends a
resting limit order in place (price and quantity).

BTCUSDT perpetual, one-way mode, cross margin; limits rest until a test fills them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import socket
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from app.sim import binance_wire as wire
from app.sim.market import SimMarket, SimSymbol

API_KEY = "usdm-demo-key-0c4f"
SECRET = "usdm-demo-secret-71aa3e"
LEVER = Decimal(20)


class FakeBinanceUsdm:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[str] = []
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.wallet = Decimal("10000")
        self.position = {"amt": Decimal(0), "entry": Decimal(0)}
        self.mark = Decimal("30000")
        self.listen_keys: set[str] = set()
        self.renewals = 0
        self.amends = 0
        self.streams: list[web.WebSocketResponse] = []
        self.refused_keys: list[str] = []
        self.url = ""
        self._next = 8_000_000
        self._runner: web.AppRunner | None = None
        market = SimMarket([SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 30_000.0, 0.1, 0.001,
                                      min_notional=100.0)], seed=1)
        self._sims = [market.sim("BTCUSDT", "perp")]

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        r.add_get("/fapi/v1/time", self._time)
        r.add_post("/fapi/v1/listenKey", self._new_listen_key)
        r.add_put("/fapi/v1/listenKey", self._renew_listen_key)
        signed = {
            ("POST", "/fapi/v1/order"): self._new_order, ("PUT", "/fapi/v1/order"): self._amend,
            ("DELETE", "/fapi/v1/order"): self._cancel, ("GET", "/fapi/v1/order"): self._query,
            ("GET", "/fapi/v1/openOrders"): self._open_orders,
            ("GET", "/fapi/v2/account"): self._account, ("GET", "/fapi/v3/account"): self._account,
            ("GET", "/fapi/v2/balance"): self._balance, ("GET", "/fapi/v3/balance"): self._balance,
            ("GET", "/fapi/v2/positionRisk"): self._position_risk,
            ("GET", "/fapi/v3/positionRisk"): self._position_risk,
            ("GET", "/fapi/v1/userTrades"): self._user_trades,
            ("GET", "/fapi/v1/leverageBracket"): lambda p: [{"symbol": "BTCUSDT", "brackets": [
                {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                 "maintMarginRatio": 0.004, "cum": 0.0}]}],
        }
        for (method, path), handler in signed.items():
            r.add_route(method, path, self._signed(handler))
        r.add_get("/ws/{key}", self._ws)
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

    async def _not_served(self, request: web.Request) -> web.Response:
        self.unknown.append(f"{request.method} {request.path}")
        return web.json_response({"code": -1, "msg": "not served by the test venue"}, status=404)

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": _now()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response(wire.exchange_info_usdm(self._sims, _now()))

    # -- listen keys --------------------------------------------------------------------------

    async def _new_listen_key(self, request: web.Request) -> web.Response:
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        key = secrets.token_urlsafe(48)
        self.listen_keys.add(key)
        return web.json_response({"listenKey": key})

    async def _renew_listen_key(self, request: web.Request) -> web.Response:
        if request.headers.get("X-MBX-APIKEY") != API_KEY:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if not self.listen_keys:
            return _error(400, -1125, "This listenKey does not exist.")
        self.renewals += 1
        return web.json_response({"listenKey": next(iter(self.listen_keys))})

    def expire_listen_keys(self) -> None:
        """The venue forgets the keys (60 minutes without a renewal) and says so."""
        self.listen_keys.clear()
        self._push({"e": "listenKeyExpired", "E": _now(), "listenKey": ""})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        if key not in self.listen_keys:
            self.refused_keys.append(key)
            return web.Response(status=400, text="invalid listen key")
        ws = web.WebSocketResponse(heartbeat=180)
        await ws.prepare(request)
        self.streams.append(ws)
        try:
            async for _ in ws:
                pass
        finally:
            if ws in self.streams:
                self.streams.remove(ws)
        return ws

    def _push(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        for ws in list(self.streams):
            asyncio.ensure_future(ws.send_str(text))

    # -- signed REST ----------------------------------------------------------------------------

    def _signed(self, handler):
        async def check(request: web.Request) -> web.Response:
            self.requests.append((request.method, request.path))
            if request.headers.get("X-MBX-APIKEY") != API_KEY:
                return _error(401, -2015, "Invalid API-key, IP, or permissions for action.")
            payload = request.query_string if request.method in ("GET", "DELETE") else \
                (await request.text()) or request.query_string
            body, sep, signature = payload.rpartition("&signature=")
            expected = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            if not sep or not hmac.compare_digest(signature, expected):
                return _error(400, -1022, "Signature for this request is not valid.")
            params = dict(parse_qsl(body, keep_blank_values=True))
            try:
                return web.json_response(handler(params))
            except _Reject as rej:
                return _error(400, rej.code, rej.msg)
        return check

    def _new_order(self, p: dict[str, str]) -> dict[str, Any]:
        cid = p.get("newClientOrderId") or f"auto{self._next}"
        if any(o["clientOrderId"] == cid for o in self.orders.values()
               if o["status"] in ("NEW", "PARTIALLY_FILLED")):
            raise _Reject(-4015, "Client order id is not valid.")
        self._next += 1
        now = _now()
        order = {"orderId": self._next, "symbol": p["symbol"], "status": "NEW",
                 "clientOrderId": cid, "price": p.get("price", "0"), "avgPrice": "0",
                 "origQty": p["quantity"], "executedQty": "0", "cumQty": "0", "cumQuote": "0",
                 "timeInForce": p.get("timeInForce", "GTC"), "type": p["type"],
                 "reduceOnly": p.get("reduceOnly") == "true", "closePosition": False,
                 "side": p["side"], "positionSide": "BOTH", "stopPrice": "0",
                 "workingType": "CONTRACT_PRICE", "priceProtect": False,
                 "origType": p["type"], "priceMatch": "NONE", "selfTradePreventionMode": "NONE",
                 "goodTillDate": 0, "time": now, "updateTime": now}
        self.orders[order["orderId"]] = order
        self._push_order(order, "NEW")
        if p["type"] == "MARKET":
            self.fill(order["orderId"], self.mark, maker=False)
        return order

    def _find(self, p: dict[str, str]) -> dict[str, Any]:
        if "orderId" in p:
            order = self.orders.get(int(p["orderId"]))
        else:
            order = next((o for o in self.orders.values()
                          if o["clientOrderId"] == p.get("origClientOrderId")), None)
        if order is None:
            raise _Reject(-2013, "Order does not exist.")
        return order

    def _amend(self, p: dict[str, str]) -> dict[str, Any]:
        order = self._find(p)
        if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise _Reject(-2013, "Order does not exist.")
        if Decimal(p["quantity"]) <= Decimal(order["executedQty"]):
            raise _Reject(-4028, "Quantity less than or equal to filled quantity.")
        order.update(price=p["price"], origQty=p["quantity"], updateTime=_now())
        self.amends += 1
        self._push_order(order, "AMENDMENT")
        return order

    def _cancel(self, p: dict[str, str]) -> dict[str, Any]:
        order = self._find(p)
        if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise _Reject(-2011, "Unknown order sent.")
        order.update(status="CANCELED", updateTime=_now())
        self._push_order(order, "CANCELED")
        return order

    def _query(self, p: dict[str, str]) -> dict[str, Any]:
        return self._find(p)

    def _open_orders(self, p: dict[str, str]) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and (not p.get("symbol") or o["symbol"] == p["symbol"])]

    def _margin_held(self) -> Decimal:
        held = abs(self.position["amt"]) * self.mark / LEVER
        for o in self._open_orders({}):
            held += (Decimal(o["origQty"]) - Decimal(o["executedQty"])) * Decimal(o["price"]) / LEVER
        return held

    def _upnl(self) -> Decimal:
        return (self.mark - self.position["entry"]) * self.position["amt"]

    def _account(self, p: dict[str, str]) -> dict[str, Any]:
        avail = self.wallet - self._margin_held() + self._upnl()
        asset = {"asset": "USDT", "walletBalance": str(self.wallet),
                 "unrealizedProfit": str(self._upnl()),
                 "marginBalance": str(self.wallet + self._upnl()),
                 "maintMargin": "0", "initialMargin": str(self._margin_held()),
                 "positionInitialMargin": "0", "openOrderInitialMargin": "0",
                 "crossWalletBalance": str(self.wallet), "crossUnPnl": str(self._upnl()),
                 "availableBalance": str(avail), "maxWithdrawAmount": str(avail),
                 "updateTime": _now()}
        return {"totalWalletBalance": str(self.wallet), "availableBalance": str(avail),
                "totalUnrealizedProfit": str(self._upnl()), "assets": [asset],
                "positions": [self._position_row()], "canTrade": True, "feeTier": 0,
                "updateTime": 0}

    def _balance(self, p: dict[str, str]) -> list[dict[str, Any]]:
        avail = self.wallet - self._margin_held() + self._upnl()
        return [{"accountAlias": "SgsR", "asset": "USDT", "balance": str(self.wallet),
                 "crossWalletBalance": str(self.wallet), "crossUnPnl": str(self._upnl()),
                 "availableBalance": str(avail), "maxWithdrawAmount": str(avail),
                 "marginAvailable": True, "updateTime": _now()}]

    def _position_row(self) -> dict[str, Any]:
        amt = self.position["amt"]
        return {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": str(amt),
                "entryPrice": str(self.position["entry"]), "breakEvenPrice": "0",
                "markPrice": str(self.mark), "unRealizedProfit": str(self._upnl()),
                "unrealizedProfit": str(self._upnl()), "liquidationPrice": "0",
                "isolatedMargin": "0", "notional": str(amt * self.mark),
                "marginAsset": "USDT", "isolatedWallet": "0",
                "initialMargin": str(abs(amt) * self.mark / LEVER), "maintMargin": "0",
                "positionInitialMargin": str(abs(amt) * self.mark / LEVER),
                "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
                "leverage": str(LEVER), "marginType": "cross", "isolated": False,
                "maxNotionalValue": "1000000", "updateTime": _now()}

    def _position_risk(self, p: dict[str, str]) -> list[dict[str, Any]]:
        return [self._position_row()]

    def _user_trades(self, p: dict[str, str]) -> list[dict[str, Any]]:
        return [t for t in self.trades if t["symbol"] == p.get("symbol", t["symbol"])]

    # -- matching, as far as the account can tell ------------------------------------------------

    def fill(self, order_id: int, price: Decimal | None = None, *, maker: bool = True) -> None:
        order = self.orders[order_id]
        px = price if price is not None else Decimal(order["price"])
        qty = Decimal(order["origQty"]) - Decimal(order["executedQty"])
        fee = qty * px * (Decimal("0.0002") if maker else Decimal("0.0005"))
        sign = 1 if order["side"] == "BUY" else -1
        amt = self.position["amt"]
        new = amt + sign * qty
        if new and (amt == 0 or (amt > 0) == (sign > 0)):
            self.position["entry"] = (self.position["entry"] * abs(amt) + px * qty) / abs(new)
        self.position["amt"] = new
        self.wallet -= fee
        order.update(status="FILLED", executedQty=order["origQty"], cumQty=order["origQty"],
                     avgPrice=str(px), cumQuote=str(qty * px), updateTime=_now())
        trade = {"symbol": order["symbol"], "id": len(self.trades) + 1,
                 "orderId": order["orderId"], "side": order["side"], "price": str(px),
                 "qty": str(qty), "realizedPnl": "0", "quoteQty": str(qty * px),
                 "commission": str(fee), "commissionAsset": "USDT", "time": _now(),
                 "positionSide": "BOTH", "buyer": sign > 0, "maker": maker}
        self.trades.append(trade)
        self._push_order(order, "TRADE", trade)
        self._push({"e": "ACCOUNT_UPDATE", "E": _now(), "T": _now(), "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": str(self.wallet), "cw": str(self.wallet), "bc": "0"}],
            "P": [{"s": "BTCUSDT", "pa": str(self.position["amt"]),
                   "ep": str(self.position["entry"]), "bep": "0", "cr": "0",
                   "up": str(self._upnl()), "mt": "cross", "iw": "0", "ps": "BOTH"}]}})

    def _push_order(self, order: dict[str, Any], exec_type: str,
                    trade: dict[str, Any] | None = None) -> None:
        self._push({"e": "ORDER_TRADE_UPDATE", "E": _now(), "T": _now(), "o": {
            "s": order["symbol"], "c": order["clientOrderId"], "S": order["side"],
            "o": order["type"], "f": order["timeInForce"], "q": order["origQty"],
            "p": order["price"], "ap": order["avgPrice"], "sp": "0", "x": exec_type,
            "X": order["status"], "i": order["orderId"],
            "l": trade["qty"] if trade else "0", "z": order["executedQty"],
            "L": trade["price"] if trade else "0", "N": "USDT",
            "n": trade["commission"] if trade else "0", "T": _now(),
            "t": trade["id"] if trade else 0, "b": "0", "a": "0",
            "m": bool(trade and trade["maker"]), "R": order["reduceOnly"],
            "wt": "CONTRACT_PRICE", "ot": order["type"], "ps": "BOTH", "cp": False, "rp": "0",
            "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}})

    def by_client_id(self, cid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["clientOrderId"] == cid), None)


class _Reject(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _now() -> int:
    return int(time.time() * 1000)
