"""All four venues side by side: the simulators share one underlying price per base, the
engine streams every venue, the cross-venue view flags a venue pushed away, and a capture
of the whole session replays to the same books."""

from __future__ import annotations

import re
import time

import pytest

from app.alerts.runtime import start_alerts
from app.config import load_config
from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.feeds.replay import replay_file
from app.sim.world import DemoWorld, available_venues
from app.ui.app import CryptotermApp
from tests.harness import screen_text
from tests.waiting import wait, wait_for


@pytest.fixture(scope="module")
def world_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("mv") / "all.jsonl"
    cfg = load_config(None, tmp_path_factory.mktemp("data"))
    world = DemoWorld(seed=4, rate=60.0).start()
    world.configure(cfg)
    capture = CaptureWriter(path)
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"], capture=capture,
                    settings=ConnectionSettings(backoff_base=0.05, control_msgs_per_sec=20))
    engine.start()
    yield world, engine, path
    engine.stop()
    world.stop()


def test_every_venue_streams_exact_books(world_session):
    world, engine, _ = world_session
    venues = set(world.venues())
    assert venues == set(available_venues()) and "binance" in venues
    wait(lambda: {s.instrument.venue for s in engine.overview() if s.synced} == venues,
         what="a synced book on every venue")
    spot_btc = [s for s in engine.overview() if s.instrument.base == "BTC" and s.instrument.market == "spot"]
    mids = [s.mid for s in spot_btc if s.mid]
    assert len(mids) == len(venues)
    assert (max(mids) - min(mids)) / min(mids) * 1e4 < 40  # one underlying, small spreads


async def test_cross_venue_view_flags_a_pushed_venue(world_session):
    world, engine, _ = world_session
    wait(lambda: sum(1 for s in engine.overview() if s.synced) >= len(world.venues()), what="sync")
    app = CryptotermApp(engine, "cryptopair_binance_btcusdt", mode_label="DEMO")
    engine.cfg.alerts.desktop = False
    app.alerts = start_alerts(engine, engine.cfg)  # the deviation rule at alert_bps
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("x")
        await pilot.pause(0.5)
        pushed = "bybit" if "bybit" in world.venues() else world.venues()[-1]
        world.push_venue(pushed, 200)

        def alerted() -> list[str]:
            return [n.message for n in app.recent_notices if n.title == "Price deviation · deviation"]

        await wait_for(alerted, 15, "a deviation alert")
        assert any(f"on {pushed} is +" in m for m in alerted())
        text = screen_text(app)
        assert "bp" in text
        # every venue's perp cell fits whole in 160 columns, funding countdown included
        perp_row = next(line for line in text.splitlines() if "BTC/USD* perp" in line)
        assert perp_row.count("%") == sum(1 for v in world.venues() if v != "coinbase")
        assert re.search(r"% \d+:\d\d\s*$", perp_row.rstrip(" ▋▊▌▍▎▏│┃"))
        world.push_venue(pushed, 0)
    app.alerts.stop()


def test_capture_of_every_venue_replays_to_the_same_books(world_session):
    """Runs last in the module: it stops the shared engine."""
    world, engine, path = world_session
    wait(lambda: all(s.synced for s in engine.overview()), what="all books synced")
    time.sleep(1.0)
    ids = [s.instrument.id for s in engine.overview()]
    engine.stop()  # closes the capture: every frame handled live is in the file
    live = {i: engine.hub.state(i).book.side_dicts() for i in ids}
    rep = replay_file(path)
    for inst_id, (bids, asks) in live.items():
        state = rep.hub.state(inst_id)
        assert state is not None, inst_id
        assert state.book.side_dicts() == (bids, asks), inst_id
    assert rep.stats.malformed == 0
