"""The watchlist's engine side against the four simulators: every market of every venue
streams, most with tickers only (no book subscriptions), and --top N books exactly the
N most traded of each venue and market."""

from __future__ import annotations

import time

import pytest

from app.config import AppConfig
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.market.instruments import Instrument
from app.sim.universe import rank_of, universe_symbols
from app.sim.world import DemoWorld

UNIVERSE = 8


def universe_rank(instruments: list[Instrument], turnover: dict[str, float]) -> list[Instrument]:
    """The simulated universe's own order (its documented 24 h volume order)."""
    return sorted(instruments, key=lambda i: rank_of(i.base, UNIVERSE) or 0)


def wait(cond, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def expected_rows() -> int:
    # spot for every base, perps for the first half (Binance, OKX, Bybit); Coinbase USD spot
    return 3 * (UNIVERSE + UNIVERSE // 2) + UNIVERSE


@pytest.fixture
def world(tmp_path):
    with DemoWorld(universe=UNIVERSE, rate=20.0) as w:
        cfg = AppConfig(tmp_path / "c.toml", tmp_path)
        w.configure(cfg)
        yield w, cfg


def depth_subscriptions(world: DemoWorld) -> int:
    sim = world.threads["binance"].sim
    return sum(1 for (market, name), clients in sim._subs.items() if "@depth" in name and clients)


def test_every_market_streams_and_only_the_requested_ones_have_books(world):
    w, cfg = world
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    engine.start()
    try:
        engine.stream_tickers()
        wait(lambda: len(engine.watchlist()) == expected_rows()
             and all(s.last is not None for s in engine.watchlist()), what="a ticker for every market")
        rows = engine.watchlist()
        booked = {s.instrument.id for s in rows if s.book}
        assert booked == {f"cryptopair_{v}_btcusdt" for v in ("binance", "okx", "bybit")} | {
            "cryptopair_coinbase_btcusd"}
        # Binance's ticker rows come from the all-market stream: one depth subscription only
        assert depth_subscriptions(w) == 1
        perps = [s for s in rows if s.instrument.market == "perp"]
        assert perps and all(s.funding_rate is not None and s.next_funding_time for s in perps)
        assert all(s.change_24h_pct is not None and s.quote_volume_24h for s in rows)
        # a ticker row's last price is the simulator's: freeze Binance and compare
        sim = w.threads["binance"]
        sim.pause()
        sim.pump(steps=0)  # publishes the periodic streams (tickers) once more
        truth = {}
        for spec in universe_symbols("binance", UNIVERSE):
            s = sim.sim.market.sim(spec.symbol, spec.market)
            truth[(spec.market, spec.base)] = s.last_price * s.price.step

        def matches() -> bool:
            got = {(s.instrument.market, s.instrument.base): s.last for s in engine.watchlist()
                   if s.instrument.venue == "binance" and not s.book}
            return all(abs(got[k] - truth[k]) < 1e-9 * truth[k] for k in got) and len(got) == len(truth) - 1

        wait(matches, what="binance ticker rows equal to the simulator's last prices")
        sim.resume()
        ids = [s.instrument.id for s in rows]
        # REST history (a minute's ticker close until it comes): an hour of closes for each
        wait(lambda: len(sparks := engine.sparklines(ids)) == len(rows)
             and all(len(v) == 60 for v in sparks.values()), what="an hour of 1m closes for every row")
    finally:
        engine.stop()


@pytest.mark.parametrize("ranking", [None, universe_rank], ids=["venue-24h-tickers", "universe-order"])
def test_top_n_books_the_most_traded_of_each_venue_and_market(world, ranking, caplog):
    """Ranked by the venues' 24h tickers over REST (app.feeds.top_markets; the simulators
    serve the universe's turnover, most traded first), or by a given ranking."""
    w, cfg = world
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05), top=2,
                    ranking=ranking)
    engine.start()  # --top starts the tickers (they rank the markets) by itself
    try:
        want = set()
        for venue in ("binance", "okx", "bybit", "coinbase"):
            quote = "usd" if venue == "coinbase" else "usdt"
            for base in ("btc", "eth"):
                want.add(f"cryptopair_{venue}_{base}{quote}")
                if venue != "coinbase":
                    want.add(f"cryptoperp_{venue}_{base}usdt")
        wait(lambda: {s.instrument.id for s in engine.watchlist() if s.book} == want,
             what="books for the top 2 of each venue and market")
        wait(lambda: all(s.synced for s in engine.watchlist() if s.book), what="the top books synced")
        assert len(engine.watchlist()) == expected_rows()
        assert depth_subscriptions(w) == 4  # binance: 2 spot + 2 perp books, no more
        assert "ranking by the streamed tickers instead" not in caplog.text
    finally:
        engine.stop()


def test_opening_a_ticker_row_starts_its_book(world):
    w, cfg = world
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05), venues=["okx"])
    engine.start()
    try:
        engine.stream_tickers()
        target = "cryptoperp_okx_solusdt"
        wait(lambda: any(s.instrument.id == target and s.last for s in engine.watchlist()),
             what="the SOL perp's ticker")
        engine.ensure(target)
        wait(lambda: (v := engine.view(target)) is not None and v.synced and v.bids,
             what="its book, synced")
        row = next(s for s in engine.watchlist() if s.instrument.id == target)
        assert row.book and row.bid is not None and row.ask is not None
    finally:
        engine.stop()
