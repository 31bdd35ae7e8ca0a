"""Choose the trading account: paper (default) or a venue's testnet/demo; live accounts
appear only when the config allows them. Coinbase is listed, disabled, with the reason."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from app.accounts import COINBASE_NO_SANDBOX, PAPER, SPECS, account_names


class AccountPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str, allow_live: bool = False) -> None:
        super().__init__()
        self.current = current
        self.allow_live = allow_live

    def compose(self) -> ComposeResult:
        options = []
        for name in account_names(self.allow_live):
            if name == PAPER:
                text = "paper — local paper account on the data you watch (default)"
            else:
                spec = SPECS[name]
                text = f"{name} — {spec.env.label} · {spec.title}"
            options.append(Option(("● " if name == self.current else "  ") + text, id=name))
        options.append(Option(f"  coinbase — {COINBASE_NO_SANDBOX}", id="coinbase", disabled=True))
        with Vertical(id="picker-dialog"):
            yield Static("Trading account", classes="dialog-title")
            yield OptionList(*options, id="account-options")
            yield Static("Enter selects · Esc cancels · keys: k", classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        names = account_names(self.allow_live)
        if self.current in names:
            options.highlighted = names.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
