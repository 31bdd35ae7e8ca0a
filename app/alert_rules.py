"""Alert rules as the config file holds them: the ``[alerts]`` table and its
``[[alerts.rules]]``, validated with the same file/key/nearest-name messages as the rest
of the config, and written back into the file without touching the user's other lines.

A plain layer under ``app.config`` (which calls ``parse_alerts``): the engine side that
evaluates the rules (``app.alerts``) reads these values and never the other way round.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.errors import CryptotermError
from app.market.instruments import parse_display_symbol

# kind -> what its threshold means (shown by the alerts screen, and in messages)
KINDS: dict[str, str] = {
    "price_above": "price",
    "price_below": "price",
    "move": "% move",
    "deviation": "bp from the cross-venue median",
    "funding": "% funding rate (either sign)",
    "spread": "bp spread",
    "feed": "",
    "order": "",
}
FEED_CONDITIONS = ("stale", "disconnected", "unsynced")
ORDER_EVENTS = ("filled", "rejected", "cancelled")
RULE_KEYS = ("name", "kind", "symbols", "venues", "threshold", "window", "seconds", "conditions",
             "events", "cooldown", "enabled")
ALERTS_KEYS = ("bell", "toast", "desktop", "webhook_url", "interval", "rules")
DEFAULT_COOLDOWN = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,39}$")


class AlertConfigError(CryptotermError):
    """A bad ``[alerts]`` table or rule; the message names the file and the key."""

    default_title = "Config"


@dataclass(slots=True, frozen=True)
class AlertRule:
    """One rule. ``symbols``/``venues`` empty means every streamed one."""

    name: str
    kind: str
    threshold: float = 0.0
    symbols: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()
    window: float = 60.0  # seconds, ``move``
    seconds: float = 10.0  # how long a feed condition must last, ``feed``
    conditions: tuple[str, ...] = FEED_CONDITIONS  # ``feed``
    events: tuple[str, ...] = ORDER_EVENTS  # ``order``
    cooldown: float = DEFAULT_COOLDOWN
    enabled: bool = True

    def describe(self) -> str:
        """``BTC/USDT price above 30000`` in plain words (the alerts screen's list)."""
        where = ", ".join(self.symbols) if self.symbols else "all"
        if self.venues:
            where += " on " + ", ".join(self.venues)
        t = f"{self.threshold:g}"
        what = {
            "price_above": f"price above {t}",
            "price_below": f"price below {t}",
            "move": f"moves {t}% within {self.window:g} s",
            "deviation": f"{t} bp from the cross-venue median",
            "funding": f"funding beyond ±{t}%",
            "spread": f"spread above {t} bp",
            "feed": f"feed {'/'.join(self.conditions)} for {self.seconds:g} s",
            "order": f"order {'/'.join(self.events)}",
        }[self.kind]
        return f"{where}: {what}"


@dataclass(slots=True)
class AlertsConfig:
    """The ``[alerts]`` table. ``rules`` None: the built-in deviation rule (``alert_bps``)."""

    bell: bool = False
    toast: bool = True
    desktop: bool = True
    webhook_url: str | None = None
    interval: float = 0.25  # seconds between evaluations
    rules: list[AlertRule] | None = None
    warnings: list[str] = field(default_factory=list)

    def effective_rules(self, alert_bps: float) -> list[AlertRule]:
        """The configured rules, or the cross-venue deviation rule the app always had."""
        if self.rules is not None:
            return list(self.rules)
        return [default_deviation_rule(alert_bps)]


def default_deviation_rule(alert_bps: float) -> AlertRule:
    return AlertRule("deviation", "deviation", alert_bps, cooldown=DEFAULT_COOLDOWN)


def _near(key: str, known: tuple[str, ...] | list[str]) -> str:
    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean `{near[0]}`?" if near else f" (known: {', '.join(known)})"


def _number(where: str, value: object, low: float, high: float, what: str,
            low_open: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if ok and (low < value if low_open else low <= value) and value <= high:  # type: ignore[operator]  # a number: checked just above
        return float(value)  # type: ignore[arg-type]  # a number: checked just above
    bound = f"above {low:g}" if low_open else f"from {low:g}"
    raise AlertConfigError(f"{where} = {value!r}: {what}, {bound} to {high:g}")


def _str_list(where: str, value: object, check: Any = None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise AlertConfigError(f"{where} = {value!r}: must be a list of strings")
    out = [v.strip() for v in value]
    if check is not None:
        for v in out:
            check(v)
    return tuple(dict.fromkeys(out))


def parse_rule(raw: object, where: str, venues: tuple[str, ...] | list[str],
               alert_bps: float = 50.0) -> tuple[AlertRule, list[str]]:
    """(rule, warnings) from one ``[[alerts.rules]]`` table; ``where`` prefixes messages
    (``/x/config.toml: alerts.rules[2]``). Raises AlertConfigError naming the key."""
    if not isinstance(raw, dict):
        raise AlertConfigError(f"{where} must be a table")
    warnings = [f"{where}: {k}: unknown rule setting, ignored{_near(k, RULE_KEYS)}"
                for k in raw if k not in RULE_KEYS]
    kind = raw.get("kind")
    if kind not in KINDS:
        hint = _near(str(kind), tuple(KINDS)) if isinstance(kind, str) else f" (known: {', '.join(KINDS)})"
        raise AlertConfigError(f"{where}.kind = {kind!r}: unknown rule kind{hint}")
    name = raw.get("name", kind)
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise AlertConfigError(f"{where}.name = {name!r}: 1 to 40 letters, digits, spaces or _.:/-")

    def symbol(s: str) -> None:
        if s.lower() == "all":
            return
        try:
            parse_display_symbol(s)
        except ValueError as exc:
            raise AlertConfigError(f"{where}.symbols: {exc}") from None

    def venue(v: str) -> None:
        if v not in venues:
            raise AlertConfigError(f"{where}.venues: unknown venue {v!r}{_near(v, tuple(venues))}")

    symbols = _str_list(f"{where}.symbols", raw.get("symbols", []), symbol)
    symbols = () if any(s.lower() == "all" for s in symbols) else tuple(s.upper() for s in symbols)
    rule_venues = _str_list(f"{where}.venues", raw.get("venues", []), venue)
    kw: dict[str, Any] = {"symbols": symbols, "venues": rule_venues}
    needs_threshold = kind not in ("feed", "order")
    if needs_threshold:
        if "threshold" not in raw and kind != "deviation":
            raise AlertConfigError(f"{where}.threshold: missing ({KINDS[kind]})")
        value = raw.get("threshold", alert_bps)
        if kind in ("price_above", "price_below"):
            kw["threshold"] = _number(f"{where}.threshold", value, 0, 1e12, "a price", low_open=True)
        elif kind == "move":
            kw["threshold"] = _number(f"{where}.threshold", value, 0, 1000, "a percentage",
                                      low_open=True)
        elif kind == "funding":
            kw["threshold"] = _number(f"{where}.threshold", value, 0, 100, "a funding rate in %",
                                      low_open=True)
        else:
            kw["threshold"] = _number(f"{where}.threshold", value, 0, 10_000, "basis points",
                                      low_open=True)
    elif "threshold" in raw:
        warnings.append(f"{where}: threshold: a {kind} rule has none, ignored")
    if "window" in raw:
        kw["window"] = _number(f"{where}.window", raw["window"], 1, 86_400, "seconds")
    if "seconds" in raw:
        kw["seconds"] = _number(f"{where}.seconds", raw["seconds"], 0, 86_400, "seconds")
    if "conditions" in raw:
        def condition(c: str) -> None:
            if c not in FEED_CONDITIONS:
                raise AlertConfigError(f"{where}.conditions: unknown condition {c!r}"
                                       f"{_near(c, FEED_CONDITIONS)}")
        kw["conditions"] = _str_list(f"{where}.conditions", raw["conditions"], condition)
    if "events" in raw:
        spelled = raw["events"]
        if isinstance(spelled, list):  # both spellings of cancelled are common
            spelled = ["cancelled" if e == "canceled" else e for e in spelled]

        def event(e: str) -> None:
            if e not in ORDER_EVENTS:
                raise AlertConfigError(f"{where}.events: unknown order event {e!r}{_near(e, ORDER_EVENTS)}")
        kw["events"] = _str_list(f"{where}.events", spelled, event)
    if "cooldown" in raw:
        kw["cooldown"] = _number(f"{where}.cooldown", raw["cooldown"], 0, 86_400, "seconds")
    elif kind == "order":
        kw["cooldown"] = 0.0  # every order event is its own alert unless asked otherwise
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AlertConfigError(f"{where}.enabled = {enabled!r}: must be true or false")
    return AlertRule(name.strip(), kind, enabled=enabled, **kw), warnings


def parse_alerts(section: object, path: Path, venues: tuple[str, ...] | list[str],
                 alert_bps: float = 50.0) -> AlertsConfig:
    """The ``[alerts]`` table of ``path``; unknown keys become warnings, bad values an
    AlertConfigError naming file and key."""
    out = AlertsConfig()
    if not isinstance(section, dict):
        raise AlertConfigError(f"{path}: [alerts] must be a table")
    for key, value in section.items():
        where = f"{path}: alerts.{key}"
        if key in ("bell", "toast", "desktop"):
            if not isinstance(value, bool):
                raise AlertConfigError(f"{where} = {value!r}: must be true or false")
            setattr(out, key, value)
        elif key == "webhook_url":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise AlertConfigError(f"{where} = {value!r}: must start with http:// or https://")
            out.webhook_url = value
        elif key == "interval":
            out.interval = _number(where, value, 0.05, 60, "seconds between evaluations")
        elif key == "rules":
            if not isinstance(value, list):
                raise AlertConfigError(f"{where}: write each rule as an [[alerts.rules]] table")
            rules: list[AlertRule] = []
            for i, raw in enumerate(value, 1):
                rule, warnings = parse_rule(raw, f"{path}: alerts.rules[{i}]", venues, alert_bps)
                if any(r.name == rule.name for r in rules):
                    raise AlertConfigError(f"{path}: alerts.rules[{i}].name = {rule.name!r}: "
                                           "another rule has that name")
                rules.append(rule)
                out.warnings.extend(warnings)
            out.rules = rules
        else:
            out.warnings.append(f"{path}: [alerts] {key}: unknown setting, ignored{_near(key, ALERTS_KEYS)}")
    return out


# -- writing rules back into the config file -------------------------------------------------

_HEADER = re.compile(r"^\s*\[")
_RULES_HEADER = re.compile(r"^\s*\[\[\s*alerts\s*\.\s*rules\s*\]\]")
_ALERTS_HEADER = re.compile(r"^\s*\[\s*alerts\s*\]\s*(#.*)?$")
_RULES_INLINE = re.compile(r"^\s*rules\s*=")


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def render_rule(rule: AlertRule) -> str:
    """One ``[[alerts.rules]]`` table, only the keys its kind uses."""
    lines = ["[[alerts.rules]]", f"name = {_toml_str(rule.name)}", f"kind = {_toml_str(rule.kind)}"]
    if rule.symbols:
        lines.append(f"symbols = {_toml_list(rule.symbols)}")
    if rule.venues:
        lines.append(f"venues = {_toml_list(rule.venues)}")
    if rule.kind not in ("feed", "order"):
        lines.append(f"threshold = {rule.threshold!r}")
    if rule.kind == "move":
        lines.append(f"window = {rule.window!r}")
    if rule.kind == "feed":
        lines.append(f"conditions = {_toml_list(rule.conditions)}")
        lines.append(f"seconds = {rule.seconds!r}")
    if rule.kind == "order":
        lines.append(f"events = {_toml_list(rule.events)}")
    lines.append(f"cooldown = {rule.cooldown!r}")
    lines.append(f"enabled = {'true' if rule.enabled else 'false'}")
    return "\n".join(lines) + "\n"


def _bracket_depth(line: str) -> int:
    """Net ``[`` minus ``]`` outside strings and comments (enough for arrays of tables)."""
    depth, quote = 0, ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
    return depth


def rules_text(text: str, rules: list[AlertRule]) -> str:
    """``text`` (a config file) with its alert rules replaced by ``rules``: every other
    line, comment and blank stays as it was. The new tables go where the first old one
    was (or at the end); no rules at all is written ``rules = []`` under ``[alerts]``."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    insert_at: int | None = None
    inline_first = False  # the first rules were an inline ``rules = [...]``
    in_rule = in_alerts = False
    skip_depth = 0
    held: list[str] = []  # comments/blanks at a rule's end: they belong to what follows
    for line in lines:
        if skip_depth > 0:
            skip_depth += _bracket_depth(line)
            continue
        if _HEADER.match(line):
            if _RULES_HEADER.match(line):
                if insert_at is None:
                    insert_at = len(out)
                held = []
                in_rule, in_alerts = True, False
                continue
            if in_rule:
                out.extend(held)
                held = []
            in_rule = False
            in_alerts = bool(_ALERTS_HEADER.match(line))
            out.append(line)
            continue
        if in_rule:
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                held.append(line)
            else:
                held = []
            continue
        if in_alerts and _RULES_INLINE.match(line):
            if insert_at is None:
                insert_at, inline_first = len(out), True
            skip_depth = _bracket_depth(line.split("=", 1)[1])
            continue
        out.append(line)
    out.extend(held)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    if rules:
        block = "\n".join(render_rule(r) for r in rules)
        if insert_at is None or inline_first:
            insert_at = len(out)  # a table cannot go among [alerts]' own keys
        if insert_at == len(out) and out and out[-1].strip():
            block = "\n" + block
        gap = insert_at < len(out) and bool(out[insert_at].strip())
        out.insert(insert_at, block + "\n" if gap else block)
        return "".join(out)
    header = next((i for i, x in enumerate(out) if _ALERTS_HEADER.match(x)), None)
    if header is None:
        sep = "\n" if out and out[-1].strip() else ""
        return "".join(out) + f"{sep}[alerts]\nrules = []\n"
    out.insert(header + 1, "rules = []\n")
    return "".join(out)


def save_rules(path: Path, rules: list[AlertRule], venues: tuple[str, ...] | list[str],
               alert_bps: float = 50.0) -> None:
    """Write ``rules`` into the config file at ``path`` (created when missing), checking
    that the result reads back as exactly these rules before it replaces the file."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise AlertConfigError(f"{path}: cannot read: {exc}") from None
    new = rules_text(text, rules)
    try:
        section = tomllib.loads(new).get("alerts", {})
        back = parse_alerts(section, path, venues, alert_bps).rules
    except (tomllib.TOMLDecodeError, AlertConfigError) as exc:
        raise AlertConfigError(f"{path}: not saved, the rules would not read back: {exc}") from None
    if back != [replace(r) for r in rules]:
        raise AlertConfigError(f"{path}: not saved, the rules would not read back as written "
                               "(edit the [alerts] table by hand)")
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise AlertConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
