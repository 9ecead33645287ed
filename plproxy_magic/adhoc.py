"""Ad-hoc SQL on a cluster's partitions: ``%%plproxy --cluster NAME`` / ``Session.run``.

Statements run in order on each selected partition, partitions in parallel; several
statements run as one transaction per partition (unless one of them cannot run inside a
transaction block, like VACUUM, or manages transactions itself). A single aggregate query
run on several partitions is combined in two stages (:mod:`plproxy_magic.aggregate`);
anything else returns the rows concatenated in partition order, or a per-partition status
table for statements without rows. ``atomic`` writes commit on every partition or none
(:mod:`plproxy_magic.atomic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import pglast
import psycopg
from pglast.parser import ParseError

from plproxy_magic.cluster import Cluster
from plproxy_magic.errors import CallError, RoutingError
from plproxy_magic.execute import Task, remote_error
from plproxy_magic.result import to_frame

if TYPE_CHECKING:
    from plproxy_magic.session import Session

__all__ = ["run"]


def run(
    session: Session,
    cluster: str,
    sql: str,
    *,
    run_on: str | int = "all",
    params: Sequence[Any] | None = None,
    partials: bool = False,
    atomic: bool | None = None,
) -> pd.DataFrame:
    """:meth:`Session.run` (documented there)."""
    c = session.cluster(cluster)
    try:
        statements = [s for s in pglast.split(sql) if s.strip()]
        outside = _outside_transaction(statements)
    except ParseError as exc:
        raise CallError(f"{exc.args[0]}", sqlstate="42601") from None
    if not statements:
        raise CallError("no SQL statement to run")
    if atomic and outside:
        raise CallError(
            f"--atomic: {outside} cannot run inside a transaction, so it cannot be atomic",
            sqlstate="25001",
        )
    parts = _partitions(session, c, run_on)
    two_stage = None
    if len(statements) == 1 and len(parts) > 1:
        from plproxy_magic.aggregate import plan_two_stage

        two_stage = plan_two_stage(statements[0], _aggregate_names(session, c))
        if two_stage is not None:
            statements = [two_stage.partial_sql]
    elif partials:
        raise CallError("--partials needs one aggregate query run on several partitions")
    with_params = [(s, params) for s in statements]
    if atomic is None:  # the cluster's option: atomic unless provably read-only
        atomic = c.options.atomic and not outside and not _read_only(session, c, statements)
    if atomic:  # on the primaries: a replica cannot prepare a transaction
        tasks = [Task(p, c.partitions[p], with_params) for p in parts]
    else:
        tasks = [_task(session, c, p, with_params) for p in parts]
    if len(statements) > 1 and not outside:
        tasks = [replace(t, transaction=True) for t in tasks]
    results = session.executor.run(
        c.name,
        tasks,
        lifetime=c.options.connection_lifetime,
        timeout=c.options.query_timeout,
        atomic=session.atomic_log if atomic else None,
    )
    if two_stage is not None:
        frames = to_frame(results, None, scalar=False, setof=True, partition_column="partition")
        return frames if partials else two_stage.finish(frames.drop(columns="partition"))
    if partials:
        raise CallError("--partials: the query has no aggregates to combine")
    if results and all(r.columns is not None for r in results):
        return to_frame(results, None, scalar=False, setof=True,
                        partition_column=session.partition_column)  # fmt: skip
    return pd.DataFrame(
        {
            "partition": pd.array([r.partition for r in results], dtype="Int32"),
            "database": pd.array([r.dbname for r in results], dtype="string"),
            "status": pd.array([r.status for r in results], dtype="string"),
            "rows": pd.array([max(r.rowcount, 0) for r in results], dtype="Int64"),
        }
    )


#: statements PostgreSQL refuses inside a transaction block, or that end transactions
_OUTSIDE = {
    "TransactionStmt": "a transaction statement (BEGIN, COMMIT...)",
    "VacuumStmt": "VACUUM / ANALYZE",
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "AlterSystemStmt": "ALTER SYSTEM",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "ClusterStmt": "CLUSTER",
    "CallStmt": "CALL (a procedure may commit)",
    "DoStmt": "DO (a block may commit)",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "AlterSubscriptionStmt": "ALTER SUBSCRIPTION",
    "DropSubscriptionStmt": "DROP SUBSCRIPTION",
}


def _outside_transaction(statements: Sequence[str]) -> str | None:
    """What in ``statements`` must run outside a transaction block (None: nothing)."""
    for text in statements:
        for raw in pglast.parse_sql(text):
            stmt = raw.stmt
            name = type(stmt).__name__
            if name in _OUTSIDE:
                return _OUTSIDE[name]
            if name in ("IndexStmt", "DropStmt") and getattr(stmt, "concurrent", False):
                return "a CONCURRENTLY index statement"
            if name == "ReindexStmt" and any(
                getattr(p, "defname", "") == "concurrently"
                for p in getattr(stmt, "params", None) or ()
            ):
                return "REINDEX CONCURRENTLY"
    return None


def _read_only(session: Session, c: Cluster, statements: Sequence[str]) -> bool:
    from plproxy_magic.readonly import classify

    return bool(classify(";\n".join(statements), session._volatile_names(c).__contains__))


def _aggregate_names(session: Session, c: Cluster) -> frozenset[str]:
    """Every aggregate function name on ``c``'s partition 0 (cached per cluster)."""
    hit = session._aggregates.get(c.name)
    if hit is None:
        sql = "SELECT DISTINCT lower(proname) FROM pg_catalog.pg_proc WHERE prokind = 'a'"
        with session.pool.connection(c.name, c.partitions[0]) as pc:
            try:
                hit = frozenset(str(r[0]) for r in pc.conn.execute(sql).fetchall())
            except psycopg.Error as exc:
                raise remote_error(exc, pc.dbname, 0) from None
        session._aggregates[c.name] = hit
    return hit


def _partitions(session: Session, c: Cluster, run_on: str | int) -> list[int]:
    canonical = c.canonical
    n = len(c.partitions)
    if isinstance(run_on, int) or str(run_on).isdigit():
        nr = int(run_on)
        if not 0 <= nr < n:
            raise RoutingError("part number out of range")
        return [canonical[nr]]
    if str(run_on).lower() == "all":
        return list(dict.fromkeys(canonical))
    if str(run_on).lower() == "any":
        return [canonical[session._rng.randrange(n)]]
    raise CallError(f"--run-on takes all, any or a partition number, not {run_on!r}")


def _task(
    session: Session, c: Cluster, p: int, statements: list[tuple[str, Sequence[Any] | None]]
) -> Task:
    """Partition ``p``'s task: on a replica when the statements are provably read-only."""
    opts = c.options
    replicas = c.replicas.get(p, ())
    if not (opts.read_write_splitting and replicas):
        return Task(p, c.partitions[p], statements)
    from plproxy_magic.readonly import classify

    script = ";\n".join(sql for sql, _ in statements)
    if not classify(script, session._volatile_names(c).__contains__):
        return Task(p, c.partitions[p], statements)
    connstr, fallbacks = session._read_servers(c, p)
    return Task(p, connstr, statements, fallbacks=fallbacks)
