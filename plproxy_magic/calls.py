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
    "bit_string_text",
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
    _refuse_nul(sql)
    try:
        tokens = list(scan(sql))
    except ParseError as exc:
        raise CallError(f"syntax error: {exc}", sqlstate="42601") from None
    except UnicodeEncodeError as exc:
        raise _not_utf8(exc) from None
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


def _refuse_nul(sql: str) -> None:
    """PostgreSQL's parser reads a C string: it would silently stop at a NUL character and
    drop the rest of the script, so a NUL anywhere is refused, as the server refuses it."""
    if "\x00" in sql:
        line = sql.count("\n", 0, sql.index("\x00")) + 1
        raise CallError(
            f'invalid byte sequence for encoding "UTF8": 0x00 (line {line})', sqlstate="22021"
        )


def _not_utf8(exc: UnicodeEncodeError) -> CallError:
    """A lone surrogate (JSON can carry one into a cell) has no UTF-8 form: PostgreSQL's error."""
    bad = exc.object[exc.start : exc.end].encode("utf-8", "surrogatepass")
    codes = " ".join(f"0x{b:02x}" for b in bad)
    return CallError(f'invalid byte sequence for encoding "UTF8": {codes}', sqlstate="22021")


def _is_word(sql: str, tok: Any) -> bool:
    text = sql[tok.start : tok.end + 1]
    return text.replace("_", "a").isalnum() and not text[0].isdigit()


def _max_param(tokens: Sequence[Any], sql: str) -> int:
    nums = [int(sql[t.start + 1 : t.end + 1]) for t in tokens if t.name == "PARAM"]
    return max(nums, default=0)


def parse_statements(sql: str) -> list[tuple[Any, str]]:
    """Parse a cell into (statement node, statement source text) pairs."""
    _refuse_nul(sql)
    try:
        raw = pglast.parse_sql(sql)
    except ParseError as exc:
        # ParseError(message, index): the index of the offending character, or None.
        index = exc.args[1] if len(exc.args) > 1 else None
        where = f" (line {sql.count(chr(10), 0, index) + 1})" if index is not None else ""
        raise CallError(f"{exc.args[0]}{where}", sqlstate="42601") from None
    except UnicodeEncodeError as exc:
        raise _not_utf8(exc) from None
    out = []
    for r in raw:
        # pglast gives statement offsets in characters (not UTF-8 bytes); 0 means "to the end".
        start = r.stmt_location or 0
        end = start + r.stmt_len if r.stmt_len else len(sql)
        text = sql[start:end].strip()
        if _too_deep(r.stmt):
            raise CallError(
                f"statement nested more than {MAX_DEPTH} levels deep: {text[:60]!r}",
                sqlstate="54001",
            )
        out.append((r.stmt, text))
    return out


#: How deep a statement's syntax tree may be. The kernel walks trees recursively (copies,
#: deparsing, argument evaluation), about nine Python frames per level at worst, within
#: Python's recursion limit of 1000; PostgreSQL's own bound is ``max_stack_depth``.
MAX_DEPTH = 80


