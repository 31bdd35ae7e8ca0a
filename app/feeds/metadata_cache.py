"""The on-disk cache of each venue's instrument list (exchangeInfo and kin).

A cached list is only as good as the endpoint it came from: the demo's simulators list
other coins with other ticks than the real venue, and a proxy or testnet may differ too.
So a file is keyed by venue, market and the exact URL it was fetched from, and a session
only ever reads the file of the endpoint it talks to."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_AGE = 24 * 3600.0  # instrument metadata is refreshed daily


def cache_path(data_dir: Path, venue: str, market: str, rest_url: str, path: str) -> Path:
    """``metadata/binance-spot-api.binance.com-1a2b3c4d.json``: the host is in the name for
    a human reading the folder, the hash of the full URL makes it exact."""
    url = rest_url.rstrip("/") + path
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", urlsplit(rest_url).netloc or "local")
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return data_dir / "metadata" / f"{venue}-{market}-{host}-{digest}.json"


def legacy_path(data_dir: Path, venue: str, market: str) -> Path:
    """Where versions up to 0.x cached the list with no endpoint in the key (possibly the
    simulator's): never read, removed when seen."""
    return data_dir / "metadata" / f"{venue}-{market}.json"


def read(path: Path, max_age: float = MAX_AGE) -> str | None:
    """The cached text when younger than ``max_age`` seconds, else None."""
    try:
        if time.time() - path.stat().st_mtime <= max_age:
            return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    return None


def write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a file
    except OSError as exc:
        log.warning("cannot cache market list at %s: %s", path, exc)


def remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc)
