"""Parallel fan-out of remote queries over threads, with deadlines and cancellation.

One :class:`Task` per tagged connection. A single task runs in the calling thread (no thread
hop on the hot path of a routed call); several run on the session's thread pool, each on its
own connection. The caller waits with a ``monotonic()`` deadline: when ``query_timeout``
passes, or on ``KeyboardInterrupt``, every outstanding remote query is cancelled and the
connections are drained so they stay usable.

Errors keep PL/Proxy's shapes: a remote error becomes ``[db] REMOTE ERROR: msg`` with the
remote SQLSTATE; one failed partition raises its error, several raise a
:class:`~plproxy_magic.errors.FanOutError` naming each, after every partition has finished
(so a write fan-out tells exactly which partitions committed).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import psycopg

from plproxy_magic import chunked
from plproxy_magic.columns import Chunks
from plproxy_magic.connections import ConnectionPool, PooledConnection
from plproxy_magic.conninfo import dbname_of
from plproxy_magic.errors import (
    ConnectError,
    FanOutError,
    PlProxyError,
    QueryTimeoutError,
    RemoteError,
)
from plproxy_magic.replicas import ReplicaBook

if TYPE_CHECKING:
    from plproxy_magic.atomic import AtomicLog

__all__ = ["Executor", "PartResult", "Task"]


@dataclass(frozen=True)
class Task:
    """The statements one connection runs: ``(sql, params)`` pairs, in order."""

    partition: int
    #: not in the repr: a connect string may hold a password
    connstr: str = field(repr=False)
    statements: Sequence[tuple[str, Sequence[Any] | None]]
    #: send every statement in one pipeline (one round trip) and keep each one's rows
    pipeline: bool = False
    #: user types (``schema.name``) whose values must load as lists / ranges / rows
    types: tuple[str, ...] = ()
    #: other servers for the same read (replicas, then the primary), tried in order when
    #: ``connstr`` fails before returning anything
    fallbacks: tuple[str, ...] = field(default=(), repr=False)
    #: run the statements in one transaction (a partition applies all of them or none)
    transaction: bool = False


@dataclass
class PartResult:
    """What one partition returned (the last statement with a result set wins).

    A small result set is kept as row tuples; a large one fetched in a fan-out comes as
    :attr:`chunks`, its columns built while it arrived (:meth:`rows` then rebuilds the rows
    when asked, which costs what the columns saved).
    """

    partition: int
    dbname: str = ""
    columns: list[str] | None = None
    type_oids: list[int] | None = None
    status: str = ""
    rowcount: int = -1
    #: with ``Task.pipeline``: the rows of each statement, in order
    batches: list[list[tuple[Any, ...]]] = field(default_factory=list)
    #: a result set of more than one chunk (:data:`CHUNK_ROWS`), as columns
    chunks: Chunks | None = None
    _rows: list[tuple[Any, ...]] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """The result set's rows, as tuples."""
        return self._rows if self.chunks is None else self.chunks.rows()

    @rows.setter
    def rows(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows, self.chunks = rows, None

    @property
    def nrows(self) -> int:
        """How many rows the result set has (without building them)."""
        return len(self._rows) if self.chunks is None else len(self.chunks)


Event = Callable[[int, str, int], None]

#: rows per chunk when a fan-out fetches a result set (:mod:`plproxy_magic.chunked`): the
#: rows of one chunk are alive at a time, not those of the whole result. Small chunks are
#: also faster (each converts while still in the CPU cache): 400,000 rows of (int, int,
#: text) over 4 partitions took ~170 ms in chunks of 2,000, ~260 ms of 20,000, ~280 ms whole
CHUNK_ROWS = 2_000


def remote_error(exc: psycopg.Error, dbname: str, partition: int) -> PlProxyError:
    """Translate a psycopg error into PL/Proxy's message shape."""
    diag = exc.diag
    if diag.sqlstate and diag.message_primary:
        return RemoteError(
            dbname,
            diag.message_primary,
            severity=diag.severity_nonlocalized or diag.severity or "ERROR",
            detail=diag.message_detail,
            hint=diag.message_hint,
            context=diag.context,
            sqlstate=diag.sqlstate,
            partition=partition,
        )
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, psycopg.OperationalError):
        return ConnectError(dbname, "PQconsumeInput", text, partition=partition)
    return PlProxyError(f"[{dbname}] {text}", partition=partition)


