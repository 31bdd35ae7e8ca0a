"""The engine: feeds and hub on their own thread with their own asyncio loop, so a
20k msgs/s blast never makes a keypress wait. Implements ``app.engine_api.EngineFacade``
(the UI's and the data API's one face of it)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TYPE_CHECKING

from app.config import AppConfig, Endpoint
from app.feeds import metadata_cache
from app.feeds.capture import CaptureWriter
from app.feeds.connection import ConnectGate, ConnectionSettings
from app.feeds.core import FeedStats
from app.feeds.feed import VenueFeed
from app.feeds.health import FeedHealth, HealthView
from app.feeds.hub import MAX_KLINES, MarketHub
from app.feeds.recording import RecordingControl
from app.feeds.rest import RestClient, RestError, budget_for
from app.feeds.tickers import TickerFeed, supports_tickers
from app.feeds.top_markets import TopMarketsError, market_volumes
from app.feeds.venue_rest import METADATA_WEIGHT
from app.feeds.views import BookTopView, InstrumentView, Unlisted
from app.market.events import Kline, MarketEvent, Ticker
from app.market.compare import Summary
from app.market.instruments import Instrument, MarketType, not_listed_message, parse_display_symbol
from app.venues import registry

if TYPE_CHECKING:
    from storage.history import HistoryReader

log = logging.getLogger(__name__)

USD_FAMILY = ("USDT", "USD", "USDC")
# the watchlist's markets: every USDT pair and perp (Coinbase: USD pairs) of each venue,
# at most this many per venue and market (a venue listing more shows its most traded)
WATCH_QUOTES = ("USDT", "USD")
MAX_WATCH_ROWS = 500
TOP_WAIT_S = 5.0  # how long --top waits for tickers to rank the markets by

# orders a market's instruments most traded first (``--top N`` books the first N)
Ranking = Callable[[list[Instrument], dict[str, float]], list[Instrument]]


def rank_by_turnover(instruments: list[Instrument], turnover: dict[str, float]) -> list[Instrument]:
    """Most 24 h quote turnover first (from the venues' tickers); unknown last, in the
    venue's listing order."""
    return sorted(instruments, key=lambda i: -turnover.get(i.id, -1.0))


def preliminary_instruments(venues: list[str], symbols: list[str]) -> list[Instrument]:
    """Instruments from the user's display symbols on each venue that has such a market,
    before the venues' metadata arrives (which may still drop or substitute some)."""
    out = []
    for venue in venues:
        for text in symbols:
            market, base, quote = parse_display_symbol(text)
            if (venue, market) in registry.KNOWN:
                out.append(Instrument(venue, market, base, quote, f"{base}{quote}"))
    return out


def match_instruments(wanted: list[Instrument], available: list[Instrument]
                      ) -> tuple[list[Instrument], list[Instrument]]:
    """(found, missing): each wanted instrument matched by market, base and quote — or,
    for the USD family, by the venue's own dollar quote (BTC/USDT wanted, Coinbase has
    BTC-USD), since users compare those across venues as one market."""
    index = {(i.market, i.base.upper(), i.quote.upper()): i for i in available}
    found: list[Instrument] = []
    missing: list[Instrument] = []
    for w in wanted:
        quotes = [w.quote.upper()]
        if quotes[0] in USD_FAMILY:
            quotes += [q for q in USD_FAMILY if q != quotes[0]]
        hit = next((index[(w.market, w.base.upper(), q)] for q in quotes
                    if (w.market, w.base.upper(), q) in index), None)
        if hit is None:
            missing.append(w)
        elif hit not in found:
            found.append(hit)
    return found, missing


class Engine:
    def __init__(self, cfg: AppConfig, symbols: list[str] | None = None,
                 settings: ConnectionSettings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 capture: CaptureWriter | None = None,
                 venues: list[str] | None = None, top: int = 0,
                 ranking: Ranking | None = None,
                 per_venue: dict[str, list[str]] | None = None,
                 kline_depth: int = MAX_KLINES) -> None:
        """``per_venue``: symbols of each venue (``record --top N``: every venue its own
        most traded), instead of ``symbols`` on every venue. ``kline_depth``: candles kept
        in memory per instrument and interval (see MarketHub)."""
        self.cfg = cfg
        # --top N / [app] watch_top: books for the N most traded markets of each venue and
        # market, every other watchlist row streams tickers only. Ranked by the venue's
        # 24h tickers over REST (app.feeds.top_markets), or by ``ranking`` over the
        # streamed tickers' turnover when given (and when the venue's REST cannot rank)
        self.top = top
        self.ranking = ranking
        self.hub = MarketHub(kline_depth)
        self.settings = settings or ConnectionSettings()
        self.clock = clock  # feed health ages and rates; frozen in screenshot tests
        self.capture = capture  # raw capture (format v1), written on the engine thread
        self.venues = list(venues or cfg.venues)
        if per_venue is None:
            self._wanted = preliminary_instruments(self.venues, symbols or cfg.symbols)
        else:
            self._wanted = [i for v in self.venues
                            for i in preliminary_instruments([v], per_venue.get(v, []))]
        self._feeds: dict[tuple[str, MarketType], VenueFeed] = {}
        # every market each venue lists (symbol switcher), and the REST/endpoint per market
        self._available: dict[tuple[str, MarketType], dict[str, Instrument]] = {}
        self._io: dict[tuple[str, MarketType], tuple[RestClient, Endpoint]] = {}
        self._gates: dict[str, ConnectGate] = {}  # one connection-attempt pace per venue
        self._pending_ensure: set[str] = set()  # opened before their market list arrived
        self._rests: list[RestClient] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop_event: asyncio.Event | None = None
        self._watched: set[tuple[str, str]] = set()  # touched only on the engine loop
        self.problems: list[str] = []  # plain-words startup problems, e.g. unknown symbols
        self._unlisted: dict[str, Unlisted] = {}  # requested instrument id -> why not streamed
        self._resolving = 0  # requested markets whose instrument list is not matched yet
        self._resolved = threading.Event()
        self._loading: set[tuple[str, MarketType]] = set()  # market lists _start_market loads
        self._ticker_feeds: dict[tuple[str, MarketType], TickerFeed] = {}
        self._tickers_task: asyncio.Task[Any] | None = None
        self.trading = None  # the trading runtime (app.trading.service), set by attach()
        # the store and recorder (storage/); set ``recording_control.database_factory`` to enable
        self.recording_control = RecordingControl(self.hub)
        with self.hub.lock:
            for inst in self._wanted:
                self.hub.add_instrument(inst)

    # -- lifecycle -----------------------------------------------------------------

    def prioritize(self, instrument_id: str | None) -> None:
        """Start this instrument's market first (call before ``start``)."""
        self._wanted.sort(key=lambda i: i.id != instrument_id)


    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="cryptoterm-engine", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        loop = self._loop
        if loop is not None and self._stop_event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stop_event.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self.recording_control.stop()

    def attach(self, service: Any) -> None:  # app.trading.service.TradingService (a layer above)
        """Attach the trading runtime before ``start``: it runs on this loop (``astart`` as the
        loop starts, ``aclose`` before it ends) and the UI reaches it as ``engine.trading``."""
        self.trading = service
        service.bind(self)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except Exception:  # the UI must learn the engine died, not freeze silently
            log.exception("engine crashed")
            self.problems.append("the market engine stopped unexpectedly; see the log file")
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()
        by_market: dict[tuple[str, MarketType], list[Instrument]] = {}
        for inst in self._wanted:
            by_market.setdefault((inst.venue, inst.market), []).append(inst)
        self._resolving = len(by_market)
        self._loading = set(by_market)
        if not by_market:
            self._resolved.set()
        self._ready.set()
        loop = asyncio.get_running_loop()
        # The instrument on screen first: its market starts now, everything else once
        # its book is synced (or after a moment), so the first frame is not queued
        # behind a dozen other markets' metadata, snapshots and history.
        first = self._wanted[0] if self._wanted else None
        key = (first.venue, first.market) if first else None
        boot = [loop.create_task(self._start_market(*key, by_market[key]))] if key else []
        boot.append(loop.create_task(self._start_rest(
            first.id if first else None,
            [(v, m, insts) for (v, m), insts in by_market.items() if (v, m) != key])))
        if self.top > 0:
            self._begin_tickers()
        await self._stop_event.wait()
        if self._tickers_task is not None:
            boot.append(self._tickers_task)
        for task in boot:
            task.cancel()
        await asyncio.gather(*boot, return_exceptions=True)
        if self.trading is not None:
            try:
                await self.trading.aclose()
            except Exception:  # closing venue sessions must not keep the feeds open
                log.exception("closing trading failed")
        for feed in self._feeds.values():
            await feed.stop()
        for tfeed in self._ticker_feeds.values():
            await tfeed.stop()
        for rest in self._rests:
            await rest.close()
        if self.capture is not None:
            self.capture.close()

    async def _start_rest(self, first_id: str | None, markets: list[Any]) -> None:
        deadline = time.monotonic() + 2.5
        while first_id is not None and time.monotonic() < deadline:
            st = self.hub.state(first_id)
            if st is None or (st.synced and st.trades):
                # a breath for the UI to paint it before a dozen markets start at once
                await asyncio.sleep(0.4)
                break
            await asyncio.sleep(0.05)
        tasks = [asyncio.get_running_loop().create_task(self._start_market(v, m, insts))
                 for v, m, insts in markets]
        if self.trading is not None:
            tasks.append(asyncio.get_running_loop().create_task(self.trading.astart()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _start_market(self, venue: str, market: MarketType, wanted: list[Instrument]) -> None:
        name = f"{venue} {market}"
        endpoint = self.cfg.endpoint(registry.config_key(venue, market))
        recorder = None if self.capture is None else self.capture.rest_recorder(venue, market)
        budget = budget_for(venue, market)
        rest = RestClient(endpoint.rest_url, budget, on_response=recorder)
        self._rests.append(rest)
        health = FeedHealth(name, clock=self.clock)
        with self.hub.lock:
            self.hub.add_health(health)
            for inst in wanted:
                st = self.hub.state(inst.id)
                if st is not None:
                    st.health = health
        available = await self._load_instruments(venue, market, rest, health)
        found, missing = match_instruments(wanted, available)
        with self.hub.lock:
            self.hub.remove_health(health)
            found_ids = {i.id for i in found}
            for inst in wanted:
                if inst.id not in found_ids:
                    self.hub.remove_instrument(inst.id)
            for inst in missing:
                message = not_listed_message(inst.symbol, name, [i.symbol for i in available])
                log.warning(message)
                self._unlisted[inst.id] = Unlisted(inst.symbol, name, message)
                self.problems.append(message)
        self._resolving -= 1
        if self._resolving <= 0:
            self._resolved.set()
        self._available[(venue, market)] = {i.id: i for i in available}
        self._io[(venue, market)] = (rest, endpoint)
        late = [self._available[(venue, market)][i] for i in list(self._pending_ensure)
                if i in self._available[(venue, market)] and i not in found_ids]
        self._pending_ensure.difference_update(i.id for i in late)
        with self.hub.lock:
            for inst in late:
                self.hub.add_instrument(inst)
        if found or late:
            await self._start_feed(venue, market, found + late)

    async def _start_feed(self, venue: str, market: MarketType, instruments: list[Instrument]) -> VenueFeed:
        rest, endpoint = self._io[(venue, market)]
        # the codec knows every listed market, so instruments added later decode at once
        codec = registry.make_venue(venue, market, list(self._available[(venue, market)].values()))
        gate = self._gates.get(venue)
        if gate is None:
            gate = self._gates[venue] = ConnectGate(registry.VENUES[venue].connects_per_sec)
        feed = VenueFeed(codec, self.hub, endpoint.ws_url, rest, instruments, settings=self.settings,
                         clock=self.clock, capture=self.capture, gate=gate)
        self._feeds[(venue, market)] = feed
        await feed.start()
        for instrument_id, interval in self._watched:
            feed.watch(instrument_id, interval)
        return feed

    async def _load_instruments(self, venue: str, market: MarketType, rest: RestClient,
                                health: FeedHealth) -> list[Instrument]:
        """The venue's instrument list over REST, retried until the venue answers; a fresh
        copy from the daily cache of this very endpoint serves instead (a stale one while
        the venue does not answer). A raw capture always fetches: it must hold what the
        venue said in this session, never a file from disk passed off as received."""
        path = registry.metadata_path(venue, market)
        cache = None
        if self.cfg.metadata_cache:
            metadata_cache.remove(metadata_cache.legacy_path(self.cfg.data_dir, venue, market))
            cache = metadata_cache.cache_path(self.cfg.data_dir, venue, market, rest.base_url, path)
        reuse = cache is not None and self.capture is None
        text = metadata_cache.read(cache) if reuse and cache is not None else None
        attempt = 0
        while text is None:
            try:
                text = await rest.get_text(path, weight=METADATA_WEIGHT, retries=1)  # captured by on_response
            except RestError as exc:
                health.state = "reconnecting"
                health.error = f"cannot load market list: {exc}"
                log.warning("%s %s: %s", venue, market, health.error)
                if reuse and cache is not None:
                    text = metadata_cache.read(cache, float("inf"))
                    if text is not None:
                        log.info("%s %s: using the cached market list until the venue answers",
                                 venue, market)
                        break
                await asyncio.sleep(min(30.0, 1.0 * 2 ** attempt))
                attempt += 1
                continue
            if cache is not None:
                metadata_cache.write(cache, text)
        try:
            return registry.instruments_from_metadata(venue, market, text)
        except (ValueError, KeyError, TypeError) as exc:
            health.error = f"unusable market list: {exc}"
            log.warning("%s %s: %s", venue, market, health.error)
            if cache is not None:
                metadata_cache.remove(cache)
            return []

    # -- MarketSource --------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return self.hub.instruments()

    def view(self, instrument_id: str, depth: int = 20, group: float = 0.0,
             interval: str = "1m", trades: int = 50) -> InstrumentView | None:
        return self.hub.view(instrument_id, depth, group, interval, trades)

    # -- LiveReads (the data API's cheap reads) ----------------------------------------

    def book_top(self, instrument_id: str, depth: int = 20) -> BookTopView | None:
        return self.hub.book_top_view(instrument_id, depth)

    def ticker(self, instrument_id: str) -> Ticker | None:
        return self.hub.ticker(instrument_id)

    def live_klines(self, instrument_id: str, interval: str) -> tuple[Kline, ...]:
        return self.hub.live_klines(instrument_id, interval)

    def change_seq(self, instrument_id: str) -> int | None:
        return self.hub.seq(instrument_id)

    def listen(self, listener: Callable[[MarketEvent], None]) -> Callable[[], None]:
        """Call ``listener`` on the engine thread with every normalized event; returns the
        function that stops it. The listener runs inside the engine's hot path: it must
        only hand the event over, never block."""
        hub = self.hub
        with hub.lock:
            hub.subscribe(listener)

        def stop() -> None:
            with hub.lock:
                hub.unsubscribe(listener)

        return stop

    def unlisted(self) -> dict[str, Unlisted]:
        """Requested instruments their venue does not list, by id, each with a message
        naming what it does list (the UI shows it instead of waiting for data forever)."""
        return dict(self._unlisted)

    def wait_resolved(self, timeout: float | None = None) -> bool:
        """Block until every requested market's instrument list is loaded and matched
        (so ``instruments()`` holds exactly what will stream); False on timeout."""
        return self._resolved.wait(timeout)

    def markets(self) -> list[Instrument]:
        """Every market of every venue in use (streamed or not), for the symbol switcher."""
        return [i for by_id in list(self._available.values()) for i in list(by_id.values())]

    def ensure(self, instrument_id: str) -> None:
        """Start streaming an instrument the user opened (no-op when already streamed)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self.hub.state(instrument_id) is not None:
            return

        found = [(key, by_id[instrument_id]) for key, by_id in list(self._available.items())
                 if instrument_id in by_id]
        if not found:
            # its venue's market list is still loading: opened as soon as it arrives
            loop.call_soon_threadsafe(self._pending_ensure.add, instrument_id)
            return
        (venue, market), inst = found[0]
        with self.hub.lock:  # visible (as unsynced) right away, before the feed has it
            self.hub.add_instrument(inst)
        asyncio.run_coroutine_threadsafe(self._add_book(venue, market, inst), loop)

    async def _add_book(self, venue: str, market: MarketType, inst: Instrument) -> None:
        """Stream one more instrument with its book (on the engine loop)."""
        with self.hub.lock:
            self.hub.add_instrument(inst)
        feed = self._feeds.get((venue, market))
        if feed is None:
            await self._start_feed(venue, market, [inst])
        else:
            feed.add_instrument(inst)

    def overview(self) -> list[Summary]:
        """Every instrument's summary, for the cross-venue view."""
        return self.hub.overview()

    # -- the watchlist (Watchlist in app.engine_api) ---------------------------------

    def stream_tickers(self) -> None:
        """Start tickers for every watchlist market without a book (idempotent)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._begin_tickers)

    def watchlist(self) -> list[Summary]:
        """A summary of every market streamed, with or without a book (rebuilt only for
        the markets that changed: ``last_message_age`` is as of that change)."""
        return self.hub.watch_summaries()

    def sparklines(self, instrument_ids: list[str], minutes: int = 60) -> dict[str, tuple[float, ...]]:
        return self.hub.sparklines(instrument_ids, minutes)

    def _begin_tickers(self) -> None:
        if self._tickers_task is None and self._stop_event is not None and not self._stop_event.is_set():
            self._tickers_task = asyncio.get_running_loop().create_task(self._start_tickers())

    async def _start_tickers(self) -> None:
        keys = [(v, m) for v in self.venues for m in ("spot", "perp") if (v, m) in registry.KNOWN]
        results = await asyncio.gather(*(self._start_ticker_market(v, m) for v, m in keys),  # type: ignore[arg-type]  # m is a MarketType literal
                                       return_exceptions=True)
        for key, result in zip(keys, results):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s %s tickers failed to start", *key, exc_info=result)

    async def _market_list(self, venue: str, market: MarketType) -> dict[str, Instrument]:
        """A market's instrument list: the one being loaded for streamed symbols, or
        loaded here (a market no configured symbol is on)."""
        key = (venue, market)
        while key in self._loading and key not in self._available:
            await asyncio.sleep(0.1)
        if key not in self._available:
            endpoint = self.cfg.endpoint(registry.config_key(venue, market))
            budget = budget_for(venue, market)
            rest = RestClient(endpoint.rest_url, budget)
            self._rests.append(rest)
            health = FeedHealth(f"{venue} {market}", clock=self.clock)
            with self.hub.lock:
                self.hub.add_health(health)
            available = await self._load_instruments(venue, market, rest, health)
            with self.hub.lock:
                self.hub.remove_health(health)
            if key not in self._available:  # (a symbol opened meanwhile may have loaded it)
                self._available[key] = {i.id: i for i in available}
                self._io[key] = (rest, endpoint)
                for inst in available:  # opened by the user before its market list came
                    if inst.id in self._pending_ensure:
                        self._pending_ensure.discard(inst.id)
                        await self._add_book(venue, market, inst)
        return self._available[key]

    async def _start_ticker_market(self, venue: str, market: MarketType) -> None:
        available = await self._market_list(venue, market)
        rows = [i for i in available.values() if i.quote.upper() in WATCH_QUOTES][:MAX_WATCH_ROWS]
        rest, endpoint = self._io[(venue, market)]
        codec = registry.make_venue(venue, market, list(available.values()))
        if not rows or not supports_tickers(codec):
            return
        gate = self._gates.get(venue)
        if gate is None:
            gate = self._gates[venue] = ConnectGate(registry.VENUES[venue].connects_per_sec)
        with self.hub.lock:
            unbooked = [i for i in rows if self.hub.state(i.id) is None]
        feed = TickerFeed(codec, self.hub, endpoint.ws_url, rest, unbooked,  # type: ignore[arg-type]  # supports_tickers checked it
                          settings=self.settings, clock=self.clock, gate=gate)
        self._ticker_feeds[(venue, market)] = feed
        await feed.start()
        if self.top > 0:
            await self._book_top(venue, market, rows)

    async def _book_top(self, venue: str, market: MarketType, rows: list[Instrument]) -> None:
        """Books for the ``top`` most traded rows."""
        ranked: list[Instrument] | None = None
        if self.ranking is None:
            rest, _ = self._io[(venue, market)]
            try:
                order = [m.instrument.id for m in await market_volumes(rest, venue, market, retries=1)]
            except TopMarketsError as exc:
                log.warning("%s; ranking by the streamed tickers instead", exc.message)
            else:
                by_id = {i.id: i for i in rows}
                ranked = [by_id[i] for i in order if i in by_id]
        if ranked is None:
            ranked = await self._rank_by_tickers(rows, self.ranking or rank_by_turnover)
        for inst in ranked[:self.top]:
            if self.hub.state(inst.id) is None:
                await self._add_book(venue, market, inst)

    async def _rank_by_tickers(self, rows: list[Instrument], ranking: Ranking) -> list[Instrument]:
        """``rows`` ranked by ``ranking`` over their streamed tickers' 24 h turnover, once
        (nearly) all have one or TOP_WAIT_S has passed."""
        deadline = time.monotonic() + TOP_WAIT_S
        turnover: dict[str, float] = {}
        while True:
            with self.hub.lock:
                for inst in rows:
                    st = self.hub.state(inst.id)
                    t = st.ticker if st is not None else None
                    if t is None:
                        ts = self.hub.ticker_state(inst.id)
                        t = ts.ticker if ts is not None else None
                    q = t.quote_turnover if t is not None else None
                    if q is not None:
                        turnover[inst.id] = q
            if len(turnover) >= 0.9 * len(rows) or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        return ranking(rows, turnover)

    def health(self) -> list[HealthView]:
        return self.hub.health() + self.recording_control.health()

    def feed_stats(self) -> list[tuple[str, MarketType, FeedStats]]:
        """(venue, market, counters) of every running feed: decode-side counts such as
        checksum failures that no connection's health carries (read by the metrics)."""
        return [(venue, market, feed.stats) for (venue, market), feed in list(self._feeds.items())]

    def watch(self, instrument_id: str, interval: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def _watch() -> None:
            # remembered, so a feed still loading its market list applies it when it starts
            self._watched.add((instrument_id, interval))
            for feed in self._feeds.values():
                feed.watch(instrument_id, interval)

        loop.call_soon_threadsafe(_watch)

    # -- recording and history (RecordingSwitch, HistorySource in app.engine_api) --

    def attach_recorder(self, recorder: Any) -> None:
        """Send every normalized event to ``recorder`` (storage.recorder.Recorder) and let
        it sample book tops; starts its writer thread."""
        self.recording_control.attach(recorder)

    def recording(self) -> set[str]:
        return self.recording_control.recording()

    def set_recording(self, instrument_id: str, on: bool) -> None:
        self.recording_control.set_recording(instrument_id, on)

    def database(self) -> Any:
        """The history store (a SQLAlchemy Engine), or None when none is configured."""
        return self.recording_control.database()

    def history(self) -> HistoryReader | None:
        """The history store's reader (storage.history.HistoryReader), or None."""
        from storage.history import HistoryReader  # storage is loaded only once asked for

        db = self.recording_control.database()
        return None if db is None else HistoryReader(db)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run a coroutine on the engine loop from another thread."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