def _too_deep(stmt: Any) -> bool:
    """Whether ``stmt``'s tree is more than :data:`MAX_DEPTH` nodes deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(stmt, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, tuple):
            stack.extend((child, depth) for child in node)
        elif isinstance(node, ast.Node):
            if depth > MAX_DEPTH:
                return True
            for name in node:
                child = getattr(node, name)
                if isinstance(child, (ast.Node, tuple)):
                    stack.append((child, depth + 1))
    return False


#: PostgreSQL's MAXDIM: arrays have at most six dimensions.
MAX_ARRAY_DIMS = 6


def parse_array_literal(text: str) -> Any:
    """PostgreSQL's array text form (``{a,"b c",NULL}``) -> nested lists of str/None.

    As strict as ``array_in``: the value starts with ``{`` (after optional dimensions such as
    ``[2:3]=``), nothing but whitespace follows the closing brace, at most six dimensions, a
    backslash escapes the next character; anything else is ``malformed array literal``.
    """
    s = text.strip()
    if s.startswith("["):
        # explicit bounds ('[2:3]={7,4}') are dropped: the sub-arrays are 1-based anyway
        s = s[s.index("=") + 1 :].lstrip() if "=" in s else ""
    pos = 0

    def malformed() -> CallError:
        return CallError(f'malformed array literal: "{text}"', sqlstate="22P02")

    def skip_space() -> None:
        nonlocal pos
        while pos < len(s) and s[pos].isspace():
            pos += 1

    def element() -> Any:
        nonlocal pos
        buf: list[str] = []
        if s[pos] == '"':
            pos += 1
            while s[pos] != '"':
                if s[pos] == "\\":
                    pos += 1
                buf.append(s[pos])
                pos += 1
            pos += 1
            return "".join(buf)
        escaped = False
        keep = 0  # trailing whitespace is dropped unless escaped
        while s[pos] not in ",}":
            if s[pos] in '{"':
                raise malformed()
            if s[pos] == "\\":
                pos += 1
                escaped = True
                keep = len(buf) + 1
            elif not s[pos].isspace():
                keep = len(buf) + 1
            buf.append(s[pos])
            pos += 1
        word = "".join(buf[:keep])
        if not word and not escaped:
            raise malformed()
        return None if word.upper() == "NULL" and not escaped else word

    def array(depth: int) -> list[Any]:
        nonlocal pos
        if depth > MAX_ARRAY_DIMS:
            raise CallError(
                f"number of array dimensions exceeds the maximum allowed ({MAX_ARRAY_DIMS})",
                sqlstate="54000",
            )
        pos += 1  # the "{"
        items: list[Any] = []
        skip_space()
        if s[pos] == "}":
            pos += 1
            return items
        while True:
            skip_space()
            items.append(array(depth + 1) if s[pos] == "{" else element())
            skip_space()
            if s[pos] == "}":
                pos += 1
                return items
            if s[pos] != ",":
                raise malformed()
            pos += 1

    try:
        if not s.startswith("{"):
            raise malformed()
        value = array(1)
    except IndexError:
        raise malformed() from None
    skip_space()
    if pos != len(s):
        raise malformed()  # junk after the closing brace
    return value


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
        if isinstance(v, ast.BitString):
            return bit_string_text(v.bsval)
        return v.sval
    if isinstance(node, ast.ParamRef):
        if not 1 <= node.number <= len(params):
            raise CallError(f"there is no parameter ${node.number}", sqlstate="42P02")
        return params[node.number - 1]
    if isinstance(node, ast.TypeCast):
        inner = _value(node.arg, params)
        t = typeref_from_ast(node.typeName)
        if inner is None or isinstance(inner, TypedNull):
            return TypedNull(t)
        if t.array and isinstance(inner, str):
            return parse_array_literal(inner)
        mods = node.typeName.typmods
        if t.name == "numeric" and not t.array and mods and len(mods) == 2:
            return _numeric_scale(inner, mods[1])
        return inner
    if isinstance(node, ast.A_ArrayExpr):
        return [_value(e, params) for e in node.elements or ()]
    if (
        isinstance(node, ast.A_Expr)
        and node.lexpr is None
        and len(node.name) == 1
        and node.name[0].sval == "-"
    ):
        return _negate(_value(node.rexpr, params))
    raise CallError(
        "call arguments must be constants, ARRAY[...], casts, :variables or $n parameters; "
        f"got {type(node).__name__}",
        sqlstate="0A000",
    )


def bit_string_text(bsval: str) -> str:
    """``B'101'`` / ``X'1F'`` (pglast: ``b101`` / ``x1F``) -> the bit string's text ``00011111``."""
    kind, digits = bsval[0], bsval[1:]
    if kind == "b":
        bad = next((c for c in digits if c not in "01"), None)
        if bad is not None:
            raise CallError(f'"{bad}" is not a valid binary digit', sqlstate="22P02")
        return digits
    try:
        return "".join(format(int(c, 16), "04b") for c in digits)
    except ValueError:
        bad = next(c for c in digits if c not in "0123456789abcdefABCDEF")
        raise CallError(f'"{bad}" is not a valid hexadecimal digit', sqlstate="22P02") from None


def _numeric_scale(inner: Any, scale_node: Any) -> str:
    """``'2.345'::numeric(10,2)`` is ``2.35`` before the call, as PostgreSQL casts it."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    if not (isinstance(scale_node, ast.A_Const) and isinstance(scale_node.val, ast.Integer)):
        raise CallError("type modifiers of numeric must be integer constants", sqlstate="22023")
    scale = scale_node.val.ival
    if not -1000 <= scale <= 1000:
        raise CallError(f"NUMERIC scale {scale} must be between -1000 and 1000", sqlstate="22023")
    try:
        return str(Decimal(str(inner)).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP))
    except InvalidOperation:
        raise CallError(
            f'invalid input syntax for type numeric: "{inner}"', sqlstate="22P02"
        ) from None


def _negate(inner: Any) -> Any:
    """Unary minus of a constant: ints negate, numeric text flips its sign, NULL stays NULL."""
    if isinstance(inner, TypedNull):
        return inner
    if inner is None:
        raise CallError("operator is not unique: - unknown", sqlstate="42725")
    if isinstance(inner, bool) or not isinstance(inner, (int, str)):
        kind = "boolean" if isinstance(inner, bool) else "array"
        raise CallError(f"operator does not exist: - {kind}", sqlstate="42883")
    if isinstance(inner, int):
        return -inner
    text = inner.strip()
    return text[1:] if text.startswith("-") else "-" + text.removeprefix("+")


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
    if rf.alias is not None and rf.alias.colnames:
        return None  # AS t(a, b) renames the columns: the outer-SQL path does that
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
