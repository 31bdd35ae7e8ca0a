"""Real websocket sessions against the Binance simulator on 127.0.0.1: the book must equal
the simulator's truth after start. Disconnects, malformed frames and gaps are checked for
every venue alike in test_venue_conformance.py."""

from __future__ import annotations

import asyncio

import pytest

from app.feeds.connection import ConnectionSettings
from app.feeds.feed import VenueFeed
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient
from app.market.instruments import Instrument
from app.sim.binance_server import BinanceSim
from app.sim.market import SimSymbol
from app.venues.binance import BinanceVenue
from tests.sim_session import FeedSession, wait_for

SPOT = SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 30_000.0, 0.01, 0.00001)
PERP = SimSymbol("BTCUSDT", "BTC", "USDT", "perp", 30_010.0, 0.1, 0.001)
FAST = ConnectionSettings(backoff_base=0.05, backoff_cap=0.5, stale_after=5.0)


class Session(FeedSession):
    def __init__(self, sim: BinanceSim, spec: SimSymbol) -> None:
        self.spec = spec
        inst = Instrument("binance", spec.market, spec.base, spec.quote, spec.symbol,
                          tick_size=spec.tick, lot_size=spec.lot)
        hub, rest = MarketHub(), RestClient(sim.rest_url)
        feed = VenueFeed(BinanceVenue(spec.market, [inst]), hub, sim.ws_url, rest, [inst], settings=FAST)
        super().__init__(sim, hub, rest, feed, [inst])

    def caught_up(self) -> bool:
        return self.sync.last_id == self.sim.last_sent_update_id(self.spec.symbol, self.spec.market)

    def check_truth(self) -> None:
        last_id, bids, asks = self.sim.truth(self.spec.symbol, self.spec.market)
        with self.hub.lock:
            got = self.sync.book.side_dicts()
        assert self.sync.last_id == last_id
        assert got == (bids, asks)
        assert len(bids) >= 200 and len(asks) >= 200


@pytest.fixture(params=[SPOT, PERP], ids=["spot", "perp"])
async def session(request):
    spec = request.param
    async with BinanceSim([spec], seed=11, rate=400, depth_interval_ms=20) as sim:
        s = Session(sim, spec)
        await s.feed.start()
        try:
            yield s
        finally:
            await s.close()


async def test_stream_sync_and_equal_truth(session):
    await wait_for(session.synced, 5, "first sync")
    await asyncio.sleep(0.3)  # let many diffs flow through the live book
    await session.assert_equals_truth()
    st = session.hub.state(session.inst.id)
    await wait_for(lambda: len(st.trades) > 0 and st.ticker is not None, 5, "trades and ticker")
    assert st.kline_series("1m"), "kline history loaded over REST"
    health = session.feed.connections()[0].health.view()
    assert health.state == "connected" and health.messages > 0

