"""Real websocket sessions against the Bybit simulator on 127.0.0.1: the book must equal
the simulator's truth after the first sync, after each fault the venue can produce (lost
delta in the full-book mode, snapshot mid-stream, service restart), and in the REST-backed
``orderbook.full`` mode. Also the simulator's own protocol behaviour. The faults every venue
shares (disconnect, malformed frame, gap) are in test_venue_conformance.py."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect

from app.feeds.connection import ConnectionSettings
from app.feeds.feed import VenueFeed
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient
from app.market.events import Trade
from app.market.instruments import Instrument
from app.sim.bybit_server import BybitSim, BybitSimThread
from app.sim.market import SimSymbol
from app.venues import registry
from app.venues.bybit import PING, BybitVenue
from tests.sim_session import FeedSession, wait_for

SPOT = SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 30_000.0, 0.01, 0.000001)
LINEAR = SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 30_010.0, 0.1, 0.001)
FAST = ConnectionSettings(backoff_base=0.05, backoff_cap=0.5, stale_after=5.0)


class Session(FeedSession):
    def __init__(self, sim: BybitSim, spec: SimSymbol, depth: int | str = 50) -> None:
        self.spec = spec
        self.depth = depth
        inst = Instrument("bybit", spec.market, spec.base, spec.quote, spec.symbol,
                          tick_size=spec.tick, lot_size=spec.lot)
        self.venue = BybitVenue(spec.market, [inst], book_depth=depth)
        hub, rest = MarketHub(), RestClient(sim.rest_url)
        self.trades: list[Trade] = []
        hub.subscribe(lambda ev: self.trades.append(ev) if isinstance(ev, Trade) else None)
        feed = VenueFeed(self.venue, hub, sim.ws_url, rest, [inst], settings=FAST)
        super().__init__(sim, hub, rest, feed, [inst])

    @property
    def state(self):
        return self.hub.state(self.inst.id)

    def book_equals_truth(self) -> bool:
        levels = None if self.depth == "full" else int(self.depth)
        _, bids, asks = self.sim.truth(self.spec.symbol, self.spec.market, levels)
        with self.hub.lock:
            got = self.sync.book.side_dicts()
        return got == (bids, asks)

    def caught_up(self) -> bool:
        return self.sync.last_id == self.sim.stream_u(self.spec.symbol, self.spec.market, self.depth)

    def check_truth(self) -> None:
        """The true top-N book (or the whole one for orderbook.full)."""
        assert self.book_equals_truth()
        bids, asks = self.sync.book.side_dicts()
        want = 200 if self.depth == "full" else int(self.depth)
        assert len(bids) >= want and len(asks) >= want


async def open_session(sim: BybitSim, spec: SimSymbol, depth: int | str = 50) -> Session:
    s = Session(sim, spec, depth)
    await s.feed.start()
    return s


@pytest.fixture(params=[SPOT, LINEAR], ids=["spot", "linear"])
async def session(request):
    async with BybitSim([request.param], seed=11, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, request.param)
        try:
            yield s
        finally:
            await s.close()


@pytest.fixture
async def spot_session():
    async with BybitSim([SPOT], seed=5, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, SPOT)
        try:
            yield s
        finally:
            await s.close()


def record_transitions(session: Session) -> list[bool]:
    transitions: list[bool] = []
    touch = session.hub.touch

    def recording_touch(inst_id: str, synced: bool) -> None:
        transitions.append(synced)
        touch(inst_id, synced)

    session.hub.touch = recording_touch
    return transitions


def churn_without_deltas(session: Session, steps: int = 80) -> None:
    """Change the true book while no delta goes out (the sim is paused): only a later
    snapshot can carry these changes to the client."""
    for _ in range(steps):
        session.sim.market.step(session.spec.symbol, session.spec.market)


# -- sessions -------------------------------------------------------------------------------

async def test_first_sync_equals_truth_with_trades_ticker_klines(session):
    await wait_for(session.synced, 5, "first sync")
    await asyncio.sleep(0.3)  # many deltas through the live book
    await session.assert_equals_truth()
    st = session.state
    await wait_for(lambda: len(st.trades) > 0 and st.ticker is not None, 5, "trades and ticker")
    assert st.kline_series("1m"), "kline history loaded over REST"
    assert st.ticker.last is not None and st.ticker.open_24h is not None
    if session.spec.market == "perp":
        await wait_for(lambda: st.funding is not None, 5, "funding from the linear ticker")
        assert st.funding.mark_price > 0 and st.funding.next_funding_time % 3_600_000 == 0
        assert st.ticker.bid is not None and st.ticker.ask is not None
    else:
        assert st.ticker.bid is None  # Bybit spot tickers carry no top of book
    assert session.feed.stats.gaps == 0 and session.feed.stats.malformed == 0
    health = session.feed.connections()[0].health.view()
    assert health.state == "connected" and health.messages > 0


async def test_snapshot_mid_stream_replaces_the_book_without_a_gap(spot_session):
    s = spot_session
    await wait_for(s.synced, 5, "first sync")
    await s.assert_equals_truth()
    s.sim.pause()
    churn_without_deltas(s)
    assert not s.book_equals_truth()
    before = s.sim.stream_u(s.spec.symbol, s.spec.market)
    s.sim.resend_snapshot(s.spec.symbol, s.spec.market)
    assert s.sim.stream_u(s.spec.symbol, s.spec.market) == before + 1
    await wait_for(lambda: s.caught_up() and s.book_equals_truth(), 5, "the snapshot")
    s.sim.resume()
    await asyncio.sleep(0.2)
    await s.assert_equals_truth()
    assert s.feed.stats.gaps == 0 and s.feed.stats.resyncs == 0


@pytest.mark.parametrize("kind", ["delta", "snapshot"])
async def test_service_restart_u1_overwrites_the_book(kind):
    async with BybitSim([LINEAR], seed=7, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, LINEAR)
        try:
            await wait_for(s.synced, 5, "first sync")
            await asyncio.sleep(0.1)
            sim.pause()
            churn_without_deltas(s)
            sim.service_restart(s.spec.symbol, s.spec.market, kind)
            assert sim.stream_u(s.spec.symbol, s.spec.market) == 1
            await wait_for(lambda: s.sync.last_id == 1 and s.book_equals_truth(), 5, "the restart")
            sim.resume()
            await asyncio.sleep(0.2)
            await s.assert_equals_truth()
            assert s.sync.last_id > 1  # numbering goes on from 1
            assert s.feed.stats.gaps == 0
        finally:
            await s.close()


@pytest.mark.parametrize("spec", [SPOT, LINEAR], ids=["spot", "linear"])
async def test_full_book_mode_syncs_from_rest_and_recovers_from_a_gap(spec):
    async with BybitSim([spec], seed=3, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, spec, depth="full")
        try:
            await wait_for(s.synced, 5, "first sync from the REST full book")
            assert sim.rest_requests >= 2  # klines + the book
            await asyncio.sleep(0.2)
            await s.assert_equals_truth()
            transitions = record_transitions(s)
            sim.skip_sequence(spec.symbol, spec.market)
            await wait_for(lambda: s.feed.stats.gaps >= 1, 5, "the gap")
            await wait_for(s.synced, 5, "the REST resync")
            assert transitions[:1] == [False] and transitions[-1] is True
            await s.assert_equals_truth()
        finally:
            await s.close()


async def test_linear_ticker_deltas_merge_to_the_published_state():
    async with BybitSim([LINEAR], seed=9, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, LINEAR)
        try:
            st = s.state
            await wait_for(lambda: st.funding is not None, 5, "the ticker snapshot")
            sim.pause()
            for _ in range(4):  # several rounds of partial deltas
                sim.pump(steps=20, dt_ms=1000)
            want = sim.ticker_state(LINEAR.symbol, LINEAR.market)

            def merged() -> bool:
                t, f = st.ticker, st.funding
                return (t.last, t.bid, t.ask, t.high_24h, t.low_24h, t.volume_24h, t.open_24h,
                        f.rate, f.next_funding_time, f.mark_price, f.index_price) == (
                    float(want["lastPrice"]), float(want["bid1Price"]), float(want["ask1Price"]),
                    float(want["highPrice24h"]), float(want["lowPrice24h"]),
                    float(want["volume24h"]), float(want["prevPrice24h"]),
                    float(want["fundingRate"]), int(want["nextFundingTime"]),
                    float(want["markPrice"]), float(want["indexPrice"]))

            await wait_for(merged, 5, "the merged ticker")
        finally:
            sim.resume()
            await s.close()


async def test_every_trade_of_multi_trade_messages_arrives():
    async with BybitSim([SPOT], seed=21, rate=400, depth_interval_ms=20) as sim:
        s = await open_session(sim, SPOT)
        try:
            await wait_for(lambda: sim.trades_sent(SPOT.symbol, SPOT.market) > 50, 5, "trades")
            sim.pause()
            sent = sim.trades_sent(SPOT.symbol, SPOT.market)
            await wait_for(lambda: len(s.trades) == sent, 5, "every trade")
            assert sim.trade_frames(SPOT.symbol, SPOT.market) < sent  # some frames held several
            assert len({t.trade_id for t in s.trades}) == sent
            assert {t.side for t in s.trades} == {"buy", "sell"}
        finally:
            sim.resume()
            await s.close()


async def test_keepalive_pings_hold_a_quiet_connection():
    async with BybitSim([SPOT], seed=2, rate=0, paused=True, ping_timeout=1.0) as sim:
        s = Session(sim, SPOT)
        s.venue.keepalive = (0.3, PING)
        await s.feed.start()
        try:
            await wait_for(s.synced, 5, "first sync")
            await asyncio.sleep(1.8)
            assert sim.pings >= 3
            assert s.feed.connections()[0].health.reconnects == 0
            assert s.feed.stats.malformed == 0 and s.feed.stats.unknown == 0  # pongs are quiet
        finally:
            await s.close()


# -- the simulator's protocol ----------------------------------------------------------------

async def recv_json(ws, timeout: float = 2.0):
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_sim_protocol_acks_errors_and_pongs():
    async with BybitSim(seed=1, rate=0, paused=True, ping_timeout=0.5) as sim:
        async with connect(sim.ws_url + "/spot") as ws:
            too_many = ["kline.1.BTCUSDT"] + [f"publicTrade.{s}" for s in ("BTCUSDT", "ETHUSDT")] * 5
            await ws.send(orjson.dumps({"req_id": "a", "op": "subscribe", "args": too_many}).decode())
            err = await recv_json(ws)
            assert err["success"] is False and err["req_id"] == "a" and "10" in err["ret_msg"]
            await ws.send('{"req_id":"b","op":"subscribe","args":["orderbook.7.BTCUSDT"]}')
            err = await recv_json(ws)
            assert err["success"] is False and "orderbook.7.BTCUSDT" in err["ret_msg"]
            await ws.send('{"req_id":"c","op":"subscribe","args":["orderbook.50.BTCUSDT","tickers.ETHUSDT"]}')
            ack = await recv_json(ws)
            assert ack["success"] is True and ack["op"] == "subscribe" and ack["req_id"] == "c"
            snap = await recv_json(ws)
            assert snap["type"] == "snapshot" and len(snap["data"]["b"]) == 50
            ticker = await recv_json(ws)
            assert ticker["topic"] == "tickers.ETHUSDT" and ticker["type"] == "snapshot"
            await ws.send(PING)
            pong = await recv_json(ws)
            assert pong["op"] == "ping" and pong["ret_msg"] == "pong"
            assert BybitVenue("spot", []).decode(orjson.dumps(pong)) is None
        async with connect(sim.ws_url + "/linear") as ws:
            await ws.send('{"req_id":"p","op":"ping"}')
            pong = await recv_json(ws)
            assert pong["op"] == "pong" and pong["req_id"] == "p"
            assert BybitVenue("perp", []).decode(orjson.dumps(pong)) is None
            await ws.send('{"op":"subscribe","args":["orderbook.50.ETHUSDT"]}')  # spot only
            assert (await recv_json(ws))["success"] is False
            # a connection that stops pinging is closed
            await asyncio.wait_for(ws.wait_closed(), 3)
        with pytest.raises(Exception):
            async with connect(sim.ws_url + "/inverse"):
                pass


async def test_sim_rest_endpoints():
    async with BybitSim(seed=1, rate=0, paused=True) as sim:
        rest = RestClient(sim.rest_url)
        try:
            venue = BybitVenue("perp", [])
            text = await rest.get_text(venue.instruments_path())
            [inst] = registry.instruments_from_metadata("bybit", "perp", text)
            assert (inst.id, inst.tick_size, inst.lot_size, inst.min_notional) == (
                "cryptoperp_bybit_btcusdt", 0.1, 0.001, 5.0)
            venue = BybitVenue("perp", [inst], book_depth="full")
            snap = venue.parse_snapshot(await rest.get_text(venue.snapshot_path(inst)))
            seq, bids, asks = sim.truth("BTCUSDT", "perp")
            assert snap.seq == seq and {float(p): float(q) for p, q in snap.bids} == bids
            klines = venue.parse_klines(await rest.get_text(venue.klines_path(inst, "5m", 300)), inst, "5m")
            assert len(klines) == 300 and klines[0].open_time < klines[-1].open_time
            assert all(b.open_time - a.open_time == 300_000 for a, b in zip(klines, klines[1:]))
            err = orjson.loads(await rest.get_text("/v5/market/kline?category=spot&symbol=NOPE&interval=1"))
            assert err["retCode"] != 0
        finally:
            await rest.close()


def test_sim_thread_knobs():
    with BybitSimThread([SPOT], seed=4, rate=50) as th:
        assert th.ws_url.endswith("/v5/public") and th.rest_url.startswith("http://127.0.0.1:")
        th.pause()
        seq, bids, asks = th.truth("BTCUSDT", "spot", 5)
        assert len(bids) == 5 and len(asks) == 5 and max(bids) < min(asks)
        th.resend_snapshot("BTCUSDT", "spot")
        th.service_restart("BTCUSDT", "spot")
        assert th.stream_u("BTCUSDT", "spot") > 0
        th.resume()
