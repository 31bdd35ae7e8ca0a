"""The data API over real HTTP and WebSocket: uvicorn on 127.0.0.1 (a free port), the
engine on its own thread, the Binance simulator behind it, a real SQLite store. Every
answer is compared with the engine's state or the store."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.api.server import SEND_BUFFER, WRITE_HIGH_WATER, ApiServer
from app.api.stream import CLOSE_TOO_SLOW, Pace
from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.market.events import Kline
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from storage.db import open_database
from storage.recorder import Recorder
from tests.waiting import wait

BTC = "cryptopair_binance_btcusdt"
ETH = "cryptopair_binance_ethusdt"
PERP = "cryptoperp_binance_btcusdt"
T0 = 1_600_000_020_000 - 1_600_000_020_000 % 60_000  # stored history, years before the sim's clock
STORED = 30
TOKEN = "a-test-token-of-enough-length"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    data = tmp_path_factory.mktemp("api")
    db = open_database(data / "cryptoterm.db", data)
    Recorder(db).ingest([Kline(BTC, "1m", T0 + i * 60_000, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i,
                               float(i), closed=True) for i in range(STORED)])
    sim = BinanceSimThread(default_demo_symbols(), seed=3, rate=100.0).start()
    cfg = load_config(data_dir=data)
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"],
                    settings=ConnectionSettings(backoff_base=0.05, resync_base=0.05, resync_cap=0.3))
    engine.recording_control.database_factory = lambda: db
    engine.start()
    server = ApiServer(engine, port=0)
    server.start()
    wait(lambda: all((v := engine.view(i)) is not None and v.synced and v.ticker and v.klines
                     for i in (BTC, ETH, PERP)), 15, "synced books, tickers and klines")
    yield engine, sim, server, db
    server.stop()
    engine.stop()
    sim.stop()
    db.dispose()


def get(server: ApiServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, Any, dict[str, str]]:
    req = urllib.request.Request(server.url + path, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def api(server: ApiServer, path: str) -> tuple[int, Any]:
    status, body, _ = get(server, "/api/v1/crypto/" + path)
    return status, body


class paused:
    """The simulator frozen and the engine caught up: the engine's state holds still."""

    def __init__(self, engine: Engine, sim: BinanceSimThread) -> None:
        self.engine, self.sim = engine, sim

    def __enter__(self) -> None:
        self.sim.pause()
        seqs: list[tuple[int | None, ...]] = []

        def still() -> bool:
            seqs.append(tuple(self.engine.change_seq(i) for i in (BTC, ETH, PERP)))
            return len(seqs) > 5 and len(set(seqs[-5:])) == 1

        wait(still, 5, "the engine to settle", poll=0.05)

    def __exit__(self, *exc: object) -> None:
        self.sim.resume()


# -- REST --------------------------------------------------------------------------------

def test_exchanges_and_pairs_are_the_engines_markets(session):
    engine, _, server, _ = session
    assert api(server, "exchanges") == (200, {"exchanges": ["binance"]})
    status, body = api(server, "pairs?exchange=binance&type=perp")
    assert status == 200 and body["count"] == len(body["pairs"]) > 0
    listed = {i.id: i for i in engine.markets() if i.market == "perp"}
    assert {p["id"] for p in body["pairs"]} == set(listed)
    btc = next(p for p in body["pairs"] if p["id"] == PERP)
    inst = listed[PERP]
    assert btc == {"id": PERP, "symbol": "BTC/USDT:USDT", "exchange": "binance", "base": "BTC",
                   "quote": "USDT", "type": "perp", "tick_size": inst.tick_size,
                   "lot_size": inst.lot_size, "min_notional": inst.min_notional, "streamed": True}
    status, body = api(server, "pairs")
    assert {p["id"] for p in body["pairs"] if p["streamed"]} == {BTC, ETH, PERP}
    assert {p["type"] for p in body["pairs"]} == {"spot", "perp"}


