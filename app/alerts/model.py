"""What one fired alert is: the value every sink receives and the log file holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["information", "warning", "error"]

# the toast's title per rule kind (the rule's name follows it)
TITLES: dict[str, str] = {
    "price_above": "Price alert", "price_below": "Price alert", "move": "Move alert",
    "deviation": "Price deviation", "funding": "Funding alert", "spread": "Spread alert",
    "feed": "Feed alert", "order": "Order alert",
}


@dataclass(slots=True, frozen=True)
class Alert:
    seq: int  # increasing within a session: readers remember the last one they showed
    ts: int  # ms since the epoch, UTC
    rule: str
    kind: str
    instrument: str  # instrument id, or the connection's name for feed rules
    value: float | None
    message: str
    severity: Severity = "warning"

    @property
    def title(self) -> str:
        return f"{TITLES.get(self.kind, 'Alert')} · {self.rule}"

    def to_json(self) -> dict[str, Any]:
        """The ``alerts.jsonl`` line and the webhook's body."""
        return {"ts": self.ts, "rule": self.rule, "kind": self.kind, "instrument": self.instrument,
                "value": self.value, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any], seq: int = 0) -> Alert:
        """One line of an earlier session's log (raises KeyError/TypeError/ValueError)."""
        value = data.get("value")
        return cls(seq, int(data["ts"]), str(data["rule"]), str(data.get("kind", "")),
                   str(data["instrument"]), None if value is None else float(value),
                   str(data["message"]))
