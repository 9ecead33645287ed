"""Atomic writes over several partitions: two-phase commit, and recovery of what it left.

PL/Proxy commits each partition on its own; ``--atomic`` (``Session.run(atomic=True)``) or
the cluster option ``atomic`` makes a write on several partitions commit everywhere or
nowhere, with PostgreSQL's ``PREPARE TRANSACTION``:

1. every partition runs the statements inside a transaction (in parallel);
2. the *coordinator* (the first partition) prepares, then the others prepare (in parallel);
3. the coordinator commits its prepared transaction — this is the commit decision — then
   the others commit theirs (in parallel).

Any failure before step 3 rolls everything back, the coordinator last. The coordinator's
prepared transaction is the durable record of the decision, so whatever happens in between
(a partition killed, the kernel killed) :func:`recover` can finish the job from the
partitions alone: a transaction whose coordinator is still prepared was never committed
anywhere and is rolled back; one whose coordinator is gone was committed there (the abort
path removes the coordinator only after every other participant) and is committed
everywhere. A transaction's global id names it::

    plproxy_magic:<cluster tag>:<transaction>:<partition>:<coordinator partition>

The servers need ``max_prepared_transactions`` > 0 (sandbox servers have 64).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg
from psycopg import sql as pgsql

from plproxy_magic.conninfo import dbname_of
from plproxy_magic.errors import FanOutError, PlProxyError
from plproxy_magic.execute import (
    Executor,
    PartResult,
    Task,
    collect,
    partition_list,
    remote_error,
)

if TYPE_CHECKING:
    from plproxy_magic.cluster import Cluster
    from plproxy_magic.connections import PooledConnection

__all__ = ["AtomicError", "AtomicLog", "gid", "recover", "run_atomic"]

PREFIX = "plproxy_magic"


class AtomicError(PlProxyError):
    """An atomic write that could not finish; ``committed`` / ``pending`` say where it stands.

    ``pending`` maps partitions to the global ids of prepared transactions they still hold;
    ``%cluster recover NAME`` (:meth:`Session.recover`) resolves them.
    """

    prefixed = False

    def __init__(
        self,
        message: str,
        *,
        committed: Sequence[int] = (),
        pending: dict[int, str] | None = None,
        cause: PlProxyError | None = None,
    ) -> None:
        super().__init__(
            message,
            partition=cause.partition if cause else None,
            sqlstate=cause.sqlstate if cause else "40003",
        )
        self.committed = list(committed)
        self.pending = dict(pending or {})
        self.cause = cause


def cluster_tag(cluster: str) -> str:
    """Eight hex digits naming the cluster inside global ids (any name fits)."""
    return hashlib.blake2b(cluster.encode(), digest_size=4).hexdigest()


def gid(cluster: str, txid: str, partition: int, coordinator: int) -> str:
    """The global transaction id of ``partition``'s share of transaction ``txid``."""
    return f"{PREFIX}:{cluster_tag(cluster)}:{txid}:{partition}:{coordinator}"


@dataclass
class AtomicLog:
    """The atomic transactions of one session: those made here, and those still running.

    :func:`recover` resolves this session's own leftovers at once, but never one of its
    transactions that is still running, and leaves other sessions' transactions alone until
    they are old enough to be abandoned.
    """

    mine: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self) -> str:
        txid = uuid.uuid4().hex[:16]
        with self.lock:
            self.mine.add(txid)
            self.running.add(txid)
        return txid

    def end(self, txid: str) -> None:
        with self.lock:
            self.running.discard(txid)


@dataclass
class _Share:
    """One partition's part of the transaction: its task, connection and result."""

    task: Task
    gid: str
    result: PartResult | None = None
    pc: PooledConnection | None = None
    prepared: bool = False


Event = Callable[[int, str, int], None]


