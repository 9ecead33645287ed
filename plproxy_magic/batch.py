"""Batched calls: one proxy function over many argument rows, one round trip per partition.

Real PL/Proxy makes one remote call per row of ``SELECT get_email(i) FROM
generate_series(1, 10000) i``. Here the rows are routed together (a vectorised hash where
RUN ON is a built-in hash of one argument), grouped by partition, and each partition gets a
single statement that calls the remote function for all its rows::

    select u.ord, r.v::text
    from unnest($1::_int4) with ordinality as u(a1, ord)
    cross join lateral public.get_email(u.a1) as r(v)

(or, for functions that cannot be called that way, their usual remote query for each row in
one libpq pipeline). Results come back in input order; each row keeps PL/Proxy's semantics:
the non-SETOF one-row rule, STRICT with NULL makes no call, first-tagged partition order.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from plproxy_magic.arguments import bind_arguments, normalize_column
from plproxy_magic.catalog import result_types
from plproxy_magic.errors import PlProxyError, RowCountError
from plproxy_magic.execute import PartResult, Task
from plproxy_magic.function import ProxyFunction
from plproxy_magic.language.ast import ArgRef, ClusterName, FuncCall, RunAll, RunAny, RunNr
from plproxy_magic.pgtypes import TypeRef, quote_ident
from plproxy_magic.query import default_query, remote_query
from plproxy_magic.result import frame
from plproxy_magic.routing import check_hash, partition_of

if TYPE_CHECKING:
    from plproxy_magic.cluster import Cluster
    from plproxy_magic.session import Session

__all__ = ["call_many", "run_select", "select_list_calls", "unnest_query"]


def unnest_query(fn: ProxyFunction, coldefs: Sequence[tuple[str, TypeRef]] | None) -> str | None:
    """The one-statement form for ``fn`` over arrays of arguments, or None if it has none.

    Functions with an explicit SELECT, no arguments, or array arguments (an array of arrays
    would flatten in ``unnest``) are called per row in a pipeline instead.
    """
    args = fn.args
    if fn.body.select is not None or not args or any(p.type.array for p in args):
        return None
    target = fn.body.target or fn.qualified_name
    n = len(args)
    arrays = ", ".join(f"${i + 1}::{TypeRef(p.type.name, p.type.schema, True).cast}"
                       for i, p in enumerate(args))  # fmt: skip
    names = ", ".join(f"a{i + 1}" for i in range(n))
    call = f"{target}({names.replace('a', 'u.a')})"
    kind = fn.kind
    if kind == "composite":
        cols = ", ".join(f"r.{quote_ident(str(p.name))}::{p.type.cast}" for p in fn.result_columns)
        alias = "r"
    elif kind == "record":
        if not coldefs:
            return None
        cols = ", ".join(f"r.{quote_ident(c)}::{t.cast}" for c, t in coldefs)
        alias = "r(" + ", ".join(f"{quote_ident(c)} {t.cast}" for c, t in coldefs) + ")"
    elif fn.out_columns:  # a single OUT parameter: a scalar result column of that name
        cols = f"r.{quote_ident(str(fn.out_columns[0].name))}::{fn.result_type.cast}"
        alias = "r"
    else:
        cols = f"r.v::{fn.result_type.cast}"
        alias = "r(v)"
    return (
        f"select u.ord, {cols} from unnest({arrays}) with ordinality as u({names}, ord) "
        f"cross join lateral {call} as {alias}"
    )


def _partitions(
    session: Session, fn: ProxyFunction, cluster: Cluster, columns: list[list[Any]], rows: int
) -> list[list[int]]:
    """For every row, its tagged canonical partitions in first-tag order."""
    run_on = fn.body.run_on
    canonical = cluster.canonical
    n = len(cluster.partitions)
    modular = cluster.options.modular_mapping
    plan = session._plan(fn)
    if fn.body.connect is not None:
        return [[0]] * rows
    if isinstance(run_on, RunAll):
        every = list(dict.fromkeys(canonical))
        return [every] * rows
    if run_on is None or isinstance(run_on, RunAny):
        picks = [session._rng.getrandbits(31) for _ in range(rows)]
        return [[canonical[partition_of(h, n, modular)]] for h in picks]
    if isinstance(run_on, RunNr):
        if not 0 <= run_on.nr < n:
            raise PlProxyError("part number out of range")
        return [[canonical[run_on.nr]]] * rows
    hashes: np.ndarray | None = None
    if isinstance(run_on, ArgRef):
        if plan.bad_hash_arg:
            raise PlProxyError("Hash result must be int2, int4 or int8")
        column = columns[run_on.index]
        hashes = np.array([check_hash(v) for v in column], dtype=np.int64)
    elif isinstance(run_on, FuncCall) and plan.hash_vector is not None:
        hashes = plan.hash_vector(columns)
    if hashes is not None:
        parts = (np.abs(hashes) % n) if modular else (hashes & (n - 1))
        table = np.asarray(canonical)
        return [[int(p)] for p in table[parts]]
    out = []
    for i in range(rows):
        values = [c[i] for c in columns]
        out.append(session._route_on(fn, cluster, values).partitions)
    return out


def call_many(
    session: Session,
    name: str,
    rows: Sequence[Sequence[Any]],
    coldefs: Sequence[tuple[str, TypeRef]] | None = None,
) -> pd.DataFrame:
    """Call proxy function ``name`` once per argument row; results in input order.

    The DataFrame's index (named ``input``) is the position of the row each result row
    belongs to (a SETOF function may return several rows, or none, per input).
    """
    tuples = [tuple(r) for r in rows]
    fn = session._resolve_function(name, tuples[0] if tuples else (), [])
    # Tens of thousands of small tuples would trigger full collections mid-call.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _call_many(session, fn, tuples, coldefs)
    except PlProxyError as exc:
        raise exc.for_function(fn.label) from None
    finally:
        if collecting:
            gc.enable()


def _call_many(
    session: Session,
    fn: ProxyFunction,
    rows: list[tuple[Any, ...]],
    coldefs: Sequence[tuple[str, TypeRef]] | None,
) -> pd.DataFrame:
    nargs = len(fn.args)
    if rows and all(len(r) == nargs for r in rows):
        columns = [normalize_column(p.type, [r[i] for r in rows]) for i, p in enumerate(fn.args)]
    else:  # defaults, or odd rows: bind one by one
        bound = [bind_arguments(fn, r, {}) for r in rows]
        columns = [[b[i] for b in bound] for i in range(nargs)]
    nrows = len(rows)
    live = [i for i in range(nrows) if not (fn.strict and any(c[i] is None for c in columns))]

    # Target cluster (constant unless CLUSTER/CONNECT is computed per call).
    plan = session._plan(fn)
    groups: dict[str, tuple[Cluster, list[int]]] = {}
    if isinstance(fn.body.cluster, ClusterName) and fn.body.connect is None:
        cluster = session._target(plan, [c[0] for c in columns] if nrows else [])
        groups[cluster.name] = (cluster, live)
    else:
        for i in live:
            cluster = session._target(plan, [c[i] for c in columns])
            groups.setdefault(cluster.name, (cluster, []))[1].append(i)

    per_row: list[list[tuple[Any, ...]]] = [[] for _ in range(nrows)]
    out_columns: list[str] | None = None
    oids: list[int | None] | None = None
    typed = fn
    for cluster, idx in groups.values():
        typed = session._resolved(fn, cluster)
        out_columns = session._columns(typed, _record_call(coldefs))
        sub = [[c[i] for i in idx] for c in columns]
        tags = _partitions(session, fn, cluster, sub, len(idx))
        by_part: dict[int, list[int]] = {}
        order: dict[int, list[int]] = {}  # row -> partitions (first-tag order)
        for k, parts in enumerate(tags):
            order[k] = parts
            for p in parts:
                by_part.setdefault(p, []).append(k)
        sql = unnest_query(typed, coldefs)
        loaders = result_types(typed) if typed is not fn else ()
        tasks = []
        for p, ks in by_part.items():
            if sql is not None:
                arrays = [[col[k] for k in ks] for col in sub]
                tasks.append(Task(p, cluster.partitions[p], [(sql, arrays)], types=loaders))
            else:
                rq = (
                    remote_query(typed)
                    if typed.body.select is not None
                    else default_query(typed, coldefs)
                )
                stmts = [(rq.sql, rq.params([col[k] for col in sub])) for k in ks]
                tasks.append(Task(p, cluster.partitions[p], stmts, pipeline=True, types=loaders))
        results: list[PartResult] = session.executor.run(
            cluster.name, tasks, lifetime=cluster.options.connection_lifetime,
            timeout=cluster.options.query_timeout,
        )  # fmt: skip
        # One partition per row (the usual hash routing): rows go straight to their input;
        # otherwise collect per (row, partition) and concatenate in first-tag order.
        single = all(len(parts) == 1 for parts in tags)
        got: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
        for task, res in zip(tasks, results, strict=True):
            ks = by_part[task.partition]
            if oids is None and res.type_oids is not None:
                oids = list(res.type_oids[1:] if sql is not None else res.type_oids)
            if sql is not None and single:
                for row in res.rows:
                    per_row[idx[ks[row[0] - 1]]].append(row[1:])
            elif sql is not None:
                for row in res.rows:
                    got.setdefault((ks[row[0] - 1], task.partition), []).append(row[1:])
            else:
                for k, batch in zip(ks, res.batches, strict=True):
                    got[(k, task.partition)] = batch
        if got:
            for k, parts in order.items():
                i = idx[k]
                for p in parts:
                    per_row[i].extend(got.get((k, p), []))

    assert out_columns is not None or not groups
    if out_columns is None:
        out_columns = session._columns(fn, _record_call(coldefs))
    width = len(out_columns)
    flat: list[tuple[Any, ...]] = []
    index: list[int] = []
    live_set = set(live)
    for i in range(nrows):
        got_rows = per_row[i]
        if not fn.setof:
            if i not in live_set:
                got_rows = [(None,) * width]
            elif len(got_rows) != 1:
                raise RowCountError(len(got_rows))
        flat.extend(got_rows)
        index.extend([i] * len(got_rows))
    df = frame(out_columns, flat, oids)
    if typed.kind == "void":
        df[out_columns[0]] = pd.array([""] * len(df), dtype="string")
    df.index = pd.Index(index, name="input")
    return df


def _record_call(coldefs: Sequence[tuple[str, TypeRef]] | None) -> Any:
    from plproxy_magic.calls import Call

    return Call("", (), {}, tuple(coldefs) if coldefs else None)


def select_list_calls(stmt: Any, is_proxy: Callable[[str], bool]) -> list[tuple[int, Any, bool]]:
    """(target position, FuncCall, expands with ``.*``) of proxy calls in a select list.

    ``SELECT get_email(i) FROM generate_series(1, 10000) i`` and
    ``SELECT (query_pk(id)).* FROM ...`` apply a proxy function per row of other data.
    """
    from pglast import ast

    sites = []
    for pos, target in enumerate(stmt.targetList or ()):
        val: Any = target.val
        star = False
        if type(val) is ast.A_Indirection:
            ind: Any = val.indirection
            if len(ind) == 1 and type(ind[0]) is ast.A_Star:
                val, star = val.arg, True
        if type(val) is ast.FuncCall and val.over is None:
            name = ".".join(n.sval for n in val.funcname or ())
            if is_proxy(name):
                sites.append((pos, val, star))
    return sites


def run_select(session: Session, stmt: Any, params: Sequence[Any]) -> pd.DataFrame:
    """A SELECT whose select list applies proxy functions to rows: batched per partition.

    The rows (FROM, WHERE, ORDER BY, LIMIT) are computed in-process first, with every
    proxy call's argument expressions as columns; each function is then called once per
    row through :func:`call_many` (one round trip per partition), and the select list is
    assembled in order. Functions must return one row per call (not SETOF) here.
    """
    import copy

    from pglast import ast

    from plproxy_magic import outer
    from plproxy_magic.errors import CallError

    sites = select_list_calls(stmt, session._is_proxy)
    post_sort = _output_sort(stmt)
    if post_sort is None and any(
        isinstance(item.node, ast.A_Const) for item in stmt.sortClause or ()
    ):
        raise CallError("ORDER BY a position needs every sort key to be an output column "
                        "or position here", sqlstate="0A000")  # fmt: skip
    if stmt.groupClause or stmt.havingClause or stmt.distinctClause:
        raise CallError("per-row proxy calls cannot be grouped here: aggregate in an outer "
                        "query over SELECT * FROM f(...)", sqlstate="0A000")  # fmt: skip
    site_at = {pos: (fc, star) for pos, fc, star in sites}
    inputs = copy.deepcopy(stmt)
    select = []
    for pos, target in enumerate(stmt.targetList):
        if pos in site_at:
            fc = site_at[pos][0]
            for j, arg in enumerate(fc.args or ()):
                if isinstance(arg, ast.NamedArgExpr):
                    raise CallError("named arguments are not supported in per-row calls",
                                    sqlstate="0A000")  # fmt: skip
                select.append(ast.ResTarget(name=f"__b{pos}_{j}", val=copy.deepcopy(arg)))
        else:
            select.append(ast.ResTarget(name=f"__o{pos}", val=copy.deepcopy(target.val)))
    inputs.targetList = tuple(select)
    if post_sort is not None:
        # sorted (and limited) after the calls: the keys are output columns
        inputs.sortClause = None
        inputs.limitCount = None
        inputs.limitOffset = None

    def no_call(name: str, *_: Any) -> pd.DataFrame:
        # The input rows are computed in-process, before any per-row call is made.
        raise CallError(
            f"per-row proxy calls in the select list cannot read rows from proxy function "
            f"{name}() in FROM: run SELECT * FROM {name}(...) first and pass its column as a "
            "list argument",
            sqlstate="0A000",
        )

    rows_df = outer.run_outer(inputs, "", params, no_call, session._is_proxy, require_call=False)
    data = rows_df.astype(object).where(rows_df.notna(), None)
    columns: dict[str, Any] = {}
    for pos, target in enumerate(stmt.targetList):
        if pos not in site_at:
            columns[outer.output_name(target)] = rows_df[f"__o{pos}"].reset_index(drop=True)
            continue
        fc, star = site_at[pos]
        name = ".".join(n.sval for n in fc.funcname)
        nargs = len(fc.args or ())
        arg_rows = list(zip(*[data[f"__b{pos}_{j}"].tolist() for j in range(nargs)], strict=True))
        if nargs == 0:
            arg_rows = [()] * len(rows_df)
        result = call_many(session, name, arg_rows)
        if result.index.has_duplicates or len(result) != len(rows_df):
            raise CallError(f"{name}() returns sets: call it in FROM (SELECT * FROM {name}(...))",
                            sqlstate="0A000")  # fmt: skip
        result = result.reset_index(drop=True)
        if star or len(result.columns) > 1:
            # (f(x)).*, and f(x) of a function with several OUT columns: its columns
            for col in result.columns:
                columns[str(col)] = result[col]
        else:
            columns[target.name or str(result.columns[0])] = result[result.columns[0]]
    out = pd.DataFrame(columns)
    if post_sort is not None:
        out = _sort_output(out, post_sort, stmt)
    return out


def _output_sort(stmt: Any) -> list[tuple[Any, bool, bool]] | None:
    """ORDER BY keys that name output columns (or positions): (key, desc, nulls_first).

    None when some key is an expression over the input rows (sorted before the calls).
    """
    from pglast import ast

    items = stmt.sortClause or ()
    if not items:
        return None
    keys = []
    for item in items:
        node = item.node
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
            key: Any = int(node.val.ival)
        elif (
            isinstance(node, ast.ColumnRef)
            and len(node.fields) == 1
            and isinstance(node.fields[0], ast.String)
        ):
            key = node.fields[0].sval
        else:
            return None
        desc = item.sortby_dir.name == "SORTBY_DESC"
        nulls = item.sortby_nulls.name
        first = nulls == "SORTBY_NULLS_FIRST" or (nulls == "SORTBY_NULLS_DEFAULT" and desc)
        keys.append((key, desc, first))
    return keys


def _sort_output(df: pd.DataFrame, keys: list[tuple[Any, bool, bool]], stmt: Any) -> pd.DataFrame:
    """Sort like PostgreSQL (stable, NULL placement per key), then OFFSET/LIMIT."""
    from pglast import ast

    from plproxy_magic.errors import CallError

    for key, desc, nulls_first in reversed(keys):
        if isinstance(key, int):
            if not 1 <= key <= len(df.columns):
                raise CallError(f"ORDER BY position {key} is not in select list", sqlstate="42P10")
            key = df.columns[key - 1]
        if key not in df.columns:
            raise CallError(f'column "{key}" does not exist', sqlstate="42703")
        df = df.sort_values(key, ascending=not desc, kind="stable",
                            na_position="first" if nulls_first else "last")  # fmt: skip
    offset = stmt.limitOffset
    limit = stmt.limitCount
    start = int(offset.val.ival) if isinstance(offset, ast.A_Const) and not offset.isnull else 0
    df = df.iloc[start:]
    if isinstance(limit, ast.A_Const) and not limit.isnull:
        df = df.iloc[: int(limit.val.ival)]
    return df.reset_index(drop=True)
