"""A throwaway PostgreSQL server on 127.0.0.1 for tests, in a temporary directory.

Uses the machine's ``initdb`` and ``pg_ctl``; PostgreSQL refuses to run as root, so under
root the cluster belongs to the unprivileged ``nobody`` user (via ``runuser``). When any
of that is missing, ``start()`` raises ``Unavailable`` with the reason and the tests
skip saying it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(Exception):
    pass


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.root: Path | None = None
        self.port = 0
        self._as: list[str] = []
        self._pg_ctl = ""

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *argv], capture_output=True, text=True, timeout=timeout)

    def start(self) -> PostgresServer:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        if not initdb or not pg_ctl:
            raise Unavailable("PostgreSQL's initdb/pg_ctl are not installed")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise Unavailable("psycopg is not installed (pip install 'cryptoterm[postgres]')") from None
        self._pg_ctl = pg_ctl
        self.root = Path(tempfile.mkdtemp(prefix="cryptoterm-pg-"))
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise Unavailable("running as root and runuser is missing (PostgreSQL refuses root)")
            import pwd

            try:
                nobody = pwd.getpwnam("nobody")
            except KeyError:
                raise Unavailable("running as root and there is no 'nobody' user") from None
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = [runuser, "-u", "nobody", "--"]
        data = self.root / "data"
        done = self._run(initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                         "--no-sync", "--locale=C")
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {done.stderr.strip()[:300]}")
        self.port = _free_port()
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        done = self._run(pg_ctl, "-D", str(data), "-o", options, "-l", str(self.root / "log"),
                         "-w", "-t", "30", "start")
        if done.returncode != 0:
            log = (self.root / "log").read_text(errors="replace")[-300:] if (self.root / "log").exists() else ""
            raise Unavailable(f"pg_ctl start failed: {done.stderr.strip()[:200]} {log}")
        return self

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        if self.root is None:
            return
        if self.port:
            self._run(self._pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


_SERVER: PostgresServer | None = None
_FAILED: str | None = None


def shared_server() -> PostgresServer:
    """One server per test process, started on first use and stopped at exit;
    raises Unavailable (every time) when it cannot start."""
    global _SERVER, _FAILED
    if _FAILED is not None:
        raise Unavailable(_FAILED)
    if _SERVER is None:
        import atexit

        server = PostgresServer()
        try:
            server.start()
        except (Unavailable, OSError, subprocess.SubprocessError) as exc:
            server.stop()
            _FAILED = str(exc) or exc.__class__.__name__
            raise Unavailable(_FAILED) from None
        atexit.register(server.stop)
        _SERVER = server
    return _SERVER


def fresh_database_url() -> str:
    """A new empty database on the shared server, or pytest.skip with the reason."""
    import uuid

    import pytest

    try:
        server = shared_server()
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")
