"""Bracket orders on the paper account, run by the service from order events: the exits
follow the entry's fills, one exit's fill shrinks or cancels the other, a stop held for a
spot bracket fires on the tape, and a restart resumes the bracket from stored state."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from app.trading import brackets as bk
from app.trading.errors import ValidationFailed
from app.trading.models import Order, OrderRequest
from app.trading.risk import RiskLimits, RiskRefused
from app.trading.store import TradingStore
from storage.db import open_database
from tests.paper_market import BTC, PERP, paper_service, set_book, trade

D = Decimal


async def settle(service, until, what: str, timeout: float = 3.0) -> None:
    """Let the service's loop work (publishes, bracket steps) until ``until()``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        if asyncio.get_running_loop().time() > deadline:
            view = service.view()
            raise AssertionError(f"timed out waiting for {what}: open "
                                 f"{[(o.type, o.side, str(o.amount), o.status) for o in view.open_orders]}")
        await asyncio.sleep(0.02)


def live(service):
    service.loop = asyncio.get_running_loop()
    return service


def open_exits(service, kind: str) -> list[Order]:
    return [o for o in service.view().open_orders if o.type == kind]


async def test_perp_take_profit_fills_and_the_stop_loss_is_cancelled():
    service = live(paper_service())
    entry = await service._place_bracket(OrderRequest(PERP, "buy", "market", D("0.1")),
                                         D(30_500), D(29_500))
    assert entry.status == "filled"
    await settle(service, lambda: open_exits(service, "limit") and open_exits(service, "stop"),
                 "both exits resting")
    [tp], [sl] = open_exits(service, "limit"), open_exits(service, "stop")
    # reduce-only on a venue; the paper account fills reduce-only limits at once or never,
    # so there the take-profit rests as a plain limit
    assert (tp.side, tp.amount, tp.price, tp.reduce_only) == ("sell", D("0.1"), D(30_500), False)
    assert (sl.side, sl.amount, sl.stop_price, sl.reduce_only) == ("sell", D("0.1"), D(29_500), True)
    view = service.view()
    assert view.bracket_role(entry.client_order_id) == "+TP 30500 SL 29500"
    assert (view.bracket_role(tp.client_order_id), view.bracket_role(sl.client_order_id)) == ("TP", "SL")
    trade(service, PERP, 30_600.0)  # prints through the take-profit
    await settle(service, lambda: not service.view().open_orders, "the stop-loss cancelled")
    assert service.paper.orders[sl.client_order_id].status == "canceled"
    assert service.paper.orders[tp.client_order_id].status == "filled"
    assert service.view().position(PERP) is None  # flat
    await settle(service, lambda: not service.brackets(), "the bracket done")
    actions = [e["action"] for e in service.audit_log]
    assert "bracket" in actions and "cancel" in actions


async def test_partial_entry_grows_the_exits_and_a_partial_take_profit_shrinks_the_stop():
    service = live(paper_service())
    # a limit entry for 7 that takes the 5 offered at 30,005 and rests for 2
    entry = await service._place_bracket(OrderRequest(PERP, "buy", "limit", D(7), D(30_005)),
                                         D(30_500), D(29_500))
    assert (entry.status, entry.filled) == ("partially_filled", D(5))
    await settle(service, lambda: [o.amount for o in open_exits(service, "stop")] == [D(5)],
                 "a stop-loss for the 5 filled")
    assert [o.amount for o in open_exits(service, "limit") if o.side == "sell"] == [D(5)]
    # bids at 30,600 for 1: the resized take-profit will cross them on arrival
    set_book(service, PERP, [(30_600.0, 1.0), (29_990.0, 5.0)], [(30_610.0, 5.0)])
    trade(service, PERP, 30_000.0)  # through the entry's 30,005: the other 2 fill
    await settle(service, lambda: service.paper.orders[entry.client_order_id].status == "filled"
                 and [o.amount for o in open_exits(service, "stop")] == [D(6)],
                 "the stop-loss reduced to what the take-profit left")
    [tp] = [o for o in open_exits(service, "limit") if o.side == "sell"]
    # the take-profit for 7 took the 1 bid at 30,600 (a 30,500 limit crossing) and rests for 6
    assert (tp.amount, tp.filled) == (D(7), D(1))
    assert service.view().position(PERP).size == D(6)
    [b] = service.brackets()
    assert bk.exited(b, {o.client_order_id: o for o in service.paper.orders.values()}) == D(1)


