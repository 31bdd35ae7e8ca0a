"""Configuration: a TOML file in the platform config dir, data in the platform data dir,
both under ``$CRYPTOTERM_HOME`` when it is set, and ``--config`` / ``--data-dir`` on top.

Every problem is a ConfigError whose message names the file and the key, so the CLI can
print one clear line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

import difflib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from app.accounts import check_account_name
from app.alert_rules import AlertConfigError, AlertsConfig, parse_alerts
from app.errors import CryptotermError
from app.market.instruments import parse_display_symbol
from app.venues import registry

APP_NAME = "cryptoterm"
ENVIRONMENTS = ("live", "testnet", "demo")
THEMES = ("cryptoterm-dark", "cryptoterm-light", "cryptoterm-high-contrast")

# Public endpoints per ccxt-style venue key and environment, from the venue modules'
# descriptors. Config may override any.
DEFAULT_ENDPOINTS: dict[str, dict[str, dict[str, str]]] = {
    key: {env: {"ws_url": e.ws_url, "rest_url": e.rest_url} for env, e in hosts.endpoints.items()}
    for key, hosts in registry.HOSTS.items()}
VENUES = tuple(registry.VENUES)

DEFAULT_SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]

EXAMPLE_CONFIG = """\
# cryptoterm configuration (TOML)

[app]
theme = "cryptoterm-dark"    # or "cryptoterm-light", "cryptoterm-high-contrast"
fps = 10                     # UI frames per second
venues = ["binance"]         # any of @VENUES@
symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"]
alert_bps = 50               # cross-venue view: deviation from the median that alerts
usd_family = true            # compare USD, USDT and USDC markets as one
watch_top = 0                # books for the N most traded USDT markets of each venue (--top);
                             # the watchlist (w) streams every other market as tickers only
favourites = []              # watchlist favourites (f), e.g. ["cryptopair_binance_btcusdt"]
reduced_motion = false       # true: watchlist rows do not flash on a price change

# Endpoint overrides per venue and environment (proxies, regional hosts, tests):
# [venues.binance.live]
# ws_url = "wss://data-stream.binance.vision"
# rest_url = "https://data-api.binance.vision"
# [venues.binanceusdm.live]
# ws_url = "wss://fstream.binance.com"

[storage]
book_snapshot_interval = 5   # seconds between recorded top-N book snapshots
book_snapshot_depth = 20

[trading]
account = "paper"            # or binance-testnet, binance-demo, binanceusdm-demo, okx-demo,
                             # bybit-testnet, bybit-demo (keys: `cryptoterm keys set ...`)
paper_balance = 10000        # USDT a new paper account starts with
default_leverage = 10        # perps, until an order sets another
allow_live = false           # true offers real-money accounts (each session asks to confirm)
price_warn_pct = 5           # a limit/stop this far from the mid (%) must be confirmed again
bell = false                 # ring the terminal bell on fills, rejects and venue cancels
# rest_url = "https://..."   # send the chosen account's REST calls elsewhere (proxy, tests)
# private_url = "wss://..."  # the account's private stream (default: the venue's, or rest_url's host)

# Alerts (also edited from the alerts screen, key `a`). Without any rule, one deviation
# rule at alert_bps applies. Each fires once per crossing, then rests for `cooldown` s.
# [alerts]
# bell = false               # ring the terminal bell with each alert
# desktop = true             # notify-send / osascript, where the system has one
# webhook_url = "https://example.net/hook"   # POST each alert as JSON (retried)
# [[alerts.rules]]
# name = "btc-30k"
# kind = "price_above"       # price_below, move, deviation, funding, spread, feed, order
# symbols = ["BTC/USDT"]     # leave out for every streamed market; venues = [...] likewise
# threshold = 30000
# cooldown = 60

[risk]                       # checked before every order leaves (0 or absent: off); USD
# max_order_notional = 25000   # one order's value
# max_position_notional = 50000  # one instrument's position, counting resting orders
# max_open_orders = 50
# max_daily_loss = 1000        # realized + unrealized since 00:00 UTC; then only reduce-only
# price_band_pct = 5           # a limit price at most this far from the mid (refused, not asked)
# confirm_notional = 0         # orders worth at most this go without the confirm dialog
# [risk.binance-testnet]       # one account's own limits on top of the ones above
# max_order_notional = 1000

