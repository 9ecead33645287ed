"""SQL around proxy function calls, evaluated in the kernel with DuckDB.

``SELECT sum(cnt) FROM (SELECT cnt FROM dy('...') AS t(cnt int8)) t`` runs in three stages:

1. every proxy function in a FROM clause (subqueries, CTEs, joins and set operations included)
   is found with its constant arguments (:func:`find_proxy_calls`);
2. each is called once, in textual order, through the caller's :data:`ProxyCall` callback,
   and its DataFrame is registered in a fresh in-memory DuckDB connection as
   ``__plproxy_0``, ``__plproxy_1``, ...;
3. each call is replaced in the statement by that table (keeping its alias, or the function's
   name as PostgreSQL does), the statement is deparsed with pglast and run in DuckDB, and the
   result comes back with the project's lossless dtypes.

DuckDB is set up to behave like PostgreSQL where the two differ and it matters:

* ``integer_division = true``: ``/`` on integers truncates toward zero (``-7 / 2 = -3``);
  ``%`` already has C semantics (``-7 % 2 = -1``);
* ``error_on_division_by_zero`` and ``scalar_subquery_error_on_multiple_rows`` (the DuckDB 2
  defaults, set explicitly): errors 22012 and 21000 as in PostgreSQL, never a silent NULL;
* ``default_null_order = 'nulls_last_on_asc_first_on_desc'``: NULLs sort as largest, as in
  PostgreSQL (``ASC`` → NULLS LAST, ``DESC`` → NULLS FIRST), also inside ordered aggregates;
* no ``default_collation`` (binary): text compares by UTF-8 bytes, i.e. code points, which is
  PostgreSQL's ``C`` / ``C.UTF-8`` order (the embedded servers' default). Partitions with a
  linguistic collation (``en_US.UTF-8``) order text differently from this module;
* ``TimeZone = 'UTC'``: ``timestamptz`` arithmetic, truncation and casts to text use UTC;
* ``python_enable_replacements = false``, ``enable_external_access = false`` and no extension
  autoloading: the outer SQL sees the proxy results only, never kernel variables or files.

The statement is also adjusted before DuckDB sees it: result columns get PostgreSQL's names
(``count``, ``sum``, ``?column?``, ``case``, ``int4`` for ``'1'::int`` — PostgreSQL's
FigureColname rules); SQL-syntax functions are printed back as syntax (``trim(BOTH FROM s)``,
``substring(s FROM 2)``, ``t AT TIME ZONE z``), other ``pg_catalog.`` qualifiers dropped;
``btrim`` → ``trim``, ``every`` → ``bool_and``, ``jsonb`` → ``json``; ``j -> k`` / ``j ->> k``
become ``json_extract[_string](j, k)`` (DuckDB's operators bind differently); ``COLLATE "C"``
/ ``"POSIX"`` / ``"default"`` are dropped (binary is already C order); identifiers that are
DuckDB keywords (``by``, ``pivot``, ``qualify``) are quoted.

Remaining differences from PostgreSQL (the tests mark those that change values with a
strict xfail):

* ``avg()`` of integers or numerics, and ``/`` with a numeric operand, give float8 (DuckDB
  DOUBLE), not exact numeric: ``7.0 / 2`` is ``3.5``, not ``3.5000000000000000``;
* unconstrained ``::numeric`` is DuckDB's ``DECIMAL(18,3)``: ``(1.0/3)::numeric`` is ``0.333``;
  give a precision (``::numeric(20,10)``) to be exact;
* ``round(float8)`` rounds half away from zero (PostgreSQL: half to even, ``round(2.5) = 2``);
* ``::varchar(n)`` / ``::char(n)`` do not truncate; ``SIMILAR TO`` is a regular-expression
  match; ``date_trunc()`` of a ``date`` gives a timestamp (PostgreSQL: timestamptz);
  ``array_length()`` of an empty array is 0 (PostgreSQL: NULL);
* ``sum(int8)`` gives int8 (an Int64 column) where PostgreSQL gives numeric (Decimal objects),
  unless the sum overflows int8;
* jsonb operators other than ``->`` / ``->>`` (``#>``, ``@>``, ``?``) do not exist;
* DuckDB identifiers are case-insensitive even when quoted, and DuckDB accepts more than
  PostgreSQL (select-list aliases in WHERE, ``//``, its own functions); PostgreSQL functions
  DuckDB lacks (``to_char``, ``initcap``, ``json_agg``, ...) are errors (SQLSTATE 42883).

Input DataFrames register with DuckDB's own mapping (nullable Int16/32/64, boolean, string,
Float32/64, tz-aware timestamps, lists, bytes, dates, UUIDs), with three exceptions:

* object columns of ``Decimal`` become ``DECIMAL(38, s)`` with ``s`` the largest scale
  present, exactly (trailing zeros are not kept per value: ``1.10`` and ``1.1`` are equal);
  NaN, infinities or more than 38 digits fall back to float8 (DOUBLE), losing exactness;
* object columns holding dicts (json), or declared ``json``/``jsonb`` in the column definition
  list, become DuckDB ``JSON`` (``->``, ``->>`` work); results of type JSON are parsed back;
* nullable float columns holding NaN keep NaN distinct from NULL (DuckDB would read a NaN as
  NULL); all-NULL object columns take their declared type when a column definition list
  gives one.

Result dtypes match :mod:`plproxy_magic.result`: Int16/Int32/Int64 (HUGEINT sums narrowed to
Int64, Decimal objects if they do not fit), Float32/Float64 with NaN kept apart from NA,
boolean, string, ``Decimal`` objects for DECIMAL, ``datetime64[us, UTC]`` for timestamptz,
``datetime64[us]`` for timestamp, and objects for the rest (dates, times, timedeltas, UUIDs,
bytes, lists, dicts for structs, maps and JSON). ``timestamptz`` nested inside lists or structs
comes back as naive UTC datetimes (DuckDB needs pytz for aware ones).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from pglast import ast, enums, printers
from pglast.stream import RawStream

from plproxy_magic.calls import constant_value
from plproxy_magic.errors import CallError

__all__ = ["ProxyCall", "ProxyCallSite", "find_proxy_calls", "run_outer"]

#: ``call(name as written, args, kwargs, coldefs) -> DataFrame``: one proxy function call.
#: ``coldefs`` is the ``AS t(col type, ...)`` list as (name, type text) pairs, or None.
ProxyCall = Callable[
    [str, tuple[Any, ...], dict[str, Any], tuple[tuple[str, str], ...] | None], pd.DataFrame
]

_TABLE = "__plproxy_{}"

_CONFIG: dict[str, Any] = {
    "integer_division": True,
    "error_on_division_by_zero": True,
    "scalar_subquery_error_on_multiple_rows": True,
    "default_null_order": "nulls_last_on_asc_first_on_desc",
    "preserve_insertion_order": True,
    "python_enable_replacements": False,
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


@dataclass(frozen=True)
class ProxyCallSite:
    """One proxy function call in a FROM clause, with its arguments evaluated.

    ``alias`` is the name the outer SQL knows the call's rows by: its alias, else the
    function's name (as in PostgreSQL). ``ordinality`` is True for ``WITH ORDINALITY``.
    """

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    coldefs: tuple[tuple[str, str], ...] | None
    alias: str
    ordinality: bool = False


# -- walking pglast's AST ---------------------------------------------------------------------


def _is(node: Any, cls: type[Any] | tuple[type[Any], ...]) -> bool:
    """isinstance() that does not narrow: pglast types every node field Optional."""
    return isinstance(node, cls)


def _walk(value: Any, visit: Callable[[Any], bool]) -> None:
    """Depth first over nodes; ``visit(node)`` returns False to skip the node's children."""
    if _is(value, ast.Node):
        if visit(value):
            for slot in type(value).__slots__:
                _walk(getattr(value, slot), visit)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, visit)


