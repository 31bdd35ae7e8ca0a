"""Serve a SimMarket over Binance's own protocols on 127.0.0.1 (websocket + REST).

One websocket port carries spot (``/ws``, ``/stream``) and USD-M futures
(``/public/...`` for depth and bookTicker, ``/market/...`` for the rest); one HTTP port
carries ``/api/v3`` and ``/fapi/v1``. A background task turns wall time into model
time and model events into frames. Each frame is encoded once and written to every
subscriber with ``broadcast`` (no per-client await), which is what lets tests and
benchmarks push tens of thousands of messages a second through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection, broadcast

from app.sim import binance_wire as wire
from app.sim.serving import FROZEN_NOW_MS  # noqa: F401 (re-exported)
from app.sim.serving import (Cadence, CandlePacer, Handler, LocalVenue, HttpRefusal, SimThread,
                             Subscribers, Weight)
from app.sim.universe import turnover_24h
from app.sim.market import (SIM_INTERVALS, ClosedKline, ModelParams, SimMarket, SimSymbol,
                            SymbolKey, SymbolSim, default_demo_symbols)

# 2026-01-01 12:34:56 UTC: a fixed "now" for screenshot tests, mid-day so that the
# day's kline is not an empty one that just opened.
KLINE_PUSH_MS = 250
KLINE_IDLE_PUSH_MS = 2000
TICKER_PUSH_MS = 1000
MALFORMED_FRAME = b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":17672'


@dataclass(frozen=True, slots=True)
class _Route:
    market: str  # which symbols the path serves: "spot" | "perp"
    family: str  # "spot" | "public" | "market"
    combined: bool
    streams: tuple[str, ...]


def parse_ws_path(path: str) -> _Route | None:
    """Route a websocket request path; None for a path Binance does not serve."""
    parts = urlsplit(path)
    p = parts.path
    family, market = "spot", "spot"
    for prefix in ("/public", "/market"):
        if p.startswith(prefix + "/"):
            family, market, p = prefix[1:], "perp", p[len(prefix):]
            break
    if p == "/ws" or p.startswith("/ws/"):
        return _Route(market, family, False, tuple(s for s in p[4:].split("/") if s))
    if p == "/stream":
        names = parse_qs(parts.query).get("streams", [""])[0]
        return _Route(market, family, True, tuple(s for s in names.split("/") if s))
    return None


@dataclass(eq=False, slots=True)
class _Client:
    ws: ServerConnection
    route: _Route
    combined: bool
    streams: dict[str, None] = field(default_factory=dict)  # ordered set, for LIST


@dataclass(eq=False, slots=True)
class _Feed:
    """Stream names and publishing state of one simulated symbol."""

    sim: SymbolSim
    market: str
    depth: tuple[str, ...]
    agg: str
    trade: str
    ticker: str
    book_ticker: str
    mark_1s: str
    mark_3s: str
    klines: dict[str, str]
    kline_pacer: CandlePacer
    carry: float = 0.0  # fractional model events owed to this symbol
    last_top: tuple[int, int, int, int] | None = None

    @classmethod
    def of(cls, sim: SymbolSim) -> _Feed:
        s = sim.spec.symbol.lower()
        return cls(sim, sim.spec.market, tuple(s + sfx for sfx in wire.DEPTH_SUFFIXES),
                   f"{s}@aggTrade", f"{s}@trade", f"{s}@ticker", f"{s}@bookTicker",
                   f"{s}@markPrice@1s", f"{s}@markPrice",
                   {iv: f"{s}@kline_{iv}" for iv in SIM_INTERVALS}, CandlePacer(KLINE_IDLE_PUSH_MS))


class _Refusal(HttpRefusal):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _bad_symbol() -> _Refusal:
    return _Refusal(-1121, "Invalid symbol.")


def _mandatory(name: str) -> _Refusal:
    return _Refusal(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                             "or malformed.")


def _int_param(query: Any, name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise _Refusal(-1100, f"Illegal characters found in parameter '{name}'; legal "
                                "range is '^[0-9]{1,20}$'.")
    return int(raw)


def _ws_error(code: int, msg: str, rid: Any) -> bytes:
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": rid})


class BinanceSim(LocalVenue):
    """A local Binance: ``async with BinanceSim(symbols, seed=1) as sim: sim.ws_url``.

    Test knobs (call them on the sim's event loop, or through ``BinanceSimThread``):
    ``pause``/``resume``, ``pump``, ``drop_connections``, ``skip_sequence``,
    ``send_malformed``, ``set_rate``, ``truth``, ``last_sent_update_id``,
    ``frames_sent``, ``connections``.
    """

    _malformed_frame = MALFORMED_FRAME

    def __init__(self, symbols: list[SimSymbol] | None = None, *, seed: int = 1,
                 rate: float = 20.0, depth_interval_ms: int = 100,
                 start_time_ms: int | None = None, levels: int = 200,
                 warmup_steps: int = 0, warmup_step_ms: int = 0, paused: bool = False,
                 params: ModelParams | None = None, anchors: Any = None) -> None:
        if depth_interval_ms < 0:
            raise ValueError("depth_interval_ms must be >= 0")
        super().__init__(SimMarket(symbols or default_demo_symbols(), seed, start_time_ms,
                                   levels, params),
                         rate=rate, paused=paused, warmup_steps=warmup_steps,
                         warmup_step_ms=warmup_step_ms, anchors=anchors, venue="binance")
        self.depth_interval_ms = depth_interval_ms
        self._feeds = [_Feed.of(self.market.sim(sym, mkt)) for mkt, sym in self.market.keys()]
        self._feed_by_lower = {(f.market, f.sim.spec.symbol.lower()): f for f in self._feeds}
        self._turnover = turnover_24h([f.sim.spec.base for f in self._feeds])
        self._subs: Subscribers[tuple[str, str], _Client] = Subscribers()
        self._skip: set[SymbolKey] = set()
        self._last_sent_u: dict[SymbolKey, int] = {}
        now = self.market.now_ms
        self._depth_due = Cadence.starting(now, depth_interval_ms)
        self._kline_due = Cadence.starting(now, KLINE_PUSH_MS)
        self._ticker_due = Cadence.starting(now, TICKER_PUSH_MS)
        self._mark_3s_due = Cadence.starting(now, 3 * TICKER_PUSH_MS)

    @classmethod
    def in_thread(cls, symbols: list[SimSymbol] | None = None, **kwargs: Any) -> BinanceSimThread:
        """Start a sim on its own thread and loop; returns once its ports are known."""
        return BinanceSimThread(symbols, **kwargs).start()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen([
            ("/api/v3/ping", self._rest(self._ping, "spot")),
            ("/api/v3/time", self._rest(self._time, "spot")),
            ("/api/v3/depth", self._rest(self._depth, "spot", _by_limit(100, _SPOT_DEPTH))),
            ("/api/v3/klines", self._rest(self._klines, "spot", 2)),
            ("/api/v3/exchangeInfo", self._rest(self._exchange_info, "spot", 20)),
            ("/api/v3/ticker/24hr", self._rest(self._ticker_24h, "spot", _ticker_weight(2, 80))),
            ("/fapi/v1/ping", self._rest(self._ping, "perp")),
            ("/fapi/v1/time", self._rest(self._time, "perp")),
            ("/fapi/v1/depth", self._rest(self._depth, "perp", _by_limit(500, _PERP_DEPTH))),
            ("/fapi/v1/klines", self._rest(self._klines, "perp", _by_limit(500, _PERP_KLINES))),
            ("/fapi/v1/exchangeInfo", self._rest(self._exchange_info, "perp")),
            ("/fapi/v1/ticker/24hr", self._rest(self._ticker_24h, "perp", _ticker_weight(1, 40))),
            ("/fapi/v1/premiumIndex", self._rest(self._premium_index, "perp")),
        ], ws_path='', clock_name='binance-sim-clock',
            max_size=16 * 2**20, process_request=self._check_path)

    # -- knobs -------------------------------------------------------------------------

    def skip_sequence(self, symbol: str, market: str | None = None) -> None:
        """Silently drop the next depth diff frame of ``symbol`` (a sequence gap)."""
        self._skip.add(self.market.sim(symbol, market).spec.key)

    def truth(self, symbol: str, market: str | None = None
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.market.truth(symbol, market)

    def last_sent_update_id(self, symbol: str, market: str | None = None) -> int | None:
        """``u`` of the last depth diff actually sent for ``symbol`` (None: none yet)."""
        return self._last_sent_u.get(self.market.sim(symbol, market).spec.key)

    # -- clock ---------------------------------------------------------------------------

    def _paced(self) -> list[_Feed]:
        return self._feeds

    def _flush(self, unit: _Feed) -> None:
        self._flush_depth(unit)

    def _advance(self, dt_ms: int, counts: list[int], force_periodic: bool) -> None:
        market = self.market
        for ck in market.advance(dt_ms) if dt_ms else ():
            self._publish_closed_kline(ck)
        now = market.now_ms
        per_event_depth = self.depth_interval_ms == 0
        for f, n in zip(self._feeds, counts):
            if n:
                self._run_events(f, n, now, per_event_depth)
        # per-event depth has already gone out; only a pump still forces a round
        if (force_periodic or not per_event_depth) and self._depth_due.due(now, force_periodic):
            for f in self._feeds:
                self._flush_depth(f)
        if self._kline_due.due(now, force_periodic):
            for f in self._feeds:
                self._publish_klines(f, force_periodic)
        if self._ticker_due.due(now, force_periodic):
            mark_3s = self._mark_3s_due.due(now, force_periodic)
            for f in self._feeds:
                self._publish_ticker(f)
                if f.market == "perp":
                    self._publish_mark(f, mark_3s)

    def _run_events(self, f: _Feed, n: int, now: int, per_event_depth: bool) -> None:
        sim, market, subs = f.sim, f.market, self._subs
        want_agg = bool(subs.get((market, f.agg)))
        want_trade = bool(subs.get((market, f.trade)))
        want_top = bool(subs.get((market, f.book_ticker)))
        for _ in range(n):
            fills = sim.step(now)
            if fills and want_agg:
                for fill in fills:
                    self._send(subs[(market, f.agg)], f.agg,
                               orjson.dumps(wire.agg_trade(sim, fill, now)))
            if fills and want_trade:
                for fill in fills:
                    for msg in wire.trades(sim, fill, now):
                        self._send(subs[(market, f.trade)], f.trade, orjson.dumps(msg))
            if per_event_depth:
                self._flush_depth(f)
            if want_top:
                self._publish_book_ticker(f, now)

    # -- publishing ----------------------------------------------------------------------

    def _send(self, clients: Collection[_Client], stream: str, payload: bytes) -> None:
        raw: list[ServerConnection] = []
        combined: list[ServerConnection] = []
        for c in clients:
            (combined if c.combined else raw).append(c.ws)
        if raw:
            broadcast(raw, payload, text=True)
        if combined:
            broadcast(combined, b"".join((b'{"stream":"', stream.encode(), b'","data":',
                                          payload, b"}")), text=True)
        self.frames_sent += len(clients)

    def _flush_depth(self, f: _Feed) -> None:
        book = f.sim.book
        if not book.has_pending():
            return
        targets = [(name, clients) for name in f.depth
                   if (clients := self._subs.get((f.market, name)))]
        key = f.sim.spec.key
        if not targets:
            book.discard_diff()  # the truth moves on; nobody pays for encoding it
            return
        if key in self._skip:
            self._skip.discard(key)
            book.discard_diff()
            return
        diff = book.take_diff()
        assert diff is not None
        payload = orjson.dumps(wire.depth_update(f.sim, diff, self.market.now_ms))
        for name, clients in targets:
            self._send(self._audible(clients), name, payload)
        self._last_sent_u[key] = diff.last_id

    def _publish_klines(self, f: _Feed, force: bool) -> None:
        now = self.market.now_ms
        for iv, name in f.klines.items():
            clients = self._subs.get((f.market, name))
            if not clients:
                continue
            series = f.sim.series[iv]
            # changed klines go out at most every 250 ms, unchanged ones every 2 s
            if f.kline_pacer.due(iv, series.version, now, force):
                self._send(clients, name, orjson.dumps(wire.kline(f.sim, iv, series.current, now)))

    def _publish_closed_kline(self, ck: ClosedKline) -> None:
        f = self._feed_by_lower[(ck.key[0], ck.key[1].lower())]
        name = f.klines[ck.interval]
        clients = self._subs.get((f.market, name))
        if clients:
            self._send(clients, name, orjson.dumps(
                wire.kline(f.sim, ck.interval, ck.candle, self.market.now_ms)))

    def _publish_ticker(self, f: _Feed) -> None:
        clients = self._subs.get((f.market, f.ticker))
        if clients:
            now = self.market.now_ms
            self._send(clients, f.ticker,
                       orjson.dumps(wire.ticker_24h(f.sim, f.sim.stats(now), now)))

    def _publish_mark(self, f: _Feed, include_3s: bool) -> None:
        fast = self._subs.get((f.market, f.mark_1s))
        slow = self._subs.get((f.market, f.mark_3s)) if include_3s else None
        if not fast and not slow:
            return
        now = self.market.now_ms
        payload = orjson.dumps(wire.mark_price(f.sim, f.sim.mark(now), now))
        if fast:
            self._send(fast, f.mark_1s, payload)
        if slow:
            self._send(slow, f.mark_3s, payload)

    def _publish_book_ticker(self, f: _Feed, now: int) -> None:
        book = f.sim.book
        bb, ba = book.best_bid(), book.best_ask()
        top = (bb, book.bids[bb], ba, book.asks[ba])
        if top != f.last_top:
            f.last_top = top
            self._send(self._subs[(f.market, f.book_ticker)], f.book_ticker,
                       orjson.dumps(wire.book_ticker(f.sim, now)))

    # -- websocket -----------------------------------------------------------------------

    def _ws_route(self, path: str) -> _Route | None:
        return parse_ws_path(path)

    async def _handle_ws(self, ws: ServerConnection) -> None:
        route = parse_ws_path(ws.request.path if ws.request else "")
        if route is None:  # _check_path already refused it; defensive only
            return
        client = _Client(ws, route, route.combined)
        for name in route.streams:
            self._subscribe(client, name)
        await self._converse(client)

    def _forget(self, client: _Client) -> None:
        for name in client.streams:
            self._unsubscribe_target(client, name)

    def _on_message(self, client: _Client, message: str | bytes) -> bytes:
        """Answer one client request the way Binance does; never raises."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError as e:
            return _ws_error(3, f"Invalid JSON: {e}", None)
        if not isinstance(req, dict):
            return _ws_error(2, "Invalid request: expected a JSON object", None)
        rid = req.get("id")
        if isinstance(rid, bool) or (rid is not None and not isinstance(rid, (int, str))):
            return _ws_error(2, "Invalid request: request ID must be an unsigned integer",
                             None)
        method = req.get("method")
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return _ws_error(2, "Invalid request: params must be a list of strings", rid)
            for name in params:
                if method == "SUBSCRIBE":
                    self._subscribe(client, name)
                else:
                    self._unsubscribe(client, name)
            return orjson.dumps({"result": None, "id": rid})
        if method == "LIST_SUBSCRIPTIONS":
            return orjson.dumps({"result": list(client.streams), "id": rid})
        if method == "SET_PROPERTY":
            if (isinstance(params, list) and len(params) == 2 and params[0] == "combined"
                    and isinstance(params[1], bool)):
                client.combined = params[1]
                return orjson.dumps({"result": None, "id": rid})
            return _ws_error(2, "Invalid request: invalid property", rid)
        if method == "GET_PROPERTY":
            if params == ["combined"]:
                return orjson.dumps({"result": client.combined, "id": rid})
            return _ws_error(2, "Invalid request: invalid property", rid)
        if method is None:
            return _ws_error(2, "Invalid request: missing field `method`", rid)
        return _ws_error(2, f"Invalid request: unknown variant `{method}`, expected one of "
                            "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, "
                            "`SET_PROPERTY`, `GET_PROPERTY`", rid)

    def _target(self, client: _Client, name: str) -> tuple[str, str] | None:
        """Where frames for ``name`` come from on this connection; None = acked but silent
        (unknown stream or symbol, or a USD-M stream on the wrong path, as on the venue)."""
        parsed = wire.parse_stream(name)
        if parsed is None:
            return None
        route = client.route
        if (route.market, parsed.symbol) not in self._feed_by_lower:
            return None
        if route.family == "spot" and parsed.kind == "markPrice":
            return None
        if route.family == "public" and parsed.kind not in wire.PUBLIC_KINDS:
            return None
        if route.family == "market" and parsed.kind not in wire.MARKET_KINDS:
            return None
        return (route.market, name)

    def _subscribe(self, client: _Client, name: str) -> None:
        if name in client.streams:
            return
        client.streams[name] = None
        target = self._target(client, name)
        if target is not None:
            self._subs.add(target, client)
            if "@depth" in name:
                self._book_subscribed(client)

    def _unsubscribe(self, client: _Client, name: str) -> None:
        if client.streams.pop(name, 0) is None:
            self._unsubscribe_target(client, name)

    def _unsubscribe_target(self, client: _Client, name: str) -> None:
        target = self._target(client, name)
        if target is not None:
            self._subs.drop(target, client)

    # -- REST ----------------------------------------------------------------------------

    def _ping(self, query: Any, market: str) -> dict[str, Any]:
        return {}

    def _time(self, query: Any, market: str) -> dict[str, Any]:
        return {"serverTime": self.market.now_ms}

    def _rest(self, handler: Callable[[Any, str], Any], market: str, weight: Weight = 1) -> Handler:
        return self._endpoint(lambda request: handler(request.query, market), weight)

    def _refusal(self, error: _Refusal) -> dict[str, Any]:
        return {"code": error.code, "msg": error.msg}

    def _feed(self, query: Any, market: str) -> _Feed:
        symbol = query.get("symbol")
        if not symbol:
            raise _mandatory("symbol")
        feed = self._feed_by_lower.get((market, symbol.lower()))
        if feed is None or feed.sim.spec.symbol != symbol:
            raise _bad_symbol()
        return feed

    def _depth(self, query: Any, market: str) -> dict[str, Any]:
        feed = self._feed(query, market)
        limit = _int_param(query, "limit", 100)
        assert limit is not None
        if limit < 1 or (market == "perp" and limit > 1000):
            raise _Refusal(-1130, "Data sent for parameter 'limit' is not valid.")
        # Spot truncates an oversized limit to 5000 instead of refusing it.
        return self.market.snapshot(feed.sim.spec.symbol, min(limit, 5000), market)

    def _klines(self, query: Any, market: str) -> list[list[Any]]:
        feed = self._feed(query, market)
        interval = query.get("interval")
        if not interval:
            raise _mandatory("interval")
        if interval not in SIM_INTERVALS:
            raise _Refusal(-1120, "Invalid interval.")
        limit = _int_param(query, "limit", 500)
        start = _int_param(query, "startTime", None)
        end = _int_param(query, "endTime", None)
        assert limit is not None
        if limit < 1 or limit > (1000 if market == "spot" else 1500):
            raise _Refusal(-1130, "Data sent for parameter 'limit' is not valid.")
        if start is not None and end is not None and start > end:
            raise _Refusal(-1023, "Start time is greater than end time.")
        rows = self.market.klines(feed.sim.spec.symbol, interval, start, end, limit, market)
        return [wire.kline_row(feed.sim, c) for c in rows]

    def _exchange_info(self, query: Any, market: str) -> dict[str, Any]:
        sims = [f.sim for f in self._feeds if f.market == market]
        wanted: list[str] = []
        if query.get("symbol"):
            wanted = [query["symbol"]]
        elif query.get("symbols"):
            try:
                wanted = orjson.loads(query["symbols"])
            except orjson.JSONDecodeError:
                raise _Refusal(-1100, "Illegal characters found in parameter 'symbols'; "
                                        "legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]"
                                        "{1,20}\"){0,}){0,1}\\]$'.") from None
        if wanted and market == "spot":
            by_name = {s.spec.symbol: s for s in sims}
            if not isinstance(wanted, list) or any(w not in by_name for w in wanted):
                raise _bad_symbol()
            sims = [by_name[w] for w in wanted]
        now = self.market.now_ms
        if market == "spot":
            return wire.exchange_info_spot(sims, now)
        return wire.exchange_info_usdm(sims, now)  # the futures endpoint takes no filter

    def _ticker_24h(self, query: Any, market: str) -> Any:
        """One symbol's 24h ticker (``symbol=``), or every symbol's as a list."""
        now = self.market.now_ms
        if query.get("symbol"):
            feed = self._feed(query, market)
            return wire.ticker_24h_rest(feed.sim, feed.sim.stats(now),
                                        self._turnover[feed.sim.spec.base], now)
        return [wire.ticker_24h_rest(f.sim, f.sim.stats(now), self._turnover[f.sim.spec.base], now)
                for f in self._feeds if f.market == market]

    def _premium_index(self, query: Any, market: str) -> Any:
        now = self.market.now_ms
        if query.get("symbol"):
            feed = self._feed(query, market)
            return wire.premium_index(feed.sim, feed.sim.mark(now), now)
        return [wire.premium_index(f.sim, f.sim.mark(now), now)
                for f in self._feeds if f.market == "perp"]


# Binance's published weights by ``limit``: (the largest limit of a tier, its weight)
_SPOT_DEPTH = ((100, 5), (500, 25), (1000, 50), (5000, 250))
_PERP_DEPTH = ((50, 2), (100, 5), (500, 10), (1000, 20))
_PERP_KLINES = ((99, 1), (499, 2), (1000, 5), (1500, 10))


def _by_limit(default: int, tiers: tuple[tuple[int, int], ...]) -> Callable[[Any], int]:
    def weight(request: Any) -> int:
        try:
            limit = int(request.query.get("limit", default))
        except ValueError:
            limit = default
        return next((w for top, w in tiers if limit <= top), tiers[-1][1])
    return weight


def _ticker_weight(one: int, every: int) -> Callable[[Any], int]:
    """Binance weighs a 24h ticker request by its symbols: ``one`` for a single symbol,
    ``every`` for the whole market."""
    return lambda request: one if request.query.get("symbol") else every


class BinanceSimThread(SimThread):
    """A BinanceSim on its own thread and loop (``--demo``); every knob is marshalled
    onto the sim's loop."""

    sim_class = BinanceSim

    @property
    def sim(self) -> BinanceSim:
        return super().sim
