"""The watchlist screen as a user drives it (Pilot over the real engine and simulators),
and its look at 80x24 and 160x45 (snapshots of a frozen simulated world)."""

from __future__ import annotations

import time

import pytest

from app.config import AppConfig, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.serving import FROZEN_NOW_MS
from app.sim.world import DemoWorld
from app.ui.app import CryptotermApp
from app.ui.watchlist_screen import WatchlistScreen, WatchSettings
from tests.harness import screen_text
from tests.waiting import wait_for
from widgets.watchlist import WatchlistTable

BTC = "cryptopair_binance_btcusdt"
UNIVERSE = 6
ROWS = 2 * (UNIVERSE + UNIVERSE // 2)  # binance and okx: spot for each base, perps for half


@pytest.fixture
def session(tmp_path):
    with DemoWorld(universe=UNIVERSE, rate=30.0, venues=["binance", "okx"]) as world:
        cfg = AppConfig(tmp_path / "config.toml", tmp_path)
        world.configure(cfg)
        engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
        engine.start()
        yield engine, cfg
        engine.stop()


def make_app(engine: Engine, cfg: AppConfig, **settings) -> CryptotermApp:
    app = CryptotermApp(engine, BTC, mode_label="DEMO")
    app.watch_settings = WatchSettings(config_path=cfg.config_path, **settings)
    return app


async def open_watchlist(app: CryptotermApp, pilot) -> WatchlistTable:
    await pilot.press("w")
    await wait_for(lambda: isinstance(app.screen, WatchlistScreen), what="the watchlist")
    table = app.screen.query_one(WatchlistTable)
    table.resort_s = 0.0  # sorted on every frame: the order asserted is the order of the values
    await wait_for(lambda: len(table.rows) == ROWS and all(r.last is not None for r in table.rows),
                   what="every market with a price")
    return table


async def test_w_lists_every_market_with_its_columns(session):
    engine, cfg = session
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(lambda: "Watchlist" in screen_text(app), what="the key in the footer")
        table = await open_watchlist(app, pilot)
        await wait_for(lambda: f"{ROWS} markets" in screen_text(app), what="the title")
        text = screen_text(app)
        for title in ("Symbol", "Venue", "Last", "24h %", "Spr bp", "Vol 24h", "Fund %", "Funds in",
                      "Dev bp", "Feed", "1h"):
            assert title in text
        assert "ETH/USDT:USDT" in text and "okx" in text and "binance" in text
        assert {r.feed for r in table.rows} <= {"book", "tick", "unsync"}
        assert sum(1 for r in table.rows if r.feed in ("book", "unsync")) == 2  # BTC/USDT on each venue
        # the most traded first (the default sort), by the venues' own 24h turnover
        # (the order lands with the next frame after resort_s went to 0: wait for it, a loaded
        # machine can be a frame late)
        def by_volume() -> bool:
            volumes = [r.volume for r in table.rows]
            return volumes == sorted(volumes, reverse=True)
        await wait_for(by_volume, what="the rows sorted by 24h volume")


async def test_filter_as_you_type_fast_stray_letters_and_escape(session):
    engine, cfg = session
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        await pilot.press("slash", *"eth perp")  # no pause between keys
        await wait_for(lambda: table.filter_text == "eth perp", what="the filter")
        assert sorted((r.symbol, r.venue) for r in table.rows) == [("ETH/USDT:USDT", "binance"),
                                                                  ("ETH/USDT:USDT", "okx")]
        await wait_for(lambda: "2 of" in screen_text(app), what="the count of matches")
        # q and f typed into the filter are text, not Quit or Favourite
        await pilot.press("space", "q", "f")
        await wait_for(lambda: table.filter_text == "eth perp qf", what="letters into the filter")
        assert app.is_running and not table.favourites and table.rows == []
        assert "no market matches the filter" in screen_text(app)
        await pilot.press("escape")  # clears the filter, stays on the watchlist
        await wait_for(lambda: len(table.rows) == ROWS, what="every row back")
        assert isinstance(app.screen, WatchlistScreen) and table.has_focus
        await pilot.press("z", "k", "j", "9")  # stray letters on the table: nothing happens
        await pilot.pause(0.2)
        assert isinstance(app.screen, WatchlistScreen) and len(table.rows) == ROWS
        await pilot.press("escape")
        await wait_for(lambda: not isinstance(app.screen, WatchlistScreen), what="back on the main screen")
        assert app.main_screen.instrument_id == BTC


async def test_sort_by_columns_and_reverse(session):
    engine, cfg = session
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        assert (table.sort_key, table.descending) == ("volume", True)
        await pilot.press("o")  # the column after Vol 24h on screen: funding
        assert table.sort_key == "funding"
        await pilot.press("o")
        assert table.sort_key == "next"
        await pilot.press("o", "o", "o")  # deviation, feed, then round to the first
        assert table.sort_key == "symbol" and not table.descending
        await wait_for(lambda: "Symbol▲" in screen_text(app), what="the sorted column marked")
        symbols = [r.symbol for r in table.rows]
        assert symbols == sorted(symbols)
        await pilot.press("O")
        assert table.descending
        symbols = [r.symbol for r in table.rows]
        assert symbols == sorted(symbols, reverse=True)
        # a click on a column title sorts by it
        header_x = screen_text(app).splitlines()[1].index("24h %")
        await pilot.click(WatchlistTable, offset=(header_x + 1, 0))
        assert table.sort_key == "change"
        changes = [r.change for r in table.rows]
        assert changes == sorted(changes, reverse=True)


async def test_favourite_is_pinned_and_kept_in_the_config_file(session):
    engine, cfg = session
    cfg.config_path.write_text("# mine\n[app]\nfps = 10\n")
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        await pilot.press("end")
        last = table.selected()  # the row under the cursor (a re-sort may move the bottom one)
        assert last is not None
        await pilot.press("f")
        assert table.rows[0].id == last.id  # pinned to the top
        assert load_config(cfg.config_path, cfg.data_dir).favourites == [last.id]
        assert cfg.config_path.read_text().startswith("# mine\n[app]\n")
        await wait_for(lambda: f"★{last.symbol}" in screen_text(app), what="the star")
        await pilot.press("home", "f")
        assert load_config(cfg.config_path, cfg.data_dir).favourites == []
        assert "★" not in screen_text(app).split("Symbol", 1)[1]


async def test_enter_opens_a_ticker_row_on_the_main_screen_with_its_book(session):
    engine, cfg = session
    app = make_app(engine, cfg)
    target = "cryptoperp_okx_solusdt"
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        assert next(r for r in table.rows if r.id == target).feed == "tick"
        await pilot.press("slash", *"sol/usdt:usdt okx", "enter")  # Enter keeps the filter
        await wait_for(lambda: [r.id for r in table.rows] == [target] and table.has_focus,
                       what="one row, the table focused")
        await pilot.press("enter")
        await wait_for(lambda: app.main_screen.instrument_id == target, what="opened on the main screen")
        await wait_for(lambda: (v := engine.view(target)) is not None and v.synced,
                       what="its book, started and synced")
        await wait_for(lambda: "SOL/USDT:USDT · okx perp" in screen_text(app), what="on screen")


@pytest.mark.parametrize("reduced", [False, True], ids=["flashes", "reduced-motion"])
async def test_rows_flash_on_price_changes_unless_reduced_motion(session, reduced):
    engine, cfg = session
    app = make_app(engine, cfg, reduced_motion=reduced)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        seen: set[int] = set()
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not (seen - {0}):
            seen |= {spec[2] for spec in table.lines if spec[0] == "row"}
            await pilot.pause(0.05)
        assert (seen - {0} == set()) is reduced


# -- snapshots: a frozen, seeded world and a frozen clock -----------------------------------

@pytest.fixture
def frozen_world(tmp_path):
    start = FROZEN_NOW_MS - 300 * 100
    with DemoWorld(universe=UNIVERSE, venues=["binance", "okx", "bybit", "coinbase"], seed=7,
                   start_time_ms=start, warmup_steps=300, warmup_step_ms=100, paused=True) as world:
        cfg = AppConfig(tmp_path / "config.toml", tmp_path)
        world.configure(cfg)
        engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05),
                        clock=lambda: 1000.0)
        engine.start()
        engine.stream_tickers()
        rows = 3 * (UNIVERSE + UNIVERSE // 2) + UNIVERSE
        deadline = time.monotonic() + 20
        while len(engine.health()) < 12 or not all(h.state == "connected" for h in engine.health()):
            assert time.monotonic() < deadline, "the engine did not connect"
            time.sleep(0.05)
        time.sleep(0.3)  # subscriptions acknowledged
        for thread in world.threads.values():
            thread.pump(steps=60)  # deterministic frames: book diffs (Binance syncs on them), trades
        # the sparklines come over REST, paced by each venue's rate-limit window: waited
        # for before the loop below, whose every turn moves the funding rates on
        while True:
            summaries = engine.watchlist()
            sparks = engine.sparklines([s.instrument.id for s in summaries])
            if len(summaries) == rows and all(len(sparks.get(s.instrument.id, ())) == 60
                                              for s in summaries if s.instrument.venue != "coinbase"):
                break
            assert time.monotonic() < deadline, "the sparklines did not load"
            time.sleep(0.1)
        while True:
            for thread in world.threads.values():
                thread.pump(steps=0)  # the periodic streams (tickers, funding) once more
            summaries = engine.watchlist()
            sparks = engine.sparklines([s.instrument.id for s in summaries])
            if (len(summaries) == rows and all(s.last is not None and s.change_24h_pct is not None
                                               for s in summaries)
                    and all(s.synced for s in summaries if s.book)
                    and all(s.funding_rate is not None for s in summaries if s.instrument.market == "perp")
                    # (Coinbase candles are asked for up to the wall clock: the frozen
                    # world's past has none, so its rows keep the one close of their ticker)
                    and all(len(sparks.get(s.instrument.id, ())) == 60 for s in summaries
                            if s.instrument.venue != "coinbase")
                    and all(h.state == "connected" for h in engine.health())):
                break
            assert time.monotonic() < deadline, "the frozen world did not settle"
            time.sleep(0.1)
        yield engine, cfg
        engine.stop()


@pytest.mark.parametrize("size", [(160, 45), (80, 24)], ids=["160x45", "80x24"])
def test_watchlist_snapshot(frozen_world, snap_compare, size):
    engine, cfg = frozen_world
    app = CryptotermApp(engine, BTC, mode_label="DEMO", clock=lambda: FROZEN_NOW_MS / 1000)
    app.watch_settings = WatchSettings(["cryptoperp_okx_ethusdt"], reduced_motion=True)

    async def open_view(pilot):
        await pilot.press("w")
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=size, run_before=open_view)


