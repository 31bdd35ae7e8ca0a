"""Data API benchmark (not run by the default test command). Three processes: this one
runs the simulated venue and watches the server, ``cryptoterm serve`` is the server
(engine + API, pointed at the simulator and a 10M-row store), and the load comes from a
client process of its own.

1. REST latency, one keep-alive connection, sequential: ``kdata?limit=100`` on a store of
   ``--rows`` 1m klines (20 instruments) and ``orderbook?depth=20`` of a streamed book:
   p50/p99 (seeds: < 3 ms); then requests/s with ``--http-threads`` connections at once.
2. WebSocket fan-out: ``--clients`` connections, each subscribed to ticker and depth of
   ``--instruments`` instruments, for ``--duration`` seconds: delivered msgs/s, push lag
   (client receive time minus the event's venue timestamp) p50/p99 per 10 s window (no
   growth wanted), the server's CPU and RSS.

    python -m tests.bench.bench_api [--rows 10000000] [--clients 1000] [--duration 120]
    python -m tests.bench.bench_api --quick      # a small run that checks the bench itself
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
STORED_INSTRUMENTS = 20
WINDOW_S = 10.0
LAG_BINS = 20_001  # 1 ms bins up to 20 s; the last one counts everything later


# -- the store -------------------------------------------------------------------------

def ensure_store(path: Path, rows: int) -> list[str]:
    """The 10M-row store (built once, then reused from ``path``)."""
    import sqlite3

    from tests.bench.bench_storage import build_klines

    ids = [f"cryptopair_binance_c{k}usdt" for k in range(STORED_INSTRUMENTS)]
    if path.exists():
        with sqlite3.connect(path) as con:
            if con.execute("SELECT count(*) FROM klines").fetchone()[0] == rows // STORED_INSTRUMENTS * \
                    STORED_INSTRUMENTS:
                return ids
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
    t = time.perf_counter()
    print(f"building a {rows:,}-row klines store at {path} ...", file=sys.stderr, flush=True)
    build_klines(path, rows, STORED_INSTRUMENTS)
    print(f"  built in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return ids


# -- the server ------------------------------------------------------------------------

def write_config(home: Path, world: Any) -> None:
    from app.config import load_config

    cfg = load_config(data_dir=home / "data")
    world.configure(cfg)
    lines = ["[app]", f"venues = {json.dumps(world.venues())}", ""]
    for key in ("binance", "binanceusdm"):
        ep = cfg.endpoint(key, "live")
        lines += [f"[venues.{key}.live]", f'ws_url = "{ep.ws_url}"', f'rest_url = "{ep.rest_url}"', ""]
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("\n".join(lines))


class ProcWatch:
    """CPU (all threads) and RSS of a process, sampled from /proc once a second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float, int]] = []  # (wall, cpu seconds, rss bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> tuple[float, int]:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        return cpu, rss

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            cpu, rss = self.read()
            self.samples.append((time.monotonic(), cpu, rss))

    def start(self) -> "ProcWatch":
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        s = self.samples
        if len(s) < 2:
            return {}
        cpu_pct = (s[-1][1] - s[0][1]) / (s[-1][0] - s[0][0]) * 100
        return {"cpu_pct": cpu_pct, "rss_mb_max": max(x[2] for x in s) / 1e6,
                "rss_mb_first": s[0][2] / 1e6, "rss_mb_last": s[-1][2] / 1e6}


# -- the client process ----------------------------------------------------------------

def percentile(xs: list[float], q: float) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(len(ys) * q))]


