"""The headless recorder at the issue's scale: 4 venues x 25 symbols from the simulator
(``DemoWorld(universe=25)``: 25 spot pairs and 12 USDT perps on Binance, OKX and Bybit,
25 USD pairs on Coinbase) for 10 minutes, ``cryptoterm record --store`` into SQLite.

Each venue's simulator runs in a process of its own (one interpreter lock each, so a
busy venue does not starve the others), and so does the recorder, measured from the
outside: CPU and RSS from /proc each minute, messages, rows and lags from its Prometheus
endpoint. Reported: rows/s, CPU per 1k msgs/s, RSS per minute (must stay flat), 1m kline
completeness (every minute between an instrument's first and last stored candle must be
there: 100%), trade lag exchange time -> row committed, p50/p99 (target < 5 s).

    python -m tests.bench.bench_recorder [--minutes 10] [--sample 60] [--universe 25]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from app.sim.world import SIMULATORS

ROOT = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# one venue's simulator: prints its endpoints as JSON, then answers each "drift" line on
# stdin with how many seconds its model clock is behind the wall clock
_SIM = """
import json, logging, os, sys, time
from app.sim.world import SIMULATORS, DemoWorld
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
venue, universe, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
os.nice(int(sys.argv[4]))
world = DemoWorld(seed=7, rate=rate, universe=universe, venues=[venue]).start()
thread = world.threads[venue]
print(json.dumps({"venue": venue, "keys": list(SIMULATORS[venue][3]), "ws": thread.ws_url,
                  "rest": thread.rest_url, "symbols": world.symbols()}), flush=True)
for line in sys.stdin:
    now_ms = thread.call(lambda: thread.sim.market.now_ms)
    print(time.time() - now_ms / 1000, flush=True)
world.stop()
"""


class Sims:
    """The four simulators, each in its own process; ``nice`` > 0 lets them take only the
    CPU the process under test leaves, as a remote venue takes none of it."""

    def __init__(self, universe: int, rate: float, nice: int = 0) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.procs = [subprocess.Popen([sys.executable, "-c", _SIM, v, str(universe), str(rate),
                                        str(nice)],
                                       cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
                      for v in SIMULATORS]
        self.info = [json.loads(p.stdout.readline()) for p in self.procs]  # type: ignore[union-attr]

    def venues(self) -> list[str]:
        return [i["venue"] for i in self.info]

    def symbols(self) -> list[str]:
        return self.info[0]["symbols"]  # the universe lists the same assets everywhere

    def config(self, path: Path) -> None:
        lines = []
        for i in self.info:
            for key in i["keys"]:
                lines += [f"[venues.{key}.live]", f'ws_url = "{i["ws"]}"', f'rest_url = "{i["rest"]}"', ""]
        path.write_text("\n".join(lines))

    def record_command(self, data_dir: str, db_path: Path) -> list[str]:
        """``cryptoterm record --store`` of every venue and symbol here into ``db_path``
        (writes the config that points the venues at these simulators into ``data_dir``)."""
        cfg = Path(data_dir) / "venues.toml"
        self.config(cfg)
        return [sys.executable, "-m", "app.cli", "--config", str(cfg), "--data-dir", data_dir, "record",
                "--store", "--db", str(db_path), "--venues", ",".join(self.venues()),
                "--symbols", ",".join(self.symbols()), "--quiet"]

    def drift(self) -> float:
        """Seconds the slowest simulator's model clock is behind the wall clock. A starved
        simulator stamps its events late, which reads as lag the recorder did not cause."""
        behind = 0.0
        for p in self.procs:
            p.stdin.write("drift\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
            behind = max(behind, float(p.stdout.readline()))  # type: ignore[union-attr]
        return behind

    def stop(self) -> None:
        for p in self.procs:
            p.stdin.close()  # type: ignore[union-attr]
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def _proc(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    return cpu, _status(pid)["VmRSS"]


def _status(pid: int) -> dict[str, float]:
    """The kB lines of /proc/PID/status, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            out[name] = int(value.split()[0]) / 1024
    return out


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _total(samples, name: str) -> float:
    return sum(v for _, v in samples.get(name, []))


def _quantile(samples, name: str, q: float) -> float | None:
    """A quantile from a histogram's buckets summed over its labels, interpolated
    linearly inside the bucket (as PromQL's histogram_quantile does)."""
    buckets: dict[float, float] = {}
    for labels, v in samples.get(f"{name}_bucket", []):
        le = float(labels["le"])
        buckets[le] = buckets.get(le, 0.0) + v
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= rank:
            if b == float("inf"):
                return lower
            return lower + (b - lower) * (rank - below) / max(buckets[b] - below, 1e-9)
        lower, below = b, buckets[b]
    return None


