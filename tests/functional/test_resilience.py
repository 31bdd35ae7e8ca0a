"""Recovery from the faults a venue really produces, over real sockets against the
simulators: a REST outage longer than any fixed retry schedule, a book channel that goes
silent while the connection (heartbeats, pongs, other channels) lives on, and a flapping
connection. Timings are shortened through ConnectionSettings."""

from __future__ import annotations

import asyncio
import random
import dataclasses
import socket
import time

import pytest

from app.feeds.connection import ConnectGate, ConnectionSettings, WsConnection
from app.feeds.health import FeedHealth
from app.feeds.rest import RestClient, WeightBudget
from app.sim.binance_server import BinanceSim
from app.sim.bybit_server import BybitSim
from app.sim.coinbase_server import CoinbaseSim
from app.sim.okx_server import OkxSim
from tests.functional import test_bybit_sim, test_coinbase_sim, test_okx_sim
from tests.harness import WidgetApp, widget_text
from tests.sim_session import wait_for
from tests.functional.test_feed_sim import PERP, SPOT, Session
from widgets.ladder import UNSYNCED_TEXT, OrderBookLadder
from widgets.status_bar import FeedStatusBar

QUICK = ConnectionSettings(backoff_base=0.05, backoff_cap=0.5, stale_after=5.0,
                           resync_base=0.05, resync_cap=0.3, watchdog_tick=0.05,
                           book_silence_min=0.4, book_silence_factor=8.0, resubscribe_timeout=2.0)
DEPTH = "/fapi/v1/depth"


def _with(settings: ConnectionSettings, feed) -> None:
    """Apply settings before start (the connections copy them when they are opened)."""
    feed.settings = dataclasses.replace(settings, control_msgs_per_sec=feed.settings.control_msgs_per_sec)
    feed.stream_stale_after = 3.0


# -- 1. a resync that outlives any fixed retry schedule ---------------------------------------

async def test_rest_outage_longer_than_the_retry_schedule_then_recovery():
    async with BinanceSim([PERP], seed=3, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, PERP)
        _with(QUICK, s.feed)
        await s.feed.start()
        try:
            await wait_for(s.synced, 5, "first sync")
            outage_ends = time.monotonic() + 4.0
            sim.fail_rest(503, seconds=4.0, path=DEPTH)
            sim.skip_sequence(PERP.symbol, "perp")  # a gap: the book needs a REST snapshot
            await wait_for(lambda: not s.synced(), 5, "the gap")
            view = None

            def says_why() -> bool:
                nonlocal view
                view = s.hub.view(s.inst.id)
                return view is not None and bool(view.sync_reason) and "REST 503" in view.sync_reason

            await wait_for(says_why, 3, "the reason on the view")
            assert view is not None and not view.synced and not view.bids
            assert "resync: REST 503" in view.sync_reason
            assert "next try in" in view.sync_reason or "trying again" in view.sync_reason
            # what the user sees: the ladder and the status bar say why
            ladder, bar = OrderBookLadder(), FeedStatusBar()
            async with WidgetApp(ladder, bar).run_test(size=(120, 40)) as pilot:
                ladder.update_view(view)
                bar.update(s.hub.health(), view)
                await pilot.pause()
                assert UNSYNCED_TEXT in widget_text(ladder)
                assert "REST 503" in widget_text(ladder)
                assert "REST 503" in bar.text and "UNSYNCED" in bar.text

            refused_before = sim.rest_refused
            outage_left = outage_ends - time.monotonic() - 0.3
            assert outage_left > 1.0
            await asyncio.sleep(outage_left)  # still down: the feed keeps trying, paced
            tries = sim.rest_refused - refused_before
            assert 3 <= tries <= outage_left / (QUICK.resync_cap / 2) + 2, tries
            assert not s.synced()
            # the outage ends on its own; the next try gets the book back within seconds
            await wait_for(lambda: sim._rest_fault is None or s.synced(), 3, "the outage to end")
            took = await wait_for(s.synced, 5, "the resync once REST answers")
            assert took < 5
            assert sim.rest_refused > 10  # more tries than the old fixed schedule ever made
            assert s.hub.view(s.inst.id).sync_reason is None
            await s.assert_equals_truth()
            assert s.feed.stats.gaps >= 1 and s.feed.stats.resyncs >= 1
        finally:
            await s.close()


async def test_resync_honours_retry_after_and_the_weight_budget():
    async with BinanceSim([PERP], seed=3, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, PERP)
        # a budget that affords two snapshot retries a minute at most (weight 20, share 3/4)
        s.rest.budget = WeightBudget(60)
        _with(QUICK, s.feed)
        sim.fail_rest(503, seconds=30.0, path=DEPTH, retry_after=1.0)
        await s.feed.start()
        try:
            await wait_for(lambda: sim.rest_refused >= 1, 5, "the first refused snapshot")
            await asyncio.sleep(1.8)
            # Retry-After 1 s, then the budget: never the 0.3 s backoff cap
            assert sim.rest_refused <= 3, sim.rest_refused
            view = s.hub.view(s.inst.id)
            assert view is not None and not view.synced
            assert "budget" in view.sync_reason or "REST 503" in view.sync_reason
        finally:
            await s.close()


