"""One descriptor per venue module: the registry, config, engine, backfill and trading
all read venue facts from it, so a new venue is its own module plus one registry line."""

import dataclasses
import subprocess
import sys
import textwrap

import pytest

from app import config
from app import accounts
from app.trading import ccxt_account, keys
from app.venues import binance, bybit, coinbase, okx, registry
from app.venues.base import Endpoints, Hosts, MarketFacts
from storage import backfill


def test_every_venue_module_registers_its_descriptor_in_list_order():
    assert list(registry.VENUES) == ["binance", "okx", "bybit", "coinbase"]
    for module in (binance, okx, bybit, coinbase):
        assert registry.VENUES[module.VENUE] is module.DESCRIPTOR
    assert registry.KNOWN == {("binance", "spot"), ("binance", "perp"), ("coinbase", "spot"),
                              ("bybit", "spot"), ("bybit", "perp"), ("okx", "spot"), ("okx", "perp")}
    assert config.VENUES == ("binance", "okx", "bybit", "coinbase")


@pytest.mark.parametrize("venue,market", sorted(registry.KNOWN))
def test_each_market_has_hosts_in_every_environment_and_sane_limits(venue, market):
    f = registry.facts(venue, market)
    assert set(f.hosts.endpoints) == set(config.ENVIRONMENTS)
    for e in f.hosts.endpoints.values():
        assert e.ws_url.startswith("wss://") and e.rest_url.startswith("https://")
    assert f.rest_weight_per_minute > 0 and f.kline_page_limit > 0
    # the codec the descriptor names is the one the registry builds, for that market
    codec = registry.make_venue(venue, market, [])
    assert (codec.name, codec.market, codec.config_key) == (venue, market, f.hosts.key)
    assert registry.metadata_path(venue, market).startswith("/")


def test_unknown_market_is_a_key_error_everywhere():
    for call in (lambda: registry.metadata_path("coinbase", "perp"),
                 lambda: registry.make_venue("coinbase", "perp", []),
                 lambda: registry.config_key("kraken", "spot"),
                 lambda: registry.instruments_from_metadata("kraken", "spot", "{}")):
        with pytest.raises(KeyError):
            call()


def test_consumers_read_the_descriptors():
    """The tables that used to be written out by hand are what the descriptors say."""
    assert config.DEFAULT_ENDPOINTS["binanceusdm"]["demo"] == {
        "ws_url": "wss://fstream.binancefuture.com", "rest_url": "https://demo-fapi.binance.com"}
    assert list(config.DEFAULT_ENDPOINTS) == ["binance", "binanceusdm", "okx", "bybit", "coinbase"]
    assert backfill.ROW_LIMITS == {"binance": 1000, "binanceusdm": 1500, "okx": 100, "bybit": 1000,
                                   "coinbase": 350}
    assert backfill.VENUE_ALIASES == {"binanceusdm": "binance"}
    assert backfill.ccxt_id("binance", "perp") == "binanceusdm"
    assert backfill._MARKET_OPTIONS == {"binance": {"fetchMarkets": {"types": ["spot"]}},
                                        "binanceusdm": {"fetchMarkets": {"types": ["linear"]}}}
    assert ccxt_account.RATE_LIMIT_MS == {"binance": 12, "binanceusdm": 30}
    assert keys.VENUES == ("binance", "binanceusdm", "okx", "bybit", "coinbase")
    assert keys.PASSPHRASE_VENUES == ("okx",)
    assert accounts.account_names() == ["paper", "binance-testnet", "binance-demo", "binanceusdm-demo",
                                        "okx-demo", "bybit-testnet", "bybit-demo"]
    spec = accounts.SPECS["okx-demo"]
    assert (spec.title, spec.markets, spec.default_rest, spec.needs_passphrase, spec.data_venue) == \
        ("OKX demo trading", ("spot", "perp"), "https://www.okx.com", True, "okx")
    assert accounts.SPECS["binanceusdm-live"].data_venue == "binance"


def test_two_markets_on_one_config_section_must_agree_on_its_hosts():
    f = registry.facts("okx", "perp")
    moved = Endpoints("wss://elsewhere", "https://elsewhere")
    other = dataclasses.replace(f.hosts, endpoints={**f.hosts.endpoints, "live": moved})
    bad = dataclasses.replace(okx.DESCRIPTOR, markets={"spot": registry.facts("okx", "spot"),
                                                       "perp": dataclasses.replace(f, hosts=other)})
    with pytest.raises(ValueError, match="okx perp: hosts 'okx' differ"):
        registry.collect_hosts({"okx": bad})


