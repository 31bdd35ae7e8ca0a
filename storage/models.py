"""The market-data tables (SQLModel).

Hot tables (klines, trades, book snapshots, funding) refer to an instrument by a small
integer key (``instruments.key``) rather than repeating the canonical id text on every
row: that is most of the size of a trade row otherwise. Their primary keys are the
natural ids (so writes are idempotent) and, on SQLite, they are WITHOUT ROWID tables:
the row lives in the primary-key b-tree, so there is one index to maintain on insert and
a range query by (instrument, interval, time) is a single ordered scan.

Timestamps are epoch milliseconds (BIGINT); market values are floats (DESIGN.md).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, SmallInteger, String, Text
from sqlmodel import Field, SQLModel

_NO_ROWID = {"sqlite_with_rowid": False}


class InstrumentRow(SQLModel, table=True):
    __tablename__ = "instruments"

    key: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))  # canonical id
    venue: str = Field(sa_column=Column(String(32), nullable=False))
    market: str = Field(sa_column=Column(String(8), nullable=False))  # spot | perp
    base: str = Field(sa_column=Column(String(24), nullable=False))
    quote: str = Field(sa_column=Column(String(24), nullable=False))
    symbol: str = Field(sa_column=Column(String(64), nullable=False))  # BTC/USDT, BTC/USDT:USDT
    venue_symbol: str | None = Field(default=None, sa_column=Column(String(64)))
    # the venue's price and amount steps when its metadata was known (NULL: never told);
    # the CLI and the history screen print prices to this precision (schema v2)
    tick_size: float | None = Field(default=None, sa_column=Column(Float))
    lot_size: float | None = Field(default=None, sa_column=Column(Float))


# An open candle this long past the end of its interval is not forming any more: no
# recorder is going to close it, so it counts as partial (a crash, a kill, a v1 file).
STALE_OPEN_MS = 60_000


class KlineRow(SQLModel, table=True):
    __tablename__ = "klines"
    __table_args__ = _NO_ROWID

    inst: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    interval: str = Field(sa_column=Column(String(4), primary_key=True))
    open_time: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    open: float = Field(sa_column=Column(Float, nullable=False))
    high: float = Field(sa_column=Column(Float, nullable=False))
    low: float = Field(sa_column=Column(Float, nullable=False))
    close: float = Field(sa_column=Column(Float, nullable=False))
    volume: float = Field(sa_column=Column(Float, nullable=False))
    # 0 while the candle is still forming; a closed candle is final and wins over open ones
    closed: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, default=0))
    # where the row came from: 'ws' (venue kline stream), 'agg' (built from trades), 'rest' (backfill)
    source: str = Field(default="ws", sa_column=Column(String(4), nullable=False, default="ws"))
    # 1 when the recording did not cover the candle's whole interval (it started or stopped
    # inside it): the row holds part of the candle only; gaps reports it, --fill-gaps
    # replaces it from the venue (schema v2)
    partial: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, default=0,
                                                      server_default="0"))


class TradeRow(SQLModel, table=True):
    """Keyed by (instrument, trade id) as the venue reports them, with the trade's time in
    between: a venue's trades are immutable, so a trade delivered twice (reconnect
    overlap, a capture replayed again) has the same time and the same id, and the
    second copy is dropped. Putting ``ts`` in the key makes the one b-tree also the
    time index (range queries, rebuilding a minute's kline) and keeps inserts appending
    at its right edge; a separate (inst, ts) index would cost a second b-tree per row,
    about a third of the ingest rate and of the file size."""

    __tablename__ = "trades"
    __table_args__ = _NO_ROWID

    inst: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # venue trade id as text (Bybit's are UUIDs); trades without one get a synthetic id
    trade_id: str = Field(sa_column=Column(String(64), primary_key=True))
    price: float = Field(sa_column=Column(Float, nullable=False))
    amount: float = Field(sa_column=Column(Float, nullable=False))
    side: str = Field(sa_column=Column(String(4), nullable=False))  # taker side: buy | sell


class BookSnapshotRow(SQLModel, table=True):
    __tablename__ = "book_snapshots"
    __table_args__ = _NO_ROWID

    inst: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    depth: int = Field(sa_column=Column(SmallInteger, nullable=False))
    # JSON arrays [[price, amount], ...], best first; a snapshot is read whole, never queried inside
    bids: str = Field(sa_column=Column(Text, nullable=False))
    asks: str = Field(sa_column=Column(Text, nullable=False))


class FundingRow(SQLModel, table=True):
    __tablename__ = "funding"
    __table_args__ = _NO_ROWID

    inst: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    rate: float | None = Field(default=None, sa_column=Column(Float))
    next_funding_time: int | None = Field(default=None, sa_column=Column(BigInteger))
    mark_price: float | None = Field(default=None, sa_column=Column(Float))
    index_price: float | None = Field(default=None, sa_column=Column(Float))


class SchemaVersionRow(SQLModel, table=True):
    """One row per applied schema version; the highest is the database's version."""

    __tablename__ = "schema_version"

    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    applied_at: int = Field(sa_column=Column(BigInteger, nullable=False))  # epoch ms
    description: str = Field(default="", sa_column=Column(String(200), nullable=False, default=""))
