"""The connection cache: opened lazily, reused, checked before reuse, cancellable.

One idle list per (cluster, connect string), as PL/Proxy keys its connections (connections
are not shared across clusters; user mappings are part of the connect string). A call checks
a connection out for the time of its query, so several threads calling on one session never
share a connection. Before reuse a connection is dropped if it is broken, older than
``connection_lifetime``, or if its socket turned readable (the server closed it): the next
call reconnects transparently.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import psycopg

from plproxy_magic.conninfo import dbname_of, mask
from plproxy_magic.errors import ConnectError

__all__ = ["ConnectionPool", "PooledConnection"]


@dataclass(eq=False)
class PooledConnection:
    """A psycopg connection with the facts the pool needs."""

    conn: psycopg.Connection[tuple[object, ...]]
    #: (cluster, connect string): not in the repr, a connect string may hold a password
    key: tuple[str, str] = field(repr=False)
    opened: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    #: user types whose loaders are registered on this connection (OIDs are per database)
    registered: set[str] = field(default_factory=set)

    def register_types(self, names: tuple[str, ...]) -> None:
        """Teach this connection the partition's own types, once each.

        Arrays of enums or domains then load as lists, user ranges as ``Range``, composite
        values as named tuples, exactly like the built-in types.
        """
        from psycopg.types import TypeInfo
        from psycopg.types.composite import CompositeInfo, register_composite
        from psycopg.types.range import RangeInfo, register_range

        for name in names:
            if name in self.registered:
                continue
            self.registered.add(name)
            kind = self.conn.execute(
                "SELECT typtype FROM pg_catalog.pg_type WHERE oid = pg_catalog.to_regtype(%s)",
                [name],
            ).fetchone()
            if kind is None:
                continue
            if kind[0] == "r":
                rinfo = RangeInfo.fetch(self.conn, name)
                if rinfo is not None:
                    register_range(rinfo, self.conn)
            elif kind[0] == "c":
                cinfo = CompositeInfo.fetch(self.conn, name)
                if cinfo is not None:
                    register_composite(cinfo, self.conn)
            else:
                info = TypeInfo.fetch(self.conn, name)
                if info is not None:
                    info.register(self.conn)

    @property
    def dbname(self) -> str:
        return self.conn.info.dbname or dbname_of(self.key[1])

    def healthy(self, lifetime: float) -> bool:
        conn = self.conn
        if conn.closed or conn.broken or conn.info.transaction_status != 0:
            return False
        now = time.monotonic()
        if lifetime > 0 and now - self.opened >= lifetime:
            return False
        # An idle connection has nothing to read unless the server closed it (or is about
        # to: a terminated backend sends its FATAL first). PL/Proxy polls only after two
        # idle seconds to save a syscall; we always do, so a dead connection is replaced
        # transparently instead of failing the next call.
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        return not readable


class ConnectionPool:
    """Connections by (cluster, connect string); thread-safe checkout and checkin."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, str], list[PooledConnection]] = {}
        self._busy: set[PooledConnection] = set()
        self._lock = threading.Lock()

    def _open(self, key: tuple[str, str]) -> PooledConnection:
        connstr = key[1]
        failure: ConnectError | None = None
        try:
            conn = psycopg.connect(connstr, autocommit=True)
        except psycopg.OperationalError as exc:
            # psycopg says "connection failed: ..."; libpq (and PL/Proxy) do not.
            text = str(exc).removeprefix("connection failed: ")
            failure = ConnectError(dbname_of(connstr), "PQconnectPoll", mask(text))
        except psycopg.ProgrammingError as exc:  # malformed connect string
            failure = ConnectError("(null)", "PQconnectStart", mask(str(exc)))
        if failure is not None:
            # Raised outside the except block: psycopg's error (whose connection info holds
            # the password) must not ride along as __context__.
            raise failure
        if conn.info.encoding != "utf-8":
            # PL/Proxy syncs client_encoding to the proxy database's encoding; the kernel's
            # is UTF-8 (it is what hashtext() hashes), so every partition talks UTF-8.
            try:
                conn.execute("SET client_encoding TO 'UTF8'")
            except psycopg.Error as exc:
                conn.close()
                raise ConnectError(
                    dbname_of(connstr),
                    "set client_encoding = 'UTF8'; -- does not seem to apply",
                    str(exc),
                ) from None
        return PooledConnection(conn, key)

    def checkout(self, cluster: str, connstr: str, lifetime: float = 0) -> PooledConnection:
        """A healthy connection for ``connstr``, reused when one is idle."""
        key = (cluster, connstr)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                pc = idle.pop() if idle else None
            if pc is None:
                pc = self._open(key)
                break
            if pc.healthy(lifetime):
                break
            with suppress(Exception):
                pc.conn.close()
        with self._lock:
            self._busy.add(pc)
        return pc

    def checkin(self, pc: PooledConnection) -> None:
        """Return ``pc``; a connection left mid-transaction or broken is closed instead."""
        with self._lock:
            self._busy.discard(pc)
        conn = pc.conn
        if conn.closed or conn.broken or conn.info.transaction_status != 0:
            with suppress(Exception):
                conn.close()
            return
        pc.last_used = time.monotonic()
        with self._lock:
            self._idle.setdefault(pc.key, []).append(pc)

    @contextmanager
    def connection(
        self, cluster: str, connstr: str, lifetime: float = 0
    ) -> Iterator[PooledConnection]:
        pc = self.checkout(cluster, connstr, lifetime)
        try:
            yield pc
        finally:
            self.checkin(pc)

    def cancel_busy(self) -> int:
        """Cancel the running query of every checked-out connection; returns how many."""
        with self._lock:
            busy = list(self._busy)
        for pc in busy:
            with suppress(Exception):
                pc.conn.cancel_safe(timeout=2.0)
        return len(busy)

    def drop(self, cluster: str | None = None) -> None:
        """Close idle connections (of one cluster, or all)."""
        with self._lock:
            keys = [k for k in self._idle if cluster is None or k[0] == cluster]
            doomed = [pc for k in keys for pc in self._idle.pop(k)]
        for pc in doomed:
            with suppress(Exception):
                pc.conn.close()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"idle": sum(len(v) for v in self._idle.values()), "busy": len(self._busy)}

    def __repr__(self) -> str:
        s = self.stats()
        return f"<ConnectionPool idle={s['idle']} busy={s['busy']}>"


def describe(connstr: str) -> str:
    """A connect string fit for display."""
    return mask(connstr)
