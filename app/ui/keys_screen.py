"""The Keys screen: store, replace or delete API keys in the OS keyring.

Inputs are masked (password fields) and cleared as soon as the keys are saved; the list
shows only which venue/environment pairs have keys, never any part of them. Where no
keyring backend works, the screen says how to fix it (and about the environment
variables) instead of failing.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from app.accounts import COINBASE_NO_SANDBOX
from app.trading.keys import PASSPHRASE_VENUES, KeyInputError, KeyringUnavailable, KeyStore
from app.venues import registry

# the venues whose descriptors offer an account to trade through ccxt
VENUE_OPTIONS = [(hosts.title, key) for key, hosts in registry.HOSTS.items() if hosts.accounts]
ENV_OPTIONS = [("testnet", "testnet"), ("demo", "demo"), ("live", "live")]


class KeysScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, store: KeyStore | None = None, allow_live: bool = False) -> None:
        super().__init__()
        self.store = store or KeyStore()
        self.allow_live = allow_live

    def compose(self) -> ComposeResult:
        envs = ENV_OPTIONS if self.allow_live else ENV_OPTIONS[:2]
        with Vertical(id="keys-dialog"):
            yield Static("API keys (OS keyring)", classes="dialog-title")
            yield Static("", id="keys-list")
            with Horizontal(classes="keys-row"):
                yield Select(VENUE_OPTIONS, value="binance", allow_blank=False, id="keys-venue")
                yield Select(envs, value="testnet", allow_blank=False, id="keys-env")
            with Horizontal(classes="keys-row"):
                yield Label("API key", classes="keys-label")
                yield Input(password=True, id="keys-key", placeholder="API key")
            with Horizontal(classes="keys-row"):
                yield Label("Secret", classes="keys-label")
                yield Input(password=True, id="keys-secret", placeholder="secret")
            with Horizontal(classes="keys-row", id="keys-passphrase-row"):
                yield Label("Passphrase", classes="keys-label")
                yield Input(password=True, id="keys-passphrase", placeholder="OKX passphrase")
            with Horizontal(classes="keys-buttons"):
                yield Button("Save", id="keys-save", variant="primary")
                yield Button("Delete", id="keys-delete", variant="error")
                yield Button("Close", id="keys-close")
            yield Static("", id="keys-message")
            yield Static(f"{COINBASE_NO_SANDBOX}. Keys are stored only in the OS keyring.",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self._update_passphrase()
        self.refresh_list()

    def refresh_list(self) -> None:
        try:
            pairs = self.store.list()
        except Exception as exc:  # a broken backend: say it, keep the screen usable
            pairs = []
            self.message(str(exc), error=True)
        text = "\n".join(f"• {venue} {env} — {where}" for venue, env, where in pairs) \
            or "no keys stored yet"
        self.query_one("#keys-list", Static).update(text)

    def message(self, text: str, error: bool = False) -> None:
        widget = self.query_one("#keys-message", Static)
        widget.update(text)
        widget.set_class(error, "-error")

    def _update_passphrase(self) -> None:
        venue = self.query_one("#keys-venue", Select).value
        self.query_one("#keys-passphrase-row").display = venue in PASSPHRASE_VENUES

    def on_select_changed(self, event: Select.Changed) -> None:
        self._update_passphrase()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "keys-save":
            self.save()
        elif event.button.id == "keys-delete":
            self.delete()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def _pair(self) -> tuple[str, str]:
        return (str(self.query_one("#keys-venue", Select).value),
                str(self.query_one("#keys-env", Select).value))

    def save(self) -> None:
        venue, env = self._pair()
        inputs = [self.query_one(f"#keys-{n}", Input) for n in ("key", "secret", "passphrase")]
        key, secret, passphrase = (i.value for i in inputs)
        try:
            self.store.set(venue, env, key, secret,
                           passphrase if venue in PASSPHRASE_VENUES else None)
        except (KeyInputError, KeyringUnavailable) as exc:
            self.message(str(exc), error=True)
            return
        for i in inputs:
            i.value = ""  # nothing of the secret stays on screen
        self.message(f"saved keys for {venue} {env}")
        self.refresh_list()

    def delete(self) -> None:
        venue, env = self._pair()
        try:
            had = self.store.delete(venue, env)
        except (KeyInputError, KeyringUnavailable) as exc:
            self.message(str(exc), error=True)
            return
        self.message(f"deleted keys for {venue} {env}" if had else f"no keys for {venue} {env}")
        self.refresh_list()
