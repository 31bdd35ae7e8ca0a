"""Fault soak: cycle every fault kind against the four simulated venues for a few minutes
with production reconnect/resync settings, and report how recovery went.

Fault kinds: ``drop`` (every socket aborted), ``gap`` (one lost book update),
``rest_outage`` (REST answers 503 for a while, with a gap so a Binance book needs a REST
snapshot throughout), ``silence`` (book frames withheld on a live connection; a fresh
subscription cures it), ``dead_channel`` (withheld until a new connection) and ``flap``
(four drops two seconds apart). Recovery is the time from the fault (from the end of a
REST outage) until the book is synced again on a connected feed.

Reports recoveries, p50/p95/max recovery per kind and overall, whether every book equals
the simulator's truth at the end, REST requests per minute while REST was down, and the
process RSS at start and end (simulators included: they run in this process).

    nice python -m tests.bench.bench_faults [--minutes 4] [--outage 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import statistics
import sys
import time
from pathlib import Path

from app.feeds.connection import ConnectionSettings
from app.feeds.rest import RestClient
from app.sim.binance_server import BinanceSim
from app.sim.bybit_server import BybitSim
from app.sim.coinbase_server import CoinbaseSim
from app.sim.okx_server import OkxSim
from tests.functional import test_bybit_sim, test_coinbase_sim, test_feed_sim, test_okx_sim
from tests.sim_session import FeedSession

KINDS = ("drop", "gap", "rest_outage", "silence", "dead_channel", "flap")
RECOVERY_LIMIT = 30.0  # a recovery slower than this is counted as a failure


@dataclasses.dataclass
class Book:
    name: str
    session: FeedSession
    gap: object  # () -> None: lose one book update


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def production(feed) -> None:
    """The default settings a user runs with (the session fixtures use test timings)."""
    feed.settings = ConnectionSettings(control_msgs_per_sec=feed.settings.control_msgs_per_sec)


async def open_books() -> tuple[list, list[Book]]:
    binance = BinanceSim([test_feed_sim.SPOT, test_feed_sim.PERP], seed=21, rate=200, depth_interval_ms=100)
    okx = OkxSim([test_okx_sim.SPOT], seed=22, rate=200, depth_interval_ms=100)
    bybit = BybitSim([test_bybit_sim.SPOT], seed=23, rate=200, depth_interval_ms=100)
    coinbase = CoinbaseSim([test_coinbase_sim.BTC], seed=24, rate=200, l2_interval_ms=100)
    sims = [binance, okx, bybit, coinbase]
    for sim in sims:
        await sim.start()
    rest = RestClient(okx.rest_url)
    inst = await test_okx_sim.load_instrument(rest, test_okx_sim.OkxVenue("spot", []),
                                              test_okx_sim.SPOT.inst_id)
    books = [
        Book("binance spot", test_feed_sim.Session(binance, test_feed_sim.SPOT),
             lambda: binance.skip_sequence("BTCUSDT", "spot")),
        Book("binance perp", test_feed_sim.Session(binance, test_feed_sim.PERP),
             lambda: binance.skip_sequence("BTCUSDT", "perp")),
        Book("okx spot", test_okx_sim.Session(okx, test_okx_sim.SPOT, rest, inst),
             lambda: okx.skip_sequence(test_okx_sim.SPOT.inst_id)),
        Book("bybit spot", test_bybit_sim.Session(bybit, test_bybit_sim.SPOT),
             lambda: bybit.skip_sequence("BTCUSDT", "spot")),
        Book("coinbase spot", test_coinbase_sim.Session(coinbase, [test_coinbase_sim.BTC]),
             coinbase.skip_sequence),
    ]
    for b in books:
        production(b.session.feed)
        await b.session.feed.start()
    return sims, books


def healthy(book: Book) -> bool:
    s = book.session
    owner = s.feed._book_owner.get(s.inst.id)
    return s.synced() and owner is not None and owner.health.state == "connected"


async def until_healthy(book: Book, since: float) -> float | None:
    """Seconds from ``since`` until the book is synced on a connected feed (None: never)."""
    while not healthy(book):
        if time.monotonic() - since > RECOVERY_LIMIT:
            return None
        await asyncio.sleep(0.005)
    return time.monotonic() - since


def watch_loss(book: Book) -> tuple[list[float], object]:
    """Note when the book goes unsynced, so a recovery is never measured before the fault
    took effect. Returns (times lost, a function that removes the watch)."""
    lost: list[float] = []
    hub = book.session.hub
    touch = hub.touch

    def watch(inst_id: str, synced: bool) -> None:
        if not synced:
            lost.append(time.monotonic())
        touch(inst_id, synced)

    hub.touch = watch

    def unwatch() -> None:
        hub.touch = touch
    return lost, unwatch


async def measure(book: Book, fault, timeout: float = 20.0, since_end: bool = False) -> float | None:
    """Run ``fault`` (async), wait for the book to be lost, then for it to recover.
    Measured from the fault's start, or from its end with ``since_end`` (an outage)."""
    lost, unwatch = watch_loss(book)
    try:
        start = time.monotonic()
        await fault()
        if since_end:
            if lost and healthy(book):
                return -1.0  # recovered while it lasted: this book did not need what failed
            start = time.monotonic()
        give_up = time.monotonic() + timeout
        while not lost and time.monotonic() < give_up:
            await asyncio.sleep(0.005)
        if not lost:
            return -1.0  # the fault never reached this book (e.g. an empty lost update)
    finally:
        unwatch()
    return await until_healthy(book, start)


