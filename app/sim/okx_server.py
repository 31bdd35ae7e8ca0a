"""Serve a SimMarket over OKX v5's own protocols on 127.0.0.1 (websocket + REST).

One websocket port serves ``/ws/v5/public`` (books, trades, tickers, funding-rate,
mark-price) and ``/ws/v5/business`` (candles); one HTTP port serves the REST endpoints
the codec uses (instruments, candles, books). SPOT sizes are base units; SWAP sizes go on
the wire in contracts (the model keeps base units in lots of ``lotSz x ctVal``, so one
model lot is one contract lot).

Books follow OKX: a snapshot push on subscribe (``prevSeqId -1``), then updates whose
``prevSeqId`` is the previous ``seqId`` (which grows by a random step), a CRC32 checksum
over the top 25 levels, and an empty keepalive update (``prevSeqId == seqId``) after a
quiet period. Knobs reproduce what goes wrong on the real venue: a lost update, a bad
checksum, the seqId reset of a maintenance, production's zero checksums, and the
announced snapshot-less mode (REST ``books`` then carries the ``seqId``).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection

from app.market.klines import INTERVAL_MS
from app.sim import okx_wire as wire
from app.sim.candles import Candle
from app.sim.market import ClosedKline, ModelParams, SimMarket, SymbolSim
from app.sim.okx_wire import (BAR_INTERVALS, BOOK_DEPTH, CHECKSUM_LEVELS, PUBLIC_CHANNELS,
                              SWAP_ONLY, WS_PATHS, OkxSymbol, okx_checksum, okx_num)
from app.sim.serving import (Cadence, CandlePacer, Handler, LocalVenue, HttpRefusal, SimThread,
                             Subscribers)
from app.sim.units import fmt_fixed
from app.sim.universe import turnover_24h
from app.venues.okx import HISTORY_KLINE_LIMIT, KLINE_LIMIT, RECENT_BARS  # OKX's own limits

CANDLE_PUSH_MS = 500
CANDLE_IDLE_PUSH_MS = 5000
TICKER_PUSH_MS = 1000
MARK_PUSH_MS = 1000
FUNDING_PUSH_MS = 5000
MALFORMED_FRAME = (b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update",'
                   b'"data":[{"asks":[["9')


def okx_demo_symbols() -> list[OkxSymbol]:
    """SPOT BTC-USDT and ETH-USDT, SWAP BTC-USDT-SWAP, with OKX's real steps."""
    return [
        OkxSymbol("BTC-USDT", "BTC", "USDT", "spot", 97_000.0, 0.1, 0.00000001, 0.00001),
        OkxSymbol("ETH-USDT", "ETH", "USDT", "spot", 3_400.0, 0.01, 0.000001, 0.0001),
        OkxSymbol("BTC-USDT-SWAP", "BTC", "USDT", "perp", 97_050.0, 0.1, 0.01, 0.01, "0.01"),
    ]


@dataclass(eq=False, slots=True)
class _Client:
    ws: ServerConnection
    family: str  # "public" | "business"
    conn_id: str
    args: set[tuple[str, str]] = field(default_factory=set)  # (channel, instId)


@dataclass(eq=False, slots=True)
class _Inst:
    """Publishing state of one instrument: its book sequence and the fault knobs."""

    spec: OkxSymbol
    sim: SymbolSim
    ct: Decimal | None
    seq: int
    seq_rng: random.Random
    carry: float = 0.0
    last_book_push: float = 0.0  # loop time of the last books frame
    last_sent_seq: int | None = None
    skip: bool = False
    corrupt: bool = False
    seq_reset: bool = False
    candle_pacer: CandlePacer = field(default_factory=lambda: CandlePacer(CANDLE_IDLE_PUSH_MS))

    def size(self, model_text: str) -> str:
        """A model size string (base units) as OKX puts it on the wire."""
        return wire.wire_size(model_text, self.ct)

    def px(self, ticks: int) -> str:
        return okx_num(self.sim.price.fmt(ticks))

    def levels(self, is_bid: bool, limit: int) -> list[list[str]]:
        return [[okx_num(p), self.size(q)] for p, q in self.sim.book.levels(is_bid, limit)]

    def checksum(self) -> int:
        return okx_checksum(self.levels(True, CHECKSUM_LEVELS), self.levels(False, CHECKSUM_LEVELS))

    def quote_amount(self, units: int) -> str:
        """A ticks x lots amount as an exact decimal string."""
        p, q = self.sim.price, self.sim.qty
        return okx_num(fmt_fixed(units * p.unit * q.unit, p.decimals + q.decimals))


