"""The parser of PL/Proxy function bodies: PL/Proxy 2.12's ``src/parser.y`` in Python.

This module owns the grammar, the argument lookup of ``function.c`` (``$n`` or a name,
matched case-insensitively) and the compile errors, with PL/Proxy's exact texts and line
numbers. It reads tokens from :mod:`.scanner` and records decisions in an :class:`~.ast.Body`;
it does no I/O and knows nothing about types beyond "is this argument an array".

The grammar (``body: | body stmt``) takes the six statements in any order::

    CLUSTER 'name' | f(...) ;          CONNECT 'connstr' | f(...) | arg | $n ;
    RUN ON ALL | ANY | <nr> | f(...) | arg | $n ;
    SPLIT ALL | arg [, arg ...] ;      TARGET ident ;         SELECT ... ;

Errors come out in the order bison would meet them: every action runs as soon as its
token is read, so ``SPLIT a; SPLIT a;`` complains about the repeated parameter before it
complains about the second SPLIT, and ``RUN ON $9 x;`` about ``$9`` before the syntax. The
line is the scanner's line after the token that triggered the error; the rules that span
statements run after the whole body is read and so report its last line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NoReturn

from plproxy_magic.errors import CompileError
from plproxy_magic.language.ast import (
    ArgRef,
    Body,
    ClusterName,
    ClusterSpec,
    ConnectSpec,
    ConnectString,
    FuncCall,
    RunAll,
    RunAny,
    RunNr,
    RunOn,
    SplitAll,
    SplitSpec,
    SqlText,
    UnknownRef,
)
from plproxy_magic.language.scanner import Token, TokenKind, tokenize

__all__ = ["Arg", "parse_body"]

# PL/Proxy formats its messages into 1024-byte buffers (yyerror, plproxy_error).
_MSG_MAX_BYTES = 1023
_SPACE = " \t\n\r"


@dataclass(frozen=True)
class Arg:
    """One IN/INOUT argument of the proxy function, as far as the body language cares.

    ``name`` is the declared name (``None`` or ``''`` when unnamed); ``is_array`` says
    whether SPLIT may name it.
    """

    name: str | None
    is_array: bool = False


def parse_body(body: str, args: Sequence[Arg]) -> Body:
    """Parse a PL/Proxy function body (the text between the ``$$``) into a :class:`Body`.

    ``args`` are the IN/INOUT arguments in declaration order (OUT and TABLE columns left
    out), so ``$n`` is valid for ``1 <= n <= len(args)``. Raises :class:`CompileError`
    with PL/Proxy's message; line 1 is the rest of the line that holds the opening ``$$``.
    """
    return _Parser(body, args).parse()


def _c_atoi(digits: str) -> int:
    """glibc ``atoi()`` of a run of ASCII digits: ``(int) strtol(s)``, saturated, then cut.

    PL/Proxy reads ``RUN ON <nr>`` and ``$n`` with atoi(), so a huge number wraps the way
    the C code wraps it instead of raising (``$4294967297`` is ``$1``).
    """
    significant = digits.lstrip("0")
    # Saturate before int(): a long digit run would trip Python's int-string length limit.
    value = 2**63 - 1 if len(significant) > 19 else min(int(digits), 2**63 - 1)
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _ascii_lower(s: str) -> str:
    """``pg_strcasecmp()`` folds only A-Z (high-bit bytes are not upper case in UTF-8)."""
    return s.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fit(text: str) -> str:
    """Cut ``text`` to PL/Proxy's 1023-byte message buffer.

    vsnprintf() may cut a UTF-8 character in half; a str cannot hold half a character, so
    the cut falls just before it.
    """
    if len(text) * 4 <= _MSG_MAX_BYTES:  # fast path: cannot be too long even in 4-byte chars
        return text
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode("utf-8", "surrogatepass"))
        if size > _MSG_MAX_BYTES:
            return text[:i]
    return text


class _SqlBuilder:
    """PL/Proxy's QueryBuffer: literal pieces and argument references, adjacent text merged."""

    def __init__(self, start: str) -> None:
        self.parts: list[str | ArgRef] = [start]

    def add_const(self, text: str) -> None:
        if self.parts and isinstance(self.parts[-1], str):
            self.parts[-1] += text
        else:
            self.parts.append(text)

    def add_ref(self, index: int) -> None:
        self.parts.append(ArgRef(index))

    def finish(self) -> SqlText:
        return SqlText(tuple(p for p in self.parts if p != ""))


