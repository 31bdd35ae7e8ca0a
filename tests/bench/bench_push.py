"""Push latency: a fill on the venue -> the fill in the blotter, per venue.

Each venue's local fake (its REST API and its private stream over real loopback
websockets, real signatures) runs on its own thread and loop; the app runs headless
(``App.run_test``) with the engine on the demo simulator and the trading service on the
venue's testnet/demo account. For every sample a resting limit order is placed (not
timed), then the fake's matching engine fills it: the clock starts just before the
fill is scheduled on the fake's loop and stops when the blotter's fills table has the
new row. That covers the push on the wire, decode, the account's snapshot, the view
publish and the UI's next frame (10 fps: up to 100 ms of it is the frame timer).

    python -m tests.bench.bench_push [--fills 100] [--venues binance,okx,bybit]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.config import Endpoint, load_config
from app.feeds.connection import ConnectionSettings
from app.feeds.engine import Engine
from app.sim.binance_server import BinanceSimThread
from app.sim.market import default_demo_symbols
from app.trading.keys import KeyStore
from app.trading.models import OrderRequest
from app.trading.service import TradingOptions, TradingService

D = Decimal
BTC = "cryptopair_binance_btcusdt"


@dataclass
class Kit:
    """One venue's fake and how to fill an order on it."""

    account: str
    instrument: str
    start: Callable[[], Any]  # -> a running fake thread with .url, .call, .stop
    keys: tuple[str, str, str, str, str | None]  # venue, env, key, secret, passphrase
    fill: Callable[[Any, str], None]  # (fake thread, client order id): fill it on its loop


def _binance_kit() -> Kit:
    from tests.fake_binance_testnet import API_KEY, SECRET, FakeTestnetThread

    def fill(fake: Any, cid: str) -> None:
        server = fake.server
        fake.call(lambda: server.fill(server.order_by_client_id(cid)["orderId"]))

    return Kit("binance-testnet", BTC, lambda: FakeTestnetThread().start(),
               ("binance", "testnet", API_KEY, SECRET, None), fill)


class _Threaded:
    """An asyncio fake on its own thread and loop (like the venue: another process)."""

    def __init__(self, server: Any) -> None:
        import threading

        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> _Threaded:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return str(self.server.url)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self._loop.call_soon_threadsafe(fn, *args)


def _okx_kit() -> Kit:
    from tests import fake_okx_demo as okx

    def fill(fake: Any, cid: str) -> None:
        server = fake.server
        fake.call(lambda: server.fill(server.by_client_id(cid)["ordId"]))

    return Kit("okx-demo", "cryptopair_okx_btcusdt", lambda: _Threaded(okx.FakeOkxDemo()).start(),
               ("okx", "demo", okx.API_KEY, okx.SECRET, okx.PASSPHRASE), fill)


def _bybit_kit() -> Kit:
    from tests import fake_bybit_testnet as bybit

    def fill(fake: Any, cid: str) -> None:
        server = fake.server
        fake.call(lambda: server.fill(server.by_link_id(cid)["orderId"]))

    return Kit("bybit-testnet", "cryptopair_bybit_btcusdt",
               lambda: _Threaded(bybit.FakeBybitTestnet()).start(),
               ("bybit", "testnet", bybit.API_KEY, bybit.SECRET, None), fill)


KITS: dict[str, Callable[[], Kit]] = {"binance": _binance_kit, "okx": _okx_kit,
                                      "bybit": _bybit_kit}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _measure(app: Any, service: TradingService, kit: Kit, fake: Any, n: int,
                   price: Decimal, engine: list[float]) -> list[float]:
    """Milliseconds from each fill to its row in the blotter; ``engine`` gets the part up
    to the service's view having it (the rest is the UI's)."""
    from textual.widgets import DataTable

    out: list[float] = []
    async with app.run_test(size=(160, 45)) as pilot:
        deadline = time.monotonic() + 30
        while not (service.view().ready and app.screen.query("#bl-fills-table")):
            if time.monotonic() > deadline:
                raise SystemExit(f"{kit.account}: the app never showed the blotter "
                                 f"({service.view().problem})")
            await pilot.pause(0.05)
        table = app.screen.query_one("#bl-fills-table", DataTable)
        while not getattr(service.account, "streaming", False):
            await pilot.pause(0.05)
        for _ in range(n):
            req = OrderRequest(kit.instrument, "buy", "limit", D("0.001"), price)
            await asyncio.wrap_future(service.place(req))
            await pilot.pause(0.05)
            rows = table.row_count
            fills = len(service.view().fills)
            engine_ms = None
            t0 = time.perf_counter()
            kit.fill(fake, req.client_order_id)
            while table.row_count == rows:
                await asyncio.sleep(0.0005)
                if engine_ms is None and len(service.view().fills) != fills:
                    engine_ms = (time.perf_counter() - t0) * 1000
                if time.perf_counter() - t0 > 5:
                    raise SystemExit(f"{kit.account}: a fill never reached the blotter")
            out.append((time.perf_counter() - t0) * 1000)
            engine.append(engine_ms if engine_ms is not None else out[-1])
    return out


def bench_venue(name: str, n: int, engine_ms: list[float]) -> list[float]:
    from app.ui.app import CryptotermApp

    kit = KITS[name]()
    fake = kit.start()
    sim = BinanceSimThread(default_demo_symbols(), seed=7, rate=40.0).start()
    venue, env, key, secret, passphrase = kit.keys
    KeyStore(environ={}).set(venue, env, key, secret, passphrase)
    cfg = load_config()
    for k in ("binance", "binanceusdm"):
        cfg.set_endpoint(k, "live", Endpoint(sim.ws_url, sim.rest_url))
    engine = Engine(cfg, ["BTC/USDT"], settings=ConnectionSettings(backoff_base=0.05))
    service = TradingService(TradingOptions(account=kit.account, rest_url=fake.url,
                                            timeout_ms=5000))
    engine.attach(service)
    engine.start()
    try:
        app = CryptotermApp(engine, BTC, mode_label="DEMO")
        return asyncio.run(_measure(app, service, kit, fake, n, D("20000"), engine_ms))
    finally:
        engine.stop()
        sim.stop()
        fake.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fills", type=int, default=100)
    ap.add_argument("--venues", default=",".join(KITS))
    args = ap.parse_args()
    import keyring

    from tests.memory_keyring import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())  # the bench's keys never reach the real keyring
    print(f"fill on the venue -> row in the blotter, {args.fills} fills per venue (ms)")
    for name in args.venues.split(","):
        engine: list[float] = []
        ms = bench_venue(name, args.fills, engine)
        print(f"  {name:10s} p50 {statistics.median(ms):6.1f}  p99 {pct(ms, 0.99):6.1f}  "
              f"max {max(ms):6.1f}  (budget 200)   of which to the service's view: "
              f"p50 {statistics.median(engine):5.1f}  p99 {pct(engine, 0.99):5.1f}")


if __name__ == "__main__":
    main()
