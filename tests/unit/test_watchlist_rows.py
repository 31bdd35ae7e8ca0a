"""The watchlist's rows as data: sorting, filtering, columns that fit, sparklines, cells."""

from __future__ import annotations

from app.market.compare import Summary
from app.market.instruments import Instrument
from widgets.watchlist_rows import (WatchRow, cell_text, favourites_toggled, feed_word, filter_rows,
                                    fit_columns, rows_from, sort_rows, sparkline)


def row(symbol: str, venue: str = "binance", market: str = "spot", **kw) -> WatchRow:
    base = dict(id=f"{venue}:{symbol}:{market}", symbol=symbol, venue=venue, market=market, decimals=2,
                last=None, change=None, spread_bps=None, volume=None, funding=None, next_funding=None,
                deviation=None, feed="tick")
    base.update(kw)
    return WatchRow(**base)


def test_sort_puts_unknown_values_last_both_ways_and_ties_by_symbol_then_venue():
    rows = [row("BTC/USDT", volume=5.0), row("ETH/USDT"), row("SOL/USDT", volume=9.0),
            row("BTC/USDT", venue="okx", volume=5.0)]
    down = sort_rows(rows, "volume", True)
    assert [(r.symbol, r.venue) for r in down] == [
        ("SOL/USDT", "binance"), ("BTC/USDT", "binance"), ("BTC/USDT", "okx"), ("ETH/USDT", "binance")]
    up = sort_rows(rows, "volume", False)
    assert [r.symbol for r in up] == ["BTC/USDT", "BTC/USDT", "SOL/USDT", "ETH/USDT"]


def test_favourites_come_first_whatever_the_sort():
    rows = [row("A/USDT", change=1.0), row("B/USDT", change=5.0), row("C/USDT", change=-3.0)]
    out = sort_rows(rows, "change", True, {rows[2].id})
    assert [r.symbol for r in out] == ["C/USDT", "B/USDT", "A/USDT"]


def test_filter_matches_every_word_in_symbol_venue_or_type():
    rows = [row("ETH/USDT"), row("ETH/USDT:USDT", venue="okx", market="perp"), row("BTC/USD", venue="coinbase")]
    assert [r.symbol for r in filter_rows(rows, "eth")] == ["ETH/USDT", "ETH/USDT:USDT"]
    assert [r.symbol for r in filter_rows(rows, "ETH  perp")] == ["ETH/USDT:USDT"]
    assert [r.venue for r in filter_rows(rows, "coin")] == ["coinbase"]
    assert filter_rows(rows, "   ") == rows
    assert filter_rows(rows, "xyz") == []


def test_columns_fit_the_terminal_dropping_the_least_important_first():
    wide = [c.key for c, _ in fit_columns(160)]
    assert wide == ["symbol", "venue", "market", "last", "change", "spread", "volume", "funding",
                    "next", "deviation", "feed", "spark"]
    narrow = fit_columns(80)
    keys = [c.key for c, _ in narrow]
    assert keys[:2] == ["symbol", "venue"] and "last" in keys and "change" in keys and "feed" in keys
    assert "next" not in keys and "market" not in keys
    assert sum(w for _, w in narrow) + len(narrow) - 1 <= 80
    tiny = [c.key for c, _ in fit_columns(30)]
    assert tiny == ["symbol", "last"]


def test_sparkline_scales_resamples_and_right_aligns():
    assert sparkline((1.0, 2.0, 3.0), 5) == "  ▁▅█"
    assert sparkline((2.0, 2.0), 3) == " ▄▄"  # flat: the middle block
    assert sparkline((), 4) == "    "
    long = sparkline(tuple(float(i) for i in range(60)), 10)
    assert len(long) == 10 and long[0] == "▁" and long[-1] == "█"


def test_cells_format_numbers_and_leave_spot_funding_blank():
    perp = row("BTC/USDT:USDT", market="perp", last=97000.5, change=-1.234, spread_bps=0.52,
               volume=2.5e9, funding=0.0001, next_funding=3_600_000 + 61_000, deviation=12.34)
    assert cell_text(perp, "last", 0) == "97,000.50"
    assert cell_text(perp, "change", 0) == "-1.23%"
    assert cell_text(perp, "spread", 0) == "0.52"
    assert cell_text(perp, "volume", 0) == "2.5B"
    assert cell_text(perp, "funding", 0) == "+0.0100%"
    assert cell_text(perp, "next", 0) == "01:01:01"
    assert cell_text(perp, "deviation", 0) == "+12.3"
    spot = row("BTC/USDT")
    assert cell_text(spot, "funding", 0) == "" and cell_text(spot, "next", 0) == ""
    assert cell_text(spot, "last", 0) == "—"


def _summary(venue: str, quote: str, last: float, bid=None, ask=None, book=False, **kw) -> Summary:
    inst = Instrument(venue, "spot", "BTC", quote, f"BTC{quote}")
    return Summary(inst, last, bid, ask, book, feed_state="connected", book=book, **kw)


def test_rows_from_summaries_deviation_spread_and_feed_word():
    summaries = [_summary("binance", "USDT", 100.0, 99.9, 100.1, book=True, change_24h_pct=2.0,
                          quote_volume_24h=1e6),
                 _summary("okx", "USDT", 101.0), _summary("coinbase", "USD", 99.0)]
    rows = {r.venue: r for r in rows_from(summaries)}
    assert abs(rows["binance"].spread_bps - 20.0) < 1e-6
    assert rows["okx"].spread_bps is None
    assert rows["okx"].deviation == 100.0  # the median mid is binance's 100
    assert rows["binance"].feed == "book" and rows["okx"].feed == "tick"
    assert rows["binance"].change == 2.0 and rows["binance"].volume == 1e6
    assert feed_word(Summary(summaries[0].instrument, 1.0, None, None, False,
                             feed_state="connected")) == "unsync"
    assert feed_word(Summary(summaries[1].instrument, 1.0, None, None, False, feed_state="reconnecting",
                             book=False)) == "conn"


def test_favourites_toggle_keeps_order():
    assert favourites_toggled(["a", "b"], "c") == ["a", "b", "c"]
    assert favourites_toggled(["a", "b", "c"], "b") == ["a", "c"]


def test_every_column_sorts_by_its_own_numbers():
    # sorting by a column whose key is not a WatchRow field (spread, next, spark) once
    # crashed the screen: every column must sort, and by the value it shows
    from widgets.watchlist_rows import COLUMN_KEYS

    rows = [row("A/USDT", spread_bps=3.0, next_funding=2, change=1.0),
            row("B/USDT", spread_bps=1.0, next_funding=1, change=2.0)]
    for key in COLUMN_KEYS:
        assert len(sort_rows(rows, key, True)) == 2
    assert [r.symbol for r in sort_rows(rows, "spread", False)] == ["B/USDT", "A/USDT"]
    assert [r.symbol for r in sort_rows(rows, "next", False)] == ["B/USDT", "A/USDT"]
