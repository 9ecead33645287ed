"""Evaluating CLUSTER / CONNECT / RUN ON expressions in the kernel.

PL/Proxy runs ``select * from hashtext($1)`` in the proxy database. We compile the same local
query once (pglast) into a small Python closure over the call's argument values:

* built-in PostgreSQL hash functions (bit-identical, :mod:`plproxy_magic.hashing`) and a few
  scalar helpers routing expressions use (``abs``, ``ascii``, ``lower``, ...);
* Python functions the user registered (:meth:`Session.routing_function`);
* otherwise a fallback: the whole local query evaluated as SQL on an attached proxy
  database, when the session has one; else a clear error saying both ways to provide it.

Constants, ``$n`` parameters, casts and integer/text operators are evaluated with
PostgreSQL's semantics (C division and remainder, ``||``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pglast
from pglast import ast

from plproxy_magic import hashing
from plproxy_magic.calls import bit_string_text
from plproxy_magic.errors import RoutingError, SqlError
from plproxy_magic.pgtypes import INT_TYPES, typeref_from_ast
from plproxy_magic.query import RemoteQuery

__all__ = ["BUILTIN_FUNCTIONS", "Evaluator", "SqlFallback", "compile_local"]

#: ``fallback(sql, params) -> rows``: evaluate a local query on a real database.
SqlFallback = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
Evaluator = Callable[[Sequence[Any]], list[Any]]
Resolver = Callable[[str], Callable[..., Any] | None]


def _strict(f: Callable[..., Any]) -> Callable[..., Any]:
    """SQL strictness: any NULL argument gives NULL."""

    def g(*args: Any) -> Any:
        return None if any(a is None for a in args) else f(*args)

    g.__name__ = f.__name__
    return g


def _lower_char(c: str) -> str:
    # PostgreSQL maps case one character at a time (towlower): 'İ' -> 'i', never two chars.
    low = c.lower()
    return low if len(low) == 1 else low[0]


def _upper_char(c: str) -> str:
    # towupper keeps characters whose upper case is longer ('ß' stays 'ß', not 'SS').
    up = c.upper()
    return up if len(up) == 1 else c


BUILTIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "hashtext": _strict(hashing.hashtext),
    "hashtextextended": _strict(hashing.hashtextextended),
    "hashint2": _strict(hashing.hashint2),
    "hashint4": _strict(hashing.hashint4),
    "hashint8": _strict(hashing.hashint8),
    "hashint2extended": _strict(hashing.hashint2extended),
    "hashint4extended": _strict(hashing.hashint4extended),
    "hashint8extended": _strict(hashing.hashint8extended),
    "hashbpchar": _strict(hashing.hashbpchar),
    "hashvarchar": _strict(hashing.hashtext),
    "uuid_hash": _strict(hashing.uuid_hash),
    "abs": _strict(abs),
    "ascii": _strict(lambda s: ord(s[0]) if s else 0),
    "lower": _strict(lambda s: "".join(_lower_char(c) for c in s)),
    "upper": _strict(lambda s: "".join(_upper_char(c) for c in s)),
    "length": _strict(len),
    "mod": _strict(lambda a, b: int(np.fmod(a, b))),
}


def _c_div(a: int, b: int) -> int:
    if b == 0:
        raise RoutingError("division by zero", sqlstate="22012")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _c_mod(a: int, b: int) -> int:
    if b == 0:
        raise RoutingError("division by zero", sqlstate="22012")
    return a - b * _c_div(a, b)


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _c_div,
    "%": _c_mod,
    "||": lambda a, b: f"{a}{b}",
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "#": lambda a, b: a ^ b,
}

Node = Callable[[Sequence[Any]], Any]


class _Unsupported(Exception):
    """The expression needs SQL we do not evaluate in the kernel."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _cast(type_node: Any, inner: Node) -> Node:
    t = typeref_from_ast(type_node)
    if t.array:
        return inner
    if t.name in INT_TYPES:
        return lambda v: t.routing_value(inner(v))
    if t.name in ("text", "varchar", "bpchar", "name"):
        return lambda v: None if (x := inner(v)) is None else str(x)
    return inner


