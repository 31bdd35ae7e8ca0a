"""MarketHub: the latest state of every instrument, shared by feeds (writers, engine
thread) and readers (UI frames, recorder) under one lock.

Writers hold the lock for one message's apply (microseconds); readers copy what they
need into immutable views, so nothing mutable ever leaves the engine thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from app.feeds.health import FeedHealth, HealthView
from app.feeds.views import BookTopView, InstrumentView
from app.market.compare import Summary
from app.market.events import Funding, Kline, MarketEvent, Ticker, Trade
from app.market.instruments import Instrument
from app.market.klines import fold_trade
from app.market.orderbook import OrderBook

MAX_TRADES = 200
MAX_KLINES = 1000


def _change(t: Ticker | None, last: float | None) -> float | None:
    """24 h change in percent of ``last`` against the ticker's 24 h open."""
    if t is None or last is None or not t.open_24h:
        return None
    return (last - t.open_24h) / t.open_24h * 100.0


class InstrumentState:
    __slots__ = ("instrument", "book", "synced", "ticker", "trades", "klines", "_kline_cache",
                 "funding", "seq", "health", "trade_built", "sync_note", "retry_at", "kline_depth")

    def __init__(self, instrument: Instrument, health: FeedHealth | None = None,
                 kline_depth: int = MAX_KLINES) -> None:
        self.instrument = instrument
        self.kline_depth = kline_depth
        self.book = OrderBook()
        self.synced = False
        self.ticker: Ticker | None = None
        self.trades: deque[Trade] = deque(maxlen=MAX_TRADES)
        self.klines: dict[str, dict[int, Kline]] = {}
        self._kline_cache: dict[str, tuple[Kline, ...]] = {}
        self.funding: Funding | None = None
        self.seq = 0
        self.health = health
        self.trade_built: set[str] = set()  # intervals whose live kline comes from trades
        # why the book is not synced, in plain words ("resync: REST 503"), and when the
        # feed tries again (the health clock's seconds): the ladder and status bar say so
        self.sync_note: str | None = None
        self.retry_at: float | None = None

    def sync_reason(self) -> str | None:
        """The note with a countdown to the next try, while the book is unsynced."""
        if self.synced or self.sync_note is None:
            return None
        if self.retry_at is None or self.health is None:
            return self.sync_note
        wait = self.retry_at - self.health.clock()
        if wait < 0.5:
            return f"{self.sync_note}, trying again"
        return f"{self.sync_note}, next try in {wait:.0f} s"

    def put_kline(self, k: Kline) -> None:
        series = self.klines.setdefault(k.interval, {})
        series[k.open_time] = k
        self._changed(k.interval, series)

    def fold_trade(self, trade: Trade) -> None:
        for interval in self.trade_built:
            series = self.klines.setdefault(interval, {})
            if fold_trade(series, trade, interval):
                self._changed(interval, series)

    def _changed(self, interval: str, series: dict[int, Kline]) -> None:
        """Keep the newest ``kline_depth`` and drop the cached sorted copy."""
        if len(series) > self.kline_depth:
            for old in sorted(series)[: len(series) - self.kline_depth]:
                del series[old]
        self._kline_cache.pop(interval, None)

    def kline_series(self, interval: str) -> tuple[Kline, ...]:
        cached = self._kline_cache.get(interval)
        if cached is None:
            series = self.klines.get(interval, {})
            cached = tuple(series[t] for t in sorted(series))
            self._kline_cache[interval] = cached
        return cached


SPARK_MINUTES = 60  # the watchlist's sparkline: the last hour of 1m closes