def test_orderbook_is_the_engines_book(session):
    engine, sim, server, _ = session
    with paused(engine, sim):
        status, body = api(server, f"orderbook?symbol={BTC}&depth=20")
        top = engine.book_top(BTC, 20)
        _, truth_bids, truth_asks = sim.truth("BTCUSDT", "spot")
    assert status == 200 and body["synced"] is True and body["symbol"] == BTC
    assert body["bids"] == [list(level) for level in top.bids] and len(body["bids"]) == 20
    assert body["asks"] == [list(level) for level in top.asks]
    assert body["ts"] == top.ts > 0
    # and that is the venue's truth
    best = sorted(truth_bids.items(), reverse=True)[:20]
    assert [tuple(level) for level in body["bids"]] == best
    status, body = api(server, f"orderbook?symbol={ETH}&depth=3")
    assert status == 200 and len(body["bids"]) == len(body["asks"]) == 3


def test_an_unsynced_book_is_503_with_the_reason_never_stale_levels(session):
    engine, sim, server, _ = session
    sim.fail_rest(503, seconds=2.0, path="/api/v3/depth")
    sim.skip_sequence("ETHUSDT", "spot")  # a gap: the book needs a REST snapshot, which fails
    answers = []

    def refused() -> bool:
        answers.append(api(server, f"orderbook?symbol={ETH}"))
        return answers[-1][0] == 503 and "REST 503" in answers[-1][1]["error"]

    wait(refused, 10, "a 503 saying why")
    status, body = answers[-1]
    assert body["synced"] is False and body["param"] == "symbol" and "bids" not in body
    assert body["error"].startswith(f"the book of {ETH} is not synced: resync: REST 503")
    assert body["reason"] in body["error"]
    wait(lambda: api(server, f"orderbook?symbol={ETH}")[0] == 200, 15, "the resync")


def test_ticker_is_the_engines_ticker(session):
    engine, sim, server, _ = session
    with paused(engine, sim):
        status, body = api(server, f"ticker?symbol={PERP}")
        t = engine.ticker(PERP)
    assert status == 200
    assert body == {"type": "ticker", "id": PERP, "ts": t.ts, "last": t.last, "bid": t.bid,
                    "ask": t.ask, "high_24h": t.high_24h, "low_24h": t.low_24h,
                    "volume_24h": t.volume_24h, "open_24h": t.open_24h}


def test_kdata_is_the_store_plus_the_live_open_candle(session):
    engine, sim, server, db = session
    # a stored range: exactly the store's rows
    status, body = api(server, f"kdata?symbol={BTC}&interval=1m&start={T0}&end={T0 + 9 * 60_000}")
    assert status == 200 and body["count"] == 10
    assert body["data"][0] == {"open_time": T0, "open": 100.0, "high": 101.0, "low": 99.0,
                               "close": 100.5, "volume": 0.0, "closed": True}
    assert [k["open_time"] for k in body["data"]] == [T0 + i * 60_000 for i in range(10)]
    with paused(engine, sim):
        status, body = api(server, f"kdata?symbol={BTC}&interval=1m&limit=100")
        live = engine.live_klines(BTC, "1m")
    assert status == 200 and body["count"] == 100
    # the newest: the engine's candles, the open one last
    assert body["data"][-1] == {"open_time": live[-1].open_time, "open": live[-1].open,
                                "high": live[-1].high, "low": live[-1].low, "close": live[-1].close,
                                "volume": live[-1].volume, "closed": False}
    assert [k["open_time"] for k in body["data"]] == [k.open_time for k in live[-100:]]
    # all of it: the stored history first, then the live
    status, body = api(server, f"kdata?symbol={BTC}&limit=5000")
    times = [k["open_time"] for k in body["data"]]
    assert times[:STORED] == [T0 + i * 60_000 for i in range(STORED)] and times == sorted(times)
    assert body["count"] == STORED + len(engine.live_klines(BTC, "1m"))