def _substitute(value: Any, new: Mapping[int, Any]) -> Any:
    """Replace the nodes whose id() is in ``new`` (replacements are walked too), in place."""
    if _is(value, ast.Node):
        if id(value) in new:
            return _substitute(new[id(value)], new)
        for slot in type(value).__slots__:
            old = getattr(value, slot)
            if _is(old, (ast.Node, list, tuple)):
                replaced = _substitute(old, new)
                if replaced is not old:
                    setattr(value, slot, replaced)
        return value
    if isinstance(value, (list, tuple)):
        items = [_substitute(v, new) for v in value]
        if any(a is not b for a, b in zip(items, value, strict=True)):
            return tuple(items)
    return value


def _funcname(fc: Any) -> str:
    return ".".join(n.sval for n in fc.funcname)


# -- finding the calls ------------------------------------------------------------------------


def _constant(node: Any, params: Sequence[Any], fname: str) -> Any:
    """A call argument's value, exactly as :mod:`plproxy_magic.calls` evaluates plain calls."""
    try:
        return constant_value(node, params)
    except CallError as exc:
        if exc.sqlstate != "0A000":
            raise
    raise CallError(
        f"argument {RawStream()(node)} of proxy function {fname}() must be a constant "
        "(a literal, cast, ARRAY[...], $n or :variable): calls taking values from other "
        "rows of the query (LATERAL) are not supported",
        sqlstate="0A000",
    )


