"""The alerts screen (key ``a``): the session's rules, added, edited, switched on and off
and deleted here, each change saved into the config file at once; and the alerts log
screen with what fired (this session and earlier ones, from ``alerts.jsonl``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from app.alert_rules import AlertConfigError, AlertRule
from app.alerts.model import Alert
from app.alerts.runtime import AlertRuntime
from app.config import VENUES
from app.ui.alert_rule_form import KIND_LABELS, AlertRuleForm


class ConfirmDelete(ModalScreen[bool]):
    """``Delete rule "x"?``: y deletes, anything else keeps it."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    #delete-dialog { width: 60; max-width: 100%; height: auto; border: thick $warning;
                     background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Delete"), Binding("n", "answer(False)", "Keep"),
                Binding("escape", "answer(False)", "Keep")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.rule_name = name

    def compose(self) -> ComposeResult:
        with Vertical(id="delete-dialog"):
            yield Static(f"Delete the alert rule “{self.rule_name}”?", classes="dialog-title")
            yield Static("y deletes it (and from the config file) · n or Esc keeps it",
                         classes="dialog-hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AlertsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="Back to the market screen"),
        Binding("n", "add", "Add", tooltip="Add a rule"),
        Binding("e", "edit", "Edit", tooltip="Edit the rule under the cursor"),
        Binding("space", "switch", "On/off", tooltip="Enable or disable the rule under the cursor"),
        Binding("d", "delete", "Delete", tooltip="Delete the rule under the cursor (asks first)"),
        Binding("l", "log", "Log", tooltip="What fired: this session and earlier ones"),
    ]

    def __init__(self, runtime: AlertRuntime) -> None:
        super().__init__()
        self.runtime = runtime

    def compose(self) -> ComposeResult:
        where = self.runtime.cfg.config_path
        yield Static(f"Alert rules · saved to {where} · they fire on any screen and headless",
                     id="alerts-title")
        yield DataTable(id="alert-rules", cursor_type="row", zebra_stripes=True)
        yield Static("", id="alerts-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("On", "Name", "Kind", "Rule", "Cooldown")
        self.refresh_rules()
        table.focus()

    def refresh_rules(self, select: str | None = None) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        rules = self.runtime.rules
        for rule in rules:
            table.add_row("●" if rule.enabled else "○", rule.name, KIND_LABELS[rule.kind],
                          rule.describe(), f"{rule.cooldown:g} s", key=rule.name)
        names = [r.name for r in rules]
        if select in names:
            table.move_cursor(row=names.index(select))
        elif rules:
            table.move_cursor(row=min(row, len(rules) - 1))
        self.query_one("#alerts-empty", Static).update(
            "" if rules else "No alert rules. n adds one.")

    def _selected(self) -> AlertRule | None:
        table = self.query_one(DataTable)
        rules = self.runtime.rules
        if not rules or not 0 <= table.cursor_row < len(rules):
            return None
        return rules[table.cursor_row]

    def _save(self, rules: list[AlertRule], done: str, select: str | None = None) -> bool:
        try:
            self.runtime.save_rules(rules)
        except AlertConfigError as exc:
            self.notify(str(exc), title="Alert rules not saved", severity="error", markup=False)
            return False
        self.refresh_rules(select)
        self.notify(done, title="Alert rules", timeout=3, markup=False)
        return True

    def _form(self, rule: AlertRule | None) -> AlertRuleForm:
        taken = {r.name for r in self.runtime.rules} - ({rule.name} if rule else set())
        return AlertRuleForm(rule, taken, VENUES, self.runtime.cfg.alert_bps)

    def action_add(self) -> None:
        def added(rule: AlertRule | None) -> None:
            if rule is not None:
                self._save(self.runtime.rules + [rule], f"added “{rule.name}”", rule.name)

        self.app.push_screen(self._form(None), added)

    def action_edit(self) -> None:
        old = self._selected()
        if old is None:
            self.notify("No rule to edit: n adds one", severity="warning", timeout=3)
            return

        def edited(rule: AlertRule | None) -> None:
            if rule is None:
                return
            rules = [rule if r.name == old.name else r for r in self.runtime.rules]
            if rules == self.runtime.rules:
                return
            self._save(rules, f"saved “{rule.name}”", rule.name)

        self.app.push_screen(self._form(old), edited)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # Enter on a row edits it
        self.action_edit()

    def action_switch(self) -> None:
        old = self._selected()
        if old is None:
            return
        new = replace(old, enabled=not old.enabled)
        rules = [new if r.name == old.name else r for r in self.runtime.rules]
        self._save(rules, f"“{old.name}” {'on' if new.enabled else 'off'}", old.name)

    def action_delete(self) -> None:
        old = self._selected()
        if old is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._save([r for r in self.runtime.rules if r.name != old.name],
                           f"deleted “{old.name}”")

        self.app.push_screen(ConfirmDelete(old.name), answered)

    def action_log(self) -> None:
        self.app.push_screen(AlertsLogScreen(self.runtime))

    def action_close(self) -> None:
        self.dismiss(None)


def fmt_ts(ts_ms: int) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(ts_ms / 1000))


class AlertsLogScreen(Screen[None]):
    """Every alert kept, newest first, growing while it is open."""

    BINDINGS = [Binding("escape", "close", "Back", tooltip="Back")]

    def __init__(self, runtime: AlertRuntime, refresh_s: float = 0.5,
                 fmt_time: Callable[[int], str] = fmt_ts) -> None:
        super().__init__()
        self.runtime = runtime
        self.refresh_s = refresh_s
        self._fmt_time = fmt_time
        self._shown = -1

    def compose(self) -> ComposeResult:
        path = self.runtime.cfg.data_dir / "alerts.jsonl"
        yield Static(f"Alerts log · newest first · UTC · also in {path}", id="alerts-log-title")
        yield DataTable(id="alerts-log", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # the message first: at 80 columns it is what must show; the id is for filtering
        table.add_columns("Time (UTC)", "Rule", "Message", "Value", "Instrument")
        self.refresh_log()
        self.set_interval(self.refresh_s, self.refresh_log)
        table.focus()

    def refresh_log(self) -> None:
        history = self.runtime.history()
        last = history[-1].seq if history else 0
        if last == self._shown:
            return
        self._shown = last
        table = self.query_one(DataTable)
        table.clear()
        for a in reversed(history):
            table.add_row(self._fmt_time(a.ts), a.rule, a.message, _value(a), a.instrument)
        if not history:
            table.add_row("", "", "", "", "nothing has fired yet")

    def action_close(self) -> None:
        self.dismiss(None)


def _value(a: Alert) -> str:
    return "" if a.value is None else f"{a.value:.6g}"
