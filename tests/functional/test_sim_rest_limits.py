"""The simulators' REST fault knobs: Binance's weight limit (429 with Retry-After, then a
418 ban for a client that does not back off), weights counted per endpoint, and seeded
random 5xx/429 faults that fail the same requests on every run."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from app.sim.binance_server import BinanceSimThread


@pytest.fixture()
def sim():
    with BinanceSimThread(rate=0.0, paused=True) as thread:
        yield thread


def get(sim, path: str) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(sim.rest_url + path) as resp:
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")


def test_over_the_limit_is_429_then_a_client_that_keeps_going_is_banned(sim):
    sim.limit_rest_weight(10, window_s=30.0, ban_s=120.0, ban_after=2)
    klines = "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=5"
    assert [get(sim, klines)[0] for _ in range(5)] == [200] * 5  # 5 x weight 2 = the limit
    status, retry_after = get(sim, klines)
    assert status == 429 and 29 <= int(retry_after) <= 30
    assert [get(sim, klines)[0] for _ in range(2)] == [429, 429]  # in flight: forgiven
    assert get(sim, klines) == (418, "120")  # ignored the Retry-After: banned
    assert get(sim, "/api/v3/time")[0] == 418
    assert (sim.sim.rest_limited, sim.sim.rest_banned, sim.sim.max_window_weight) == (3, 2, 10)


def test_weights_follow_binance_tables(sim):
    before = sim.rest_weight
    for path in ("/api/v3/depth?symbol=BTCUSDT&limit=5000",   # 250
                 "/api/v3/depth?symbol=BTCUSDT",              # 5 (limit 100)
                 "/fapi/v1/depth?symbol=BTCUSDT&limit=1000",  # 20
                 "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1500",  # 10
                 "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=50",    # 1
                 "/api/v3/exchangeInfo"):                     # 20
        assert get(sim, path)[0] == 200
    assert sim.rest_weight - before == 250 + 5 + 20 + 10 + 1 + 20


def test_random_faults_are_seeded(sim):
    def pattern() -> list[int]:
        sim.random_rest_faults(0.2, 0.1, seed=5, retry_after=1.0)
        return [get(sim, "/api/v3/time")[0] for _ in range(40)]

    first = pattern()
    assert pattern() == first
    assert set(first) == {200, 503, 429} and 4 <= first.count(503) <= 14
    sim.random_rest_faults(0.0, 0.0)
    assert {get(sim, "/api/v3/time")[0] for _ in range(10)} == {200}
