"""API keys in the OS keyring (service ``cryptoterm``), with an environment fallback.

Each venue/environment pair stores up to three entries, ``<venue>:<env>:key``,
``:secret`` and ``:passphrase`` (OKX), plus a non-secret ``_index`` entry listing which
pairs have keys: keyring backends cannot enumerate, and ``keys list`` must not need to
read a secret to say which exist.

Where no keyring backend works (a headless box without a Secret Service), reading falls
back to ``CRYPTOTERM_<VENUE>_<ENV>_KEY`` / ``_SECRET`` / ``_PASSPHRASE``: those are read,
never written anywhere. Every value loaded is registered with ``redact`` so it cannot
reach a log line.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import keyring
import keyring.errors
from keyring.backends import fail

from app.errors import CryptotermError
from app.trading.redact import SafeText, register_secret
from app.venues import registry

SERVICE = "cryptoterm"
INDEX = "_index"
VENUES = tuple(registry.HOSTS)  # keyring venues: the ccxt ids, "binanceusdm" included
ENVS = ("testnet", "demo", "live")
PASSPHRASE_VENUES = tuple(key for key, hosts in registry.HOSTS.items() if hosts.passphrase)

NO_BACKEND = (
    "no usable OS keyring: start a Secret Service (e.g. gnome-keyring or KeePassXC) or install "
    "`keyrings.alt` (pip install keyrings.alt) or set PYTHON_KEYRING_BACKEND to a backend "
    "class; meanwhile keys can come from the environment: {names} (read only, never stored)")


class KeyringUnavailable(CryptotermError):
    """No keyring backend can store or read secrets here; the message names the fixes."""

    default_title = "No keyring"


class KeyInputError(CryptotermError, ValueError):
    """Bad input for the key store: an unknown venue or environment, a key without its
    secret or passphrase (the message is fit for the CLI). Still a ValueError: it is one."""

    default_title = "API keys"


@dataclass(frozen=True, slots=True)
class Credentials:
    venue: str
    env: str
    api_key: SafeText
    secret: SafeText
    passphrase: SafeText | None = None
    source: Literal["keyring", "environment"] = "keyring"

    def __repr__(self) -> str:  # never the values, whatever prints this
        return f"Credentials({self.venue}/{self.env} from {self.source})"

    __str__ = __repr__


def check_names(venue: str, env: str) -> tuple[str, str]:
    venue, env = venue.lower().strip(), env.lower().strip()
    if venue not in VENUES:
        raise KeyInputError(f"unknown venue {venue!r} (use one of {', '.join(VENUES)})")
    if env not in ENVS:
        raise KeyInputError(f"unknown environment {env!r} (use one of {', '.join(ENVS)})")
    return venue, env


def env_var_names(venue: str, env: str) -> list[str]:
    prefix = f"CRYPTOTERM_{venue.upper()}_{env.upper()}"
    names = [f"{prefix}_KEY", f"{prefix}_SECRET"]
    if venue in PASSPHRASE_VENUES:
        names.append(f"{prefix}_PASSPHRASE")
    return names


def keyring_usable() -> bool:
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    return not isinstance(backend, fail.Keyring)


def keyring_problem() -> str | None:
    """Why no keyring backend can hold keys here (one clause), or None when one can.

    A backend that exists but fails when read (a locked or absent Secret Service behind
    D-Bus) counts as none; only the error's class is named, never its text."""
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return f"the keyring library failed to start: {exc.__class__.__name__}"
    if isinstance(backend, fail.Keyring):
        return ("keyring found no backend: start a Secret Service such as gnome-keyring or "
                "KeePassXC, or pip install keyrings.alt")
    try:
        keyring.get_password(SERVICE, INDEX)
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        return f"{type(backend).__name__} cannot be read: {exc.__class__.__name__}"
    return None