#: seconds the other partitions of a fan-out get to finish after one failed
FAIL_GRACE = 0.25


def collect(
    tasks: Sequence[Task], futures: Sequence[cf.Future[PartResult]], cancelled: bool
) -> list[PartResult]:
    """The results in task order, or the failure: one partition's error, else a FanOutError.

    When some partitions failed, the error says which others completed (their statements
    committed) and which were cancelled (theirs rolled back): ``.completed`` and
    ``.cancelled`` hold the partition numbers, and a note says it in words.
    """
    results: list[PartResult] = []
    errors: list[PlProxyError] = []
    stopped: list[int] = []
    for t, f in zip(tasks, futures, strict=True):
        if f.cancelled():
            stopped.append(t.partition)
            continue
        exc = f.exception()
        if exc is None:
            results.append(f.result())
        elif cancelled and isinstance(exc, RemoteError) and exc.sqlstate == "57014":
            stopped.append(t.partition)
        elif isinstance(exc, PlProxyError):
            exc.partition = t.partition
            errors.append(exc)
        else:
            raise exc
    if not errors:
        if stopped:  # cancelled without a failure of their own: nothing to report but that
            raise QueryTimeoutError("query cancelled")
        return results
    error = errors[0] if len(errors) == 1 else FanOutError(errors, len(tasks))
    if len(tasks) > 1:
        error.completed = [r.partition for r in results]
        error.cancelled = stopped
        error.add_note(outcome_note(error.completed, stopped))
    raise error


def outcome_note(completed: Sequence[int], cancelled: Sequence[int]) -> str:
    """``completed on partitions 0, 1 (committed); cancelled on 3 (rolled back)``."""
    parts = []
    if completed:
        parts.append(f"completed on {partition_list(completed)} (committed)")
    if cancelled:
        parts.append(f"cancelled on {partition_list(cancelled)} (rolled back)")
    return "; ".join(parts) or "no other partition completed"


def partition_list(partitions: Sequence[int]) -> str:
    """``partition 2`` / ``partitions 0, 1, 3``."""
    word = "partition" if len(partitions) == 1 else "partitions"
    return f"{word} {', '.join(str(p) for p in partitions)}"


class _Unreachable(Exception):
    """A server failed at the connection level during a read that may go elsewhere."""

    def __init__(self, error: PlProxyError) -> None:
        super().__init__(str(error))
        self.error = error


