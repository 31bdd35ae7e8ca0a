"""Serve a SimMarket over Coinbase Advanced Trade's protocols on 127.0.0.1.

One websocket port (any path) speaks the Advanced Trade market-data protocol: one
channel per subscribe message, acks on channel ``subscriptions``, ``l2_data`` snapshot
then updates, ``market_trades`` batched every 250 ms, ``ticker``, 5-minute ``candles``
and ``heartbeats`` once a second. Every message carries the connection's own
``sequence_num`` (acks and heartbeats included), so each frame's events are encoded
once and only the number is written per client. A connection with no heartbeats
subscription that hears nothing for ``idle_close_s`` is closed, as Coinbase closes
quiet channels. One HTTP port serves the public ``/api/v3/brokerage`` endpoints the
codec uses (products, candles, product book, time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection, broadcast

from app.market.klines import INTERVAL_MS
from app.sim import coinbase_wire as wire
from app.sim.serving import Cadence, LocalVenue, HttpRefusal, SimThread, Subscribers
from app.sim.market import ClosedKline, Fill, ModelParams, SimMarket, SimSymbol, SymbolSim
from app.sim.universe import turnover_24h

TRADES_BATCH_MS = 250
TICKER_PUSH_MS = 1000
CANDLE_PUSH_MS = 1000
RECENT_TRADES = 50  # what a market_trades subscription's snapshot holds
CANDLES_MAX_ROWS = 350
MALFORMED_FRAME = b'{"channel":"l2_data","client_id":"","timestamp":"2026-01-01T00:00:00Z","sequence_num":'


def default_coinbase_symbols() -> list[SimSymbol]:
    """BTC-USD and ETH-USD with Coinbase's real steps (0.01 price, 1e-8 size)."""
    return [SimSymbol("BTC-USD", "BTC", "USD", "spot", 97_000.0, 0.01, 0.00000001, min_notional=1.0),
            SimSymbol("ETH-USD", "ETH", "USD", "spot", 3_400.0, 0.01, 0.00000001, min_notional=1.0)]


@dataclass(eq=False, slots=True)
class _Client:
    ws: ServerConnection
    last_sent: float  # loop time of the last frame sent, for the idle close
    seq: int = 0  # sequence_num of the next message
    subs: dict[str, dict[str, None]] = field(default_factory=dict)  # channel -> ordered product ids
    heartbeats: bool = False
    heartbeat_counter: int = 0
    skip_next: bool = False


@dataclass(eq=False, slots=True)
class _Product:
    sim: SymbolSim
    pid: str
    zero: str  # the quantity string of an empty level ("0.00000000")
    pending: list[Fill] = field(default_factory=list)  # trades not yet batched out
    recent: deque[Fill] = field(default_factory=lambda: deque(maxlen=RECENT_TRADES))
    candle_version: int = -1
    carry: float = 0.0


class _Refusal(HttpRefusal):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


