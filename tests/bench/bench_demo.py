"""Demo benchmarks.

1. ``cryptoterm --demo`` to first full frame (budget < 1.5 s): launched in tmux exactly as a
   user would, the screen polled until the ladder, ticker, chart, tape and a connected
   status bar are all on it.
2. CPU of the app with the demo at ~5k msgs/s: the engine, the UI (headless, real
   compositor) and the simulator each on their own thread; CPU seconds per thread over a
   measured window, and the message rate actually received.

    python -m tests.bench.bench_demo [--runs 5] [--seconds 10] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKERS = ("spread", "Trades", "connected", "┤", "BTC/USDT")


def first_frame_once(session: str) -> float:
    home = tempfile.mkdtemp(prefix="ct-bench-")
    exe = Path(sys.executable).with_name("cryptoterm")
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45"], check=True)
    cmd = f"CRYPTOTERM_HOME={home} {exe} --demo"
    start = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", session, cmd, "Enter"], check=True)
    took = None
    while time.perf_counter() - start < 15:
        screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"],
                                capture_output=True, text=True).stdout
        if all(m in screen for m in MARKERS) and ":" in screen.split("Trades", 1)[-1]:
            took = time.perf_counter() - start
            break
        time.sleep(0.01)
    subprocess.run(["tmux", "send-keys", "-t", session, "q"])
    time.sleep(0.5)
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)
    if took is None:
        raise SystemExit("the demo never showed a full frame")
    return took


def thread_cpu(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def cpu_at_rate(seconds: float, rate: float) -> None:
    from app.config import Endpoint, load_config
    from app.feeds.engine import Engine
    from app.sim.binance_server import BinanceSimThread
    from app.sim.market import default_demo_symbols
    from app.ui.app import CryptotermApp

    os.environ.setdefault("CRYPTOTERM_HOME", tempfile.mkdtemp(prefix="ct-bench-"))
    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=rate, depth_interval_ms=0).start()
    cfg = load_config()
    for key in ("binance", "binanceusdm"):
        cfg.set_endpoint(key, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"])
    engine.start()
    ids = {t.name: t.native_id for t in threading.enumerate()}
    engine_tid = ids["cryptoterm-engine"]
    sim_tid = ids["binance-sim"]
    ui_tid = threading.main_thread().native_id
    app = CryptotermApp(engine, "cryptopair_binance_btcusdt", mode_label="DEMO")
    result = {}

    async def measure() -> None:
        async with app.run_test(size=(160, 45)):
            await asyncio.sleep(3)  # connect, sync, warm up
            msgs0 = sum(h.messages for h in engine.health())
            cpu0 = {k: thread_cpu(v) for k, v in (("ui", ui_tid), ("engine", engine_tid), ("sim", sim_tid))}
            frames0 = app.main_screen.frames
            t0 = time.perf_counter()
            await asyncio.sleep(seconds)
            elapsed = time.perf_counter() - t0
            result["elapsed"] = elapsed
            result["rate"] = (sum(h.messages for h in engine.health()) - msgs0) / elapsed
            result["cpu"] = {k: (thread_cpu(v) - cpu0[k]) / elapsed for k, v in
                             (("ui", ui_tid), ("engine", engine_tid), ("sim", sim_tid))}
            result["fps"] = (app.main_screen.frames - frames0) / elapsed

    asyncio.run(measure())
    engine.stop()
    sim.stop()
    cpu = result["cpu"]
    print(f"received {result['rate']:,.0f} msgs/s over {result['elapsed']:.1f}s")
    print(f"CPU (fraction of one core): engine {cpu['engine']:.2f}, UI {cpu['ui']:.2f}, "
          f"app total {cpu['engine'] + cpu['ui']:.2f}; simulator {cpu['sim']:.2f}")
    print(f"UI frames that redrew something: {result['fps']:.1f}/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=700.0, help="sim events/s per symbol")
    ap.add_argument("--skip-first-frame", action="store_true")
    args = ap.parse_args()
    if not args.skip_first_frame:
        times = [first_frame_once("ctbench") for _ in range(args.runs)]
        print(f"--demo to first full frame: median {statistics.median(times):.2f}s "
              f"(min {min(times):.2f}, max {max(times):.2f}, {args.runs} runs; budget < 1.5 s)")
    cpu_at_rate(args.seconds, args.rate)


if __name__ == "__main__":
    main()