async def test_new_values_update_in_place_and_rows_re_sort_once_a_second():
    from textual.app import App

    from widgets.watchlist import RESORT_S
    from widgets.watchlist_rows import WatchRow

    now = [100.0]

    def r(sym: str, volume: float) -> WatchRow:
        return WatchRow(sym, sym, "binance", "spot", 2, 1.0, 0.0, None, volume, None, None, None, "tick")

    class One(App[None]):
        def compose(self):
            yield WatchlistTable(clock=lambda: now[0])

    app = One()
    async with app.run_test(size=(100, 10)) as pilot:
        table = app.query_one(WatchlistTable)
        table.update_rows([r("A/USDT", 3.0), r("B/USDT", 2.0), r("C/USDT", 1.0)])
        assert [x.symbol for x in table.rows] == ["A/USDT", "B/USDT", "C/USDT"]
        now[0] += 0.1
        table.update_rows([r("A/USDT", 3.0), r("B/USDT", 2.0), r("C/USDT", 9.0)])
        # C's volume shows at once, in its old place
        assert [(x.symbol, x.volume) for x in table.rows] == [("A/USDT", 3.0), ("B/USDT", 2.0), ("C/USDT", 9.0)]
        await pilot.pause()
        assert "9" in table.render_line(3).text
        now[0] += RESORT_S
        table.update_rows(table._all)  # nothing new: the pending re-sort happens anyway
        assert [x.symbol for x in table.rows] == ["C/USDT", "A/USDT", "B/USDT"]



