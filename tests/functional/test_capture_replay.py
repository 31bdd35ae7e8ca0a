"""Raw capture -> replay: the replayed books and events equal what the live session had,
faults included; malformed or unknown lines are counted, never fatal."""

from __future__ import annotations


import orjson
import pytest

from app.cli import main
from app.config import Endpoint, load_config
from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.feeds.replay import replay_file
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from tests.waiting import wait

SYMBOLS = ["BTC/USDT", "ETH/USDT", "BTC/USDT:USDT"]


@pytest.fixture(scope="module")
def live_capture(tmp_path_factory):
    """A live session against the simulator, with a gap and a dropped connection."""
    path = tmp_path_factory.mktemp("cap") / "session.jsonl"
    sim = BinanceSimThread(default_demo_symbols(), seed=21, rate=150.0, depth_interval_ms=50).start()
    cfg = load_config(None, tmp_path_factory.mktemp("data"))
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    capture = CaptureWriter(path)
    engine = Engine(cfg, SYMBOLS, settings=ConnectionSettings(backoff_base=0.05), capture=capture)
    live_events: list[dict] = []
    engine.hub.subscribe(lambda ev: live_events.append(ev.to_json()))
    engine.start()
    ids = ["cryptopair_binance_btcusdt", "cryptopair_binance_ethusdt", "cryptoperp_binance_btcusdt"]
    wait(lambda: all((v := engine.view(i)) is not None and v.synced for i in ids), what="sync")
    sim.skip_sequence("BTCUSDT", "spot")
    wait(lambda: any(h.gaps for h in engine.health()), what="a gap")
    sim.drop_connections()
    wait(lambda: any(h.reconnects for h in engine.health()), what="a reconnect")
    wait(lambda: all(engine.view(i).synced for i in ids), what="resync")
    wait(lambda: {e["type"] for e in live_events} >= {"trade", "kline", "ticker", "funding"},
         what="every kind of event")
    engine.stop()
    sim.stop()
    books = {}
    with engine.hub.lock:
        for i in ids:
            books[i] = engine.hub.state(i).book.side_dicts()
    gaps = sum(h.gaps for h in engine.health())
    return path, books, live_events, gaps


def test_replay_reproduces_live_books_and_events(live_capture):
    path, live_books, live_events, live_gaps = live_capture
    replayed: list[dict] = []
    rep = replay_file(path, lambda ev: replayed.append(ev.to_json()))
    for inst_id, (bids, asks) in live_books.items():
        got_bids, got_asks = rep.hub.state(inst_id).book.side_dicts()
        assert got_bids == bids and got_asks == asks, inst_id
        assert len(bids) >= 200
    market_events = [e for e in replayed if e["type"] != "book"]
    assert market_events == live_events
    assert any(e["type"] == "book" for e in replayed)
    # a reconnect has no line of its own in format v1: replay sees it as one more gap
    assert rep.stats.gaps >= live_gaps >= 1
    assert rep.stats.malformed == 0 and rep.stats.messages > 100


def test_replay_cli_emits(live_capture, capsys):
    path = live_capture[0]
    assert main(["replay", str(path), "--emit", "stats"]) == 0
    stats = orjson.loads(capsys.readouterr().out)
    assert {"messages", "events", "gaps", "resyncs", "checksum_failures", "malformed"} <= stats.keys()
    assert stats["resyncs"] >= 1
    assert main(["replay", str(path), "--emit", "books"]) == 0
    books = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {b["id"] for b in books} == set(live_capture[1])
    for b in books:
        assert b["type"] == "book" and len(b["bids"]) == 20 and len(b["asks"]) == 20
        assert b["bids"][0][0] > b["bids"][1][0] and b["asks"][0][0] < b["asks"][1][0]
        assert b["bids"][0][0] < b["asks"][0][0]
        live_bids, _ = live_capture[1][b["id"]]
        assert b["bids"][0] == [max(live_bids), live_bids[max(live_bids)]]
    assert main(["replay", str(path), "--emit", "events"]) == 0
    types = {orjson.loads(line)["type"] for line in capsys.readouterr().out.splitlines()}
    assert {"trade", "kline", "ticker", "funding", "book"} <= types


def test_malformed_and_unknown_lines_are_counted(tmp_path, live_capture, capsys):
    good = live_capture[0].read_bytes().splitlines()
    bad = tmp_path / "bad.jsonl"
    junk = [b"not json", b"{}", b'{"venue":"binance"}', b"[1,2]",
            b'{"recv_ts":1,"venue":"kraken","market":"spot","kind":"ws","channel":null,"data":"{}"}',
            b'{"recv_ts":1,"venue":"binance","market":"spot","kind":"ws","channel":null,"data":"{\\"stream\\":"}',
            b'{"recv_ts":1,"venue":"binance","market":"spot","kind":"carrier-pigeon","channel":null,"data":""}']
    bad.write_bytes(b"\n".join(good[:200] + junk + good[200:]) + b"\n")
    assert main(["replay", str(bad), "--emit", "stats"]) == 0
    stats = orjson.loads(capsys.readouterr().out)
    assert stats["malformed"] >= 5 and stats["unknown"] >= 1
    rep = replay_file(bad)
    assert rep.stats.gaps == replay_file(live_capture[0]).stats.gaps  # junk broke nothing


def test_replay_bad_arguments(capsys):
    assert main(["replay", "/no/such/file", "--emit", "stats"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["replay", "x", "--emit", "everything"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_record_command_writes_a_capture(tmp_path, capsys):
    out = tmp_path / "rec.jsonl"
    assert main(["record", "--demo", "--raw", str(out), "--duration", "2",
                 "--symbols", "BTC/USDT"]) == 0
    lines = out.read_bytes().splitlines()
    kinds = {orjson.loads(line)["kind"] for line in lines}
    assert kinds == {"ws", "rest"}
    assert "recorded" in capsys.readouterr().err
    rep = replay_file(out)
    assert rep.hub.state("cryptopair_binance_btcusdt").synced
    assert main(["record", "--raw", str(out), "--venues", "kraken"]) == 2
    assert "unknown venue 'kraken'" in capsys.readouterr().err


def test_replay_record_imports_trades_and_klines(live_capture, tmp_path, capsys):
    path = live_capture[0]
    db = tmp_path / "hist.db"
    assert main(["replay", str(path), "--record", "--db", str(db), "--emit", "stats"]) == 0
    stats = orjson.loads(capsys.readouterr().out)
    assert stats["recorded"]["trades"] > 0 and stats["recorded"]["rejected"] == 0
    trades_live = sum(1 for e in live_capture[2] if e["type"] == "trade"
                      and e["id"] == "cryptopair_binance_btcusdt")
    assert main(["history", "binance", "BTC/USDT", "1m", "--db", str(db), "--format", "csv"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0].startswith("open_time,open,high,low,close,volume") and len(rows) >= 2
    # importing the same capture twice never double-counts
    assert main(["replay", str(path), "--record", "--db", str(db), "--emit", "stats"]) == 0
    capsys.readouterr()
    assert main(["history", "binance", "BTC/USDT", "1m", "--db", str(db), "--format", "csv"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == rows
    assert trades_live > 0
