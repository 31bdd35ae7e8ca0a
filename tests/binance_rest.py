"""A small Binance REST server on 127.0.0.1 for backfill tests: exchangeInfo (spot and
USD-M, from the simulator's wire builders) and klines with Binance's paging rules
(startTime/endTime/limit, row limit per market), plus knobs for the failures a backfill
must survive: queued error responses (429 with Retry-After), holes where the venue has
no data, and a request log to assert what the client asked."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson

from app.market.klines import INTERVAL_MS
from app.sim import binance_wire as wire
from app.sim.market import SimMarket, SimSymbol

SYMBOLS = [
    SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 30_000.0),
    SimSymbol("ETHUSDT", "ETH", "USDT", "spot", 2_000.0),
    SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 30_010.0, 0.1, 0.001, min_notional=100.0),
]


def kline_price(symbol: str, open_time: int) -> tuple[float, float, float, float, float]:
    """Deterministic OHLCV of one candle (tests recompute it to check stored rows)."""
    base = 30_000.0 if symbol.startswith("BTC") else 2_000.0
    n = open_time // 60_000
    o = base + (n % 97) * 1.5
    c = o + ((n % 5) - 2) * 0.5
    return o, max(o, c) + 1.0, min(o, c) - 1.0, c, 1.0 + (n % 11)


@dataclass
class Scripted:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class BinanceRest:
    def __init__(self, now_ms: int, listed_ms: int = 0) -> None:
        self.now_ms = now_ms  # the server's "now": no candle opens after it
        self.listed_ms = listed_ms  # no candle before the listing
        self.holes: list[tuple[int, int]] = []  # [start, end) with no candles (maintenance)
        self.scripted: list[Scripted] = []  # served, in order, to the next klines requests
        self.log: list[tuple[float, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        market = SimMarket(SYMBOLS, seed=3, start_time_ms=now_ms)
        self._spot = [market.sim(s.symbol, "spot") for s in SYMBOLS if s.market == "spot"]
        self._perp = [market.sim(s.symbol, "perp") for s in SYMBOLS if s.market == "perp"]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BinanceRest:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def kline_requests(self) -> list[dict[str, str]]:
        return [q for _, path, q in self.log if path.endswith("/klines")]

    def rate_limit_once(self, retry_after: int = 1) -> None:
        self.scripted.append(Scripted(429, b'{"code":-1003,"msg":"Too many requests."}',
                                      {"Retry-After": str(retry_after)}))

    # -- serving -------------------------------------------------------------------

    def _klines(self, path: str, q: dict[str, str]) -> tuple[int, bytes]:
        spot = path.startswith("/api/")
        sims = self._spot if spot else self._perp
        symbol = q.get("symbol", "")
        if symbol not in {s.spec.symbol for s in sims}:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
        interval = q.get("interval", "")
        if interval not in INTERVAL_MS:
            return 400, b'{"code":-1120,"msg":"Invalid interval."}'
        step = INTERVAL_MS[interval]
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= (1000 if spot else 1500):
            return 400, b'{"code":-1130,"msg":"Data sent for parameter \'limit\' is not valid."}'
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else self.now_ms
        last_open = min(end, self.now_ms) // step * step
        if start is None:
            t = max(self.listed_ms, last_open - (limit - 1) * step)
        else:
            t = max(start, self.listed_ms)
        t = -(-t // step) * step  # the first candle opening at or after the start
        rows = []
        while t <= last_open and len(rows) < limit:
            if not any(a <= t < b for a, b in self.holes):
                o, h, lo, c, v = kline_price(symbol, t)
                rows.append([t, f"{o:.2f}", f"{h:.2f}", f"{lo:.2f}", f"{c:.2f}", f"{v:.5f}",
                             t + step - 1, "0", 10, "0", "0", "0"])
            t += step
        return 200, orjson.dumps(rows)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with server._lock:
                    server.log.append((time.monotonic(), parts.path, q))
                    scripted = server.scripted.pop(0) if (server.scripted and
                                                          parts.path.endswith("/klines")) else None
                headers: dict[str, str] = {}
                if scripted is not None:
                    status, body, headers = scripted.status, scripted.body, scripted.headers
                elif parts.path == "/api/v3/exchangeInfo":
                    status, body = 200, orjson.dumps(wire.exchange_info_spot(server._spot, server.now_ms))
                elif parts.path == "/fapi/v1/exchangeInfo":
                    status, body = 200, orjson.dumps(wire.exchange_info_usdm(server._perp, server.now_ms))
                elif parts.path in ("/api/v3/klines", "/fapi/v1/klines"):
                    status, body = server._klines(parts.path, q)
                elif parts.path in ("/api/v3/time", "/fapi/v1/time"):
                    status, body = 200, orjson.dumps({"serverTime": server.now_ms})
                else:
                    status, body = 404, b'{"code":-1,"msg":"not served by the test server"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        return Handler