class Executor:
    """Runs tasks for a session: its connection pool and a bounded thread pool."""

    def __init__(self, pool: ConnectionPool, max_workers: int = 32) -> None:
        self.pool = pool
        self.max_workers = max_workers
        #: ``progress(parts) -> display | None``: live progress for fan-outs (notebooks)
        self.progress: Callable[[list[tuple[int, str]]], Any] | None = None
        #: load and health of replicas, for reads with fallbacks
        self.replicas = ReplicaBook()
        self.ban_time = 60.0
        #: a fan-out fetches result sets this many rows at a time (0: all at once)
        self.chunk_rows = CHUNK_ROWS
        self._threads: cf.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> cf.ThreadPoolExecutor:
        with self._lock:
            if self._threads is None:
                self._threads = cf.ThreadPoolExecutor(
                    self.max_workers, thread_name_prefix="plproxy"
                )
            return self._threads

    def close(self) -> None:
        with self._lock:
            if self._threads is not None:
                self._threads.shutdown(wait=False, cancel_futures=True)
                self._threads = None
        self.pool.drop()

    def _run_one(
        self,
        cluster: str,
        task: Task,
        lifetime: float,
        active: dict[int, PooledConnection] | None,
        on_event: Event | None,
        chunk_rows: int = 0,
    ) -> PartResult:
        candidates = (task.connstr, *task.fallbacks)
        for i, connstr in enumerate(candidates):
            last = i == len(candidates) - 1
            book = self.replicas if task.fallbacks else None
            try:
                if book is not None:
                    book.begin(connstr)
                try:
                    return self._run_on(
                        cluster, task, connstr, lifetime, active, on_event, chunk_rows
                    )
                finally:
                    if book is not None:
                        book.end(connstr)
            except (ConnectError, _Unreachable) as exc:
                if last or book is None:
                    if isinstance(exc, _Unreachable):
                        raise exc.error from None
                    raise
                if isinstance(exc, _Unreachable) and exc.error.sqlstate == "25006":
                    # The replica refused a write (the read-only verdict was stale): the
                    # statement did nothing there, so the primary runs it. No ban.
                    return self._run_on(
                        cluster, task, candidates[-1], lifetime, active, on_event, chunk_rows
                    )
                # a read that failed on a replica before any row: ban it, try the next
                book.ban(connstr, self.ban_time, str(exc))
        raise AssertionError("unreachable")

    def _run_on(
        self,
        cluster: str,
        task: Task,
        connstr: str,
        lifetime: float,
        active: dict[int, PooledConnection] | None,
        on_event: Event | None,
        chunk_rows: int = 0,
    ) -> PartResult:
        result = PartResult(task.partition)
        try:
            pc = self.pool.checkout(cluster, connstr, lifetime)
        except PlProxyError as exc:
            exc.partition = task.partition
            raise
        result.dbname = pc.dbname
        if active is not None:
            active[task.partition] = pc
        try:
            if on_event:
                on_event(task.partition, "running", 0)
            if task.types:
                pc.register_types(task.types)
            # RawCursor: PostgreSQL's own $n placeholders, as PL/Proxy sends them.
            if task.pipeline:
                self._run_pipeline(pc.conn, task, result)
            else:
                self._run_statements(pc.conn, task, result, chunk_rows)
            if on_event:
                on_event(task.partition, "done", result.nrows)
            return result
        except psycopg.Error as exc:
            if on_event:
                on_event(task.partition, "failed", 0)
            error = remote_error(exc, result.dbname, task.partition)
            refused = error.sqlstate == "25006"  # read_only_sql_transaction on a replica
            connection_lost = pc.conn.broken or isinstance(exc, psycopg.OperationalError)
            if task.fallbacks and (connection_lost or refused):
                raise _Unreachable(error) from None
            raise error from None
        finally:
            if active is not None:
                active.pop(task.partition, None)
            self.pool.checkin(pc)

    @staticmethod
    def _run_pipeline(conn: psycopg.Connection[Any], task: Task, result: PartResult) -> None:
        """All statements in one round trip (libpq pipeline mode), each one's rows kept."""
        cursors: list[psycopg.RawCursor[Any]] = []
        try:
            with conn.pipeline():
                if chunked.mode_left(conn):
                    # A first statement without rows takes the chunked-rows mode left over.
                    cursors.append(psycopg.RawCursor(conn))
                    cursors[0].execute("SELECT WHERE false")
                for sql, params in task.statements:
                    cur = psycopg.RawCursor(conn)
                    cursors.append(cur)
                    cur.execute(sql, params)
            for cur in cursors[len(cursors) - len(task.statements) :]:
                if cur.description is None:
                    result.batches.append([])
                    continue
                if result.columns is None:
                    result.columns = [d.name for d in cur.description]
                    result.type_oids = [d.type_code for d in cur.description]
                result.batches.append(cur.fetchall())
        finally:
            for cur in cursors:
                cur.close()

    @staticmethod
    def _run_statements(
        conn: psycopg.Connection[Any], task: Task, result: PartResult, chunk_rows: int = 0
    ) -> None:
        """Statements one after another; the last result set is kept.

        With ``chunk_rows`` (a fan-out), rows arrive that many at a time and a result set
        of several chunks becomes columns as it arrives (:func:`plproxy_magic.chunked.fetch`).
        """
        if task.transaction:
            with conn.transaction():
                Executor._run_statements(conn, replace(task, transaction=False), result, chunk_rows)
            return
        with psycopg.RawCursor(conn) as cur:
            for sql, params in task.statements:
                if chunk_rows and chunked.AVAILABLE:
                    got = chunked.fetch(cur, sql, params, chunk_rows)
                    result.status, result.rowcount = got.status, got.rowcount
                    if got.columns is not None:
                        result.columns, result.type_oids = got.columns, got.type_oids
                        result.rows = got.rows
                        result.chunks = got.chunks
                    continue
                cur.execute(sql, params)
                result.status = cur.statusmessage or ""
                result.rowcount = cur.rowcount
                if cur.description is not None:
                    result.columns = [d.name for d in cur.description]
                    result.type_oids = [d.type_code for d in cur.description]
                    result.rows = cur.fetchall()

    def run(
        self,
        cluster: str,
        tasks: Sequence[Task],
        *,
        lifetime: float = 0,
        timeout: float = 0,
        on_event: Event | None = None,
        atomic: AtomicLog | None = None,
    ) -> list[PartResult]:
        """Run ``tasks`` in parallel; results in task order. Raises on any failure.

        With ``atomic`` (the session's log of atomic transactions), tasks on several
        partitions commit all or none (two-phase commit, :mod:`plproxy_magic.atomic`).

        ``on_event(partition, state, rows)`` is called from worker threads; when
        :attr:`progress` (a factory set by the notebook layer) gives a display, the
        calling thread updates it while it waits.
        """
        if not tasks:
            return []
        if len(tasks) == 1 and atomic is not None:
            tasks = [replace(tasks[0], transaction=True)]  # one partition: a plain transaction
            atomic = None
        if len(tasks) == 1 and timeout <= 0:
            # psycopg cancels the query itself on KeyboardInterrupt in the waiting thread.
            return [self._run_one(cluster, tasks[0], lifetime, None, on_event)]
        display = None
        if self.progress is not None and len(tasks) > 1:
            display = self.progress([(t.partition, dbname_of(t.connstr)) for t in tasks])
        if display is not None:
            events = on_event

            def on_event(p: int, state: str, rows: int) -> None:
                display.event(p, state, rows)
                if events is not None:
                    events(p, state, rows)

        try:
            if atomic is not None:
                from plproxy_magic.atomic import run_atomic

                return run_atomic(self, cluster, tasks, atomic, lifetime=lifetime,
                                  timeout=timeout, on_event=on_event, display=display)  # fmt: skip
            return self._fan_out(cluster, tasks, lifetime, timeout, on_event, display)
        finally:
            if display is not None:
                display.close()

    def _fan_out(
        self,
        cluster: str,
        tasks: Sequence[Task],
        lifetime: float,
        timeout: float,
        on_event: Event | None,
        display: Any,
    ) -> list[PartResult]:
        active: dict[int, PooledConnection] = {}
        pool = self._executor()
        # Several partitions: rows in chunks (a routed call, one partition with a
        # query_timeout, fetches as it does without one).
        chunk_rows = self.chunk_rows if len(tasks) > 1 else 0
        futures = [
            pool.submit(self._run_one, cluster, t, lifetime, active, on_event, chunk_rows)
            for t in tasks
        ]
        deadline = time.monotonic() + timeout if timeout > 0 else None
        cancelled = self.wait(futures, active, deadline=deadline, display=display)
        return collect(tasks, futures, cancelled)

    def wait(
        self,
        futures: Sequence[cf.Future[Any]],
        active: dict[int, PooledConnection],
        *,
        deadline: float | None = None,
        display: Any = None,
    ) -> bool:
        """Wait for ``futures``; True when the rest were cancelled after a failure.

        A failed partition cancels the others' queries after :data:`FAIL_GRACE` seconds
        (as PL/Proxy does on a remote error): a fan-out whose server died fails at once
        instead of waiting for the slowest partition, while partitions failing together
        are all reported. ``deadline`` (``query_timeout``) and ``KeyboardInterrupt`` cancel
        everything outstanding.
        """
        failed_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                remaining = None if deadline is None else deadline - now
                if remaining is not None and remaining <= 0:
                    self._cancel(active, futures)
                    raise QueryTimeoutError("query timeout")
                done, pending = cf.wait(futures, timeout=0)
                if failed_at is None and any(f.exception() is not None for f in done):
                    failed_at = now
                if not pending:
                    return False
                if failed_at is not None and now - failed_at >= FAIL_GRACE:
                    self._cancel(active, futures)
                    return True
                # Short waits keep the calling thread responsive to KeyboardInterrupt.
                step = 0.05 if remaining is None else min(0.05, remaining)
                cf.wait(futures, timeout=step, return_when=cf.FIRST_EXCEPTION)
                if display is not None:
                    display.poll()
        except KeyboardInterrupt:
            self._cancel(active, futures)
            raise

    @staticmethod
    def _cancel(active: dict[int, PooledConnection], futures: Sequence[cf.Future[Any]]) -> None:
        """Cancel what is outstanding and wait (bounded) until every worker let go."""
        for f in futures:
            f.cancel()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for pc in list(active.values()):
                with suppress(Exception):
                    pc.conn.cancel_safe(timeout=1.0)
            _, pending = cf.wait(futures, timeout=0.2)
            if not pending:
                return
