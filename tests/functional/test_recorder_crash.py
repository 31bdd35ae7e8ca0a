"""kill -9 while recording: the database passes integrity_check, reopens, and holds every
trade older than one second before the kill."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCER = r"""
import sys, time
from pathlib import Path
from app.market.events import Trade
from storage.db import open_database
from storage.recorder import Recorder

db = open_database(Path(sys.argv[1]), Path(sys.argv[1]).parent)
rec = Recorder(db, flush_interval=0.5, clock_ms=lambda: int(time.time() * 1000)).start()
run = sys.argv[2]
n = 0
ready = False
while True:
    # a busy market: ~20k trades/s in bursts, timestamped by the wall clock like live trades
    now = int(time.time() * 1000)
    for _ in range(20):
        n += 1
        rec.on_event(Trade("cryptopair_binance_btcusdt", now, 40000.0 + (n % 100), 0.01,
                           "buy" if n % 2 else "sell", f"{run}-{n}"))
    if not ready and rec.stats().rows > 0:
        print("ready", flush=True)
        ready = True
    time.sleep(0.001)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")
def test_kill_9_while_recording_loses_at_most_the_last_second(tmp_path):
    path = tmp_path / "crash.db"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = random.Random(4)
    last_count = 0
    for run in range(3):  # each run reopens the database the previous one left behind
        proc = subprocess.Popen([sys.executable, "-c", PRODUCER, str(path), f"r{run}"], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
            time.sleep(rng.uniform(0.3, 1.7))  # somewhere mid-batch, mid-commit or idle
            killed_at = int(time.time() * 1000)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        con = sqlite3.connect(path)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            newest, count = con.execute(
                "SELECT max(ts), count(*) FROM trades WHERE trade_id LIKE ?", (f"r{run}-%",)).fetchone()
            total = con.execute("SELECT count(*) FROM trades").fetchone()[0]
            minutes = con.execute("SELECT count(*) FROM klines").fetchone()[0]
        finally:
            con.close()
        assert count > 0 and total >= last_count + count  # earlier runs' rows all survived
        lost_ms = killed_at - newest
        assert lost_ms <= 1000, f"run {run}: newest stored trade is {lost_ms} ms older than the kill"
        assert minutes >= 1
        last_count = total
