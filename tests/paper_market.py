"""A TradingService on the paper account over a real MarketHub with hand-set books: no
sockets, the market moved by the test (trades and books), the clock injected."""

from __future__ import annotations

from decimal import Decimal

from app.feeds.hub import MarketHub
from app.market.events import Trade
from app.market.instruments import Instrument
from app.trading.risk import RiskLimits
from app.trading.service import TradingOptions, TradingService

BTC = "cryptopair_binance_btcusdt"
PERP = "cryptoperp_binance_btcusdt"
INSTRUMENTS = {BTC: Instrument("binance", "spot", "btc", "usdt", "BTCUSDT", 0.01, 0.0001),
               PERP: Instrument("binance", "perp", "btc", "usdt", "BTCUSDT", 0.1, 0.001)}


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def set_book(service: TradingService, iid: str, bids: list[tuple[float, float]],
             asks: list[tuple[float, float]]) -> None:
    with service.hub.lock:
        st = service.hub.state(iid)
        st.book.load_snapshot(bids, asks)
        st.synced = True


def trade(service: TradingService, iid: str, price: float, amount: float = 0.1) -> None:
    """A print on the tape, as the engine delivers it: hub first, then its listeners."""
    ev = Trade(iid, service.clock(), price, amount, "buy")
    with service.hub.lock:
        service.hub.on_event(ev)
        service._on_event(ev)


def paper_service(limits: RiskLimits | None = None, clock: Clock | None = None,
                  balance: int = 100_000, store=None) -> TradingService:
    clock = clock or Clock(1_728_000_000_000 + 3_600_000)
    service = TradingService(TradingOptions(paper_balance=Decimal(balance),
                                            risk=limits or RiskLimits()),
                             clock=clock, store=store)
    service.hub = MarketHub()
    for iid, inst in INSTRUMENTS.items():
        service.hub.add_instrument(inst)
        bid, ask = (29_990.0, 30_010.0) if iid == BTC else (29_995.0, 30_005.0)
        set_book(service, iid, [(bid, 5.0), (bid - 10, 5.0)], [(ask, 5.0), (ask + 10, 5.0)])
        with service.hub.lock:
            service.hub.on_event(Trade(iid, clock(), (bid + ask) / 2, 0.1, "buy"))
    service._start_paper()
    service._publish()  # as astart does
    return service
