"""Two-stage aggregation: rewrite an aggregate query into per-partition partials, combine.

``SELECT region, avg(x), count(DISTINCT u) FROM t GROUP BY region HAVING sum(x) > 10
ORDER BY 2 DESC LIMIT 5`` becomes, on every partition::

    SELECT region AS g0, sum(x) AS p0, count(x) AS p1,
           array_agg(DISTINCT u) FILTER (WHERE u IS NOT NULL) AS p2
    FROM t GROUP BY region

and the kernel combines the partials per group (:func:`plproxy_magic.combine.combine`:
sums of sums, avg = sum of sums / sum of counts, variances by Chan's parallel formula, exact
distinct counts from the distinct values), then evaluates the rest of the query over the
groups with PostgreSQL's semantics (:mod:`plproxy_magic.pgexpr`): expressions over
aggregates, HAVING, ORDER BY, LIMIT/OFFSET. Rows transferred: at most partitions x groups
(distinct values for ``count(DISTINCT)``). A query that cannot be combined correctly is
refused with the reason — never answered wrongly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pglast
from pglast import ast
from pglast.stream import RawStream

from plproxy_magic.combine import combine
from plproxy_magic.errors import CallError
from plproxy_magic.pgexpr import Unsupported, compile_expr

__all__ = ["AGGREGATES", "TwoStage", "plan_two_stage"]

AGGREGATES = frozenset(
    {
        "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "stddev",
        "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop", "array_agg",
        "string_agg",
    }
)  # fmt: skip
_VARIANCE = {"stddev": "stddev_samp", "variance": "var_samp", "stddev_samp": "stddev_samp",
             "stddev_pop": "stddev_pop", "var_samp": "var_samp", "var_pop": "var_pop"}  # fmt: skip


def _sql(node: Any) -> str:
    return str(RawStream()(node))


def _refuse(why: str) -> CallError:
    return CallError(f"cannot combine this query across partitions: {why}", sqlstate="0A000")


def _is_aggregate(node: Any, known: frozenset[str] = AGGREGATES) -> bool:
    """Whether ``node`` calls an aggregate (one of ``known``: the partitions' aggregates)."""
    if not isinstance(node, ast.FuncCall) or node.over is not None:
        return False
    name = node.funcname[-1].sval.lower()
    if node.agg_within_group or (name in known and name not in AGGREGATES):
        raise _refuse(
            f"{name}() has no two-stage form; per partition, GROUP BY current_database(); "
            "over all rows, bring them with a RUN ON ALL proxy function and aggregate in "
            "outer SQL (SELECT ... FROM f(...))"
        )
    return name in AGGREGATES and (len(node.funcname) == 1 or node.funcname[0].sval == "pg_catalog")


def _walk(node: Any) -> Any:
    """Every AST node below ``node`` (inclusive), not descending into subqueries."""
    if isinstance(node, (tuple, list)):
        for n in node:
            yield from _walk(n)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    if isinstance(node, (ast.SubLink, ast.SelectStmt)):
        return
    for name in node:
        yield from _walk(getattr(node, name))


def _find_aggregates(node: Any, out: dict[str, Any], known: frozenset[str] = AGGREGATES) -> None:
    for n in _walk(node):
        if _is_aggregate(n, known):
            for inner in _walk(n.args or ()):
                if inner is not n and _is_aggregate(inner, known):
                    raise _refuse("aggregate function calls cannot be nested")
            out.setdefault(_sql(n), n)
        elif isinstance(n, ast.FuncCall) and n.over is not None:
            raise _refuse("window functions need all rows in one place")


def _has_aggregates(stmt: Any, known: frozenset[str]) -> bool:
    found: dict[str, Any] = {}
    for part in (stmt.targetList, stmt.havingClause, stmt.sortClause):
        try:
            _find_aggregates(part, found, known)
        except CallError:
            return True
    return bool(found) or bool(stmt.groupClause)


@dataclass
class _Agg:
    """One aggregate of the query: its partial columns and how they combine."""

    columns: list[tuple[str, str]]  # (partial SQL, column name)
    spec: tuple[Any, ...]  # combine() output spec


def _partials(node: Any, k: int) -> _Agg:
    name = node.funcname[-1].sval.lower()
    args: tuple[Any, ...] = tuple(node.args or ())
    filt = f" FILTER (WHERE {_sql(node.agg_filter)})" if node.agg_filter is not None else ""
    if node.agg_order:
        raise _refuse(f"{name}(... ORDER BY ...) orders rows across partitions")
    p = f"p{k}"
    if node.agg_star:
        return _Agg([(f"count(*){filt}", p)], (p, "count"))
    if len(args) != (2 if name == "string_agg" else 1):
        raise _refuse(f"{name}() with {len(args)} arguments")
    arg = _sql(args[0])
    if node.agg_distinct:
        if name != "count":
            raise _refuse(f"{name}(DISTINCT ...) is only combined for count")
        cond = f"({arg}) IS NOT NULL" + (f" AND ({_sql(node.agg_filter)})" if filt else "")
        return _Agg(
            [(f"array_agg(DISTINCT {arg}) FILTER (WHERE {cond})", p)], (p, "count_distinct")
        )
    if name == "count":
        return _Agg([(f"count({arg}){filt}", p)], (p, "count"))
    if name == "avg":
        return _Agg([(f"sum({arg}){filt}", p + "s"), (f"count({arg}){filt}", p + "n")],
                    ((p + "s", p + "n"), "avg"))  # fmt: skip
    if name in _VARIANCE:
        return _Agg(
            [
                (f"count({arg}){filt}", p + "n"),
                (f"avg({arg}){filt}", p + "m"),
                (f"var_pop({arg}){filt} * count({arg}){filt}", p + "q"),
            ],
            ((p + "n", p + "m", p + "q"), _VARIANCE[name]),
        )
    if name == "string_agg":
        sep = args[1]
        if not (isinstance(sep, ast.A_Const) and isinstance(sep.val, ast.String)):
            raise _refuse("string_agg() separator must be a constant string")
        return _Agg([(f"string_agg({arg}, {_sql(sep)}){filt}", p)], (p, "string_agg", sep.val.sval))
    combiner = "bool_and" if name == "every" else name
    return _Agg([(f"{name}({arg}){filt}", p)], (p, combiner))


def _output_name(target: Any) -> str:
    if target.name:
        return str(target.name)
    node = target.val
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.FuncCall):
        return str(node.funcname[-1].sval)
    if isinstance(node, ast.ColumnRef):
        return str(getattr(node.fields[-1], "sval", "?column?"))
    if isinstance(node, ast.CaseExpr):
        return "case"
    if isinstance(node, ast.CoalesceExpr):
        return "coalesce"
    return "?column?"


