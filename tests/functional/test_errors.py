"""One error root: every error a user can see is a CryptotermError with a message and a
title, and the CLI prints each one the same way."""

import importlib
import inspect
import pkgutil

import pytest

from app.cli import main
from app.errors import CryptotermError

PACKAGES = ["app", "storage", "widgets"]

# exceptions that never reach a user as such: the simulator's HTTP refusal is a reply it
# sends (the client meets it as RestError); the Bybit codec's signal for one bad field,
# caught where the message is decoded
INTERNAL = {
    "app.sim.serving.HttpRefusal",
    "app.venues.bybit._Bad",
}


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [m.name for m in pkgutil.walk_packages(path, package + ".")]
    return names


def _exception_classes() -> dict[str, type[BaseException]]:
    found = {}
    for name in _modules():
        if name in ("app.__main__",):
            continue  # running it is running the CLI
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found[f"{name}.{cls.__qualname__}"] = cls
    return found


def test_every_error_class_of_ours_derives_from_the_root():
    classes = _exception_classes()
    assert "app.config.ConfigError" in classes and "storage.db.StorageError" in classes
    stray = sorted(name for name, cls in classes.items()
                   if not issubclass(cls, CryptotermError) and name not in INTERNAL
                   and not name.startswith("app.sim."))
    assert stray == []
    # the simulators' classes are their replies to a client, not errors a user sees
    sim = sorted(name for name, cls in classes.items()
                 if name.startswith("app.sim.") and not issubclass(cls, CryptotermError))
    assert all(issubclass(classes[n], classes["app.sim.serving.HttpRefusal"]) for n in sim)


def test_only_one_rest_error():
    names = [name for name in _exception_classes() if name.rsplit(".", 1)[1].lstrip("_") == "RestError"]
    assert names == ["app.feeds.rest.RestError"]


def test_each_error_has_a_title_and_shows_its_message():
    from app.feeds.rest import RestError
    from app.trading.errors import ErrorKind, TradingError, ValidationFailed
    from app.trading.models import FieldError

    for cls in (c for c in _exception_classes().values() if issubclass(c, CryptotermError)):
        assert cls.default_title, cls
    err = RestError("binance: HTTP 503", status=503)
    assert (str(err), err.message, err.title, err.status) == (
        "binance: HTTP 503", "binance: HTTP 503", "Venue request failed", 503)
    auth = TradingError("the venue refused the API key", ErrorKind.AUTH)
    assert (str(auth), auth.title, auth.kind) == ("the venue refused the API key",
                                                  "API key refused", "auth")
    bad = ValidationFailed([FieldError("amount", "below the minimum 0.001")])
    assert (str(bad), bad.title) == ("amount: below the minimum 0.001", "Order not sent")
    assert CryptotermError("x", title="binance unreachable").title == "binance unreachable"


def _cli(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_cli_prints_a_config_error_one_way(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text("[app]\nfps = 'fast'\n")
    code, lines = _cli(capsys, "--config", str(path), "keys", "list")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("cryptoterm: error: ") and "fps" in lines[0]


def test_cli_prints_a_command_error_one_way(tmp_path, capsys):
    code, lines = _cli(capsys, "--data-dir", str(tmp_path), "history", "nosuchvenue", "BTC/USDT", "1m")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("cryptoterm: error: ")


def test_cli_prints_any_cryptoterm_error_one_way(tmp_path, capsys, monkeypatch):
    # a REST failure, a storage failure and a trading refusal that escape a command are
    # printed exactly as a command error is: the message, nothing more
    from app.commands import keys as keys_command
    from app.feeds.rest import RestError
    from app.trading.errors import ErrorKind, TradingError
    from storage.db import StorageError

    name = _keys_list_func()
    for err in (RestError("binance: HTTP 503 Service Unavailable", status=503),
                StorageError("/x/cryptoterm.db: cannot open the database"),
                TradingError("no such order", ErrorKind.NOT_FOUND)):
        def boom(*_args, err=err, **_kw):
            raise err
        monkeypatch.setattr(keys_command, name, boom)
        code, lines = _cli(capsys, "--data-dir", str(tmp_path), "keys", "list")
        assert (code, lines) == (2, [f"cryptoterm: error: {err.message}"])


def _keys_list_func() -> str:
    """The name of the function `cryptoterm keys list` runs, read from the parser itself."""
    from app.cli import build_parser

    func = build_parser().parse_args(["keys", "list"]).func
    return func.__name__


def test_an_unexpected_exception_is_one_line_and_logged(tmp_path, capsys, monkeypatch):
    from app.commands import keys as keys_command

    def boom(*_args, **_kw):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(keys_command, _keys_list_func(), boom)
    code, lines = _cli(capsys, "--data-dir", str(tmp_path), "keys", "list")
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("cryptoterm: error: unexpected ZeroDivisionError: division by zero")
    log = next(tmp_path.rglob("*.log")).read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log


async def test_the_ui_toasts_an_error_with_its_title_and_plain_message():
    from textual.app import App

    from app.config import ConfigError
    from app.trading.errors import ErrorKind, TradingError
    from app.ui.error_toast import error_toast

    class Recording(App[None]):
        """Keeps what notify() was given (Textual's own list is private)."""

        def __init__(self) -> None:
            super().__init__()
            self.toasts: list[tuple[str, str, str, bool]] = []

        def notify(self, message, *, title="", severity="information", timeout=None,
                   markup=True) -> None:
            self.toasts.append((title, message, severity, markup))
            super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    app = Recording()
    async with app.run_test(notifications=True) as pilot:
        # "[app]" would be markup (and vanish) if the message were read as such
        error_toast(app, ConfigError("/x/config.toml: [app] fps: must be a number"))
        error_toast(app, TradingError("no such order", ErrorKind.NOT_FOUND), title="Cancel failed")
        error_toast(app, TradingError("the venue refused the API key", ErrorKind.AUTH))
        await pilot.pause()
        toasts = app.toasts
    assert toasts == [
        ("Config", "/x/config.toml: [app] fps: must be a number", "error", False),
        ("Cancel failed", "no such order", "error", False),
        ("API key refused", "the venue refused the API key", "error", False),
    ]
