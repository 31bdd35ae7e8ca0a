"""The instrument-list cache: keyed by the endpoint it came from, never filled by the
demo's simulators, and never written into a raw capture as if it had been received."""

from __future__ import annotations

import urllib.request

import orjson

from app.config import Endpoint, load_config
from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.world import DemoWorld
from tests.binance_rest import BinanceRest
from tests.waiting import wait

NOW = 1_700_000_000_000
INFO = "/api/v3/exchangeInfo"
DEAD_WS = "ws://127.0.0.1:9"  # nothing listens: these tests are about the REST side


def live_cfg(rest_url: str):
    cfg = load_config()
    cfg.set_endpoint("binance", "live", Endpoint(DEAD_WS, rest_url))
    return cfg


def run_engine(cfg, symbols, **kw) -> Engine:
    engine = Engine(cfg, symbols, settings=ConnectionSettings(backoff_base=0.05), venues=["binance"], **kw)
    engine.start()
    return engine


def info_requests(server: BinanceRest) -> int:
    return sum(1 for _, path, _ in server.log if path == INFO)


def test_a_demo_run_leaves_nothing_a_live_run_would_reuse(tmp_path):
    cfg = load_config()
    metadata = cfg.data_dir / "metadata"
    with DemoWorld(venues=["binance"]) as world:
        world.configure(cfg)
        demo = run_engine(cfg, ["BTC/USDT", "SOL/USDT"])
        try:
            assert demo.wait_resolved(10)
            assert {i.symbol for i in demo.instruments()} == {"BTC/USDT", "SOL/USDT"}  # the sim lists SOL
        finally:
            demo.stop()
        with urllib.request.urlopen(world.threads["binance"].rest_url + INFO) as resp:
            sim_info = resp.read().decode()
    assert not metadata.exists() or not list(metadata.iterdir())  # the demo cached nothing
    # what versions before this one left behind: the simulator's list under the venue's name
    metadata.mkdir(parents=True, exist_ok=True)
    (metadata / "binance-spot.json").write_text(sim_info)

    with BinanceRest(NOW) as server:  # the "real" venue: BTC and ETH, no SOL
        live = run_engine(live_cfg(server.url), ["SOL/USDT", "BTC/USDT"])
        try:
            assert live.wait_resolved(10)
            assert [i.symbol for i in live.instruments()] == ["BTC/USDT"]
            (missing,) = live.unlisted().values()
            assert missing.message == "SOL/USDT is not listed on binance spot; listed: BTC/USDT, ETH/USDT"
        finally:
            live.stop()
        assert info_requests(server) == 1  # asked the venue, not the disk
    assert not (metadata / "binance-spot.json").exists()
    (cached,) = metadata.glob("binance-spot-127.0.0.1_*.json")
    assert '"SOLUSDT"' not in cached.read_text() and '"BTCUSDT"' in cached.read_text()


def test_the_cache_is_keyed_by_endpoint(tmp_path):
    with BinanceRest(NOW) as a, BinanceRest(NOW) as b:
        for server in (a, b, a):
            engine = run_engine(live_cfg(server.url), ["BTC/USDT"])
            try:
                assert engine.wait_resolved(10)
            finally:
                engine.stop()
        assert (info_requests(a), info_requests(b)) == (1, 1)  # a's second run read a's file


def test_a_capture_holds_only_the_list_received_in_its_session(tmp_path):
    raw = tmp_path / "live.jsonl"
    with BinanceRest(NOW) as server:
        url = server.url
        plain = run_engine(live_cfg(url), ["BTC/USDT"])  # fills the cache
        try:
            assert plain.wait_resolved(10)
        finally:
            plain.stop()
        with urllib.request.urlopen(url + INFO) as resp:
            sent = resp.read().decode()
        before = info_requests(server)
        capture = CaptureWriter(raw)
        recording = run_engine(live_cfg(url), ["BTC/USDT"], capture=capture)
        try:
            assert recording.wait_resolved(10)
        finally:
            recording.stop()
        assert info_requests(server) == before + 1  # fetched despite a fresh cache
    lines = [orjson.loads(line) for line in raw.read_bytes().splitlines()]
    rest = [r for r in lines if r["kind"] == "rest" and r["channel"] == INFO]
    assert len(rest) == 1 and rest[0]["data"] == sent

    # the venue is gone: a capture records nothing (and no cached file) ...
    offline = tmp_path / "offline.jsonl"
    capture = CaptureWriter(offline)
    recording = run_engine(live_cfg(url), ["BTC/USDT"], capture=capture)
    try:
        wait(lambda: any(h.error for h in recording.health()), what="the load error")
        assert not recording.wait_resolved(0.3)
        assert "connection refused" in recording.health()[0].error
    finally:
        recording.stop()
    assert offline.read_bytes() == b""
    # ... while a session that records nothing may show the cached list meanwhile
    viewer = run_engine(live_cfg(url), ["BTC/USDT"])
    try:
        assert viewer.wait_resolved(10)
        assert [i.symbol for i in viewer.instruments()] == ["BTC/USDT"]
    finally:
        viewer.stop()
