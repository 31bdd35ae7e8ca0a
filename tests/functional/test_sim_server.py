"""The Binance simulator over real sockets on 127.0.0.1: streams, REST, sync, knobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.sim import BinanceSim, BinanceSimThread, SimSymbol
from app.sim.binance_server import parse_ws_path

SYMBOLS = [
    SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 97_000.0, 0.01, 0.00001),
    SimSymbol("SOLUSDT", "SOL", "USDT", "spot", 180.0, 0.01, 0.001),
    SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 97_050.0, 0.1, 0.001, 100.0),
]
T0 = 1_767_270_896_000

KLINE_KEYS = {"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}
SPOT_TICKER_KEYS = {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h",
                    "l", "v", "q", "O", "C", "F", "L", "n"}
PERP_TICKER_KEYS = {"e", "E", "s", "p", "P", "w", "c", "Q", "o", "h", "l", "v", "q", "O", "C",
                    "F", "L", "n"}


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSim]:
    async with BinanceSim(SYMBOLS, seed=5, rate=400, depth_interval_ms=20,
                          start_time_ms=T0) as s:
        yield s


async def recv(ws: Any, timeout: float = 3.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def request(ws: Any, method: str, params: list[Any] | None = None, rid: int = 1) -> Any:
    """Send a request and return its reply, skipping data frames that arrive first."""
    msg: dict[str, Any] = {"method": method, "id": rid}
    if params is not None:
        msg["params"] = params
    await ws.send(orjson.dumps(msg).decode())
    while True:
        reply = await recv(ws)
        if reply.get("id") == rid and ("result" in reply or "error" in reply):
            return reply


async def first(ws: Any, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    async def loop() -> Any:
        while True:
            msg = await recv(ws, timeout)
            if pred(msg):
                return msg
    return await asyncio.wait_for(loop(), timeout)


async def rest(sim: BinanceSim, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(sim.rest_url + path) as r:
        return r.status, orjson.loads(await r.read())


def connect(url: str) -> Any:
    """A test client that never stops reading its socket (an unbounded queue): a
    client whose queue is full cannot see the server's close frame and would wait out
    the 10 s close timeout on exit."""
    return websockets.connect(url, max_queue=None, close_timeout=2)


def apply(book: dict[float, float], levels: list[list[str]]) -> None:
    for price, qty in levels:
        if float(qty) == 0.0:
            book.pop(float(price), None)
        else:
            book[float(price)] = float(qty)


# -- routing and protocol ----------------------------------------------------------------

def test_ws_paths() -> None:
    r = parse_ws_path("/stream?streams=btcusdt@depth@100ms/btcusdt@aggTrade")
    assert r is not None and r.combined and r.market == "spot"
    assert r.streams == ("btcusdt@depth@100ms", "btcusdt@aggTrade")
    r = parse_ws_path("/public/ws/btcusdt@depth")
    assert r is not None and not r.combined and (r.market, r.family) == ("perp", "public")
    r = parse_ws_path("/market/stream?streams=btcusdt@markPrice@1s")
    assert r is not None and r.combined and r.family == "market"
    assert parse_ws_path("/nope") is None and parse_ws_path("/public/nope") is None


async def test_unknown_path_is_refused(sim: BinanceSim) -> None:
    with pytest.raises(InvalidStatus):
        async with websockets.connect(sim.ws_url + "/v5/public"):
            pass


async def test_combined_stream_frames_have_binance_shapes(sim: BinanceSim) -> None:
    streams = ["btcusdt@depth@100ms", "btcusdt@aggTrade", "btcusdt@trade", "btcusdt@kline_1m",
               "btcusdt@ticker", "btcusdt@bookTicker"]
    async with connect(sim.ws_url + "/stream") as ws:
        assert await request(ws, "SUBSCRIBE", streams, rid=1) == {"result": None, "id": 1}
        assert await request(ws, "LIST_SUBSCRIPTIONS", rid=2) == {"result": streams, "id": 2}
        seen: dict[str, Any] = {}
        while len(seen) < len(streams):
            msg = await recv(ws)
            assert set(msg) == {"stream", "data"}
            seen.setdefault(msg["stream"], msg["data"])
    depth = seen["btcusdt@depth@100ms"]
    assert set(depth) == {"e", "E", "s", "U", "u", "b", "a"} and depth["e"] == "depthUpdate"
    assert depth["s"] == "BTCUSDT" and depth["U"] <= depth["u"]
    assert all(isinstance(p, str) and isinstance(q, str) for p, q in depth["b"] + depth["a"])
    agg = seen["btcusdt@aggTrade"]
    assert set(agg) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
    assert isinstance(agg["p"], str) and isinstance(agg["a"], int) and agg["f"] <= agg["l"]
    assert set(seen["btcusdt@trade"]) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
    kline = seen["btcusdt@kline_1m"]
    assert kline["e"] == "kline" and set(kline["k"]) == KLINE_KEYS
    assert kline["k"]["i"] == "1m" and kline["k"]["x"] is False
    assert kline["k"]["T"] - kline["k"]["t"] == 59_999
    ticker = seen["btcusdt@ticker"]
    assert ticker["e"] == "24hrTicker" and set(ticker) == SPOT_TICKER_KEYS
    assert float(ticker["b"]) < float(ticker["a"]) and isinstance(ticker["n"], int)
    assert set(seen["btcusdt@bookTicker"]) == {"u", "s", "b", "B", "a", "A"}


async def test_raw_path_sends_payload_alone(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/ws") as ws:
        await request(ws, "SUBSCRIBE", ["solusdt@aggTrade"])
        msg = await first(ws, lambda m: "e" in m)
        assert msg["e"] == "aggTrade" and msg["s"] == "SOLUSDT"
        assert len(msg["p"].split(".")[1]) == 2 and len(msg["q"].split(".")[1]) == 3


async def test_perp_frames_on_usdm_paths(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/public/ws") as pub, \
            connect(sim.ws_url + "/market/stream") as mkt:
        await request(pub, "SUBSCRIBE", ["btcusdt@depth@100ms"])
        await request(mkt, "SUBSCRIBE", ["btcusdt@markPrice@1s", "btcusdt@ticker",
                                         "btcusdt@kline_1m", "btcusdt@aggTrade"])
        depth = await first(pub, lambda m: "e" in m)
        assert set(depth) == {"e", "E", "T", "s", "U", "u", "pu", "b", "a"}
        assert depth["pu"] < depth["U"] <= depth["u"]
        assert len(depth["b"][0][0].split(".")[1]) == 1  # the perp's 0.1 tick
        seen: dict[str, Any] = {}
        while len(seen) < 4:
            msg = await recv(mkt)
            seen.setdefault(msg["stream"], msg["data"])
    mark = seen["btcusdt@markPrice@1s"]
    assert set(mark) == {"e", "E", "s", "p", "i", "P", "r", "T"} and mark["e"] == "markPriceUpdate"
    assert mark["T"] % (8 * 3_600_000) == 0 and abs(float(mark["r"])) < 0.001
    assert set(seen["btcusdt@ticker"]) == PERP_TICKER_KEYS
    assert set(seen["btcusdt@aggTrade"]) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m"}
    assert set(seen["btcusdt@kline_1m"]["k"]) == KLINE_KEYS


async def test_wrong_usdm_path_is_acked_but_silent(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/public/ws") as wrong_pub, \
            connect(sim.ws_url + "/market/stream?streams=btcusdt@depth@100ms") \
            as wrong_mkt, \
            connect(sim.ws_url + "/market/ws/btcusdt@aggTrade") as right:
        ack = await request(wrong_pub, "SUBSCRIBE", ["btcusdt@aggTrade", "solusdt@depth"], 9)
        assert ack == {"result": None, "id": 9}
        assert (await request(wrong_mkt, "LIST_SUBSCRIPTIONS", rid=3))["result"] == [
            "btcusdt@depth@100ms"]
        await first(right, lambda m: m.get("e") == "aggTrade")  # data does flow meanwhile
        for ws in (wrong_pub, wrong_mkt):
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.4)


async def test_bad_requests_get_binance_errors_and_keep_the_connection(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/ws") as ws:
        await ws.send('{"method": "SUBSCRIBE", "params": [')
        err = await recv(ws)
        assert err["error"]["code"] == 3 and "Invalid JSON" in err["error"]["msg"]
        assert err["id"] is None
        reply = await request(ws, "FROBNICATE", [], rid=4)
        assert reply["error"]["code"] == 2 and reply["id"] == 4
        reply = await request(ws, "SUBSCRIBE", [1, 2], rid=5)
        assert reply["error"]["code"] == 2
        assert await request(ws, "LIST_SUBSCRIPTIONS", rid=6) == {"result": [], "id": 6}
        await request(ws, "SUBSCRIBE", ["btcusdt@aggTrade"], rid=7)
        assert await request(ws, "UNSUBSCRIBE", ["btcusdt@aggTrade"], rid=8) == {
            "result": None, "id": 8}
        assert await request(ws, "LIST_SUBSCRIPTIONS", rid=9) == {"result": [], "id": 9}
        assert await request(ws, "SET_PROPERTY", ["combined", True], rid=10) == {
            "result": None, "id": 10}
        assert await request(ws, "GET_PROPERTY", ["combined"], rid=11) == {
            "result": True, "id": 11}


# -- REST ----------------------------------------------------------------------------------

async def test_rest_depth_klines_exchange_info(sim: BinanceSim) -> None:
    status, snap = await rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5")
    assert status == 200 and list(snap) == ["lastUpdateId", "bids", "asks"]
    assert len(snap["bids"]) == 5 and len(snap["asks"]) == 5
    assert float(snap["bids"][0][0]) < float(snap["asks"][0][0])
    status, snap = await rest(sim, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
    assert status == 200 and {"E", "T"} <= set(snap) and len(snap["bids"]) >= 200

    status, rows = await rest(sim, "/api/v3/klines?symbol=BTCUSDT&interval=1m")
    assert status == 200 and len(rows) == 500
    row = rows[-1]
    assert len(row) == 12 and isinstance(row[0], int) and isinstance(row[1], str)
    assert row[6] - row[0] == 59_999 and isinstance(row[8], int)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert abs(float(rows[-2][4]) - 97_000.0) < 1e-9  # history ends at the start price
    status, rows = await rest(sim, f"/fapi/v1/klines?symbol=BTCUSDT&interval=1h&limit=1200"
                                   f"&endTime={T0 - 86_400_000}")
    assert status == 200 and len(rows) == 1200 and rows[-1][0] <= T0 - 86_400_000
    status, rows = await rest(sim, f"/api/v3/klines?symbol=SOLUSDT&interval=5m&limit=3"
                                   f"&startTime={T0 - 3_600_000}")
    assert status == 200 and [r[0] for r in rows] == [
        T0 - 3_600_000 - (T0 - 3_600_000) % 300_000 + 300_000 * i for i in (1, 2, 3)]

    status, info = await rest(sim, "/api/v3/exchangeInfo")
    assert status == 200
    by_symbol = {s["symbol"]: s for s in info["symbols"]}
    assert set(by_symbol) == {"BTCUSDT", "SOLUSDT"}
    btc = by_symbol["BTCUSDT"]
    assert btc["status"] == "TRADING" and (btc["baseAsset"], btc["quoteAsset"]) == ("BTC", "USDT")
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert float(filters["PRICE_FILTER"]["tickSize"]) == 0.01
    assert float(filters["LOT_SIZE"]["stepSize"]) == 0.00001
    assert float(filters["LOT_SIZE"]["minQty"]) == 0.00001
    assert float(filters["NOTIONAL"]["minNotional"]) == 5.0
    status, info = await rest(sim, '/api/v3/exchangeInfo?symbols=%5B%22SOLUSDT%22%5D')
    assert status == 200 and [s["symbol"] for s in info["symbols"]] == ["SOLUSDT"]
    status, info = await rest(sim, "/fapi/v1/exchangeInfo")
    perp = info["symbols"][0]
    assert status == 200 and len(info["symbols"]) == 1
    assert perp["contractType"] == "PERPETUAL" and perp["symbol"] == "BTCUSDT"
    filters = {f["filterType"]: f for f in perp["filters"]}
    assert float(filters["PRICE_FILTER"]["tickSize"]) == 0.1
    assert float(filters["MIN_NOTIONAL"]["minNotional"]) == 100.0

    status, prem = await rest(sim, "/fapi/v1/premiumIndex?symbol=BTCUSDT")
    assert status == 200 and prem["symbol"] == "BTCUSDT"
    assert abs(float(prem["markPrice"]) / 97_050.0 - 1) < 0.05
    assert status == 200 and (await rest(sim, "/api/v3/ping")) == (200, {})


@pytest.mark.parametrize("path, code", [
    ("/api/v3/depth?symbol=NOPEUSDT", -1121),
    ("/fapi/v1/depth?symbol=SOLUSDT", -1121),  # a spot-only symbol on futures
    ("/api/v3/klines?symbol=ETHBTC&interval=1m", -1121),
    ("/fapi/v1/premiumIndex?symbol=XRPUSDT", -1121),
    ("/api/v3/exchangeInfo?symbol=NOPE", -1121),
    ("/api/v3/depth", -1102),
    ("/api/v3/depth?symbol=BTCUSDT&limit=abc", -1100),
    ("/fapi/v1/depth?symbol=BTCUSDT&limit=5000", -1130),
    ("/api/v3/klines?symbol=BTCUSDT&interval=7m", -1120),
    ("/api/v3/klines?symbol=BTCUSDT", -1102),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1001", -1130),
    ("/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=5&endTime=4", -1023),
])
async def test_rest_errors(sim: BinanceSim, path: str, code: int) -> None:
    status, body = await rest(sim, path)
    assert status == 400 and body["code"] == code and body["msg"]


# -- book sync against the truth -----------------------------------------------------------

async def test_spot_client_sync_ends_equal_to_truth(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/ws") as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}')
        buffered: list[Any] = []
        while not buffered:
            msg = await recv(ws)
            if msg.get("e") == "depthUpdate":
                buffered.append(msg)
        await asyncio.sleep(0.1)  # let diffs pile up while the snapshot is "in flight"
        status, snap = await rest(sim, "/api/v3/depth?symbol=BTCUSDT&limit=5000")
        assert status == 200 and snap["lastUpdateId"] >= buffered[0]["U"]
        bids = {float(p): float(q) for p, q in snap["bids"]}
        asks = {float(p): float(q) for p, q in snap["asks"]}
        local = snap["lastUpdateId"]
        synced = False
        applied = 0

        def handle(ev: Any) -> None:
            nonlocal local, synced, applied
            if ev["u"] <= local:
                return  # already in the snapshot
            if not synced:
                assert ev["U"] <= local + 1 <= ev["u"]
                synced = True
            else:
                assert ev["U"] == local + 1, "gap in the spot diff stream"
            apply(bids, ev["b"])
            apply(asks, ev["a"])
            local = ev["u"]
            applied += 1

        for ev in buffered:
            handle(ev)
        deadline = asyncio.get_running_loop().time() + 0.6
        while asyncio.get_running_loop().time() < deadline:
            handle(await recv(ws))
        sim.pause()
        target = sim.last_sent_update_id("BTCUSDT", "spot")
        while local != target:
            handle(await recv(ws))
        truth_id, true_bids, true_asks = sim.truth("BTCUSDT", "spot")
    assert applied > 10
    assert local == truth_id
    assert bids == true_bids and asks == true_asks


async def test_perp_client_sync_with_pu_chain_ends_equal_to_truth(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/public/stream?streams=btcusdt@depth@100ms") as ws:
        await request(ws, "LIST_SUBSCRIPTIONS")  # subscription registered
        first_ev = (await first(ws, lambda m: "stream" in m))["data"]
        status, snap = await rest(sim, "/fapi/v1/depth?symbol=BTCUSDT&limit=1000")
        assert status == 200
        bids = {float(p): float(q) for p, q in snap["bids"]}
        asks = {float(p): float(q) for p, q in snap["asks"]}
        last_id = snap["lastUpdateId"]
        prev_u: int | None = None
        pending = [first_ev]
        deadline = asyncio.get_running_loop().time() + 0.5
        paused = False
        while True:
            for ev in pending:
                if prev_u is None:
                    if ev["u"] < last_id:
                        continue
                    assert ev["U"] <= last_id <= ev["u"]
                else:
                    assert ev["pu"] == prev_u, "broken pu chain"
                apply(bids, ev["b"])
                apply(asks, ev["a"])
                prev_u = ev["u"]
            if not paused and asyncio.get_running_loop().time() > deadline:
                sim.pause()
                paused = True
            if paused and prev_u == sim.last_sent_update_id("BTCUSDT", "perp"):
                break
            pending = [(await recv(ws))["data"]]
        truth_id, true_bids, true_asks = sim.truth("BTCUSDT", "perp")
    assert prev_u == truth_id
    assert bids == true_bids and asks == true_asks


# -- knobs ---------------------------------------------------------------------------------

async def test_drop_connections_closes_clients(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/ws/btcusdt@depth") as ws:
        await request(ws, "LIST_SUBSCRIPTIONS")
        assert sim.connections == 1
        sim.drop_connections()
        with pytest.raises(ConnectionClosed):
            for _ in range(100_000):
                await asyncio.wait_for(ws.recv(), 3)
    for _ in range(50):
        if sim.connections == 0:
            break
        await asyncio.sleep(0.02)
    assert sim.connections == 0


@pytest.mark.parametrize("market, path", [("spot", "/ws"), ("perp", "/public/ws")])
async def test_skip_sequence_makes_a_gap(sim: BinanceSim, market: str, path: str) -> None:
    async with connect(sim.ws_url + path) as ws:
        await request(ws, "SUBSCRIBE", ["btcusdt@depth@100ms"])
        prev = await first(ws, lambda m: m.get("e") == "depthUpdate")
        sim.skip_sequence("BTCUSDT", market)
        gaps = 0
        for _ in range(10):
            ev = await recv(ws)
            if market == "spot":
                gaps += ev["U"] > prev["u"] + 1
            else:
                gaps += ev["pu"] != prev["u"]
            prev = ev
    assert gaps == 1


async def test_send_malformed_sends_unparsable_text(sim: BinanceSim) -> None:
    async with connect(sim.ws_url + "/ws/btcusdt@depth@100ms") as ws:
        await request(ws, "LIST_SUBSCRIPTIONS")
        sim.pause()
        await asyncio.sleep(0.05)
        while True:  # drain frames that were already on their way
            try:
                await asyncio.wait_for(ws.recv(), 0.1)
            except asyncio.TimeoutError:
                break
        sim.send_malformed()
        frame = await asyncio.wait_for(ws.recv(), 3)
        assert isinstance(frame, str)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(frame)
        sim.resume()
        assert (await recv(ws))["e"] == "depthUpdate"  # the stream goes on


async def test_pause_stops_the_model_and_set_rate_changes_it(sim: BinanceSim) -> None:
    sim.pause()
    before = sim.truth("BTCUSDT", "spot")
    await asyncio.sleep(0.15)
    assert sim.truth("BTCUSDT", "spot") == before
    sim.set_rate(0)
    sim.resume()
    await asyncio.sleep(0.1)
    assert sim.truth("BTCUSDT", "spot") == before
    sim.set_rate(2000)
    await asyncio.sleep(0.1)
    assert sim.truth("BTCUSDT", "spot")[0] > before[0]


async def test_per_event_depth_frames_at_high_rate() -> None:
    async with BinanceSim(SYMBOLS[:1], seed=2, rate=5000, depth_interval_ms=0) as sim:
        async with connect(sim.ws_url + "/ws") as ws:
            await request(ws, "SUBSCRIBE", ["btcusdt@depth"])
            t0 = asyncio.get_running_loop().time()
            frames = 0
            prev_u = None
            while asyncio.get_running_loop().time() - t0 < 0.5:
                ev = await recv(ws)
                if prev_u is not None:
                    assert ev["U"] == prev_u + 1
                prev_u = ev["u"]
                frames += 1
    assert frames > 200


# -- determinism, threads ------------------------------------------------------------------

async def _frozen_transcript(seed: int) -> list[bytes | str]:
    out: list[bytes | str] = []
    async with BinanceSim.frozen(SYMBOLS, seed=seed) as sim:
        assert sim.market.now_ms == 1_767_270_896_000
        async with connect(sim.ws_url + "/stream") as ws:
            await request(ws, "SUBSCRIBE", ["btcusdt@depth@100ms", "btcusdt@aggTrade",
                                            "btcusdt@kline_1m", "btcusdt@ticker"])
            with pytest.raises(asyncio.TimeoutError):  # paused: nothing flows by itself
                await asyncio.wait_for(ws.recv(), 0.15)
            sim.pump(20)
            while True:
                try:
                    out.append(await asyncio.wait_for(ws.recv(), 0.15))
                except asyncio.TimeoutError:
                    break
        async with aiohttp.ClientSession() as http:
            for path in ("/api/v3/depth?symbol=BTCUSDT&limit=20",
                         "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5",
                         "/fapi/v1/premiumIndex", "/api/v3/exchangeInfo"):
                async with http.get(sim.rest_url + path) as r:
                    out.append(await r.read())
    return out


async def test_frozen_sim_is_byte_identical_for_a_seed() -> None:
    a = await _frozen_transcript(7)
    b = await _frozen_transcript(7)
    c = await _frozen_transcript(8)
    assert len(a) > 6
    assert a == b
    assert a != c


async def test_sim_thread_serves_from_its_own_loop() -> None:
    with BinanceSimThread(SYMBOLS, seed=3, rate=300, depth_interval_ms=20) as st:
        assert st.ws_url.startswith("ws://127.0.0.1:")
        assert st.rest_url.startswith("http://127.0.0.1:")
        async with connect(st.ws_url + "/ws/btcusdt@aggTrade") as ws:
            assert (await recv(ws))["e"] == "aggTrade"
            assert st.connections == 1
        st.pause()
        truth = st.truth("BTCUSDT", "spot")
        await asyncio.sleep(0.1)
        assert st.truth("BTCUSDT", "spot") == truth
        st.pump(5)
        assert st.truth("BTCUSDT", "spot")[0] > truth[0]
        st.resume()
        st.set_rate(50)
        assert st.frames_sent > 0
    assert not st.running


def test_every_venue_thread_is_the_shared_sim_thread():
    from app.sim.bybit_server import BybitSimThread
    from app.sim.coinbase_server import CoinbaseSimThread
    from app.sim.okx_server import OkxSimThread
    from app.sim.serving import SimThread
    for cls in (BinanceSimThread, OkxSimThread, BybitSimThread, CoinbaseSimThread):
        assert issubclass(cls, SimThread) and cls.sim_class.__module__ == cls.__module__
    with pytest.raises(TypeError, match="names no simulator"):
        SimThread().start()  # the shared thread alone serves no venue
