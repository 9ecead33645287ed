"""Is a statement provably read-only? The gate in front of read replicas.

pgcat decides by looking at the first word of a query, and sends ``SELECT nextval(...)``,
``WITH d AS (DELETE ...) SELECT ...`` and ``SELECT ... FOR UPDATE`` to replicas. Here a
statement is read-only only if pglast parses it and shows:

* SELECT / VALUES only (every statement of a script), no ``SELECT ... INTO``;
* no locking clause (``FOR UPDATE/SHARE``) at any depth;
* no data-modifying CTE (INSERT / UPDATE / DELETE / MERGE inside ``WITH``);
* no function the partition's catalog marks VOLATILE (``nextval``, ``random``, user
  functions), and none of the session-state or lock functions below.

Anything else, including SQL that does not parse, goes to the primary. Pure: no I/O; the
caller supplies ``volatile(name)`` from a catalog lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast
from pglast.parser import ParseError

__all__ = ["Verdict", "classify"]

#: Functions that write or depend on session/transaction state, whatever their volatility.
ALWAYS_PRIMARY = frozenset(
    {
        "nextval", "setval", "currval", "lastval", "set_config", "pg_notify", "txid_current",
        "pg_current_xact_id", "pg_advisory_lock", "pg_advisory_xact_lock",
        "pg_try_advisory_lock", "pg_try_advisory_xact_lock", "pg_advisory_lock_shared",
        "pg_advisory_xact_lock_shared", "pg_try_advisory_lock_shared",
        "pg_try_advisory_xact_lock_shared", "pg_advisory_unlock", "pg_advisory_unlock_all",
        "dblink", "dblink_exec", "lo_create", "lo_import", "lo_unlink", "pg_terminate_backend",
        "pg_cancel_backend", "pg_reload_conf", "pg_switch_wal", "pg_create_restore_point",
    }
)  # fmt: skip

_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


@dataclass(frozen=True)
class Verdict:
    """``read_only`` and, when not, the first reason found (shown by explain)."""

    read_only: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.read_only


def _nodes(node: Any) -> Any:
    if isinstance(node, (tuple, list)):
        for n in node:
            yield from _nodes(n)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    for name in node:
        yield from _nodes(getattr(node, name))


def classify(sql: str, volatile: Callable[[str], bool] | None = None) -> Verdict:
    """Decide whether ``sql`` (one or more statements) is provably read-only.

    ``volatile(name)`` says whether a function of that (lower-case, unqualified) name is
    VOLATILE on the partitions; without it every function call not known stable counts
    as volatile.
    """
    try:
        stmts = pglast.parse_sql(sql)
    except ParseError as exc:
        return Verdict(False, f"does not parse: {exc.args[0]}")
    if not stmts:
        return Verdict(False, "empty")
    for raw in stmts:
        stmt = raw.stmt
        if not isinstance(stmt, ast.SelectStmt):
            return Verdict(False, f"{type(stmt).__name__} is not a SELECT")
        for node in _nodes(stmt):
            if isinstance(node, ast.SelectStmt):
                if node.lockingClause:
                    return Verdict(False, "locking clause (FOR UPDATE/SHARE)")
                if node.intoClause is not None:
                    return Verdict(False, "SELECT INTO creates a table")
            elif isinstance(node, ast.CommonTableExpr) and isinstance(node.ctequery, _WRITES):
                return Verdict(False, f"data-modifying WITH {node.ctename}")
            elif isinstance(node, _WRITES):
                return Verdict(False, "data-modifying statement")
            elif isinstance(node, ast.FuncCall):
                name = (node.funcname or ())[-1].sval.lower()
                if name in ALWAYS_PRIMARY:
                    return Verdict(False, f"{name}() changes or reads session state")
                if volatile is None or volatile(name):
                    return Verdict(False, f"{name}() is volatile")
    return Verdict(True)
