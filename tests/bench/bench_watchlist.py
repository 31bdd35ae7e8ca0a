"""The watchlist at scale (issue #12 budget: UI-thread CPU < 15 % of a core and
keypress-to-screen p95 < 50 ms while scrolling and sorting).

Four simulated venues with the 100 most traded base assets each (DemoWorld(universe=100):
spot for all, USDT perps for the first half, Coinbase USD spot) run in a child process;
the app runs as a user runs it, engine thread and Textual UI, in a real terminal (a tmux
pane this script opens). Every row but the configured symbols streams tickers only, at
the venues' own rates. The watchlist redraws at the configured fps while the presses
alternate page-down (scrolling) and ``o`` (sort by the next column); a press counts as on
screen when the bytes Textual writes carry its effect: the title's "row N/M" or
"sorted by <column>".

Reported: rows, messages received per second, keypress-to-screen latency (median, p95,
max), screen writes per second, and CPU per thread (UI, engine) and of the simulators.

    python -m tests.bench.bench_watchlist [--universe 100] [--rate 5] [--procs 2] [--seconds 30]
                                          [--presses 120] [--fps 10]

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

from tests.bench.bench_blast import process_cpu
from tests.bench.bench_demo import thread_cpu
from tests.bench.bench_trading import pct

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SESSION = "ctwatchbench"


def serve(universe: int, rate: float, venues: list[str]) -> None:
    """Child process: these venues' simulators over the universe."""
    from app.sim.world import SIMULATORS, DemoWorld

    os.nice(10)  # the load generator takes the CPU the app leaves, as a remote venue takes none
    world = DemoWorld(seed=11, rate=rate, universe=universe, venues=venues).start()
    endpoints = {key: [t.ws_url, t.rest_url] for venue, t in world.threads.items()
                 for key in SIMULATORS[venue][3]}
    print(json.dumps({"venues": world.venues(), "endpoints": endpoints}), flush=True)
    sys.stdin.read()
    world.stop()