def http_phase(port: int, stored: list[str], streamed: list[str], n: int, threads: int,
               seconds: float) -> dict[str, Any]:
    rng = random.Random(5)
    out: dict[str, Any] = {}
    paths = {
        "kdata?limit=100": lambda: f"/api/v1/crypto/kdata?symbol={rng.choice(stored)}&interval=1m&limit=100",
        "orderbook?depth=20": lambda: f"/api/v1/crypto/orderbook?symbol={rng.choice(streamed)}&depth=20",
    }
    for name, make in paths.items():
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        lat = []
        for i in range(n + 50):
            path = make()
            t = time.perf_counter()
            con.request("GET", path)
            r = con.getresponse()
            body = r.read()
            dt = time.perf_counter() - t
            if r.status != 200:
                raise SystemExit(f"{path}: {r.status} {body[:200]!r}")
            if i >= 50:  # warm-up left out
                lat.append(dt * 1000)
        con.close()
        check = orjson.loads(body)
        assert (check["count"] == 100) if name.startswith("kdata") else len(check["bids"]) == 20
        done = [0]
        stop_at = time.perf_counter() + seconds

        def worker() -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            count = 0
            while time.perf_counter() < stop_at:
                c.request("GET", make())
                c.getresponse().read()
                count += 1
            c.close()
            done[0] += count

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        out[name] = {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99),
                     "requests_per_s": done[0] / (time.perf_counter() - t0), "n": len(lat)}
    return out


async def ws_phase(port: int, streamed: list[str], clients: int, duration: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/api/v1/crypto/stream"
    windows: list[dict[str, Any]] = []
    state = {"start": 0.0}

    def window(now: float) -> dict[str, Any]:
        k = int((now - state["start"]) / WINDOW_S)
        while len(windows) <= k:
            windows.append({"msgs": 0, "book": [0] * LAG_BINS, "ticker": [0] * LAG_BINS})
        return windows[k]

    connected = 0
    closed: list[str] = []
    stop = asyncio.Event()

    async def one(n: int) -> None:
        nonlocal connected
        try:
            async with connect(url, compression=None, max_queue=64, open_timeout=60,
                               ping_interval=None) as ws:
                for j, iid in enumerate(streamed):
                    await ws.send(orjson.dumps({"id": 2 * j, "method": "subscribe",
                                                "params": {"channel": "depth", "symbol": iid, "depth": 20}}).decode())
                    await ws.send(orjson.dumps({"id": 2 * j + 1, "method": "subscribe",
                                                "params": {"channel": "ticker", "symbol": iid}}).decode())
                connected += 1
                loads = orjson.loads
                clock = time.time
                mono = time.monotonic
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 5)
                    except TimeoutError:
                        continue
                    if not state["start"]:
                        continue
                    m = loads(raw)
                    kind = m.get("type")
                    if kind is None:
                        continue
                    w = window(mono())
                    w["msgs"] += 1
                    lag = int(clock() * 1000 - m["ts"])
                    hist = w["book" if kind == "book" else "ticker"]
                    hist[min(max(lag, 0), LAG_BINS - 1)] += 1
        except Exception as exc:  # counted: the bench reports closed connections
            closed.append(f"{type(exc).__name__}: {exc}"[:120])

    tasks = []
    for n in range(clients):
        tasks.append(asyncio.create_task(one(n)))
        if n % 50 == 49:
            await asyncio.sleep(0.2)
    t = time.monotonic()
    while connected + len(closed) < clients and time.monotonic() - t < 120:
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # initial books out of the way
    state["start"] = time.monotonic()
    await asyncio.sleep(duration)
    stop.set()
    elapsed = time.monotonic() - state["start"]
    await asyncio.wait(tasks, timeout=15)

    def pct(hist: list[int], q: float) -> int | None:
        total = sum(hist)
        if not total:
            return None
        acc = 0
        for ms, c in enumerate(hist):
            acc += c
            if acc >= q * total:
                return ms
        return LAG_BINS - 1

    full = [w for w in windows if (windows.index(w) + 1) * WINDOW_S <= elapsed + 0.5]
    rows = [{"window_s": f"{i * WINDOW_S:.0f}-{(i + 1) * WINDOW_S:.0f}", "msgs_per_s": w["msgs"] / WINDOW_S,
             "book_p50_ms": pct(w["book"], 0.5), "book_p99_ms": pct(w["book"], 0.99),
             "ticker_p50_ms": pct(w["ticker"], 0.5), "ticker_p99_ms": pct(w["ticker"], 0.99)}
            for i, w in enumerate(full)]
    book_all = [sum(col) for col in zip(*(w["book"] for w in full))] if full else []
    tick_all = [sum(col) for col in zip(*(w["ticker"] for w in full))] if full else []
    return {"clients": clients, "connected": connected, "closed": len(closed),
            "closed_why": sorted(set(closed))[:5], "seconds": elapsed,
            "msgs_per_s": sum(w["msgs"] for w in full) / (len(full) * WINDOW_S) if full else 0,
            "book_p50_ms": pct(book_all, 0.5) if book_all else None,
            "book_p99_ms": pct(book_all, 0.99) if book_all else None,
            "ticker_p50_ms": pct(tick_all, 0.5) if tick_all else None,
            "ticker_p99_ms": pct(tick_all, 0.99) if tick_all else None, "windows": rows}


