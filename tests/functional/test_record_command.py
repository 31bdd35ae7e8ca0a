"""`cryptoterm record`: its arguments, the demo market's --seed/--rate, and a run that
cannot reach its venue (which venue, which host, why; non-zero when nothing came)."""

from __future__ import annotations

import socket
import time

import orjson
import pytest

from app.cli import main
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def dead_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3"])
def test_duration_must_be_a_finite_positive_number(tmp_path, capsys, value):
    out = tmp_path / "rec.jsonl"
    rc, _, err = run_cli(capsys, "record", "--demo", "--raw", str(out), "--duration", value)
    assert rc == 2 and not out.exists()
    assert f"--duration {value}: must be a number of seconds above 0" in err


def test_seed_and_rate_need_the_demo(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "record", "--raw", str(tmp_path / "r"), "--rate", "5", "--seed", "2")
    assert rc == 2 and "--seed and --rate shape the demo market: use with --demo" in err
    rc, _, err = run_cli(capsys, "record", "--demo", "--raw", str(tmp_path / "r"), "--rate", "nan")
    assert rc == 2 and "--rate nan: must be above 0" in err


def _trades_and_snapshot(path) -> tuple[int, str]:
    trades, snapshot = 0, ""
    for line in path.read_bytes().splitlines():
        rec = orjson.loads(line)
        if rec["kind"] == "ws" and '"aggTrade"' in rec["data"]:
            trades += 1
        elif rec["kind"] == "rest" and "/depth" in rec["channel"] and not snapshot:
            snapshot = rec["data"]
    return trades, snapshot


def test_demo_record_takes_seed_and_rate(tmp_path, capsys):
    fast, slow = tmp_path / "fast.jsonl", tmp_path / "slow.jsonl"
    # both places a user may put them: before the command and after it
    assert main(["--seed", "3", "--rate", "400", "record", "--demo", "--raw", str(fast),
                 "--duration", "1.5", "--symbols", "BTC/USDT"]) == 0
    assert main(["record", "--demo", "--seed", "4", "--rate", "2", "--raw", str(slow),
                 "--duration", "1.5", "--symbols", "BTC/USDT"]) == 0
    capsys.readouterr()
    fast_trades, fast_book = _trades_and_snapshot(fast)
    slow_trades, slow_book = _trades_and_snapshot(slow)
    assert fast_trades > 20 * max(slow_trades, 1)
    assert fast_book and slow_book and fast_book != slow_book  # another seed, another market


def _config(tmp_path, ws_url: str, rest_url: str):
    cfg = tmp_path / "offline.toml"
    cfg.write_text(f'[venues.binance.live]\nws_url = "{ws_url}"\nrest_url = "{rest_url}"\n')
    return cfg


def test_record_that_reaches_nothing_says_why_and_fails(tmp_path, capsys):
    port = dead_port()
    cfg = _config(tmp_path, f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    out = tmp_path / "live.jsonl"
    rc, _, err = run_cli(capsys, "--config", str(cfg), "--data-dir", str(tmp_path / "data"), "record",
                         "--raw", str(out), "--symbols", "BTC/USDT", "--duration", "2")
    assert rc == 2
    lines = err.strip().splitlines()
    assert (f"cryptoterm: binance spot: could not connect to 127.0.0.1:{port}: "
            "connection refused: nothing listens there") in lines
    assert lines[-1].startswith(f"cryptoterm: error: nothing recorded to {out} in 2s: "
                                "no market data arrived from binance")


def test_record_whose_stream_is_refused_names_the_stream_host(tmp_path, capsys):
    """The market list loads (REST answers) but the websocket host refuses."""
    sim = BinanceSimThread(default_demo_symbols(), seed=3, rate=50.0).start()
    try:
        port = dead_port()
        cfg = _config(tmp_path, f"ws://127.0.0.1:{port}", sim.rest_url)
        out = tmp_path / "live.jsonl"
        rc, _, err = run_cli(capsys, "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                             "record", "--raw", str(out), "--symbols", "BTC/USDT", "--duration", "2")
    finally:
        sim.stop()
    assert rc == 2
    assert any(line.startswith("cryptoterm: binance spot") and
               f"could not connect to 127.0.0.1:{port}: connection refused" in line
               for line in err.splitlines()), err
    assert "REST line(s))" in err.splitlines()[-1]  # the market list, kline history


def test_record_of_only_unlisted_symbols_names_them_and_fails_at_once(tmp_path, capsys):
    """The venue answers, but lists none of the symbols asked for: say so, do not wait out
    the duration, and exit non-zero."""
    sim = BinanceSimThread(default_demo_symbols(), seed=3, rate=50.0).start()
    try:
        cfg = _config(tmp_path, sim.ws_url, sim.rest_url)
        out = tmp_path / "live.jsonl"
        began = time.monotonic()
        rc, _, err = run_cli(capsys, "--config", str(cfg), "--data-dir", str(tmp_path / "data"),
                             "record", "--raw", str(out), "--symbols", "FOO/BAR", "--duration", "30")
        took = time.monotonic() - began
    finally:
        sim.stop()
    assert rc == 2
    assert any("FOO/BAR is not listed on binance spot; listed: BTC/USDT" in line
               for line in err.splitlines()), err
    assert err.strip().splitlines()[-1] == ("cryptoterm: error: none of the requested symbols is "
                                            "listed on binance: nothing to record")
    assert took < 15


def test_demo_record_does_not_list_the_coins_a_simulated_venue_lacks(tmp_path, capsys):
    out = tmp_path / "demo.jsonl"
    rc, _, err = run_cli(capsys, "--data-dir", str(tmp_path / "data"), "record", "--raw", str(out),
                         "--demo", "--duration", "2")
    assert rc == 0
    assert "not listed" not in err, err