def _compile(node: Any, resolve: Resolver) -> Node:
    if isinstance(node, ast.ParamRef):
        k = node.number - 1
        return lambda v: v[k]
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return lambda v: None
        val = node.val
        const: Any = (
            val.ival if isinstance(val, ast.Integer)
            else val.boolval if isinstance(val, ast.Boolean)
            else val.sval if isinstance(val, ast.String)
            else bit_string_text(val.bsval) if isinstance(val, ast.BitString)
            else val.fval
        )  # fmt: skip
        return lambda v: const
    if isinstance(node, ast.TypeCast):
        return _cast(node.typeName, _compile(node.arg, resolve))
    if isinstance(node, ast.A_Expr) and len(node.name) == 1:
        op = node.name[0].sval
        fn = _OPS.get(op)
        if fn is not None and node.lexpr is not None:
            left, right = _compile(node.lexpr, resolve), _compile(node.rexpr, resolve)

            def binop(v: Sequence[Any]) -> Any:
                a, b = left(v), right(v)
                return None if a is None or b is None else fn(a, b)

            return binop
        if op == "-" and node.lexpr is None:
            right = _compile(node.rexpr, resolve)
            return lambda v: None if (x := right(v)) is None else -x
    if isinstance(node, ast.FuncCall) and not node.agg_star and not node.over:
        name = ".".join(n.sval for n in node.funcname)
        impl = resolve(name)
        if impl is None:
            raise _Unsupported(name)
        args = [_compile(a, resolve) for a in node.args or ()]
        return lambda v: impl(*[a(v) for a in args])
    raise _Unsupported(type(node).__name__)


def _local_expression(stmt: Any) -> Any:
    """The expression of a local query: ``select <expr>`` or ``select * from <func>(...)``.

    Any other shape (a UNION, a JOIN, a subquery in FROM) is SQL the kernel does not
    evaluate: :class:`_Unsupported`, so it goes to the SQL fallback or a clear error.
    """
    if isinstance(stmt, ast.SelectStmt) and stmt.targetList:
        if not stmt.fromClause:
            return stmt.targetList[0].val
        first = stmt.fromClause[0]
        if isinstance(first, ast.RangeFunction) and first.functions:
            return first.functions[0][0]
    raise _Unsupported("this local query")