def start_simulators(universe: int, rate: float, procs: int) -> tuple[list[subprocess.Popen], dict]:
    """The four venues split over ``procs`` processes (hundreds of simulated markets are
    more than one Python process steps in real time)."""
    from app.sim.world import available_venues

    venues = available_venues()
    children = [subprocess.Popen([sys.executable, "-m", "tests.bench.bench_watchlist", "--serve",
                                  "--universe", str(universe), "--rate", str(rate),
                                  "--venues", ",".join(venues[i::procs])],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for i in range(min(procs, len(venues)))]
    world: dict = {"venues": [], "endpoints": {}}
    for child in children:
        part = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        world["venues"] += part["venues"]
        world["endpoints"].update(part["endpoints"])
    return children, world


def sims_cpu(children: list[subprocess.Popen]) -> float:
    return sum(process_cpu(c.pid) for c in children)


def run(universe: int, rate: float, seconds: float, presses: int, fps: float, procs: int) -> dict:
    children, world = start_simulators(universe, rate, procs)
    os.environ.setdefault("CRYPTOTERM_HOME", tempfile.mkdtemp(prefix="ct-watch-"))
    sys.setswitchinterval(0.001)  # as app.cli.main sets it

    from textual import events

    from app.config import Endpoint, load_config
    from app.feeds.engine import Engine
    from app.ui.app import CryptotermApp
    from app.ui.watchlist_screen import WatchlistScreen
    from widgets.watchlist import WatchlistTable
    from widgets.watchlist_rows import COLUMNS, fit_columns

    cfg = load_config()
    cfg.metadata_cache = False
    for key, (ws, rest) in world["endpoints"].items():
        cfg.set_endpoint(key, "live", Endpoint(ws, rest))
    cfg.venues = world["venues"]
    engine = Engine(cfg, ["BTC/USDT", "BTC/USDT:USDT"])
    engine.start()
    engine_tid = next(t.native_id for t in threading.enumerate() if t.name == "cryptoterm-engine")
    ui_tid = threading.main_thread().native_id
    app = CryptotermApp(engine, "cryptopair_binance_btcusdt", mode_label="BENCH", fps=fps)
    titles = {c.key: c.title.strip() for c in COLUMNS}
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
            app.action_watchlist()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                rows = engine.watchlist()
                if len(rows) > 100 and all(s.last is not None for s in rows):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # every row priced, sparklines loading, the UI warm
            screen = app.screen
            assert isinstance(screen, WatchlistScreen)
            table = screen.query_one(WatchlistTable)
            rows = len(engine.watchlist())
            msgs0 = sum(h.messages for h in engine.health())
            cpu0 = (thread_cpu(ui_tid), thread_cpu(engine_tid), sims_cpu(children))
            writes.clear()
            latencies: dict[str, list[float]] = {"scroll": [], "sort": []}
            t0 = time.perf_counter()
            gap = seconds / max(1, presses)
            n = 0
            while time.perf_counter() - t0 < seconds:
                if n % 2 == 0:
                    kind, key = "scroll", "pagedown"
                    if table.cursor >= len(table.rows) - 2:
                        key = "home"
                        expect = f"row 1/{len(table.rows)}"
                    else:
                        step = max(1, table.size.height - 2)
                        expect = f"row {min(len(table.rows), table.cursor + 1 + step)}/{len(table.rows)}"
                else:
                    kind, key = "sort", "o"
                    shown = [c.key for c, _ in fit_columns(table.size.width) if c.key != "spark"]
                    nxt = shown[(shown.index(table.sort_key) + 1) % len(shown)] if table.sort_key in shown \
                        else shown[0]
                    expect = f"sorted by {titles[nxt]}"
                n += 1
                want["text"], want["seen"] = expect, asyncio.Event()
                pressed = time.perf_counter()
                app.post_message(events.Key(key, key if len(key) == 1 else None))
                try:
                    await asyncio.wait_for(want["seen"].wait(), 2.0)
                    latencies[kind].append(want["at"] - pressed)
                except asyncio.TimeoutError:
                    latencies[kind].append(2.0)  # a 2 s miss, counted, never dropped
                    want["text"] = None
                await asyncio.sleep(max(0.0, gap - (time.perf_counter() - pressed)))
            elapsed = time.perf_counter() - t0
            cpu1 = (thread_cpu(ui_tid), thread_cpu(engine_tid), sims_cpu(children))
            result.update(elapsed=elapsed, latencies=latencies, rows=rows, fps=fps,
                          rate=(sum(h.messages for h in engine.health()) - msgs0) / elapsed,
                          cpu=[(b - a) / elapsed for a, b in zip(cpu0, cpu1)],
                          per_second=[sum(1 for w in writes if t0 + i <= w < t0 + i + 1)
                                      for i in range(int(elapsed))])
        finally:
            app.exit()

    try:
        app.run(auto_pilot=measure)
    finally:
        engine.stop()
        for child in children:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(20)
    result["universe"] = universe
    result["load"] = os.getloadavg()[0]
    result["venues"] = world["venues"]
    return result


def report(result: dict) -> None:
    lat = {k: [x * 1000 for x in v] for k, v in result["latencies"].items()}
    both = lat["scroll"] + lat["sort"]
    ui, eng, sims = result["cpu"]
    fps = result["per_second"]
    print(f"{result['rows']} watchlist rows on {len(result['venues'])} venues "
          f"(DemoWorld(universe={result['universe']})), redrawn at {result['fps']:g} fps")
    print(f"received {result['rate']:,.0f} msgs/s over {result['elapsed']:.1f}s")
    for name, values in (("scroll", lat["scroll"]), ("sort", lat["sort"]), ("all", both)):
        print(f"keypress to screen, {name} ({len(values)} presses): median "
              f"{statistics.median(values):.1f} ms, p95 {pct(values, 0.95):.1f} ms, max {max(values):.1f} ms")
    print("budget: p95 < 50 ms; UI thread < 0.15 of a core")
    print(f"screen writes per second: min {min(fps)}, median {statistics.median(fps)}, max {max(fps)}")
    print(f"CPU (fraction of one core): UI {ui:.2f}, engine {eng:.2f}; simulators {sims:.2f}")
    if result.get("load") is not None:
        print(f"machine load average during the run: {result['load']:.1f} (other work shares the cores)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--universe", type=int, default=100)
    # the tickers behind most rows come at the venues' own pace (1 s, Coinbase 5 s) whatever
    # the event rate; 5 events/s per market keeps every price moving between them
    ap.add_argument("--rate", type=float, default=5.0, help="sim events/s per symbol")
    ap.add_argument("--procs", type=int, default=2, help="simulator processes")
    ap.add_argument("--venues", help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--presses", type=int, default=120)
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.universe, args.rate, args.venues.split(","))
        return
    if args.inner:
        partial = Path(f"{args.inner}.part")
        partial.write_bytes(json.dumps(run(args.universe, args.rate, args.seconds, args.presses,
                                           args.fps, args.procs)).encode())
        partial.rename(args.inner)
        return
    out = Path(tempfile.mkdtemp(prefix="ct-watch-")) / "result.json"
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    cmd = (f"cd {ROOT} && {sys.executable} -m tests.bench.bench_watchlist --inner {out} "
           f"--universe {args.universe} --rate {args.rate} --seconds {args.seconds} "
           f"--presses {args.presses} --fps {args.fps} --procs {args.procs} 2> {out}.err")
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", cmd], check=True)
    deadline = time.monotonic() + args.seconds + 180
    while not out.exists() and time.monotonic() < deadline:
        if subprocess.run(["tmux", "has-session", "-t", SESSION], capture_output=True).returncode:
            break
        time.sleep(0.5)
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    if not out.exists():
        err = Path(f"{out}.err")
        raise SystemExit("the measuring run gave no figures" + (f":\n{err.read_text()[-2000:]}" if err.exists() else ""))
    report(json.loads(out.read_text()))


if __name__ == "__main__":
    main()
