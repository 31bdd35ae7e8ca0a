"""The trading tables (SQLModel): orders, fills, the order audit log, paper account state.

Natural primary keys make every write an idempotent upsert: an order is (account, client
order id), a fill (account, fill id). Amounts, prices and balances are stored as decimal
*text*: trading values are Decimals end to end and a float column would round them.
Timestamps are epoch milliseconds. No column ever holds a key or secret: the audit log
stores requests after ``app.trading.redact.scrub``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, SmallInteger, String, Text
from sqlmodel import Field, SQLModel

from storage.tables import table_of

_DEC = 40  # decimal text: 28 significant digits, sign, point, exponent


class TradingOrderRow(SQLModel, table=True):
    __tablename__ = "trading_orders"
    __table_args__ = (Index("ix_trading_orders_account_updated", "account", "updated_ts"),)

    account: str = Field(sa_column=Column(String(40), primary_key=True))  # "paper", "binance-testnet"
    client_order_id: str = Field(sa_column=Column(String(64), primary_key=True))
    env: str = Field(sa_column=Column(String(8), nullable=False))  # paper|testnet|demo|live
    venue: str = Field(sa_column=Column(String(32), nullable=False))
    instrument_id: str = Field(sa_column=Column(String(80), nullable=False))
    symbol: str = Field(sa_column=Column(String(64), nullable=False))
    side: str = Field(sa_column=Column(String(4), nullable=False))
    type: str = Field(sa_column=Column(String(8), nullable=False))  # market|limit|stop
    amount: str = Field(sa_column=Column(String(_DEC), nullable=False))
    price: str | None = Field(default=None, sa_column=Column(String(_DEC)))
    stop_price: str | None = Field(default=None, sa_column=Column(String(_DEC)))
    status: str = Field(sa_column=Column(String(20), nullable=False))
    filled: str = Field(default="0", sa_column=Column(String(_DEC), nullable=False))
    average: str | None = Field(default=None, sa_column=Column(String(_DEC)))
    fee: str = Field(default="0", sa_column=Column(String(_DEC), nullable=False))
    fee_asset: str | None = Field(default=None, sa_column=Column(String(16)))
    time_in_force: str = Field(default="GTC", sa_column=Column(String(4), nullable=False))
    reduce_only: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False))
    venue_order_id: str | None = Field(default=None, sa_column=Column(String(64)))
    message: str | None = Field(default=None, sa_column=Column(Text))
    created_ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ts: int = Field(sa_column=Column(BigInteger, nullable=False))


class TradingFillRow(SQLModel, table=True):
    __tablename__ = "trading_fills"
    __table_args__ = (Index("ix_trading_fills_account_ts", "account", "ts"),)

    account: str = Field(sa_column=Column(String(40), primary_key=True))
    fill_id: str = Field(sa_column=Column(String(80), primary_key=True))
    client_order_id: str = Field(sa_column=Column(String(64), nullable=False))
    instrument_id: str = Field(sa_column=Column(String(80), nullable=False))
    symbol: str = Field(sa_column=Column(String(64), nullable=False))
    side: str = Field(sa_column=Column(String(4), nullable=False))
    price: str = Field(sa_column=Column(String(_DEC), nullable=False))
    amount: str = Field(sa_column=Column(String(_DEC), nullable=False))
    fee: str = Field(sa_column=Column(String(_DEC), nullable=False))
    fee_asset: str = Field(sa_column=Column(String(16), nullable=False))
    liquidity: str = Field(sa_column=Column(String(5), nullable=False))  # maker|taker
    ts: int = Field(sa_column=Column(BigInteger, nullable=False))


class TradingAuditRow(SQLModel, table=True):
    """Every order action and every venue answer, in the order they happened."""

    __tablename__ = "trading_audit"
    __table_args__ = (Index("ix_trading_audit_account_ts", "account", "ts"),
                      Index("ix_trading_audit_client_order_id", "client_order_id"))

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    ts: int = Field(sa_column=Column(BigInteger, nullable=False))
    account: str = Field(sa_column=Column(String(40), nullable=False))
    env: str = Field(sa_column=Column(String(8), nullable=False))
    venue: str = Field(sa_column=Column(String(32), nullable=False))
    # place, place_failed, place_timeout, reconcile, cancel, cancel_failed, fill, validation_failed ...
    action: str = Field(sa_column=Column(String(24), nullable=False))
    client_order_id: str | None = Field(default=None, sa_column=Column(String(64)))
    request: str | None = Field(default=None, sa_column=Column(Text))  # JSON, scrubbed
    response: str | None = Field(default=None, sa_column=Column(Text))  # JSON, scrubbed


class PaperAccountRow(SQLModel, table=True):
    """A paper account's whole state (balances, positions, open orders, recent fills) as JSON."""

    __tablename__ = "paper_accounts"

    account: str = Field(sa_column=Column(String(40), primary_key=True))
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_ts: int = Field(sa_column=Column(BigInteger, nullable=False))


TRADING_TABLES = [table_of(TradingOrderRow), table_of(TradingFillRow), table_of(TradingAuditRow),
                  table_of(PaperAccountRow)]
