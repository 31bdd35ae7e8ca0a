"""Real websocket sessions against the Coinbase simulator on 127.0.0.1: every book must
equal the simulator's truth after the first snapshot and with multi-megabyte snapshots.
A sequence_num jump, a forced disconnect and a malformed frame are checked for every venue
alike in test_venue_conformance.py."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.asyncio.client import connect

from app.feeds.connection import ConnectionSettings
from app.feeds.feed import VenueFeed
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient, RestError
from app.market.instruments import Instrument
from app.sim.coinbase_server import CoinbaseSim, CoinbaseSimThread
from app.sim.market import SimSymbol
from app.venues.coinbase import CoinbaseVenue, instruments_from_products
from tests.sim_session import FeedSession, wait_for

BTC = SimSymbol("BTC-USD", "BTC", "USD", "spot", 60_000.0, 0.01, 0.00000001)
ETH = SimSymbol("ETH-USD", "ETH", "USD", "spot", 3_000.0, 0.01, 0.00000001)
# Coinbase allows 8 inbound messages/s per IP; five subscribe messages go out at once.
FAST = ConnectionSettings(backoff_base=0.05, backoff_cap=0.5, stale_after=5.0, control_msgs_per_sec=8.0)


class Session(FeedSession):
    def __init__(self, sim: CoinbaseSim, specs: list[SimSymbol]) -> None:
        insts = [Instrument("coinbase", "spot", s.base, s.quote, s.symbol, tick_size=s.tick,
                            lot_size=s.lot) for s in specs]
        hub, rest = MarketHub(), RestClient(sim.rest_url)
        feed = VenueFeed(CoinbaseVenue("spot", insts), hub, sim.ws_url, rest, insts, settings=FAST)
        super().__init__(sim, hub, rest, feed, insts)
        self.min_levels = 200

    def _matches(self, inst: Instrument) -> bool:
        _, bids, asks = self.sim.truth(inst.venue_symbol)
        with self.hub.lock:
            st = self.hub.state(inst.id)
            return st.synced and st.book.side_dicts() == (bids, asks)

    def caught_up(self) -> bool:
        # sequence numbers are per connection, so "caught up" is "equal to the truth"
        return all(self._matches(inst) for inst in self.insts)

    def check_truth(self) -> None:
        for inst in self.insts:
            _, bids, asks = self.sim.truth(inst.venue_symbol)
            assert len(bids) >= self.min_levels and len(asks) >= self.min_levels


@pytest.fixture
async def session():
    async with CoinbaseSim([BTC, ETH], seed=7, rate=400, l2_interval_ms=20) as sim:
        s = Session(sim, [BTC, ETH])
        await s.feed.start()
        try:
            yield s
        finally:
            await s.close()


async def test_first_snapshot_equals_truth(session):
    took = await wait_for(session.synced, 5, "first sync")
    assert took < 2
    await asyncio.sleep(0.3)  # many updates through the live books
    await session.assert_equals_truth()
    st = session.hub.state(session.insts[0].id)
    await wait_for(lambda: len(st.trades) > 0 and st.ticker is not None and st.kline_series("5m"),
                   5, "trades, ticker and a 5m candle")
    assert st.kline_series("1m"), "1m history loaded over REST"
    assert st.ticker.bid < st.ticker.ask and st.ticker.open_24h
    assert session.feed.stats.gaps == 0 and session.feed.stats.malformed == 0
    health = session.feed.connections()[0].health.view()
    assert health.state == "connected" and health.messages > 0


async def test_intervals_the_stream_lacks_get_a_live_candle_from_trades(session):
    """Coinbase streams 5m candles only; the 1m chart (REST history) and a 15m chart
    opened later must still move with every trade."""
    await wait_for(session.synced, 5, "first sync")
    inst = session.insts[0]
    session.feed.watch(inst.id, "15m")
    st = session.hub.state(inst.id)
    assert st.trade_built == {"1m", "15m"}

    def newest(interval: str):
        with session.hub.lock:
            series = st.kline_series(interval)
            return series[-1] if series else None

    await wait_for(lambda: newest("1m") is not None and newest("15m") is not None, 5, "history")
    await wait_for(lambda: len(st.trades) > 5, 5, "trades")
    volume_before = newest("1m").volume
    await wait_for(lambda: newest("1m").volume > volume_before, 5, "the 1m candle to grow")
    with session.hub.lock:
        last = st.trades[0]
        for interval in ("1m", "15m"):
            k = st.kline_series(interval)[-1]
            assert not k.closed and k.close == last.price and k.low <= last.price <= k.high
    assert "5m" not in st.trade_built  # the candles channel carries 5m itself


async def test_multi_megabyte_snapshots():
    async with CoinbaseSim([BTC], seed=3, rate=200, levels=8000) as sim:
        s = Session(sim, [BTC])
        s.min_levels = 8000
        await s.feed.start()
        try:
            await wait_for(s.synced, 10, "a sync from a large snapshot")
            await s.assert_equals_truth()
            sim.skip_sequence()  # and again after a resync
            await wait_for(lambda: s.feed.stats.resyncs >= 1, 10, "the resync")
            await s.assert_equals_truth()
        finally:
            await s.close()


# -- the simulator's protocol ------------------------------------------------------------

async def recv_json(ws) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), 2))


async def test_protocol_sequence_acks_and_errors():
    async with CoinbaseSim([BTC], seed=1, rate=100, heartbeat_s=0.1) as sim:
        async with connect(sim.ws_url, max_size=2**24) as ws:
            await ws.send('{"type":"subscribe","channel":"heartbeats"}')
            await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"level2"}')
            await ws.send('{"type":"subscribe","product_ids":["DOGE-EUR"],"channel":"level2"}')
            await ws.send('{"type":"subscribe","product_ids":["BTC-USD"],"channel":"nope"}')
            msgs = [await recv_json(ws) for _ in range(30)]
        seqs = [m["sequence_num"] for m in msgs if "sequence_num" in m]
        assert seqs == list(range(len(seqs)))  # one counter over every message, from 0
        assert msgs[0]["channel"] == "subscriptions"
        assert msgs[0]["events"][0]["subscriptions"] == {"heartbeats": ["heartbeats"]}
        l2 = [m for m in msgs if m.get("channel") == "l2_data"]
        assert l2[0]["events"][0]["type"] == "snapshot" and all(
            m["events"][0]["type"] == "update" for m in l2[1:])
        errors = [m for m in msgs if m.get("type") == "error"]
        assert len(errors) == 2 and all("sequence_num" not in e for e in errors)
        assert any(m.get("channel") == "heartbeats" for m in msgs)


async def test_quiet_connection_without_heartbeats_is_closed():
    async with CoinbaseSim([BTC], seed=1, rate=0, heartbeat_s=0.1, idle_close_s=0.3) as sim:
        async with connect(sim.ws_url) as quiet, connect(sim.ws_url) as kept:
            await kept.send('{"type":"subscribe","channel":"heartbeats"}')
            await asyncio.wait_for(quiet.wait_closed(), 3)
            assert quiet.close_code == 1000
            assert (await recv_json(kept))["channel"] == "subscriptions"
            assert (await recv_json(kept))["channel"] == "heartbeats"


async def test_rest_products_candles_and_book():
    async with CoinbaseSim([BTC, ETH], seed=1, rate=0) as sim:
        rest = RestClient(sim.rest_url)
        venue = CoinbaseVenue("spot", [])
        try:
            data = orjson.loads(await rest.get_text(venue.products_path()))
            insts = instruments_from_products(data)
            assert [i.venue_symbol for i in insts] == ["BTC-USD", "ETH-USD"]  # USDC aliases skipped
            assert {p["product_id"]: p["alias"] for p in data["products"]}["BTC-USDC"] == "BTC-USD"
            codec = CoinbaseVenue("spot", insts)
            btc = codec.resolve("BTC", "USDC")
            now = sim.market.now_ms
            ks = codec.parse_klines(await rest.get_text(codec.klines_path(btc, "5m", 500, end_ms=now)),
                                    btc, "5m", now_ms=now)
            assert 349 <= len(ks) <= 350
            opens = [k.open_time for k in ks]
            assert opens == sorted(opens) and all(b - a == 300_000 for a, b in zip(opens, opens[1:]))
            assert all(k.closed for k in ks[:-1]) and not ks[-1].closed
            snap = codec.parse_snapshot(await rest.get_text(codec.snapshot_path(btc)))
            _, bids, _ = sim.truth("BTC-USD")
            assert snap.bids[0][0] == f"{max(bids):.2f}"
            with pytest.raises(RestError):
                await rest.get_text("/api/v3/brokerage/market/products/BTC-USD/candles"
                                    "?start=0&end=1000000&granularity=ONE_MINUTE")
        finally:
            await rest.close()


def test_sim_thread_knobs():
    with CoinbaseSim.in_thread([BTC], seed=2, rate=50) as th:
        assert isinstance(th, CoinbaseSimThread) and th.ws_url.startswith("ws://127.0.0.1:")
        th.pause()
        before = th.truth("BTC-USD")
        th.pump(20)
        assert th.truth("BTC-USD") != before
        th.skip_sequence()
        th.send_malformed()
        th.drop_connections()
        th.resume()