async def test_spot_stop_is_held_here_and_fires_on_the_tape():
    service = live(paper_service())
    entry = await service._place_bracket(OrderRequest(BTC, "buy", "market", D("0.2")),
                                         D(31_000), D(29_000))
    assert entry.status == "filled"
    await settle(service, lambda: open_exits(service, "limit"), "the take-profit resting")
    [tp] = open_exits(service, "limit")
    assert not open_exits(service, "stop")  # two exits cannot lock the same 0.2 BTC
    assert service.view().bracket_role(tp.client_order_id) == "TP (SL 29000 held here)"
    assert service.view().bracket_role(entry.client_order_id) == "+TP 31000 SL 29000 held here"
    trade(service, BTC, 29_500.0)  # above the trigger: nothing
    await asyncio.sleep(0.15)
    assert service.paper.orders[tp.client_order_id].is_open
    trade(service, BTC, 28_990.0)  # through it
    await settle(service, lambda: not service.brackets(), "the stop executed")
    assert service.paper.orders[tp.client_order_id].status == "canceled"
    sells = [o for o in service.paper.orders.values() if o.side == "sell" and o.type == "market"]
    assert [(o.amount, o.status) for o in sells] == [(D("0.2"), "filled")]
    assert service.view().balance("BTC") is None or service.view().balance("BTC").total == 0


async def test_a_user_cancelled_exit_is_not_placed_again_and_the_other_stays():
    service = live(paper_service())
    await service._place_bracket(OrderRequest(PERP, "sell", "market", D("0.1")),
                                 D(29_000), D(31_000))
    await settle(service, lambda: open_exits(service, "limit") and open_exits(service, "stop"),
                 "both exits")
    [tp] = open_exits(service, "limit")
    assert tp.side == "buy" and tp.price == D(29_000)
    await service._cancel(tp.client_order_id)
    await asyncio.sleep(0.2)
    assert not open_exits(service, "limit")
    [sl] = open_exits(service, "stop")
    assert (sl.side, sl.amount) == ("buy", D("0.1"))


async def test_exits_on_the_wrong_side_are_refused_before_anything_is_sent():
    service = live(paper_service())
    with pytest.raises(ValidationFailed) as err:
        await service._place_bracket(OrderRequest(PERP, "buy", "limit", D("0.1"), D(30_000)),
                                     D(29_900), D(30_100))
    assert [e.message for e in err.value.errors] == [
        "take-profit 29900 must be above the entry 30000",
        "stop-loss 30100 must be below the entry 30000"]
    assert service.paper.orders == {} and not service.brackets()


async def test_bracket_counts_its_exits_and_band_checks_the_take_profit():
    service = live(paper_service(RiskLimits(max_open_orders=2, price_band_pct=D(5))))
    with pytest.raises(RiskRefused, match="max open orders: this would make 3 open, 1 over"):
        await service._place_bracket(OrderRequest(PERP, "buy", "market", D("0.1")),
                                     D(30_500), D(29_500))
    service = live(paper_service(RiskLimits(price_band_pct=D(5))))
    with pytest.raises(RiskRefused, match=r"price band: 33000 is 10% from the mid 30000"):
        await service._place_bracket(OrderRequest(PERP, "buy", "market", D("0.1")),
                                     D(33_000), D(29_500))
    assert service.paper.orders == {}


async def test_a_bracket_survives_a_restart(tmp_path):
    store = TradingStore(open_database(None, tmp_path))
    service = live(paper_service(store=store))
    entry = await service._place_bracket(OrderRequest(PERP, "buy", "limit", D("0.1"), D(29_000)),
                                         D(30_500), D(28_500))
    assert entry.status == "open"
    service._save_state_now()
    store.flush()
    # a new session over the same database: the entry still rests, the bracket is known
    again = live(paper_service(store=store))
    assert [o.client_order_id for o in again.view().open_orders] == [entry.client_order_id]
    [b] = again.brackets()
    assert (b.entry_id, b.tp.price, b.sl.price) == (entry.client_order_id, D(30_500), D(28_500))
    trade(again, PERP, 28_900.0)  # the entry fills: the resumed bracket places its exits
    await settle(again, lambda: open_exits(again, "limit") and open_exits(again, "stop"),
                 "exits after the restart")
    store.close()
