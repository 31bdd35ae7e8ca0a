"""Instrument rows and their small integer keys.

Every hot table stores ``instruments.key``; this registry turns canonical ids into keys
(inserting the instrument the first time it is seen) and caches the answer, so the
recorder pays one dict lookup per event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.market.instruments import Instrument, MarketType
from storage.models import InstrumentRow
from storage.tables import table_of

# Used only when an event names an instrument we were never told about (e.g. a capture
# replayed without metadata): the id's base+quote is split at the longest known quote.
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDE", "DAI", "USD", "EUR", "TRY", "BRL",
           "BTC", "ETH", "BNB")


def instrument_from_id(instrument_id: str) -> Instrument:
    """Best-effort Instrument from a canonical id; ValueError when it is not one."""
    parts = instrument_id.split("_")
    if len(parts) != 3 or parts[0] not in ("cryptopair", "cryptoperp") or not parts[1] or not parts[2]:
        raise ValueError(f"not a canonical instrument id: {instrument_id!r}")
    market: MarketType = "spot" if parts[0] == "cryptopair" else "perp"
    pair = parts[2].upper()
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return Instrument(parts[1], market, pair[: -len(quote)], quote, pair)
    raise ValueError(f"cannot tell base from quote in {instrument_id!r}")


class InstrumentKeys:
    """Canonical id -> ``instruments.key`` for one database, thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keys: dict[str, int] = {}
        self._known: dict[str, Instrument] = {}
        # asked for metadata of an id never ``remember``ed (the engine answers from its hub)
        self.resolver: Callable[[str], Instrument | None] | None = None
        self._lock = threading.Lock()

    def remember(self, instrument: Instrument) -> None:
        """Metadata to use when ``instrument`` is first written (no database access)."""
        self._known[instrument.id] = instrument

    def get(self, instrument_id: str) -> int | None:
        """The key of an instrument already in the database (no insert)."""
        key = self._keys.get(instrument_id)
        if key is not None:
            return key
        with self.engine.connect() as conn:
            key = conn.execute(select(table_of(InstrumentRow).c.key)
                               .where(table_of(InstrumentRow).c.id == instrument_id)).scalar()
        if key is not None:
            self._keys[instrument_id] = key
        return key

    def key(self, instrument_id: str) -> int:
        """The key of ``instrument_id``, inserting its row first if needed.

        Commits on its own connection: call it outside any write transaction (SQLite has
        one writer, so a batch transaction open on this thread would block it)."""
        key = self._keys.get(instrument_id)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(instrument_id)
            if key is None:
                inst = self._known.get(instrument_id)
                if inst is None and self.resolver is not None:
                    inst = self.resolver(instrument_id)
                known = inst is not None  # venue metadata, so its tick and lot sizes are real
                if inst is None:
                    inst = instrument_from_id(instrument_id)
                key = self._ensure(inst, known)
                self._keys[instrument_id] = key
            return key

    def _ensure(self, inst: Instrument, known: bool = True) -> int:
        table = table_of(InstrumentRow)
        values = dict(id=inst.id, venue=inst.venue, market=inst.market, base=inst.base.upper(),
                      quote=inst.quote.upper(), symbol=inst.symbol, venue_symbol=inst.venue_symbol)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=["id"])
        # committed on its own, so a key handed out is never rolled back with a failed batch
        with self.engine.begin() as own:
            own.execute(stmt)
            if known:  # the venue's current steps (they change now and then), not a guess
                own.execute(update(table).where(table.c.id == inst.id)
                            .values(tick_size=inst.tick_size, lot_size=inst.lot_size))
            key: int = own.execute(select(table.c.key).where(table.c.id == inst.id)).scalar_one()
            return key
