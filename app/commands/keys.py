"""`cryptoterm keys set|list|delete VENUE --env testnet|demo|live`: API keys in the OS keyring.

Secrets are read with hidden prompts (never from the command line, where shell history
and `ps` would keep them). `list` says which venue/environment pairs have keys and where
they come from, never any part of a key; VENUE and --env narrow it down, so the README's
one form works for all three actions. Without a usable keyring `list` says so rather than
"no keys stored", and names the environment variables that work instead.
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
    q.add_argument("venue", metavar="VENUE", nargs="?", help="only this venue's keys")
    q.add_argument("--env", metavar="ENV", help=f"only this environment's keys ({', '.join(ENVS)})")
    q.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig, *, prompt=None, out=None) -> int:
    from app.accounts import COINBASE_NO_SANDBOX
    from app.trading.keys import (NO_BACKEND, PASSPHRASE_VENUES, KeyringUnavailable, KeyStore,
                                  check_names, env_var_names, keyring_usable)

    prompt = prompt or getpass.getpass  # looked up now: tests replace it
    out = out or sys.stdout
    store = KeyStore()
    try:
        if args.keys_command == "list":
            return list_keys(store, getattr(args, "venue", None), getattr(args, "env", None), out)
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
    except (EOFError, KeyboardInterrupt):
        raise CommandError("cancelled: no keys were changed") from None


def list_keys(store, venue: str | None, env: str | None, out) -> int:
    """``keys list [VENUE] [--env ENV]``: the pairs with keys and where each comes from."""
    from app.trading.keys import ENVS, VENUES, check_names, env_var_names, keyring_problem

    if venue is not None:
        venue = check_names(venue, env or ENVS[0])[0]
    if env is not None:
        env = check_names(venue or VENUES[0], env)[1]
    pairs = store.list(venue, env)
    problem = keyring_problem()
    for v, e, where in pairs:
        print(f"{v:12} {e:8} {where}", file=out)
    if problem is not None:
        if venue is not None and env is not None:
            names = " and ".join(env_var_names(venue, env)) + " environment variables"
        else:
            names = ("CRYPTOTERM_<VENUE>_<ENV>_KEY environment variables (with _SECRET, and "
                     "_PASSPHRASE for okx)")
        print(f"no keyring backend available ({problem}); use the {names}", file=out)
    elif not pairs:
        which = " ".join(x for x in (venue, env) if x)
        print(f"no keys stored{' for ' + which if which else ''} (add some with: cryptoterm keys "
              f"set {venue or 'VENUE'} --env {env or 'testnet'})", file=out)
    return 0
