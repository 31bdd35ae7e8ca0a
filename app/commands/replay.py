"""`cryptoterm replay FILE --emit events|books|stats`: a capture through the live code."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import orjson

from app.commands.base import CommandError
from app.commands.storage_opts import add_db_option, open_db
from app.config import AppConfig

FORMATS = ("cryptoterm", "cryptofeed")


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="replay a raw capture through the codecs and book sync")
    p.add_argument("file", metavar="FILE",
                   help="a capture written by `cryptoterm record --raw` (or, with --from "
                        "cryptofeed, a cryptofeed raw data file or directory)")
    p.add_argument("--emit", choices=("events", "books", "stats"), default="stats",
                   help="normalized events as they happen, the final top-20 books, or counts")
    p.add_argument("--from", dest="source", choices=FORMATS, default="cryptoterm",
                   help="the capture's format: cryptoterm's own (default) or cryptofeed's raw "
                        "data recording (AsyncFileCallback); a file imports every file of its "
                        "exchange in the same directory")
    p.add_argument("--max-line-mb", type=float, metavar="N",
                   help="skip lines longer than N MiB as malformed (default 64)")
    p.add_argument("--record", action="store_true",
                   help="import the capture into the history store (trades also become 1m klines)")
    add_db_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: AppConfig) -> int:
    from app.feeds.replay import MAX_LINE_BYTES, Replayer, replay_file

    max_line = MAX_LINE_BYTES
    if args.max_line_mb is not None:
        if not (math.isfinite(args.max_line_mb) and 0 < args.max_line_mb <= 4096):
            raise CommandError(f"--max-line-mb {args.max_line_mb:g}: must be above 0 and at most 4096")
        max_line = max(1, int(args.max_line_mb * 1024 * 1024))
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
    importer = None
    try:
        if args.source == "cryptofeed":
            from app.feeds.cryptofeed_import import CryptofeedImport

            importer = CryptofeedImport.open(args.file, max_line=max_line)
            for note in importer.plan_notes():
                print(f"cryptoterm: {note}", file=sys.stderr)
            importer.replay(rep, on_event)
        else:
            if Path(args.file).is_dir():
                raise CommandError(f"{args.file}: is a directory; a cryptofeed raw data "
                                   "directory replays with --from cryptofeed")
            replay_file(args.file, on_event, replayer=rep, max_line=max_line)
    finally:  # a CaptureReadError or CryptofeedError is printed by the CLI as it is
        if sink is not None:
            sink.__exit__(None, None, None)
    if args.emit == "books":
        for book in rep.books():
            out.write(orjson.dumps(book.to_json()) + b"\n")
    elif args.emit == "stats":
        stats: dict = rep.stats.as_dict()
        if importer is not None:
            stats["import"] = importer.stats.as_dict()
        if sink is not None:
            r = sink.result
            stats["recorded"] = {"trades": r.trades, "klines": r.klines, "funding": r.funding,
                                 "rejected": r.rejected}
        out.write(orjson.dumps(stats) + b"\n")
    out.flush()
    notes = rep.notes + (importer.notes if importer is not None else [])
    for note in notes:
        print(f"cryptoterm: {note}", file=sys.stderr)
    if not rep.usable():
        raise CommandError(_nothing_usable(args, rep.stats))
    return 0


def _nothing_usable(args: argparse.Namespace, stats) -> str:
    counts = f"{stats.malformed:,} malformed, {stats.unknown:,} unknown"
    if args.source == "cryptofeed":
        return (f"{args.file}: no usable line among {stats.lines:,} ({counts}); "
                "is it a cryptofeed raw data capture of a venue cryptoterm speaks?")
    return (f"{args.file}: no usable line among {stats.lines:,} ({counts}); is it a capture "
            "written by `cryptoterm record --raw`? (cryptofeed's raw data: --from cryptofeed)")
