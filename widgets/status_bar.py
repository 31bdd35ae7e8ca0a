"""Feed status bar: per-connection health, an UNSYNCED alarm, and the clock (UTC).

All connections get full detail when the line is wide enough. Narrower, the line
degrades step by step, and every venue stays on it until the very last step: the
current instrument's connection in full and the other venues in one word each
(worst state and how many connections are in it); then the current connection
without its zero counters; then one word per venue; then one dot per venue; and
only then is the text cut. So the feed the user is looking at is the last one to go.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from app.feeds.health import HealthView
from app.feeds.views import InstrumentView
from widgets.format import fmt_age

Part = tuple[str, str]  # (text, component class suffix)
STATES = ("connected", "connecting", "stale", "reconnecting", "failed", "stopped")
UNSYNCED_MARK = " UNSYNCED "


class FeedStatusBar(Widget):
    """One line of feed health. Feed it with :meth:`update`."""

    COMPONENT_CLASSES = {*(f"status--{state}" for state in STATES),
                         "status--name", "status--label", "status--unsynced", "status--clock"}
    DEFAULT_CSS = """
    FeedStatusBar {
        height: 1;
        width: 1fr;
        background: $panel;
        padding: 0 1;
    }
    FeedStatusBar > .status--connected { color: $success; }
    FeedStatusBar > .status--connecting { color: $accent; }
    FeedStatusBar > .status--stale { color: $warning; text-style: bold; }
    FeedStatusBar > .status--reconnecting { color: $warning; text-style: bold; }
    FeedStatusBar > .status--failed { color: $error; text-style: bold; }
    FeedStatusBar > .status--stopped { color: $text-muted; }
    FeedStatusBar > .status--name { color: $foreground; text-style: bold; }
    FeedStatusBar > .status--label { color: $text-muted; }
    FeedStatusBar > .status--unsynced { background: $error; color: $text; text-style: bold; }
    FeedStatusBar > .status--clock { color: $foreground; }
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock
        self._full: tuple[Part, ...] = ()
        self._variants: tuple[tuple[Part, ...], ...] = ()  # widest first
        self._right: tuple[Part, ...] = ()

    @property
    def text(self) -> str:
        """Plain text of the full-detail variant plus the right-hand side."""
        return "".join(t for t, _ in self._full) + " " + "".join(t for t, _ in self._right)

    def update(self, healths: Sequence[HealthView], view: InstrumentView | None) -> bool:
        """Show ``healths`` and the sync state of ``view``; True when the text changed."""
        current = _current_feed(healths, view)
        ordered = sorted(healths, key=lambda h: h.name != current)  # current feed first
        others = [h for h in ordered if h.name != current]
        mine = ordered[:1] if current is not None else []
        wide, narrow = [("  │  ", "label")], [(" │ ", "label")]
        full = _joined([_detail(h) for h in ordered], wide)
        briefs = [_venue_brief(group) for group in _by_venue(others)]
        variants = [
            full,
            _joined([_detail(h) for h in mine] + briefs, narrow),
            _joined([_detail(h, short=True) for h in mine] + briefs, narrow),
            _joined([_venue_brief(group) for group in _by_venue(ordered)], narrow),
            _joined([_venue_dot(group) for group in _by_venue(ordered)], [(" ", "label")]),
        ]
        if not healths:
            full = [("no feeds", "label")]
            variants = [full]
        right: list[Part] = []
        unsynced = view is not None and (not view.synced or any(
            view.instrument.id in h.unsynced for h in healths))
        if unsynced:
            right.append((UNSYNCED_MARK, "unsynced"))
            if view is not None and view.sync_reason:  # why, and when the next try is
                right.append((f" {view.sync_reason}", "label"))
            right.append(("  ", "label"))
        right.append((time.strftime("%H:%M:%S UTC", time.gmtime(self._clock())), "clock"))
        parts = (tuple(full), tuple(tuple(v) for v in variants), tuple(right))
        if parts == (self._full, self._variants, self._right):
            return False
        self._full, self._variants, self._right = parts
        self.refresh()
        return True

    def render(self) -> Text:
        width = self.size.width
        styles: dict[str, Style] = {}

        def style(component: str) -> Style:
            if component not in styles:
                styles[component] = self.get_component_rich_style(f"status--{component}")
            return styles[component]

        right = Text()
        for chunk, component in self._right:
            right.append(chunk, style(component))
        room = max(0, width - right.cell_len - 1)
        left = Text(no_wrap=True)
        chosen = next((v for v in self._variants if sum(len(c) for c, _ in v) <= room),
                      self._variants[-1] if self._variants else ())
        for chunk, component in chosen:
            left.append(chunk, style(component))
        left.truncate(room, overflow="ellipsis")
        left.pad_right(room - left.cell_len + 1)
        return left + right


