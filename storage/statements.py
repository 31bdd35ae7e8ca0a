"""The hot-path SQL of the store, per dialect.

Bulk writes go straight to the driver's ``executemany`` with tuples (through
``Connection.exec_driver_sql``): building ORM objects or dicts per row would cost more
than SQLite spends storing it. SQLite (>= 3.24) and PostgreSQL share the
``ON CONFLICT`` upsert syntax; what differs is the parameter marker, so each dialect
gets its own rendering of the same statements.

Kline precedence, enforced inside the upsert so concurrent writers cannot get it wrong:
a venue's own candle (``ws`` stream or ``rest`` backfill) always beats one we aggregated
from trades (``agg``) and is never replaced by one; between candles of the same kind, a
closed candle is never replaced by a still-open one, nor a whole one by a partial one
(``partial``: the recording covered only part of the candle's interval).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

TRADE_COLS = "inst, trade_id, ts, price, amount, side"
KLINE_COLS = "inst, interval, open_time, open, high, low, close, volume, closed, source, partial"
FUNDING_COLS = "inst, ts, rate, next_funding_time, mark_price, index_price"
BOOK_COLS = "inst, ts, depth, bids, asks"


@dataclass(frozen=True, slots=True)
class Statements:
    dialect: str
    insert_trades: str
    upsert_klines: str
    upsert_funding: str
    insert_books: str
    agg_trades: str  # per-bucket high/low/volume/first/last ts of one instrument's trades
    edge_trades: str  # the trades at given timestamps (open and close of each bucket)


def _marks(n: int, mark: str) -> str:
    return ", ".join([mark] * n)


def build(dialect: str) -> Statements:
    mark = "?" if dialect == "sqlite" else "%s"
    mod = "%" if dialect == "sqlite" else "%%"  # psycopg reads a bare % as a placeholder
    kline_update = ", ".join(f"{c} = excluded.{c}" for c in
                             ("open", "high", "low", "close", "volume", "closed", "source",
                              "partial"))
    return Statements(
        dialect=dialect,
        insert_trades=(f"INSERT INTO trades ({TRADE_COLS}) VALUES ({_marks(6, mark)}) "
                       "ON CONFLICT (inst, ts, trade_id) DO NOTHING"),
        upsert_klines=(f"INSERT INTO klines ({KLINE_COLS}) VALUES ({_marks(11, mark)}) "
                       f"ON CONFLICT (inst, interval, open_time) DO UPDATE SET {kline_update} "
                       "WHERE (klines.source = 'agg' AND excluded.source <> 'agg') "
                       "OR ((klines.source = 'agg') = (excluded.source = 'agg') "
                       "AND (klines.closed = 0 OR excluded.closed = 1) "
                       "AND NOT (klines.closed = 1 AND klines.partial = 0 AND excluded.partial = 1))"),
        upsert_funding=(f"INSERT INTO funding ({FUNDING_COLS}) VALUES ({_marks(6, mark)}) "
                        "ON CONFLICT (inst, ts) DO UPDATE SET rate = excluded.rate, "
                        "next_funding_time = excluded.next_funding_time, "
                        "mark_price = excluded.mark_price, index_price = excluded.index_price"),
        insert_books=(f"INSERT INTO book_snapshots ({BOOK_COLS}) VALUES ({_marks(5, mark)}) "
                      "ON CONFLICT (inst, ts) DO NOTHING"),
        # ts - ts % step is the bucket's open time in both dialects (BIGINT arithmetic)
        agg_trades=(f"SELECT ts - ts {mod} {mark} AS b, MAX(price), MIN(price), SUM(amount), "
                    f"MIN(ts), MAX(ts) FROM trades WHERE inst = {mark} AND ts >= {mark} "
                    f"AND ts < {mark} GROUP BY 1"),
        edge_trades=(f"SELECT ts, trade_id, price FROM trades WHERE inst = {mark} "
                     f"AND ts >= {mark} AND ts < {mark} AND ts IN ({{ts_list}})"),
    )


_CACHE: dict[str, Statements] = {}


def statements_for(engine: Engine) -> Statements:
    name = engine.dialect.name
    found = _CACHE.get(name)
    if found is None:
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {name!r}: use SQLite or PostgreSQL")
        found = _CACHE[name] = build(name)
    return found
