"""Scalar SQL expressions evaluated in the kernel with PostgreSQL's semantics.

The final stage of two-stage aggregation evaluates what remains of a query after the
aggregates were combined: ``sum(x) / count(*)``, ``HAVING avg(x) > 2``, ``round(...)``,
``CASE``. Groups are few, so a per-row evaluator over pglast nodes is enough; what matters
is exactness: integer division truncates, ``numeric`` stays ``Decimal`` with PostgreSQL's
division scale, NULL propagates, comparisons are three-valued.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pglast import ast

from plproxy_magic.errors import CallError, SqlError
from plproxy_magic.pgtypes import typeref_from_ast

__all__ = ["Unsupported", "compile_expr", "numeric_div"]

Row = Mapping[str, Any]
Expr = Callable[[Row], Any]

_CTX = decimal.Context(prec=1100, rounding=decimal.ROUND_HALF_UP)


class Unsupported(Exception):
    """The expression uses SQL the kernel does not evaluate."""


def numeric_div(a: Decimal, b: Decimal) -> Decimal:
    """PostgreSQL's numeric division: at least 16 significant digits (select_div_scale)."""
    if b == 0:
        raise SqlError("division by zero", sqlstate="22012")

    def weight_first(d: Decimal) -> tuple[int, int]:
        # base-10000 weight and first digit of |d|, as PostgreSQL's NumericVar stores it
        d = abs(d)
        if d == 0:
            return 0, 0
        exp10 = d.adjusted()  # position of the first decimal digit
        weight = exp10 // 4
        first = int(d.scaleb(-4 * weight, _CTX))
        return weight, first

    def dscale(d: Decimal) -> int:
        exp = d.as_tuple().exponent
        return max(0, -exp) if isinstance(exp, int) else 0

    w1, f1 = weight_first(a)
    w2, f2 = weight_first(b)
    qweight = w1 - w2 - (1 if f1 <= f2 else 0)
    rscale = max(16 - qweight * 4, dscale(a), dscale(b), 0)
    rscale = min(rscale, 1000)
    return _CTX.divide(a, b).quantize(Decimal(1).scaleb(-rscale), rounding=decimal.ROUND_HALF_UP)


def _num(v: Any) -> Any:
    return Decimal(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, float) or isinstance(b, float):
        if b == 0:
            raise SqlError("division by zero", sqlstate="22012")
        return float(a) / float(b)
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise SqlError("division by zero", sqlstate="22012")
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return numeric_div(_num(a), _num(b))


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        raise SqlError("division by zero", sqlstate="22012")
    if isinstance(a, int) and isinstance(b, int):
        return a - b * _div(a, b)
    return _CTX.remainder(_num(a), _num(b))


def _arith(op: str) -> Callable[[Any, Any], Any]:
    def f(a: Any, b: Any) -> Any:
        # float wins over numeric wins over integer, as in PostgreSQL's operator choice
        if isinstance(a, float) or isinstance(b, float):
            a, b = float(a), float(b)
        elif isinstance(a, Decimal) or isinstance(b, Decimal):
            a, b = _num(a), _num(b)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        return a * b

    return f


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _arith("+"),
    "-": _arith("-"),
    "*": _arith("*"),
    "/": _div,
    "%": _mod,
    "||": lambda a, b: f"{a}{b}",
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _round(x: Any, n: int = 0) -> Any:
    if isinstance(x, float):
        if n:
            raise SqlError(
                "function round(double precision, integer) does not exist", sqlstate="42883"
            )
        return float(Decimal(x).quantize(Decimal(1), rounding=decimal.ROUND_HALF_EVEN))
    return _num(x).quantize(Decimal(1).scaleb(-n), rounding=decimal.ROUND_HALF_UP)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": _round,
    "abs": abs,
    "lower": str.lower,
    "upper": str.upper,
    "length": len,
    "sqrt": lambda x: x.sqrt(_CTX) if isinstance(x, Decimal) else float(x) ** 0.5,
    "ceil": lambda x: -((-x) // 1) if not isinstance(x, float) else float(-((-x) // 1)),
    "floor": lambda x: x // 1 if not isinstance(x, float) else float(x // 1),
}


