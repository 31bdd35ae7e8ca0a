"""The REST endpoints under /api/v1/crypto. Every handler reads the engine through
``app.engine_api`` (one small copy under the hub's lock: a book's top levels, a ticker)
and the store through its HistoryReader; bad input is an ApiError naming the parameter.

The handlers that only read the engine are ``async``: they copy microseconds' worth
under the lock and never wait. kdata reads the store, so it is a plain function, which
FastAPI runs on its thread pool: a slow disk never holds up the stream."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import FastAPI, Query, WebSocket
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from app.api import errors
from app.api.errors import ApiError, json_response
from app.api.stream import StreamBroker
from app.engine_api import HistorySource, LiveSource, MarketDirectory
from app.errors import CryptotermError
from app.feeds.health import HealthView
from app.market.events import Kline
from app.market.instruments import Instrument
from app.market.klines import INTERVAL_MS
from app.venues import registry

PREFIX = "/api/v1/crypto"
ID_SHAPE = re.compile(r"crypto(pair|perp)_[a-z0-9]+_[a-z0-9]+")
MAX_DEPTH = 1000
MAX_LIMIT = 5000

Symbol = Annotated[str, Query(description="canonical instrument id, e.g. cryptopair_binance_btcusdt")]


def pair_json(inst: Instrument, streamed: bool) -> dict[str, Any]:
    return {"id": inst.id, "symbol": inst.symbol, "exchange": inst.venue, "base": inst.base,
            "quote": inst.quote, "type": inst.market, "tick_size": inst.tick_size,
            "lot_size": inst.lot_size, "min_notional": inst.min_notional, "streamed": streamed}


def health_json(h: HealthView) -> dict[str, Any]:
    return {"name": h.name, "state": h.state, "last_message_age": h.last_message_age,
            "msgs_per_sec": h.msgs_per_sec, "messages": h.messages, "gaps": h.gaps,
            "resyncs": h.resyncs, "reconnects": h.reconnects, "unsynced": list(h.unsynced),
            "error": h.error, "backlog": h.backlog}


def kline_row(k: Kline) -> dict[str, Any]:
    return {"open_time": k.open_time, "open": k.open, "high": k.high, "low": k.low,
            "close": k.close, "volume": k.volume, "closed": k.closed}


def merge_klines(stored: list[Kline], live: tuple[Kline, ...], start: int | None, end: int | None,
                 limit: int) -> list[Kline]:
    """The store's candles with the engine's live ones on top (the open candle, and any
    the recorder has not written yet): the live version of a candle is the newer one.
    With ``start``, the oldest ``limit`` from it; otherwise the newest ``limit``."""
    by_time: dict[int, Kline] = {}
    for k in (*stored, *live):  # live last: its version of a candle wins
        if (start is None or k.open_time >= start) and (end is None or k.open_time <= end):
            by_time[k.open_time] = k
    ordered = [by_time[t] for t in sorted(by_time)]
    return ordered[:limit] if start is not None else ordered[-limit:]


class Lookup:
    """Turns a ``symbol`` parameter into a streamed (or stored) instrument id, or an
    ApiError saying why not in words a user can act on."""

    def __init__(self, source: LiveSource) -> None:
        self.source = source
        self._stored: set[str] = set()  # ids found in the store (stored rows are not deleted)

    def _shape(self, symbol: str) -> str:
        sid = symbol.strip().lower()
        if not ID_SHAPE.fullmatch(sid):
            raise ApiError(400, f"symbol {symbol!r}: not an instrument id; ids look like "
                                "cryptopair_binance_btcusdt (spot) or cryptoperp_okx_btcusdt "
                                "(USDT perpetual), see /api/v1/crypto/pairs", "symbol")
        return sid

    def streamed(self, symbol: str) -> str:
        sid = self._shape(symbol)
        if self.source.change_seq(sid) is None:
            raise self.unknown(sid)
        return sid

    def unknown(self, sid: str) -> ApiError:
        directory = self.source if isinstance(self.source, MarketDirectory) else None
        if directory is not None and any(i.id == sid for i in directory.markets()):
            return ApiError(404, f"symbol {sid}: listed but not streamed in this session (add it "
                                 "with --symbols, or open it in the terminal)", "symbol")
        return ApiError(404, f"symbol {sid}: unknown instrument (see /api/v1/crypto/pairs)", "symbol")

    def known(self, symbol: str, history: Any) -> tuple[str, bool]:
        """(id, streamed) for an instrument streamed now or found in the store."""
        sid = self._shape(symbol)
        if self.source.change_seq(sid) is not None:
            return sid, True
        if sid in self._stored:
            return sid, False
        try:
            found = history is not None and history.instrument(sid) is not None
        except SQLAlchemyError as exc:
            raise ApiError(503, f"the history store cannot be read: {type(exc).__name__}") from None
        if found:
            self._stored.add(sid)
            return sid, False
        raise self.unknown(sid)


def build_app(source: LiveSource, broker: StreamBroker) -> FastAPI:
    app = FastAPI(title="cryptoterm data API", version="1",
                  description="What the cryptoterm session sees: live books, tickers, klines and "
                              "trades, and the recorded history. Read-only.")
    errors.install(app)
    lookup = Lookup(source)
    watched: set[tuple[str, str]] = set()  # asked of the engine once each

    def history() -> Any:
        if not isinstance(source, HistorySource):
            return None
        try:
            return source.history()
        except (CryptotermError, OSError, RuntimeError) as exc:
            raise ApiError(503, f"the history store cannot be opened: {exc}") from None

    def all_pairs() -> list[tuple[Instrument, bool]]:
        streamed = {i.id: i for i in source.instruments()}
        listed = source.markets() if isinstance(source, MarketDirectory) else []
        out = [(streamed.get(i.id, i), i.id in streamed) for i in listed]
        seen = {i.id for i in listed}
        out += [(i, True) for i in streamed.values() if i.id not in seen]
        order = {v: n for n, v in enumerate(registry.VENUES)}
        out.sort(key=lambda p: (order.get(p[0].venue, 99), p[0].market, p[0].symbol))
        return out

    @app.get(f"{PREFIX}/exchanges", summary="Venues in use")
    async def exchanges() -> Response:
        venues = {i.venue for i, _ in all_pairs()}
        return json_response({"exchanges": [v for v in registry.VENUES if v in venues]})

    @app.get(f"{PREFIX}/pairs", summary="Markets of one venue (or all), with precision and limits")
    async def pairs(exchange: Annotated[str | None, Query(description="binance, okx, bybit, coinbase")] = None,
                    type: Annotated[str | None, Query(description="spot or perp")] = None) -> Response:
        rows = all_pairs()
        if exchange is not None:
            name = exchange.strip().lower()
            in_use = sorted({i.venue for i, _ in rows}, key=list(registry.VENUES).index)
            if name not in in_use:
                what = "not in use in this session" if name in registry.VENUES else "unknown exchange"
                raise ApiError(400, f"exchange {exchange!r}: {what} (in use: {', '.join(in_use) or 'none'})",
                               "exchange")
            rows = [p for p in rows if p[0].venue == name]
        if type is not None:
            if type not in ("spot", "perp"):
                raise ApiError(400, f"type {type!r}: use spot or perp", "type")
            rows = [p for p in rows if p[0].market == type]
        data = [pair_json(i, s) for i, s in rows]
        return json_response({"pairs": data, "count": len(data)})

    @app.get(f"{PREFIX}/kdata", summary="Klines: the stored ones plus the live open one")
    def kdata(symbol: Symbol,
              interval: Annotated[str, Query(description=" ".join(INTERVAL_MS))] = "1m",
              limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
              start: Annotated[int | None, Query(ge=0, description="open time from, epoch ms")] = None,
              end: Annotated[int | None, Query(ge=0, description="open time to (inclusive), epoch ms")] = None,
              ) -> Response:
        if interval not in INTERVAL_MS:
            raise ApiError(400, f"interval {interval!r}: use one of {', '.join(INTERVAL_MS)}", "interval")
        if start is not None and end is not None and start > end:
            raise ApiError(400, f"start {start} is after end {end}", "start")
        reader = history()
        sid, streamed = lookup.known(symbol, reader)
        live: tuple[Kline, ...] = ()
        if streamed:
            if (sid, interval) not in watched:  # the engine streams it from now on
                watched.add((sid, interval))
                source.watch(sid, interval)
            live = source.live_klines(sid, interval)
        try:
            stored = [] if reader is None else reader.klines(sid, interval, since=start, until=end,
                                                             limit=limit)
        except SQLAlchemyError as exc:  # a locked or damaged store: say so, serve nothing stale
            raise ApiError(503, f"the history store cannot be read: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]}") from None
        data = [kline_row(k) for k in merge_klines(stored, live, start, end, limit)]
        return json_response({"symbol": sid, "interval": interval, "data": data, "count": len(data)})

    @app.get(f"{PREFIX}/ticker", summary="The latest ticker")
    async def ticker(symbol: Symbol) -> Response:
        sid = lookup.streamed(symbol)
        t = source.ticker(sid)
        if t is None:
            raise ApiError(503, f"no ticker received for {sid} yet", "symbol")
        return json_response(t.to_json())

    @app.get(f"{PREFIX}/orderbook", summary="The best levels of the book; 503 while it is not synced")
    async def orderbook(symbol: Symbol,
                        depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 20) -> Response:
        sid = lookup.streamed(symbol)
        top = source.book_top(sid, depth)
        if top is None:
            raise lookup.unknown(sid)
        if not top.synced:
            raise ApiError(503, f"the book of {sid} is not synced: {top.reason}", "symbol",
                           synced=False, reason=top.reason)
        return json_response({"symbol": sid, "bids": top.bids, "asks": top.asks, "ts": top.ts,
                              "synced": True})

    @app.get(f"{PREFIX}/health", summary="Each connection's state, message age and rate, gaps, resyncs")
    async def health() -> Response:
        return json_response({"connections": [health_json(h) for h in source.health()],
                              "api": broker.stats()})

    @app.websocket(f"{PREFIX}/stream")
    async def stream(ws: WebSocket) -> None:
        await broker.serve(ws)

    return app