def _rows(value: Any) -> list[Any]:
    """A set-returning Python function may return any iterable; a scalar is one row."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    if isinstance(value, Mapping):
        raise RoutingError("a routing function must return a value or a list of values")
    return list(value)


def compile_local(
    query: RemoteQuery,
    resolve: Resolver,
    fallback: SqlFallback | None,
    *,
    label: str,
) -> Evaluator:
    """Compile a local query (``select * from f($1)`` / ``select f($1)``) to a closure.

    The closure takes the call's argument values and returns the result rows' single values.
    """
    try:
        stmt: Any = pglast.parse_sql(query.sql)[0].stmt
    except (pglast.parser.ParseError, UnicodeEncodeError) as exc:
        # PL/Proxy's proxy database would reject the local query the same way, per call.
        message = (
            str(exc.args[0]).split(", at index")[0]
            if isinstance(exc, pglast.parser.ParseError)
            else 'invalid byte sequence for encoding "UTF8"'
        )

        def invalid(values: Sequence[Any]) -> list[Any]:
            raise SqlError(message, sqlstate="42601")

        return invalid
    indexes = query.arg_indexes
    try:
        node = _compile(_local_expression(stmt), resolve)
    except _Unsupported as exc:
        missing = exc.what
        if fallback is not None:
            sql = query.sql

            def via_sql(values: Sequence[Any]) -> list[Any]:
                return [row[0] for row in fallback(sql, [values[i] for i in indexes])]

            return via_sql

        def unknown(values: Sequence[Any]) -> list[Any]:
            raise RoutingError(
                f"cannot evaluate {missing} in the kernel: register a Python implementation "
                f"with @plproxy_magic.routing_function, or attach a proxy database "
                f"(%cluster attach) where it exists as SQL",
                function=label,
                sqlstate="42883",
            )

        return unknown

    def evaluate(values: Sequence[Any]) -> list[Any]:
        return _rows(node([values[i] for i in indexes]))

    return evaluate


#: Hash functions with a vectorised form: one numpy pass over a whole argument column.
_VECTOR_HASHES: dict[str, Callable[[Any], Any]] = {
    "hashtext": hashing.hashtext,
    "hashvarchar": hashing.hashtext,
    "hashbpchar": hashing.hashbpchar,
    "hashint2": hashing.hashint2,
    "hashint4": hashing.hashint4,
    "hashint8": hashing.hashint8,
}

# The declared argument types under which a vectorised hash sees the same values.
_CAST_OK = {
    "hashtext": ("text", "varchar"),
    "hashvarchar": ("text", "varchar"),
    "hashbpchar": ("bpchar",),
    "hashint2": ("int2",),
    "hashint4": ("int2", "int4"),
    "hashint8": ("int2", "int4", "int8"),
}

VectorEvaluator = Callable[[Sequence[Sequence[Any]]], np.ndarray]


def _builtin_hash(query: RemoteQuery, resolve: Resolver) -> tuple[Callable[[Any], Any], int] | None:
    """``(hash function, argument index)`` when the local query is a built-in hash of one
    argument of a type it hashes as is (not overridden by a user function), else None."""
    try:
        expr = _local_expression(pglast.parse_sql(query.sql)[0].stmt)
    except (pglast.parser.ParseError, UnicodeEncodeError, _Unsupported):
        return None
    if not isinstance(expr, ast.FuncCall) or len(expr.args or ()) != 1:
        return None
    name = ".".join(n.sval for n in expr.funcname).lower()
    short = name.rsplit(".", 1)[-1]
    if name not in (short, f"pg_catalog.{short}") or short not in _VECTOR_HASHES:
        return None
    if resolve(short) is not BUILTIN_FUNCTIONS.get(short):
        return None  # a user routing function of the same name wins
    arg = expr.args[0]
    if isinstance(arg, ast.TypeCast):  # $1::int4, the argument's declared type
        cast = typeref_from_ast(arg.typeName)
        if not (cast.name in _CAST_OK.get(short, ()) and not cast.array):
            return None
        arg = arg.arg
    if not isinstance(arg, ast.ParamRef) or len(query.arg_indexes) != 1:
        return None
    return _VECTOR_HASHES[short], query.arg_indexes[0]


def compile_scalar_hash(
    query: RemoteQuery, resolve: Resolver, general: Evaluator
) -> Evaluator | None:
    """The per-call fast path of :func:`compile_vector`: ``RUN ON hashint4(id)`` hashes the
    one value directly (about a microsecond) instead of walking the expression tree.

    A value the hash refuses goes to ``general`` (the :func:`compile_local` closure), so
    errors read exactly as they would without the fast path.
    """
    found = _builtin_hash(query, resolve)
    if found is None:
        return None
    fn, index = found

    def hash_value(values: Sequence[Any]) -> list[Any]:
        try:
            return [fn(values[index])]
        except (ValueError, TypeError):
            return general(values)

    return hash_value


def compile_vector(query: RemoteQuery, resolve: Resolver) -> VectorEvaluator | None:
    """For ``select * from hashint4($1)``-style local queries (a built-in hash of one
    argument, not overridden by a user function): a closure hashing a whole column at once.

    It takes the argument columns (``columns[i]`` = every row's value of argument *i*) and
    returns int64 hash values; None for any other expression (evaluate per row then).
    """
    found = _builtin_hash(query, resolve)
    if found is None:
        return None
    fn, index = found

    def hash_column(columns: Sequence[Sequence[Any]]) -> np.ndarray:
        column = columns[index]
        if any(v is None for v in column):
            raise RoutingError("Hash function returned NULL")
        return np.asarray(fn(list(column)), dtype=np.int64)

    return hash_column