def _site(rf: Any, params: Sequence[Any]) -> ProxyCallSite:
    fc = rf.functions[0][0]
    name = _funcname(fc)
    if rf.is_rowsfrom or len(rf.functions) != 1:
        raise CallError(
            f"proxy function {name}() cannot be called in ROWS FROM (...)", sqlstate="0A000"
        )
    if fc.agg_star or fc.agg_order or fc.agg_filter or fc.over:
        raise CallError(f"proxy function {name}() is not an aggregate", sqlstate="42809")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for a in fc.args or ():
        if _is(a, ast.NamedArgExpr):
            kwargs[a.name] = _constant(a.arg, params, name)
        elif kwargs:
            raise CallError("positional argument cannot follow named argument", sqlstate="42601")
        else:
            args.append(_constant(a, params, name))
    coldefs = None
    if rf.coldeflist:
        coldefs = tuple((c.colname, RawStream()(c.typeName)) for c in rf.coldeflist)
    alias = rf.alias.aliasname if rf.alias is not None else fc.funcname[-1].sval
    return ProxyCallSite(name, tuple(args), kwargs, coldefs, alias, bool(rf.ordinality))


def _find(
    stmt: Any, is_proxy: Callable[[str], bool], params: Sequence[Any]
) -> list[tuple[ProxyCallSite, Any]]:
    """(site, RangeFunction node) for each proxy call in ``stmt``, in textual order."""
    found: list[tuple[int, ProxyCallSite, Any]] = []

    def visit(node: Any) -> bool:
        if _is(node, ast.RangeFunction):
            fc: Any = node.functions[0][0] if node.functions else None
            if _is(fc, ast.FuncCall) and is_proxy(_funcname(fc)):
                found.append((fc.location or 0, _site(node, params), node))
                return False
        elif _is(node, ast.FuncCall) and is_proxy(_funcname(node)):
            raise CallError(
                f"proxy function {_funcname(node)}() must be called in FROM "
                "(SELECT ... FROM f(...)) when SQL surrounds the call",
                sqlstate="0A000",
            )
        return True

    _walk(stmt, visit)
    found.sort(key=lambda f: f[0])
    return [(site, node) for _, site, node in found]


