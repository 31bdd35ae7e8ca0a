"""Keys in the keyring (an in-memory backend here), the no-backend path with its
environment fallback, and the `cryptoterm keys` command."""

from __future__ import annotations

import io

import keyring
import pytest
from keyring.backends import fail

from app.cli import main
from app.trading.keys import SERVICE, KeyInputError, KeyringUnavailable, KeyStore


@pytest.fixture
def no_keyring():
    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(old)


def test_set_list_load_delete(memory_keyring):
    store = KeyStore(environ={})
    store.set("binance", "testnet", "k-123456", "s-abcdef")
    store.set("okx", "demo", "ok-key-1", "ok-secret-1", "ok-pass-1")
    assert memory_keyring.data[(SERVICE, "binance:testnet:secret")] == "s-abcdef"
    assert store.list() == [("binance", "testnet", "keyring"), ("okx", "demo", "keyring")]
    creds = store.load("okx", "demo")
    assert (creds.api_key, creds.secret, creds.passphrase) == ("ok-key-1", "ok-secret-1", "ok-pass-1")
    assert "ok-secret-1" not in repr(creds) and "ok-secret-1" not in str(creds)
    assert store.load("bybit", "testnet") is None
    assert store.delete("binance", "testnet") is True
    assert store.delete("binance", "testnet") is False
    assert store.list() == [("okx", "demo", "keyring")]
    assert not any(k[1].startswith("binance:") for k in memory_keyring.data)


def test_bad_names_and_missing_parts_are_refused(memory_keyring):
    store = KeyStore(environ={})
    with pytest.raises(KeyInputError, match="unknown venue 'kraken'"):
        store.set("kraken", "testnet", "k", "s")
    with pytest.raises(KeyInputError, match="unknown environment 'prod'"):
        store.set("binance", "prod", "k", "s")
    with pytest.raises(KeyInputError, match="okx keys also need the passphrase"):
        store.set("okx", "demo", "k", "s")
    assert memory_keyring.data == {}


def test_no_backend_names_the_fixes_and_falls_back_to_the_environment(no_keyring):
    store = KeyStore(environ={})
    with pytest.raises(KeyringUnavailable) as err:
        store.set("binance", "testnet", "k", "s")
    text = str(err.value)
    for fix in ("Secret Service", "keyrings.alt", "PYTHON_KEYRING_BACKEND",
                "CRYPTOTERM_BINANCE_TESTNET_KEY", "CRYPTOTERM_BINANCE_TESTNET_SECRET"):
        assert fix in text
    with pytest.raises(KeyringUnavailable):
        store.load("binance", "testnet")  # nothing in the environment either: say how to fix
    env = {"CRYPTOTERM_OKX_DEMO_KEY": "ek", "CRYPTOTERM_OKX_DEMO_SECRET": "es",
           "CRYPTOTERM_OKX_DEMO_PASSPHRASE": "ep"}
    store = KeyStore(environ=env)
    creds = store.load("okx", "demo")
    assert (creds.api_key, creds.secret, creds.passphrase, creds.source) == ("ek", "es", "ep",
                                                                            "environment")
    assert store.list() == [("okx", "demo", "environment")]


def test_environment_keys_are_never_written_to_the_keyring(memory_keyring):
    env = {"CRYPTOTERM_BYBIT_TESTNET_KEY": "ek", "CRYPTOTERM_BYBIT_TESTNET_SECRET": "es"}
    creds = KeyStore(environ=env).load("bybit", "testnet")
    assert creds.source == "environment"
    assert memory_keyring.data == {}


def test_cli_keys_set_list_delete(memory_keyring, monkeypatch, capsys):
    answers = iter(["cli-key-0001", "cli-secret-0001"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["keys", "set", "binance", "--env", "testnet"]) == 0
    assert memory_keyring.data[(SERVICE, "binance:testnet:key")] == "cli-key-0001"
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "binance" in out and "testnet" in out and "keyring" in out
    assert "cli-key-0001" not in out and "cli-secret-0001" not in out
    assert main(["keys", "delete", "binance", "--env", "testnet"]) == 0
    assert main(["keys", "set", "kraken", "--env", "testnet"]) == 2
    assert "unknown venue" in capsys.readouterr().err
    assert main(["keys", "set", "binance", "--env", "live"]) == 2  # live is off by default
    assert "allow_live" in capsys.readouterr().err


def test_cli_without_a_keyring_says_how_to_fix_it(no_keyring, capsys):
    assert main(["keys", "set", "okx", "--env", "demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keyrings.alt" in err and "CRYPTOTERM_OKX_DEMO_PASSPHRASE" in err


def test_keys_command_output_goes_where_asked(memory_keyring):
    import argparse

    from app.commands.keys import run
    from app.config import load_config
    out = io.StringIO()
    run(argparse.Namespace(keys_command="list"), load_config(), out=out)
    assert "no keys stored" in out.getvalue()


def test_cli_keys_list_takes_the_readmes_form(memory_keyring, capsys):
    """Issue #9.13: `keys list binance --env testnet` (as the README writes it) was
    "unrecognized arguments"; VENUE and --env now narrow the list down."""
    store = KeyStore(environ={})
    store.set("binance", "testnet", "k-123456", "s-abcdef")
    store.set("okx", "demo", "ok-key-1", "ok-secret-1", "ok-pass-1")
    assert main(["keys", "list", "binance", "--env", "testnet"]) == 0
    out = capsys.readouterr().out
    assert out.split() == ["binance", "testnet", "keyring"]
    assert main(["keys", "list", "okx"]) == 0
    assert capsys.readouterr().out.split() == ["okx", "demo", "keyring"]
    assert main(["keys", "list", "--env", "testnet"]) == 0
    assert capsys.readouterr().out.split() == ["binance", "testnet", "keyring"]
    assert main(["keys", "list", "bybit", "--env", "testnet"]) == 0
    assert capsys.readouterr().out.strip() == (
        "no keys stored for bybit testnet (add some with: cryptoterm keys set bybit --env testnet)")
    assert main(["keys", "list", "kraken"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown venue 'kraken'" in err


def test_cli_keys_list_without_a_keyring_says_so_not_no_keys(no_keyring, capsys, monkeypatch):
    """Issue #9.13: with no keyring at all, `keys list` said "no keys stored"."""
    for name in [n for n in __import__("os").environ if n.startswith("CRYPTOTERM_")]:
        monkeypatch.delenv(name)
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    assert "no keys stored" not in out
    line, = out.splitlines()
    assert line.startswith("no keyring backend available (keyring found no backend: ")
    assert "keyrings.alt" in line
    assert line.endswith("); use the CRYPTOTERM_<VENUE>_<ENV>_KEY environment variables "
                         "(with _SECRET, and _PASSPHRASE for okx)")
    # narrowed to one pair, the message names its variables; keys found there are listed
    monkeypatch.setenv("CRYPTOTERM_BINANCE_TESTNET_KEY", "ek")
    monkeypatch.setenv("CRYPTOTERM_BINANCE_TESTNET_SECRET", "es")
    assert main(["keys", "list", "binance", "--env", "testnet"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.split() == ["binance", "testnet", "environment"]
    assert second.endswith("use the CRYPTOTERM_BINANCE_TESTNET_KEY and "
                           "CRYPTOTERM_BINANCE_TESTNET_SECRET environment variables")
