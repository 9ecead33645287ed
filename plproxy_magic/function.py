"""``CREATE FUNCTION ... LANGUAGE plproxy`` -> a compiled :class:`ProxyFunction`.

The statement itself is parsed by pglast (PostgreSQL's own parser): name, parameters with
modes, RETURNS (SETOF, TABLE, OUT columns, RECORD), STRICT and volatility. The body goes to
:mod:`plproxy_magic.language`. The function-level rules PL/Proxy's validator checks at CREATE
time are checked here, once, and every error gets the ``PL/Proxy function public.f(1):``
label of the function it belongs to.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from pglast.enums import FunctionParameterMode

from plproxy_magic.errors import CompileError, PlProxyError
from plproxy_magic.language import Arg, parse_body
from plproxy_magic.language.ast import ArgRef, Body, RunAll
from plproxy_magic.pgtypes import TypeRef, quote_ident, typeref_from_ast

__all__ = ["ConnectArgumentWarning", "Param", "ProxyFunction", "compile_function"]

Kind = Literal["scalar", "composite", "record", "void"]


class ConnectArgumentWarning(UserWarning):
    """A proxy function takes its connect string from an argument (``CONNECT argname;``).

    Whoever calls such a function chooses the server, the user and every libpq option, and
    the kernel connects with its own credentials: passwords from ``~/.pgpass``, service
    files or ``PGPASSWORD``, client certificates. PL/Proxy's documentation gives the same
    warning. Silence it with ``warnings.simplefilter("ignore", ConnectArgumentWarning)``
    once the callers are trusted.
    """


@dataclass(frozen=True)
class Param:
    """One declared parameter; ``mode`` is ``in``, ``out``, ``inout`` or ``table``."""

    name: str | None
    type: TypeRef
    mode: str
    has_default: bool = False
    #: the DEFAULT's value when it is a constant (it is sent as text and cast remotely)
    default: Any = None
    #: False when the DEFAULT is an expression the kernel does not evaluate
    default_is_constant: bool = True


@dataclass(frozen=True)
class ProxyFunction:
    """A compiled proxy function: signature, return shape and parsed body.

    Derived facts (``args``, ``kind``, ``label``...) are computed once per definition: they
    are read on every call.
    """

    schema: str
    name: str
    params: tuple[Param, ...]
    rettype: TypeRef
    setof: bool
    strict: bool
    body: Body
    source: str = field(repr=False, compare=False)
    #: columns of a named composite / table row return type, from the partition catalog
    rowtype: tuple[Param, ...] | None = None

    @cached_property
    def args(self) -> tuple[Param, ...]:
        """The IN/INOUT parameters: PL/Proxy's "arguments" (``$n`` counts only these)."""
        return tuple(p for p in self.params if p.mode in ("in", "inout"))

    @cached_property
    def out_columns(self) -> tuple[Param, ...]:
        """OUT/INOUT/TABLE columns, which make the result composite."""
        return tuple(p for p in self.params if p.mode in ("out", "inout", "table"))

    @cached_property
    def kind(self) -> Kind:
        """``composite`` (OUT/TABLE columns), ``record`` (dynamic), ``void`` or ``scalar``."""
        if self.rowtype is not None:
            return "composite"
        if self.out_columns:
            # A single OUT parameter makes a scalar function in PostgreSQL.
            return "composite" if len(self.out_columns) > 1 else "scalar"
        if self.rettype.name == "record" and not self.rettype.array:
            return "record"
        if self.rettype.name == "void":
            return "void"
        return "scalar"

    @cached_property
    def result_columns(self) -> tuple[Param, ...]:
        """The columns of a composite result (OUT/TABLE columns or the row type's)."""
        return self.rowtype if self.rowtype is not None else self.out_columns

    @cached_property
    def user_types(self) -> tuple[TypeRef, ...]:
        """Types to look up in a partition catalog: neither built in nor schema-qualified
        built-ins, plus a non-built-in return type (it may be a composite row type)."""
        refs = [p.type for p in self.params] + [self.rettype]
        seen: dict[TypeRef, None] = {}
        for t in refs:
            if not t.is_builtin:
                seen.setdefault(t.element, None)
        return tuple(seen)

    @cached_property
    def result_type(self) -> TypeRef:
        """The scalar result type (the single OUT column's type when there is one)."""
        outs = self.out_columns
        return outs[0].type if len(outs) == 1 else self.rettype

    @cached_property
    def result_name(self) -> str:
        """Column name of a scalar result: the OUT parameter's name, else the function's."""
        outs = self.out_columns
        return (outs[0].name or self.name) if len(outs) == 1 else self.name

    @cached_property
    def label(self) -> str:
        """``public.f(1)``: how PL/Proxy names the function in every message."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}({len(self.args)})"

    @cached_property
    def qualified_name(self) -> str:
        """``quote_ident(schema).quote_ident(name)``, the default remote function name."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @cached_property
    def min_args(self) -> int:
        """IN/INOUT arguments without a default: the fewest a call may pass."""
        args = self.args
        n = len(args)
        while n > 0 and args[n - 1].has_default:
            n -= 1
        return n

    def error(self, exc: PlProxyError) -> PlProxyError:
        """Attach this function's label to ``exc`` (for ``raise fn.error(...)``)."""
        return exc.for_function(self.label)


