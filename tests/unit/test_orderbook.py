import math

import pytest

from app.market.orderbook import OrderBook


def make_book() -> OrderBook:
    book = OrderBook()
    book.load_snapshot([["100.0", "1"], ["99.5", "2"], ["99.0", "3"], ["97.2", "4"]],
                       [["100.5", "1.5"], ["101.0", "2.5"], ["102.7", "1"]])
    return book


def test_best_spread_mid():
    book = make_book()
    assert book.best_bid == (100.0, 1.0)
    assert book.best_ask == (100.5, 1.5)
    assert book.spread == pytest.approx(0.5)
    assert book.mid == pytest.approx(100.25)


def test_deltas_are_absolute_and_zero_deletes():
    book = make_book()
    book.apply_levels([["100.0", "0"], ["99.5", "7"], ["100.2", "0.3"]], [["100.5", "0.00000000"]])
    assert book.best_bid == (100.2, 0.3)
    bids, asks = book.side_dicts()
    assert bids[99.5] == 7.0
    assert 100.0 not in bids
    assert book.best_ask == (101.0, 2.5)
    # deleting a level that is not there is harmless
    book.apply([(1.0, 0.0)], [])
    assert len(book) == 4 + 2
    # a deleted level can come back
    book.apply([(100.0, 4.0)], [])
    assert book.best_bid == (100.2, 0.3) and book.bid_prices()[:2] == [100.2, 100.0]


def test_tombstones_are_compacted_and_invisible():
    book = OrderBook()
    book.load_snapshot([[str(100 - i), "1"] for i in range(50)], [[str(101 + i), "1"] for i in range(50)])
    for i in range(200):
        p = float(100 - (i % 50))
        book.apply([(p, 0.0)], [(float(101 + (i % 50)), float(i % 3))])
        book.apply([(p, 2.0)], [])
    bids, asks = book.side_dicts()
    assert len(bids) == 50 and all(v == 2.0 for v in bids.values())
    assert all(v > 0 for v in asks.values())
    assert book.ladder(5)[1][0].price == min(asks)
    for i in range(5000):  # enough writes to trigger a sweep
        book.apply([], [(500.0 + i, 0.0)])
    assert 500.0 not in book.asks


def test_random_walk_matches_a_plain_model_across_sweeps():
    """Prices wander (new keys, tombstones, sweeps); every read must equal a dict model."""
    import random

    rng = random.Random(7)
    book, model_b, model_a = OrderBook(), {}, {}
    mid = 1000
    for step in range(30_000):
        mid += rng.choice((-1, 0, 1))
        bids = [(float(mid - rng.randint(1, 40)), rng.choice((0.0, 0.0, 1.0, 2.5))) for _ in range(3)]
        asks = [(float(mid + rng.randint(1, 40)), rng.choice((0.0, 0.0, 1.0, 2.5))) for _ in range(3)]
        book.apply(bids, asks)
        for side, levels in ((model_b, bids), (model_a, asks)):
            for p, q in levels:
                if q:
                    side[p] = q
                else:
                    side.pop(p, None)
        if step % 997 == 0:  # readers at a low rate, as the UI reads
            top_b, top_a = book.top(10)
            assert top_b == sorted(model_b.items(), reverse=True)[:10]
            assert top_a == sorted(model_a.items())[:10]
    assert book.side_dicts() == (model_b, model_a)
    assert book.bid_prices() == sorted(model_b, reverse=True)
    # sweeps kept the tombstones bounded (3x the live size, or the 1024 floor)
    assert len(book.bids) <= max(1024, 3 * max(len(model_b), len(model_a))) + 3


def test_top_and_cumulative_ladder():
    book = make_book()
    bids, asks = book.top(2)
    assert bids == [(100.0, 1.0), (99.5, 2.0)]
    assert asks == [(100.5, 1.5), (101.0, 2.5)]
    lb, la = book.ladder(3)
    assert [r.cumulative for r in lb] == [1.0, 3.0, 6.0]
    assert [r.cumulative for r in la] == [1.5, 4.0, 5.0]


def test_grouping_rounds_bids_down_asks_up():
    book = make_book()
    bids, asks = book.ladder(10, group=1.0)
    assert [(r.price, r.size) for r in bids] == [(100.0, 1.0), (99.0, 5.0), (97.0, 4.0)]
    assert [(r.price, r.size) for r in asks] == [(101.0, 4.0), (103.0, 1.0)]
    assert bids[-1].cumulative == 10.0


def test_grouping_fractional_step_is_exact():
    book = OrderBook()
    book.load_snapshot([["0.3", "1"], ["0.2", "1"]], [["0.7", "1"]])
    bids, _ = book.ladder(10, group=0.1)
    assert [r.price for r in bids] == [0.3, 0.2]


def test_depth_within_percent():
    book = make_book()
    bid_total, ask_total = book.depth_within(1.0)  # mid 100.25 -> [99.2475, 101.2525]
    assert bid_total == 3.0
    assert ask_total == 4.0


def test_bad_size_is_rejected():
    book = make_book()
    with pytest.raises(ValueError):
        book.apply_levels([["100.0", "NaN"]], [])
    with pytest.raises(ValueError):
        book.apply_levels([["100.0", "-1"]], [])
    with pytest.raises(ValueError):
        book.load_snapshot([["inf", "1"]], [])


def test_empty_book():
    book = OrderBook()
    assert book.best_bid is None and book.mid is None and book.spread is None
    assert book.depth_within(1) == (0.0, 0.0)
    assert not math.isnan(len(book))