def run_atomic(
    executor: Executor,
    cluster: str,
    tasks: Sequence[Task],
    log: AtomicLog,
    *,
    lifetime: float = 0,
    timeout: float = 0,
    on_event: Event | None = None,
    display: Any = None,
) -> list[PartResult]:
    """Run ``tasks`` (one per partition) so that all of them commit or none does."""
    txid = log.begin()
    coordinator = tasks[0].partition
    shares = [_Share(t, gid(cluster, txid, t.partition, coordinator)) for t in tasks]
    try:
        _work(executor, cluster, shares, lifetime, timeout, on_event, display)
        _prepare(executor, shares, on_event)
        return _commit(executor, shares, on_event)
    finally:
        for share in shares:
            if share.pc is not None:
                if share.pc.conn.info.transaction_status != 0:
                    with suppress(Exception):
                        share.pc.conn.rollback()
                executor.pool.checkin(share.pc)
        log.end(txid)


def _work(
    executor: Executor,
    cluster: str,
    shares: list[_Share],
    lifetime: float,
    timeout: float,
    on_event: Event | None,
    display: Any,
) -> None:
    """Phase 1: each partition runs its statements inside an open transaction."""
    active: dict[int, PooledConnection] = {}

    def work(share: _Share) -> PartResult:
        task = share.task
        try:
            share.pc = executor.pool.checkout(cluster, task.connstr, lifetime)
        except PlProxyError as exc:
            exc.partition = task.partition
            raise
        pc = share.pc
        active[task.partition] = pc
        result = PartResult(task.partition, dbname=pc.dbname)
        try:
            if on_event:
                on_event(task.partition, "running", 0)
            if task.types:
                pc.register_types(task.types)
            pc.conn.execute("BEGIN")
            Executor._run_statements(pc.conn, task, result)
        except psycopg.Error as exc:
            if on_event:
                on_event(task.partition, "failed", 0)
            raise remote_error(exc, result.dbname, task.partition) from None
        finally:
            active.pop(task.partition, None)
        if on_event:
            on_event(task.partition, "done", len(result.rows))
        return result

    pool = executor._executor()
    futures = [pool.submit(work, s) for s in shares]
    deadline = time.monotonic() + timeout if timeout > 0 else None
    cancelled = executor.wait(futures, active, deadline=deadline, display=display)
    tasks = [s.task for s in shares]
    try:
        results = collect(tasks, futures, cancelled)
    except PlProxyError as exc:
        exc.completed = []
        exc.cancelled = [t.partition for t in tasks if t.partition != exc.partition]
        exc.__notes__ = ["atomic: rolled back on every partition, nothing committed"]
        raise
    for share, result in zip(shares, results, strict=True):
        share.result = result


def _prepare(executor: Executor, shares: list[_Share], on_event: Event | None) -> None:
    """Phase 2: the coordinator prepares first, then the others; any failure rolls back."""
    coordinator, others = shares[0], shares[1:]
    try:
        _statement(coordinator, "PREPARE TRANSACTION {}")
        coordinator.prepared = True
        failures = _parallel(executor, others, "PREPARE TRANSACTION {}")
        for share in others:
            share.prepared = share.task.partition not in failures
        if failures:
            raise _failure(list(failures.values()), len(shares))
    except PlProxyError as exc:
        left = _abort(executor, shares)
        if left:
            raise AtomicError(
                f"atomic write failed and could not be rolled back everywhere: {exc.headline()}; "
                f"{_pending_note(left)}",
                pending=left,
                cause=exc,
            ) from None
        exc.add_note("atomic: rolled back on every partition, nothing committed")
        raise
    if on_event:
        for share in shares:
            on_event(share.task.partition, "prepared", 0)