def merged_funding(prev: Funding | None, ev: Funding) -> Funding:
    """Venues send rate and mark price in separate messages (OKX): merge, so one never
    blanks the other on screen."""
    if prev is None or None not in (ev.rate, ev.next_funding_time, ev.mark_price, ev.index_price):
        return ev
    return Funding(ev.id, ev.ts,
                   prev.rate if ev.rate is None else ev.rate,
                   prev.next_funding_time if ev.next_funding_time is None else ev.next_funding_time,
                   prev.mark_price if ev.mark_price is None else ev.mark_price,
                   prev.index_price if ev.index_price is None else ev.index_price)


class TickerState:
    """A market streamed without a book (a watchlist row): its ticker, funding, the
    health of the connection carrying it, and one close per minute for the sparkline
    (REST history first, then the ticker's last price of each minute)."""

    __slots__ = ("instrument", "ticker", "funding", "health", "seq", "closes")

    def __init__(self, instrument: Instrument, health: FeedHealth | None = None) -> None:
        self.instrument = instrument
        self.ticker: Ticker | None = None
        self.funding: Funding | None = None
        self.health = health
        self.seq = 0
        self.closes: dict[int, float] = {}  # minute open time (ms) -> close

    def put_close(self, minute_ms: int, close: float) -> None:
        closes = self.closes
        if minute_ms not in closes and closes and minute_ms < next(reversed(closes)):
            # an older minute (REST history arriving after live prices): keep order
            closes[minute_ms] = close
            self.closes = dict(sorted(closes.items()))
        else:
            closes[minute_ms] = close
        while len(self.closes) > SPARK_MINUTES:
            del self.closes[next(iter(self.closes))]


