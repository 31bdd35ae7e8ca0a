"""Connection reliability: backoff, rotation before the lifetime limit, staleness."""

from __future__ import annotations

import random

from app.feeds.connection import ConnectionSettings, backoff_delay
from app.sim.binance_server import BinanceSim
from tests.sim_session import wait_for
from tests.functional.test_feed_sim import SPOT, Session


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    delays = [[backoff_delay(a, 0.5, 30.0, rng) for _ in range(200)] for a in range(12)]
    assert all(0.25 <= d <= 30.0 for row in delays for d in row)
    assert max(delays[0]) <= 0.5 and max(delays[11]) > 20  # grows to the cap
    assert len({round(d, 3) for d in delays[6]}) > 150  # jittered, not synchronized


async def test_rotation_before_lifetime_limit_rebuilds_the_book():
    async with BinanceSim([SPOT], seed=5, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, SPOT)
        s.feed.settings = ConnectionSettings(backoff_base=0.05, max_lifetime=1.0)
        await s.feed.start()
        try:
            conn = s.feed.connections()[0]
            await wait_for(lambda: conn.health.reconnects >= 2, 6, "two rotations")
            assert conn.health.error is None  # a rotation is not an error
            await wait_for(s.synced, 5, "sync after rotation")
            await s.assert_equals_truth()
        finally:
            await s.close()


async def test_silent_feed_is_marked_stale_then_reconnected(caplog):
    async with BinanceSim([SPOT], seed=5, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, SPOT)
        s.feed.settings = ConnectionSettings(backoff_base=0.05, stale_after=0.6)
        await s.feed.start()
        try:
            conn = s.feed.connections()[0]
            await wait_for(s.synced, 5, "first sync")
            sim.pause()  # the venue goes quiet without closing anything
            await wait_for(lambda: conn.health.reconnects >= 1, 5, "the watchdog to reconnect")
            assert any("no data for" in r.getMessage() and "reconnecting" in r.getMessage()
                       for r in caplog.records)
            sim.resume()
            await wait_for(s.synced, 5, "recovery once data flows")
            await s.assert_equals_truth()
        finally:
            await s.close()


async def test_quiet_depth_stream_on_a_live_connection_is_flagged_stale():
    async with BinanceSim([SPOT], seed=5, rate=300, depth_interval_ms=20) as sim:
        s = Session(sim, SPOT)
        s.feed.stream_stale_after = 0.5
        await s.feed.start()
        try:
            conn = s.feed.connections()[0]
            await wait_for(s.synced, 5, "first sync")
            # unsubscribe depth only: tickers and klines keep the connection alive
            await conn.send('{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":99}')
            await wait_for(lambda: conn.health.state == "stale", 5, "the stream watchdog")
            assert "no book updates" in conn.health.error
            # the watchdog resubscribes the silent stream: the book comes back, no reconnect
            await wait_for(lambda: s.synced() and conn.health.state == "connected", 5, "recovery")
            assert conn.health.reconnects == 0
            await s.assert_equals_truth()
        finally:
            await s.close()


async def test_connect_gate_spaces_attempts():
    import time as _time

    from app.feeds.connection import ConnectGate

    gate = ConnectGate(per_sec=20, burst=1)
    start = _time.monotonic()
    stamps = []
    for _ in range(5):
        await gate.wait()
        stamps.append(_time.monotonic() - start)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(g >= 0.045 for g in gaps), gaps


async def test_connect_gate_allows_a_burst_then_paces():
    import time as _time

    from app.feeds.connection import ConnectGate

    gate = ConnectGate(per_sec=10, burst=3)
    start = _time.monotonic()
    for _ in range(3):
        await gate.wait()
    assert _time.monotonic() - start < 0.05  # the start-up burst is not delayed
    await gate.wait()
    assert _time.monotonic() - start >= 0.09