def find_proxy_calls(
    stmt: Any, is_proxy: Callable[[str], bool], params: Sequence[Any] = ()
) -> list[ProxyCallSite]:
    """The proxy function calls in ``stmt``'s FROM clauses, in textual order (for explain).

    Raises :class:`CallError` for a call whose arguments are not constants and for a proxy
    function used outside FROM.
    """
    return [site for site, _ in _find(stmt, is_proxy, params)]


# -- PostgreSQL's names and spellings -----------------------------------------------------------


def output_name(target: Any) -> str:
    """The column name PostgreSQL gives a select-list item (``ResTarget``)."""
    if target.name:
        return str(target.name)
    return _figure_colname(target.val)[0]


def _figure_colname(node: Any) -> tuple[str, int]:
    """PostgreSQL's FigureColnameInternal: (name, strength) of a select-list expression."""
    if _is(node, ast.ColumnRef):
        last = node.fields[-1]
        if _is(last, ast.String):
            return last.sval, 2
    elif _is(node, ast.A_Indirection):
        last = node.indirection[-1]
        if _is(last, ast.String):
            return last.sval, 2
        return _figure_colname(node.arg)
    elif _is(node, ast.FuncCall):
        return node.funcname[-1].sval, 2
    elif _is(node, ast.A_Expr):
        if node.kind.name == "AEXPR_NULLIF":
            return "nullif", 2
    elif _is(node, ast.TypeCast):
        name, strength = _figure_colname(node.arg)
        if strength <= 1:
            return node.typeName.names[-1].sval, 1
        return name, strength
    elif _is(node, ast.CollateClause):
        return _figure_colname(node.arg)
    elif _is(node, ast.GroupingFunc):
        return "grouping", 2
    elif _is(node, ast.SubLink):
        kind = node.subLinkType.name
        if kind == "EXISTS_SUBLINK":
            return "exists", 2
        if kind == "ARRAY_SUBLINK":
            return "array", 2
        if kind == "EXPR_SUBLINK":
            sub = node.subselect
            while sub.larg is not None:
                sub = sub.larg
            if sub.targetList:  # not VALUES
                target = sub.targetList[0]
                return target.name or _figure_colname(target.val)[0], 2
    elif _is(node, ast.CaseExpr):
        name, strength = _figure_colname(node.defresult)
        return (name, strength) if strength > 1 else ("case", 1)
    elif _is(node, ast.A_ArrayExpr):
        return "array", 2
    elif _is(node, ast.RowExpr):
        return "row", 2
    elif _is(node, ast.CoalesceExpr):
        return "coalesce", 2
    elif _is(node, ast.MinMaxExpr):
        return ("greatest" if node.op.name == "IS_GREATEST" else "least"), 2
    elif _is(node, ast.SQLValueFunction):
        op = node.op.name.removeprefix("SVFOP_").removesuffix("_N")
        return op.lower(), 2  # current_date, localtimestamp, session_user, ...
    return "?column?", 0


def _name_columns(stmt: Any) -> None:
    """Give the result columns PostgreSQL's names (DuckDB names ``count(*)`` ``count_star()``)."""
    while stmt.larg is not None:
        stmt = stmt.larg
    for target in stmt.targetList or ():
        if not _is(target, ast.ResTarget) or target.name is not None:
            continue
        val = target.val
        # A column keeps its own name in DuckDB too (and an alias would spoil the message
        # of a misspelt one); stars expand to the tables' names.
        if _is(val, ast.ColumnRef) or (
            _is(val, ast.A_Indirection) and _is(val.indirection[-1], ast.A_Star)
        ):
            continue
        target.name = _figure_colname(val)[0]


_JSON_OPERATORS = {"->": "json_extract", "->>": "json_extract_string"}
# pg_catalog.f calls the parser makes for SQL syntax (trim(s), x SIMILAR TO y): the deparser
# prints them back as that syntax, which DuckDB reads; explicit pg_catalog.f() calls lose it.
_SQL_SYNTAX_FUNCTIONS = {"similar_to_escape"}
_FUNCTION_NAMES = {"btrim": "trim", "every": "bool_and"}
_TYPE_NAMES = {"jsonb": "json"}
_C_COLLATIONS = {"c", "posix", "default", "ucs_basic", "pg_c_utf8"}