def _completeness(db_path: Path) -> tuple[int, int, int, list[str]]:
    """(instruments, candles present, candles expected, worst instruments) over each
    instrument's first..last stored 1m candle."""
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT i.id, MIN(k.open_time), MAX(k.open_time), COUNT(*) FROM klines k "
                       "JOIN instruments i ON i.key = k.inst WHERE k.interval = '1m' "
                       "GROUP BY i.id").fetchall()
    con.close()
    present = expected = 0
    worst = []
    for inst, first, last, n in rows:
        want = (last - first) // 60_000 + 1
        present += n
        expected += want
        if n < want:
            worst.append(f"{inst} {n}/{want}")
    return len(rows), present, expected, worst


def main() -> int:
    # the simulators' sockets to a recorder that is gone: asyncio says so once per frame
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sample", type=float, default=60.0, help="seconds between samples (default 60)")
    ap.add_argument("--universe", type=int, default=25)
    ap.add_argument("--rate", type=float, default=40.0, help="sim events/s per symbol (default 40)")
    args = ap.parse_args()
    world = Sims(args.universe, args.rate)
    ok = True
    try:
        # kept when the recorder fails: its stderr and log are the evidence
        tmp = tempfile.mkdtemp(prefix="bench-rec-")
        db_path = Path(tmp) / "rec.db"
        port = _free_port()
        symbols = world.symbols()
        proc = subprocess.Popen(
            world.record_command(tmp, db_path) + ["--metrics-port", str(port)],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=open(Path(tmp) / "stdout.txt", "w"), stderr=open(Path(tmp) / "stderr.txt", "w"))
        print(f"recording {len(symbols)} symbols on {', '.join(world.venues())} for "
              f"{args.minutes:g} min (sim rate {args.rate:g}/s per symbol); pid {proc.pid}")
        _wait_for_rows(port, proc)
        start = time.monotonic()
        last_t, (last_cpu, rss) = start, _proc(proc.pid)
        last = _scrape(port)
        print(f"{'min':>5} {'msgs/s':>8} {'rows/s':>8} {'CPU %':>6} {'CPU%/1k msg/s':>14} "
              f"{'RSS MB':>7} {'anon MB':>8} {'py blocks':>10} {'backlog':>8} {'sim behind s':>13}")
        rss_series = []
        drifts: list[float] = []
        blocks_series: list[float] = []
        totals_msgs = totals_rows = 0.0
        cpu_total = 0.0
        end = start + args.minutes * 60
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(min(args.sample, max(0.0, end - time.monotonic())))
            if proc.poll() is not None:
                break
            now = time.monotonic()
            cpu, rss = _proc(proc.pid)
            cur = _scrape(port)
            span = now - last_t
            msgs = (_total(cur, "cryptoterm_messages_received_total")
                    - _total(last, "cryptoterm_messages_received_total")) / span
            rows = (_total(cur, "cryptoterm_rows_written_total")
                    - _total(last, "cryptoterm_rows_written_total")) / span
            cpu_pct = 100 * (cpu - last_cpu) / span
            per_k = cpu_pct / (msgs / 1000) if msgs else float("nan")
            backlog = _total(cur, "cryptoterm_recorder_backlog")
            behind = world.drift()
            blocks = _total(cur, "cryptoterm_python_allocated_blocks")
            blocks_series.append(blocks / 1000)
            drifts.append(behind)
            print(f"{(now - start) / 60:5.1f} {msgs:8,.0f} {rows:8,.0f} {cpu_pct:6.1f} {per_k:14.1f} "
                  f"{rss:7.1f} {_status(proc.pid)['RssAnon']:8.1f} {blocks:10,.0f} {backlog:8,.0f} {behind:13.2f}", flush=True)
            rss_series.append(rss)
            totals_msgs += msgs * span
            totals_rows += rows * span
            cpu_total += cpu - last_cpu
            last_t, last_cpu, last = now, cpu, cur
        elapsed = time.monotonic() - start
        if proc.poll() is not None:
            err = (Path(tmp) / "stderr.txt").read_text()
            raise SystemExit(f"the recorder died after {elapsed / 60:.1f} min (exit {proc.returncode}); "
                             f"its stderr and log are in {tmp}:\n{err[-2000:]}")
        final = _scrape(port)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        if proc.returncode != 0:
            err = (Path(tmp) / "stderr.txt").read_text()
            print(f"recorder exited {proc.returncode} (files in {tmp}): {err[-500:]}")
            ok = False
        n_inst, present, expected, worst = _completeness(db_path)
        p50 = _quantile(final, "cryptoterm_trade_commit_lag_seconds", 0.5)
        p99 = _quantile(final, "cryptoterm_trade_commit_lag_seconds", 0.99)
        a50 = _quantile(final, "cryptoterm_message_lag_seconds", 0.5)
        a99 = _quantile(final, "cryptoterm_message_lag_seconds", 0.99)
        dropped = _total(final, "cryptoterm_rows_dropped_total")
        gaps = _total(final, "cryptoterm_gaps_total")
        reconnects = _total(final, "cryptoterm_reconnects_total")
        # MB per minute, leaving out the first sample (books and caches filling)
        slope = _slope(rss_series[1:]) * 60 / args.sample if len(rss_series) > 2 else 0.0
        complete = 100.0 * present / expected if expected else 0.0
        msgs_s = totals_msgs / elapsed
        print(f"\nrows/s {totals_rows / elapsed:,.0f}   msgs/s {msgs_s:,.0f}   "
              f"CPU {100 * cpu_total / elapsed:.1f}% of a core = "
              f"{100 * cpu_total / elapsed / (msgs_s / 1000):.1f}% per 1k msgs/s")
        print(f"RSS {rss_series[0]:.0f} -> {rss_series[-1]:.0f} MB, trend after the first sample "
              f"{slope:+.2f} MB/min")
        # the second half: caches are full by then, so growth there is what a week would see
        half = rss_series[len(rss_series) // 2:]
        late = slope
        if len(half) > 2:
            late = _slope(half) * 60 / args.sample
            print(f"RSS over the second half {half[0]:.0f} -> {half[-1]:.0f} MB, trend {late:+.2f} MB/min "
                  f"[{'flat' if abs(late) < 1 else 'GROWING'}: < 1 MB/min]")
        if len(blocks_series) > 2:
            per_min = _slope(blocks_series[1:]) * 60 / args.sample
            print(f"Python heap {blocks_series[0]:,.0f}k -> {blocks_series[-1]:,.0f}k blocks, "
                  f"trend {per_min:+,.1f}k blocks/min (RSS also holds SQLite's page cache, "
                  "which fills up to its cap per connection as the file grows)")
        size = sum(f.stat().st_size for f in db_path.parent.glob(db_path.name + "*")) / 2**20
        print(f"database {size:,.0f} MiB after the run")
        print(f"1m kline completeness {complete:.2f}% ({present:,}/{expected:,} candles, "
              f"{n_inst} instruments)" + (f"; short: {', '.join(worst[:5])}" if worst else ""))
        print(f"trade lag venue time -> committed: p50 {_ms(p50)}, p99 {_ms(p99)} "
              f"[{'ok' if p99 is not None and p99 < 5 else 'OVER TARGET'}: < 5 s]; "
              f"-> arrival: p50 {_ms(a50)}, p99 {_ms(a99)}")
        if p50 is not None and a50 is not None:
            print(f"the recorder's own part (commit lag - arrival lag): p50 {_ms(p50 - a50)}"
                  + ("" if p99 is None or a99 is None else f", p99 {_ms(p99 - a99)}"))
        if drifts and max(drifts) > 0.5:
            print(f"NOTE: the simulators' clocks fell up to {max(drifts):.1f} s behind the wall "
                  "clock (starved of CPU): the lags above include that")
        print(f"dropped {dropped:,.0f}, book gaps {gaps:,.0f}, reconnects {reconnects:,.0f}; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        ok &= complete == 100.0 and p99 is not None and p99 < 5 and abs(late) < 1
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        world.stop()
    return 0 if ok else 1


def _wait_for_rows(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the recorder answers on its metrics port and has written rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if _total(_scrape(port), "cryptoterm_rows_written_total") > 0:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the recorder did not start writing in {timeout:.0f} s")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _slope(values: list[float]) -> float:
    """Least-squares slope per sample."""
    n = len(values)
    mx = (n - 1) / 2
    my = sum(values) / n
    den = sum((i - mx) ** 2 for i in range(n))
    return sum((i - mx) * (v - my) for i, v in enumerate(values)) / den if den else 0.0


if __name__ == "__main__":
    sys.exit(main())
