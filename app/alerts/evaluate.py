"""Rule evaluation: pure state over snapshots of the market (hub summaries), the feeds'
health and the order notices, so it runs the same on the engine loop and in a unit test.

Each rule and instrument (or connection) has a condition. An alert fires when the
condition turns true (once per crossing, never again while it stays true), and not
within ``cooldown`` seconds of the rule's last alert for that instrument: a crossing in
the cooldown is passed over. Price crossings need the price seen on the other side first,
so a rule set above the current price never fires at start.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.alert_rules import AlertRule
from app.alerts.model import Alert, Severity
from app.market.compare import DEFAULT_FAMILIES, build_rows
from app.market.compare import Summary
from app.market.health import HealthView
from app.market.instruments import Instrument, parse_display_symbol

USD_FAMILY = frozenset(("USDT", "USD", "USDC"))
DISCONNECTED = ("reconnecting", "failed", "stopped")
NOTICE_EVENTS = {"filled": "filled", "rejected": "rejected", "canceled": "cancelled"}


class Notice(Protocol):
    """What an order notice carries (app.trading.service.OrderNotice)."""

    @property
    def seq(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def instrument_id(self) -> str: ...


@dataclass(slots=True)
class _Track:
    active: bool | None = None  # None: not observed yet
    since: float | None = None  # when a feed condition started holding
    last_fired: float | None = None


def _label(inst: Instrument) -> str:
    return f"{inst.symbol} · {inst.venue} {inst.market}"


def _fmt(x: float) -> str:
    return f"{x:.8g}"


class Evaluator:
    def __init__(self, rules: Iterable[AlertRule] = (), usd_family: bool = True) -> None:
        self.usd_family = usd_family
        self._families: dict[str, str] = DEFAULT_FAMILIES if usd_family else {}
        self.rules: list[AlertRule] = []
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._prices: dict[str, deque[tuple[float, float]]] = {}
        self._notice_seq: int | None = None  # None: the notices so far are before our time
        self._seq = 0
        self.set_rules(rules)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rules; a rule unchanged keeps its state (no refire on an edit of another)."""
        new = list(rules)
        keep = {r.name for r in new if r in self.rules}
        self._tracks = {k: t for k, t in self._tracks.items() if k[0] in keep}
        self.rules = new

    def active(self, rule: str, key: str) -> bool | None:
        """Whether ``rule``'s condition held for ``key`` at the last pass (None: not seen)."""
        tr = self._tracks.get((rule, key))
        return None if tr is None else tr.active

    @property
    def last_seq(self) -> int:
        return self._seq

    def resume_seq(self, seq: int) -> None:
        """Number new alerts after ``seq`` (history read from an earlier session's log)."""
        self._seq = max(self._seq, seq)

    # -- matching ---------------------------------------------------------------------------

    def _matches(self, rule: AlertRule, inst: Instrument) -> bool:
        if rule.venues and inst.venue not in rule.venues:
            return False
        if not rule.symbols:
            return True
        for text in rule.symbols:
            if text == inst.symbol.upper():
                return True
            try:
                market, base, quote = parse_display_symbol(text)
            except ValueError:  # validated when the rule was read; nothing to match
                continue
            if (self.usd_family and market == inst.market and base == inst.base.upper()
                    and quote in USD_FAMILY and inst.quote.upper() in USD_FAMILY):
                return True
        return False

    def _edge(self, rule: AlertRule, key: str, cond: bool, now: float, crossing: bool = False) -> bool:
        tr = self._tracks.get((rule.name, key))
        if tr is None:
            tr = self._tracks[(rule.name, key)] = _Track()
        prev, tr.active = tr.active, cond
        if not cond or prev is True or (prev is None and crossing):
            return False
        if tr.last_fired is not None and now - tr.last_fired < rule.cooldown:
            return False
        tr.last_fired = now
        return True

    def _held(self, rule: AlertRule, key: str, raw: bool, now: float) -> tuple[bool, float]:
        """(held for ``rule.seconds``, for how long) of a feed condition."""
        tr = self._tracks.get((rule.name, key))
        if tr is None:
            tr = self._tracks[(rule.name, key)] = _Track()
        if not raw:
            tr.since = None
            return False, 0.0
        if tr.since is None:
            tr.since = now
        held = now - tr.since
        return held >= rule.seconds, held

    def _alert(self, ts_ms: int, rule: AlertRule, instrument: str, value: float | None,
               message: str, severity: Severity = "warning") -> Alert:
        self._seq += 1
        return Alert(self._seq, ts_ms, rule.name, rule.kind, instrument, value, message, severity)

    # -- one pass ---------------------------------------------------------------------------

    def evaluate(self, now: float, ts_ms: int, summaries: list[Summary],
                 healths: Sequence[HealthView] = (),
                 notices: Iterable[Notice] = ()) -> list[Alert]:
        """Every alert that fires now. ``now``: monotonic seconds (cooldowns, windows);
        ``ts_ms``: the wall clock the alerts are stamped with."""
        out: list[Alert] = []
        self._remember_prices(now, summaries)
        notices = list(notices)
        for rule in self.rules:
            if not rule.enabled:
                continue
            if rule.kind in ("price_above", "price_below"):
                self._price(rule, now, ts_ms, summaries, out)
            elif rule.kind == "move":
                self._move(rule, now, ts_ms, summaries, out)
            elif rule.kind == "deviation":
                self._deviation(rule, now, ts_ms, summaries, out)
            elif rule.kind == "funding":
                self._funding(rule, now, ts_ms, summaries, out)
            elif rule.kind == "spread":
                self._spread(rule, now, ts_ms, summaries, out)
            elif rule.kind == "feed":
                self._feed(rule, now, ts_ms, summaries, healths, out)
            elif rule.kind == "order":
                self._orders(rule, now, ts_ms, summaries, notices, out)
        if notices:
            self._notice_seq = max(n.seq for n in notices)
        elif self._notice_seq is None:
            self._notice_seq = 0
        return out

    def _remember_prices(self, now: float, summaries: list[Summary]) -> None:
        windows = [r.window for r in self.rules if r.kind == "move" and r.enabled]
        if not windows:
            self._prices.clear()
            return
        horizon = now - max(windows)
        for s in summaries:
            price = s.mid
            if price is None:
                continue
            series = self._prices.get(s.instrument.id)
            if series is None:
                series = self._prices[s.instrument.id] = deque()
            series.append((now, price))
            while len(series) > 1 and series[1][0] <= horizon:
                series.popleft()

    def _price(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
               out: list[Alert]) -> None:
        above = rule.kind == "price_above"
        for s in summaries:
            price = s.mid
            if price is None or not self._matches(rule, s.instrument):
                continue
            cond = price > rule.threshold if above else price < rule.threshold
            if self._edge(rule, s.instrument.id, cond, now, crossing=True):
                word = "above" if above else "below"
                out.append(self._alert(ts_ms, rule, s.instrument.id, price,
                                       f"{_label(s.instrument)} crossed {word} {_fmt(rule.threshold)}:"
                                       f" {_fmt(price)}"))

    def _move(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
              out: list[Alert]) -> None:
        for s in summaries:
            price = s.mid
            series = self._prices.get(s.instrument.id)
            if price is None or not series or not self._matches(rule, s.instrument):
                continue
            ref = next((p for t, p in series if t >= now - rule.window), None)
            if not ref:
                continue
            change = (price / ref - 1.0) * 100.0
            if self._edge(rule, s.instrument.id, abs(change) >= rule.threshold, now):
                out.append(self._alert(ts_ms, rule, s.instrument.id, change,
                                       f"{_label(s.instrument)} moved {change:+.2f}% within "
                                       f"{rule.window:g} s (from {_fmt(ref)} to {_fmt(price)})"))

    def _deviation(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
                   out: list[Alert]) -> None:
        for row in build_rows(summaries, rule.threshold, self._families):
            for venue, cell in row.cells.items():
                inst = cell.summary.instrument
                if cell.deviation_bps is None or not self._matches(rule, inst):
                    continue
                bps = cell.deviation_bps
                if self._edge(rule, inst.id, abs(bps) > rule.threshold, now):
                    out.append(self._alert(ts_ms, rule, inst.id, bps,
                                           f"{row.label} on {venue} is {bps:+.1f} bp from the "
                                           "cross-venue median"))

    def _funding(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
                 out: list[Alert]) -> None:
        for s in summaries:
            rate = s.funding_rate
            if rate is None or not self._matches(rule, s.instrument):
                continue
            pct = rate * 100.0
            if self._edge(rule, s.instrument.id, abs(pct) > rule.threshold, now):
                out.append(self._alert(ts_ms, rule, s.instrument.id, pct,
                                       f"{_label(s.instrument)} funding {pct:+.4f}% is beyond "
                                       f"±{rule.threshold:g}%"))

    def _spread(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
                out: list[Alert]) -> None:
        for s in summaries:
            if not s.synced or s.bid is None or s.ask is None or not self._matches(rule, s.instrument):
                continue
            mid = (s.bid + s.ask) / 2.0
            if mid <= 0:
                continue
            bps = (s.ask - s.bid) / mid * 10_000.0
            if self._edge(rule, s.instrument.id, bps > rule.threshold, now):
                out.append(self._alert(ts_ms, rule, s.instrument.id, bps,
                                       f"{_label(s.instrument)} spread {bps:.1f} bp is above "
                                       f"{rule.threshold:g} bp"))

    def _feed(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
              healths: Sequence[HealthView], out: list[Alert]) -> None:
        by_id = {s.instrument.id: s.instrument for s in summaries}
        for h in healths:
            venue = h.name.split(" ", 1)[0]
            if rule.venues and venue not in rule.venues:
                continue
            if h.backlog is not None:  # the recorder reports its backlog, not a feed state
                continue
            states = []
            if "stale" in rule.conditions and h.state == "stale":
                states.append("stale")
            if "disconnected" in rule.conditions and h.state in DISCONNECTED:
                states.append("disconnected")
            held, seconds = self._held(rule, h.name, bool(states), now)
            if self._edge(rule, h.name, held, now):
                why = f": {h.error}" if h.error else ""
                out.append(self._alert(ts_ms, rule, h.name, seconds,
                                       f"{h.name} {'/'.join(states)} for {seconds:.0f} s{why}"))
            if "unsynced" not in rule.conditions:
                continue
            for inst_id in h.unsynced:
                inst = by_id.get(inst_id)
                if inst is None or not self._matches(rule, inst):
                    continue
                held, seconds = self._held(rule, inst_id, True, now)
                if self._edge(rule, inst_id, held, now):
                    out.append(self._alert(ts_ms, rule, inst_id, seconds,
                                           f"{_label(inst)} book unsynced for {seconds:.0f} s"))
        if "unsynced" in rule.conditions:  # books synced again: their clocks restart
            unsynced = {i for h in healths for i in h.unsynced}
            for (name, key), tr in self._tracks.items():
                if name == rule.name and key in by_id and key not in unsynced:
                    tr.since, tr.active = None, False

    def _orders(self, rule: AlertRule, now: float, ts_ms: int, summaries: list[Summary],
                notices: list[Notice], out: list[Alert]) -> None:
        if self._notice_seq is None:
            return  # what happened before alerts started is in the blotter already
        by_id = {s.instrument.id: s.instrument for s in summaries}
        for n in notices:
            if n.seq <= self._notice_seq:
                continue
            event = NOTICE_EVENTS.get(n.kind)
            if event is None or event not in rule.events:
                continue
            inst = by_id.get(n.instrument_id)
            if (rule.symbols or rule.venues) and (inst is None or not self._matches(rule, inst)):
                continue
            key = n.instrument_id or "order"
            tr = self._tracks.get((rule.name, key))
            if tr is None:
                tr = self._tracks[(rule.name, key)] = _Track()
            if tr.last_fired is not None and now - tr.last_fired < rule.cooldown:
                continue
            tr.last_fired = now
            severity: Severity = "error" if event == "rejected" else (
                "warning" if event == "cancelled" else "information")
            out.append(self._alert(ts_ms, rule, n.instrument_id, None, f"{n.title}: {n.text}",
                                   severity))