def _to_duckdb_dialect(stmt: Any) -> None:
    """Rewrite the PostgreSQL spellings DuckDB does not read (in place)."""
    drop: dict[int, Any] = {}

    def visit(node: Any) -> bool:
        if (
            _is(node, ast.A_Expr)
            and node.kind.name == "AEXPR_OP"
            and len(node.name) == 1
            and node.name[0].sval in _JSON_OPERATORS
        ):
            # DuckDB parses j -> 0 ->> 'k' as j -> (0 ->> 'k'); calls keep PostgreSQL's order
            drop[id(node)] = ast.FuncCall(
                funcname=(ast.String(sval=_JSON_OPERATORS[node.name[0].sval]),),
                args=(node.lexpr, node.rexpr),
                funcformat=enums.CoercionForm.COERCE_EXPLICIT_CALL,
                location=-1,
            )
        elif _is(node, ast.FuncCall):
            names = [n.sval for n in node.funcname]
            if (
                len(names) == 2
                and names[0] == "pg_catalog"
                and node.funcformat.name == "COERCE_EXPLICIT_CALL"
                and names[1] not in _SQL_SYNTAX_FUNCTIONS
                and printers.get_special_function(".".join(names)) is None
            ):
                names = names[1:]
            if len(names) == 1:
                names = [_FUNCTION_NAMES.get(names[0], names[0])]
            node.funcname = tuple(ast.String(sval=n) for n in names)
        elif _is(node, ast.TypeName) and node.names[-1].sval in _TYPE_NAMES:
            node.names = (ast.String(sval=_TYPE_NAMES[node.names[-1].sval]),)
        elif _is(node, ast.CollateClause) and node.collname[-1].sval.lower() in _C_COLLATIONS:
            drop[id(node)] = node.arg
        return True

    _walk(stmt, visit)
    _substitute(stmt, drop)


