"""Serve a SimMarket over Bybit v5's public protocols on 127.0.0.1 (websocket + REST).

One websocket port serves ``/v5/public/spot`` and ``/v5/public/linear`` (so
``ws_url`` is the ``.../v5/public`` base a client appends the category to); one HTTP
port serves ``/v5/market/...``. Like the venue, each book topic is one stream shared by
all its subscribers: ``u`` goes up by 1 per message of that stream and ``seq`` is the
symbol's cross sequence (the model's update id). ``orderbook.N`` topics send the top N
levels: a level that leaves the window is sent with size "0", one that enters it with
its size. Every frame is written synchronously (``broadcast``), so a new subscriber's
snapshot can never be overtaken by a delta of its own stream.

Faults for tests: ``skip_sequence`` (lose a delta), ``resend_snapshot`` (a fresh
snapshot mid-stream), ``service_restart`` (u restarts at 1 with the whole book),
``send_malformed``, ``drop_connections``; plus ``pause``/``resume``/``pump``/``truth``.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection

from app.sim import bybit_wire as wire
from app.sim.serving import Cadence, CandlePacer, Handler, LocalVenue, HttpRefusal, SimThread
from app.sim.market import ClosedKline, ModelParams, SimMarket, SimSymbol, SymbolSim
from app.sim.universe import turnover_24h

KLINE_PUSH_MS = 250
KLINE_IDLE_PUSH_MS = 2000
TICKER_PUSH_MS = 1000
SPOT_MAX_ARGS = 10  # Bybit spot refuses a subscribe request with more args
MALFORMED_FRAME = b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":17672'
REST_BOOK_LIMITS = {"spot": (1, 200, 1), "linear": (1, 500, 25)}  # min, max, default
KLINE_LIMITS = (1, 1000, 200)


def bybit_demo_symbols() -> list[SimSymbol]:
    """Spot BTCUSDT and ETHUSDT, linear BTCUSDT, with Bybit's real steps."""
    return [
        SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 97_000.0, 0.01, 0.000001, min_notional=5.0),
        SimSymbol("ETHUSDT", "ETH", "USDT", "spot", 3_400.0, 0.01, 0.00001, min_notional=5.0),
        SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 97_050.0, 0.1, 0.001, min_notional=5.0),
    ]


@dataclass(eq=False, slots=True)
class _Client:
    ws: ServerConnection
    category: str  # "spot" | "linear"
    conn_id: str
    last_ping: float  # loop time of the last {"op":"ping"} (or of connecting)
    topics: set[str] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class _BookStream:
    """One ``orderbook.*`` topic: its position and the view its subscribers hold."""

    topic: str
    depth: int | None  # None: orderbook.full
    u: int
    subs: set[_Client] = field(default_factory=set)
    seq: int = 0  # seq of the last message
    bids: wire.Levels = field(default_factory=dict)
    asks: wire.Levels = field(default_factory=dict)
    skip: bool = False

    def next_delta(self, seq: int) -> bool:
        """Use up the next ``u`` for a delta at ``seq``; False when that delta is to be
        lost (``skip_sequence``)."""
        self.u += 1
        self.seq = seq
        if self.skip:
            self.skip = False
            return False
        return True


@dataclass(eq=False, slots=True)
class _Feed:
    """Topics and publishing state of one simulated symbol."""

    sim: SymbolSim
    category: str
    books: dict[str, _BookStream]
    trade_subs: set[_Client] = field(default_factory=set)
    ticker_subs: set[_Client] = field(default_factory=set)
    ticker_last: dict[str, str] | None = None  # linear: the state the deltas build on
    kline_subs: dict[str, set[_Client]] = field(default_factory=dict)
    kline_pacer: CandlePacer = field(default_factory=lambda: CandlePacer(KLINE_IDLE_PUSH_MS))
    carry: float = 0.0
    last_trade_px: int | None = None
    last_tick_dir: str = "PlusTick"
    trades_sent: int = 0
    trade_frames: int = 0

    @property
    def symbol(self) -> str:
        return self.sim.spec.symbol


