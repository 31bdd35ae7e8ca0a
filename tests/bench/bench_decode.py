"""Decode + book apply of Binance depth-diff frames vs bare ``orjson.loads``.

Frames come from the simulator's market model (combined-stream text frames, as the
feed receives them). Budget: our rate >= 0.5x orjson's. The final book is checked
against the simulator's truth, so a fast-but-wrong path cannot pass.

    python -m tests.bench.bench_decode [--frames 200000] [--events-per-frame 8]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import orjson

from app.market.instruments import Instrument
from app.sim.binance_wire import depth_update
from app.sim.market import SimMarket, SimSymbol
from app.venues.base import SYNCED, BookSnapshot
from app.venues.binance import BinanceVenue

SPEC = SimSymbol("BTCUSDT", "BTC", "USDT", "spot", 97_000.0, 0.01, 0.00001)


def make_frames(n: int, events_per_frame: int, seed: int = 5) -> tuple[list[str], SimMarket, dict]:
    market = SimMarket([SPEC], seed=seed, levels=1000)
    sim = market.sim("BTCUSDT", "spot")
    market.take_diff("BTCUSDT", "spot")
    snapshot = market.snapshot("BTCUSDT", 5000, "spot")
    frames = []
    while len(frames) < n:
        market.advance(100)
        for _ in range(events_per_frame):
            market.step("BTCUSDT", "spot")
        diff = market.take_diff("BTCUSDT", "spot")
        if diff is None:
            continue
        payload = {"stream": "btcusdt@depth@100ms", "data": depth_update(sim, diff, market.now_ms)}
        frames.append(orjson.dumps(payload).decode())
    return frames, market, snapshot


def run(frames: list[str], snapshot: dict) -> tuple[float, object]:
    inst = Instrument("binance", "spot", "BTC", "USDT", "BTCUSDT")
    venue = BinanceVenue("spot", [inst])
    sync = venue.new_book_sync(inst)
    assert sync.on_snapshot(BookSnapshot(snapshot["lastUpdateId"], snapshot["bids"], snapshot["asks"])) == SYNCED
    decode, on_diff = venue.decode, sync.on_diff
    start = time.perf_counter()
    for f in frames:
        on_diff(decode(f))
    return time.perf_counter() - start, sync


def bare(frames: list[str]) -> float:
    loads = orjson.loads
    start = time.perf_counter()
    for f in frames:
        loads(f)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--events-per-frame", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    frames, market, snapshot = make_frames(args.frames, args.events_per_frame)
    levels = sum(f.count("],[") + 2 for f in frames) / len(frames)  # rough levels per frame
    print(f"generated {len(frames)} frames (~{levels:.1f} levels each, "
          f"{sum(map(len, frames)) / len(frames):.0f} bytes) in {time.perf_counter() - t0:.1f}s")
    gc.collect()
    ratios, ours, theirs = [], [], []
    for _ in range(args.repeat):
        t_json = bare(frames)
        t_ours, sync = run(frames, snapshot)
        ratios.append(t_json / t_ours)
        ours.append(len(frames) / t_ours)
        theirs.append(len(frames) / t_json)
    last_id, bids, asks = market.truth("BTCUSDT", "spot")
    got_bids, got_asks = sync.book.side_dicts()
    assert sync.last_id == last_id and got_bids == bids and got_asks == asks, "book != truth"
    print(f"orjson.loads:        {statistics.median(theirs):>10,.0f} frames/s")
    print(f"decode + book apply: {statistics.median(ours):>10,.0f} frames/s")
    print(f"ratio (median of {args.repeat}): {statistics.median(ratios):.3f}  "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}; budget >= 0.5)  book == truth: yes")


if __name__ == "__main__":
    main()