@functools.cache
def _duckdb_keywords() -> frozenset[str]:
    """Words DuckDB cannot read as bare column names (``by``, ``pivot``, ``qualify``...)."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT keyword_name FROM duckdb_keywords() "
            "WHERE keyword_category IN ('reserved', 'type_function')"
        ).fetchall()
    return frozenset(r[0] for r in rows)


class _DuckDBStream(RawStream):
    """pglast's deparser, double-quoting DuckDB's keywords too (PostgreSQL's already are).

    ``special_functions`` prints ``pg_catalog.btrim(s)`` as ``trim(BOTH FROM s)``,
    ``pg_catalog.timezone(z, t)`` as ``t AT TIME ZONE z`` and so on: syntax DuckDB reads.
    """

    def __init__(self) -> None:
        super().__init__(special_functions=True)

    def _print_scalar(self, value: Any, is_name: bool, is_symbol: bool) -> None:
        if is_name and not is_symbol and isinstance(value, str) and value in _duckdb_keywords():
            self.write('"' + value.replace('"', '""') + '"')
        else:
            super()._print_scalar(value, is_name, is_symbol)  # type: ignore[misc]  # private


def _renumber_params(stmt: Any, params: Sequence[Any]) -> list[Any]:
    """Number the ``$n`` left in the outer SQL 1..k (DuckDB wants every value used)."""
    refs: list[Any] = []

    def visit(node: Any) -> bool:
        if _is(node, ast.ParamRef):
            refs.append(node)
        return True

    _walk(stmt, visit)
    numbers = sorted({r.number for r in refs})
    for n in numbers:
        if not 1 <= n <= len(params):
            raise CallError(f"there is no parameter ${n}", sqlstate="42P02")
    new = {n: i + 1 for i, n in enumerate(numbers)}
    for r in refs:
        r.number = new[r.number]
    return [params[n - 1] for n in numbers]


# -- DataFrames into DuckDB -------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_null(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _has_dict(v: Any) -> bool:
    if isinstance(v, dict):
        return True
    return isinstance(v, list) and any(_has_dict(x) for x in v)


def _decimal_type(values: Sequence[Decimal | int]) -> str | None:
    """``DECIMAL(38, s)`` holding every value exactly, or None (NaN, infinity, too wide)."""
    scale = digits = 0
    for v in values:
        d = Decimal(v)
        if not d.is_finite():
            return None
        exp = int(d.as_tuple().exponent)
        scale = max(scale, -exp)
        digits = max(digits, len(d.as_tuple().digits) + exp)
    return f"DECIMAL(38, {scale})" if scale + digits <= 38 else None


def _column_in(s: pd.Series, declared: str | None) -> tuple[Any, str | None]:
    """(values to register, SQL type to cast them to or None) for one input column."""
    if isinstance(s.dtype, (pd.Float32Dtype, pd.Float64Dtype)):
        mask = s.isna().to_numpy()
        data = s.to_numpy(dtype="float64", na_value=np.nan)
        if (np.isnan(data) & ~mask).any():
            # DuckDB reads NaN as NULL: send text, cast back, so NaN stays a value.
            text = [None if m else repr(float(v)) for v, m in zip(data, mask, strict=True)]
            single = isinstance(s.dtype, pd.Float32Dtype)
            return pd.array(text, dtype=object), "FLOAT" if single else "DOUBLE"
        return s.array, None
    if s.dtype != object:
        return s.array, None
    values = [v for v in s if not _is_null(v)]
    want_json = declared is not None and declared.lower() in ("json", "jsonb")
    if want_json or any(_has_dict(v) for v in values):
        text = [None if _is_null(v) else json.dumps(v, default=str) for v in s]
        return pd.array(text, dtype=object), "JSON"
    decimals = [v for v in values if isinstance(v, (Decimal, int)) and not isinstance(v, bool)]
    if values and len(decimals) == len(values) and any(isinstance(v, Decimal) for v in values):
        exact = _decimal_type(decimals)
        if exact is None:
            floats = [None if _is_null(v) else repr(float(v)) for v in s]
            return pd.array(floats, dtype=object), "DOUBLE"
        text = [None if _is_null(v) else format(Decimal(v), "f") for v in s]
        return pd.array(text, dtype=object), exact
    if not values and declared is not None:
        return s.array, declared  # all NULL: DuckDB would type it "NULL"
    return s.array, None


def _known_type(con: duckdb.DuckDBPyConnection, sql_type: str) -> bool:
    """Whether DuckDB reads ``sql_type`` (not user types such as ``public.mood``)."""
    try:
        con.execute(f"SELECT CAST(NULL AS {sql_type})").fetchall()
    except duckdb.Error:
        return False
    return True


def _register(
    con: duckdb.DuckDBPyConnection,
    name: str,
    df: pd.DataFrame,
    coldefs: tuple[tuple[str, str], ...] | None,
) -> None:
    """Register ``df`` as view ``name``: positional raw columns, cast and renamed."""
    declared = dict(coldefs) if coldefs else {}
    raw: dict[str, Any] = {}
    select: list[str] = []
    for i in range(df.shape[1]):
        colname = str(df.columns[i])
        values, cast = _column_in(df.iloc[:, i], declared.get(colname))
        raw[f"c{i}"] = values
        if cast is not None and cast == declared.get(colname) and not _known_type(con, cast):
            cast = None
        expr = f"c{i}" if cast is None else f"CAST(c{i} AS {cast})"
        select.append(f"{expr} AS {_quote(colname)}")
    con.register(f"{name}_in", pd.DataFrame(raw, index=range(len(df))))
    columns = ", ".join(select) or "*"
    con.execute(f"CREATE TEMP VIEW {name} AS SELECT {columns} FROM {name}_in")


# -- DuckDB results out -----------------------------------------------------------------------

_INTS = {"tinyint": "Int16", "utinyint": "Int16", "smallint": "Int16", "usmallint": "Int32",
         "integer": "Int32", "uinteger": "Int64", "bigint": "Int64"}  # fmt: skip
_WIDE_INTS = {"hugeint", "uhugeint", "ubigint"}
_INT64 = (-(2**63), 2**63 - 1)
_TIMESTAMPS = {"timestamp", "timestamp_ms", "timestamp_ns", "timestamp_s"}


def _column_out(values: list[Any], kind: str, text: str) -> Any:
    """A pandas array for one result column of Python values (see the module docstring)."""
    if kind in _INTS:
        return pd.array(values, dtype=_INTS[kind])  # type: ignore[call-overload]
    if kind in _WIDE_INTS:
        if all(v is None or _INT64[0] <= v <= _INT64[1] for v in values):
            return pd.array(values, dtype="Int64")
        return pd.array([None if v is None else Decimal(v) for v in values], dtype=object)
    if kind in ("float", "double"):
        mask = np.array([v is None for v in values], dtype=bool)
        dtype = "float32" if kind == "float" else "float64"
        data = np.array([0.0 if v is None else v for v in values], dtype=dtype)
        return pd.arrays.FloatingArray(data, mask)
    if kind == "boolean":
        return pd.array(values, dtype="boolean")
    if text == "JSON":
        return pd.array([None if v is None else json.loads(v) for v in values], dtype=object)
    if kind == "varchar":
        return pd.array(values, dtype="string")
    if kind == "timestamp with time zone":  # fetched as epoch microseconds
        us = np.array([np.iinfo(np.int64).min if v is None else v for v in values], "int64")
        return pd.Series(us.view("datetime64[us]")).dt.tz_localize("UTC").array
    if kind in _TIMESTAMPS:
        return pd.Series(np.array(values, dtype="datetime64[us]")).array
    if kind == "blob":
        return pd.array([None if v is None else bytes(v) for v in values], dtype=object)
    return pd.array(values, dtype=object)


def _fetch(rel: duckdb.DuckDBPyRelation) -> pd.DataFrame:
    """Run ``rel`` and build the DataFrame; timestamptz is fetched as epoch microseconds."""
    names = list(rel.columns)
    kinds = [t.id for t in rel.types]
    texts = [str(t) for t in rel.types]
    exprs = []
    for i, (kind, text) in enumerate(zip(kinds, texts, strict=True)):
        if kind == "timestamp with time zone":
            exprs.append(f"epoch_us(c{i})")
        elif "TIMESTAMP WITH TIME ZONE" in text:
            exprs.append(f"CAST(c{i} AS {text.replace('TIMESTAMP WITH TIME ZONE', 'TIMESTAMP')})")
        else:
            exprs.append(f"c{i}")
    plain = [f"c{i}" for i in range(len(kinds))]
    if exprs != plain:
        cols = ", ".join(plain)
        wrapped = rel.query(
            "__plproxy_result",
            f"SELECT {', '.join(exprs)} FROM __plproxy_result AS __plproxy_result({cols})",
        )
        assert wrapped is not None
        rel = wrapped
    rows = rel.fetchall()
    data = list(zip(*rows, strict=True)) if rows else [() for _ in kinds]
    arrays = [_column_out(list(data[i]), kinds[i], texts[i]) for i in range(len(kinds))]
    frame = pd.DataFrame(dict(enumerate(arrays)), index=range(len(rows)))
    frame.columns = pd.Index(names, dtype=object)
    return frame


# -- errors -----------------------------------------------------------------------------------

_SQLSTATES: list[tuple[type[Exception], str | None, str]] = [
    (duckdb.ParserException, None, "42601"),
    (duckdb.BinderException, "Referenced column", "42703"),
    (duckdb.BinderException, "does not have a column", "42703"),
    (duckdb.BinderException, "Referenced table", "42P01"),
    (duckdb.BinderException, "No function matches", "42883"),
    (duckdb.CatalogException, "Function with name", "42883"),
    (duckdb.CatalogException, "Table with name", "42P01"),
    (duckdb.CatalogException, "Type with name", "42704"),
    (duckdb.ConversionException, "out of range", "22003"),
    (duckdb.ConversionException, None, "22P02"),
    (duckdb.OutOfRangeException, None, "22003"),
    (duckdb.Error, "Division by zero", "22012"),
    (duckdb.Error, "More than one row returned by a subquery", "21000"),
    (duckdb.BinderException, "must appear in the GROUP BY clause", "42803"),
]


def _error(exc: duckdb.Error) -> CallError:
    """DuckDB's message (first line: the rest quotes the rewritten SQL) with a SQLSTATE."""
    message = str(exc).strip().splitlines()[0]
    sqlstate = "XX000"
    for cls, text, state in _SQLSTATES:
        if isinstance(exc, cls) and (text is None or text in message):
            sqlstate = state
            break
    # the registered frames are pandas scans, which DuckDB calls values lists
    message = message.replace('Values list "', 'Table "')
    return CallError(f"outer SQL (DuckDB): {message}", sqlstate=sqlstate)


# -- the stage ---------------------------------------------------------------------------------


def run_outer(
    stmt: Any,
    sql: str,
    params: Sequence[Any],
    call: ProxyCall,
    is_proxy: Callable[[str], bool],
    *,
    require_call: bool = True,
) -> pd.DataFrame:
    """Evaluate ``stmt`` (a SELECT around proxy calls; ``sql`` is its source text).

    ``require_call=False`` also evaluates a SELECT without proxy calls (the input rows of
    a batched select-list call, :mod:`plproxy_magic.batch`).

    Every proxy call in a FROM clause is made once through ``call``, in textual order;
    errors raised by ``call`` propagate unchanged. The outer SQL runs in DuckDB; its errors
    become :class:`CallError` (``outer SQL (DuckDB): ...``).
    """
    if not _is(stmt, ast.SelectStmt) or stmt.intoClause is not None:
        raise CallError("only a SELECT can surround proxy function calls", sqlstate="0A000")
    stmt = copy.deepcopy(stmt)
    sites = _find(stmt, is_proxy, params)
    if not sites and require_call:
        raise CallError("the query contains no proxy function call")
    frames = [call(s.name, s.args, dict(s.kwargs), s.coldefs) for s, _ in sites]
    _name_columns(stmt)
    _to_duckdb_dialect(stmt)
    tables: dict[int, Any] = {}
    for i, (site, node) in enumerate(sites):
        colnames = node.alias.colnames if node.alias is not None else None
        tables[id(node)] = ast.RangeVar(
            relname=_TABLE.format(i),
            inh=True,
            relpersistence="p",
            alias=ast.Alias(aliasname=site.alias, colnames=colnames),
        )
    _substitute(stmt, tables)
    values = _renumber_params(stmt, params)
    outer_sql = _DuckDBStream()(stmt)
    con = duckdb.connect(config=_CONFIG)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = max([len(f) for f in frames] + [1000])
        con.execute(f"SET pandas_analyze_sample = {rows}")
        for i, ((site, _), df) in enumerate(zip(sites, frames, strict=True)):
            if site.ordinality:
                df = df.copy()
                numbers = pd.Series(range(1, len(df) + 1), index=df.index, dtype="Int64")
                df.insert(df.shape[1], "ordinality", numbers, allow_duplicates=True)
            _register(con, _TABLE.format(i), df, site.coldefs)
        rel = con.sql(outer_sql, params=values or None)
        assert rel is not None  # a SELECT always has a result
        return _fetch(rel)
    except duckdb.Error as exc:
        raise _error(exc) from None
    finally:
        con.close()