async def test_a_cursor_move_that_scrolls_lays_the_lines_out_once():
    from textual.app import App

    from widgets.watchlist_rows import WatchRow

    rows = [WatchRow(f"C{n}/USDT", f"C{n}/USDT", "binance", "spot", 2, 1.0, 0.0, None,
                     float(100 - n), None, None, None, "tick") for n in range(40)]

    class One(App[None]):
        def compose(self):
            yield WatchlistTable()

    app = One()
    async with app.run_test(size=(100, 10)) as pilot:
        table = app.query_one(WatchlistTable)
        table.update_rows(rows)
        await pilot.pause()
        built = []
        real = table._build_lines
        table._build_lines = lambda height: built.append(height) or real(height)
        table.move_cursor(25)  # off the screen: scrolls
        assert len(built) == 1 and int(table.scroll_y) > 0
        table.move_cursor(24)  # on the screen: no scroll, one layout all the same
        assert len(built) == 2
        await pilot.pause()
        assert "C24/USDT" in "".join(table.render_line(y).text for y in range(1, 9))


async def test_keys_typed_faster_than_focus_moves_go_into_the_filter(session):
    """A terminal delivers "/ethqf" in one read: Textual moves focus to the filter box on
    a later turn of its loop, so those keys reach the table first. They are the filter's:
    q must not quit, f must not pin, Enter must not open a market."""
    from textual import events

    engine, cfg = session
    app = make_app(engine, cfg)
    async with app.run_test(size=(160, 45)) as pilot:
        table = await open_watchlist(app, pilot)
        for key, char in [("slash", "/"), ("e", "e"), ("t", "t"), ("h", "h"), ("q", "q"), ("f", "f"),
                          ("backspace", None), ("enter", None)]:
            app.post_message(events.Key(key, char))  # no wait between them
        await pilot.pause(0.3)
        assert app.is_running and isinstance(app.screen, WatchlistScreen)
        assert table.filter_text == "ethq" and not table.favourites
        assert table.has_focus  # Enter ended the filter, it opened nothing
        for key, char in [("slash", "/"), ("x", "x"), ("escape", None)]:
            app.post_message(events.Key(key, char))
        await pilot.pause(0.3)
        assert table.filter_text == "" and isinstance(app.screen, WatchlistScreen)
        await wait_for(lambda: len(table.rows) == ROWS, what="every row back")