# A fifth venue, registered the way a new module's DESCRIPTOR would be (before anything
# reads the registry): config, backfill, accounts and keys pick it up with no edits.
FIFTH = textwrap.dedent("""
    import dataclasses
    from app.venues import bybit, registry
    from app.venues.base import Endpoints, Hosts, MarketFacts

    hosts = Hosts("examplex", {env: Endpoints("wss://ws.examplex.test", "https://api.examplex.test")
                               for env in ("live", "testnet", "demo")},
                  title="ExampleX", accounts=("testnet", "live"))
    d = dataclasses.replace(bybit.DESCRIPTOR, name="examplex",
                            markets={"spot": MarketFacts(hosts, "spot", 600, 250, 50)})
    registry.VENUES["examplex"] = d
    registry.HOSTS.update(registry.collect_hosts(registry.VENUES))
    registry.KNOWN = registry.KNOWN | {("examplex", "spot")}

    import tempfile, pathlib
    from app import config
    from app import accounts
    from app.trading import keys
    from storage import backfill
    tmp = pathlib.Path(tempfile.mkdtemp()) / "config.toml"
    tmp.write_text('[app]\\nvenues = ["examplex"]\\n'
                   '[venues.examplex.live]\\nrest_url = "http://127.0.0.1:1"\\n')
    cfg = config.load_config(tmp, tmp.parent)
    assert cfg.venues == ["examplex"] and not cfg.warnings, cfg.warnings
    assert cfg.endpoint(registry.config_key("examplex", "spot")).rest_url == "http://127.0.0.1:1"
    assert cfg.endpoint("examplex", "testnet").ws_url == "wss://ws.examplex.test"
    assert "examplex" in config.EXAMPLE_CONFIG.splitlines()[5]
    assert backfill.ccxt_id("examplex", "spot") == "examplex" and backfill.ROW_LIMITS["examplex"] == 250
    assert "examplex" in backfill.venue_names()
    assert accounts.check_account_name("examplex-testnet", False) == "examplex-testnet"
    assert accounts.SPECS["examplex-testnet"].title == "ExampleX testnet"
    assert accounts.SPECS["examplex-live"].data_venue == "examplex"
    assert "examplex" in keys.VENUES
    from app.feeds.engine import preliminary_instruments
    assert [i.id for i in preliminary_instruments(["examplex"], ["BTC/USDT", "BTC/USDT:USDT"])] == \\
        ["cryptopair_examplex_btcusdt"]
    print("ok")
""")


def test_a_fifth_venue_needs_no_edit_outside_its_module_and_the_registry():
    out = subprocess.run([sys.executable, "-c", FIFTH], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_hosts_and_facts_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.facts("bybit", "spot").kline_page_limit = 5  # type: ignore[misc]
    assert isinstance(registry.HOSTS["bybit"], Hosts)
    assert isinstance(registry.facts("bybit", "perp"), MarketFacts)
    with pytest.raises(TypeError):
        registry.HOSTS["okx"].endpoints["live"] = Endpoints("wss://x", "https://x")  # type: ignore[index]
    with pytest.raises(TypeError):
        registry.VENUES["okx"].markets["spot"] = registry.facts("okx", "perp")  # type: ignore[index]


def test_each_venues_budget_is_spread_over_its_own_rate_limit_window():
    """A minute's budget spent in one burst is a 429 on the venues that count per second
    or two: the budget each window allows stays under the venue's documented limit
    (shared/protocols: OKX history-candles 20 / 2 s, Bybit 600 / 5 s, Coinbase 10 / s)."""
    import asyncio
    import time

    from app.feeds.rest import budget_for

    limits = {("okx", "spot"): (2.0, 20), ("okx", "perp"): (2.0, 20), ("bybit", "spot"): (5.0, 600),
              ("bybit", "perp"): (5.0, 600), ("coinbase", "spot"): (1.0, 10)}
    for (venue, market), (window, allowed) in limits.items():
        budget = budget_for(venue, market)
        assert budget.window == window and 0 < budget.per_minute < allowed, (venue, market)
    assert budget_for("binance", "spot").window == 60.0  # Binance counts weight per minute

    async def requests_in(seconds: float) -> int:
        budget, sent = budget_for("coinbase", "spot"), 0
        deadline = time.monotonic() + seconds
        while True:
            await budget.take(1)
            if time.monotonic() >= deadline:
                return sent
            sent += 1

    # 6 a second, not the minute's 400 at once
    assert asyncio.run(requests_in(1.5)) <= 2 * budget_for("coinbase", "spot").per_minute