class _Parser:
    """One parse of one body; mirrors parser.y's rules and its static ``got_*`` flags."""

    def __init__(self, body: str, args: Sequence[Arg]) -> None:
        self.args = tuple(args)
        self.tokens: Iterator[Token] = tokenize(body)
        self.line = 1  # flex's yylineno: the line after the last token read
        self.cluster: ClusterSpec | None = None
        self.connect: ConnectSpec | None = None
        self.run_on: RunOn | None = None
        self.split: SplitSpec | None = None
        self.target: str | None = None
        self.select: SqlText | None = None
        self.got_cluster = self.got_connect = self.got_run = False
        self.got_split = self.got_target = False
        # func->split_args: outlives one SPLIT statement, which is what makes a second
        # "SPLIT a;" fail as "specified more than once" rather than "Only one SPLIT".
        self.split_args: set[int] = set()

    # -- errors ---------------------------------------------------------------------------

    def _error(self, message: str) -> NoReturn:
        """``yyerror()``: ``Compile error at line N: message`` at the scanner's line."""
        prefix = f"Compile error at line {self.line}: "
        raise CompileError(_fit(prefix + _fit(message))[len(prefix) :], self.line)

    def _syntax_error(self) -> NoReturn:
        self._error("syntax error")

    @staticmethod
    def _plain_error(message: str) -> NoReturn:
        """``plproxy_error()`` straight from function.c: no "Compile error" part, no line."""
        raise CompileError(_fit(message), None)

    # -- tokens ---------------------------------------------------------------------------

    def _next(self) -> Token:
        tok = next(self.tokens)
        self.line = tok.end_line
        return tok

    def _expect_semicolon(self, tok: Token) -> None:
        if tok.kind is not TokenKind.CHAR or tok.value != ";":
            self._syntax_error()

    # -- argument lookup (function.c, query.c) ---------------------------------------------

    def _arg_index(self, ident: str) -> int:
        """``plproxy_get_parameter_index()``: 0-based argument index, or -1."""
        if ident.startswith("$"):
            i = _c_atoi(ident[1:]) - 1
            return i if 0 <= i < len(self.args) else -1
        wanted = _ascii_lower(ident)
        for i, arg in enumerate(self.args):
            if arg.name and _ascii_lower(arg.name) == wanted:
                return i
        return -1

    def _add_ident(self, sql: _SqlBuilder, ident: str) -> None:
        """``plproxy_query_add_ident()``: an argument becomes a reference, other text stays."""
        index = self._arg_index(ident)
        if index >= 0:
            sql.add_ref(index)
        elif ident.startswith("$"):
            self._error(f"invalid argument reference: {ident}")
        else:
            sql.add_const(ident)

    def _direct(self, ident: str) -> ArgRef | UnknownRef:
        """``CONNECT ident;`` / ``RUN ON ident;``: the local query ``select <ident>``.

        A name that is no argument stays in that query as a column reference, so it
        compiles and fails only when called.
        """
        index = self._arg_index(ident)
        if index >= 0:
            return ArgRef(index)
        if ident.startswith("$"):
            self._error(f"invalid argument reference: {ident}")
        return UnknownRef(ident)

    # -- raw SQL ----------------------------------------------------------------------------

    def _sql_tokens(self, sql: _SqlBuilder) -> Token:
        """``sql_token_list``: one or more SQL pieces; returns the token after them."""
        tok = self._next()
        if tok.kind not in (TokenKind.SQLPART, TokenKind.SQLIDENT):
            self._syntax_error()
        while tok.kind in (TokenKind.SQLPART, TokenKind.SQLIDENT):
            if tok.kind is TokenKind.SQLIDENT:
                self._add_ident(sql, tok.value)
            else:
                sql.add_const(tok.value)
            tok = self._next()
        return tok

    def _func_call(self, tok: Token) -> tuple[FuncCall, Token]:
        """``f(...)``: the FNCALL token (name, spaces and ``(`` as written) plus the SQL."""
        sql = _SqlBuilder(tok.value)
        after = self._sql_tokens(sql)
        name = tok.value[:-1].rstrip(_SPACE)
        return FuncCall(name, sql.finish()), after

    # -- statements -------------------------------------------------------------------------

    def parse(self) -> Body:
        statements = {
            TokenKind.CLUSTER: self._cluster_stmt,
            TokenKind.CONNECT: self._connect_stmt,
            TokenKind.RUN: self._run_stmt,
            TokenKind.SPLIT: self._split_stmt,
            TokenKind.TARGET: self._target_stmt,
            TokenKind.SELECT: self._select_stmt,
        }
        while (tok := self._next()).kind is not TokenKind.EOF:
            statement = statements.get(tok.kind)
            if statement is None:
                self._syntax_error()
            statement(tok)
        self._check_statements()
        return Body(
            cluster=self.cluster,
            connect=self.connect,
            run_on=self.run_on,
            split=self.split,
            target=self.target,
            select=self.select,
        )

    def _cluster_stmt(self, keyword: Token) -> None:
        tok = self._next()
        cluster: ClusterSpec
        if tok.kind is TokenKind.STRING:
            cluster, tok = ClusterName(tok.value), self._next()
        elif tok.kind is TokenKind.FNCALL:
            cluster, tok = self._func_call(tok)
        else:
            self._syntax_error()
        self._expect_semicolon(tok)
        if self.got_cluster:
            self._error("Only one CLUSTER statement allowed")
        self.got_cluster, self.cluster = True, cluster

    def _connect_stmt(self, keyword: Token) -> None:
        tok = self._next()
        connect: ConnectSpec
        if tok.kind is TokenKind.STRING:
            connect, tok = ConnectString(tok.value), self._next()
        elif tok.kind is TokenKind.FNCALL:
            connect, tok = self._func_call(tok)
        elif tok.kind is TokenKind.IDENT:
            connect, tok = self._direct(tok.value), self._next()
        else:
            self._syntax_error()
        self._expect_semicolon(tok)
        if self.got_connect:
            self._error("Only one CONNECT statement allowed")
        self.got_connect, self.connect = True, connect

    def _run_stmt(self, keyword: Token) -> None:
        if self._next().kind is not TokenKind.ON:
            self._syntax_error()
        tok = self._next()
        run_on: RunOn
        match tok.kind:
            case TokenKind.FNCALL:
                run_on, tok = self._func_call(tok)
            case TokenKind.NUMBER:
                run_on, tok = RunNr(_c_atoi(tok.value)), self._next()
            case TokenKind.ANY:
                run_on, tok = RunAny(), self._next()
            case TokenKind.ALL:
                run_on, tok = RunAll(), self._next()
            case TokenKind.IDENT:
                run_on, tok = self._direct(tok.value), self._next()
            case _:
                self._syntax_error()
        self._expect_semicolon(tok)
        if self.got_run:
            self._error("Only one RUN statement allowed")
        self.got_run, self.run_on = True, run_on

    def _split_stmt(self, keyword: Token) -> None:
        tok = self._next()
        split: SplitSpec
        if tok.kind is TokenKind.ALL:
            # plproxy_split_all_arrays(): marks every array, never complains.
            self.split_args.update(i for i, arg in enumerate(self.args) if arg.is_array)
            split, tok = SplitAll(), self._next()
        else:
            refs: list[ArgRef] = []
            while True:
                if tok.kind is not TokenKind.IDENT:
                    self._syntax_error()
                refs.append(self._split_param(tok.value))
                tok = self._next()
                if tok.kind is not TokenKind.CHAR or tok.value != ",":
                    break
                tok = self._next()
            split = tuple(refs)
        self._expect_semicolon(tok)
        if self.got_split:
            self._error("Only one SPLIT statement allowed")
        self.got_split, self.split = True, split

    def _split_param(self, ident: str) -> ArgRef:
        """``plproxy_split_add_ident()``; its own two errors carry no line."""
        index = self._arg_index(ident)
        if index < 0:
            self._error(f"invalid argument reference: {ident}")
        if index in self.split_args:
            self._plain_error(f"SPLIT parameter specified more than once: {ident}")
        if not self.args[index].is_array:
            self._plain_error(f"SPLIT parameter is not an array: {ident}")
        self.split_args.add(index)
        return ArgRef(index)

    def _target_stmt(self, keyword: Token) -> None:
        tok = self._next()
        # IDENT includes $n in statement mode, so "TARGET $1;" is accepted, verbatim.
        if tok.kind is not TokenKind.IDENT:
            self._syntax_error()
        target = tok.value
        self._expect_semicolon(self._next())
        if self.got_target:
            self._error("Only one TARGET statement allowed")
        self.got_target, self.target = True, target

    def _select_stmt(self, keyword: Token) -> None:
        # sql_start is reduced right after the SELECT token, before the query is read.
        if self.select is not None:
            self._error("Only one SELECT statement allowed")
        sql = _SqlBuilder(keyword.value)
        self._expect_semicolon(self._sql_tokens(sql))
        self.select = sql.finish()

    def _check_statements(self) -> None:
        """The checks ``plproxy_run_parser()`` makes after ``yyparse()``, in its order."""
        if self.got_connect:
            if self.got_cluster or self.got_run:
                self._error("CONNECT cannot be used with CLUSTER/RUN")
        elif not self.got_cluster:
            self._error("CLUSTER statement missing")
        if self.select is not None and self.got_target:
            self._error("TARGET cannot be used with SELECT")
