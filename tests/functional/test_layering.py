"""The engine never imports textual: it must run headless, identically.

The import-linter contracts in pyproject.toml say the same from the source (`lint-imports`);
these tests import the real modules in a fresh interpreter, so nothing slips through an
import the linter cannot see (one built at run time, say)."""

import json
import subprocess
import sys
import textwrap

# Every module under these is engine, found by walking the packages: a module is checked
# the day it is added. Of the modules directly under ``app`` only the UI and the CLI may
# reach textual; the rest (config, accounts, logs, ...) sits below the engine, so it is
# walked too.
ENGINE_PACKAGES = ["app.market", "app.venues", "app.feeds", "app.trading", "app.sim", "app.backtest",
                   "storage", "app.alerts"]
UI = ["app.ui", "app.commands", "app.cli", "app.__main__", "widgets", "themes"]
TEXTUAL = ["textual", "textual_plotext"]
OURS = ("app", "storage", "widgets", "themes")

_PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, sys

    PACKAGES, BLOCKED, UI, WITH_APP_MODULES = json.loads(sys.argv[1])

    class Block:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + '.') for b in BLOCKED):
                raise ImportError('imported ' + name)

    def fail(name):
        raise ImportError('cannot walk ' + name)

    sys.meta_path.insert(0, Block())
    mods = []
    for package in PACKAGES:
        mods.append(package)
        path = importlib.import_module(package).__path__
        mods += [i.name for i in pkgutil.walk_packages(path, package + '.', onerror=fail)]
    if WITH_APP_MODULES:
        import app
        mods += ['app.' + i.name for i in pkgutil.iter_modules(app.__path__)
                 if 'app.' + i.name not in UI + PACKAGES]
    failed = []
    for m in mods:
        try:
            importlib.import_module(m)
        except ImportError as exc:
            failed.append(m + ': ' + str(exc))
    print(json.dumps({'modules': mods, 'failed': failed, 'loaded': sorted(sys.modules)}))
""")


def _probe(packages: list[str], blocked: list[str], with_app_modules: bool) -> dict:
    """Walk ``packages`` with pkgutil and import every module found, in a fresh interpreter
    where importing anything under ``blocked`` raises ImportError."""
    arg = json.dumps([packages, blocked, UI, with_app_modules])
    out = subprocess.run([sys.executable, "-c", _PROBE, arg], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_engine_imports_without_textual_or_ui():
    found = _probe(ENGINE_PACKAGES, TEXTUAL + UI, with_app_modules=True)
    assert not found["failed"], "\n".join(found["failed"])
    # the walk went everywhere: leaves deep in each package, and app's own modules
    for leaf in ("app.feeds.replay", "app.sim.okx_server", "app.trading.ccxt_account",
                 "storage.recorder", "app.venues.binance", "app.market.orderbook",
                 "app.config", "app.accounts", "app.logs", "app.backtest.engine", "app.alerts.runtime",
                 "app.alert_rules"):
        assert leaf in found["modules"]
    assert not [m for m in found["modules"] if m.partition(".")[0] in ("widgets", "themes")
                or m.split(".")[:2] in (["app", "ui"], ["app", "commands"])]


def test_market_imports_nothing_of_ours():
    found = _probe(["app.market"], TEXTUAL + ["storage", "widgets", "themes"],
                   with_app_modules=False)
    assert not found["failed"], "\n".join(found["failed"])
    assert "app.market.health" in found["modules"]
    ours = [m for m in found["loaded"] if m.partition(".")[0] in OURS
            and m != "app" and not (m + ".").startswith("app.market.")]
    assert ours == []
