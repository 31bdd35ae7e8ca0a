"""Where trading writes its records: orders, fills, the audit trail and paper state.

Writes run on one background thread, in submission order, so the engine loop never waits
on disk and the audit trail keeps the order things happened in. Every row is scrubbed of
secrets before it is queued.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, Executable, Table, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.trading.models import Fill, Order
from app.trading.redact import redact, scrub
from storage.tables import table_of
from storage.trading_models import (TRADING_TABLES, PaperAccountRow, TradingAuditRow,
                                    TradingFillRow, TradingOrderRow)

log = logging.getLogger(__name__)


class TradingStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # the trading tables may be newer than a database created before them
        for table in TRADING_TABLES:
            table.create(engine, checkfirst=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trading-store")
        self._lock = threading.Lock()
        self._closed = False

    # -- writing (any thread; queued) ----------------------------------------------------

    def _submit(self, fn: Callable[..., None], *args: Any) -> Future[None] | None:
        with self._lock:
            if self._closed:
                return None
            return self._pool.submit(self._guard, fn, *args)

    @staticmethod
    def _guard(fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # a full disk must not take trading down with it
            log.error("trading store write failed: %s", redact(str(exc)).splitlines()[0])

    def audit(self, ts: int, account: str, env: str, venue: str, action: str,
              client_order_id: str | None, request: Any, response: Any) -> Future[None] | None:
        row = {"ts": ts, "account": account, "env": env, "venue": venue, "action": action[:24],
               "client_order_id": client_order_id,
               "request": None if request is None else json.dumps(scrub(request), default=str),
               "response": None if response is None else json.dumps(scrub(response), default=str)}
        return self._submit(self._insert_audit, row)

    def _insert_audit(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(table_of(TradingAuditRow)), [row])

    def save_orders(self, account: str, env: str, venue: str, orders: list[Order]) -> Future[None] | None:
        rows = [_order_row(account, env, venue, o) for o in orders]
        return self._submit(self._upsert, table_of(TradingOrderRow), rows,
                            ["account", "client_order_id"]) if rows else None

    def save_fills(self, account: str, fills: list[Fill]) -> Future[None] | None:
        rows = [_fill_row(account, f) for f in fills]
        return self._submit(self._upsert, table_of(TradingFillRow), rows,
                            ["account", "fill_id"]) if rows else None

    def save_paper(self, account: str, state: dict[str, Any], ts: int) -> Future[None] | None:
        row = {"account": account, "state": json.dumps(state), "updated_ts": ts}
        return self._submit(self._upsert, table_of(PaperAccountRow), [row], ["account"])

    def _upsert(self, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
        def updates(excluded: Any) -> dict[str, Any]:
            return {c.name: excluded[c.name] for c in table.columns if c.name not in keys}

        stmt: Executable
        if self.engine.dialect.name == "sqlite":
            lite = sqlite_insert(table)
            stmt = lite.on_conflict_do_update(index_elements=keys, set_=updates(lite.excluded))
        else:
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            pg = pg_insert(table)
            stmt = pg.on_conflict_do_update(index_elements=keys, set_=updates(pg.excluded))
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    # -- reading ----------------------------------------------------------------------------

    def load_paper(self, account: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            raw = conn.execute(select(table_of(PaperAccountRow).c.state)
                               .where(table_of(PaperAccountRow).c.account == account)).scalar()
        return json.loads(raw) if raw else None

    def audit_rows(self, account: str | None = None) -> list[dict[str, Any]]:
        table = table_of(TradingAuditRow)
        query = select(table).order_by(table.c.id)
        if account is not None:
            query = query.where(table.c.account == account)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def orders(self, account: str) -> list[dict[str, Any]]:
        table = table_of(TradingOrderRow)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(table).where(table.c.account == account).order_by(table.c.created_ts))]

    def fills(self, account: str) -> list[dict[str, Any]]:
        table = table_of(TradingFillRow)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(table).where(table.c.account == account).order_by(table.c.ts))]

    # -- lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        fut = self._submit(lambda: None)
        if fut is not None:
            fut.result(timeout)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.shutdown(wait=True)


def _order_row(account: str, env: str, venue: str, o: Order) -> dict[str, Any]:
    return {"account": account, "client_order_id": o.client_order_id, "env": env, "venue": venue,
            "instrument_id": o.instrument_id, "symbol": o.symbol, "side": o.side, "type": o.type,
            "amount": str(o.amount), "price": _s(o.price), "stop_price": _s(o.stop_price),
            "status": o.status, "filled": str(o.filled), "average": _s(o.average),
            "fee": str(o.fee), "fee_asset": o.fee_asset, "time_in_force": o.time_in_force,
            "reduce_only": int(o.reduce_only), "venue_order_id": o.venue_order_id,
            "message": redact(o.message) if o.message else None,
            "created_ts": o.created_ts, "updated_ts": o.updated_ts}


def _fill_row(account: str, f: Fill) -> dict[str, Any]:
    return {"account": account, "fill_id": f.fill_id, "client_order_id": f.client_order_id,
            "instrument_id": f.instrument_id, "symbol": f.symbol, "side": f.side,
            "price": str(f.price), "amount": str(f.amount), "fee": str(f.fee),
            "fee_asset": f.fee_asset, "liquidity": f.liquidity, "ts": f.ts}


def _s(v: object) -> str | None:
    return None if v is None else str(v)