class KeyStore:
    """Keys per (venue, environment). ``environ`` is injectable for tests."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    # -- keyring access, every failure turned into KeyringUnavailable -------------------

    def _unavailable(self, venue: str = "<venue>", env: str = "<env>") -> KeyringUnavailable:
        return KeyringUnavailable(NO_BACKEND.format(names=", ".join(env_var_names(venue, env))))

    def _get(self, name: str, venue: str = "<venue>", env: str = "<env>") -> str | None:
        if not keyring_usable():
            raise self._unavailable(venue, env)
        try:
            return keyring.get_password(SERVICE, name)
        except (keyring.errors.KeyringError, RuntimeError):
            # the message of a backend error can be anything; ours names the fixes
            raise self._unavailable(venue, env) from None

    def _set(self, name: str, value: str, venue: str, env: str) -> None:
        if not keyring_usable():
            raise self._unavailable(venue, env)
        try:
            keyring.set_password(SERVICE, name, value)
        except (keyring.errors.KeyringError, RuntimeError):
            raise self._unavailable(venue, env) from None

    def _delete(self, name: str) -> None:
        try:
            keyring.delete_password(SERVICE, name)
        except keyring.errors.PasswordDeleteError:
            pass  # nothing stored under that name
        except (keyring.errors.KeyringError, RuntimeError):
            raise self._unavailable() from None

    def _index(self) -> list[str]:
        raw = self._get(INDEX)
        try:
            entries = json.loads(raw) if raw else []
        except ValueError:
            entries = []
        return [e for e in entries if isinstance(e, str)]

    def _write_index(self, entries: list[str]) -> None:
        self._set(INDEX, json.dumps(sorted(set(entries))), "<venue>", "<env>")

    # -- the operations ------------------------------------------------------------------

    def set(self, venue: str, env: str, api_key: str, secret: str,
            passphrase: str | None = None) -> None:
        venue, env = check_names(venue, env)
        if not api_key.strip() or not secret.strip():
            raise KeyInputError("both the API key and the secret are needed")
        if venue in PASSPHRASE_VENUES and not (passphrase or "").strip():
            raise KeyInputError(f"{venue} keys also need the passphrase chosen when the key was made")
        register_secret(api_key, secret, passphrase)
        self._set(f"{venue}:{env}:key", api_key.strip(), venue, env)
        self._set(f"{venue}:{env}:secret", secret.strip(), venue, env)
        if passphrase:
            self._set(f"{venue}:{env}:passphrase", passphrase.strip(), venue, env)
        else:
            self._delete(f"{venue}:{env}:passphrase")
        self._write_index(self._index() + [f"{venue}:{env}"])

    def delete(self, venue: str, env: str) -> bool:
        """Remove a pair's keys; False when there were none."""
        venue, env = check_names(venue, env)
        entries = self._index()
        had = self._get(f"{venue}:{env}:key", venue, env) is not None
        for part in ("key", "secret", "passphrase"):
            self._delete(f"{venue}:{env}:{part}")
        if f"{venue}:{env}" in entries:
            entries.remove(f"{venue}:{env}")
            self._write_index(entries)
            had = True
        return had

    def list(self, venue: str | None = None, env: str | None = None) -> list[tuple[str, str, str]]:
        """(venue, env, where) for every pair that has keys: keyring first, then environment;
        only ``venue``'s and ``env``'s when given.

        A keyring that cannot be used is skipped here (environment keys still listed);
        ``keyring_problem`` says why, ``set`` and ``delete`` report it."""
        return [p for p in self._list() if venue in (None, p[0]) and env in (None, p[1])]

    def _list(self) -> builtins.list[tuple[str, str, str]]:  # `list` here is the method above
        out: list[tuple[str, str, str]] = []
        try:
            for entry in self._index():
                venue, _, env = entry.partition(":")
                if self._get(f"{venue}:{env}:key") is not None:
                    out.append((venue, env, "keyring"))
        except KeyringUnavailable:
            pass
        have = {(v, e) for v, e, _ in out}
        for venue in VENUES:
            for env in ENVS:
                key_var, secret_var = env_var_names(venue, env)[:2]
                if (venue, env) not in have and self.environ.get(key_var) \
                        and self.environ.get(secret_var):
                    out.append((venue, env, "environment"))
        return out

    def load(self, venue: str, env: str) -> Credentials | None:
        """The pair's keys, from the keyring or else the environment; None when neither has them.

        Raises KeyringUnavailable only when the keyring is unusable *and* the environment
        has nothing either, so the user learns both ways to fix it."""
        venue, env = check_names(venue, env)
        problem: KeyringUnavailable | None = None
        try:
            key = self._get(f"{venue}:{env}:key", venue, env)
            secret = self._get(f"{venue}:{env}:secret", venue, env)
            passphrase = self._get(f"{venue}:{env}:passphrase", venue, env)
            if key and secret:
                register_secret(key, secret, passphrase)
                return Credentials(venue, env, SafeText(key), SafeText(secret),
                                   SafeText(passphrase) if passphrase else None, "keyring")
        except KeyringUnavailable as exc:
            problem = exc
        names = env_var_names(venue, env)
        key, secret = self.environ.get(names[0]), self.environ.get(names[1])
        passphrase = self.environ.get(names[2]) if len(names) > 2 else None
        if key and secret:
            register_secret(key, secret, passphrase)
            return Credentials(venue, env, SafeText(key), SafeText(secret),
                               SafeText(passphrase) if passphrase else None, "environment")
        if problem is not None:
            raise problem
        return None
