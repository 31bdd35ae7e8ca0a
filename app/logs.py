"""Logging goes to a rotating file in the data dir, never to the terminal the TUI owns."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def setup_logging(log_path: Path, level: int = logging.INFO) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=5 * 1024 * 1024,
                                                   backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # websockets logs every keepalive at DEBUG; keep the file readable
    logging.getLogger("websockets").setLevel(logging.WARNING)