@dataclass
class TwoStage:
    """A query split in two: ``partial_sql`` for every partition, :meth:`finish` after."""

    partial_sql: str
    finish: Callable[[pd.DataFrame], pd.DataFrame]


def plan_two_stage(sql: str, known: frozenset[str] = AGGREGATES) -> TwoStage | None:
    """Rewrite one aggregate SELECT; None when ``sql`` is no aggregate query.

    ``known``: every aggregate function name the partitions have (their catalog), so a
    call of an aggregate without a two-stage form (``percentile_cont``, ``json_agg``, a
    user-defined one) is refused rather than concatenated per partition.
    """
    stmts = pglast.parse_sql(sql)
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.SelectStmt):
        return None
    stmt = stmts[0].stmt
    if stmt.op.name != "SETOP_NONE" or stmt.valuesLists:
        return None
    if not _has_aggregates(stmt, known):
        return None
    if stmt.distinctClause:
        raise _refuse("SELECT DISTINCT over aggregates")
    if stmt.lockingClause:
        raise _refuse("FOR UPDATE/SHARE")
    targets = list(stmt.targetList)
    aliases = {t.name: t.val for t in targets if t.name}

    group_nodes: list[Any] = []
    for g in stmt.groupClause or ():
        if isinstance(g, ast.GroupingSet):
            raise _refuse("GROUPING SETS / ROLLUP / CUBE")
        if isinstance(g, ast.A_Const) and isinstance(g.val, ast.Integer):
            if not 1 <= g.val.ival <= len(targets):
                raise CallError(f"GROUP BY position {g.val.ival} is not in select list",
                                sqlstate="42P10")  # fmt: skip
            g = targets[g.val.ival - 1].val
        elif (
            isinstance(g, ast.ColumnRef) and len(g.fields) == 1
            and getattr(g.fields[0], "sval", None) in aliases
        ):  # fmt: skip
            g = aliases[g.fields[0].sval]
        group_nodes.append(g)
    group_sql = [_sql(g) for g in group_nodes]

    found: dict[str, Any] = {}
    for part in (stmt.targetList, stmt.havingClause, stmt.sortClause):
        _find_aggregates(part, found, known)
    aggs = {text: _partials(node, k) for k, (text, node) in enumerate(found.items())}

    select = [f"{g} AS g{i}" for i, g in enumerate(group_sql)]
    select += [f"{expr} AS {name}" for a in aggs.values() for expr, name in a.columns]
    partial = pglast.parse_sql(sql)[0].stmt
    partial.targetList = pglast.parse_sql("SELECT " + ", ".join(select))[0].stmt.targetList
    partial.groupClause = tuple(group_nodes) or None
    partial.havingClause = None
    partial.sortClause = None
    partial.limitCount = None
    partial.limitOffset = None
    partial_sql = _sql(partial)

    group_names = [f"g{i}" for i in range(len(group_sql))]
    agg_names = {text: f"a{k}" for k, text in enumerate(aggs)}

    def column(node: Any) -> Callable[[Any], Any] | None:
        text = _sql(node) if isinstance(node, ast.Node) else None
        if text in agg_names:
            key = agg_names[text]
            return lambda row: row[key]
        if text in group_sql:
            key = group_names[group_sql.index(text)]
            return lambda row: row[key]
        if isinstance(node, ast.ColumnRef):
            # t.region and region both name the group column region
            last = getattr(node.fields[-1], "sval", None)
            for i, g in enumerate(group_nodes):
                if isinstance(g, ast.ColumnRef) and getattr(g.fields[-1], "sval", None) == last:
                    key = group_names[i]
                    return lambda row: row[key]
        return None

    try:
        exprs = [compile_expr(t.val, column) for t in targets]
        having = compile_expr(stmt.havingClause, column) if stmt.havingClause else None
    except Unsupported as exc:
        raise _refuse(f"{exc} is not evaluated in the kernel") from None
    names = [_output_name(t) for t in targets]
    sorts = _sort_keys(stmt.sortClause or (), targets, names, column)
    offset = _constant(stmt.limitOffset, "OFFSET")
    limit = _constant(stmt.limitCount, "LIMIT")

    def finish(partials: pd.DataFrame) -> pd.DataFrame:
        outputs = {agg_names[t]: a.spec for t, a in aggs.items()}
        combined = combine(partials, by=group_names or None, **outputs)
        # NULL is pd.NA / NaT / None; a numeric or float NaN is a value and stays one
        rows = [
            {k: None if v is pd.NA or v is pd.NaT else v for k, v in r.items()}
            for r in combined.astype(object).to_dict("records")
        ]
        if having is not None:
            rows = [r for r in rows if having(r) is True]
        values = [[e(r) for e in exprs] for r in rows]
        keyed = [(v, [k(r, v) for k in sorts]) for r, v in zip(rows, values, strict=True)]
        for i in reversed(range(len(sorts))):
            desc, nulls_first = sorts[i].desc, sorts[i].nulls_first
            null_rank = (1 if nulls_first else -1) if desc else (-1 if nulls_first else 1)
            keyed.sort(key=functools.partial(_sort_value, i, null_rank), reverse=desc)
        out = [v for v, _ in keyed]
        out = out[offset or 0 :]
        if limit is not None:
            out = out[:limit]
        return _frame(names, out)

    return TwoStage(partial_sql, finish)