class MarketHub:
    def __init__(self, kline_depth: int = MAX_KLINES) -> None:
        """``kline_depth``: candles kept per instrument and interval, for the chart and the
        sparklines (the headless recorder, with no chart, keeps a few: its memory then
        stops growing within minutes, not after MAX_KLINES minutes)."""
        self.lock = threading.Lock()
        self.kline_depth = kline_depth
        self._states: dict[str, InstrumentState] = {}
        self._tickers: dict[str, TickerState] = {}  # markets streamed without books
        # the watchlist's summaries, rebuilt only when their instrument changed (hundreds of
        # rows at the UI's frame rate, most of them changing once a second at most)
        self._watch_cache: dict[str, tuple[tuple[object, ...], Summary]] = {}
        self._healths: list[FeedHealth] = []
        self._listeners: list[Callable[[MarketEvent], None]] = []

    # -- engine side (call with ``lock`` held) -------------------------------------

    def add_instrument(self, instrument: Instrument, health: FeedHealth | None = None) -> InstrumentState:
        state = self._states.get(instrument.id)
        if state is None:
            state = self._states[instrument.id] = InstrumentState(instrument, health, self.kline_depth)
        else:
            state.instrument = instrument  # richer metadata replaces the preliminary one
            if health is not None:
                state.health = health
        return state

    def remove_instrument(self, instrument_id: str) -> None:
        self._states.pop(instrument_id, None)

    def add_health(self, health: FeedHealth) -> None:
        if health not in self._healths:
            self._healths.append(health)

    def remove_health(self, health: FeedHealth) -> None:
        if health in self._healths:
            self._healths.remove(health)

    def state(self, instrument_id: str) -> InstrumentState | None:
        return self._states.get(instrument_id)

    def subscribe(self, listener: Callable[[MarketEvent], None]) -> None:
        """Called (on the engine thread, lock held) with every normalized event."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[MarketEvent], None]) -> None:
        """Stop calling ``listener`` (lock held); nothing when it was not subscribed."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def on_event(self, ev: MarketEvent) -> None:
        st = self._states.get(ev.id)
        if st is None:
            return
        if isinstance(ev, Trade):
            st.trades.appendleft(ev)
            if st.trade_built:
                st.fold_trade(ev)
        elif isinstance(ev, Kline):
            st.put_kline(ev)
        elif isinstance(ev, Ticker):
            st.ticker = ev
        elif isinstance(ev, Funding):
            st.funding = ev = merged_funding(st.funding, ev)
        st.seq += 1
        for listener in self._listeners:
            listener(ev)

    def add_ticker_instrument(self, instrument: Instrument, health: FeedHealth | None = None
                              ) -> TickerState:
        state = self._tickers.get(instrument.id)
        if state is None:
            state = self._tickers[instrument.id] = TickerState(instrument, health)
        elif health is not None:
            state.health = health
        return state

    def ticker_state(self, instrument_id: str) -> TickerState | None:
        return self._tickers.get(instrument_id)

    def on_ticker_event(self, ev: MarketEvent) -> None:
        """An event of a market streamed without a book (ticker or funding)."""
        st = self._tickers.get(ev.id)
        if st is None:
            return
        if isinstance(ev, Ticker):
            st.ticker = ev
            if ev.last is not None:
                st.put_close(ev.ts - ev.ts % 60_000, ev.last)
        elif isinstance(ev, Funding):
            st.funding = ev = merged_funding(st.funding, ev)
        else:
            return
        st.seq += 1
        for listener in self._listeners:
            listener(ev)

    def touch(self, instrument_id: str, synced: bool) -> None:
        st = self._states.get(instrument_id)
        if st is not None:
            st.synced = synced
            st.seq += 1
            if synced:
                st.sync_note = st.retry_at = None

    def note_sync(self, instrument_id: str, note: str | None, retry_at: float | None = None) -> None:
        """Say why a book is not synced yet (None clears it)."""
        st = self._states.get(instrument_id)
        if st is not None and (st.sync_note, st.retry_at) != (note, retry_at):
            st.sync_note, st.retry_at = note, retry_at
            st.seq += 1

    # -- reader side (take the lock) -----------------------------------------------

    def instruments(self) -> list[Instrument]:
        with self.lock:
            return [s.instrument for s in self._states.values()]

    def health(self) -> list[HealthView]:
        with self.lock:
            return [h.view() for h in self._healths]

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        with self.lock:
            st = self._states.get(instrument_id)
            if st is None:
                return None
            book = st.book
            bids, asks = book.ladder(depth, group) if st.synced else ([], [])
            best_bid = book.best_bid if st.synced else None
            best_ask = book.best_ask if st.synced else None
            recent = tuple(st.trades)[:trades]
            return InstrumentView(
                instrument=st.instrument, seq=st.seq, synced=st.synced,
                bids=tuple(bids), asks=tuple(asks),
                best_bid=best_bid[0] if best_bid else None,
                best_ask=best_ask[0] if best_ask else None,
                ticker=st.ticker, trades=recent, klines=st.kline_series(interval),
                interval=interval, funding=st.funding,
                health=st.health.view() if st.health is not None else None,
                sync_reason=st.sync_reason())

    def overview(self, tickers: bool = False) -> list[Summary]:
        """A summary of every instrument with a book (cross-venue view); with ``tickers``
        also of every market streamed without one (the watchlist). Cheap: best levels only."""
        out = []
        with self.lock:
            for st in self._states.values():
                out.append(self._book_summary(st))
            if tickers:
                states = self._states
                for ts in self._tickers.values():
                    if ts.instrument.id not in states:  # else the book's row is richer
                        out.append(self._ticker_summary(ts))
        return out

    def watch_summaries(self) -> list[Summary]:
        """``overview(tickers=True)`` for the watchlist, each summary rebuilt only when its
        instrument's state or feed changed: ``last_message_age`` is as of that change."""
        out = []
        cache = self._watch_cache
        with self.lock:
            states = self._states
            for st in states.values():
                h = st.health
                key: tuple[object, ...] = (st.seq, st.synced, h.state if h else None, h)
                hit = cache.get(st.instrument.id)
                if hit is None or hit[0] != key:
                    hit = cache[st.instrument.id] = (key, self._book_summary(st))
                out.append(hit[1])
            for ts in self._tickers.values():
                if ts.instrument.id in states:
                    continue
                h = ts.health
                key = (ts.seq, False, h.state if h else None, h)
                hit = cache.get(ts.instrument.id)
                if hit is None or hit[0] != key:
                    hit = cache[ts.instrument.id] = (key, self._ticker_summary(ts))
                out.append(hit[1])
        return out

    @staticmethod
    def _book_summary(st: InstrumentState) -> Summary:
        bid = st.book.best_bid if st.synced else None
        ask = st.book.best_ask if st.synced else None
        t = st.ticker
        last = st.trades[0].price if st.trades else (t.last if t else None)
        f = st.funding
        h = st.health
        return Summary(st.instrument, last, bid[0] if bid else None, ask[0] if ask else None,
                       st.synced, f.rate if f else None, f.next_funding_time if f else None,
                       f.mark_price if f else None, h.state if h else "connecting",
                       None if h is None or h.last_message is None
                       else max(0.0, h.clock() - h.last_message),
                       _change(t, last), t.quote_turnover if t else None, True, st.seq)

    @staticmethod
    def _ticker_summary(ts: TickerState) -> Summary:
        t, f, h = ts.ticker, ts.funding, ts.health
        last = t.last if t else None
        return Summary(ts.instrument, last, t.bid if t else None, t.ask if t else None, False,
                       f.rate if f else None, f.next_funding_time if f else None,
                       f.mark_price if f else None, h.state if h else "connecting",
                       None if h is None or h.last_message is None
                       else max(0.0, h.clock() - h.last_message),
                       _change(t, last), t.quote_turnover if t else None, False, ts.seq)

    def sparklines(self, instrument_ids: list[str], minutes: int = SPARK_MINUTES
                   ) -> dict[str, tuple[float, ...]]:
        """The last ``minutes`` 1m closes of each instrument (its klines when it has a
        book, else the closes kept from its ticker), oldest first."""
        out: dict[str, tuple[float, ...]] = {}
        with self.lock:
            for inst_id in instrument_ids:
                st = self._states.get(inst_id)
                if st is not None:
                    series = st.kline_series("1m")
                    if series:
                        out[inst_id] = tuple(k.close for k in series[-minutes:])
                        continue
                ts = self._tickers.get(inst_id)
                if ts is not None and ts.closes:
                    out[inst_id] = tuple(ts.closes.values())[-minutes:]
        return out

    def book_top(self, instrument_id: str, depth: int = 20) -> tuple[list[Any], list[Any]] | None:
        with self.lock:
            st = self._states.get(instrument_id)
            if st is None or not st.synced:
                return None
            return st.book.top(depth)

    def book_top_view(self, instrument_id: str, depth: int = 20) -> BookTopView | None:
        """The best ``depth`` levels per side and the sync state; None when unknown."""
        with self.lock:
            st = self._states.get(instrument_id)
            if st is None:
                return None
            if not st.synced:
                return BookTopView(instrument_id, st.seq, False, st.book.ts, (), (),
                                   st.sync_reason() or "the book is being built")
            bids, asks = st.book.top(depth)
            return BookTopView(instrument_id, st.seq, True, st.book.ts, tuple(bids), tuple(asks), None)

    def ticker(self, instrument_id: str) -> Ticker | None:
        with self.lock:
            st = self._states.get(instrument_id)
            return None if st is None else st.ticker

    def live_klines(self, instrument_id: str, interval: str) -> tuple[Kline, ...]:
        """The hub's klines of ``interval``, oldest first, the last one possibly open (the
        cached tuple the UI reads too: no copy per call)."""
        with self.lock:
            st = self._states.get(instrument_id)
            return () if st is None else st.kline_series(interval)

    def seq(self, instrument_id: str) -> int | None:
        """The instrument's change counter (bumps on every book update, trade, ...)."""
        st = self._states.get(instrument_id)  # one dict read and one int: no lock needed
        return None if st is None else st.seq
