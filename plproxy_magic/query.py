"""Remote SQL generation and argument substitution, following PL/Proxy's query.c.

* The default query: ``select r::int4 from public.f($1::int4,$2::text) r`` for scalars,
  ``select x::int4, "Y z"::text from public.f($1::int4)`` for composite results, and an
  ``as (a int4, ...)`` list for dynamic RECORD calls.
* An explicit ``SELECT``: argument references become ``$k::type``, numbered by first
  appearance, and only referenced arguments are sent.
* Local queries (CLUSTER/CONNECT/RUN ON expressions): the same substitution without casts.

The results are :class:`RemoteQuery` values: SQL text plus the argument indexes whose values
go, in order, into the bound parameters. Values are never pasted into SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from plproxy_magic.function import ProxyFunction
from plproxy_magic.language.ast import ArgRef, SqlText
from plproxy_magic.pgtypes import TypeRef, quote_ident

__all__ = ["RemoteQuery", "default_query", "local_query", "remote_query", "render"]


@dataclass(frozen=True)
class RemoteQuery:
    """SQL with ``$1..$n`` placeholders; ``arg_indexes[k-1]`` is the argument behind ``$k``."""

    sql: str
    arg_indexes: tuple[int, ...]

    def params(self, values: Sequence[object]) -> list[object]:
        """The bound parameter values for a call with argument ``values``."""
        return [values[i] for i in self.arg_indexes]


def render(sql: SqlText, types: Sequence[TypeRef] | None) -> RemoteQuery:
    """Render ``sql`` with ``$k`` placeholders (``$k::type`` when ``types`` is given)."""
    numbers: dict[int, int] = {}
    out: list[str] = []
    for part in sql.parts:
        if isinstance(part, ArgRef):
            k = numbers.setdefault(part.index, len(numbers) + 1)
            out.append(f"${k}::{types[part.index].cast}" if types is not None else f"${k}")
        else:
            out.append(part)
    return RemoteQuery("".join(out), tuple(numbers))


def default_query(
    fn: ProxyFunction, coldefs: Sequence[tuple[str, TypeRef]] | None = None
) -> RemoteQuery:
    """PL/Proxy's standard query for ``fn`` (``coldefs``: the call-site list of a RECORD call)."""
    target = fn.body.target or fn.qualified_name
    args = fn.args
    arglist = ",".join(f"${i + 1}::{p.type.cast}" for i, p in enumerate(args))
    call = f"{target}({arglist})"
    kind = fn.kind
    if kind == "composite":
        cols = ", ".join(f"{quote_ident(str(p.name))}::{p.type.cast}" for p in fn.result_columns)
        sql = f"select {cols} from {call}"
    elif kind == "record":
        if not coldefs:
            raise ValueError("a column definition list is required for functions returning record")
        cols = ", ".join(f"{quote_ident(n)}::{t.cast}" for n, t in coldefs)
        defs = ", ".join(f"{quote_ident(n)} {t.cast}" for n, t in coldefs)
        sql = f"select {cols} from {call} as ({defs})"
    else:
        sql = f"select r::{fn.result_type.cast} from {call} r"
    return RemoteQuery(sql, tuple(range(len(args))))


def remote_query(
    fn: ProxyFunction, coldefs: Sequence[tuple[str, TypeRef]] | None = None
) -> RemoteQuery:
    """The query a partition receives: the explicit SELECT if any, else the default one."""
    if fn.body.select is not None:
        return render(fn.body.select, [p.type for p in fn.args])
    return default_query(fn, coldefs)


def local_query(
    sql: SqlText, form: str = "select * from ", types: Sequence[TypeRef] | None = None
) -> RemoteQuery:
    """The proxy-side query of a CLUSTER/CONNECT/RUN ON expression.

    PL/Proxy prepares it with the arguments' declared types (the element type for SPLIT
    arguments); ``types`` adds them as casts, so the query means the same wherever it runs.
    """
    q = render(sql, types)
    return RemoteQuery(form + q.sql, q.arg_indexes)
