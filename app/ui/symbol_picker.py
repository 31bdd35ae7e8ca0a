"""Symbol switcher: type to filter the instrument list, Enter to pick, Escape to cancel."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from app.market.instruments import Instrument


def matches(instrument: Instrument, query: str) -> bool:
    """Every word of ``query`` occurs in the label or id (``btc perp``, ``okx eth``)."""
    haystack = f"{instrument.label} {instrument.id} {instrument.venue_symbol}".lower()
    return all(word in haystack for word in query.lower().split())


class SymbolPicker(ModalScreen[str | None]):
    """Dismisses with the chosen instrument id, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # The filter keeps focus, so the list's cursor keys are forwarded from here.
        Binding("down", "cursor(1)", "Next", show=False),
        Binding("up", "cursor(-1)", "Previous", show=False),
    ]

    def __init__(self, instruments: Sequence[Instrument], current: str | None = None) -> None:
        super().__init__()
        self.instruments = list(instruments)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-dialog"):
            yield Static("Switch symbol", classes="dialog-title")
            yield Input(placeholder="filter: btc, okx perp, eth/usdt …", id="picker-filter")
            yield OptionList(id="picker-options")
            yield Static("Enter selects · Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#picker-options", OptionList)

    def _fill(self, query: str) -> None:
        options = self.option_list
        options.clear_options()
        shown = [i for i in self.instruments if matches(i, query)]
        options.add_options(Option(i.label, id=i.id) for i in shown)
        if shown:
            ids = [i.id for i in shown]
            options.highlighted = ids.index(self.current) if self.current in ids and not query else 0

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submit(self, event: Input.Submitted) -> None:
        options = self.option_list
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        else:
            self.app.bell()

    @on(OptionList.OptionSelected, "#picker-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cursor(self, delta: int) -> None:
        options = self.option_list
        if delta > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
