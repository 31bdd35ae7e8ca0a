"""What the websocket tests against the venue simulators share: a feed session whose
books are compared with the simulator's truth."""

from __future__ import annotations

from app.feeds.feed import VenueFeed
from app.feeds.hub import MarketHub
from app.feeds.rest import RestClient
from app.market.instruments import Instrument
from tests.waiting import wait_for

__all__ = ["FeedSession", "wait_for"]


class FeedSession:
    """A VenueFeed on a simulator. Subclasses say when the client has caught up with
    what the paused simulator sent and how its books are checked against the truth."""

    def __init__(self, sim, hub: MarketHub, rest: RestClient, feed: VenueFeed,
                 insts: list[Instrument]) -> None:
        self.sim = sim
        self.hub = hub
        self.rest = rest
        self.feed = feed
        self.insts = insts

    @property
    def inst(self) -> Instrument:
        return self.insts[0]

    @property
    def sync(self):
        return self.feed.core.syncs[self.inst.id]

    def synced(self) -> bool:
        return all((st := self.hub.state(i.id)) is not None and st.synced for i in self.insts)

    def caught_up(self) -> bool:
        raise NotImplementedError

    def check_truth(self) -> None:
        raise NotImplementedError

    async def assert_equals_truth(self, timeout: float = 5.0) -> None:
        """Freeze the simulator (it flushes what is pending), wait until the client
        applied all that was sent, then compare."""
        self.sim.pause()
        try:
            await wait_for(lambda: self.synced() and self.caught_up(), timeout, "the book to catch up")
            self.check_truth()
        finally:
            self.sim.resume()

    async def close(self) -> None:
        await self.feed.stop()
        await self.rest.close()
