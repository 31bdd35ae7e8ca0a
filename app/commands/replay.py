"""`cryptoterm replay FILE --emit events|books|stats`: a capture through the live code."""

from __future__ import annotations

import argparse
import sys

import orjson

from app.commands.base import CommandError
from app.commands.storage_opts import add_db_option, open_db
from app.config import AppConfig


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="replay a raw capture through the codecs and book sync")
    p.add_argument("file", metavar="FILE", help="a capture written by `cryptoterm record --raw`")
    p.add_argument("--emit", choices=("events", "books", "stats"), default="stats",
                   help="normalized events as they happen, the final top-20 books, or counts")
    p.add_argument("--record", action="store_true",
                   help="import the capture into the history store (trades also become 1m klines)")
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.feeds.replay import Replayer, replay_file

    out = sys.stdout.buffer
    listeners = []
    if args.emit == "events":
        listeners.append(lambda ev: out.write(orjson.dumps(ev.to_json()) + b"\n"))
    sink = None
    if args.record:
        from storage.recorder import Recorder

        recorder = Recorder(open_db(args, cfg))
        sink = recorder.sink()
        # book changes go to --emit events only; the store samples what it needs
        listeners.append(lambda ev: sink(ev) if type(ev).__name__ != "BookTop" else None)
    def fan_out(ev) -> None:
        for listener in listeners:
            listener(ev)

    on_event = fan_out if listeners else None
    rep = Replayer(on_event=on_event, emit_books=args.emit == "events")
    if sink is not None:
        # the replay's own instrument list names what the store records
        recorder.keys.resolver = lambda iid: (st.instrument if (st := rep.hub.state(iid)) else None)
    try:
        replay_file(args.file, on_event, replayer=rep)
    except OSError as exc:
        raise CommandError(f"{args.file}: cannot read: {exc.strerror or exc}") from None
    finally:
        if sink is not None:
            sink.__exit__(None, None, None)
    if args.emit == "books":
        for book in rep.books():
            out.write(orjson.dumps(book.to_json()) + b"\n")
    elif args.emit == "stats":
        stats = rep.stats.as_dict()
        if sink is not None:
            r = sink.result
            stats["recorded"] = {"trades": r.trades, "klines": r.klines, "funding": r.funding,
                                 "rejected": r.rejected}
        out.write(orjson.dumps(stats) + b"\n")
    out.flush()
    return 0