def test_buffer_overflow_counts_a_gap():
    from app.venues import binance
    from app.venues.base import BUFFERED, GAP, MAX_BUFFERED_DIFFS, DepthDiff

    sync = binance.BinanceBookSync(perp=False)
    results = [sync.on_diff(DepthDiff("BTCUSDT", 0, i, i, -1, [], []))
               for i in range(MAX_BUFFERED_DIFFS + 1)]
    assert results[:-1] == [BUFFERED] * MAX_BUFFERED_DIFFS
    assert results[-1] == GAP and sync.first_buffered == MAX_BUFFERED_DIFFS


# -- 2. a silent book channel on a live connection ---------------------------------------------

async def _okx(sticky: bool = False):
    sim = OkxSim([test_okx_sim.SPOT], seed=11, rate=400, depth_interval_ms=20)
    await sim.start()
    rest = RestClient(sim.rest_url)
    venue = test_okx_sim.OkxVenue("spot", [])
    inst = await test_okx_sim.load_instrument(rest, venue, test_okx_sim.SPOT.inst_id)
    return sim, test_okx_sim.Session(sim, test_okx_sim.SPOT, rest, inst)


async def _bybit():
    sim = BybitSim([test_bybit_sim.SPOT], seed=11, rate=400, depth_interval_ms=20)
    await sim.start()
    return sim, test_bybit_sim.Session(sim, test_bybit_sim.SPOT)


async def _coinbase():
    sim = CoinbaseSim([test_coinbase_sim.BTC], seed=7, rate=400, l2_interval_ms=20)
    await sim.start()
    s = test_coinbase_sim.Session(sim, [test_coinbase_sim.BTC])
    return sim, s


def _record(hub) -> tuple[list[float], list[str]]:
    """When books went unsynced, and every reason the feed gave."""
    lost: list[float] = []
    notes: list[str] = []
    touch, note_sync = hub.touch, hub.note_sync

    def recording_touch(inst_id: str, synced: bool) -> None:
        if not synced:
            lost.append(time.monotonic())
        touch(inst_id, synced)

    def recording_note(inst_id: str, note, retry_at=None) -> None:
        if note:
            notes.append(note)
        note_sync(inst_id, note, retry_at)

    hub.touch, hub.note_sync = recording_touch, recording_note
    return lost, notes


VENUES = {"okx": _okx, "bybit": _bybit, "coinbase": _coinbase}


@pytest.mark.parametrize("venue", list(VENUES))
async def test_silent_book_channel_with_live_heartbeats_is_resubscribed(venue):
    sim, s = await VENUES[venue]()
    _with(QUICK, s.feed)
    await s.feed.start()
    try:
        conn = s.feed.connections()[0]
        await wait_for(s.synced, 5, "first sync")
        await asyncio.sleep(0.5)  # the watchdog learns the channel's usual rate
        frames = conn.health.messages
        lost, notes = _record(s.hub)
        silenced_at = time.monotonic()
        sim.silence_books()
        # on loopback the resubscribed snapshot comes back in milliseconds: watch the record
        await wait_for(lambda: lost, 3, "the silent book to be hidden")
        noticed = lost[0] - silenced_at
        assert noticed < 3.0, noticed  # a 20 ms stream is declared dead well before 3 s
        assert any("no book updates" in n for n in notes), notes
        assert conn.health.messages > frames  # the connection itself was alive all along
        await wait_for(s.synced, 5, "the resubscribed book")
        await wait_for(lambda: conn.health.state == "connected", 1, "the stale mark to clear")
        assert conn.health.reconnects == 0  # resubscribing was enough
        await s.assert_equals_truth()
    finally:
        await s.close()
        await sim.stop()


async def test_channel_that_stays_silent_after_resubscribing_reconnects():
    sim, s = await _okx()
    _with(QUICK, s.feed)
    await s.feed.start()
    try:
        conn = s.feed.connections()[0]
        await wait_for(s.synced, 5, "first sync")
        await asyncio.sleep(0.5)
        sim.silence_books(sticky=True)  # only a new connection cures it
        await wait_for(lambda: conn.health.reconnects >= 1, 6, "the reconnect")
        await wait_for(s.synced, 5, "the rebuilt book")
        await s.assert_equals_truth()
    finally:
        await s.close()
        await sim.stop()


async def test_quiet_but_slow_channel_is_not_declared_dead():
    """The limit follows the channel's own rate: a book that changes every ~0.6 s is left
    alone at the same settings that catch a 20 ms stream within a second."""
    async with BinanceSim([SPOT], seed=5, rate=300, depth_interval_ms=600) as sim:
        s = Session(sim, SPOT)
        _with(QUICK, s.feed)
        await s.feed.start()
        try:
            await wait_for(s.synced, 5, "first sync")
            await asyncio.sleep(3.0)
            assert s.synced() and s.feed.stats.gaps == 0
            assert s.feed.connections()[0].health.reconnects == 0
            assert s.feed._silence_limit(s.inst.id) > 1.2
        finally:
            await s.close()


