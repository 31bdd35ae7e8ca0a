"""Which accounts exist: paper, and each venue's testnet/demo (and, only when the config
allows it, live). One table, so the CLI, the config parser and the UI agree.

Coinbase Advanced Trade has no sandbox: it is listed with that reason so the place a
user chooses an account can say so and offer paper instead.

This sits beside ``app.config``, below the engine, because the config parser checks
account names and ``app.trading`` builds its runtime from the config: living in
``app.trading`` it made the two import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from app.market.instruments import MarketType
from app.venues import registry


class Environment(str, Enum):
    """Where an order goes. Shown on every confirmation and in the header, each its own colour."""

    PAPER = "paper"
    TESTNET = "testnet"
    DEMO = "demo"
    LIVE = "live"

    @property
    def label(self) -> str:
        return self.value.upper()


PAPER = "paper"
COINBASE_NO_SANDBOX = ("Coinbase Advanced Trade has no sandbox or testnet: practise on the paper "
                       "account (the default) instead")


@dataclass(frozen=True, slots=True)
class AccountSpec:
    name: str  # what the config and the UI call it: "binance-testnet"
    venue: str  # ccxt id and keyring venue: binance, binanceusdm, okx, bybit
    env: Environment
    title: str  # "Binance spot testnet"
    markets: tuple[MarketType, ...]  # which of spot/perp it trades
    default_rest: str  # the venue's REST host for that environment
    needs_passphrase: bool = False

    @property
    def data_venue(self) -> str:
        """The venue part of canonical instrument ids (binanceusdm trades binance perps)."""
        return registry.markets_of(self.venue)[0][0]


_TITLE = {Environment.TESTNET: "{} testnet", Environment.DEMO: "{} demo trading",
          Environment.LIVE: "{} (REAL MONEY)"}


def _specs() -> list[AccountSpec]:
    """One spec per host set and environment its venue descriptor offers an account in:
    sandboxes first, in venue order, then the real-money ones (offered only with
    allow_live = true and a typed confirmation)."""
    out: list[AccountSpec] = []
    for live in (False, True):
        for key, hosts in registry.HOSTS.items():
            markets = tuple(m for _, m, _ in registry.markets_of(key))
            for env_name in hosts.accounts:
                env = Environment(env_name)
                if (env is Environment.LIVE) is live:
                    out.append(AccountSpec(f"{key}-{env_name}", key, env, _TITLE[env].format(hosts.title),
                                           markets, hosts.endpoints[env_name].rest_url,
                                           needs_passphrase=hosts.passphrase))
    return out


_SPECS = _specs()
SPECS: dict[str, AccountSpec] = {s.name: s for s in _SPECS}
NO_SANDBOX = {"coinbase": COINBASE_NO_SANDBOX, "coinbase-testnet": COINBASE_NO_SANDBOX,
              "coinbase-demo": COINBASE_NO_SANDBOX}


def account_names(allow_live: bool = False) -> list[str]:
    """Names a user may choose, paper first; live ones only when allowed."""
    return [PAPER] + [s.name for s in _SPECS if allow_live or s.env is not Environment.LIVE]


def check_account_name(name: str, allow_live: bool) -> str:
    """The name if it can be used, else ValueError with a sentence for the user."""
    name = name.strip().lower()
    if name == PAPER:
        return name
    if name in NO_SANDBOX:
        raise ValueError(NO_SANDBOX[name])
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown account {name!r} (use one of {', '.join(account_names(allow_live))})")
    if spec.env is Environment.LIVE and not allow_live:
        raise ValueError(f"{name} trades real money and is off: set allow_live = true in [trading] "
                         "to offer it (each session still asks for a typed confirmation)")
    return name


def cannot_trade(account: str, venue: str, market: str, symbol: str) -> str | None:
    """Why ``account`` cannot trade the ``venue``/``market`` instrument ``symbol``, in words
    for the order panel, or None when it can. Paper trades whatever is on screen."""
    spec = SPECS.get(account)
    if spec is None:
        return None
    if spec.data_venue == venue and market in spec.markets:
        return None
    who = f"{spec.venue} {spec.env.value}"
    what = f"{symbol} · {venue} {market}"
    able = [s.name for s in _SPECS if s.data_venue == venue and market in s.markets
            and s.env is not Environment.LIVE]
    if spec.data_venue != venue:
        choose = f"choose {_a(venue)} {venue} account" if able else "choose paper"
        return f"{who} cannot trade {what}: {choose} or switch to {_a(spec.data_venue)} " \
               f"{spec.data_venue} market"
    mine = "spot" if "spot" in spec.markets else "perp"
    choose = f"choose {' or '.join(able)}" if able else "choose paper"
    return f"{who} trades {mine} only, not {what}: {choose} or switch to {_a(mine)} {mine} market"


def _a(word: str) -> str:
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"