def _commit(executor: Executor, shares: list[_Share], on_event: Event | None) -> list[PartResult]:
    """Phase 3: the coordinator's commit decides; then every other partition commits."""
    coordinator, others = shares[0], shares[1:]
    pending = {s.task.partition: s.gid for s in shares}
    try:
        _statement(coordinator, "COMMIT PREPARED {}")
    except PlProxyError as exc:
        # Unknown whether the coordinator committed: recovery decides from what is prepared.
        raise AtomicError(
            f"atomic write: the commit on partition {coordinator.task.partition} failed: "
            f"{exc.headline()}; nothing else is committed, and {_pending_note(pending)}",
            pending=pending,
            cause=exc,
        ) from None
    del pending[coordinator.task.partition]
    failures = _parallel(executor, others, "COMMIT PREPARED {}")
    for share in others:
        if share.task.partition not in failures:
            del pending[share.task.partition]
    if on_event:
        for share in shares:
            if share.task.partition not in failures:
                on_event(
                    share.task.partition,
                    "committed",
                    len(share.result.rows if share.result else ()),
                )
    if failures:
        committed = [s.task.partition for s in shares if s.task.partition not in failures]
        cause = _failure(list(failures.values()), len(shares))
        raise AtomicError(
            f"atomic write committed on {partition_list(committed)}; {cause.headline()}; "
            f"{_pending_note(pending)} (the commit is decided: recovery commits them)",
            committed=committed,
            pending=pending,
            cause=cause,
        )
    return [s.result for s in shares if s.result is not None]


def _abort(executor: Executor, shares: list[_Share]) -> dict[int, str]:
    """Roll back every share, the coordinator last; returns the prepared ones left over."""
    coordinator, others = shares[0], shares[1:]
    for share in others:
        if not share.prepared and share.pc is not None:
            with suppress(Exception):
                share.pc.conn.rollback()
    failures = _parallel(executor, [s for s in others if s.prepared], "ROLLBACK PREPARED {}")
    left = {p: next(s.gid for s in others if s.task.partition == p) for p in failures}
    if coordinator.prepared:
        if left:
            # The coordinator stays prepared: it records that nothing was committed.
            left[coordinator.task.partition] = coordinator.gid
        else:
            try:
                _statement(coordinator, "ROLLBACK PREPARED {}")
            except PlProxyError:
                left[coordinator.task.partition] = coordinator.gid
    elif coordinator.pc is not None:
        with suppress(Exception):
            coordinator.pc.conn.rollback()
    return left


def _statement(share: _Share, template: str) -> None:
    """Run a two-phase-commit statement for ``share`` on its own connection."""
    assert share.pc is not None
    query = pgsql.SQL(template).format(pgsql.Literal(share.gid))
    try:
        share.pc.conn.execute(query)
    except psycopg.Error as exc:
        raise remote_error(exc, share.pc.dbname, share.task.partition) from None


def _parallel(executor: Executor, shares: list[_Share], template: str) -> dict[int, PlProxyError]:
    """``template`` on every share at once; the failures by partition."""
    if not shares:
        return {}
    futures = {
        s.task.partition: executor._executor().submit(_statement, s, template) for s in shares
    }
    cf.wait(futures.values())
    failures: dict[int, PlProxyError] = {}
    for p, f in futures.items():
        exc = f.exception()
        if isinstance(exc, PlProxyError):
            failures[p] = exc
        elif exc is not None:
            raise exc
    return failures


def _failure(errors: list[PlProxyError], total: int) -> PlProxyError:
    return errors[0] if len(errors) == 1 else FanOutError(errors, total)


def _pending_note(pending: dict[int, str]) -> str:
    return (
        f"{partition_list(sorted(pending))} still hold prepared transactions; "
        "`%cluster recover NAME` (Session.recover) resolves them"
    )


# -- recovery -----------------------------------------------------------------------------

_LIST = """
SELECT gid, prepared, owner, extract(epoch FROM now() - prepared)::float8 AS age
  FROM pg_catalog.pg_prepared_xacts
 WHERE gid LIKE $1 AND database = pg_catalog.current_database()
 ORDER BY prepared, gid
"""


