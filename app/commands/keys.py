"""`cryptoterm keys set|list|delete VENUE --env testnet|demo|live`: API keys in the OS keyring.

Secrets are read with hidden prompts (never from the command line, where shell history
and `ps` would keep them). `list` says which venue/environment pairs have keys and where
they come from, never any part of a key.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from app.commands.base import CommandError
from app.config import AppConfig


def register(subparsers) -> None:
    p = subparsers.add_parser("keys", help="store, list or delete API keys (OS keyring)")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True,
                           parser_class=type(p))
    from app.trading.keys import ENVS, VENUES

    for name, text in (("set", "store keys for a venue/environment (hidden prompts)"),
                       ("delete", "remove the keys of a venue/environment")):
        q = sub.add_parser(name, help=text)
        q.add_argument("venue", metavar="VENUE", help=f"one of {', '.join(VENUES)}")
        q.add_argument("--env", required=True, metavar="ENV", help=f"one of {', '.join(ENVS)}")
        q.set_defaults(func=run)
    q = sub.add_parser("list", help="which venue/environment pairs have keys")
    q.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig, *, prompt=None, out=None) -> int:
    from app.trading.accounts import COINBASE_NO_SANDBOX
    from app.trading.keys import (NO_BACKEND, PASSPHRASE_VENUES, KeyInputError, KeyringUnavailable,
                                  KeyStore, check_names, env_var_names, keyring_usable)

    prompt = prompt or getpass.getpass  # looked up now: tests replace it
    out = out or sys.stdout
    store = KeyStore()
    try:
        if args.keys_command == "list":
            pairs = store.list()
            if not keyring_usable():
                print("cryptoterm: " + NO_BACKEND.format(
                    names="CRYPTOTERM_<VENUE>_<ENV>_KEY, _SECRET, _PASSPHRASE"), file=sys.stderr)
            if not pairs:
                print("no keys stored (add some with: cryptoterm keys set VENUE --env testnet)",
                      file=out)
            for venue, env, where in pairs:
                print(f"{venue:12} {env:8} {where}", file=out)
            return 0
        venue, env = check_names(args.venue, args.env)
        if env == "live" and not cfg.trading.allow_live:
            raise CommandError("live keys are only used with allow_live = true in [trading]; "
                               "set that first if you mean to trade real money")
        if args.keys_command == "delete":
            had = store.delete(venue, env)
            print(f"deleted keys for {venue} {env}" if had else f"no keys for {venue} {env}",
                  file=out)
            return 0
        if venue == "coinbase" and env != "live":
            raise CommandError(COINBASE_NO_SANDBOX)
        if not keyring_usable():  # say so before asking for secrets that could not be kept
            raise KeyringUnavailable(NO_BACKEND.format(names=", ".join(env_var_names(venue, env))))
        key = prompt(f"{venue} {env} API key: ")
        secret = prompt(f"{venue} {env} secret: ")
        passphrase = prompt(f"{venue} {env} passphrase: ") if venue in PASSPHRASE_VENUES else None
        store.set(venue, env, key, secret, passphrase)
        print(f"saved keys for {venue} {env} in the OS keyring", file=out)
        return 0
    except (KeyInputError, KeyringUnavailable) as exc:
        raise CommandError(str(exc)) from None
    except (EOFError, KeyboardInterrupt):
        raise CommandError("cancelled: no keys were changed") from None
