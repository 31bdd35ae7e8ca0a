"""`cryptoterm --demo --universe N`: the simulated venues list N assets, the watchlist
shows them all as tickers, and books stay on the demo's few."""

from __future__ import annotations

import pytest

from app.cli import build_parser, main
from app.commands import tui
from app.config import load_config
from app.sim.world import DEMO_SYMBOLS
from tests.waiting import wait


def test_the_watchlist_lists_the_whole_universe_with_books_on_the_demo_few():
    args = build_parser().parse_args(["--demo", "--universe", "30"])
    app, engine, world = tui.build(args, load_config())
    try:
        assert engine.wait_resolved(15)
        booked = {i.symbol for i in engine.instruments()}
        assert booked <= {s.replace("/USDT", "/USD") for s in DEMO_SYMBOLS} | set(DEMO_SYMBOLS)
        engine.stream_tickers()  # what opening the watchlist (w) does
        wait(lambda: len([r for r in engine.watchlist() if r.last is not None]) > 100, 30,
             what="the universe's tickers")
        rows = engine.watchlist()
        assert len({r.instrument.base for r in rows}) >= 30
        assert len([r for r in rows if r.book]) == len(engine.instruments())
    finally:
        app.alerts.stop()
        engine.stop()
        world.stop()


@pytest.mark.parametrize("argv,said", [
    (["--universe", "30"], "--universe shapes the demo market: use with --demo"),
    (["--demo", "--universe", "0"], "--universe 0: must be from 1 to 400"),
])
def test_a_bad_universe_is_one_line(capsys, argv, said):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err
