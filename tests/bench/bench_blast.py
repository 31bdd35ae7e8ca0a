"""The UI under a message blast across the four venues (DESIGN.md budget: keypress to
screen < 100 ms p95, a steady frame rate, no backlog growth).

The simulators of all four venues run in child processes (--procs); the app runs as a
user runs it, engine thread and Textual UI, in a real terminal (a tmux pane this script
opens), and a keypress counts as on screen when the bytes Textual writes to the terminal
carry its effect. The chart interval keys alternate (``2`` = 5m, ``1`` = 1m), so every
press changes the chart title and the header.

Reported: messages received per second, keypress-to-screen latency (median, p95, max),
screen writes per second (each one-second bucket), feed lag (wall clock minus the venue
timestamp of every synced book) early vs late in the run, and CPU per thread.

    python -m tests.bench.bench_blast [--rate 2000] [--procs 2] [--seconds 30] [--presses 60]

(needs tmux; the measuring process runs inside it and hands its figures back in a file)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.bench.bench_demo import thread_cpu
from tests.bench.bench_trading import pct

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def serve(rate: float, venues: list[str]) -> None:
    """Child process: these venues' demo simulators at ``rate`` events/s per symbol."""
    from app.sim.world import SIMULATORS, DemoWorld

    # The load generator shares this 2-core machine with the app under test; niced, it
    # takes the CPU the app leaves, as a remote venue would take none of it.
    os.nice(10)
    world = DemoWorld(seed=11, rate=rate, depth_interval_ms=0, venues=venues).start()
    endpoints = {key: [t.ws_url, t.rest_url] for venue, t in world.threads.items()
                 for key in SIMULATORS[venue][3]}
    print(json.dumps({"venues": world.venues(), "symbols": world.symbols(), "endpoints": endpoints}),
          flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    world.stop()


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_simulators(rate: float, procs: int) -> tuple[list[subprocess.Popen], dict]:
    """The four venues' simulators split over ``procs`` processes (each is one core at
    most: one process tops out near 15k msgs/s)."""
    from app.sim.world import available_venues

    venues = available_venues()
    children = [subprocess.Popen([sys.executable, "-m", "tests.bench.bench_blast", "--serve",
                                  "--rate", str(rate), "--venues", ",".join(venues[i::procs])],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for i in range(min(procs, len(venues)))]
    world: dict = {"venues": [], "symbols": [], "endpoints": {}}
    for child in children:
        part = json.loads(child.stdout.readline())
        world["venues"] += part["venues"]
        world["symbols"] = part["symbols"]
        world["endpoints"].update(part["endpoints"])
    return children, world


def blast(rate: float, seconds: float, presses: int, procs: int) -> dict:
    children, world = start_simulators(rate, procs)
    os.environ.setdefault("CRYPTOTERM_HOME", tempfile.mkdtemp(prefix="ct-blast-"))
    sys.setswitchinterval(0.001)  # as app.cli.main sets it for the UI's sake

    from textual import events

    from app.config import Endpoint, load_config
    from app.feeds.engine import Engine
    from app.ui.app import CryptotermApp

    cfg = load_config()
    for key, (ws, rest) in world["endpoints"].items():
        cfg.set_endpoint(key, "live", Endpoint(ws, rest))
    cfg.venues = world["venues"]
    engine = Engine(cfg, world["symbols"])
    first = "cryptopair_binance_btcusdt"
    engine.prioritize(first)
    engine.start()
    engine_tid = next(t.native_id for t in threading.enumerate() if t.name == "cryptoterm-engine")
    ui_tid = threading.main_thread().native_id
    app = CryptotermApp(engine, first, mode_label="BLAST")
    result: dict = {}

    async def measure(pilot) -> None:
        try:
            driver = app._driver
            writes: list[float] = []
            want: dict = {"text": None, "seen": asyncio.Event()}
            plain_write = driver.write

            def watching_write(data: str) -> None:
                now = time.perf_counter()
                writes.append(now)
                text = want["text"]
                if text is not None and text in ANSI.sub("", data):
                    want["at"] = now
                    want["text"] = None
                    want["seen"].set()
                plain_write(data)

            driver.write = watching_write
            deadline = time.monotonic() + 20
            while not all(s.synced for s in engine.overview()) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # every book synced, the UI warm
            synced = sum(1 for s in engine.overview() if s.synced)
            msgs0 = sum(h.messages for h in engine.health())
            cpu0 = (thread_cpu(ui_tid), thread_cpu(engine_tid), sum(process_cpu(c.pid) for c in children))
            writes.clear()
            lags: list[tuple[float, float]] = []
            latencies: list[float] = []
            t0 = time.perf_counter()
            gap = seconds / max(1, presses)
            n = 0
            while time.perf_counter() - t0 < seconds:
                key, label = ("2", "5m candles") if n % 2 == 0 else ("1", "1m candles")
                n += 1
                want["text"], want["seen"] = label, asyncio.Event()
                pressed = time.perf_counter()
                app.post_message(events.Key(key, key))
                try:
                    await asyncio.wait_for(want["seen"].wait(), 2.0)
                    latencies.append(want["at"] - pressed)
                except asyncio.TimeoutError:
                    latencies.append(2.0)  # counted as a 2 s miss, never dropped
                    want["text"] = None
                now_ms = time.time() * 1000
                ids = [s.instrument.id for s in engine.overview()]  # takes the hub lock itself
                with engine.hub.lock:
                    for inst_id in ids:
                        st = engine.hub.state(inst_id)
                        if st is not None and st.synced and st.book.ts:
                            lags.append((time.perf_counter() - t0, now_ms - st.book.ts))
                await asyncio.sleep(max(0.0, gap - (time.perf_counter() - pressed)))
            elapsed = time.perf_counter() - t0
            result.update(elapsed=elapsed, latencies=latencies, lags=lags, synced=synced,
                          instruments=len(engine.overview()),
                          rate=(sum(h.messages for h in engine.health()) - msgs0) / elapsed,
                          cpu=[(b - a) / elapsed for a, b in zip(cpu0, (
                              thread_cpu(ui_tid), thread_cpu(engine_tid), sum(process_cpu(c.pid) for c in children)))],
                          per_second=[sum(1 for w in writes if t0 + i <= w < t0 + i + 1)
                                      for i in range(int(elapsed))])
        finally:
            app.exit()

    try:
        app.run(auto_pilot=measure)
    finally:
        engine.stop()
        for child in children:
            child.stdin.close()
            child.wait(10)
    result["world"] = world
    result["rate_per_symbol"] = rate
    result["procs"] = len(children)
    return result


def report(result: dict) -> None:
    rate, world = result["rate_per_symbol"], result["world"]
    lat = [x * 1000 for x in result["latencies"]]
    lags = result["lags"]
    third = result["elapsed"] / 3
    early = [lag for t, lag in lags if t < third]
    late = [lag for t, lag in lags if t >= 2 * third]
    ui, eng, sims = result["cpu"]
    fps = result["per_second"]
    print(f"{result['instruments']} instruments on {len(world['venues'])} venues "
          f"({result['synced']} synced before the run), sims at {rate:g} events/s per symbol")
    print(f"received {result['rate']:,.0f} msgs/s over {result['elapsed']:.1f}s")
    print(f"keypress to screen ({len(lat)} presses): median {statistics.median(lat):.1f} ms, "
          f"p95 {pct(lat, 0.95):.1f} ms, max {max(lat):.1f} ms (budget p95 < 100 ms)")
    print(f"screen writes per second: min {min(fps)}, median {statistics.median(fps)}, max {max(fps)}")
    print(f"feed lag (wall clock - venue timestamp, all synced books): first third median "
          f"{statistics.median(early):.0f} ms p95 {pct(early, 0.95):.0f} ms; last third median "
          f"{statistics.median(late):.0f} ms p95 {pct(late, 0.95):.0f} ms")
    print(f"CPU (fraction of one core): UI {ui:.2f}, engine {eng:.2f}, app {ui + eng:.2f}; "
          f"simulators ({result['procs']} processes) {sims:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=2000.0, help="sim events/s per symbol")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--procs", type=int, default=2, help="simulator processes")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--venues", help=argparse.SUPPRESS)
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.rate, args.venues.split(","))
        return
    if args.inner:
        partial = Path(f"{args.inner}.part")  # renamed when whole: the parent polls for it
        partial.write_bytes(json.dumps(blast(args.rate, args.seconds, args.presses, args.procs)).encode())
        partial.rename(args.inner)
        return
    out = Path(tempfile.mkdtemp(prefix="ct-blast-")) / "result.json"
    session = "ctblast"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    cmd = (f"cd {ROOT} && {sys.executable} -m tests.bench.bench_blast --inner {out} --rate {args.rate} "
           f"--seconds {args.seconds} --presses {args.presses} --procs {args.procs} 2> {out}.err")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45", cmd], check=True)
    deadline = time.monotonic() + args.seconds + 120
    while not out.exists() and time.monotonic() < deadline:
        if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode:
            break  # the inner run ended without figures
        time.sleep(0.5)
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    if not out.exists():
        err = Path(f"{out}.err")
        raise SystemExit("the measuring run gave no figures" + (f":\n{err.read_text()[-2000:]}" if err.exists() else ""))
    report(json.loads(out.read_text()))


if __name__ == "__main__":
    main()
