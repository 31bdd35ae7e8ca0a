"""Real OKX sessions against the OKX simulator on 127.0.0.1: the book must equal the
simulator's truth (in base units) after the first sync, after each fault the venue can
produce (bad checksum, seqId reset, keepalives, zero checksums) and in the snapshot-less
mode; plus the simulator's own protocol. The faults every venue shares (disconnect,
malformed frame, gap) are in test_venue_conformance.py."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
import websockets

from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectionSettings
from app.feeds.feed import VenueFeed
from app.feeds.hub import MarketHub
from app.feeds.replay import replay_file
from app.feeds.rest import RestClient
from app.market.instruments import Instrument
from app.sim.okx_server import OkxSim, OkxSimThread, OkxSymbol
from app.sim.okx_wire import okx_checksum, okx_num
from app.venues.okx import OkxVenue, book_checksum, instruments_from_okx
from tests.sim_session import FeedSession, wait_for

SPOT = OkxSymbol("BTC-USDT", "BTC", "USDT", "spot", 30_000.0, 0.1, 0.00000001, 0.00001)
SWAP = OkxSymbol("BTC-USDT-SWAP", "BTC", "USDT", "perp", 30_010.0, 0.1, 0.01, 0.01, "0.01")
FAST = ConnectionSettings(backoff_base=0.05, backoff_cap=0.5, stale_after=5.0)


async def load_instrument(rest: RestClient, venue: OkxVenue, inst_id: str) -> Instrument:
    """Through the sim's REST metadata, as a session would (ctVal included)."""
    data = orjson.loads(await rest.get_text(venue.instruments_path()))
    (inst,) = instruments_from_okx(data, venue.market, wanted={inst_id})
    return inst


class Session(FeedSession):
    """One VenueFeed for one instrument against the sim, plus what tests check."""

    def __init__(self, sim: OkxSim, spec: OkxSymbol, rest: RestClient, inst: Instrument,
                 snapshotless: bool = False, capture: CaptureWriter | None = None) -> None:
        self.spec = spec
        hub = MarketHub()
        self.venue = OkxVenue(spec.market, [inst], snapshotless=snapshotless)
        feed = VenueFeed(self.venue, hub, sim.ws_url, rest, [inst], settings=FAST, capture=capture)
        super().__init__(sim, hub, rest, feed, [inst])
        self.transitions: list[bool] = []
        touch = hub.touch

        def recording_touch(inst_id: str, synced: bool) -> None:
            self.transitions.append(synced)
            touch(inst_id, synced)

        hub.touch = recording_touch  # type: ignore[method-assign]

    @classmethod
    async def open(cls, sim: OkxSim, spec: OkxSymbol, snapshotless: bool = False) -> Session:
        rest = RestClient(sim.rest_url)
        venue = OkxVenue(spec.market, [], snapshotless=snapshotless)
        s = cls(sim, spec, rest, await load_instrument(rest, venue, spec.inst_id), snapshotless)
        await s.feed.start()
        return s

    @property
    def stats(self):
        return self.feed.stats

    def caught_up(self) -> bool:
        return self.sync.seq == self.sim.last_sent_seq(self.spec.inst_id)

    def check_truth(self) -> None:
        seq, bids, asks = self.sim.truth(self.spec.inst_id)
        with self.hub.lock:
            got = self.sync.book.side_dicts()
        assert self.sync.seq == seq
        assert got == (bids, asks)
        assert len(bids) >= 200 and len(asks) >= 200


@pytest.fixture
async def sim():
    async with OkxSim([SPOT, SWAP], seed=11, rate=400, depth_interval_ms=20) as s:
        yield s


@pytest.fixture(params=[SPOT, SWAP], ids=["spot", "swap"])
async def session(request, sim):
    s = await Session.open(sim, request.param)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def swap_session(sim):
    s = await Session.open(sim, SWAP)
    try:
        yield s
    finally:
        await s.close()


# -- sessions --------------------------------------------------------------------------------

async def test_first_sync_equals_truth(session):
    await wait_for(session.synced, 5, "first sync")
    await asyncio.sleep(0.3)  # many updates through the live book, each checksum-verified
    await session.assert_equals_truth()
    assert session.sync.checksums_checked > 5
    st = session.hub.state(session.inst.id)
    await wait_for(lambda: len(st.trades) > 0 and st.ticker is not None, 5, "trades and ticker")
    assert st.kline_series("1m"), "kline history loaded over REST"
    assert session.stats.gaps == session.stats.checksum_failures == session.stats.malformed == 0
    assert all(c.health.view().state == "connected" for c in session.feed.connections())


