"""SQL call statements: ``SELECT * FROM f(...) [AS t(...)]`` -> a :class:`Call`, via pglast.

This module owns the notebook's SQL surface for calling proxy functions:

* ``:var`` notebook variables become bound parameters (never pasted into SQL);
* the call forms ``SELECT f(args) [AS x]``, ``SELECT * FROM f(args) [AS t(coldefs)]``,
  ``SELECT a, b FROM f(args)`` and ``SELECT (f(args)).*``;
* argument expressions: constants (kept as the text PL/Proxy would send, cast remotely),
  ``ARRAY[...]``, casts, named arguments (``name => value``), ``$n`` and ``:var`` parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast
from pglast.parser import ParseError, scan

from plproxy_magic.errors import CallError
from plproxy_magic.pgtypes import TypeRef, typeref_from_ast

__all__ = [
    "Call",
    "TypedNull",
    "bind_variables",
    "parse_array_literal",
    "parse_call",
    "parse_statements",
]

_MISSING = object()


@dataclass(frozen=True)
class TypedNull:
    """``NULL::type`` in a call: a NULL whose type still chooses between overloads."""

    type: TypeRef


@dataclass(frozen=True)
class Call:
    """One proxy function call found in a statement."""

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    coldefs: tuple[tuple[str, TypeRef], ...] | None = None
    projection: tuple[str, ...] | None = None
    alias: str | None = None
    scalar_context: bool = False


def bind_variables(sql: str, namespace: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Replace ``:name`` (outside quotes and comments, not ``::``) with ``$n`` parameters."""
    try:
        tokens = list(scan(sql))
    except ParseError as exc:
        raise CallError(f"syntax error: {exc}", sqlstate="42601") from None
    params: list[Any] = []
    numbers: dict[str, int] = {}
    out: list[str] = []
    pos = 0
    base = _max_param(tokens, sql)
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if tok.name == "ASCII_58" and nxt.start == tok.end + 1 and _is_word(sql, nxt):
            name = sql[nxt.start : nxt.end + 1]
            if name not in namespace:
                raise CallError(f"variable :{name} is not defined in the notebook")
            if name not in numbers:
                params.append(namespace[name])
                numbers[name] = base + len(params)
            out.append(sql[pos : tok.start])
            out.append(f"${numbers[name]}")
            pos = nxt.end + 1
    out.append(sql[pos:])
    return "".join(out), params


def _is_word(sql: str, tok: Any) -> bool:
    text = sql[tok.start : tok.end + 1]
    return text.replace("_", "a").isalnum() and not text[0].isdigit()


def _max_param(tokens: Sequence[Any], sql: str) -> int:
    nums = [int(sql[t.start + 1 : t.end + 1]) for t in tokens if t.name == "PARAM"]
    return max(nums, default=0)


def parse_statements(sql: str) -> list[tuple[Any, str]]:
    """Parse a cell into (statement node, statement source text) pairs."""
    try:
        raw = pglast.parse_sql(sql)
    except ParseError as exc:
        line = sql.count("\n", 0, exc.location) + 1 if exc.location is not None else None
        where = f" (line {line})" if line else ""
        raise CallError(f"{exc.args[0]}{where}", sqlstate="42601") from None
    out = []
    encoded = sql.encode()
    for r in raw:
        start = r.stmt_location or 0
        length = r.stmt_len or len(encoded) - start
        out.append((r.stmt, encoded[start : start + length].decode().strip()))
    return out


def parse_array_literal(text: str) -> Any:
    """PostgreSQL's array text form (``{a,"b c",NULL}``) -> nested lists of str/None."""
    pos = 0

    def value() -> Any:
        nonlocal pos
        if text[pos] == "{":
            pos += 1
            items: list[Any] = []
            while True:
                while text[pos].isspace():
                    pos += 1
                if text[pos] == "}":
                    pos += 1
                    return items
                items.append(value())
                while text[pos].isspace():
                    pos += 1
                if text[pos] == ",":
                    pos += 1
        if text[pos] == '"':
            pos += 1
            buf = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                buf.append(text[pos])
                pos += 1
            pos += 1
            return "".join(buf)
        start = pos
        while text[pos] not in ",}":
            pos += 1
        word = text[start:pos].strip()
        return None if word.upper() == "NULL" else word

    try:
        s = text.strip()
        # explicit bounds ('[2:3]={7,4}') are dropped: the sub-arrays are 1-based anyway
        text = s[s.index("=") + 1 :] if "=" in s and s.startswith("[") else s
        return value()
    except IndexError:
        raise CallError(f'malformed array literal: "{text}"', sqlstate="22P02") from None


