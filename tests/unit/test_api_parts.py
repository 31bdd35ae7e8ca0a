"""The data API's pure parts: merging stored and live candles, the token's carriers and
the loopback test, and the wording of a validation error."""

from __future__ import annotations

import pytest

from app.api.auth import is_loopback, presented_token
from app.api.errors import _validation_message
from app.api.routes import merge_klines
from app.market.events import Kline

BTC = "cryptopair_binance_btcusdt"


def k(minute: int, close: float = 1.0, closed: bool = True) -> Kline:
    return Kline(BTC, "1m", minute * 60_000, 1.0, 2.0, 0.5, close, 3.0, closed)


def test_live_candles_go_on_top_of_the_stored_ones():
    stored = [k(m) for m in range(10)]
    live = (k(8, close=9.0), k(9, close=9.5), k(10, closed=False))  # newer versions, and the open one
    got = merge_klines(stored, live, None, None, 5)
    assert [c.open_time // 60_000 for c in got] == [6, 7, 8, 9, 10]
    assert [c.close for c in got[2:4]] == [9.0, 9.5] and got[-1].closed is False
    # from ``start``: the oldest ``limit``; ``end`` bounds the live ones too
    assert [c.open_time // 60_000 for c in merge_klines(stored, live, 2 * 60_000, None, 3)] == [2, 3, 4]
    assert merge_klines([], live, None, 9 * 60_000, 100) == [live[0], live[1]]


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                            ("192.168.1.5", False), ("::", False), ("example.org", False)])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def scope(headers: list[tuple[bytes, bytes]] = (), query: bytes = b"") -> dict:
    return {"headers": list(headers), "query_string": query}


def test_the_token_comes_from_the_header_the_query_or_the_docs_cookie():
    assert presented_token(scope([(b"authorization", b"Bearer abc")])) == "abc"
    assert presented_token(scope([(b"authorization", b"bearer  abc ")])) == "abc"
    assert presented_token(scope([(b"authorization", b"Basic abc")])) is None
    assert presented_token(scope(query=b"symbol=x&token=t%2Bk")) == "t+k"
    assert presented_token(scope([(b"cookie", b"a=1; cryptoterm_api_token=ck")])) == "ck"
    assert presented_token(scope([(b"cookie", b'"\\bad')])) is None
    assert presented_token(scope()) is None


def test_validation_errors_name_the_parameter_in_plain_words():
    assert _validation_message({"type": "missing", "loc": ("query", "symbol")}) == ("symbol", "symbol: required")
    assert _validation_message({"type": "int_parsing", "loc": ("query", "limit"), "input": "x"}) == (
        "limit", "limit: 'x' is not a whole number")
    assert _validation_message({"type": "less_than_equal", "loc": ("query", "depth"), "input": 2000,
                                "ctx": {"le": 1000}}) == ("depth", "depth: 2000 is above the maximum 1000")
