"""Replay of captures that are not what a current cryptoterm writes: snapshots asked with
another limit, no instrument list, OKX books without sequence ids, over-long lines,
garbage; and a closed stdout. Each case is a small capture written here."""

from __future__ import annotations

import io
import subprocess
import sys

import orjson
import pytest

from app.cli import main
from app.feeds.replay import TOO_LONG, read_lines, replay_file
from tests.captures import (binance_depth, binance_exchange_info, binance_spot_session,
                            binance_trade, okx_instruments_spot,
                            okx_unsequenced_session, v1, write_v1)

BTC = "cryptopair_binance_btcusdt"
INFO = binance_exchange_info([("BTCUSDT", "BTC", "USDT"), ("ETHUSDT", "ETH", "USDT")])


def spot_lines(snapshot_channel: str, with_list: bool = True) -> list[bytes]:
    frames, _, _ = binance_spot_session()
    lines = [v1("binance", "spot", "rest", INFO, "/api/v3/exchangeInfo")] if with_list else []
    for kind, text in frames:
        if kind == "snapshot":
            lines.append(v1("binance", "spot", "rest", text, snapshot_channel))
        else:
            lines.append(v1("binance", "spot", "ws", text))
    return lines


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


# -- snapshots by endpoint and symbol --------------------------------------------------------

@pytest.mark.parametrize("channel", [
    "/api/v3/depth?symbol=BTCUSDT&limit=1000",  # older versions and other tools
    "/api/v3/depth?limit=100&symbol=BTCUSDT",
    "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=5000",  # a full URL
    "/api/v3/depth?symbol=BTCUSDT",
])
def test_snapshot_with_another_limit_builds_the_book(tmp_path, channel):
    _, bids, asks = binance_spot_session()
    path = tmp_path / "cap.jsonl"
    write_v1(path, spot_lines(channel))
    rep = replay_file(path)
    st = rep.hub.state(BTC)
    assert st.synced and st.book.side_dicts() == (bids, asks)
    assert rep.stats.snapshots == 1 and rep.stats.unknown == 0


def test_snapshot_of_an_unlisted_symbol_is_counted_unknown(tmp_path, capsys):
    path = tmp_path / "cap.jsonl"
    write_v1(path, spot_lines("/api/v3/depth?symbol=DOGEUSDT&limit=1000"))
    rc, out, _ = run_cli(capsys, "replay", str(path))
    stats = orjson.loads(out)
    assert rc == 0 and stats["snapshots"] == 0 and stats["unknown"] == 1
    assert not replay_file(path).hub.state(BTC).synced


# -- no instrument list ------------------------------------------------------------------------

def test_frames_without_a_list_decode_with_derived_instruments(tmp_path, capsys):
    """A capture cut from the middle of a session: Binance symbols split by their quote."""
    _, bids, asks = binance_spot_session()
    path = tmp_path / "cut.jsonl"
    lines = spot_lines("/api/v3/depth?symbol=BTCUSDT&limit=5000", with_list=False)
    lines.append(v1("binance", "spot", "ws", binance_trade("ETHUSDT", 7, 2000.5, 0.25)))
    write_v1(path, lines)
    rc, out, err = run_cli(capsys, "replay", str(path), "--emit", "books")
    assert rc == 0
    books = {b["id"]: b for b in map(orjson.loads, out.splitlines())}
    assert books[BTC]["bids"] == [[p, q] for p, q in sorted(bids.items(), reverse=True)]
    assert books[BTC]["asks"] == [[p, q] for p, q in sorted(asks.items())]
    note = [line for line in err.splitlines() if "no instrument list" in line]
    assert len(note) == 1
    assert note[0].startswith("cryptoterm: no instrument list for binance spot before line 1: "
                              "decoded with 2 instrument(s) derived from its frames (BTCUSDT, ETHUSDT)")
    assert "tick size 0.01 and lot size 0.00001" in note[0]
    rc, out, _ = run_cli(capsys, "replay", str(path), "--emit", "events")
    trades = [e for e in map(orjson.loads, out.splitlines()) if e["type"] == "trade"]
    assert trades == [{"type": "trade", "id": "cryptopair_binance_ethusdt", "ts": 1700000000000,
                       "price": 2000.5, "amount": 0.25, "side": "buy", "trade_id": "7"}]


def test_frames_that_cannot_be_derived_are_skipped_and_said(tmp_path, capsys):
    """OKX swap sizes are contracts of a size only the list gives: no guessing."""
    frames, _, _ = okx_unsequenced_session("BTC-USDT-SWAP")
    path = tmp_path / "swap.jsonl"
    write_v1(path, [v1("okx", "perp", "ws", f) for f in frames] * 3)
    rc, out, err = run_cli(capsys, "replay", str(path))
    assert rc == 2  # nothing at all was usable
    lines = err.strip().splitlines()
    assert lines[0] == ("cryptoterm: no instrument list for okx perp before line 1: 9 frames skipped; "
                        "okx perp sizes are contracts whose size (ctVal) only the instrument list "
                        "gives; was this captured by cryptoterm?")
    assert lines[1].startswith("cryptoterm: error: ") and "no usable line among 9" in lines[1]
    assert orjson.loads(out)["unknown"] == 9


