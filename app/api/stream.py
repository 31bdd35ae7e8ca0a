"""The WebSocket stream: subscriptions to depth, ticker, trade and kline of streamed
instruments, each subscriber paced on its own.

A client's messages wait in two places:

- ``queue``: what must arrive in order and in full (acks, trades), bounded: a client
  ``max_queue`` messages behind is hopelessly behind and is closed with code 4008;
- ``slots``: the newest message per key for state that supersedes itself (a book of one
  depth, a ticker, one candle): a new book replaces the one still waiting, so a slow
  client gets fewer, newer books and its memory never grows.

One sender task per client writes queue first, then slots. The engine is read without
ever waiting on it: depth and klines are polled every ``depth_interval`` (a change
counter first, then the top levels only, serialized once per book for every subscriber);
trades and tickers come from a listener that only appends to a deque on the engine
thread and wakes this loop at most once per batch. A send stuck for ``stall_timeout``
(a client that stopped reading) closes the connection with 4008 as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.websockets import WebSocket

from app.engine_api import LiveSource
from app.errors import CryptotermError
from app.market.events import Kline, MarketEvent, Ticker, Trade
from app.market.klines import INTERVAL_MS

log = logging.getLogger(__name__)

CHANNELS = ("depth", "ticker", "trade", "kline")
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_SLOW = 4008
# A close frame queues behind what is already in flight: a client that does not read for
# this long after being dropped never sees it, and its connection is ended without one.
CLOSE_WAIT = 10.0
MAX_DEPTH = 1000

Key = tuple[Any, ...]  # ("depth", id, depth) | ("ticker", id) | ("trade", id) | ("kline", id, interval)


@dataclass(slots=True)
class Pace:
    depth_interval: float = 0.1  # seconds between looks at subscribed books and candles
    max_queue: int = 5000  # acks and trades waiting before a client counts as hopelessly behind
    stall_timeout: float = 10.0  # one send blocked this long: the client stopped reading
    max_subscriptions: int = 500


class RequestError(CryptotermError):
    """A stream request refused; answered to the client with its id, never fatal."""

    default_title = "Data API"

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.param = param


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class Client:
    __slots__ = ("ws", "queue", "slots", "wake", "subs", "sending_since", "closed", "sender",
                 "reader")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.queue: deque[str] = deque()
        self.slots: dict[Key, str] = {}
        self.wake = asyncio.Event()
        self.subs: set[Key] = set()
        self.sending_since: float | None = None
        self.closed = False
        self.sender: asyncio.Task[None] | None = None
        self.reader: asyncio.Task[Any] | None = None  # the connection's own task (serve)

    def put(self, msg: str, limit: int) -> bool:
        """Queue ``msg``; False when the client is ``limit`` messages behind."""
        if len(self.queue) >= limit:
            return False
        self.queue.append(msg)
        self.wake.set()
        return True

    def offer(self, key: Key, msg: str) -> None:
        """The newest message for ``key``: replaces one not sent yet."""
        self.slots[key] = msg
        self.wake.set()


@dataclass(slots=True, eq=False)
class DepthFeed:
    clients: set[Client] = field(default_factory=set)
    seq: int | None = None
    synced: bool | None = None  # None: not looked at yet
    bids: tuple[Any, ...] = ()
    asks: tuple[Any, ...] = ()
    last: str | None = None  # the newest book message, for a new subscriber


@dataclass(slots=True, eq=False)
class KlineFeed:
    clients: set[Client] = field(default_factory=set)
    seq: int | None = None
    sent: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # open time -> signature


def _sig(k: Kline) -> tuple[Any, ...]:
    return (k.open, k.high, k.low, k.close, k.volume, k.closed)


class StreamBroker:
    """Owns every stream client; all its methods but ``_on_event`` run on the API loop."""

    def __init__(self, source: LiveSource, pace: Pace | None = None) -> None:
        self.source = source
        self.pace = pace or Pace()
        self._clients: set[Client] = set()
        self._depth: dict[Key, DepthFeed] = {}
        self._kline: dict[Key, KlineFeed] = {}
        self._events: dict[Key, set[Client]] = {}  # ("trade"|"ticker", id) -> subscribers
        self._wanted: frozenset[Key] = frozenset()  # read by the engine thread, swapped whole
        self._inbox: deque[MarketEvent] = deque()
        self._poked = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0
        self.dropped_slow = 0

    # -- the engine thread ---------------------------------------------------------

    def _on_event(self, ev: MarketEvent) -> None:
        """Runs in the engine's hot path with the hub lock held: a set lookup, and for a
        wanted event an append and at most one wake-up per batch."""
        kind = type(ev)
        if kind is Trade:
            if ("trade", ev.id) not in self._wanted:
                return
        elif kind is Ticker:
            if ("ticker", ev.id) not in self._wanted:
                return
        else:
            return
        self._inbox.append(ev)
        if not self._poked and self._loop is not None:
            self._poked = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the API loop has closed: nobody to tell
                pass

    # -- the API loop --------------------------------------------------------------

    async def run(self) -> None:
        """Listen to the engine and poll the subscribed books until cancelled."""
        self._loop = asyncio.get_running_loop()
        stop = self.source.listen(self._on_event)
        try:
            while True:
                await asyncio.sleep(self.pace.depth_interval)
                self._poll()
        finally:
            stop()

    def stats(self) -> dict[str, int]:
        return {"clients": len(self._clients), "subscriptions": sum(len(c.subs) for c in self._clients),
                "delivered": self.delivered, "dropped_slow": self.dropped_slow}

    def shutdown(self) -> None:
        for c in list(self._clients):
            self._drop(c, CLOSE_GOING_AWAY, "server shutting down", slow=False)

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        c = Client(ws)
        self._clients.add(c)
        c.sender = asyncio.get_running_loop().create_task(self._send_loop(c))
        c.reader = asyncio.current_task()
        try:
            while True:
                try:
                    msg = await ws.receive()
                except asyncio.CancelledError:
                    if c.closed:  # dropped, and its close could not be delivered: end it
                        break
                    raise
                if msg["type"] == "websocket.disconnect":
                    break
                if c.closed:
                    continue
                text = msg.get("text")
                if text is None:
                    text = (msg.get("bytes") or b"").decode("utf-8", "replace")
                self._handle(c, text)
        finally:
            self._forget(c)
            if c.sender is not None:
                c.sender.cancel()

    async def _send_loop(self, c: Client) -> None:
        send = c.ws.send
        loop = asyncio.get_running_loop()
        queue, slots = c.queue, c.slots
        try:
            while True:
                await c.wake.wait()
                c.wake.clear()
                while queue or slots:
                    if queue:
                        msg = queue.popleft()
                    else:
                        key = next(iter(slots))
                        msg = slots.pop(key)
                    c.sending_since = loop.time()
                    await send({"type": "websocket.send", "text": msg})
                    c.sending_since = None
                    self.delivered += 1
                    if queue or slots:
                        # a send into a free buffer does not yield: without this, a
                        # thousand clients' backlogs would run ahead of every HTTP request
                        await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:  # the connection went away mid-send; the receive side ends it
            log.debug("stream send failed", exc_info=True)

    def _drain(self) -> None:
        self._poked = False
        inbox = self._inbox
        limit = self.pace.max_queue
        while inbox:
            ev = inbox.popleft()
            if type(ev) is Trade:
                clients = self._events.get(("trade", ev.id))
                if clients:
                    msg = dumps(ev.to_json())
                    for c in list(clients):
                        if not c.put(msg, limit):
                            self._drop(c, CLOSE_TOO_SLOW, f"client too slow: {limit} messages behind")
            else:
                key = ("ticker", ev.id)
                clients = self._events.get(key)
                if clients:
                    msg = dumps(ev.to_json())
                    for c in clients:
                        c.offer(key, msg)

    def _poll(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for c in list(self._clients):
            if c.sending_since is not None and now - c.sending_since > self.pace.stall_timeout:
                self._drop(c, CLOSE_TOO_SLOW,
                           f"client too slow: not reading for {self.pace.stall_timeout:g} s")
        for key, depth_feed in list(self._depth.items()):
            self._poll_depth(key, depth_feed)
        for key, kline_feed in list(self._kline.items()):
            self._poll_kline(key, kline_feed)

    def _poll_depth(self, key: Key, feed: DepthFeed) -> None:
        _, iid, depth = key
        seq = self.source.change_seq(iid)
        if seq is None or seq == feed.seq:
            return
        feed.seq = seq
        top = self.source.book_top(iid, depth)
        if top is None:
            return
        if not top.synced:
            if feed.synced is not False:
                # replaces a book still waiting: a client is never handed stale levels
                feed.synced, feed.last = False, None
                msg = dumps({"type": "book_unsynced", "id": iid, "ts": top.ts, "reason": top.reason})
                for c in feed.clients:
                    c.offer(key, msg)
            return
        if feed.synced and top.bids == feed.bids and top.asks == feed.asks:
            return  # the change was a trade, not the book
        feed.synced, feed.bids, feed.asks = True, top.bids, top.asks
        msg = feed.last = dumps({"type": "book", "id": iid, "ts": top.ts, "bids": top.bids,
                                 "asks": top.asks})
        for c in feed.clients:
            c.offer(key, msg)

    def _poll_kline(self, key: Key, feed: KlineFeed) -> None:
        _, iid, interval = key
        seq = self.source.change_seq(iid)
        if seq is None or seq == feed.seq:
            return
        feed.seq = seq
        series = self.source.live_klines(iid, interval)
        newest = max(feed.sent) if feed.sent else None
        for k in series[-3:]:  # a candle that closed since the last look comes with the new one
            if newest is not None and k.open_time < newest:
                continue
            sig = _sig(k)
            if feed.sent.get(k.open_time) == sig:
                continue
            feed.sent[k.open_time] = sig
            msg = dumps(k.to_json())
            slot = (*key, k.open_time)
            for c in feed.clients:
                c.offer(slot, msg)
        for t in sorted(feed.sent)[:-3]:
            del feed.sent[t]

    # -- requests ------------------------------------------------------------------

    def _reply(self, c: Client, body: dict[str, Any]) -> None:
        if not c.put(dumps(body), self.pace.max_queue):
            self._drop(c, CLOSE_TOO_SLOW, f"client too slow: {self.pace.max_queue} messages behind")

    def _handle(self, c: Client, text: str) -> None:
        rid: Any = None
        try:
            try:
                req = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise RequestError(f"not JSON: {exc}", None) from None
            if not isinstance(req, dict):
                raise RequestError("a request is a JSON object: {\"id\": 1, \"method\": \"subscribe\", "
                                   "\"params\": {...}}", None)
            rid = req.get("id")
            if not (rid is None or isinstance(rid, (int, str))) or isinstance(rid, bool):
                rid = None
                raise RequestError("id: must be a number or a string", "id")
            method = req.get("method")
            if method not in ("subscribe", "unsubscribe"):
                raise RequestError(f"method {method!r}: use subscribe or unsubscribe", "method")
            params = req.get("params")
            if not isinstance(params, dict):
                raise RequestError("params: an object such as {\"channel\": \"depth\", \"symbol\": "
                                   "\"cryptopair_binance_btcusdt\"}", "params")
            key = self._key(params)
            if method == "subscribe":
                self._subscribe(c, key, rid)
            else:
                self._unsubscribe(c, key, rid)
        except RequestError as exc:
            self._reply(c, {"id": rid, "error": exc.message, "param": exc.param})

    def _key(self, params: dict[str, Any]) -> Key:
        channel = params.get("channel")
        if channel not in CHANNELS:
            raise RequestError(f"channel {channel!r}: use one of {', '.join(CHANNELS)}", "channel")
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise RequestError("symbol: required, an instrument id such as cryptopair_binance_btcusdt",
                               "symbol")
        iid = symbol.strip().lower()
        if self.source.change_seq(iid) is None:
            raise RequestError(f"symbol {symbol}: not streamed in this session (see "
                               "/api/v1/crypto/pairs)", "symbol")
        if channel == "depth":
            depth = params.get("depth", 20)
            if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= MAX_DEPTH:
                raise RequestError(f"depth {depth!r}: a whole number from 1 to {MAX_DEPTH}", "depth")
            return ("depth", iid, depth)
        if channel == "kline":
            interval = params.get("interval", "1m")
            if interval not in INTERVAL_MS:
                raise RequestError(f"interval {interval!r}: use one of {', '.join(INTERVAL_MS)}",
                                   "interval")
            return ("kline", iid, interval)
        return (channel, iid)

    def _ack(self, c: Client, key: Key, rid: Any, result: str) -> None:
        body: dict[str, Any] = {"id": rid, "result": result, "channel": key[0], "symbol": key[1]}
        if key[0] == "depth":
            body["depth"] = key[2]
        elif key[0] == "kline":
            body["interval"] = key[2]
        self._reply(c, body)

    def _subscribe(self, c: Client, key: Key, rid: Any) -> None:
        if key not in c.subs and len(c.subs) >= self.pace.max_subscriptions:
            raise RequestError(f"at most {self.pace.max_subscriptions} subscriptions per connection",
                               "params")
        c.subs.add(key)
        self._ack(c, key, rid, "subscribed")
        channel, iid = key[0], key[1]
        if channel == "depth":
            depth_feed = self._depth.get(key)
            if depth_feed is None:
                depth_feed = self._depth[key] = DepthFeed()
                depth_feed.clients.add(c)
                self._poll_depth(key, depth_feed)  # the current book now, not a tick later
            else:
                depth_feed.clients.add(c)
                if depth_feed.last is not None:
                    c.offer(key, depth_feed.last)
        elif channel == "kline":
            kline_feed = self._kline.get(key)
            if kline_feed is None:
                kline_feed = self._kline[key] = KlineFeed()
                self.source.watch(iid, key[2])  # the engine streams this interval from now on
            kline_feed.clients.add(c)
            live = self.source.live_klines(iid, key[2])
            if live:
                c.offer((*key, live[-1].open_time), dumps(live[-1].to_json()))
        else:
            self._events.setdefault(key, set()).add(c)
            self._wanted = frozenset(self._events)
            if channel == "ticker":
                t = self.source.ticker(iid)
                if t is not None:
                    c.offer(key, dumps(t.to_json()))

    def _unsubscribe(self, c: Client, key: Key, rid: Any) -> None:
        if key not in c.subs:
            raise RequestError(f"not subscribed to {' '.join(str(k) for k in key)}", "params")
        self._remove(c, key)
        for slot in [s for s in c.slots if s[:len(key)] == key]:
            del c.slots[slot]  # nothing of it after the ack
        self._ack(c, key, rid, "unsubscribed")

    def _remove(self, c: Client, key: Key) -> None:
        c.subs.discard(key)
        feeds: dict[Key, Any]
        if key[0] == "depth":
            feeds = self._depth
        elif key[0] == "kline":
            feeds = self._kline
        else:
            feeds = self._events
        feed = feeds.get(key)
        if feed is None:
            return
        clients = feed if isinstance(feed, set) else feed.clients
        clients.discard(c)
        if not clients:
            del feeds[key]
            if feeds is self._events:
                self._wanted = frozenset(self._events)

    def _forget(self, c: Client) -> None:
        self._clients.discard(c)
        for key in list(c.subs):
            self._remove(c, key)

    def _drop(self, c: Client, code: int, reason: str, slow: bool = True) -> None:
        if c.closed:
            return
        c.closed = True
        if slow:
            self.dropped_slow += 1
            log.info("stream client dropped: %s", reason)
        self._forget(c)
        c.queue.clear()
        c.slots.clear()
        if c.sender is not None:
            c.sender.cancel()
        asyncio.get_running_loop().create_task(self._close(c, code, reason))

    async def _close(self, c: Client, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(c.ws.close(code, reason), CLOSE_WAIT)
            return
        except Exception:  # already gone, or too stuck to even take the close frame
            log.debug("stream close failed", exc_info=True)
        if c.reader is not None and not c.reader.done():
            c.reader.cancel()
