"""The recorder's Prometheus endpoint, scraped over HTTP on 127.0.0.1: its values are the
engine's and the recorder's own counters; two sessions never share a registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import AppConfig, Endpoint
from app.feeds.engine import Engine
from app.feeds.metrics import MetricsServer, SessionMetrics, format_status
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from storage.db import open_database
from storage.recorder import Recorder
from tests.waiting import wait

ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def sim():
    thread = BinanceSimThread(default_demo_symbols(), seed=4, rate=80.0).start()
    yield thread
    thread.stop()


def test_scraped_values_are_the_engine_and_recorder_counters(tmp_path, sim):
    cfg = AppConfig(config_path=tmp_path / "none.toml", data_dir=tmp_path)
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    cfg.metadata_cache = False
    db = open_database(tmp_path / "m.db", tmp_path)
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT:USDT"], venues=["binance"])
    recorder = Recorder(db, record=None, book_interval=1.0)
    metrics = SessionMetrics(engine, recorder)
    with engine.hub.lock:
        engine.hub.subscribe(metrics.on_event)
    recorder.on_commit = metrics.on_commit
    engine.attach_recorder(recorder)
    server = MetricsServer(metrics.registry, "127.0.0.1", 0)
    engine.start()
    try:
        wait(lambda: recorder.stats().rows > 200, timeout=20, what="rows written")
        sim.sim.pause()  # the model stands still: counters settle
        time.sleep(1.5)
        healths = {h.name: h for h in engine.health() if h.backlog is None}
        samples = scrape(f"http://127.0.0.1:{server.port}/metrics")
        assert len(healths) >= 2
        for name, h in healths.items():
            venue, _, stream = name.partition(" ")
            labels = dict(venue=venue, stream=stream)
            assert value(samples, "cryptoterm_messages_received_total", **labels) == h.messages > 0
            assert value(samples, "cryptoterm_bytes_received_total", **labels) == h.bytes_received
            assert h.bytes_received > 10 * h.messages  # JSON frames, tens of bytes at least
            assert value(samples, "cryptoterm_reconnects_total", **labels) == h.reconnects
            assert value(samples, "cryptoterm_gaps_total", **labels) == h.gaps
            assert value(samples, "cryptoterm_resyncs_total", **labels) == h.resyncs
            assert value(samples, "cryptoterm_connection_up", **labels) == 1.0
        for venue, market, stats in engine.feed_stats():
            assert value(samples, "cryptoterm_checksum_failures_total", venue=venue,
                         stream=market) == stats.checksum_failures
        for (venue, table), n in recorder.rows_by_venue().items():
            assert value(samples, "cryptoterm_rows_written_total", venue=venue, stream=table) == n
        stored = {table: _count(db, table) for table in
                  ("trades", "klines", "funding", "book_snapshots")}
        assert value(samples, "cryptoterm_rows_written_total", venue="binance",
                     stream="trades") == stored["trades"]
        assert value(samples, "cryptoterm_rows_written_total", venue="binance",
                     stream="books") == stored["book_snapshots"]
        trades_lag = value(samples, "cryptoterm_message_lag_seconds_count", venue="binance",
                           stream="trades")
        assert trades_lag == stored["trades"]  # every trade timed once on arrival
        assert value(samples, "cryptoterm_trade_commit_lag_seconds_count",
                     venue="binance") == stored["trades"]
        # every trade arrived within a second of its venue time, and was committed within 5 s
        assert value(samples, "cryptoterm_message_lag_seconds_bucket", venue="binance",
                     stream="trades", le="1.0") == trades_lag
        assert value(samples, "cryptoterm_trade_commit_lag_seconds_bucket", venue="binance",
                     le="5.0") == stored["trades"]
        assert value(samples, "cryptoterm_recorder_up") == 1.0
        line = format_status(metrics.status(), 3.0)
        assert line.startswith("3s binance ") and "gaps 0 reconn 0" in line
    finally:
        engine.stop()
        server.close()
        db.dispose()


def _count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one()


def test_two_sessions_have_their_own_registries():
    class NoEngine:
        def health(self):
            return []

        def feed_stats(self):
            return []

    a, b = SessionMetrics(NoEngine()), SessionMetrics(NoEngine())
    a.backfill_rows.labels("binance", "spot klines 1m").inc(5)
    assert a.registry.get_sample_value("cryptoterm_backfill_rows_total",
                                       {"venue": "binance", "stream": "spot klines 1m"}) == 5
    assert b.registry.get_sample_value("cryptoterm_backfill_rows_total",
                                       {"venue": "binance", "stream": "spot klines 1m"}) is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_record_serves_metrics_on_loopback_only(tmp_path, sim):
    cfg = tmp_path / "sim.toml"
    cfg.write_text(f'[venues.binance.live]\nws_url = "{sim.ws_url}"\nrest_url = "{sim.rest_url}"\n')
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(cfg), "--data-dir", str(tmp_path / "d"),
         "record", "--store", "--db", str(tmp_path / "m.db"), "--symbols", "BTC/USDT", "--quiet",
         "--metrics-port", str(port)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/metrics"

        def rows_written() -> float:
            try:
                return value(scrape(url), "cryptoterm_rows_written_total", venue="binance",
                             stream="trades")
            except (OSError, KeyError):
                return 0.0
        wait(lambda: rows_written() > 10, timeout=30, what="trade rows in the metrics")
        samples = scrape(url)
        assert value(samples, "cryptoterm_messages_received_total", venue="binance",
                     stream="spot") > 0
        if _has("ss"):  # the local address it listens on: loopback, not every interface
            listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                       text=True).stdout.split()
            assert listening[3] == f"127.0.0.1:{port}", listening
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def _has(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None