def test_a_list_later_in_the_capture_serves_the_frames_before_it(tmp_path):
    _, bids, asks = binance_spot_session()
    lines = spot_lines("/api/v3/depth?symbol=BTCUSDT&limit=5000", with_list=False)
    lines.append(v1("binance", "spot", "rest", INFO, "/api/v3/exchangeInfo"))
    path = tmp_path / "late.jsonl"
    write_v1(path, lines)
    rep = replay_file(path)
    assert rep.hub.state(BTC).book.side_dicts() == (bids, asks)
    assert rep.stats.instruments == 2  # the real list, not derived ones
    assert rep.notes == ["no instrument list for binance spot before line 1: decoded with the "
                         "instrument list found later in the capture"]


# -- OKX books without sequence ids -------------------------------------------------------------

def test_okx_books_without_sequence_ids_replay_to_a_book(tmp_path, capsys):
    frames, bids, asks = okx_unsequenced_session()
    path = tmp_path / "okx2022.jsonl"
    write_v1(path, [v1("okx", "spot", "rest", okx_instruments_spot(["BTC-USDT"]),
                       "/api/v5/public/instruments?instType=SPOT")]
             + [v1("okx", "spot", "ws", f) for f in frames])
    rep = replay_file(path)
    st = rep.hub.state("cryptopair_okx_btcusdt")
    assert st.synced and st.book.side_dicts() == (bids, asks)
    assert rep.stats.malformed == 0 and rep.stats.checksum_failures == 0
    # a lost push shows as a checksum failure, never as a wrong book
    write_v1(path, [v1("okx", "spot", "rest", okx_instruments_spot(["BTC-USDT"]),
                       "/api/v5/public/instruments?instType=SPOT"),
                    v1("okx", "spot", "ws", frames[0]), v1("okx", "spot", "ws", frames[2])])
    rep = replay_file(path)
    assert rep.stats.checksum_failures == 1 and not rep.hub.state("cryptopair_okx_btcusdt").synced


# -- line length ----------------------------------------------------------------------------------

def test_an_over_long_line_is_skipped_as_malformed(tmp_path, capsys):
    _, bids, asks = binance_spot_session()
    lines = spot_lines("/api/v3/depth?symbol=BTCUSDT&limit=5000")
    huge = v1("binance", "spot", "ws", binance_depth("BTCUSDT", 1, 2, [(1.0, 1.0)] * 20_000))
    lines.insert(2, huge)  # ~600 kB, over a 0.1 MiB cap
    path = tmp_path / "long.jsonl"
    write_v1(path, lines)
    rc, out, err = run_cli(capsys, "replay", str(path), "--max-line-mb", "0.1")
    stats = orjson.loads(out)
    assert rc == 0 and stats["malformed"] == 1 and stats["lines"] == len(lines)
    assert "cryptoterm: 1 line longer than 0.1 MiB skipped as malformed (first: line 3)" in err
    rep = replay_file(path, max_line=100 * 1024)
    assert rep.hub.state(BTC).book.side_dicts() == (bids, asks)  # the rest replayed as before
    assert replay_file(path).stats.malformed == 0  # under the default cap it is just a frame


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def readline(self, size=-1):
        line = super().readline(size)
        self.largest = max(self.largest, len(line))
        return line


def test_read_lines_never_holds_more_than_the_cap():
    fh = _CountingReader(b"short\n" + b"x" * (5 * 1024 * 1024) + b"\nafter\nlast-no-newline")
    got = list(read_lines(fh, max_len=1000))
    assert got == [b"short\n", TOO_LONG, b"after\n", b"last-no-newline"]
    assert fh.largest <= 1024 * 1024  # read past in chunks, never whole
    assert list(read_lines(io.BytesIO(b"x" * 1000 + b"\n"), max_len=1000)) == [b"x" * 1000 + b"\n"]
    assert list(read_lines(io.BytesIO(b"x" * 1001 + b"\n"), max_len=1000)) == [TOO_LONG]


def test_max_line_mb_is_checked(capsys):
    for bad in ("0", "-1", "nan", "1e9"):
        rc, _, err = run_cli(capsys, "replay", "x", "--max-line-mb", bad)
        assert rc == 2 and "--max-line-mb" in err


# -- garbage and closed pipes ----------------------------------------------------------------------

def test_a_file_of_garbage_fails_with_a_count(tmp_path, capsys):
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"not json\n[1,2]\n\n" + v1("kraken", "spot", "ws", "{}") + b"\n")
    rc, out, err = run_cli(capsys, "replay", str(path))
    assert rc == 2
    assert err.strip() == (f"cryptoterm: error: {path}: no usable line among 4 (2 malformed, 1 unknown); "
                           "is it a capture written by `cryptoterm record --raw`? (cryptofeed's raw "
                           "data: --from cryptofeed)")
    assert orjson.loads(out)["malformed"] == 2  # the counts still come out


@pytest.mark.parametrize("emit", ["books", "events"])
def test_a_closed_stdout_ends_quietly(tmp_path, emit):
    lines = [v1("binance", "spot", "rest", INFO, "/api/v3/exchangeInfo")]
    lines += [v1("binance", "spot", "ws", binance_trade("BTCUSDT", i, 100.0 + i % 7, 1.0))
              for i in range(3000)]
    lines += spot_lines("/api/v3/depth?symbol=BTCUSDT&limit=5000")[1:]
    path = tmp_path / "many.jsonl"
    write_v1(path, lines)
    proc = subprocess.Popen([sys.executable, "-m", "app", "replay", str(path), "--emit", emit],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert err == ""  # no "Broken pipe", no blaming the file
