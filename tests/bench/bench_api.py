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
import socket
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


async def ws_phase(port: int, streamed: list[str], clients: int, duration: float,
                   start_at: float) -> dict[str, Any]:
    """``clients`` connections; measuring from the wall-clock time ``start_at`` (the same
    for every client process) for ``duration`` s. Returns per-window sparse histograms."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/api/v1/crypto/stream"
    windows: list[dict[str, Any]] = []

    def window(now: float) -> dict[str, Any] | None:
        k = int((now - start_at) / WINDOW_S)
        if now < start_at or now >= start_at + duration:
            return None
        while len(windows) <= k:
            windows.append({"msgs": 0, "book": {}, "ticker": {}})
        return windows[k]

    connected = 0
    subscribed = 0
    closed: list[str] = []
    # every client connects first and subscribes at the same moment, ten seconds before
    # the measuring starts: handshakes never queue behind the pushes to those already in
    subscribe_at = start_at - 10.0

    async def one() -> None:
        nonlocal connected, subscribed
        sock = socket.socket()
        # a reader that wants fresh books keeps its buffers small: the server's coalescing
        # then happens on the server, not in megabytes of old books in our kernel buffers
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            async with connect(url, sock=sock, compression=None, max_queue=4, open_timeout=120,
                               ping_interval=None) as ws:
                connected += 1
                await asyncio.sleep(max(0.0, subscribe_at - time.time()))
                for j, iid in enumerate(streamed):
                    await ws.send(orjson.dumps({"id": 2 * j, "method": "subscribe",
                                                "params": {"channel": "depth", "symbol": iid, "depth": 20}}).decode())
                    await ws.send(orjson.dumps({"id": 2 * j + 1, "method": "subscribe",
                                                "params": {"channel": "ticker", "symbol": iid}}).decode())
                subscribed += 1
                loads = orjson.loads
                clock = time.time
                async for raw in ws:
                    now = clock()
                    w = window(now)
                    if w is None:
                        if now >= start_at + duration:
                            return
                        continue
                    m = loads(raw)
                    kind = m.get("type")
                    if kind is None:
                        continue
                    w["msgs"] += 1
                    lag = min(max(int(now * 1000 - m["ts"]), 0), LAG_BINS - 1)
                    hist = w["book" if kind == "book" else "ticker"]
                    hist[lag] = hist.get(lag, 0) + 1
        except Exception as exc:  # counted: the bench reports closed connections
            closed.append(f"{type(exc).__name__}: {exc}"[:120])

    tasks = []
    for n in range(clients):
        tasks.append(asyncio.create_task(one()))
        if n % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.sleep(max(0.0, subscribe_at - time.time()))
    connected_at_subscribe = connected
    await asyncio.sleep(max(0.0, start_at + duration - time.time()))
    await asyncio.wait(tasks, timeout=20)
    return {"clients": clients, "connected": connected_at_subscribe, "closed": len(closed),
            "closed_why": sorted(set(closed))[:5], "windows": windows}


def percentile_of(hist: dict[int, int], q: float) -> int | None:
    total = sum(hist.values())
    if not total:
        return None
    acc = 0
    for ms in sorted(hist):
        acc += hist[ms]
        if acc >= q * total:
            return ms
    return max(hist)


def merge_ws(parts: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    n = int(duration // WINDOW_S)
    windows = [{"msgs": 0, "book": {}, "ticker": {}} for _ in range(n)]
    for part in parts:
        for k, w in enumerate(part["windows"][:n]):
            windows[k]["msgs"] += w["msgs"]
            for kind in ("book", "ticker"):
                for ms, c in w[kind].items():
                    windows[k][kind][int(ms)] = windows[k][kind].get(int(ms), 0) + c
    rows = [{"window_s": f"{i * WINDOW_S:.0f}-{(i + 1) * WINDOW_S:.0f}", "msgs_per_s": w["msgs"] / WINDOW_S,
             "book_p50_ms": percentile_of(w["book"], 0.5), "book_p99_ms": percentile_of(w["book"], 0.99),
             "ticker_p50_ms": percentile_of(w["ticker"], 0.5), "ticker_p99_ms": percentile_of(w["ticker"], 0.99)}
            for i, w in enumerate(windows)]
    total: dict[str, dict[int, int]] = {"book": {}, "ticker": {}}
    for w in windows:
        for kind in total:
            for ms, c in w[kind].items():
                total[kind][ms] = total[kind].get(ms, 0) + c
    return {"clients": sum(p["clients"] for p in parts), "connected": sum(p["connected"] for p in parts),
            "closed": sum(p["closed"] for p in parts),
            "closed_why": sorted({w for p in parts for w in p["closed_why"]})[:5], "seconds": n * WINDOW_S,
            "msgs_per_s": sum(w["msgs"] for w in windows) / (n * WINDOW_S) if n else 0,
            "book_p50_ms": percentile_of(total["book"], 0.5), "book_p99_ms": percentile_of(total["book"], 0.99),
            "ticker_p50_ms": percentile_of(total["ticker"], 0.5),
            "ticker_p99_ms": percentile_of(total["ticker"], 0.99), "windows": rows}


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
        result = asyncio.run(ws_phase(args.port, streamed, args.clients, args.duration, args.start_at))
    print(json.dumps(result))


def client_cmd(phase: str, port: int, stored: list[str], streamed: list[str],
               args: argparse.Namespace, clients: int = 0, start_at: float = 0.0) -> list[str]:
    return [sys.executable, "-m", "tests.bench.bench_api", "--client", phase, "--port", str(port),
            "--stored", ",".join(stored), "--streamed", ",".join(streamed), "--n", str(args.n),
            "--http-threads", str(args.http_threads), "--http-seconds", str(args.http_seconds),
            "--clients", str(clients), "--duration", str(args.duration), "--start-at", str(start_at)]


def collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"client failed: {err[-2000:]}")
    return dict(json.loads(out.strip().splitlines()[-1]))


def run_http_client(port: int, stored: list[str], streamed: list[str], args: argparse.Namespace) -> dict[str, Any]:
    return collect(subprocess.Popen(client_cmd("http", port, stored, streamed, args), cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))


def run_ws_clients(port: int, streamed: list[str], args: argparse.Namespace,
                   on_start: Any, on_end: Any) -> dict[str, Any]:
    """``--client-procs`` processes share the clients; all measure the same window, which
    opens once every client had time to connect and take its first books."""
    start_at = time.time() + 25.0 + args.clients / 25
    procs = []
    for k in range(args.client_procs):
        share = args.clients // args.client_procs + (k < args.clients % args.client_procs)
        procs.append(subprocess.Popen(client_cmd("ws", port, [], streamed, args, share, start_at),
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    time.sleep(max(0.0, start_at - time.time()))
    on_start()
    time.sleep(max(0.0, start_at + args.duration - time.time()))
    on_end()
    return merge_ws([collect(p) for p in procs], args.duration)


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
        self.latencies: list[float] = []  # of these requests, while the stream runs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        n = 0
        while not self._stop.wait(0.1):
            t = time.perf_counter()
            c.request("GET", f"/api/v1/crypto/orderbook?symbol={self.ids[n % len(self.ids)]}&depth=1")
            r = c.getresponse()
            body = r.read()
            self.latencies.append((time.perf_counter() - t) * 1000)
            if r.status == 200:
                self.ages.append(time.time() * 1000 - orjson.loads(body)["ts"])
            n += 1

    def start(self) -> "AgeSampler":
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        if not self.ages:
            return {}
        return {"p50_ms": percentile(self.ages, 0.5), "p99_ms": percentile(self.ages, 0.99),
                "n": len(self.ages), "rest_p50_ms": percentile(self.latencies, 0.5),
                "rest_p99_ms": percentile(self.latencies, 0.99)}


def server_delivered(port: int) -> int:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("GET", "/api/v1/crypto/health")
    n = int(orjson.loads(c.getresponse().read())["api"]["delivered"])
    c.close()
    return n


def free_port() -> int:
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
    ap.add_argument("--client-procs", type=int, default=2, help="processes the stream clients share")
    ap.add_argument("--store", type=Path, default=Path(tempfile.gettempdir()) / "cryptoterm-bench-api" / "store.db")
    ap.add_argument("--quick", action="store_true", help="a small run: 200k rows, 50 clients, 20 s")
    ap.add_argument("--client", choices=["http", "ws"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--stored", help=argparse.SUPPRESS)
    ap.add_argument("--streamed", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
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
        report["http"] = run_http_client(port, stored, streamed, args)
        report["http_server"] = watch.stop()
        watch = ProcWatch(server.pid)
        baseline = AgeSampler(port, streamed)
        counts: dict[str, tuple[int, float]] = {}

        def count(name: str) -> None:  # in a thread: a busy server must not shift the window
            at = time.monotonic()
            try:
                counts[name] = (server_delivered(port), at)
            except OSError:
                pass

        def measuring() -> None:
            watch.start()
            baseline.start()
            threading.Thread(target=count, args=("start",), daemon=True).start()

        def measured() -> None:
            threading.Thread(target=count, args=("end",), daemon=True).start()
            report["ws_server"] = watch.stop()
            report["book_age_at_engine"] = baseline.stop()

        report["ws"] = run_ws_clients(port, streamed, args, measuring, measured)
        time.sleep(1.0)
        if "start" in counts and "end" in counts:
            report["ws"]["server_delivered_per_s"] = (counts["end"][0] - counts["start"][0]) / (
                counts["end"][1] - counts["start"][1])
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
          f"{w['seconds']:.0f} s: {w['msgs_per_s']:,.0f} msgs/s received "
          f"({w.get('server_delivered_per_s', 0):,.0f}/s sent by the server); lag book p50 {w['book_p50_ms']} ms "
          f"p99 {w['book_p99_ms']} ms, ticker p50 {w['ticker_p50_ms']} ms p99 {w['ticker_p99_ms']} ms; "
          f"{w['closed']} closed")
    b = r.get("book_age_at_engine") or {}
    if b:
        print(f"     baseline: the engine's books are already p50 {b['p50_ms']:.0f} ms / p99 {b['p99_ms']:.0f} ms "
              "old (venue timestamp) when read over REST; that REST read meanwhile took p50 "
              f"{b['rest_p50_ms']:.1f} ms / p99 {b['rest_p99_ms']:.1f} ms")
    s = r["ws_server"]
    print(f"     server CPU {s.get('cpu_pct', 0):.0f}% of one core, RSS {s.get('rss_mb_first', 0):.0f} -> "
          f"{s.get('rss_mb_last', 0):.0f} MB (max {s.get('rss_mb_max', 0):.0f})")
    for row in w["windows"]:
        print(f"     {row['window_s']:>8} s  {row['msgs_per_s']:>9,.0f} msgs/s  book p50/p99 "
              f"{row['book_p50_ms']}/{row['book_p99_ms']} ms  ticker p50/p99 {row['ticker_p50_ms']}/"
              f"{row['ticker_p99_ms']} ms")


if __name__ == "__main__":
    main()
