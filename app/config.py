"""Configuration: a TOML file in the platform config dir, data in the platform data dir,
both under ``$CRYPTOTERM_HOME`` when it is set, and ``--config`` / ``--data-dir`` on top.

Every problem is a ConfigError whose message names the file and the key, so the CLI can
print one clear line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from app.accounts import check_account_name
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
APP_KEYS = ("theme", "fps", "venues", "symbols", "alert_bps", "usd_family", "environment")
STORAGE_KEYS = ("book_snapshot_interval", "book_snapshot_depth")
TRADING_KEYS = ("account", "allow_live", "paper_balance", "default_leverage", "rest_url", "timeout_s",
                "price_warn_pct", "bell")
ENDPOINT_KEYS = ("ws_url", "rest_url")
API_KEYS = ("enabled", "host", "port", "token")
SECTIONS = ("app", "venues", "trading", "storage", "api")


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
    timeout_s: float = 10.0
    price_warn_pct: float = 5.0  # 0 turns the far-from-mid warning off
    bell: bool = False


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
    api: ApiConfig = field(default_factory=ApiConfig)
    alert_bps: float = 50.0  # cross-venue deviation that raises an alert
    usd_family: bool = True  # USD, USDT and USDC compared as one quote across venues
    book_snapshot_interval: float = 5.0  # seconds between recorded top-N book snapshots
    book_snapshot_depth: int = 20
    # False when the endpoints are the demo's simulators (DemoWorld.configure): their
    # market lists must never be cached where a live session could find them
    metadata_cache: bool = True
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
    _apply_api(cfg, raw.get("api", {}), path)


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