class CoinbaseSim(LocalVenue):
    """A local Coinbase: ``async with CoinbaseSim(seed=1) as sim: sim.ws_url``.

    Knobs (call them on the sim's loop, or through ``CoinbaseSimThread``): ``pause``,
    ``resume``, ``pump``, ``set_rate``, ``drop_connections``, ``skip_sequence`` (the
    next message to each connection is not sent: the client sees a sequence_num jump),
    ``send_malformed``, ``truth``, ``frames_sent``, ``connections``. ``levels`` sizes
    the books (levels=5000 gives multi-megabyte level2 snapshots). Heartbeats keep
    going while paused, as on the venue.
    """

    _malformed_frame = MALFORMED_FRAME  # it uses no sequence_num

    def __init__(self, symbols: list[SimSymbol] | None = None, *, seed: int = 1,
                 rate: float = 20.0, l2_interval_ms: int = 50, start_time_ms: int | None = None,
                 levels: int = 200, warmup_steps: int = 0, warmup_step_ms: int = 0,
                 paused: bool = False, params: ModelParams | None = None,
                 heartbeat_s: float = 1.0, idle_close_s: float | None = 75.0) -> None:
        if l2_interval_ms <= 0:
            raise ValueError("l2_interval_ms must be > 0")
        symbols = symbols or default_coinbase_symbols()
        if any(s.market != "spot" for s in symbols):
            raise ValueError("Coinbase Advanced Trade serves spot products only")
        super().__init__(SimMarket(symbols, seed, start_time_ms, levels, params),
                         rate=rate, paused=paused, warmup_steps=warmup_steps,
                         warmup_step_ms=warmup_step_ms)
        self.l2_interval_ms = l2_interval_ms
        self.heartbeat_s = heartbeat_s
        self.idle_close_s = idle_close_s
        self._next_heartbeat = 0.0  # loop time; set when the clock starts
        self._products: dict[str, _Product] = {}
        for _, sym in self.market.keys():
            sim = self.market.sim(sym, "spot")
            self._products[sym] = _Product(sim, sym, sim.qty.fmt(0))
        self._turnover = turnover_24h([p.sim.spec.base for p in self._products.values()])
        self._subs: Subscribers[tuple[str, str], _Client] = Subscribers()  # (channel, product)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.frames_skipped = 0
        now = self.market.now_ms
        self._l2_due = Cadence.starting(now, l2_interval_ms)
        self._trades_due = Cadence.starting(now, TRADES_BATCH_MS)
        self._ticker_due = Cadence.starting(now, TICKER_PUSH_MS)
        self._candles_due = Cadence.starting(now, CANDLE_PUSH_MS)

    @classmethod
    def in_thread(cls, symbols: list[SimSymbol] | None = None, **kwargs: Any) -> CoinbaseSimThread:
        return CoinbaseSimThread(symbols, **kwargs).start()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        base = "/api/v3/brokerage"
        await self._listen([
            (f"{base}/time", self._endpoint(self._time)),
            (f"{base}/market/products", self._endpoint(self._products_list)),
            (f"{base}/market/products/{{product_id}}", self._endpoint(self._product)),
            (f"{base}/market/products/{{product_id}}/candles", self._endpoint(self._candles)),
            (f"{base}/market/product_book", self._endpoint(self._product_book)),
        ], clock_name='coinbase-sim-clock')

    async def stop(self) -> None:
        await super().stop()
        for task in list(self._tasks):
            task.cancel()

    # -- knobs -------------------------------------------------------------------------

    def skip_sequence(self) -> None:
        """The next message due to each connection is not sent (its sequence_num is
        used up), so every client sees a jump."""
        for c in self._clients:
            c.skip_next = True

    def truth(self, product_id: str, market: str | None = "spot"
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.market.truth(product_id, "spot")

    # -- clock ---------------------------------------------------------------------------

    def _paced(self) -> Collection[_Product]:
        return self._products.values()

    def _flush(self, unit: _Product) -> None:
        self._flush_l2(unit)
        self._flush_trades(unit)

    def _clock_started(self, now: float) -> None:
        self._next_heartbeat = now + self.heartbeat_s

    def _wall_tick(self, now: float) -> None:
        if now >= self._next_heartbeat:  # wall time: heartbeats do not stop with the model
            self._next_heartbeat = now + self.heartbeat_s
            self._heartbeat()
            self._close_idle(now)

    def _advance(self, dt_ms: int, counts: list[int], force: bool) -> None:
        market = self.market
        closed = market.advance(dt_ms) if dt_ms else []
        now = market.now_ms
        for p, n in zip(self._products.values(), counts):
            for _ in range(n):
                fills = p.sim.step(now)
                if fills:
                    p.recent.extend(fills)
                    if self._subs.get(("market_trades", p.pid)):
                        p.pending.extend(fills)
        for ck in closed:
            self._publish_closed_candle(ck)
        if self._l2_due.due(now, force):
            for p in self._products.values():
                self._flush_l2(p)
        if self._trades_due.due(now, force):
            for p in self._products.values():
                self._flush_trades(p)
        if self._ticker_due.due(now, force):
            for p in self._products.values():
                self._publish_ticker(p)
        if self._candles_due.due(now, force):
            for p in self._products.values():
                self._publish_candle(p, force)

    # -- sending -------------------------------------------------------------------------

    def _send(self, c: _Client, head: bytes, tail: bytes) -> None:
        seq = c.seq
        c.seq = seq + 1
        if c.skip_next:
            c.skip_next = False
            self.frames_skipped += 1
            return
        broadcast([c.ws], b"".join((head, str(seq).encode(), tail)), text=True)
        c.last_sent = asyncio.get_running_loop().time()
        self.frames_sent += 1

    def _emit(self, clients: Collection[_Client], channel: str,
              events: list[dict[str, Any]]) -> None:
        head, tail = wire.frame_parts(channel, self.market.now_ms, orjson.dumps(events))
        for c in list(clients):
            self._send(c, head, tail)

    def _flush_l2(self, p: _Product) -> None:
        book = p.sim.book
        if not book.has_pending():
            return
        clients = self._subs.get(("level2", p.pid))
        if not clients:
            book.discard_diff()  # the truth moves on; nobody pays for encoding it
            return
        diff = book.take_diff()
        assert diff is not None
        event = wire.l2_event("update", p.pid, diff.bids, diff.asks,
                              wire.iso(self.market.now_ms), p.zero)
        self._emit(self._audible(clients), "l2_data", [event])

    def _l2_snapshot(self, c: _Client, p: _Product) -> None:
        book = p.sim.book
        event = wire.l2_event("snapshot", p.pid, book.levels(True), book.levels(False),
                              "1970-01-01T00:00:00Z", p.zero)
        self._emit(self._audible([c]), "l2_data", [event])

    def _flush_trades(self, p: _Product) -> None:
        fills, p.pending = p.pending, []
        clients = self._subs.get(("market_trades", p.pid))
        if not fills or not clients:
            return
        self._emit(clients, "market_trades", [{"type": "update", "trades": self._trade_rows(p, fills)}])

    def _trade_rows(self, p: _Product, fills: list[Fill] | deque[Fill]) -> list[dict[str, Any]]:
        rows = [t for f in fills for t in wire.trades(p.sim, p.pid, f)]
        rows.reverse()  # Coinbase lists a batch newest first
        return rows

    def _publish_ticker(self, p: _Product, only: _Client | None = None, kind: str = "update") -> None:
        clients = [only] if only is not None else self._subs.get(("ticker", p.pid))
        if clients:
            self._emit(clients, "ticker", [{"type": kind, "tickers": [
                wire.ticker(p.sim, p.pid, self.market.now_ms)]}])

    def _publish_candle(self, p: _Product, force: bool) -> None:
        clients = self._subs.get(("candles", p.pid))
        series = p.sim.series["5m"]
        if not clients or (series.version == p.candle_version and not force):
            return
        p.candle_version = series.version
        self._emit(clients, "candles", [{"type": "update", "candles": [
            wire.candle(p.sim, p.pid, series.current)]}])

    def _publish_closed_candle(self, ck: ClosedKline) -> None:
        if ck.interval != "5m":
            return
        p = self._products[ck.key[1]]
        clients = self._subs.get(("candles", p.pid))
        if clients:
            self._emit(clients, "candles", [{"type": "update", "candles": [
                wire.candle(p.sim, p.pid, ck.candle)]}])

    def _heartbeat(self) -> None:
        now = self.market.now_ms
        for c in list(self._clients):
            if c.heartbeats:
                c.heartbeat_counter += 1
                events = [{"current_time": wire.iso(now).replace("T", " ")[:-1] + " +0000 UTC",
                           "heartbeat_counter": str(c.heartbeat_counter)}]
                head, tail = wire.frame_parts("heartbeats", now, orjson.dumps(events))
                self._send(c, head, tail)

    def _close_idle(self, now: float) -> None:
        limit = self.idle_close_s
        if limit is None:
            return
        for c in list(self._clients):
            if not c.heartbeats and now - c.last_sent > limit:
                task = asyncio.get_running_loop().create_task(c.ws.close(1000, "idle"))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                c.last_sent = now  # one close is enough

    # -- websocket -----------------------------------------------------------------------

    async def _handle_ws(self, ws: ServerConnection) -> None:
        await self._converse(_Client(ws, asyncio.get_running_loop().time()))

    def _forget(self, client: _Client) -> None:
        for channel, pids in client.subs.items():
            for pid in pids:
                self._subs.drop((channel, pid), client)

    def _error(self, c: _Client, message: str) -> None:
        # Errors carry no sequence_num.
        self._broadcast([c], orjson.dumps({"type": "error", "message": "Failure to subscribe",
                                           "reason": message}))

    def _on_message(self, c: _Client, message: str | bytes) -> None:
        """Answer one client request the way Coinbase does; never raises."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            return self._error(c, "malformed JSON")
        if not isinstance(req, dict):
            return self._error(c, "expected a JSON object")
        kind, channel, pids = req.get("type"), req.get("channel"), req.get("product_ids", [])
        if kind not in ("subscribe", "unsubscribe"):
            return self._error(c, f"unknown message type {kind!r}")
        if channel not in wire.CHANNELS:
            return self._error(c, f"unknown channel {channel!r}")
        if not isinstance(pids, list) or not all(isinstance(p, str) for p in pids):
            return self._error(c, "product_ids must be a list of strings")
        if channel == "heartbeats":
            c.heartbeats = kind == "subscribe"
            return self._ack(c)
        if not pids:
            return self._error(c, "product_ids is required")
        unknown = [p for p in pids if p not in self._products]
        if unknown:
            return self._error(c, f"unknown product id(s) {', '.join(unknown)}")
        if kind == "unsubscribe":
            subs = c.subs.get(channel, {})
            for pid in pids:
                if subs.pop(pid, 0) is None:
                    self._subs.drop((channel, pid), c)
            return self._ack(c)
        fresh = [pid for pid in pids if pid not in c.subs.get(channel, {})]
        for pid in fresh:
            p = self._products[pid]
            if channel == "level2":
                # Changes made so far go to the existing subscribers; the new one starts
                # from a snapshot that already holds them.
                self._flush_l2(p)
                self._book_subscribed(c)
            c.subs.setdefault(channel, {})[pid] = None
            self._subs.add((channel, pid), c)
        self._ack(c)
        for pid in fresh:
            self._snapshot(c, channel, self._products[pid])

    def _snapshot(self, c: _Client, channel: str, p: _Product) -> None:
        if channel == "level2":
            self._l2_snapshot(c, p)
        elif channel == "market_trades":
            self._emit([c], "market_trades", [{"type": "snapshot", "trades": self._trade_rows(p, p.recent)}])
        elif channel == "ticker":
            self._publish_ticker(p, only=c, kind="snapshot")
        elif channel == "candles":
            self._emit([c], "candles", [{"type": "snapshot", "candles": [
                wire.candle(p.sim, p.pid, p.sim.series["5m"].current)]}])

    def _ack(self, c: _Client) -> None:
        subs: dict[str, list[str]] = {ch: list(pids) for ch, pids in c.subs.items() if pids}
        if c.heartbeats:
            subs["heartbeats"] = ["heartbeats"]
        self._emit([c], "subscriptions", [{"subscriptions": subs}])

    # -- REST ----------------------------------------------------------------------------

    def _refusal(self, error: _Refusal) -> dict[str, Any]:
        return {"error": error.error, "error_details": error.message, "message": error.message}

    def _product_of(self, pid: str | None) -> _Product:
        p = self._products.get(pid or "")
        if p is None:
            raise _Refusal(404, "NOT_FOUND", "ProductID is invalid")
        return p

    def _time(self, request: web.Request) -> dict[str, Any]:
        now = self.market.now_ms
        return {"iso": wire.iso(now), "epochSeconds": str(now // 1000), "epochMillis": str(now)}

    def _product_entries(self) -> list[dict[str, Any]]:
        now = self.market.now_ms
        out = []
        for p in self._products.values():
            alias = f"{p.sim.spec.base}-USDC" if p.sim.spec.quote == "USD" else ""
            out.append(wire.product(p.sim, p.pid, now, aliases=[alias] if alias else [],
                                    turnover=self._turnover[p.sim.spec.base]))
            if alias:  # the USDC product is the USD book under another name
                out.append(wire.product(p.sim, alias, now, alias_of=p.pid))
        return out

    def _products_list(self, request: web.Request) -> dict[str, Any]:
        q = request.query
        entries = self._product_entries()
        kind = q.get("product_type")
        if kind:
            entries = [e for e in entries if e["product_type"] == kind]
        wanted = q.getall("product_ids", [])
        if wanted:
            entries = [e for e in entries if e["product_id"] in wanted]
        return {"products": entries, "num_products": len(entries)}

    def _product(self, request: web.Request) -> dict[str, Any]:
        pid = request.match_info["product_id"]
        for e in self._product_entries():
            if e["product_id"] == pid:
                return e
        raise _Refusal(404, "NOT_FOUND", "ProductID is invalid")

    def _candles(self, request: web.Request) -> dict[str, Any]:
        p = self._product_of(request.match_info["product_id"])
        q = request.query
        gran = q.get("granularity", "")
        interval = wire.GRANULARITY.get(gran)
        if interval is None:
            raise _Refusal(400, "INVALID_ARGUMENT", f"granularity {gran!r} is not supported")
        try:
            start, end = int(q["start"]), int(q["end"])
            limit = int(q.get("limit", CANDLES_MAX_ROWS))
        except (KeyError, ValueError):
            raise _Refusal(400, "INVALID_ARGUMENT", "start and end are required unix seconds") from None
        step = INTERVAL_MS[interval] // 1000
        if end < start or not 1 <= limit <= CANDLES_MAX_ROWS or (end - start) // step > CANDLES_MAX_ROWS:
            raise _Refusal(400, "INVALID_ARGUMENT",
                             f"number of candles requested should be less than {CANDLES_MAX_ROWS + 1}")
        rows = self.market.klines(p.pid, interval, None, end * 1000, limit, "spot")
        rows = [c for c in rows if c.open_time >= start * 1000]
        rows.reverse()  # newest first
        return {"candles": [wire.candle_row(p.sim, c) for c in rows]}

    def _product_book(self, request: web.Request) -> dict[str, Any]:
        p = self._product_of(request.query.get("product_id"))
        try:
            limit = int(request.query.get("limit", 50))
        except ValueError:
            raise _Refusal(400, "INVALID_ARGUMENT", "limit must be an integer") from None
        return wire.product_book(p.sim, p.pid, max(1, limit), self.market.now_ms)


class CoinbaseSimThread(SimThread):
    """A CoinbaseSim on its own thread and loop; every knob runs on the sim's loop."""

    sim_class = CoinbaseSim

    def skip_sequence(self) -> None:  # type: ignore[override]  # Coinbase has one sequence per connection: no symbol to name
        self.call(self.sim.skip_sequence)

    def truth(self, product_id: str, market: str | None = "spot"
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.call(self.sim.truth, product_id, market)