def _current_feed(healths: Sequence[HealthView], view: InstrumentView | None) -> str | None:
    if view is None:
        return None
    if view.health is not None:
        return view.health.name
    wanted = f"{view.instrument.venue} {view.instrument.market}"
    return wanted if any(h.name == wanted for h in healths) else None


def _state_part(health: HealthView) -> Part:
    state = health.state if health.state in STATES else "stopped"
    return (f"● {health.state}", state)


def _joined(items: list[list[Part]], separator: list[Part]) -> list[Part]:
    joined: list[Part] = []
    for item in items:
        joined += (separator if joined else []) + item
    return joined


def _detail(health: HealthView, short: bool = False) -> list[Part]:
    if health.backlog is not None:  # a writer (the recorder), not a connection
        return [(health.name + " ", "name"), _state_part(health),
                (f" {health.msgs_per_sec:,.0f} rows/s backlog {health.backlog:,}", "label")]
    if health.error and health.state != "connected":
        # why it is not streaming matters more than counters that stand at zero
        return [(health.name + " ", "name"), _state_part(health), (f" — {health.error}", "label")]
    return [
        (health.name + " ", "name"),
        _state_part(health),
        (f" {fmt_age(health.last_message_age)}", "label"),
        (f" {health.msgs_per_sec:,.0f} msg/s", "label"),
        _counters(health, short),
    ]


def _counters(health: HealthView, short: bool) -> Part:
    counts = (("gaps", health.gaps), ("resyncs", health.resyncs), ("reconnects", health.reconnects))
    if short:  # only what went wrong
        return ("".join(f" {name} {n}" for name, n in counts if n), "label")
    return ("".join(f" {name} {n}" for name, n in counts), "label")


def _brief(health: HealthView) -> list[Part]:
    return [(health.name + " ", "name"), _state_part(health)]


_RANK = {"failed": 0, "stopped": 0, "reconnecting": 1, "connecting": 1, "stale": 2, "connected": 3}


def _by_venue(healths: Sequence[HealthView]) -> list[list[HealthView]]:
    """Connections grouped by venue (the first word of their name), in order."""
    groups: dict[str, list[HealthView]] = {}
    for h in healths:
        key = h.name if h.backlog is not None else h.name.split(" ", 1)[0]
        groups.setdefault(key, []).append(h)
    return list(groups.values())


def _venue_dot(group: list[HealthView]) -> list[Part]:
    """A venue in two cells: its name's first word and a dot in its worst state's colour."""
    worst = min(group, key=lambda h: _RANK.get(h.state, 0))
    state = worst.state if worst.state in STATES else "stopped"
    key = worst.name if worst.backlog is not None else worst.name.split(" ", 1)[0]
    return [(key + " ", "name"), ("●", state)]


def _venue_brief(group: list[HealthView]) -> list[Part]:
    """A venue's connections in one word: the worst state, and how many are in it."""
    if len(group) == 1:
        return _brief(group[0])
    worst = min(group, key=lambda h: _RANK.get(h.state, 0))
    count = sum(1 for h in group if h.state == worst.state)
    return [(worst.name.split(" ", 1)[0] + " ", "name"), _state_part(worst),
            (f" {count}/{len(group)}", "label")]
