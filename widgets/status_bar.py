"""Feed status bar: per-connection health, an UNSYNCED alarm, and the clock (UTC).

All connections get full detail when the line is wide enough; otherwise the current
instrument's connection keeps full detail and the others shrink to name + state, so
the feed the user is looking at is never the one cut off.
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
        self._compact: tuple[Part, ...] = ()
        self._right: tuple[Part, ...] = ()

    @property
    def text(self) -> str:
        """Plain text of the full-detail variant plus the right-hand side."""
        return "".join(t for t, _ in self._full) + " " + "".join(t for t, _ in self._right)

    def update(self, healths: Sequence[HealthView], view: InstrumentView | None) -> bool:
        """Show ``healths`` and the sync state of ``view``; True when the text changed."""
        current = _current_feed(healths, view)
        ordered = sorted(healths, key=lambda h: h.name != current)  # current feed first
        full: list[Part] = []
        compact: list[Part] = []
        for health in ordered:
            separator = [("  │  ", "label")] if full else []
            full += separator + _detail(health)
        others = [h for h in ordered if h.name != current]
        for health in ordered[:1] if current is not None else []:
            compact += _detail(health)
        for group in _by_venue(others):
            compact += ([("  │  ", "label")] if compact else []) + _venue_brief(group)
        if not healths:
            full = compact = [("no feeds", "label")]
        right: list[Part] = []
        unsynced = view is not None and (not view.synced or any(
            view.instrument.id in h.unsynced for h in healths))
        if unsynced:
            right.append((UNSYNCED_MARK, "unsynced"))
            if view is not None and view.sync_reason:  # why, and when the next try is
                right.append((f" {view.sync_reason}", "label"))
            right.append(("  ", "label"))
        right.append((time.strftime("%H:%M:%S UTC", time.gmtime(self._clock())), "clock"))
        parts = (tuple(full), tuple(compact), tuple(right))
        if parts == (self._full, self._compact, self._right):
            return False
        self._full, self._compact, self._right = parts
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
        full_length = sum(len(chunk) for chunk, _ in self._full)
        for chunk, component in (self._full if full_length <= room else self._compact):
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


def _detail(health: HealthView) -> list[Part]:
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
        (f" gaps {health.gaps} resyncs {health.resyncs} reconnects {health.reconnects}", "label"),
    ]


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


def _venue_brief(group: list[HealthView]) -> list[Part]:
    """A venue's connections in one word: the worst state, and how many are in it."""
    if len(group) == 1:
        return _brief(group[0])
    worst = min(group, key=lambda h: _RANK.get(h.state, 0))
    count = sum(1 for h in group if h.state == worst.state)
    return [(worst.name.split(" ", 1)[0] + " ", "name"), _state_part(worst),
            (f" {count}/{len(group)}", "label")]