def client_main(args: argparse.Namespace) -> None:
    stored, streamed = args.stored.split(","), args.streamed.split(",")
    result: dict[str, Any] = {}
    if args.phase == "http":
        result = http_phase(args.port, stored, streamed, args.n, args.http_threads, args.http_seconds)
    else:
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
        result = asyncio.run(ws_phase(args.port, streamed, args.clients, args.duration))
    print(json.dumps(result))


def run_client(phase: str, port: int, stored: list[str], streamed: list[str],
               args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tests.bench.bench_api", "--client", phase, "--port", str(port),
           "--stored", ",".join(stored), "--streamed", ",".join(streamed), "--n", str(args.n),
           "--http-threads", str(args.http_threads), "--http-seconds", str(args.http_seconds),
           "--clients", str(args.clients), "--duration", str(args.duration)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"client failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the orchestrator ------------------------------------------------------------------

def wait_ready(port: int, streamed: list[str], timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    pending = set(streamed)
    while pending and time.monotonic() < end:
        for iid in list(pending):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                ok = True
                for path in (f"orderbook?symbol={iid}&depth=20", f"ticker?symbol={iid}"):
                    c.request("GET", f"/api/v1/crypto/{path}")
                    r = c.getresponse()
                    r.read()
                    ok = ok and r.status == 200
                if ok:
                    pending.discard(iid)
                c.close()
            except OSError:
                pass
        time.sleep(0.5)
    if pending:
        raise SystemExit(f"server never got synced books and tickers for {sorted(pending)}")


class AgeSampler:
    """The baseline of the push lag: how old (wall clock minus venue timestamp) the engine's
    books already are when asked over REST, sampled while the stream runs. The sim stamps
    a depth update when its batch opens and sends batches every 100 ms, so books are some
    hundreds of ms "old" before the API touches them."""

    def __init__(self, port: int, ids: list[str]) -> None:
        self.port, self.ids = port, ids
        self.ages: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        while not self._stop.wait(0.1):
            c.request("GET", f"/api/v1/crypto/orderbook?symbol={self.ids[n % len(self.ids)]}&depth=1")
            r = c.getresponse()
            body = r.read()
            if r.status == 200:
                self.ages.append(time.time() * 1000 - orjson.loads(body)["ts"])
            n += 1

    def start(self) -> "AgeSampler":
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"p50_ms": percentile(self.ages, 0.5), "p99_ms": percentile(self.ages, 0.99),
                "n": len(self.ages)} if self.ages else {}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--instruments", type=int, default=10)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--n", type=int, default=2000, help="sequential requests per endpoint")
    ap.add_argument("--http-threads", type=int, default=4)
    ap.add_argument("--http-seconds", type=float, default=5.0)
    ap.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "cryptoterm-bench-api" / "store.db")
    ap.add_argument("--quick", action="store_true", help="a small run: 200k rows, 50 clients, 20 s")
    ap.add_argument("--client", choices=["http", "ws"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--stored", help=argparse.SUPPRESS)
    ap.add_argument("--streamed", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        args.phase = args.client
        client_main(args)
        return
    if args.quick:
        args.rows, args.clients, args.duration, args.n = 200_000, 50, 20.0, 300
        args.store = args.store.with_name("quick.db")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited: 1000 sockets per side
    args.store.parent.mkdir(parents=True, exist_ok=True)
    stored = ensure_store(args.store, args.rows)

    from app.sim.world import DemoWorld

    world = DemoWorld(seed=11, venues=["binance"], universe=args.instruments).start()
    home = Path(tempfile.mkdtemp(prefix="cryptoterm-bench-api-"))
    server = None
    try:
        write_config(home, world)
        spot = [s for s in world.symbols() if ":" not in s][: args.instruments]
        streamed = [f"cryptopair_binance_{s.replace('/', '').lower()}" for s in spot]
        port = free_port()
        env = dict(os.environ, CRYPTOTERM_HOME=str(home))
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--symbols", ",".join(spot), "--db", str(args.store),
             "--port", str(port)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        assert server.stderr is not None
        print(server.stderr.readline().strip(), file=sys.stderr)
        wait_ready(port, streamed)
        report: dict[str, Any] = {"rows": args.rows, "instruments": len(streamed), "cores": os.cpu_count()}
        watch = ProcWatch(server.pid).start()
        report["http"] = run_client("http", port, stored, streamed, args)
        report["http_server"] = watch.stop()
        watch = ProcWatch(server.pid).start()
        baseline = AgeSampler(port, streamed).start()
        report["ws"] = run_client("ws", port, stored, streamed, args)
        report["ws_server"] = watch.stop()
        report["book_age_at_engine"] = baseline.stop()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/api/v1/crypto/health")
        report["server_api_stats"] = orjson.loads(c.getresponse().read())["api"]
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        world.stop()
    print_report(report)


def print_report(r: dict[str, Any]) -> None:
    print(json.dumps(r, indent=1))
    print()
    for name, h in r["http"].items():
        print(f"REST {name:<20} p50 {h['p50_ms']:.2f} ms  p99 {h['p99_ms']:.2f} ms  "
              f"{h['requests_per_s']:,.0f} req/s  (store {r['rows']:,} rows)")
    w = r["ws"]
    print(f"WS   {w['connected']}/{w['clients']} clients x {r['instruments']} instruments (ticker+depth), "
          f"{w['seconds']:.0f} s: {w['msgs_per_s']:,.0f} msgs/s delivered; lag book p50 {w['book_p50_ms']} ms "
          f"p99 {w['book_p99_ms']} ms, ticker p50 {w['ticker_p50_ms']} ms p99 {w['ticker_p99_ms']} ms; "
          f"{w['closed']} closed")
    b = r.get("book_age_at_engine") or {}
    if b:
        print(f"     baseline: the engine's books are already p50 {b['p50_ms']:.0f} ms / p99 {b['p99_ms']:.0f} ms "
              "old (venue timestamp) when read over REST")
    s = r["ws_server"]
    print(f"     server CPU {s.get('cpu_pct', 0):.0f}% of one core, RSS {s.get('rss_mb_first', 0):.0f} -> "
          f"{s.get('rss_mb_last', 0):.0f} MB (max {s.get('rss_mb_max', 0):.0f})")
    for row in w["windows"]:
        print(f"     {row['window_s']:>8} s  {row['msgs_per_s']:>9,.0f} msgs/s  book p50/p99 "
              f"{row['book_p50_ms']}/{row['book_p99_ms']} ms  ticker p50/p99 {row['ticker_p50_ms']}/"
              f"{row['ticker_p99_ms']} ms")


if __name__ == "__main__":
    main()
