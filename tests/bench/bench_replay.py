"""Per venue: decode + book apply through `cryptoterm replay --emit stats` against a bare
orjson parse of the same capture lines (the line wrapper and the payload inside it).

The capture is recorded live from the simulators (``--seconds`` at ``--rate`` events/s
per symbol), then replayed in-process with the same Replayer the command uses.
Budget: >= 0.5 for Binance depth diffs; the other venues are reported.
``--okx-zero-checksum`` records OKX as production sends it since 2026-06 (``checksum: 0``
on every books push); the simulator's default is the legacy CRC32 checksum.

    python -m tests.bench.bench_replay [--seconds 20] [--rate 400] [--repeat 3]
                                       [--venues okx,binance] [--okx-zero-checksum]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from app.feeds.replay import Replayer


# the channel as it appears inside a capture line's escaped ``data`` string
_OKX_BOOKS = b'"channel\\":\\"books'


def record(path: Path, seconds: float, rate: float, venues: list[str] | None = None,
           okx_zero_checksum: bool = False) -> None:
    from app.config import load_config
    from app.feeds.capture import CaptureWriter
    from app.feeds.engine import Engine
    from app.sim.world import DemoWorld

    cfg = load_config(None, Path(tempfile.mkdtemp(prefix="ct-bench-")))
    with DemoWorld(seed=5, rate=rate, depth_interval_ms=100, venues=venues) as world:
        world.configure(cfg)
        if okx_zero_checksum and "okx" in world.threads:
            # before the engine subscribes: the snapshot itself must carry checksum 0
            world.threads["okx"].set_zero_checksum(True)
        capture = CaptureWriter(path)
        engine = Engine(cfg, world.symbols(), capture=capture, venues=world.venues())
        engine.start()
        time.sleep(seconds)
        engine.stop()
        capture.close()


def bench(lines: list[bytes], repeat: int) -> tuple[float, float, dict]:
    loads = orjson.loads
    ours, bare = [], []
    stats = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        for line in lines:
            loads(loads(line)["data"])
        bare.append(time.perf_counter() - t0)
        rep = Replayer()
        t0 = time.perf_counter()
        rep.feed_lines(lines)
        ours.append(time.perf_counter() - t0)
        stats = rep.finish().as_dict()
    return statistics.median(bare), statistics.median(ours), stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--capture", help="use this capture instead of recording one")
    ap.add_argument("--venues", help="comma-separated venues to record (default: all)")
    ap.add_argument("--okx-zero-checksum", action="store_true",
                    help="record OKX with checksum 0 on every books push (production)")
    args = ap.parse_args()
    path = Path(args.capture) if args.capture else Path(tempfile.mkdtemp()) / "bench.jsonl"
    if not args.capture:
        record(path, args.seconds, args.rate, args.venues.split(",") if args.venues else None,
               args.okx_zero_checksum)
    lines = path.read_bytes().splitlines()
    by_venue: dict[str, list[bytes]] = {}
    for line in lines:
        by_venue.setdefault(orjson.loads(line)["venue"], []).append(line)
    print(f"capture: {len(lines):,} lines, {path.stat().st_size / 1e6:.1f} MB")
    for venue, vlines in sorted(by_venue.items()):
        t_bare, t_ours, stats = bench(vlines, args.repeat)
        ws = stats["messages"]
        print(f"{venue:9s} {len(vlines):>8,} lines  bare {len(vlines) / t_bare:>9,.0f}/s  "
              f"replay {len(vlines) / t_ours:>9,.0f}/s  ratio {t_bare / t_ours:.2f}  "
              f"(frames {ws:,}, events {stats['events']:,}, gaps {stats['gaps']}, "
              f"malformed {stats['malformed']})")
    # the book path alone (plus the REST lines that carry instrument metadata)
    only_depth = [ln for ln in by_venue.get("binance", []) if b"depthUpdate" in ln or b'"rest"' in ln]
    if only_depth:
        t_bare, t_ours, _ = bench(only_depth, args.repeat)
        print(f"binance depth diffs only: ratio {t_bare / t_ours:.2f} (budget >= 0.5)")
    only_books = [ln for ln in by_venue.get("okx", []) if _OKX_BOOKS in ln or b'"rest"' in ln]
    if only_books:
        t_bare, t_ours, _ = bench(only_books, args.repeat)
        print(f"okx books pushes only: ratio {t_bare / t_ours:.2f}")


if __name__ == "__main__":
    main()