def recover(
    executor: Executor,
    cluster: Cluster,
    log: AtomicLog,
    *,
    older_than: float = 60.0,
    dry_run: bool = False,
) -> pd.DataFrame:
    """Find the prepared transactions atomic writes left on ``cluster`` and resolve them.

    One row per prepared transaction: ``transaction``, ``partition``, ``database``,
    ``prepared`` (when), ``decision`` (``commit``, ``rollback``, or why it is left alone)
    and ``outcome``. This session's own leftovers are resolved at once; other sessions'
    only once ``older_than`` seconds old (they may still be running). ``dry_run`` lists
    the decisions without acting on them.
    """
    pattern = f"{PREFIX}:{cluster_tag(cluster.name)}:%"
    found: list[dict[str, Any]] = []
    unreachable: dict[int, str] = {}
    for p in dict.fromkeys(cluster.canonical):
        try:
            with executor.pool.connection(cluster.name, cluster.partitions[p]) as pc:
                with psycopg.RawCursor(pc.conn) as cur:
                    listed: list[Any] = cur.execute(_LIST, [pattern]).fetchall()
                for g, prepared, _owner, age in listed:
                    _, _, txid, part, coord = str(g).split(":")
                    found.append(
                        {"transaction": txid, "partition": int(part), "coordinator": int(coord),
                         "database": pc.dbname, "prepared": prepared, "gid": str(g),
                         "age": float(age), "connstr": cluster.partitions[p]}
                    )  # fmt: skip
        except (PlProxyError, psycopg.Error) as exc:
            unreachable[p] = str(exc).splitlines()[0]
    with log.lock:
        mine, running = set(log.mine), set(log.running)
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        by_tx.setdefault(row["transaction"], []).append(row)
    for txid, rows in by_tx.items():
        coord = rows[0]["coordinator"]
        if txid in running:
            decision = "leave (still running in this session)"
        elif txid not in mine and min(r["age"] for r in rows) < older_than:
            decision = f"leave (younger than {older_than:g} s: may still be running elsewhere)"
        elif cluster.canonical[coord] in unreachable:
            decision = f"leave (its coordinator, partition {coord}, is unreachable)"
        elif any(r["partition"] == coord for r in rows):
            decision = "rollback"
        else:
            decision = "commit"
        # The coordinator's share is resolved last: it is the record of the decision.
        rows.sort(key=lambda r: r["partition"] == coord)
        for row in rows:
            row["decision"], row["outcome"] = decision, ""
        if dry_run or decision not in ("commit", "rollback"):
            continue
        verb = "COMMIT PREPARED {}" if decision == "commit" else "ROLLBACK PREPARED {}"
        for row in rows:
            try:
                with executor.pool.connection(cluster.name, row["connstr"]) as pc:
                    pc.conn.execute(pgsql.SQL(verb).format(pgsql.Literal(row["gid"])))
                row["outcome"] = "committed" if decision == "commit" else "rolled back"
            except (PlProxyError, psycopg.Error) as exc:
                row["outcome"] = f"failed: {str(exc).splitlines()[0]}"
                if decision == "rollback":
                    break  # the coordinator stays prepared: it still says "not committed"
    for p in sorted(unreachable):
        found.append(
            {"transaction": None, "partition": p, "database": dbname_of(cluster.partitions[p]),
             "prepared": None, "decision": "unknown (partition unreachable)",
             "outcome": unreachable[p]}
        )  # fmt: skip
    ordered = sorted(found, key=lambda r: (r["transaction"] is None, r["prepared"] or 0,
                                           r["transaction"] or "", r["partition"]))  # fmt: skip
    return pd.DataFrame(
        {
            "transaction": pd.array([r["transaction"] for r in ordered], dtype="string"),
            "partition": pd.array([r["partition"] for r in ordered], dtype="Int32"),
            "database": pd.array([r["database"] for r in ordered], dtype="string"),
            "prepared": pd.Series([r["prepared"] for r in ordered], dtype="datetime64[us, UTC]"),
            "decision": pd.array([r["decision"] for r in ordered], dtype="string"),
            "outcome": pd.array([r["outcome"] for r in ordered], dtype="string"),
        }
    )