# -- 3. flapping ---------------------------------------------------------------------------------

async def test_flapping_connection_recovers_within_5s_every_time():
    async with BinanceSim([SPOT], seed=9, rate=300, depth_interval_ms=100) as sim:
        s = Session(sim, SPOT)
        s.feed.settings = ConnectionSettings()  # production backoff: base 0.5 s, cap 30 s
        await s.feed.start()
        try:
            conn = s.feed.connections()[0]
            await wait_for(s.synced, 5, "first sync")
            recoveries = []
            for drop in range(4):
                await asyncio.sleep(max(0.0, 2.0 - (recoveries[-1] if recoveries else 0.0)))
                start = time.monotonic()
                sim.drop_connections()
                await wait_for(lambda d=drop: conn.health.reconnects > d, 5, "the drop")
                await wait_for(lambda: s.synced() and conn.health.state == "connected", 6,
                               "the recovery")
                recoveries.append(time.monotonic() - start)
            assert max(recoveries) < 5.0, recoveries  # typically a few hundred ms each
            await s.assert_equals_truth()
        finally:
            await s.close()


class CountingGate(ConnectGate):
    """A gate that lets every attempt through and notes when it was made."""

    def __init__(self) -> None:
        super().__init__(per_sec=1000, burst=1000)
        self.stamps: list[float] = []

    async def wait(self) -> None:
        self.stamps.append(time.monotonic())


class HighestJitter(random.Random):
    """Jitter at the top of its range, so the test sees the backoff ceiling itself
    (with real jitter two short waits in a row happen often enough to flake)."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_refused_connects_keep_backing_off():
    with socket.socket() as probe:  # a port nothing listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    health, gate = FeedHealth("nowhere spot"), CountingGate()
    conn = WsConnection("nowhere", f"ws://127.0.0.1:{port}/ws", health, lambda c: asyncio.sleep(0),
                        lambda f, t: None, gate=gate, rng=HighestJitter(),
                        settings=ConnectionSettings(backoff_base=0.2, backoff_cap=30))
    task = asyncio.get_running_loop().create_task(conn.run())
    try:
        await asyncio.sleep(3.0)
    finally:
        await conn.stop()
        task.cancel()  # it may be in the middle of a long backoff
        await asyncio.gather(task, return_exceptions=True)
    assert "cannot connect" in (health.error or "")
    # 0.2 s base doubling: about 5 tries in 3 s, where a fixed short retry would make 30
    assert 3 <= len(gate.stamps) <= 8, len(gate.stamps)
    gaps = [b - a for a, b in zip(gate.stamps, gate.stamps[1:])]
    assert max(gaps[-2:]) > 0.4  # the waits grow


async def test_a_slow_channel_revived_by_each_resubscription_earns_slack():
    """A book channel that a resubscription always revives but that keeps going quiet is
    slow, not dead: it is given more room each time rather than reconnected."""
    async with BinanceSim([PERP], seed=3, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, PERP)
        _with(QUICK, s.feed)
        await s.feed.start()
        try:
            await wait_for(s.synced, 5, "first sync")
            await asyncio.sleep(0.5)
            base = s.feed._silence_limit(s.inst.id)
            for _ in range(3):  # the first is a silence, each repeat doubles the room
                sim.silence_books()
                lost, _ = _record(s.hub)
                await wait_for(lambda: lost, 20, "the silence to be noticed")
                await wait_for(s.synced, 5, "the revived book")
            assert s.feed._silence_limit(s.inst.id) >= 3 * base
            assert s.feed.connections()[0].health.reconnects == 0
            await s.assert_equals_truth()
        finally:
            await s.close()


async def test_a_venue_that_keeps_dropping_us_is_backed_off():
    """Past flaps_per_minute drops in a minute, even connections that worked are retried
    with a growing backoff, so a venue in trouble is not hammered."""
    async with BinanceSim([SPOT], seed=9, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, SPOT)
        s.feed.settings = ConnectionSettings(flaps_per_minute=2, healthy_after=0.2)
        await s.feed.start()
        try:
            conn = s.feed.connections()[0]
            took = []
            for drop in range(5):
                await wait_for(lambda: s.synced() and conn.health.state == "connected", 30, "sync")
                await asyncio.sleep(0.3)
                start = time.monotonic()
                sim.drop_connections()
                await wait_for(lambda d=drop: conn.health.reconnects > d, 5, "the drop")
                await wait_for(lambda: conn.health.state == "connected", 30, "the reconnect")
                took.append(time.monotonic() - start)
            assert max(took[:2]) < 1.0, took  # within the limit: at once
            # past it: backing off (full jitter from base 0.5 s, doubling, never under 0.25 s)
            assert min(took[2:]) > 0.25 and sum(took[2:]) > 0.8, took
        finally:
            await s.close()
