"""Help: every key binding of the screen underneath and of the app, generated from the
bindings themselves so the list cannot drift from what the keys actually do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HelpEntry = tuple[str, str, str]  # (keys as displayed, description, longer explanation)


def binding_entries(app: App, bindings: Mapping[str, ActiveBinding]) -> list[HelpEntry]:
    """One entry per action, its keys joined (``+ / =``), in declaration order.

    ``bindings`` is a screen's ``active_bindings``; keys bound to the same action on
    the same node (e.g. ``+`` and ``=``) are merged into one line.
    """
    grouped: dict[tuple[int, str], tuple[list[str], Binding]] = {}
    for active in bindings.values():
        binding = active.binding
        keys, _ = grouped.setdefault((id(active.node), binding.action), ([], binding))
        display = app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [(" / ".join(keys), _describe(binding), binding.tooltip)
            for keys, binding in grouped.values()]


def _describe(binding: Binding) -> str:
    if binding.description:
        return binding.description
    # Textual's own system bindings (ctrl+c) come without a description.
    return binding.action.replace("_", " ").capitalize()


class HelpScreen(ModalScreen[None]):
    """A modal table of key bindings; closes with Escape or ``?``."""

    BINDINGS = [
        Binding("escape", "close", "Close help"),
        Binding("question_mark", "close", "Close help", key_display="?", show=False),
    ]

    def __init__(self, entries: Iterable[HelpEntry]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(style="dim")
        for keys, description, explanation in self.entries:
            table.add_row(keys, description, explanation)
        with VerticalScroll(id="help-dialog"):
            yield Static("Keys", classes="dialog-title")
            yield Static(table, id="help-table")
            yield Static("Ctrl+P opens the command palette · Esc or ? closes this help",
                         classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)
