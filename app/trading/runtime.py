"""Building the trading runtime for a session from the config: the account, its store,
its endpoints, and the live-trading gate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.accounts import SPECS, AccountSpec
from app.config import AppConfig, ConfigError
from app.trading.errors import TradingError
from app.trading.models import Environment
from app.trading.service import TradingOptions, TradingService

if TYPE_CHECKING:
    from app.trading.store import TradingStore

log = logging.getLogger(__name__)

LIVE_CONFIRMATION = "LIVE"


def endpoint_for(cfg: AppConfig) -> Callable[[AccountSpec], str | None]:
    """The config's REST endpoint of a spec's venue and environment, where it has one."""

    def lookup(spec: AccountSpec) -> str | None:
        try:
            return cfg.endpoint(spec.venue, spec.env.value).rest_url
        except ConfigError:
            return None  # venues the market-data config does not know: ccxt's own hosts

    return lookup


def open_store(cfg: AppConfig) -> TradingStore | None:
    """The trading store in the app's database, or None (trading still works, unrecorded)."""
    try:
        from app.trading.store import TradingStore
        from storage.db import open_database

        return TradingStore(open_database(None, cfg.data_dir))
    except Exception as exc:  # storage problems must not stop a user from trading on paper
        log.warning("trading audit store unavailable: %s", exc)
        return None


def build_trading(cfg: AppConfig, *, demo: bool = False,
                  confirm_live: Callable[[str], bool] | None = None,
                  store: TradingStore | None = None) -> TradingService:
    """The session's TradingService. A live account needs ``allow_live`` in the config *and*
    ``confirm_live(account)`` returning True (the CLI asks the user to type LIVE)."""
    options = TradingOptions.from_config(cfg)
    if demo:
        options.paper_name = "paper-demo"  # simulated prices: never mixed with the real-data paper account
    spec = SPECS.get(options.account)
    if spec is not None and spec.env is Environment.LIVE:
        if not cfg.trading.allow_live:
            raise TradingError(f"{spec.name} trades real money: set allow_live = true in [trading]")
        options.live_confirmed = bool(confirm_live and confirm_live(spec.name))
        if not options.live_confirmed:
            raise TradingError(f"live trading on {spec.name} was not confirmed; nothing started")
    return TradingService(options, store=store,
                          store_factory=None if store is not None else (lambda: open_store(cfg)),
                          endpoint=endpoint_for(cfg))


def confirm_live_in_terminal(account: str) -> bool:
    """Ask on the terminal, before the UI starts, for the typed word LIVE."""
    try:
        answer = input(f"cryptoterm: {account} trades REAL MONEY. Type {LIVE_CONFIRMATION} to "
                       "continue: ")
    except EOFError:
        return False
    return answer.strip() == LIVE_CONFIRMATION
