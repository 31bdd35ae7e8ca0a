"""OKX v5's wire shapes for the simulator's model state: pure functions, no I/O.

Field names, key order and number formatting follow OKX's published examples (numbers
as strings without trailing zeros, times in ms as strings), so a codec tested against
the sim sees what the venue sends. SWAP sizes are contracts on the wire; the model
keeps base units.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from app.market.instruments import MarketType
from app.sim.market import SimSymbol

BOOK_DEPTH = 400
CHECKSUM_LEVELS = 25
WS_PATHS = {"/ws/v5/public": "public", "/ws/v5/business": "business"}
PUBLIC_CHANNELS = frozenset({"books", "trades", "tickers", "funding-rate", "mark-price"})
SWAP_ONLY = frozenset({"funding-rate", "mark-price"})
# OKX bars the simulator serves -> its model intervals (UTC-aligned days only: the plain
# ``1D`` bar opens at Hong Kong midnight, which the model does not keep)
BAR_INTERVALS: dict[str, str] = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m",
                                 "1H": "1h", "2H": "2h", "4H": "4h", "1Dutc": "1d"}
FUNDING_PERIOD_MS = 8 * 3_600_000


@dataclass(frozen=True, slots=True)
class OkxSymbol:
    """One listed instrument as OKX describes it (``lot``/``min_size`` in wire units:
    base for SPOT, contracts for SWAP)."""

    inst_id: str
    base: str
    quote: str
    market: MarketType
    start_price: float
    tick: float
    lot: float
    min_size: float
    ct_val: str = ""  # SWAP: base units per contract, e.g. "0.01"

    @property
    def inst_type(self) -> str:
        return "SPOT" if self.market == "spot" else "SWAP"

    def sim_symbol(self) -> SimSymbol:
        """The model's view: sizes in base units, one lot = one wire lot."""
        lot = self.lot if self.market == "spot" else float(Decimal(repr(self.lot)) * Decimal(self.ct_val))
        return SimSymbol(self.inst_id, self.base, self.quote, self.market, self.start_price,
                         self.tick, lot, 0.0)


# -- numbers ---------------------------------------------------------------------------

def okx_num(text: str) -> str:
    """OKX writes numbers without trailing zeros ("8477", "0.1"): the checksum is over
    these exact strings, so clients must keep what they received."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def step_text(step: float) -> str:
    return okx_num(format(Decimal(repr(step)), "f"))


def wire_size(model_text: str, ct: Decimal | None) -> str:
    """A model size string (base units) as OKX puts it on the wire: contracts for SWAP."""
    if ct is None:
        return okx_num(model_text)
    return okx_num(format(Decimal(model_text) / ct, "f"))


def okx_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's CRC32 over the top 25 levels, bid then ask at each depth, as a signed int32.
    Written here on its own (not imported from the codec) so the simulator is an
    independent check of the client."""
    fields: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        for side in (bids, asks):
            if i < len(side):
                fields += side[i][:2]
    value = zlib.crc32(":".join(fields).encode()) & 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


# -- books -----------------------------------------------------------------------------

def _orders(size: str) -> str:
    # the model has no order count per level; OKX sends "0" for a removed level
    return "0" if size == "0" else "1"


def book_rows(levels: list[list[str]]) -> list[list[str]]:
    """``[px, sz]`` -> OKX's ``[px, sz, "0", orders]`` (the third field is deprecated)."""
    return [[p, q, "0", _orders(q)] for p, q in levels]


def book_frame(inst_id: str, action: str, bids: list[list[str]], asks: list[list[str]],
               prev: int, seq: int, checksum: int, now_ms: int) -> bytes:
    """One ``books`` push: ``snapshot`` (``prev`` -1) or ``update``."""
    return orjson.dumps({
        "arg": {"channel": "books", "instId": inst_id}, "action": action,
        "data": [{"asks": book_rows(asks), "bids": book_rows(bids), "ts": str(now_ms),
                  "checksum": checksum, "prevSeqId": prev, "seqId": seq}]})


def rest_book(bids: list[list[str]], asks: list[list[str]], seq: int, now_ms: int) -> list[dict[str, Any]]:
    """``GET /api/v5/market/books`` data (the announced snapshot-less mode's ``seqId``)."""
    return [{"asks": book_rows(asks), "bids": book_rows(bids), "ts": str(now_ms), "seqId": seq}]


# -- other channels --------------------------------------------------------------------

def push(channel: str, inst_id: str, data: list[Any], action: str | None = None) -> bytes:
    msg: dict[str, Any] = {"arg": {"channel": channel, "instId": inst_id}}
    if action is not None:
        msg["action"] = action
    msg["data"] = data
    return orjson.dumps(msg)


def trade(inst_id: str, trade_id: int, px: str, sz: str, taker_buy: bool, ts: int,
          count: int) -> dict[str, Any]:
    return {"instId": inst_id, "tradeId": str(trade_id), "px": px, "sz": sz,
            "side": "buy" if taker_buy else "sell", "ts": str(ts), "count": str(count),
            "source": "0"}


def mark_price(inst_id: str, mark_px: str, now_ms: int) -> dict[str, Any]:
    return {"instType": "SWAP", "instId": inst_id, "markPx": mark_px, "ts": str(now_ms)}


def funding_rate(inst_id: str, rate: float, next_funding_ms: int, now_ms: int) -> dict[str, Any]:
    """``fundingTime`` is the settlement the current rate applies to."""
    text = okx_num(f"{rate:.16f}")
    return {"formulaType": "withRate", "fundingRate": text,
            "fundingTime": str(next_funding_ms), "impactValue": "",
            "instId": inst_id, "instType": "SWAP", "interestRate": "0.0001",
            "method": "current_period", "maxFundingRate": "0.00375",
            "minFundingRate": "-0.00375", "nextFundingRate": "",
            "nextFundingTime": str(next_funding_ms + FUNDING_PERIOD_MS),
            "premium": okx_num(f"{rate - 1e-4:.16f}"), "settFundingRate": text,
            "settState": "settled", "ts": str(now_ms)}


def instrument_row(s: OkxSymbol) -> dict[str, Any]:
    """One ``GET /api/v5/public/instruments`` row."""
    spot = s.market == "spot"
    return {
        "alias": "", "baseCcy": s.base if spot else "", "category": "1",
        "ctMult": "" if spot else "1", "ctType": "" if spot else "linear",
        "ctVal": "" if spot else s.ct_val, "ctValCcy": "" if spot else s.base,
        "expTime": "", "instFamily": "" if spot else f"{s.base}-{s.quote}",
        "instId": s.inst_id, "instType": s.inst_type, "lever": "10" if spot else "100",
        "listTime": "1606468572000", "lotSz": step_text(s.lot),
        "maxLmtSz": "9999999999", "maxMktSz": "1000000", "minSz": step_text(s.min_size),
        "optType": "", "quoteCcy": s.quote if spot else "",
        "settleCcy": "" if spot else s.quote, "state": "live",
        "tickSz": step_text(s.tick), "uly": "" if spot else f"{s.base}-{s.quote}"}


def ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def error(code: str, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": []}