class BybitSim(LocalVenue):
    """A local Bybit: ``async with BybitSim(seed=1) as sim: sim.ws_url``.

    Knobs (call them on the sim's loop, or through ``BybitSimThread``): ``pause``,
    ``resume``, ``pump``, ``set_rate``, ``drop_connections``, ``send_malformed``,
    ``skip_sequence``, ``resend_snapshot``, ``service_restart``, ``truth``,
    ``stream_u``, ``ticker_state``; counters ``frames_sent``, ``pings``,
    ``rest_requests``, ``connections``, ``trades_sent``, ``trade_frames``.
    ``ping_timeout`` (seconds) closes connections that stop sending ``{"op":"ping"}``.
    """

    _malformed_frame = MALFORMED_FRAME

    def __init__(self, symbols: list[SimSymbol] | None = None, *, seed: int = 1,
                 rate: float = 20.0, depth_interval_ms: int = 20,
                 start_time_ms: int | None = None, levels: int = 200,
                 warmup_steps: int = 0, warmup_step_ms: int = 0, paused: bool = False,
                 params: ModelParams | None = None, ping_timeout: float | None = None) -> None:
        if depth_interval_ms < 0:
            raise ValueError("depth_interval_ms must be >= 0")
        super().__init__(SimMarket(symbols or bybit_demo_symbols(), seed, start_time_ms, levels,
                                   params),
                         rate=rate, paused=paused, warmup_steps=warmup_steps,
                         warmup_step_ms=warmup_step_ms)
        self.depth_interval_ms = depth_interval_ms
        self.ping_timeout = ping_timeout
        self._feeds: dict[tuple[str, str], _Feed] = {}  # (category, symbol)
        for market, sym in self.market.keys():
            sim = self.market.sim(sym, market)
            # its own generator: drawing from the model's would change the market itself
            start_u = random.Random(f"{seed}:{market}:{sym}:u").randrange(1_000_000, 90_000_000)
            cat = wire.category_of(market)
            books = {d: _BookStream(f"orderbook.{d}.{sym}", None if d == "full" else int(d),
                                    start_u + 1000 * n)
                     for n, d in enumerate(wire.BOOK_DEPTHS[cat])}
            self._feeds[(cat, sym)] = _Feed(sim, cat, books)
        self._turnover = turnover_24h([f.sim.spec.base for f in self._feeds.values()])
        self._conn_seq = 0
        self.pings = 0
        now = self.market.now_ms
        self._depth_due = Cadence.starting(now, depth_interval_ms)
        self._kline_due = Cadence.starting(now, KLINE_PUSH_MS)
        self._ticker_due = Cadence.starting(now, TICKER_PUSH_MS)

    @classmethod
    def in_thread(cls, symbols: list[SimSymbol] | None = None, **kwargs: Any) -> BybitSimThread:
        return BybitSimThread(symbols, **kwargs).start()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen([
            ("/v5/market/time", self._rest(self._time)),
            ("/v5/market/instruments-info", self._rest(self._instruments)),
            ("/v5/market/tickers", self._rest(self._tickers)),
            ("/v5/market/kline", self._rest(self._klines)),
            ("/v5/market/orderbook", self._rest(self._orderbook)),
            ("/v5/market/full_orderbook", self._rest(self._full_orderbook)),
        ], ws_path='/v5/public', clock_name='bybit-sim-clock',
            process_request=self._check_path)

    # -- knobs -------------------------------------------------------------------------

    def skip_sequence(self, symbol: str, market: str | None = None) -> None:
        """Lose the next delta of each of the symbol's book topics (its ``u`` is used up)."""
        for st in self._feed(symbol, market).books.values():
            st.skip = True

    def resend_snapshot(self, symbol: str, market: str | None = None) -> None:
        """Send subscribers of the symbol's ``orderbook.N`` topics a fresh snapshot now.
        Changes not yet sent as a delta go out only inside it, so a client that merged
        the snapshot instead of replacing its book would end up wrong."""
        f = self._feed(symbol, market)
        for st in f.books.values():
            if st.subs and st.depth is not None:
                st.bids, st.asks = wire.top_levels(f.sim, st.depth)
                st.u += 1
                self._send_view(f, st, "snapshot", st.subs)

    def service_restart(self, symbol: str, market: str | None = None,
                        kind: str = "delta") -> None:
        """A venue restart: ``u`` starts again at 1 with the whole (top-N) book. By default
        the u=1 message says ``type:"delta"`` (only the u=1 rule tells a client to
        overwrite); ``kind="snapshot"`` sends it as a snapshot. ``orderbook.full`` just
        restarts its numbering at 1."""
        if kind not in ("delta", "snapshot"):
            raise ValueError("kind is 'delta' or 'snapshot'")
        f = self._feed(symbol, market)
        for st in f.books.values():
            if not st.subs:
                continue
            if st.depth is None:
                st.u = 0
                continue
            st.bids, st.asks = wire.top_levels(f.sim, st.depth)
            st.u = 1
            self._send_view(f, st, kind, st.subs)

    def truth(self, symbol: str, market: str | None = None, depth: int | None = None
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        """The true book now: (seq, bids, asks), the best ``depth`` levels per side."""
        s = self._feed(symbol, market).sim
        bids, asks = wire.top_levels(s, depth)
        pf, qf = s.price.to_float, s.qty.to_float
        return (s.book.update_id, {pf(p): qf(q) for p, q in bids.items()},
                {pf(p): qf(q) for p, q in asks.items()})

    def stream_u(self, symbol: str, market: str | None = None, depth: int | str = 50) -> int:
        """``u`` of the last message of a book topic (sent or skipped)."""
        return self._feed(symbol, market).books[str(depth)].u

    def ticker_state(self, symbol: str, market: str | None = None) -> dict[str, str] | None:
        """The ticker as last published in full (linear: the state its deltas built,
        which a client's merged state must equal)."""
        return self._feed(symbol, market).ticker_last

    def trades_sent(self, symbol: str, market: str | None = None) -> int:
        """Trades published for the symbol (to however many subscribers)."""
        return self._feed(symbol, market).trades_sent

    def trade_frames(self, symbol: str, market: str | None = None) -> int:
        """``publicTrade`` frames published (one per taker order, holding its trades)."""
        return self._feed(symbol, market).trade_frames

    def _feed(self, symbol: str, market: str | None) -> _Feed:
        spec = self.market.sim(symbol, market).spec
        return self._feeds[(wire.category_of(spec.market), spec.symbol)]

    # -- clock ---------------------------------------------------------------------------

    def _paced(self) -> Collection[_Feed]:
        return self._feeds.values()

    def _flush(self, unit: _Feed) -> None:
        self._flush_books(unit)

    def _wall_tick(self, now: float) -> None:
        if self.ping_timeout is not None:
            self._close_silent(now)

    def _close_silent(self, now: float) -> None:
        for c in list(self._clients):
            if now - c.last_ping > self.ping_timeout:
                c.last_ping = now  # close once
                asyncio.get_running_loop().create_task(c.ws.close(1000, "ping timeout"))

    def _advance(self, dt_ms: int, counts: list[int], force_periodic: bool) -> None:
        market = self.market
        for ck in market.advance(dt_ms) if dt_ms else ():
            self._publish_closed_kline(ck)
        now = market.now_ms
        per_event = self.depth_interval_ms == 0
        for f, n in zip(self._feeds.values(), counts):
            for _ in range(n):
                fills = f.sim.step(now)
                if fills and f.trade_subs:
                    self._publish_trades(f, fills, now)
                if per_event:
                    self._flush_books(f)
        # per-event depth has already gone out; only a pump still forces a round
        if (force_periodic or not per_event) and self._depth_due.due(now, force_periodic):
            for f in self._feeds.values():
                self._flush_books(f)
        if self._kline_due.due(now, force_periodic):
            for f in self._feeds.values():
                self._publish_klines(f, force_periodic)
        if self._ticker_due.due(now, force_periodic):
            for f in self._feeds.values():
                self._publish_ticker(f)

    # -- publishing ----------------------------------------------------------------------

    def _send_view(self, f: _Feed, st: _BookStream, kind: str, clients: Collection[_Client]) -> None:
        s = f.sim
        st.seq = s.book.update_id
        self._broadcast(clients, orjson.dumps(wire.book_message(
            s, st.topic, kind, wire.wire_levels(s, st.bids, True),
            wire.wire_levels(s, st.asks, False), st.u, st.seq, self.market.now_ms)))

    def _flush_books(self, f: _Feed) -> None:
        """One delta per book topic for the changes since the last flush."""
        s = f.sim
        book = s.book
        if not book.has_pending():
            return
        now = self.market.now_ms
        for st in f.books.values():
            if not st.subs or st.depth is None:
                continue
            bids, asks = wire.top_levels(s, st.depth)
            db, da = wire.view_delta(st.bids, bids), wire.view_delta(st.asks, asks)
            st.bids, st.asks = bids, asks
            if not db and not da:
                continue  # nothing changed inside this topic's window
            if st.next_delta(book.update_id):
                self._broadcast(self._audible(st.subs), orjson.dumps(wire.book_message(
                    s, st.topic, "delta", wire.wire_levels(s, db, True),
                    wire.wire_levels(s, da, False), st.u, st.seq, now)))
        full = f.books["full"]
        if not full.subs:
            book.discard_diff()
            return
        diff = book.take_diff()
        assert diff is not None
        if full.next_delta(book.update_id):
            self._broadcast(self._audible(full.subs), orjson.dumps(wire.book_message(
                s, full.topic, "delta", diff.bids, diff.asks, full.u, full.seq, now)))

    def _publish_trades(self, f: _Feed, fills: list, now: int) -> None:
        data, f.last_trade_px, f.last_tick_dir = wire.trades(f.sim, fills, f.last_trade_px,
                                                             f.last_tick_dir)
        f.trades_sent += len(data)
        f.trade_frames += 1
        self._broadcast(f.trade_subs, orjson.dumps(wire.trade_message(f.sim, data, now)))

    def _publish_klines(self, f: _Feed, force: bool) -> None:
        now = self.market.now_ms
        for iv, clients in f.kline_subs.items():
            if not clients or iv not in wire.SIM_KLINES:
                continue
            series = f.sim.series[wire.SIM_KLINES[iv]]
            if f.kline_pacer.due(iv, series.version, now, force):
                self._broadcast(clients, orjson.dumps(wire.kline_message(f.sim, iv, series.current, now)))

    def _publish_closed_kline(self, ck: ClosedKline) -> None:
        market, symbol = ck.key
        f = self._feeds[(wire.category_of(market), symbol)]
        for iv, name in wire.SIM_KLINES.items():
            clients = f.kline_subs.get(iv)
            if name == ck.interval and clients:
                self._broadcast(clients, orjson.dumps(
                    wire.kline_message(f.sim, iv, ck.candle, self.market.now_ms)))

    def _ticker_now(self, f: _Feed) -> dict[str, str]:
        s, now = f.sim, self.market.now_ms
        mark = s.mark(now) if f.category == "linear" else None
        return wire.ticker_state(s, s.stats(now), mark)

    def _publish_ticker(self, f: _Feed) -> None:
        if not f.ticker_subs:
            return
        now = self.market.now_ms
        state = self._ticker_now(f)
        if f.category == "spot":  # spot tickers are snapshots only
            f.ticker_last = state
            self._broadcast(f.ticker_subs, orjson.dumps(
                wire.ticker_message(f.symbol, "snapshot", state, f.sim.book.update_id, now)))
            return
        last = f.ticker_last or {}
        changed = {k: v for k, v in state.items() if last.get(k) != v}
        f.ticker_last = state
        if len(changed) > ("symbol" in changed):
            changed["symbol"] = f.symbol
            self._broadcast(f.ticker_subs, orjson.dumps(
                wire.ticker_message(f.symbol, "delta", changed, f.sim.book.update_id, now)))

    # -- websocket -----------------------------------------------------------------------

    @staticmethod
    def _category(path: str) -> str | None:
        for cat in wire.CATEGORIES:
            if path.split("?")[0].rstrip("/").endswith(f"/v5/public/{cat}"):
                return cat
        return None

    def _ws_route(self, path: str) -> str | None:
        return self._category(path)

    async def _handle_ws(self, ws: ServerConnection) -> None:
        cat = self._category(ws.request.path if ws.request else "")
        if cat is None:
            return
        self._conn_seq += 1
        conn_id = str(uuid.UUID(int=(self.market.seed << 64) | self._conn_seq))
        await self._converse(_Client(ws, cat, conn_id, asyncio.get_running_loop().time()))

    def _forget(self, client: _Client) -> None:
        for topic in list(client.topics):
            self._detach(client, topic)

    def _reply(self, client: _Client, msg: dict[str, Any]) -> None:
        self._broadcast({client}, orjson.dumps(msg))

    def _answer(self, client: _Client, op: str, req_id: Any, error: str | None) -> None:
        ok_msg = "subscribe" if client.category == "spot" and op == "subscribe" else ""
        self._reply(client, {"success": error is None, "ret_msg": error or ok_msg,
                             "conn_id": client.conn_id, "req_id": req_id or "", "op": op})

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        """Answer one client request the way Bybit does; never raises."""
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._answer(client, "", None, "error:request not in JSON format")
            return
        if not isinstance(req, dict):
            self._answer(client, "", None, "error:request must be a JSON object")
            return
        op, rid = req.get("op"), req.get("req_id")
        if op == "ping":
            self.pings += 1
            client.last_ping = asyncio.get_running_loop().time()
            if client.category == "spot":
                self._reply(client, {"success": True, "ret_msg": "pong", "conn_id": client.conn_id,
                                     "req_id": rid or "", "op": "ping"})
            else:
                self._reply(client, {"req_id": rid or "", "op": "pong",
                                     "args": [str(self.market.now_ms)], "conn_id": client.conn_id})
            return
        if op not in ("subscribe", "unsubscribe"):
            self._answer(client, str(op or ""), rid, f"error:handler not found,op:{op}")
            return
        args = req.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            self._answer(client, op, rid, "error:args must be a non-empty list of topics")
            return
        if client.category == "spot" and len(args) > SPOT_MAX_ARGS:
            self._answer(client, op, rid, f"error:args size {len(args)} > {SPOT_MAX_ARGS}: "
                                          "spot takes at most 10 topics per request")
            return
        # The request is all or nothing: any bad topic refuses it whole.
        for topic in args:
            problem = self._topic_problem(client, topic, op)
            if problem is not None:
                self._answer(client, op, rid, problem)
                return
        self._answer(client, op, rid, None)
        for topic in args:
            if op == "subscribe":
                self._attach(client, topic)
            else:
                self._detach(client, topic)

    def _topic_problem(self, client: _Client, topic: str, op: str) -> str | None:
        parsed = wire.parse_topic(topic, client.category)
        if parsed is None:
            return f"error:handler not found,topic:{topic}"
        if (client.category, parsed.symbol) not in self._feeds:
            return f"error:Invalid symbol :[{topic}]"
        if op == "subscribe" and topic in client.topics:
            return f"error:already subscribed,topic:{topic}"
        if op == "unsubscribe" and topic not in client.topics:
            return f"error:not subscribed,topic:{topic}"
        return None

    def _attach(self, client: _Client, topic: str) -> None:
        """Subscribe, then send what the topic starts with (after the ack, in order)."""
        parsed = wire.parse_topic(topic, client.category)
        assert parsed is not None
        f = self._feeds[(client.category, parsed.symbol)]
        client.topics.add(topic)
        if parsed.kind == "book":
            st = f.books[parsed.arg]
            if not st.subs:
                # an idle stream's view is stale: it resumes from the book as it is now
                st.bids, st.asks = wire.top_levels(f.sim, st.depth) if st.depth else ({}, {})
                st.u += 1
                st.seq = f.sim.book.update_id
            st.subs.add(client)
            self._book_subscribed(client)
            if st.depth is not None:  # orderbook.full is delta-only
                self._send_view(f, st, "snapshot", self._audible({client}))
        elif parsed.kind == "trade":
            f.trade_subs.add(client)
        elif parsed.kind == "ticker":
            if not f.ticker_subs or f.ticker_last is None:
                f.ticker_last = self._ticker_now(f)
            f.ticker_subs.add(client)
            self._reply(client, wire.ticker_message(f.symbol, "snapshot", dict(f.ticker_last),
                                                    f.sim.book.update_id, self.market.now_ms))
        else:
            f.kline_subs.setdefault(parsed.arg, set()).add(client)

    def _detach(self, client: _Client, topic: str) -> None:
        client.topics.discard(topic)
        parsed = wire.parse_topic(topic, client.category)
        f = self._feeds.get((client.category, parsed.symbol)) if parsed else None
        if parsed is None or f is None:
            return
        if parsed.kind == "book":
            f.books[parsed.arg].subs.discard(client)
        elif parsed.kind == "trade":
            f.trade_subs.discard(client)
        elif parsed.kind == "ticker":
            f.ticker_subs.discard(client)
        else:
            f.kline_subs.get(parsed.arg, set()).discard(client)

    # -- REST ----------------------------------------------------------------------------

    def _rest(self, handler: Callable[[Any], Any]) -> Handler:
        return self._endpoint(lambda request: wire.ok(handler(request.query), self.market.now_ms))

    def _refusal(self, error: _Refusal) -> dict[str, Any]:
        return wire.error(error.code, error.msg, self.market.now_ms)

    def _time(self, query: Any) -> dict[str, str]:
        now = self.market.now_ms
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    @staticmethod
    def _category_param(query: Any) -> str:
        cat = query.get("category")
        if cat not in wire.CATEGORIES:
            raise _Refusal(10001, "params error: category is invalid" if cat else
                             "params error: category is required")
        return cat

    def _symbol_feed(self, query: Any) -> _Feed:
        cat = self._category_param(query)
        symbol = query.get("symbol")
        if not symbol:
            raise _Refusal(10001, "params error: symbol is required")
        f = self._feeds.get((cat, symbol))
        if f is None:
            raise _Refusal(10001, "params error: Not supported symbols")
        return f

    @staticmethod
    def _int(query: Any, name: str, default: int | None, lo: int = 0,
             hi: int = 2**63 - 1) -> int | None:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or not lo <= int(raw) <= hi:
            raise _Refusal(10001, f"params error: {name} is invalid")
        return int(raw)

    def _instruments(self, query: Any) -> dict[str, Any]:
        cat = self._category_param(query)
        rows = [wire.instrument_row(f.sim) for (c, sym), f in self._feeds.items()
                if c == cat and query.get("symbol") in (None, "", sym)]
        return {"category": cat, "list": rows, "nextPageCursor": ""}

    def _tickers(self, query: Any) -> dict[str, Any]:
        """Every symbol of the category (or ``symbol=``): the ticker snapshot, with the
        universe's 24h turnover. Mark and funding are left out: reading them would move
        the funding model, and the REST answer must not change what the stream sends."""
        cat = self._category_param(query)
        now = self.market.now_ms
        rows = []
        for (c, sym), f in self._feeds.items():
            if c != cat or query.get("symbol") not in (None, "", sym):
                continue
            row = wire.ticker_state(f.sim, f.sim.stats(now), None)
            turnover = self._turnover[f.sim.spec.base]
            last = float(row["lastPrice"])
            row["turnover24h"] = f"{turnover:.4f}"
            row["volume24h"] = f"{turnover / last:.8f}" if last > 0 else "0"
            rows.append(row)
        return {"category": cat, "list": rows}

    def _klines(self, query: Any) -> dict[str, Any]:
        f = self._symbol_feed(query)
        iv = query.get("interval")
        if iv not in wire.SIM_KLINES:
            raise _Refusal(10001, f"params error: interval {iv!r} is invalid")
        lo, hi, default = KLINE_LIMITS
        limit = self._int(query, "limit", default, lo, hi)
        start = self._int(query, "start", None)
        end = self._int(query, "end", None)
        if start is not None and end is not None and start > end:
            raise _Refusal(10001, "params error: start is after end")
        # the newest ``limit`` candles of [start, end], newest first
        candles = f.sim.series[wire.SIM_KLINES[iv]].query(None, end, limit or default)
        if start is not None:
            candles = [c for c in candles if c.open_time >= start]
        return {"symbol": f.symbol, "category": f.category,
                "list": [wire.kline_row(f.sim, c) for c in reversed(candles)]}

    def _orderbook(self, query: Any) -> dict[str, Any]:
        f = self._symbol_feed(query)
        lo, hi, default = REST_BOOK_LIMITS[f.category]
        limit = self._int(query, "limit", default, lo, hi)
        return wire.rest_book(f.sim, limit, f.sim.book.update_id, self.market.now_ms)

    def _full_orderbook(self, query: Any) -> dict[str, Any]:
        f = self._symbol_feed(query)
        # u is the orderbook.full topic's position, informative only: seq is what lines
        # the book up with buffered deltas
        return wire.rest_book(f.sim, None, f.books["full"].u, self.market.now_ms)


class _Refusal(HttpRefusal):
    """Bybit answers errors with HTTP 200 and a non-zero ``retCode``."""

    status = 200

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class BybitSimThread(SimThread):
    """Runs a BybitSim on its own thread and loop (``--demo``); every knob is marshalled
    onto the sim's loop, so it is safe from any thread."""

    sim_class = BybitSim

    @property
    def sim(self) -> BybitSim:
        return super().sim

    def resend_snapshot(self, symbol: str, market: str | None = None) -> None:
        self.call(self.sim.resend_snapshot, symbol, market)

    def service_restart(self, symbol: str, market: str | None = None, kind: str = "delta") -> None:
        self.call(self.sim.service_restart, symbol, market, kind)

    def truth(self, symbol: str, market: str | None = None,
              depth: int | None = None) -> tuple[int, dict[float, float], dict[float, float]]:
        return self.call(self.sim.truth, symbol, market, depth)

    def stream_u(self, symbol: str, market: str | None = None, depth: int | str = 50) -> int:
        return self.call(self.sim.stream_u, symbol, market, depth)

    def last_sent_update_id(self, symbol: str, market: str | None = None) -> int | None:
        return self.call(self.sim.stream_u, symbol, market, 50)