class _Refusal(HttpRefusal):
    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _int_param(query: Any, name: str, default: int | None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 20:
        raise _Refusal("51000", f"Parameter {name} error")
    return int(raw)


class OkxSim(LocalVenue):
    """A local OKX: ``async with OkxSim(seed=1) as sim: sim.ws_url`` (the ``/ws/v5`` base).

    Knobs (call them on the sim's loop, or through ``OkxSimThread``): ``pause``/``resume``,
    ``pump``, ``set_rate``, ``drop_connections``, ``send_malformed``, ``truth``,
    ``skip_sequence``, ``corrupt_checksum``, ``maintenance_seq_reset``,
    ``set_zero_checksum``, ``send_book_keepalive``, ``last_sent_seq``. Keepalive
    updates still flow while paused, as on OKX."""

    _malformed_frame = MALFORMED_FRAME

    def __init__(self, symbols: list[OkxSymbol] | None = None, *, seed: int = 1,
                 rate: float = 20.0, depth_interval_ms: int = 100,
                 start_time_ms: int | None = None, levels: int = 200,
                 warmup_steps: int = 0, warmup_step_ms: int = 0, paused: bool = False,
                 params: ModelParams | None = None, anchors: Any = None,
                 zero_checksum: bool = False, snapshotless: bool = False,
                 book_keepalive_s: float = 60.0) -> None:
        if depth_interval_ms < 0:
            raise ValueError("depth_interval_ms must be >= 0")
        specs = symbols or okx_demo_symbols()
        for spec in specs:
            if spec.market == "perp" and not spec.ct_val:
                raise ValueError(f"{spec.inst_id}: a SWAP needs ct_val")
        super().__init__(SimMarket([s.sim_symbol() for s in specs], seed, start_time_ms, levels, params),
                         rate=rate, paused=paused, warmup_steps=warmup_steps,
                         warmup_step_ms=warmup_step_ms, anchors=anchors, venue="okx")
        self.depth_interval_ms = depth_interval_ms
        self.zero_checksum = zero_checksum
        self.snapshotless = snapshotless
        self.book_keepalive_s = book_keepalive_s
        self._insts: dict[str, _Inst] = {}
        for spec in specs:
            rng = random.Random(f"{seed}:okx:{spec.inst_id}:seq")
            self._insts[spec.inst_id] = _Inst(
                spec, self.market.sim(spec.inst_id, spec.market),
                Decimal(spec.ct_val) if spec.market == "perp" else None,
                rng.randrange(10**9, 10**10), rng)
        self._turnover = turnover_24h([spec.base for spec in specs])
        self._subs: Subscribers[tuple[str, str], _Client] = Subscribers()
        self.snapshots_sent = 0
        self.keepalives_sent = 0
        now = self.market.now_ms
        self._depth_due = Cadence.starting(now, depth_interval_ms)
        self._candle_due = Cadence.starting(now, CANDLE_PUSH_MS)
        self._ticker_due = Cadence.starting(now, TICKER_PUSH_MS)
        self._mark_due = Cadence.starting(now, MARK_PUSH_MS)
        self._funding_due = Cadence.starting(now, FUNDING_PUSH_MS)

    @classmethod
    def in_thread(cls, symbols: list[OkxSymbol] | None = None, **kwargs: Any) -> OkxSimThread:
        return OkxSimThread(symbols, **kwargs).start()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await self._listen([
            ("/api/v5/public/time", self._rest(self._time)),
            ("/api/v5/public/instruments", self._rest(self._instruments)),
            ("/api/v5/market/candles", self._rest(self._recent_candles)),
            ("/api/v5/market/history-candles", self._rest(self._history_candles)),
            ("/api/v5/market/books", self._rest(self._books)),
            ("/api/v5/market/tickers", self._rest(self._tickers)),
        ], ws_path='/ws/v5', clock_name='okx-sim-clock',
            ping_interval=None, process_request=self._check_path)

    # -- knobs ---------------------------------------------------------------------------

    def _inst(self, inst_id: str, market: str | None = None) -> _Inst:
        inst = self._insts.get(inst_id)
        if inst is None or (market is not None and inst.spec.market != market):
            raise KeyError(f"no OKX instrument {inst_id!r} in the simulator")
        return inst

    def skip_sequence(self, inst_id: str, market: str | None = None) -> None:
        """Drop the next books update of ``inst_id`` (its seqId is used up: a gap)."""
        self._inst(inst_id, market).skip = True

    def corrupt_checksum(self, inst_id: str, market: str | None = None) -> None:
        """Send the next books update of ``inst_id`` with a wrong (non-zero) checksum."""
        self._inst(inst_id, market).corrupt = True

    def maintenance_seq_reset(self, inst_id: str, market: str | None = None) -> None:
        """The next update's seqId goes down (as after OKX maintenance); prevSeqId still
        chains, so a correct client carries on without a gap."""
        self._inst(inst_id, market).seq_reset = True

    def set_zero_checksum(self, on: bool = True) -> None:
        """Send ``checksum: 0`` on every books push, as production does since 2026-06."""
        self.zero_checksum = on

    def send_book_keepalive(self, inst_id: str, market: str | None = None) -> bool:
        """Send the empty keepalive update now (False if changes are pending: those must
        go out first, a keepalive claims the book has not moved)."""
        return self._book_keepalive(self._inst(inst_id, market))

    def truth(self, inst_id: str, market: str | None = None
              ) -> tuple[int, dict[float, float], dict[float, float]]:
        """The true book now, sizes in base units: (seqId, bids, asks)."""
        inst = self._inst(inst_id, market)
        _, bids, asks = self.market.truth(inst_id, inst.spec.market)
        return inst.seq, bids, asks

    def last_sent_seq(self, inst_id: str, market: str | None = None) -> int | None:
        """seqId of the last books frame actually sent for ``inst_id`` (None: none yet)."""
        return self._inst(inst_id, market).last_sent_seq

    last_sent_update_id = last_sent_seq  # the BinanceSim name, for shared helpers

    # -- clock ---------------------------------------------------------------------------

    def _paced(self) -> Collection[_Inst]:
        return self._insts.values()

    def _flush(self, unit: _Inst) -> None:
        self._flush_book(unit)

    def _wall_tick(self, now: float) -> None:
        self._keepalives(now)

    def _advance(self, dt_ms: int, counts: list[int], force_periodic: bool) -> None:
        market = self.market
        for ck in market.advance(dt_ms) if dt_ms else ():
            self._publish_closed_candle(ck)
        now = market.now_ms
        per_event_depth = self.depth_interval_ms == 0
        for inst, n in zip(self._insts.values(), counts):
            for _ in range(n):
                for fill in inst.sim.step(now):
                    self._publish_trade(inst, fill.price, fill.qty, not fill.buyer_is_maker,
                                        fill.first_id, len(fill.parts), fill.ts)
                if per_event_depth:
                    self._flush_book(inst)
        # per-event depth has already gone out; only a pump still forces a round
        if (force_periodic or not per_event_depth) and self._depth_due.due(now, force_periodic):
            for inst in self._insts.values():
                self._flush_book(inst)
        if self._candle_due.due(now, force_periodic):
            for inst in self._insts.values():
                self._publish_candles(inst, force_periodic)
        if self._ticker_due.due(now, force_periodic):
            for inst in self._insts.values():
                self._publish_ticker(inst)
        if self._mark_due.due(now, force_periodic):
            for inst in self._insts.values():
                self._publish_mark(inst)
        if self._funding_due.due(now, force_periodic):
            for inst in self._insts.values():
                self._publish_funding(inst)

    # -- publishing ----------------------------------------------------------------------

    def _push(self, channel: str, inst: _Inst, data: list[Any], action: str | None = None,
              clients: set[_Client] | list[_Client] | None = None) -> None:
        targets = self._subs.get((channel, inst.spec.inst_id)) if clients is None else clients
        if not targets:
            return
        self._broadcast(targets, wire.push(channel, inst.spec.inst_id, data, action))

    def _book_frame(self, inst: _Inst, action: str, bids: list[list[str]], asks: list[list[str]],
                    prev: int, seq: int, checksum: int) -> bytes:
        return wire.book_frame(inst.spec.inst_id, action, bids, asks, prev, seq, checksum,
                               self.market.now_ms)

    def _book_checksum(self, inst: _Inst) -> int:
        return 0 if self.zero_checksum else inst.checksum()

    def _next_seq(self, inst: _Inst) -> tuple[int, int]:
        prev = inst.seq
        if inst.seq_reset:
            inst.seq_reset = False
            inst.seq = inst.seq_rng.randrange(1_000, 100_000)  # well below any live id
        else:
            inst.seq = prev + inst.seq_rng.randint(1, 9)
        return prev, inst.seq

    def _flush_book(self, inst: _Inst) -> None:
        book = inst.sim.book
        if not book.has_pending():
            return
        clients = self._subs.get(("books", inst.spec.inst_id))
        if not clients:
            # nobody is listening: the truth moves on without a seqId (a later snapshot,
            # pushed or REST, carries the state at the current id)
            book.discard_diff()
            return
        diff = book.take_diff()
        assert diff is not None
        prev, seq = self._next_seq(inst)
        if inst.skip:
            inst.skip = False
            return
        checksum = self._book_checksum(inst)
        if inst.corrupt:
            inst.corrupt = False
            checksum = (checksum ^ 1) or 2  # never 0: a zero checksum is not checked
        bids = [[okx_num(p), inst.size(q)] for p, q in diff.bids]
        asks = [[okx_num(p), inst.size(q)] for p, q in diff.asks]
        self._broadcast(self._audible(clients),
                        self._book_frame(inst, "update", bids, asks, prev, seq, checksum))
        inst.last_sent_seq = seq
        inst.last_book_push = asyncio.get_running_loop().time()

    def _send_snapshot(self, client: _Client, inst: _Inst) -> None:
        frame = self._book_frame(inst, "snapshot", inst.levels(True, BOOK_DEPTH),
                                 inst.levels(False, BOOK_DEPTH), -1, inst.seq,
                                 self._book_checksum(inst))
        self._broadcast(self._audible([client]), frame)
        self.snapshots_sent += 1
        if inst.last_sent_seq is None:
            inst.last_sent_seq = inst.seq
        inst.last_book_push = asyncio.get_running_loop().time()

    def _book_keepalive(self, inst: _Inst) -> bool:
        clients = self._subs.get(("books", inst.spec.inst_id))
        if not clients or inst.sim.book.has_pending():
            return False
        seq = inst.seq
        self._broadcast(self._audible(clients),
                        self._book_frame(inst, "update", [], [], seq, seq, self._book_checksum(inst)))
        inst.last_sent_seq = seq
        inst.last_book_push = asyncio.get_running_loop().time()
        self.keepalives_sent += 1
        return True

    def _keepalives(self, now: float) -> None:
        for inst in self._insts.values():
            if now - inst.last_book_push >= self.book_keepalive_s:
                if not self._book_keepalive(inst):
                    inst.last_book_push = now  # nobody listening, or changes on their way

    def _publish_trade(self, inst: _Inst, price: int, qty: int, taker_buy: bool,
                       trade_id: int, count: int, ts: int) -> None:
        if not self._subs.get(("trades", inst.spec.inst_id)):
            return
        self._push("trades", inst, [wire.trade(inst.spec.inst_id, trade_id, inst.px(price),
                                               inst.size(inst.sim.qty.fmt(qty)), taker_buy, ts,
                                               count)])

    def _candle_row(self, inst: _Inst, c: Candle) -> list[str]:
        """``[ts,o,h,l,c,vol,volCcy,volCcyQuote,confirm]``: SPOT vol is base and volCcy
        quote; SWAP vol counts contracts and volCcy is base."""
        base = okx_num(inst.sim.qty.fmt(c.volume))
        quote = inst.quote_amount(c.quote_volume)
        vol, vol_ccy = (base, quote) if inst.ct is None else (inst.size(base), base)
        return [str(c.open_time), inst.px(c.open), inst.px(c.high), inst.px(c.low),
                inst.px(c.close), vol, vol_ccy, quote, "1" if c.closed else "0"]

    def _publish_candles(self, inst: _Inst, force: bool) -> None:
        now = self.market.now_ms
        for bar, iv in BAR_INTERVALS.items():
            clients = self._subs.get((f"candle{bar}", inst.spec.inst_id))
            if not clients:
                continue
            series = inst.sim.series[iv]
            if inst.candle_pacer.due(iv, series.version, now, force):
                self._push(f"candle{bar}", inst, [self._candle_row(inst, series.current)])

    def _publish_closed_candle(self, ck: ClosedKline) -> None:
        inst = self._insts[ck.key[1]]
        for bar, iv in BAR_INTERVALS.items():
            if iv == ck.interval:
                self._push(f"candle{bar}", inst, [self._candle_row(inst, ck.candle)])

    def _ticker(self, inst: _Inst) -> dict[str, Any]:
        sim, now = inst.sim, self.market.now_ms
        st = sim.stats(now)
        book = sim.book
        bb, ba = book.best_bid(), book.best_ask()
        fq = sim.qty.fmt
        base_vol = okx_num(fq(st.volume))
        if inst.ct is None:
            vol, vol_ccy = base_vol, inst.quote_amount(st.quote_volume)
        else:
            vol, vol_ccy = inst.size(base_vol), base_vol
        sod = inst.px(sim.series["1d"].current.open)
        return {"instType": inst.spec.inst_type, "instId": inst.spec.inst_id,
                "last": inst.px(st.last), "lastSz": inst.size(fq(st.last_qty)),
                "askPx": inst.px(ba), "askSz": inst.size(fq(book.asks[ba])),
                "bidPx": inst.px(bb), "bidSz": inst.size(fq(book.bids[bb])),
                "open24h": inst.px(st.open), "high24h": inst.px(st.high),
                "low24h": inst.px(st.low), "sodUtc0": sod, "sodUtc8": sod,
                "volCcy24h": vol_ccy, "vol24h": vol, "ts": str(now)}

    def _publish_ticker(self, inst: _Inst, clients: list[_Client] | None = None) -> None:
        if clients or self._subs.get(("tickers", inst.spec.inst_id)):
            self._push("tickers", inst, [self._ticker(inst)], clients=clients)

    def _mark_decimals(self, inst: _Inst) -> int:
        return inst.sim.price.decimals + 1

    def _publish_mark(self, inst: _Inst, clients: list[_Client] | None = None) -> None:
        if inst.ct is None or not (clients or self._subs.get(("mark-price", inst.spec.inst_id))):
            return
        now = self.market.now_ms
        mark = inst.sim.mark(now).mark
        mark_px = okx_num(f"{mark:.{self._mark_decimals(inst)}f}")
        self._push("mark-price", inst, [wire.mark_price(inst.spec.inst_id, mark_px, now)],
                   clients=clients)

    def _publish_funding(self, inst: _Inst, clients: list[_Client] | None = None) -> None:
        if inst.ct is None or not (clients or self._subs.get(("funding-rate", inst.spec.inst_id))):
            return
        now = self.market.now_ms
        m = inst.sim.mark(now)
        self._push("funding-rate", inst, [wire.funding_rate(inst.spec.inst_id, m.funding_rate,
                                                            m.next_funding_ms, now)],
                   clients=clients)

    # -- websocket -----------------------------------------------------------------------

    def _ws_route(self, path: str) -> str | None:
        return WS_PATHS.get(path)

    async def _handle_ws(self, ws: ServerConnection) -> None:
        family = WS_PATHS.get(ws.request.path if ws.request else "")
        if family is None:  # _check_path already refused it; defensive only
            return
        await self._converse(_Client(ws, family, secrets.token_hex(4)))

    def _forget(self, client: _Client) -> None:
        for key in client.args:
            self._subs.drop(key, client)

    def _reply(self, client: _Client, payload: dict[str, Any] | str) -> None:
        raw = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
        self._broadcast([client], raw.encode())

    def _error(self, client: _Client, code: str, msg: str, rid: Any = None) -> None:
        reply: dict[str, Any] = {"id": rid} if rid is not None else {}
        reply.update({"event": "error", "code": code, "msg": msg, "connId": client.conn_id})
        self._reply(client, reply)

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        """Answer one client message the way OKX does. Replies go out with ``broadcast``
        (no await), so an ack and its snapshot can never be overtaken by an update."""
        text = message if isinstance(message, str) else message.decode(errors="replace")
        if text == "ping":
            self._broadcast([client], b"pong")
            return
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(client, "60012", f"Invalid request: {text[:200]}")
            return
        if not isinstance(req, dict):
            self._error(client, "60012", f"Invalid request: {text[:200]}")
            return
        rid = req.get("id")
        op, args = req.get("op"), req.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            self._error(client, "60012", f"Invalid request: {text[:200]}", rid)
            return
        for arg in args:
            if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str) \
                    or not isinstance(arg.get("instId"), str):
                self._error(client, "60012", f"Invalid request: {text[:200]}", rid)
                continue
            channel, inst_id = arg["channel"], arg["instId"]
            inst = self._insts.get(inst_id)
            if inst is None or not self._serves(client.family, channel, inst):
                self._error(client, "60018", f"Wrong URL or channel:{channel},instId:{inst_id} "
                            "doesn't exist. Please use the correct URL, channel and parameters "
                            "referring to API document.", rid)
                continue
            ack: dict[str, Any] = {"id": rid} if rid is not None else {}
            ack.update({"event": op, "arg": {"channel": channel, "instId": inst_id},
                        "connId": client.conn_id})
            if op == "unsubscribe":
                if (channel, inst_id) in client.args:
                    client.args.discard((channel, inst_id))
                    self._subs.drop((channel, inst_id), client)
                self._reply(client, ack)
                continue
            if channel == "books":
                # flush first, so the snapshot's seqId is exactly the state it shows
                self._flush_book(inst)
                self._book_subscribed(client)
            new = (channel, inst_id) not in client.args
            client.args.add((channel, inst_id))
            self._subs.add((channel, inst_id), client)
            self._reply(client, ack)
            if new:
                self._first_push(client, channel, inst)

    def _serves(self, family: str, channel: str, inst: _Inst) -> bool:
        if family == "business":
            return channel.startswith("candle") and channel[6:] in BAR_INTERVALS
        if channel in SWAP_ONLY:
            return inst.ct is not None
        return channel in PUBLIC_CHANNELS

    def _first_push(self, client: _Client, channel: str, inst: _Inst) -> None:
        """What OKX sends right after the ack: the book snapshot (not in snapshot-less
        mode), and the current ticker / funding / mark so a new screen is not empty."""
        if channel == "books":
            if not self.snapshotless:
                self._send_snapshot(client, inst)
        elif channel == "tickers":
            self._publish_ticker(inst, [client])
        elif channel == "mark-price":
            self._publish_mark(inst, [client])
        elif channel == "funding-rate":
            self._publish_funding(inst, [client])

    # -- REST ----------------------------------------------------------------------------

    def _rest(self, handler: Callable[[Any], list[Any]]) -> Handler:
        return self._endpoint(lambda request: wire.ok(handler(request.query)))

    def _refusal(self, error: _Refusal) -> dict[str, Any]:
        return wire.error(error.code, error.msg)

    def _query_inst(self, query: Any) -> _Inst:
        inst_id = query.get("instId")
        if not inst_id:
            raise _Refusal("50014", "Parameter instId can not be empty")
        inst = self._insts.get(inst_id)
        if inst is None:
            raise _Refusal("51001", "Instrument ID does not exist", 200)
        return inst

    def _time(self, query: Any) -> list[Any]:
        return [{"ts": str(self.market.now_ms)}]

    def _instruments(self, query: Any) -> list[Any]:
        inst_type = query.get("instType")
        if not inst_type:
            raise _Refusal("50014", "Parameter instType can not be empty")
        if inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise _Refusal("51000", "Parameter instType error")
        rows = []
        for inst in self._insts.values():
            s = inst.spec
            if s.inst_type != inst_type or (query.get("instId") and query["instId"] != s.inst_id):
                continue
            rows.append(wire.instrument_row(s))
        return rows

    def _tickers(self, query: Any) -> list[Any]:
        """Every instrument of ``instType`` (SPOT or SWAP): the stream's ticker, with the
        universe's 24h turnover as volume (SPOT volCcy24h is quote units; a SWAP's is base
        units, its vol24h contracts)."""
        inst_type = query.get("instType")
        if not inst_type:
            raise _Refusal("50014", "Parameter instType can not be empty")
        if inst_type not in ("SPOT", "SWAP", "FUTURES", "OPTION"):
            raise _Refusal("51000", "Parameter instType error")
        rows = []
        for inst in self._insts.values():
            if inst.spec.inst_type != inst_type:
                continue
            row = self._ticker(inst)
            turnover = self._turnover[inst.spec.base]
            last = float(row["last"])
            base = turnover / last if last > 0 else 0.0
            if inst.ct is None:
                row["volCcy24h"], row["vol24h"] = f"{turnover:.4f}", f"{base:.8f}"
            else:
                row["volCcy24h"], row["vol24h"] = f"{base:.8f}", f"{base / float(inst.ct):.2f}"
            rows.append(row)
        return rows

    def _recent_candles(self, query: Any) -> list[Any]:
        """``/market/candles``: like the venue, only the latest RECENT_BARS bars."""
        return self._candles(query, max_limit=KLINE_LIMIT, recent_only=True)

    def _history_candles(self, query: Any) -> list[Any]:
        """``/market/history-candles``: any age."""
        return self._candles(query, max_limit=HISTORY_KLINE_LIMIT, recent_only=False)

    def _candles(self, query: Any, max_limit: int, recent_only: bool) -> list[Any]:
        """Newest first; ``after`` = older than, ``before`` = newer than (open times)."""
        inst = self._query_inst(query)
        bar = query.get("bar") or "1m"
        interval = BAR_INTERVALS.get(bar)
        if interval is None:
            raise _Refusal("51000", "Parameter bar error")
        limit = _int_param(query, "limit", 100)
        after = _int_param(query, "after", None)
        before = _int_param(query, "before", None)
        assert limit is not None
        if not 1 <= limit <= max_limit:
            raise _Refusal("51000", "Parameter limit error")
        end = None if after is None else after - 1
        start = None if before is None else before + 1
        series = inst.sim.series[interval]
        if recent_only:
            horizon = self.market.now_ms - RECENT_BARS * INTERVAL_MS[interval]
            start = horizon if start is None else max(start, horizon)
        rows = series.query(start, end, 10**6)[-limit:] if start is not None else \
            series.query(None, end, limit)
        return [self._candle_row(inst, c) for c in reversed(rows)]

    def _books(self, query: Any) -> list[Any]:
        inst = self._query_inst(query)
        sz = _int_param(query, "sz", 1)
        assert sz is not None
        if not 1 <= sz <= BOOK_DEPTH:
            raise _Refusal("51000", "Parameter sz error")
        # flush first: the seqId must describe exactly this book
        self._flush_book(inst)
        return wire.rest_book(inst.levels(True, sz), inst.levels(False, sz), inst.seq,
                              self.market.now_ms)


class OkxSimThread(SimThread):
    """An OkxSim on its own thread and loop (``--demo``); knobs are marshalled onto it."""

    sim_class = OkxSim

    @property
    def sim(self) -> OkxSim:
        if self._sim is None:
            raise RuntimeError("OkxSimThread not started")
        return self._sim  # type: ignore[return-value]  # sim_class is OkxSim on this thread

    def corrupt_checksum(self, inst_id: str) -> None:
        self.call(self.sim.corrupt_checksum, inst_id)

    def maintenance_seq_reset(self, inst_id: str) -> None:
        self.call(self.sim.maintenance_seq_reset, inst_id)

    def set_zero_checksum(self, on: bool = True) -> None:
        self.call(self.sim.set_zero_checksum, on)

    def send_book_keepalive(self, inst_id: str) -> bool:
        return self.call(self.sim.send_book_keepalive, inst_id)

    def last_sent_seq(self, inst_id: str) -> int | None:
        return self.call(self.sim.last_sent_seq, inst_id)
