"""`cryptoterm replay FILE --emit events|books|stats`: a capture through the live code."""

from __future__ import annotations

import argparse
import sys

import orjson

from app.commands.base import CommandError
from app.config import AppConfig


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="replay a raw capture through the codecs and book sync")
    p.add_argument("file", metavar="FILE", help="a capture written by `cryptoterm record --raw`")
    p.add_argument("--emit", choices=("events", "books", "stats"), default="stats",
                   help="normalized events as they happen, the final top-20 books, or counts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.feeds.replay import replay_file

    out = sys.stdout.buffer
    on_event = None
    if args.emit == "events":
        def on_event(ev) -> None:
            out.write(orjson.dumps(ev.to_json()) + b"\n")
    try:
        rep = replay_file(args.file, on_event)
    except OSError as exc:
        raise CommandError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
    if args.emit == "books":
        for book in rep.books():
            out.write(orjson.dumps(book.to_json()) + b"\n")
    elif args.emit == "stats":
        out.write(orjson.dumps(rep.stats.as_dict()) + b"\n")
    out.flush()
    return 0