def _cast(type_node: Any, inner: Expr) -> Expr:
    t = typeref_from_ast(type_node)
    name = t.name
    typmods = type_node.typmods

    def cast(row: Row) -> Any:
        v = inner(row)
        if v is None:
            return None
        if name in ("int2", "int4", "int8"):
            if isinstance(v, (float, Decimal)):
                # numeric rounds half away from zero, float8 half to even (rint)
                mode = decimal.ROUND_HALF_UP if isinstance(v, Decimal) else decimal.ROUND_HALF_EVEN
                return int(Decimal(v).quantize(Decimal(1), rounding=mode))
            return int(v)
        if name in ("float4", "float8"):
            return float(v)
        if name == "numeric":
            d = Decimal(str(v)) if isinstance(v, float) else _num(v)
            if typmods and len(typmods) == 2:
                return d.quantize(
                    Decimal(1).scaleb(-typmods[1].val.ival), rounding=decimal.ROUND_HALF_UP
                )
            return d
        if name in ("text", "varchar", "bpchar"):
            return str(v)
        return v

    return cast


def compile_expr(node: Any, column: Callable[[Any], Expr | None]) -> Expr:
    """Compile ``node`` into ``row -> value``.

    ``column(node)`` resolves a node that stands for an input column (a group expression,
    an aggregate, a column reference): it returns a getter, or None to compile the node
    structurally.
    """
    getter = column(node)
    if getter is not None:
        return getter
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return lambda r: None
        v = node.val
        const: Any = (
            v.ival if isinstance(v, ast.Integer)
            else Decimal(v.fval) if isinstance(v, ast.Float)
            else v.boolval if isinstance(v, ast.Boolean)
            else v.sval
        )  # fmt: skip
        return lambda r: const
    if isinstance(node, ast.TypeCast):
        return _cast(node.typeName, compile_expr(node.arg, column))
    if isinstance(node, ast.A_Expr) and node.kind.name == "AEXPR_OP" and len(node.name) == 1:
        op = node.name[0].sval
        if node.lexpr is None and op in ("-", "+"):
            inner = compile_expr(node.rexpr, column)
            return lambda r: None if (x := inner(r)) is None else (-x if op == "-" else x)
        fn = _BINARY.get(op)
        if fn is None:
            raise Unsupported(f"operator {op}")
        left, right = compile_expr(node.lexpr, column), compile_expr(node.rexpr, column)

        def binop(r: Row) -> Any:
            a, b = left(r), right(r)
            return None if a is None or b is None else fn(a, b)

        return binop
    if isinstance(node, ast.BoolExpr):
        parts = [compile_expr(a, column) for a in node.args]
        kind = node.boolop.name
        if kind == "NOT_EXPR":
            return lambda r: None if (x := parts[0](r)) is None else not x
        want = kind == "OR_EXPR"

        def boolop(r: Row) -> Any:
            values = [p(r) for p in parts]
            if any(v is want for v in values):
                return want
            return None if any(v is None for v in values) else not want

        return boolop
    if isinstance(node, ast.NullTest):
        inner = compile_expr(node.arg, column)
        is_null = node.nulltesttype.name == "IS_NULL"
        return lambda r: (inner(r) is None) == is_null
    if isinstance(node, ast.CoalesceExpr):
        parts = [compile_expr(a, column) for a in node.args]

        def coalesce(r: Row) -> Any:
            for p in parts:
                if (v := p(r)) is not None:
                    return v
            return None

        return coalesce
    if isinstance(node, ast.CaseExpr):
        arg = compile_expr(node.arg, column) if node.arg is not None else None
        whens = [(compile_expr(w.expr, column), compile_expr(w.result, column)) for w in node.args]
        default = compile_expr(node.defresult, column) if node.defresult is not None else None

        def case(r: Row) -> Any:
            base = arg(r) if arg is not None else None
            for cond, result in whens:
                c = cond(r)
                if (c == base and base is not None) if arg is not None else c is True:
                    return result(r)
            return default(r) if default is not None else None

        return case
    if isinstance(node, ast.FuncCall) and not node.over and not node.agg_star:
        name = node.funcname[-1].sval.lower()
        impl = _FUNCTIONS.get(name)
        if impl is None:
            raise Unsupported(f"function {name}()")
        args = [compile_expr(a, column) for a in node.args or ()]

        def call(r: Row) -> Any:
            values = [a(r) for a in args]
            return None if any(v is None for v in values) else impl(*values)

        return call
    if isinstance(node, ast.ColumnRef):
        name = ".".join(getattr(f, "sval", "*") for f in node.fields)
        raise CallError(
            f'column "{name}" must appear in the GROUP BY clause or be used in an aggregate '
            "function",
            sqlstate="42803",
        )
    raise Unsupported(type(node).__name__)