async def test_swap_units_funding_and_mark(swap_session):
    s = swap_session
    await wait_for(s.synced, 5, "first sync")
    st = s.hub.state(s.inst.id)
    await wait_for(lambda: len(st.trades) > 0 and st.funding is not None, 5, "trades and funding")
    # a trade's size is contracts x 0.01 on the wire: in base units it is a multiple of 0.0001
    for trade in list(st.trades)[:20]:
        assert abs(trade.amount * 10_000 - round(trade.amount * 10_000)) < 1e-6
    assert st.ticker is not None and st.ticker.volume_24h is not None
    # funding-rate and mark-price arrive as separate partial Funding events; the hub
    # merges them so neither blanks the other
    s.sim.pump()
    await wait_for(lambda: st.funding is not None and st.funding.rate is not None
                   and st.funding.mark_price is not None, 5, "funding rate and mark price")
    assert st.funding.next_funding_time is not None
    await s.assert_equals_truth()


async def test_checksum_failure_resubscribes_to_truth(session):
    await wait_for(session.synced, 5, "first sync")
    snapshots = session.sim.snapshots_sent
    session.sim.corrupt_checksum(session.spec.inst_id)
    await wait_for(lambda: session.stats.checksum_failures >= 1, 5, "the checksum failure")
    await wait_for(lambda: session.synced() and session.sim.snapshots_sent > snapshots, 5, "the resync")
    assert session.transitions.count(False) >= 1 and session.transitions[-1] is True
    assert session.stats.resyncs >= 1
    await session.assert_equals_truth()


async def test_maintenance_seq_reset_is_not_a_gap(session):
    await wait_for(session.synced, 5, "first sync")
    await wait_for(lambda: session.sync.seq > 10**9, 5, "a live seqId")
    session.sim.maintenance_seq_reset(session.spec.inst_id)
    await wait_for(lambda: 0 < session.sync.seq < 10**6, 5, "the lower seqId")
    await asyncio.sleep(0.2)  # the chain continues from the lower id
    await session.assert_equals_truth()
    assert session.stats.gaps == 0 and session.stats.resyncs == 0


async def test_keepalive_update_is_accepted(sim):
    s = await Session.open(sim, SPOT)
    try:
        await wait_for(s.synced, 5, "first sync")
        sim.pause()
        await wait_for(lambda: s.sync.seq == sim.last_sent_seq(SPOT.inst_id), 5, "catch up")
        seen = s.feed.core.last_book_message[s.inst.id]
        checked = s.sync.checksums_checked
        sim.book_keepalive_s = 0.1  # a quiet book: OKX sends an empty update now and then
        await wait_for(lambda: sim.keepalives_sent >= 2, 5, "keepalives")
        await wait_for(lambda: s.feed.core.last_book_message[s.inst.id] > seen
                       and s.sync.checksums_checked >= checked + 2, 5, "keepalives to arrive")
        assert s.synced() and s.stats.gaps == 0 and s.stats.checksum_failures == 0
        sim.book_keepalive_s = 60.0
        await s.assert_equals_truth()
    finally:
        await s.close()


async def test_zero_checksum_mode_still_syncs(sim):
    sim.set_zero_checksum(True)
    s = await Session.open(sim, SWAP)
    try:
        await wait_for(s.synced, 5, "first sync")
        await asyncio.sleep(0.2)
        await s.assert_equals_truth()
        assert s.sync.checksums_checked == 0  # nothing to verify, nothing failed
        assert not s.sync.verifies_checksums  # so no raw strings are kept
        sim.skip_sequence(SWAP.inst_id)  # sequence checks still catch a lost update
        await wait_for(lambda: s.stats.gaps >= 1, 5, "the gap")
        await wait_for(s.synced, 5, "the resync")
        await s.assert_equals_truth()
    finally:
        await s.close()


@pytest.mark.parametrize("spec", [SPOT, SWAP], ids=["spot", "swap"])
async def test_checksums_returning_resubscribe_then_verify(sim, spec):
    """Loaded from a zero-checksum snapshot, the book keeps no raw strings; when the
    venue sends checksums again it cannot verify them, so it resubscribes, and the new
    snapshot (with a checksum) turns verification on."""
    sim.set_zero_checksum(True)
    s = await Session.open(sim, spec)
    try:
        await wait_for(s.synced, 5, "first sync")
        await asyncio.sleep(0.1)
        assert not s.sync.verifies_checksums and s.sync.checksums_checked == 0
        snapshots = sim.snapshots_sent
        sim.set_zero_checksum(False)
        await wait_for(lambda: s.stats.gaps >= 1, 5, "the unverifiable update")
        await wait_for(lambda: s.synced() and sim.snapshots_sent > snapshots, 5, "the resubscribe")
        await wait_for(lambda: s.sync.checksums_checked > 5, 5, "verified updates")
        assert s.sync.verifies_checksums
        assert s.stats.checksum_failures == 0 and s.stats.resyncs >= 1
        await s.assert_equals_truth()
    finally:
        await s.close()


