"""Bracket orders: a take-profit and a stop-loss attached to an entry, one-cancels-other.

Built on the ``Account`` protocol and the orders it reports, so a bracket works the same
on paper and on every venue account; the trading service runs it. The rules:

- the exits cover what the entry has filled and the exits have not: as the entry fills
  (partly or fully) they grow, as either exit fills (partly or fully) the other shrinks,
  and when nothing is left to cover after the entry is done, the other is cancelled;
- an exit is resized by cancelling it and placing a new one (the same leg, a new client
  id): every account can do that, amend or not;
- the take-profit is a resting limit. On perpetuals the stop-loss is a reduce-only stop
  resting at the venue (both exits can rest: reduce-only orders reserve nothing, and
  cannot over-close if both fire). On spot both exits would have to lock the same coins,
  which no account allows, so the stop-loss is held here: when the last trade crosses
  the trigger the service cancels the take-profit and sells (buys back) at market. That
  stop works only while the app runs, and the blotter says so;
- an exit cancelled by anyone but the bracket is not placed again: the user's choice;
- the state is JSON (``to_json``/``from_json``), stored with the account, so an app
  restart resumes every bracket from the orders the account reports.

``plan`` is pure: from the bracket and the orders as the account knows them, the next
steps (cancel these, place those). The service executes them and plans again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from app.trading.models import ZERO, FieldError, Order, OrderRequest, Side, new_client_order_id

LegKind = Literal["tp", "sl"]


@dataclass(slots=True)
class Leg:
    kind: LegKind
    price: Decimal  # take-profit limit price, or stop-loss trigger
    synthetic: bool = False  # a stop held by the service (spot), not resting anywhere
    order_id: str | None = None  # the exit order resting now
    placed: Decimal = ZERO  # its amount
    filled_before: Decimal = ZERO  # what earlier (resized) orders of this leg filled
    off: bool = False  # cancelled by someone else, or the other leg fired: never re-placed
    fired: bool = False  # synthetic stop: the trigger was crossed
    ids: list[str] = field(default_factory=list)  # every order this leg placed (blotter)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "price": str(self.price), "synthetic": self.synthetic,
                "order_id": self.order_id, "placed": str(self.placed),
                "filled_before": str(self.filled_before), "off": self.off,
                "fired": self.fired, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Leg:
        return cls(d["kind"], Decimal(d["price"]), bool(d["synthetic"]), d.get("order_id"),
                   Decimal(d["placed"]), Decimal(d["filled_before"]), bool(d["off"]),
                   bool(d.get("fired")), list(d.get("ids") or []))


@dataclass(slots=True)
class Bracket:
    entry_id: str
    instrument_id: str
    side: Side  # the entry's side; the exits go the other way
    perp: bool
    tp: Leg | None
    sl: Leg | None
    entry_filled: Decimal = ZERO
    entry_open: bool = True
    done: bool = False
    ours: set[str] = field(default_factory=set)  # exits the bracket itself cancelled
    # the take-profit is sent reduce-only (perps on a venue); the paper account fills a
    # reduce-only limit at once or not at all, so there it rests as a plain limit
    tp_reduce_only: bool = True

    @property
    def exit_side(self) -> Side:
        return "sell" if self.side == "buy" else "buy"

    @property
    def legs(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in (self.tp, self.sl) if leg is not None)

    def resting_legs(self) -> int:
        """How many exits rest as orders once the entry fills (for max open orders)."""
        return sum(1 for leg in self.legs if not leg.synthetic)

    def to_json(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "instrument_id": self.instrument_id,
                "side": self.side, "perp": self.perp,
                "tp": self.tp.to_json() if self.tp else None,
                "sl": self.sl.to_json() if self.sl else None,
                "entry_filled": str(self.entry_filled), "entry_open": self.entry_open,
                "done": self.done, "ours": sorted(self.ours),
                "tp_reduce_only": self.tp_reduce_only}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Bracket:
        return cls(d["entry_id"], d["instrument_id"], d["side"], bool(d["perp"]),
                   Leg.from_json(d["tp"]) if d.get("tp") else None,
                   Leg.from_json(d["sl"]) if d.get("sl") else None,
                   Decimal(d["entry_filled"]), bool(d["entry_open"]), bool(d["done"]),
                   set(d.get("ours") or ()), bool(d.get("tp_reduce_only", True)))


@dataclass(frozen=True, slots=True)
class Cancel:
    leg: Leg | None  # None: the entry itself (its stop-loss fired)
    client_order_id: str


@dataclass(frozen=True, slots=True)
class Place:
    leg: Leg
    request: OrderRequest


Step = Cancel | Place


def new_bracket(req: OrderRequest, perp: bool, take_profit: Decimal | None,
                stop_loss: Decimal | None, *, resting_reduce_only: bool = True) -> Bracket:
    return Bracket(req.client_order_id, req.instrument_id, req.side, perp,
                   Leg("tp", take_profit) if take_profit is not None else None,
                   Leg("sl", stop_loss, synthetic=not perp) if stop_loss is not None else None,
                   tp_reduce_only=perp and resting_reduce_only)


def check_prices(req: OrderRequest, reference: Decimal | None, take_profit: Decimal | None,
                 stop_loss: Decimal | None) -> list[FieldError]:
    """The exits must sit on either side of the entry: a take-profit above a buy's entry
    (below a sell's), a stop-loss below it (above). ``reference``: the entry's limit
    price, or the market's for a market entry."""
    errors: list[FieldError] = []
    if take_profit is None and stop_loss is None:
        return errors
    if req.type == "stop":
        errors.append(FieldError("take_profit", "a bracket needs a market or limit entry, "
                                                "not a stop-loss"))
        return errors
    entry = req.price if req.type == "limit" else reference
    if entry is None:
        errors.append(FieldError("take_profit", "no entry price to place the exits around"))
        return errors
    buy = req.side == "buy"
    if take_profit is not None and (take_profit <= entry if buy else take_profit >= entry):
        errors.append(FieldError("take_profit", f"take-profit {take_profit} must be "
                                                f"{'above' if buy else 'below'} the entry {entry}"))
    if stop_loss is not None and (stop_loss >= entry if buy else stop_loss <= entry):
        errors.append(FieldError("stop_loss", f"stop-loss {stop_loss} must be "
                                              f"{'below' if buy else 'above'} the entry {entry}"))
    return errors


def _child_filled(leg: Leg, orders: Mapping[str, Order]) -> Decimal:
    o = orders.get(leg.order_id) if leg.order_id else None
    return o.filled if o is not None else ZERO


def exited(b: Bracket, orders: Mapping[str, Order]) -> Decimal:
    return sum((leg.filled_before + _child_filled(leg, orders) for leg in b.legs), ZERO)


def observe(b: Bracket, orders: Mapping[str, Order]) -> None:
    """Take in what the account reports: the entry's fill, exits that closed."""
    entry = orders.get(b.entry_id)
    if entry is not None:
        b.entry_filled = entry.filled
        b.entry_open = entry.is_open
    for leg in b.legs:
        o = orders.get(leg.order_id) if leg.order_id else None
        if o is None or o.is_open:
            continue
        leg.filled_before += o.filled
        leg.order_id, leg.placed = None, ZERO
        if o.status in ("canceled", "rejected") and o.client_order_id not in b.ours:
            leg.off = True  # the user (or the venue) took it away: leave it so
        b.ours.discard(o.client_order_id)
        if o.filled > 0 and leg.kind == "sl":
            # a stop that fired ends the take-profit's chances: what it left is not
            # offered again at the profit price
            for other in b.legs:
                if other is not leg:
                    other.off = True


def plan(b: Bracket, orders: Mapping[str, Order]) -> list[Step]:
    """The next steps for ``b`` (empty: nothing to do now). Marks it done when nothing is
    left to cover and nothing of it rests."""
    if b.done:
        return []
    observe(b, orders)
    target = max(b.entry_filled - exited(b, orders), ZERO)
    steps: list[Step] = []
    stopped = b.sl is not None and (b.sl.fired or b.sl.filled_before > 0
                                    or _child_filled(b.sl, orders) > 0)
    if stopped and b.entry_open and b.entry_id not in b.ours:
        steps.append(Cancel(None, b.entry_id))  # stopped out: no more of the entry
    for leg in b.legs:
        if leg.order_id is not None:
            o = orders.get(leg.order_id)
            if leg.order_id in b.ours or o is None or leg.synthetic:
                continue  # a cancel on the way, an order not reported yet, a stop's market exit
            want = ZERO if leg.off else target
            if o.remaining != want:
                steps.append(Cancel(leg, leg.order_id))  # replaced by one of the right size
            continue
        if leg.off or (leg.synthetic and (not leg.fired or leg.ids)):
            continue  # a held stop rests nowhere; once fired, it goes out once
        if target > 0:
            steps.append(Place(leg, exit_request(b, leg, target)))
    if not steps and not b.entry_open and not any(leg.order_id for leg in b.legs) and (
            target <= 0 or all(leg.off for leg in b.legs)):
        b.done = True
    return steps


def exit_request(b: Bracket, leg: Leg, amount: Decimal) -> OrderRequest:
    side = b.exit_side
    if leg.kind == "tp":
        return OrderRequest(b.instrument_id, side, "limit", amount, leg.price,
                            reduce_only=b.tp_reduce_only, client_order_id=new_client_order_id())
    if leg.synthetic:  # fired: out at market now
        return OrderRequest(b.instrument_id, side, "market", amount, reduce_only=b.perp,
                            client_order_id=new_client_order_id())
    return OrderRequest(b.instrument_id, side, "stop", amount, stop_price=leg.price,
                        reduce_only=b.perp, client_order_id=new_client_order_id())


def crossed(b: Bracket, last: Decimal) -> bool:
    """A held stop's trigger crossed by the last trade (a long's exit sells at or below
    it, a short's buys at or above)."""
    leg = b.sl
    if leg is None or not leg.synthetic or leg.fired or leg.off or b.done:
        return False
    if b.entry_filled <= 0:
        return False
    return last <= leg.price if b.side == "buy" else last >= leg.price


def fire(b: Bracket) -> None:
    """The held stop fired: the take-profit comes off, the stop goes out at market."""
    assert b.sl is not None
    b.sl.fired = True
    if b.tp is not None:
        b.tp.off = True


def roles(brackets: Mapping[str, Bracket]) -> dict[str, str]:
    """Client order id -> what it is in a bracket, for the blotter: ``entry +TP 31000
    SL 29000``, ``TP of <entry>``, ``SL of <entry>``; a held stop is named on its entry's
    and take-profit's rows."""
    out: dict[str, str] = {}
    for b in brackets.values():
        if b.done:
            continue
        parts = []
        if b.tp is not None and not b.tp.off:
            parts.append(f"TP {b.tp.price.normalize():f}")
        if b.sl is not None and not b.sl.off:
            parts.append(f"SL {b.sl.price.normalize():f}" + (" held here" if b.sl.synthetic
                                                             else ""))
        out[b.entry_id] = "+" + " ".join(parts) if parts else "bracket"
        for leg in b.legs:
            for cid in leg.ids:
                held = ""
                if leg.kind == "tp" and b.sl is not None and b.sl.synthetic and not b.sl.off:
                    held = f" (SL {b.sl.price.normalize():f} held here)"
                out[cid] = f"{leg.kind.upper()}{held}"
    return out


__all__ = ["Bracket", "Cancel", "Leg", "Place", "Step", "check_prices", "crossed", "exit_request",
           "exited", "fire", "new_bracket", "observe", "plan", "roles"]
