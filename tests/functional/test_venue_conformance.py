"""What every venue's feed must do against its simulator on 127.0.0.1, whatever its wire
format: a forced disconnect reconnects and rebuilds the book, a malformed frame is counted
and skipped, and a sequence gap hides the book until a resync brings it back to the truth.

The sessions (how a book is compared with the simulator's truth) are the ones the venue's
own test module uses; this module adds only how to provoke each fault."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from app.sim.binance_server import BinanceSim
from app.sim.bybit_server import BybitSim
from app.sim.coinbase_server import CoinbaseSim
from app.sim.okx_server import OkxSim
from tests.functional import test_bybit_sim as bybit
from tests.functional import test_coinbase_sim as coinbase
from tests.functional import test_feed_sim as binance
from tests.functional import test_okx_sim as okx
from tests.sim_session import FeedSession, wait_for


@dataclass(slots=True)
class Venue:
    session: FeedSession
    skip_sequence: Callable[[], None]  # lose one book update on the wire


async def open_binance(stack: AsyncExitStack, spec) -> Venue:
    sim = await stack.enter_async_context(BinanceSim([spec], seed=11, rate=400, depth_interval_ms=20))
    s = binance.Session(sim, spec)
    await s.feed.start()
    stack.push_async_callback(s.close)
    return Venue(s, lambda: sim.skip_sequence(spec.symbol, spec.market))


async def open_bybit(stack: AsyncExitStack, spec) -> Venue:
    sim = await stack.enter_async_context(BybitSim([spec], seed=11, rate=400, depth_interval_ms=20))
    s = await bybit.open_session(sim, spec)
    stack.push_async_callback(s.close)
    return Venue(s, lambda: sim.skip_sequence(spec.symbol, spec.market))


async def open_okx(stack: AsyncExitStack, spec) -> Venue:
    sim = await stack.enter_async_context(OkxSim([spec], seed=11, rate=400, depth_interval_ms=20))
    s = await okx.Session.open(sim, spec)
    stack.push_async_callback(s.close)
    return Venue(s, lambda: sim.skip_sequence(spec.inst_id))


async def open_coinbase(stack: AsyncExitStack, specs) -> Venue:
    # two products on one connection: a jump in the connection's sequence_num hits both books
    sim = await stack.enter_async_context(CoinbaseSim(specs, seed=7, rate=400, l2_interval_ms=20))
    s = coinbase.Session(sim, specs)
    await s.feed.start()
    stack.push_async_callback(s.close)
    return Venue(s, sim.skip_sequence)


# each market whose book sync differs (Binance futures chain on pu, OKX swaps count contracts)
CASES = {
    "binance-spot": (open_binance, binance.SPOT),
    "binance-perp": (open_binance, binance.PERP),
    "bybit-spot": (open_bybit, bybit.SPOT),
    "bybit-linear": (open_bybit, bybit.LINEAR),
    "okx-spot": (open_okx, okx.SPOT),
    "okx-swap": (open_okx, okx.SWAP),
    "coinbase-spot": (open_coinbase, [coinbase.BTC, coinbase.ETH]),
}


@pytest.fixture(params=list(CASES))
async def venue(request) -> AsyncIterator[Venue]:
    opener, spec = CASES[request.param]
    async with AsyncExitStack() as stack:
        v = await opener(stack, spec)
        await wait_for(v.session.synced, 5, "first sync")
        yield v


def record_transitions(session: FeedSession) -> dict[str, list[bool]]:
    """Every synced/unsynced change of each book, in order."""
    seen: dict[str, list[bool]] = {i.id: [] for i in session.insts}
    touch = session.hub.touch

    def recording_touch(inst_id: str, synced: bool) -> None:
        seen[inst_id].append(synced)
        touch(inst_id, synced)

    session.hub.touch = recording_touch  # type: ignore[method-assign]
    return seen


async def test_forced_disconnect_reconnects_and_rebuilds(venue):
    s = venue.session
    s.sim.drop_connections()
    await wait_for(lambda: all(c.health.reconnects >= 1 for c in s.feed.connections()), 5,
                   "the reconnect")
    took = await wait_for(s.synced, 5, "resync after reconnect")
    assert took < 5
    await s.assert_equals_truth()
    # the new connection's sequence starts again (Coinbase counts from zero): no false gap
    assert s.feed.stats.gaps == 0


async def test_malformed_frame_is_counted_not_fatal(venue):
    s = venue.session
    s.sim.send_malformed()
    await wait_for(lambda: s.feed.stats.malformed >= 1, 5, "the malformed frame")
    await s.assert_equals_truth()
    assert all(c.health.reconnects == 0 for c in s.feed.connections())
    assert s.feed.stats.gaps == 0


async def test_gap_hides_the_book_then_resyncs_to_truth(venue):
    s = venue.session
    transitions = record_transitions(s)
    venue.skip_sequence()
    await wait_for(lambda: s.feed.stats.gaps >= len(s.insts), 5, "the gap to be detected")
    await wait_for(s.synced, 5, "the resync")
    for seen in transitions.values():  # each book was hidden until its fresh snapshot
        assert seen[:1] == [False] and seen[-1] is True
    assert s.feed.stats.resyncs >= len(s.insts) and s.feed.stats.checksum_failures == 0
    await s.assert_equals_truth()
    # a resync is a new snapshot on the same connection, not a reconnect
    assert all(c.health.reconnects == 0 for c in s.feed.connections())