def _sort_value(i: int, null_rank: int, kv: tuple[list[Any], list[Any]]) -> tuple[int, Any]:
    # NULLs get their own rank so they never compare with values
    v = kv[1][i]
    return (null_rank, 0) if v is None else (0, v)


@dataclass
class _SortKey:
    get: Callable[[Any, list[Any]], Any]
    desc: bool
    nulls_first: bool

    def __call__(self, row: Any, values: list[Any]) -> Any:
        return self.get(row, values)


def _sort_keys(
    items: Sequence[Any], targets: list[Any], names: list[str], column: Callable[[Any], Any]
) -> list[_SortKey]:
    keys = []
    for item in items:
        node = item.node
        desc = item.sortby_dir.name == "SORTBY_DESC"
        nulls = item.sortby_nulls.name
        nulls_first = nulls == "SORTBY_NULLS_FIRST" or (nulls == "SORTBY_NULLS_DEFAULT" and desc)
        get: Callable[[Any, list[Any]], Any]
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
            pos = node.val.ival - 1
            if not 0 <= pos < len(targets):
                raise CallError(f"ORDER BY position {pos + 1} is not in select list",
                                sqlstate="42P10")  # fmt: skip
            get = functools.partial(lambda p, r, v: v[p], pos)
        elif (
            isinstance(node, ast.ColumnRef) and len(node.fields) == 1
            and getattr(node.fields[0], "sval", None) in names
        ):  # fmt: skip
            pos = names.index(node.fields[0].sval)
            get = functools.partial(lambda p, r, v: v[p], pos)
        else:
            try:
                expr = compile_expr(node, column)
            except Unsupported as exc:
                raise _refuse(f"{exc} is not evaluated in the kernel") from None
            get = functools.partial(lambda e, r, v: e(r), expr)
        keys.append(_SortKey(get, desc, nulls_first))
    return keys


def _constant(node: Any, what: str) -> int | None:
    if node is None:
        return None
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return None
        if isinstance(node.val, ast.Integer):
            return int(node.val.ival)
    raise _refuse(f"{what} must be a constant")


def _frame(names: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    """Columns with lossless dtypes inferred from the Python values."""
    data: dict[str, Any] = {}
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    seen: dict[str, int] = {}
    out_names = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out_names.append(name if n == 0 else f"{name}_{n}")
    for name, values in zip(out_names, cols, strict=True):
        present = [v for v in values if v is not None]
        dtype: str | None = None
        if present and all(isinstance(v, bool) for v in present):
            dtype = "boolean"
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            dtype = "Int64" if all(-(2**63) <= v < 2**63 for v in present) else None
        elif present and all(isinstance(v, float) for v in present):
            dtype = "Float64"
        elif present and all(isinstance(v, str) for v in present):
            dtype = "string"
        if dtype is not None:
            data[name] = pd.array(list(values), dtype=dtype)  # type: ignore[call-overload]
        else:
            data[name] = pd.array(list(values), dtype=object)
    return pd.DataFrame(data, columns=out_names)
