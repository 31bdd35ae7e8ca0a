"""The form that adds or edits one alert rule. What it saves is exactly what the config
file would accept: the same parser checks it, and a bad field is named, nothing saved."""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static

from app.alert_rules import (FEED_CONDITIONS, KINDS, ORDER_EVENTS, AlertConfigError, AlertRule,
                             parse_rule)

KIND_LABELS = {
    "price_above": "price crosses above", "price_below": "price crosses below",
    "move": "% move within a window", "deviation": "cross-venue deviation (bp)",
    "funding": "perp funding beyond ±X %", "spread": "spread above (bp)",
    "feed": "feed stale / disconnected / unsynced", "order": "order filled / rejected / cancelled",
}
# the fields each kind uses (besides name, symbols, venues, cooldown, enabled)
KIND_FIELDS = {
    "price_above": ("threshold",), "price_below": ("threshold",), "move": ("threshold", "window"),
    "deviation": ("threshold",), "funding": ("threshold",), "spread": ("threshold",),
    "feed": ("seconds", "conditions"), "order": ("events",),
}
NUMBER_FIELDS = ("threshold", "window", "seconds", "cooldown")


class KindPicker(Widget, can_focus=True):
    """The rule kind, chosen in place: ←/→ step through the kinds and typing the first
    letters jumps to one. No drop-down: keys typed fast all land here, in order, instead
    of racing a list that is still opening."""

    DEFAULT_CSS = """
    KindPicker { width: 1fr; height: 1; background: $boost; }
    KindPicker:focus { background: $accent 30%; text-style: bold; }
    """
    BINDINGS = [Binding("left", "step(-1)", "Previous kind", show=False),
                Binding("right", "step(1)", "Next kind", show=False),
                Binding("enter", "app.focus_next", "Next field", show=False)]
    value: reactive[str] = reactive("price_above")

    @dataclass
    class Changed(Message):
        picker: KindPicker
        value: str

    def __init__(self, value: str, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.set_reactive(KindPicker.value, value)
        self._typed = ""
        self._typed_at = 0.0

    def render(self) -> str:
        return f"◀ {KIND_LABELS[self.value]} ▶"

    def watch_value(self, value: str) -> None:
        self.post_message(self.Changed(self, value))

    def action_step(self, step: int) -> None:
        kinds = list(KIND_LABELS)
        self.value = kinds[(kinds.index(self.value) + step) % len(kinds)]

    def on_key(self, event: events.Key) -> None:
        if event.character is None or not event.character.isprintable() or event.character == " ":
            return
        event.stop()
        now = time.monotonic()
        if now - self._typed_at > 1.0:
            self._typed = ""
        self._typed_at = now
        char = event.character.lower()
        # what was typed so far, else this letter alone starts a new search
        for typed in dict.fromkeys((self._typed + char, char)):
            for match in (lambda label: label.startswith(typed), lambda label: typed in label):
                hit = next((k for k, label in KIND_LABELS.items() if match(label)), None)
                if hit is not None:
                    self._typed = typed
                    self.value = hit
                    return
        self._typed = ""
        self.app.bell()  # no kind reads like that: said, and the kind stays


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class AlertRuleForm(ModalScreen[AlertRule | None]):
    """Dismissed with the checked rule (Enter in a field, or Ctrl+S), or None (Esc)."""

    DEFAULT_CSS = """
    AlertRuleForm { align: center middle; }
    #rule-dialog { width: 76; max-width: 100%; height: auto; max-height: 100%;
                   border: thick $primary; background: $surface; padding: 0 1; }
    #rule-dialog .rule-row { height: 1; margin-bottom: 0; }
    #rule-dialog .rule-row Label { width: 14; padding: 0 1 0 0; }
    #rule-dialog .rule-row Input { width: 1fr; }
    #rule-dialog .rule-row Input:focus { background: $accent 30%; }
    #rule-error { color: $error; height: auto; }
    #rule-error.-none { display: none; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", tooltip="Check and save the rule"),
        # priority: the focus moves the moment Tab arrives, so the characters typed right
        # after it land in the next field, as they would on paper, not in the one before
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, rule: AlertRule | None, taken: set[str], venues: tuple[str, ...] | list[str],
                 alert_bps: float = 50.0) -> None:
        super().__init__()
        self.rule = rule
        self.taken = taken  # other rules' names
        self.venues = venues
        self.alert_bps = alert_bps

    def compose(self) -> ComposeResult:
        r = self.rule or AlertRule("", "price_above", 0.0)
        fmt = (lambda x: f"{x:g}")  # noqa: E731
        with VerticalScroll(id="rule-dialog"):
            yield Static("Edit alert rule" if self.rule else "New alert rule", classes="dialog-title")
            yield Static("", id="rule-error", classes="-none")  # on top: a short terminal still shows it
            yield from self._row("Kind", KindPicker(r.kind, id="rule-kind"))
            yield from self._row("Name", Input(r.name, placeholder="e.g. btc-30k", id="rule-name",
                                               max_length=40))
            yield from self._row("Symbols", Input(", ".join(r.symbols), id="rule-symbols",
                                                  placeholder="all, or BTC/USDT, ETH/USDT:USDT"))
            yield from self._row("Venues", Input(", ".join(r.venues), id="rule-venues",
                                                 placeholder="all, or " + ", ".join(self.venues)))
            threshold = fmt(r.threshold) if self.rule else ""
            yield from self._row("Threshold", Input(threshold, type="number", id="rule-threshold"),
                                 "threshold")
            yield from self._row("Window (s)", Input(fmt(r.window), type="number", id="rule-window"),
                                 "window")
            yield from self._row("For (s)", Input(fmt(r.seconds), type="number", id="rule-seconds"),
                                 "seconds")
            yield from self._row("Conditions", Input(", ".join(r.conditions), id="rule-conditions",
                                                     placeholder=", ".join(FEED_CONDITIONS)),
                                 "conditions")
            yield from self._row("Events", Input(", ".join(r.events), id="rule-events",
                                                 placeholder=", ".join(ORDER_EVENTS)), "events")
            yield from self._row("Cooldown (s)", Input(fmt(r.cooldown), type="number",
                                                       id="rule-cooldown"))
            yield Checkbox("Enabled", r.enabled, id="rule-enabled")
            yield Static("", id="rule-meaning")
            yield Static("Kind: ←/→ or type its first letters · Enter in a field or Ctrl+S saves · "
                         "Esc cancels · Tab moves", classes="dialog-hint")

    def _row(self, label: str, widget: Input | KindPicker, field: str | None = None) -> ComposeResult:
        if isinstance(widget, Input):
            widget.compact = True  # one line a field: the whole form fits 80x24
        row = Horizontal(Label(label), widget, classes="rule-row")
        if field is not None:
            row.add_class(f"field-{field}")
        yield row

    def on_mount(self) -> None:
        self._show_fields()
        self.query_one("#rule-kind", KindPicker).focus()

    @on(KindPicker.Changed)
    def _kind_changed(self) -> None:
        self._show_fields()

    def _kind(self) -> str:
        return self.query_one("#rule-kind", KindPicker).value

    def _show_fields(self) -> None:
        kind = self._kind()
        for field in ("threshold", "window", "seconds", "conditions", "events"):
            for row in self.query(f".field-{field}"):
                row.display = field in KIND_FIELDS[kind]
        unit = KINDS[kind]
        hint = f"threshold: {unit}" if unit else ""
        if kind == "deviation":
            hint += f" (empty: {self.alert_bps:g}, the alert_bps setting)"
        self.query_one("#rule-meaning", Static).update(hint)

    def _raw(self) -> dict[str, object]:
        kind = self._kind()
        raw: dict[str, object] = {"kind": kind}

        def text(field: str) -> str:
            return self.query_one(f"#rule-{field}", Input).value.strip()

        raw["name"] = text("name") or kind
        for field in ("symbols", "venues", "conditions", "events"):
            if field in ("conditions", "events") and field not in KIND_FIELDS[kind]:
                continue
            if text(field):
                parts = _csv(text(field))
                raw[field] = parts if field == "symbols" else [p.lower() for p in parts]
        for field in NUMBER_FIELDS:
            if field != "cooldown" and field not in KIND_FIELDS[kind]:
                continue
            value = text(field)
            if not value:
                continue
            try:
                raw[field] = float(value)
            except ValueError:
                raw[field] = value  # the parser names the field and says what it must be
        raw["enabled"] = self.query_one("#rule-enabled", Checkbox).value
        return raw

    def action_save(self) -> None:
        error = self.query_one("#rule-error", Static)
        error.remove_class("-none")
        try:
            rule, _ = parse_rule(self._raw(), "rule", self.venues, self.alert_bps)
        except AlertConfigError as exc:
            error.update(str(exc))
            self.app.bell()
            return
        if rule.name in self.taken:
            error.update(f"rule.name = {rule.name!r}: another rule has that name")
            self.app.bell()
            return
        self.dismiss(rule)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_cancel(self) -> None:
        self.dismiss(None)