async def test_checksums_stopping_drops_tracking_without_a_gap(swap_session):
    s = swap_session
    await wait_for(s.synced, 5, "first sync")
    await wait_for(lambda: s.sync.checksums_checked > 2, 5, "verified updates")
    assert s.sync.verifies_checksums
    s.sim.set_zero_checksum(True)
    await wait_for(lambda: not s.sync.verifies_checksums, 5, "a zero-checksum update")
    await asyncio.sleep(0.2)
    await s.assert_equals_truth()
    assert s.stats.gaps == 0 and s.stats.checksum_failures == 0 and s.stats.resyncs == 0


@pytest.mark.parametrize("spec", [SPOT, SWAP], ids=["spot", "swap"])
async def test_snapshotless_zero_checksum_mode(spec):
    """REST snapshot, then production's zero checksums: the first update turns raw
    tracking off; a gap still resyncs from REST; checksums coming back resync too."""
    async with OkxSim([SPOT, SWAP], seed=13, rate=400, depth_interval_ms=20, snapshotless=True,
                      zero_checksum=True) as sim:
        s = await Session.open(sim, spec, snapshotless=True)
        try:
            await wait_for(s.synced, 5, "first sync from REST")
            await wait_for(lambda: not s.sync.verifies_checksums, 5, "a zero-checksum update")
            await asyncio.sleep(0.2)
            await s.assert_equals_truth()
            assert s.sync.checksums_checked == 0
            sim.skip_sequence(spec.inst_id)
            await wait_for(lambda: s.stats.gaps >= 1, 5, "the gap")
            await wait_for(s.synced, 5, "the REST resync")
            await s.assert_equals_truth()
            # right after a REST resync the book still has the REST text and would verify
            # a checksum; once a zero-checksum update has dropped it, it cannot
            await wait_for(lambda: not s.sync.verifies_checksums, 5, "a zero-checksum update")
            gaps = s.stats.gaps
            sim.set_zero_checksum(False)
            await wait_for(lambda: s.stats.gaps > gaps, 5, "the unverifiable update")
            await wait_for(lambda: s.synced() and s.sync.checksums_checked > 2, 5,
                           "the REST resync, verified")
            assert s.sync.verifies_checksums and s.stats.checksum_failures == 0
            await s.assert_equals_truth()
        finally:
            await s.close()


@pytest.mark.parametrize("spec", [SPOT, SWAP], ids=["spot", "swap"])
async def test_snapshotless_mode_syncs_from_rest(spec):
    async with OkxSim([SPOT, SWAP], seed=12, rate=400, depth_interval_ms=20, snapshotless=True) as sim:
        s = await Session.open(sim, spec, snapshotless=True)
        try:
            await wait_for(s.synced, 5, "first sync from REST")
            assert sim.snapshots_sent == 0
            await asyncio.sleep(0.2)
            await s.assert_equals_truth()
            sim.skip_sequence(spec.inst_id)
            await wait_for(lambda: s.stats.gaps >= 1, 5, "the gap")
            await wait_for(s.synced, 5, "the REST resync")
            await s.assert_equals_truth()
            sim.corrupt_checksum(spec.inst_id)
            await wait_for(lambda: s.stats.checksum_failures >= 1, 5, "the checksum failure")
            await wait_for(s.synced, 5, "the REST resync")
            await s.assert_equals_truth()
            assert s.stats.resyncs >= 2
        finally:
            await s.close()


@pytest.mark.parametrize("zero", [False, True], ids=["legacy", "zero-checksum"])
async def test_capture_replays_to_the_live_book(sim, tmp_path, zero):
    """A live session with a bad checksum and a lost update, recorded raw, replays
    through the registry to the same book and the same fault counts. With zero
    checksums the corrupted (non-zero) one cannot be verified: a gap, not a failure."""
    sim.set_zero_checksum(zero)
    failures = 0 if zero else 1
    path = tmp_path / "okx.jsonl"
    capture = CaptureWriter(path)
    rest = RestClient(sim.rest_url, on_response=capture.rest_recorder("okx", "perp"))
    inst = await load_instrument(rest, OkxVenue("perp", []), SWAP.inst_id)  # the metadata line
    s = Session(sim, SWAP, rest, inst, capture=capture)
    await s.feed.start()
    try:
        await wait_for(s.synced, 5, "first sync")
        sim.corrupt_checksum(SWAP.inst_id)
        await wait_for(lambda: s.stats.gaps == 1 and s.synced(), 5, "checksum resync")
        assert s.stats.checksum_failures == failures
        sim.skip_sequence(SWAP.inst_id)
        await wait_for(lambda: s.stats.gaps == 2 and s.synced(), 5, "gap resync")
        sim.pause()
        await wait_for(lambda: s.sync.seq == sim.last_sent_seq(SWAP.inst_id), 5, "catch up")
        with s.hub.lock:
            live = s.sync.book.side_dicts()
    finally:
        await s.close()
        capture.close()
    rep = replay_file(path)
    assert (rep.stats.checksum_failures, rep.stats.gaps, rep.stats.malformed) == (failures, 2, 0)
    st = rep.hub.state(inst.id)
    assert st is not None and st.synced and st.book.side_dicts() == live