[api]
enabled = false              # serve the local data API from the terminal UI too (or --serve)
host = "127.0.0.1"           # any other address requires a token
port = 8765
# token = "..."              # required beyond 127.0.0.1; generated and printed once if unset
""".replace("@VENUES@", ", ".join(f'"{v}"' for v in VENUES))


class ConfigError(CryptotermError):
    """A bad config file or flag; the message says what and where."""

    default_title = "Config"


# every key each table accepts: an unknown one is a warning naming the nearest of these
APP_KEYS = ("theme", "fps", "venues", "symbols", "alert_bps", "usd_family", "environment",
            "watch_top", "favourites", "reduced_motion")
MAX_WATCH_TOP = 200  # books per venue and market: beyond this a venue's limits bite
STORAGE_KEYS = ("book_snapshot_interval", "book_snapshot_depth")
TRADING_KEYS = ("account", "allow_live", "paper_balance", "default_leverage", "rest_url", "timeout_s",
                "price_warn_pct", "bell", "private_url")
ENDPOINT_KEYS = ("ws_url", "rest_url")
# [risk]: each limit and the largest value it takes (whole numbers for max_open_orders)
RISK_KEYS: dict[str, float] = {"max_order_notional": 1e12, "max_position_notional": 1e12,
                               "max_open_orders": 100_000, "max_daily_loss": 1e12,
                               "price_band_pct": 1000, "confirm_notional": 1e12}
API_KEYS = ("enabled", "host", "port", "token")
SECTIONS = ("app", "venues", "trading", "storage", "alerts", "risk", "api")


def _is_number(value: object) -> bool:
    """An int or float from TOML (``true`` is an int to Python, never a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_flag(where: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} = {value!r}: must be true or false")


def unknown_key_warning(path: Path, table: str | None, key: str, known: tuple[str, ...] | list[str],
                        what: str = "setting") -> str:
    """``/x/config.toml: [app] venuez: unknown setting, ignored; did you mean `venues`?``"""
    where = f"[{table}] {key}" if table else key
    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f"; did you mean `{near[0]}`?" if near else f" (known: {', '.join(known)})"
    return f"{path}: {where}: unknown {what}, ignored{hint}"


@dataclass(slots=True)
class Endpoint:
    ws_url: str
    rest_url: str


@dataclass(slots=True)
class TradingConfig:
    """The ``[trading]`` section: which account orders go to, and the paper account's start."""

    account: str = "paper"
    allow_live: bool = False
    paper_balance: float = 10_000.0
    default_leverage: int = 10
    rest_url: str | None = None
    private_url: str | None = None  # the private (order/fill) stream's websocket URL
    timeout_s: float = 10.0
    price_warn_pct: float = 5.0  # 0 turns the far-from-mid warning off
    bell: bool = False


@dataclass(slots=True)
class RiskConfig:
    """The ``[risk]`` section: limits for every account, and accounts' own on top.
    A value of 0 turns a limit off (also for one account, when the defaults set it)."""

    limits: dict[str, float] = field(default_factory=dict)
    accounts: dict[str, dict[str, float]] = field(default_factory=dict)

    def for_account(self, name: str) -> dict[str, float]:
        return {**self.limits, **self.accounts.get(name, {})}


@dataclass(slots=True)
class ApiConfig:
    """The ``[api]`` section: the local data API (app.api)."""

    enabled: bool = False  # the terminal UI serves it too
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None  # None: generated when the host needs one


@dataclass(slots=True)
class AppConfig:
    config_path: Path
    data_dir: Path
    theme: str = "cryptoterm-dark"
    fps: float = 10.0
    venues: list[str] = field(default_factory=lambda: ["binance"])
    symbols: list[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    environment: str = "live"
    endpoints: dict[str, dict[str, Endpoint]] = field(default_factory=dict)
    trading: TradingConfig = field(default_factory=TradingConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    alert_bps: float = 50.0  # cross-venue deviation that raises an alert
    usd_family: bool = True  # USD, USDT and USDC compared as one quote across venues
    watch_top: int = 0  # books for the N most traded markets of each venue and market
    favourites: list[str] = field(default_factory=list)  # watchlist favourites: instrument ids
    reduced_motion: bool = False  # no row flashes in the watchlist
    book_snapshot_interval: float = 5.0  # seconds between recorded top-N book snapshots
    book_snapshot_depth: int = 20
    # False when the endpoints are the demo's simulators (DemoWorld.configure): their
    # market lists must never be cached where a live session could find them
    metadata_cache: bool = True
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # [alerts] and its rules
    warnings: list[str] = field(default_factory=list)  # unknown keys: said, never fatal

    def endpoint(self, venue_key: str, env: str | None = None) -> Endpoint:
        env = env or self.environment
        try:
            return self.endpoints[venue_key][env]
        except KeyError:
            raise ConfigError(f"no {env} endpoint configured for {venue_key}") from None

    def set_endpoint(self, venue_key: str, env: str, endpoint: Endpoint) -> None:
        self.endpoints.setdefault(venue_key, {})[env] = endpoint

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / "cryptoterm.log"


def default_paths(env: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """(config file, data dir), honouring $CRYPTOTERM_HOME."""
    home = (os.environ if env is None else env).get("CRYPTOTERM_HOME")
    if home:
        root = Path(home).expanduser()
        return root / "config.toml", root / "data"
    return (Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml",
            Path(platformdirs.user_data_dir(APP_NAME)))


def load_config(config_path: str | Path | None = None, data_dir: str | Path | None = None,
                env: dict[str, str] | None = None) -> AppConfig:
    default_config, default_data = default_paths(env)
    explicit = config_path is not None
    path = Path(config_path).expanduser() if config_path is not None else default_config
    raw: dict[str, Any] = {}
    if path.exists():
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, expected a TOML file")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
    elif explicit:
        raise ConfigError(f"{path}: config file not found")
    cfg = AppConfig(config_path=path, data_dir=Path(data_dir).expanduser() if data_dir else default_data)
    _apply(cfg, raw, path)
    return cfg


def _apply(cfg: AppConfig, raw: dict[str, Any], path: Path) -> None:
    for key, value in raw.items():
        if key in SECTIONS:
            continue
        if isinstance(value, dict):
            near = difflib.get_close_matches(key, SECTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean `[{near[0]}]`?" if near else f" (known: {', '.join(SECTIONS)})"
            cfg.warnings.append(f"{path}: [{key}]: unknown section, ignored{hint}")
        else:  # a setting above every table: most likely one of [app]'s
            near = difflib.get_close_matches(key, APP_KEYS, n=1, cutoff=0.6)
            hint = f"; did you mean `{near[0]}` under [app]?" if near else \
                " (settings belong in a table: [app], [storage], [trading])"
            cfg.warnings.append(f"{path}: {key}: unknown setting outside any table, ignored{hint}")
    app = raw.get("app", {})
    if not isinstance(app, dict):
        raise ConfigError(f"{path}: [app] must be a table")
    for key, value in app.items():
        where = f"{path}: app.{key}"
        if key == "theme":
            if value not in THEMES:
                raise ConfigError(f"{where} = {value!r}: use one of {', '.join(THEMES)}")
            cfg.theme = value
        elif key == "fps":
            if not _is_number(value) or not 1 <= value <= 60:
                raise ConfigError(f"{where} = {value!r}: must be a number from 1 to 60")
            cfg.fps = float(value)
        elif key == "venues":
            if (not isinstance(value, list) or not value
                    or not all(isinstance(v, str) and v in VENUES for v in value)):
                raise ConfigError(f"{where} = {value!r}: a non-empty list of {', '.join(VENUES)}")
            cfg.venues = list(dict.fromkeys(value))
        elif key == "symbols":
            if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
                raise ConfigError(f"{where}: must be a non-empty list of symbols like \"BTC/USDT\"")
            for s in value:
                try:
                    parse_display_symbol(s)
                except ValueError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
            cfg.symbols = list(value)
        elif key == "alert_bps":
            if not _is_number(value) or not 0 < value <= 10_000:
                raise ConfigError(f"{where} = {value!r}: basis points above 0, at most 10000")
            cfg.alert_bps = float(value)
        elif key == "usd_family":
            _check_flag(where, value)
            cfg.usd_family = value
        elif key == "watch_top":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_WATCH_TOP:
                raise ConfigError(f"{where} = {value!r}: a whole number from 0 to {MAX_WATCH_TOP}")
            cfg.watch_top = value
        elif key == "favourites":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: must be a list of instrument ids like "
                                  "\"cryptopair_binance_btcusdt\"")
            cfg.favourites = list(dict.fromkeys(value))
        elif key == "reduced_motion":
            _check_flag(where, value)
            cfg.reduced_motion = value
        elif key == "environment":
            if value not in ENVIRONMENTS:
                raise ConfigError(f"{where} = {value!r}: use one of {', '.join(ENVIRONMENTS)}")
            cfg.environment = value
        else:
            cfg.warnings.append(unknown_key_warning(path, "app", key, APP_KEYS))
    for venue_key, envs in DEFAULT_ENDPOINTS.items():
        for env_name, urls in envs.items():
            cfg.set_endpoint(venue_key, env_name, Endpoint(**urls))
    venues = raw.get("venues", {})
    if not isinstance(venues, dict):
        raise ConfigError(f"{path}: [venues] must be a table")
    for venue_key, envs in venues.items():
        if venue_key not in DEFAULT_ENDPOINTS:
            cfg.warnings.append(unknown_key_warning(path, "venues", venue_key, list(DEFAULT_ENDPOINTS),
                                                    "venue"))
            continue
        if not isinstance(envs, dict):
            raise ConfigError(f"{path}: venues.{venue_key} must be a table")
        for env_name, urls in envs.items():
            where = f"{path}: venues.{venue_key}.{env_name}"
            if env_name not in ENVIRONMENTS:
                cfg.warnings.append(unknown_key_warning(path, f"venues.{venue_key}", env_name,
                                                        ENVIRONMENTS, "environment"))
                continue
            if not isinstance(urls, dict):
                raise ConfigError(f"{where} must be a table with ws_url and/or rest_url")
            current = cfg.endpoint(venue_key, env_name)
            for key, value in urls.items():
                if key not in ENDPOINT_KEYS:
                    cfg.warnings.append(unknown_key_warning(path, f"venues.{venue_key}.{env_name}", key,
                                                            ENDPOINT_KEYS))
                    continue
                schemes = ("ws://", "wss://") if key == "ws_url" else ("http://", "https://")
                if not isinstance(value, str) or not value.startswith(schemes):
                    raise ConfigError(f"{where}.{key} = {value!r}: must start with {' or '.join(schemes)}")
                setattr(current, key, value.rstrip("/"))
    _apply_trading(cfg, raw.get("trading", {}), path)
    _apply_storage(cfg, raw.get("storage", {}), path)
    try:
        cfg.alerts = parse_alerts(raw.get("alerts", {}), path, VENUES, cfg.alert_bps)
    except AlertConfigError as exc:
        raise ConfigError(str(exc)) from None
    cfg.warnings.extend(cfg.alerts.warnings)
    _apply_risk(cfg, raw.get("risk", {}), path)
    _apply_api(cfg, raw.get("api", {}), path)


def _risk_limits(section: dict[str, Any], table: str, path: Path, warnings: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in section.items():
        where = f"{path}: {table}.{key}"
        if key not in RISK_KEYS:
            warnings.append(unknown_key_warning(path, table, key, tuple(RISK_KEYS)))
            continue
        top = RISK_KEYS[key]
        if key == "max_open_orders":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                raise ConfigError(f"{where} = {value!r}: a whole number from 0 (off) to {int(top)}")
        elif not _is_number(value) or not 0 <= value <= top:
            raise ConfigError(f"{where} = {value!r}: a number from 0 (off) to {top:g}")
        out[key] = value
    return out


def _apply_risk(cfg: AppConfig, section: Any, path: Path) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [risk] must be a table")
    flat = {k: v for k, v in section.items() if not isinstance(v, dict)}
    cfg.risk.limits = _risk_limits(flat, "risk", path, cfg.warnings)
    for name, table in section.items():
        if not isinstance(table, dict):
            continue
        try:  # live accounts may carry limits even while live trading is off
            account = check_account_name(name, allow_live=True)
        except ValueError as exc:
            raise ConfigError(f"{path}: [risk.{name}]: {exc}") from None
        cfg.risk.accounts[account] = _risk_limits(table, f"risk.{account}", path, cfg.warnings)


def _apply_api(cfg: AppConfig, section: Any, path: Path) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [api] must be a table")
    api = cfg.api
    for key, value in section.items():
        where = f"{path}: api.{key}"
        if key == "enabled":
            _check_flag(where, value)
            api.enabled = value
        elif key == "host":
            if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
                raise ConfigError(f"{where} = {value!r}: an address such as \"127.0.0.1\"")
            api.host = value
        elif key == "port":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
                raise ConfigError(f"{where} = {value!r}: a port number from 1 to 65535")
            api.port = value
        elif key == "token":
            if not isinstance(value, str) or len(value) < 16 or any(c.isspace() for c in value):
                # shorter is guessable; whitespace would never survive an HTTP header intact
                raise ConfigError(f"{where}: must be at least 16 characters, no spaces")
            api.token = value
        else:
            cfg.warnings.append(unknown_key_warning(path, "api", key, API_KEYS))


def _apply_storage(cfg: AppConfig, section: Any, path: Path) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [storage] must be a table")
    for key, value in section.items():
        where = f"{path}: storage.{key}"
        if key == "book_snapshot_interval":
            if not _is_number(value) or not 0.5 <= value <= 3600:
                raise ConfigError(f"{where} = {value!r}: seconds between recorded book snapshots, 0.5 to 3600")
            cfg.book_snapshot_interval = float(value)
        elif key == "book_snapshot_depth":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
                raise ConfigError(f"{where} = {value!r}: levels per side, 1 to 1000")
            cfg.book_snapshot_depth = value
        else:
            cfg.warnings.append(unknown_key_warning(path, "storage", key, STORAGE_KEYS))


def _apply_trading(cfg: AppConfig, section: Any, path: Path) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [trading] must be a table")
    t = cfg.trading
    allow = section.get("allow_live", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{path}: trading.allow_live = {allow!r}: must be true or false")
    t.allow_live = allow
    for key, value in section.items():
        where = f"{path}: trading.{key}"
        if key == "allow_live":
            continue
        if key == "account":
            if not isinstance(value, str):
                raise ConfigError(f"{where} must be a string such as \"paper\"")
            try:
                t.account = check_account_name(value, t.allow_live)
            except ValueError as exc:
                raise ConfigError(f"{where} = {value!r}: {exc}") from None
        elif key == "paper_balance":
            if not _is_number(value) or not 0 < value <= 1e12:
                raise ConfigError(f"{where} = {value!r}: must be a positive number")
            t.paper_balance = float(value)
        elif key == "default_leverage":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 125:
                raise ConfigError(f"{where} = {value!r}: must be a whole number from 1 to 125")
            t.default_leverage = value
        elif key == "rest_url":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise ConfigError(f"{where} = {value!r}: must start with http:// or https://")
            t.rest_url = value.rstrip("/")
        elif key == "private_url":
            if not isinstance(value, str) or not value.startswith(("ws://", "wss://")):
                raise ConfigError(f"{where} = {value!r}: must start with ws:// or wss://")
            t.private_url = value
        elif key == "timeout_s":
            if not _is_number(value) or not 0.5 <= value <= 120:
                raise ConfigError(f"{where} = {value!r}: must be from 0.5 to 120 seconds")
            t.timeout_s = float(value)
        elif key == "price_warn_pct":
            if not _is_number(value) or not 0 <= value <= 1000:
                raise ConfigError(f"{where} = {value!r}: must be a percentage from 0 (off) to 1000")
            t.price_warn_pct = float(value)
        elif key == "bell":
            _check_flag(where, value)
            t.bell = value
        else:
            cfg.warnings.append(unknown_key_warning(path, "trading", key, TRADING_KEYS))


_FAVOURITES_LINE = re.compile(r"^favourites\s*=\s*\[[^\]]*\][^\n]*\n?", re.MULTILINE)
_TABLE_HEADER = re.compile(r"^\s*\[", re.MULTILINE)


def save_favourites(path: Path, favourites: list[str]) -> None:
    """Write ``[app] favourites`` into the config file, keeping every other line (and
    comment) as it was; creates the file when there is none. Raises ConfigError, with
    the file unchanged, when the result would not read back as exactly that list."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    line = "favourites = [" + ", ".join(json.dumps(f) for f in favourites) + "]\n"
    app = re.search(r"^\[app\][^\n]*\n?", text, re.MULTILINE)
    if app is None:
        new = text + ("" if not text or text.endswith("\n") else "\n") + "\n[app]\n" + line
    else:
        start = app.end()
        nxt = _TABLE_HEADER.search(text, start)
        end = nxt.start() if nxt else len(text)
        section = text[start:end]
        if _FAVOURITES_LINE.search(section):
            section = _FAVOURITES_LINE.sub(lambda m: line, section, count=1)
        else:
            section = line + section
        new = text[:start] + section + text[end:]
    try:
        check = tomllib.loads(new).get("app", {}).get("favourites")
    except tomllib.TOMLDecodeError:
        check = None
    if check != favourites:
        raise ConfigError(f"{path}: could not update [app] favourites without changing "
                          "other settings; edit the file by hand")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc}") from None