def _value(node: Any, params: Sequence[Any]) -> Any:
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return None
        v = node.val
        if isinstance(v, ast.Integer):
            return v.ival
        if isinstance(v, ast.Boolean):
            return v.boolval
        if isinstance(v, ast.Float):
            return v.fval  # text, cast remotely: numerics stay exact
        return v.sval
    if isinstance(node, ast.ParamRef):
        if not 1 <= node.number <= len(params):
            raise CallError(f"there is no parameter ${node.number}", sqlstate="42P02")
        return params[node.number - 1]
    if isinstance(node, ast.TypeCast):
        inner = _value(node.arg, params)
        t = typeref_from_ast(node.typeName)
        if inner is None:
            return TypedNull(t)
        if t.array and isinstance(inner, str):
            return parse_array_literal(inner)
        mods = node.typeName.typmods
        if t.name == "numeric" and not t.array and mods and len(mods) == 2:
            # '2.345'::numeric(10,2) is 2.35 before the call, as PostgreSQL casts it
            from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

            try:
                scale = Decimal(1).scaleb(-mods[1].val.ival)
                return str(Decimal(str(inner)).quantize(scale, rounding=ROUND_HALF_UP))
            except InvalidOperation:
                raise CallError(
                    f'invalid input syntax for type numeric: "{inner}"', sqlstate="22P02"
                ) from None
        return inner
    if isinstance(node, ast.A_ArrayExpr):
        return [_value(e, params) for e in node.elements or ()]
    if isinstance(node, ast.A_Expr) and node.lexpr is None and node.name[0].sval == "-":
        inner = _value(node.rexpr, params)
        return -inner if isinstance(inner, int) else f"-{inner}"
    raise CallError(
        "call arguments must be constants, ARRAY[...], casts, :variables or $n parameters; "
        f"got {type(node).__name__}",
        sqlstate="0A000",
    )


def constant_value(node: Any, params: Sequence[Any] = ()) -> Any:
    """The value of a call argument: a literal, ARRAY[...], a cast of one, or ``$n``.

    Raises :class:`CallError` (0A000) for anything else.
    """
    return _value(node, params)


def _call_from_funccall(
    fc: Any, params: Sequence[Any]
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    name = ".".join(n.sval for n in fc.funcname)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for a in fc.args or ():
        if isinstance(a, ast.NamedArgExpr):
            kwargs[a.name] = _value(a.arg, params)
        else:
            if kwargs:
                raise CallError(
                    "positional argument cannot follow named argument", sqlstate="42601"
                )
            args.append(_value(a, params))
    return name, tuple(args), kwargs


def parse_call(
    stmt: Any, params: Sequence[Any] = (), is_proxy: Callable[[str], bool] | None = None
) -> Call | None:
    """The proxy call in ``stmt``, or None when it is no plain call form.

    ``is_proxy(name)`` tells proxy functions from others (``generate_series``): a FROM
    function that is no proxy function makes no plain call form.

    Outer SQL around calls (WHERE, ORDER BY, aggregates) is not a plain call form.
    """
    if not isinstance(stmt, ast.SelectStmt) or stmt.op.name != "SETOP_NONE":
        return None
    plain = not any(
        getattr(stmt, a)
        for a in ("whereClause", "groupClause", "havingClause", "sortClause", "limitCount",
                  "limitOffset", "distinctClause", "withClause", "windowClause", "valuesLists")
    )  # fmt: skip
    if not plain or not stmt.targetList:
        return None
    targets = stmt.targetList
    if not stmt.fromClause:
        if len(targets) != 1:
            return None
        val = targets[0].val
        if isinstance(val, ast.FuncCall) and not val.agg_star and not val.over:
            name, args, kwargs = _call_from_funccall(val, params)
            return Call(name, args, kwargs, alias=targets[0].name, scalar_context=True)
        if (
            isinstance(val, ast.A_Indirection)
            and isinstance(val.arg, ast.FuncCall)
            and len(val.indirection) == 1
            and isinstance(val.indirection[0], ast.A_Star)
        ):
            name, args, kwargs = _call_from_funccall(val.arg, params)
            return Call(name, args, kwargs)
        return None
    if len(stmt.fromClause) != 1 or not isinstance(stmt.fromClause[0], ast.RangeFunction):
        return None
    rf = stmt.fromClause[0]
    if len(rf.functions) != 1 or rf.ordinality or rf.lateral:
        return None
    fc = rf.functions[0][0]
    if not isinstance(fc, ast.FuncCall):
        return None
    if is_proxy is not None and not is_proxy(".".join(n.sval for n in fc.funcname)):
        return None
    name, args, kwargs = _call_from_funccall(fc, params)
    coldefs = None
    if rf.coldeflist:
        coldefs = tuple((c.colname, typeref_from_ast(c.typeName)) for c in rf.coldeflist)
    projection: list[str] | None = []
    for t in targets:
        v = t.val
        if not isinstance(v, ast.ColumnRef) or t.name is not None:
            return None
        last = v.fields[-1]
        if isinstance(last, ast.A_Star):
            projection = None
            if len(targets) != 1:
                return None
            break
        assert projection is not None
        projection.append(last.sval)
    return Call(
        name,
        args,
        kwargs,
        coldefs=coldefs,
        projection=tuple(projection) if projection is not None else None,
    )
