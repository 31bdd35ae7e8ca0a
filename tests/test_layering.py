"""The engine never imports textual: it must run headless, identically."""

import subprocess
import sys

ENGINE = ["app.market", "app.market.instruments", "app.market.events", "app.market.orderbook",
          "app.market.klines", "app.venues.base", "app.venues.binance", "app.feeds.connection",
          "app.feeds.health", "app.feeds.hub", "app.feeds.views", "app.feeds.rest", "app.feeds.feed",
          "app.feeds.engine", "app.sim", "app.config", "app.logs"]


def test_engine_imports_without_textual():
    # a fresh interpreter where importing textual fails loudly
    code = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.') or name.startswith('textual_'):\n"
        "            raise ImportError('engine imported ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"mods = {ENGINE!r}\n"
        "import pkgutil\n"
        "import app.sim, app.trading, storage\n"
        "for pkg in (app.sim, app.trading, storage):\n"
        "    mods += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.')]\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        "print(len(mods))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