# -- the simulator's protocol ---------------------------------------------------------------

async def recv_json(ws, timeout: float = 3.0):
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def test_ws_protocol_acks_errors_ping(sim):
    async with websockets.connect(sim.ws_url + "/public", ping_interval=None) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), 3) == "pong"
        await ws.send(orjson.dumps({"id": "7", "op": "subscribe",
                                    "args": [{"channel": "books", "instId": "BTC-USDT-SWAP"}]}).decode())
        ack = await recv_json(ws)
        assert ack["event"] == "subscribe" and ack["id"] == "7" and ack["connId"]
        snap = await recv_json(ws)
        assert snap["action"] == "snapshot" and snap["data"][0]["prevSeqId"] == -1
        d = snap["data"][0]
        assert d["checksum"] == book_checksum(d["bids"], d["asks"])
        assert all(len(level) == 4 for level in d["bids"])
        await ws.send(orjson.dumps({"op": "subscribe", "args": [
            {"channel": "candle1m", "instId": "BTC-USDT"},
            {"channel": "books", "instId": "NOPE-USDT"},
            {"channel": "funding-rate", "instId": "BTC-USDT"}]}).decode())
        errors = []
        while len(errors) < 3:
            msg = await recv_json(ws)
            if msg.get("event") == "error":
                errors.append(msg["code"])
        assert errors == ["60018"] * 3  # candles live on /business; spot has no funding
        await ws.send("{not json")
        while (msg := await recv_json(ws)).get("event") != "error":
            pass
        assert msg["code"] == "60012"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(sim.ws_url + "/private"):
            pass


async def test_rest_endpoints(sim):
    async with aiohttp.ClientSession() as http:
        async def get(path):
            async with http.get(sim.rest_url + path) as resp:
                return resp.status, await resp.json()

        status, body = await get("/api/v5/public/instruments?instType=SWAP")
        assert status == 200 and body["code"] == "0"
        (row,) = body["data"]
        assert (row["instId"], row["ctVal"], row["ctType"], row["settleCcy"], row["lotSz"]) == (
            "BTC-USDT-SWAP", "0.01", "linear", "USDT", "0.01")
        status, body = await get("/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=5")
        rows = body["data"]
        assert len(rows) == 5 and int(rows[0][0]) > int(rows[-1][0])  # newest first
        assert rows[0][8] == "0" and rows[1][8] == "1"
        status, body = await get(f"/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=3&after={rows[1][0]}")
        assert [r[0] for r in body["data"]] == [r[0] for r in rows[2:5]]
        status, body = await get("/api/v5/market/books?instId=BTC-USDT&sz=400")
        assert status == 200 and body["data"][0]["seqId"] == sim.truth("BTC-USDT")[0]
        status, body = await get("/api/v5/market/books?instId=NOPE")
        assert body["code"] == "51001"
        status, body = await get("/api/v5/market/candles?instId=BTC-USDT&bar=7m")
        assert status == 400 and body["code"] == "51000"


def test_sim_wire_helpers():
    # the simulator's own checksum (independent of the codec's) on OKX's published example
    assert okx_checksum([["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]) == -1881014294
    assert [okx_num(x) for x in ("8477.00", "0.10", "0.0000", "120")] == ["8477", "0.1", "0", "120"]


def test_sim_thread_knobs():
    with OkxSimThread([SPOT], seed=3, rate=50) as thread:
        assert thread.ws_url.endswith("/ws/v5") and thread.rest_url.startswith("http://127.0.0.1:")
        thread.pause()
        seq, bids, asks = thread.truth("BTC-USDT")
        assert bids and asks and seq > 0
        thread.corrupt_checksum("BTC-USDT")
        thread.maintenance_seq_reset("BTC-USDT")
        thread.set_zero_checksum(True)
        assert thread.send_book_keepalive("BTC-USDT") is False  # nobody subscribed
        assert thread.last_sent_seq("BTC-USDT") is None