async def inject(kind: str, book: Book, sim, outage: float, shared: dict) -> tuple[list[float | None], float | None]:
    """Apply one fault to ``book`` (on a simulator it may share with another book) and
    measure its recoveries. Returns (recoveries, REST requests per minute while down)."""
    once = shared["once"]
    if kind == "drop":
        async def drop() -> None:
            await once(sim, sim.drop_connections)
        return [await measure(book, drop)], None
    if kind == "gap":
        async def gap() -> None:
            book.gap()
        return [await measure(book, gap, timeout=5.0)], None
    if kind == "rest_outage":
        before = sim.rest_requests
        per_min: list[float] = []

        async def outage_with_gap() -> None:
            await once(sim, lambda: sim.fail_rest(503, outage))
            book.gap()  # a Binance book now needs a REST snapshot for the whole outage
            await asyncio.sleep(outage)
            per_min.append((sim.rest_requests - before) / (outage / 60.0))
        took = await measure(book, outage_with_gap, since_end=True)
        return [took], per_min[0] if per_min else None
    if kind in ("silence", "dead_channel"):
        async def silence() -> None:
            await once(sim, lambda: sim.silence_books(sticky=kind == "dead_channel"))
        return [await measure(book, silence)], None
    if kind == "flap":
        out = []
        for step in range(4):
            start = time.monotonic()

            async def drop(step: int = step) -> None:
                await once(sim, sim.drop_connections, step)
            out.append(await measure(book, drop))
            await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - start)))
        return out, None
    raise ValueError(kind)


def once_per_sim():
    """Books on one simulator get its fault once per round (and step), not once each."""
    done: dict[int, set] = {}
    round_no = [0]

    async def once(sim, action, step: int = 0) -> None:
        stamps = done.setdefault(id(sim), set())
        if (round_no[0], step) not in stamps:
            stamps.add((round_no[0], step))
            action()
    return once, round_no


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"n": len(values), "p50": round(statistics.median(values), 3),
            "p95": round(pct(values, 0.95), 3), "max": round(max(values), 3)}


async def soak(minutes: float, outage: float, verbose: bool = False) -> dict:
    sims, books = await open_books()
    sim_of = {b.name: b.session.sim for b in books}
    sim_label: dict[int, str] = {}
    for b in books:
        sim_label.setdefault(id(b.session.sim), b.name.split()[0])
    try:
        for b in books:
            if await until_healthy(b, time.monotonic()) is None:
                raise SystemExit(f"{b.name}: never synced")
        await asyncio.sleep(2.0)  # watchdogs learn each channel's rate
        rss_start = rss_mb()
        once, round_no = once_per_sim()
        shared = {"once": once}
        recoveries: dict[str, list[float]] = {k: [] for k in KINDS}
        failures: dict[str, int] = {k: 0 for k in KINDS}
        unaffected: dict[str, int] = {k: 0 for k in KINDS}
        rest_rates: dict[str, list[float]] = {}
        deadline = time.monotonic() + minutes * 60
        rounds = 0
        while time.monotonic() < deadline:
            for kind in KINDS:
                if time.monotonic() >= deadline and kind != KINDS[0]:
                    break
                round_no[0] += 1
                results = await asyncio.gather(*(inject(kind, b, sim_of[b.name], outage, shared)
                                                 for b in books))
                for b, (times, per_min) in zip(books, results):
                    if verbose:
                        print(f"{kind:13} {b.name:14} {times}", file=sys.stderr, flush=True)
                    for t in times:
                        if t is not None and t < 0:
                            unaffected[kind] += 1  # the fault did not hold this book back
                            continue
                        if t is None:
                            failures[kind] += 1
                        else:
                            recoveries[kind].append(t)
                    if per_min is not None:  # per simulator: books on one share its REST
                        rest_rates.setdefault(sim_label[id(sim_of[b.name])], []).append(per_min)
                await asyncio.sleep(1.0)
            rounds += 1
        # the end: every book must equal the truth
        await asyncio.sleep(2.0)
        equal = {}
        for b in books:
            try:
                await b.session.assert_equals_truth(timeout=10.0)
                equal[b.name] = True
            except AssertionError as exc:
                equal[b.name] = f"no: {exc}"
        rss_end = rss_mb()
        everything = [t for ts in recoveries.values() for t in ts]
        gaps = {b.name: b.session.feed.stats.gaps for b in books}
        return {
            "minutes": minutes, "rounds": rounds, "outage_s": outage,
            "recoveries": len(everything), "failed_recoveries": sum(failures.values()),
            "recovery_s": summary(everything),
            "by_kind": {k: summary(v) | {"failed": failures[k], "unaffected": unaffected[k]}
                        for k, v in recoveries.items()},
            "books_equal_truth": equal,
            "rest_requests_per_min_during_outage": {k: round(statistics.mean(v), 1)
                                                    for k, v in rest_rates.items()},
            "gaps_counted": gaps,
            "rss_mb": {"start": round(rss_start, 1), "end": round(rss_end, 1)},
        }
    finally:
        for b in books:
            await b.session.close()
        for sim in sims:
            await sim.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--outage", type=float, default=20.0, help="seconds REST answers 503")
    ap.add_argument("--verbose", action="store_true", help="every recovery on stderr")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(asyncio.run(soak(args.minutes, args.outage, args.verbose)), indent=2))


if __name__ == "__main__":
    main()