_MODES = {
    FunctionParameterMode.FUNC_PARAM_IN: "in",
    FunctionParameterMode.FUNC_PARAM_DEFAULT: "in",
    FunctionParameterMode.FUNC_PARAM_OUT: "out",
    FunctionParameterMode.FUNC_PARAM_INOUT: "inout",
    FunctionParameterMode.FUNC_PARAM_TABLE: "table",
    FunctionParameterMode.FUNC_PARAM_VARIADIC: "variadic",
}


def compile_function(stmt: Any, source: str) -> ProxyFunction:
    """Compile one parsed ``CREATE FUNCTION`` statement whose language is plproxy.

    Raises :class:`CompileError` carrying the function label for every PL/Proxy compile
    error, and for the validator's function-level rules (volatile only, no VARIADIC,
    RUN ON ALL needs SETOF, no SELECT with dynamic RECORD).
    """
    names = [n.sval for n in stmt.funcname]
    schema, name = (names[-2], names[-1]) if len(names) > 1 else ("public", names[0])
    opts = {d.defname: d.arg for d in stmt.options or ()}
    params: list[Param] = []
    variadic = False
    for p in stmt.parameters or ():
        mode = _MODES[p.mode]
        if mode == "variadic":
            variadic = True
            mode = "in"
        default, constant = _default_value(p.defexpr)
        params.append(
            Param(
                p.name, typeref_from_ast(p.argType), mode, p.defexpr is not None, default, constant
            )
        )
    nargs = sum(1 for p in params if p.mode in ("in", "inout"))
    label = f"{quote_ident(schema)}.{quote_ident(name)}({nargs})"
    if stmt.is_procedure:
        raise CompileError("PL/Proxy does not support procedures", function=label)
    if variadic:
        raise CompileError("PL/Proxy does not support variadic args")
    volatility = opts.get("volatility")
    if volatility is not None and volatility.sval != "volatile":
        raise CompileError("PL/Proxy functions must be volatile")

    if stmt.returnType is not None:
        rettype = typeref_from_ast(stmt.returnType)
        setof = bool(stmt.returnType.setof)
    else:  # OUT parameters only: RETURNS record is implied
        rettype, setof = TypeRef("record", "pg_catalog"), False
    strict_node = opts.get("strict")
    strict = bool(strict_node is not None and strict_node.boolval)

    as_arg = opts.get("as")
    if as_arg is None:
        raise CompileError("no function body specified", function=label)
    body_text = as_arg[0].sval if isinstance(as_arg, tuple) else as_arg.sval
    args = [
        Arg(name=p.name or None, is_array=p.type.array) for p in params if p.mode in ("in", "inout")
    ]
    try:
        body = parse_body(body_text, args)
    except PlProxyError as exc:
        raise exc.for_function(label) from None
    fn = ProxyFunction(schema, name, tuple(params), rettype, setof, strict, body, source)

    if isinstance(body.run_on, RunAll) and not setof:
        raise CompileError("RUN ON ALL requires set-returning function", function=label)
    if fn.kind == "record" and body.select is not None:
        raise CompileError("SELECT statement not allowed for dynamic RECORD functions",
                           function=label)  # fmt: skip
    if isinstance(body.connect, ArgRef):
        arg = fn.args[body.connect.index]
        warnings.warn(
            f"PL/Proxy function {label}: CONNECT {arg.name or f'${body.connect.index + 1}'} "
            "takes the connect string from the caller, who then chooses the server, user and "
            "libpq options the kernel connects to with its credentials (~/.pgpass, service "
            "files, PGPASSWORD): never pass untrusted input to it",
            ConnectArgumentWarning,
            stacklevel=2,
        )
    return fn


def _default_value(node: Any) -> tuple[Any, bool]:
    """A parameter DEFAULT as a value, and whether it was a constant."""
    if node is None:
        return None, True
    from plproxy_magic.calls import constant_value

    try:
        return constant_value(node), True
    except PlProxyError:
        return None, False


def function_language(stmt: Any) -> str | None:
    """The ``LANGUAGE`` of a ``CREATE FUNCTION`` statement, lower-cased."""
    for d in stmt.options or ():
        if d.defname == "language":
            return str(d.arg.sval).lower()
    return None