def test_kdata_asks_the_engine_for_an_interval_it_did_not_stream(session):
    engine, _, server, _ = session
    wait(lambda: api(server, f"kdata?symbol={ETH}&interval=15m&limit=10")[1]["count"] == 10, 10,
         "15m candles fetched on request")
    body = api(server, f"kdata?symbol={ETH}&interval=15m&limit=10")[1]
    assert all(b["open_time"] - a["open_time"] == 900_000 for a, b in zip(body["data"], body["data"][1:]))


def test_health_is_the_engines_per_connection_health(session):
    engine, _, server, _ = session
    status, body = api(server, "health")
    assert status == 200
    names = [c["name"] for c in body["connections"]]
    assert names == [h.name for h in engine.health()]
    spot = body["connections"][names.index("binance spot")]
    assert spot["state"] == "connected" and spot["messages"] > 0 and spot["msgs_per_sec"] > 0
    assert set(spot) == {"name", "state", "last_message_age", "msgs_per_sec", "messages", "gaps",
                         "resyncs", "reconnects", "unsynced", "error", "backlog"}
    assert 0 <= spot["last_message_age"] < 5
    assert set(body["api"]) == {"clients", "subscriptions", "delivered", "dropped_slow"}


@pytest.mark.parametrize("path, status, param, words", [
    ("kdata?interval=1m", 400, "symbol", "symbol: required"),
    (f"kdata?symbol={BTC}&limit=0", 400, "limit", "below the minimum 1"),
    (f"kdata?symbol={BTC}&limit=5001", 400, "limit", "above the maximum 5000"),
    (f"kdata?symbol={BTC}&limit=ten", 400, "limit", "'ten' is not a whole number"),
    (f"kdata?symbol={BTC}&interval=7m", 400, "interval", "use one of 1m, 3m"),
    (f"kdata?symbol={BTC}&start=5&end=4", 400, "start", "start 5 is after end 4"),
    (f"kdata?symbol={BTC}&start=-1", 400, "start", "below the minimum 0"),
    ("kdata?symbol=BTCUSDT", 400, "symbol", "ids look like cryptopair_binance_btcusdt"),
    ("kdata?symbol=cryptopair_binance_dogeusdt", 404, "symbol", "unknown instrument"),
    (f"orderbook?symbol={BTC}&depth=1001", 400, "depth", "above the maximum 1000"),
    ("orderbook?symbol=cryptopair_binance_solusdt", 404, "symbol", "listed but not streamed"),
    ("ticker?symbol=cryptopair_okx_btcusdt", 404, "symbol", "unknown instrument"),
    ("ticker", 400, "symbol", "symbol: required"),
    ("pairs?exchange=kraken", 400, "exchange", "exchange 'kraken': unknown exchange (in use: binance)"),
    ("pairs?exchange=okx", 400, "exchange", "not in use in this session"),
    ("pairs?type=future", 400, "type", "use spot or perp"),
    ("nothing", 404, None, "no such endpoint"),
])
def test_bad_parameters_are_4xx_json_naming_the_parameter(session, path, status, param, words):
    _, _, server, _ = session
    got, body = api(server, path)
    assert (got, body["param"]) == (status, param), body
    assert words in body["error"], body["error"]
    assert "Traceback" not in body["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_api_is_read_only(session, method):
    _, _, server, _ = session
    status, body, _ = get(server, f"/api/v1/crypto/orderbook?symbol={BTC}", method=method)
    assert status == 405 and "read-only" in body["error"]


def test_openapi_docs_are_served(session):
    _, _, server, _ = session
    status, body, _ = get(server, "/openapi.json")
    assert status == 200
    assert {f"/api/v1/crypto/{p}" for p in ("exchanges", "pairs", "kdata", "ticker", "orderbook",
                                           "health")} <= set(body["paths"])
    assert all(set(ops) == {"get"} for ops in body["paths"].values())
    with urllib.request.urlopen(server.url + "/docs", timeout=5) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()


# -- WebSocket ---------------------------------------------------------------------------

def ws_url(server: ApiServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/api/v1/crypto/stream" + query


def request(ws, rid: Any, method: str, **params: Any) -> None:
    ws.send(json.dumps({"id": rid, "method": method, "params": params}))


def receive_until(ws, cond, timeout: float = 5.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    end = time.monotonic() + timeout
    while not got or not cond(got):
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; got {[m.get('type', m.get('result')) for m in got][-20:]}")
        got.append(json.loads(ws.recv(timeout=left)))
    return got


def test_stream_acks_carry_the_request_id_and_pushes_are_normalized_events(session):
    engine, sim, server, _ = session
    with connect(ws_url(server)) as ws:
        request(ws, 1, "subscribe", channel="depth", symbol=BTC, depth=5)
        request(ws, "two", "subscribe", channel="trade", symbol=BTC)
        request(ws, 3, "subscribe", channel="ticker", symbol=PERP)
        request(ws, 4, "subscribe", channel="kline", symbol=BTC, interval="1m")
        msgs = receive_until(ws, lambda g: {"book", "trade", "ticker", "kline"} <= {m.get("type") for m in g})
        acks = [m for m in msgs if "result" in m]
        assert acks[:4] == [
            {"id": 1, "result": "subscribed", "channel": "depth", "symbol": BTC, "depth": 5},
            {"id": "two", "result": "subscribed", "channel": "trade", "symbol": BTC},
            {"id": 3, "result": "subscribed", "channel": "ticker", "symbol": PERP},
            {"id": 4, "result": "subscribed", "channel": "kline", "symbol": BTC, "interval": "1m"}]
        first_data = min(n for n, m in enumerate(msgs) if "type" in m)
        assert first_data > msgs.index(acks[0])  # data only after its ack
        book = next(m for m in msgs if m.get("type") == "book")
        assert set(book) == {"type", "id", "ts", "bids", "asks"} and book["id"] == BTC
        assert len(book["bids"]) == len(book["asks"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        trade = next(m for m in msgs if m.get("type") == "trade")
        assert set(trade) == {"type", "id", "ts", "price", "amount", "side", "trade_id"}
        assert trade["side"] in ("buy", "sell") and trade["id"] == BTC
        kline = next(m for m in msgs if m.get("type") == "kline")
        assert kline["interval"] == "1m" and kline["id"] == BTC
        ticker = next(m for m in msgs if m.get("type") == "ticker")
        assert ticker["id"] == PERP and ticker["last"] > 0

        # once frozen, the last book pushed is the engine's book
        with paused(engine, sim):
            top = engine.book_top(BTC, 5)
            msgs = receive_until(ws, lambda g: any(m.get("type") == "book" and m["ts"] == top.ts
                                                   for m in g))
            pushed = [m for m in msgs if m.get("type") == "book"][-1]
            assert pushed["bids"] == [list(level) for level in top.bids]
            assert pushed["asks"] == [list(level) for level in top.asks]

        request(ws, 5, "unsubscribe", channel="trade", symbol=BTC)
        msgs = receive_until(ws, lambda g: any(m.get("id") == 5 for m in g))
        assert msgs[-1] == {"id": 5, "result": "unsubscribed", "channel": "trade", "symbol": BTC}
        later = receive_until(ws, lambda g: sum(m.get("type") == "book" for m in g) >= 5)
        assert not any(m.get("type") == "trade" for m in later)


@pytest.mark.parametrize("raw, param, words", [
    ("not json", None, "not JSON"),
    ("[1, 2]", None, "a request is a JSON object"),
    ('{"id": 7, "method": "order", "params": {}}', "method", "use subscribe or unsubscribe"),
    ('{"id": 7, "method": "subscribe"}', "params", "params: an object"),
    ('{"id": 7, "method": "subscribe", "params": {"channel": "fills", "symbol": "x"}}', "channel",
     "use one of depth, ticker, trade, kline"),
    ('{"id": 7, "method": "subscribe", "params": {"channel": "depth"}}', "symbol", "symbol: required"),
    ('{"id": 7, "method": "subscribe", "params": {"channel": "depth", "symbol": "cryptopair_binance_solusdt"}}',
     "symbol", "not streamed in this session"),
    (f'{{"id": 7, "method": "subscribe", "params": {{"channel": "depth", "symbol": "{BTC}", "depth": 0}}}}',
     "depth", "a whole number from 1 to 1000"),
    (f'{{"id": 7, "method": "subscribe", "params": {{"channel": "kline", "symbol": "{BTC}", "interval": "2m"}}}}',
     "interval", "use one of 1m"),
    (f'{{"id": 7, "method": "unsubscribe", "params": {{"channel": "trade", "symbol": "{BTC}"}}}}',
     "params", "not subscribed to trade"),
])
def test_stream_bad_requests_are_answered_naming_the_parameter(session, raw, param, words):
    _, _, server, _ = session
    with connect(ws_url(server)) as ws:
        ws.send(raw)
        reply = json.loads(ws.recv(timeout=5))
        assert reply["param"] == param and words in reply["error"], reply
        assert reply["id"] == (7 if raw.startswith("{") else None)
        # the connection lives on
        request(ws, 8, "subscribe", channel="ticker", symbol=BTC)
        assert receive_until(ws, lambda g: any(m.get("id") == 8 for m in g))[-1]["result"] == "subscribed"


class FreshReader(ClientConnection):
    """A client that wants fresh books over complete ones keeps its buffers small."""

    recv_bufsize = 4096


SMALL_RCVBUF = 4096  # a fresh reader's kernel receive buffer (Linux doubles it)


def small_window(server: ApiServer) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.connect(("127.0.0.1", server.port))
    return sock


def test_a_slow_reader_gets_fewer_newer_books_and_a_stuck_one_is_closed(session):
    engine, _, _, _ = session
    server = ApiServer(engine, port=0, pace=Pace(depth_interval=0.02, stall_timeout=2.5))
    server.start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        fast = stack.enter_context(connect(ws_url(server)))
        slow = stack.enter_context(connect(ws_url(server), sock=small_window(server), max_queue=1,
                                           create_connection=FreshReader))
        # never reads until it is dropped
        stuck = stack.enter_context(connect(ws_url(server), sock=small_window(server), max_queue=1,
                                            create_connection=FreshReader))
        for ws in (fast, slow, stuck):
            for n, iid in enumerate((BTC, ETH, PERP)):
                request(ws, n, "subscribe", channel="depth", symbol=iid, depth=1000 if ws is stuck else 20)
        fast_books = 0
        newest: dict[str, float] = {}  # the freshest book's time per instrument, as the fast reader saw it
        slow_books: list[tuple[float, dict[str, Any]]] = []
        behind: list[float] = []  # how much older the slow reader's book is than the freshest
        slots, queued = [], []
        end = time.monotonic() + 6.0
        while time.monotonic() < end:
            while True:  # the fast reader takes everything there is
                try:
                    m = json.loads(fast.recv(timeout=0.005))
                except TimeoutError:
                    break
                if m.get("type") == "book":
                    fast_books += 1
                    newest[m["id"]] = max(newest.get(m["id"], 0.0), m["ts"])
            m = json.loads(slow.recv(timeout=2))
            if m.get("type") == "book":
                slow_books.append((time.time() * 1000, m))
                behind.append(max(newest.get(m["id"], 0.0) - m["ts"], 0.0))
            slots.append(max(len(c.slots) for c in server.broker._clients))
            queued.append(max(len(c.queue) for c in server.broker._clients))
            time.sleep(0.1)  # the slow reader's pace: 10 messages a second
        lags = [at - m["ts"] for at, m in slow_books]
        assert len(slow_books) < fast_books
        # what waits on the server per client is one book per subscription, never a queue
        assert max(slots) <= 3 and max(queued) <= 3  # (the three acks, at most)
        # fewer and newer: the slow reader's books of one instrument skip versions
        btc = [m["ts"] for _, m in slow_books if m["id"] == BTC]
        assert max(b - a for a, b in zip(btc, btc[1:])) >= 200
        # and its lag is what the few KB in flight hold, never a backlog: the books between the one
        # it reads and the freshest are at most what fits in the buffers on both ends (Linux doubles
        # SO_SNDBUF/SO_RCVBUF), plus one waiting in each of the three subscriptions' slots. Counted in
        # reads, not milliseconds, since on a loaded machine both the simulator and this loop run slow.
        read_ms = (slow_books[-1][0] - slow_books[0][0]) / (len(slow_books) - 1)
        book_bytes = sum(len(json.dumps(m)) for _, m in slow_books) / len(slow_books)
        in_flight = 2 * SEND_BUFFER + WRITE_HIGH_WATER + 2 * SMALL_RCVBUF + FreshReader.recv_bufsize
        held = in_flight / book_bytes + 3
        assert max(behind) / read_ms < held, (behind, read_ms, book_bytes, lags)
        wait(lambda: server.broker.dropped_slow == 1, 10, "the stuck reader to be dropped")
        with pytest.raises(ConnectionClosed):
            while True:
                stuck.recv(timeout=5)
        assert stuck.close_code == CLOSE_TOO_SLOW and "too slow" in stuck.close_reason
        assert server.broker.stats()["clients"] == 2  # the others live on


def test_a_reader_too_far_behind_on_trades_is_closed_not_queued_for(session):
    engine, _, _, _ = session
    server = ApiServer(engine, port=0, pace=Pace(max_queue=20, stall_timeout=60.0))
    server.start()
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        ws = stack.enter_context(connect(ws_url(server), sock=small_window(server), max_queue=1,
                                         create_connection=FreshReader))
        for n, iid in enumerate((BTC, ETH, PERP)):
            request(ws, n, "subscribe", channel="trade", symbol=iid)
            request(ws, 10 + n, "subscribe", channel="depth", symbol=iid, depth=1000)
        wait(lambda: server.broker.dropped_slow == 1, 15, "the reader to be dropped")
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
        assert ws.close_code == CLOSE_TOO_SLOW
        assert ws.close_reason == "client too slow: 20 messages behind"


# -- the token ---------------------------------------------------------------------------

def test_beyond_loopback_a_token_is_generated_and_a_given_one_is_kept(session):
    engine = session[0]
    assert ApiServer(engine, host="127.0.0.1").token is None
    generated = ApiServer(engine, host="0.0.0.0")  # not started: nothing listens beyond loopback
    assert generated.token_generated and len(generated.token) >= 24
    assert ApiServer(engine, host="0.0.0.0").token != generated.token
    kept = ApiServer(engine, host="192.168.1.10", token=TOKEN)
    assert kept.token == TOKEN and not kept.token_generated


def test_a_token_is_checked_on_every_request_and_websocket_connect(session):
    engine = session[0]
    server = ApiServer(engine, port=0, token=TOKEN)
    server.start()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
            status, body, got = get(server, "/api/v1/crypto/exchanges", headers)
            assert status == 401 and body["param"] == "token" and got["www-authenticate"] == "Bearer"
        assert get(server, "/openapi.json")[0] == 401
        assert get(server, "/api/v1/crypto/exchanges", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert get(server, f"/api/v1/crypto/exchanges?token={TOKEN}")[0] == 200
        # /docs with the token leaves a cookie, so the page's own fetch of the schema passes
        with urllib.request.urlopen(f"{server.url}/docs?token={TOKEN}", timeout=5) as r:
            cookie = r.headers["set-cookie"].split(";")[0]
        assert get(server, "/openapi.json", {"Cookie": cookie})[0] == 200
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(server))
        assert refused.value.response.status_code == 403
        with connect(ws_url(server), additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            request(ws, 1, "subscribe", channel="ticker", symbol=BTC)
            assert json.loads(ws.recv(timeout=5))["result"] == "subscribed"
        with connect(ws_url(server, f"?token={TOKEN}")) as ws:
            request(ws, 1, "subscribe", channel="ticker", symbol=BTC)
            assert json.loads(ws.recv(timeout=5))["result"] == "subscribed"
    finally:
        server.stop()
