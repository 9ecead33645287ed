"""The tokenizer of PL/Proxy function bodies: PL/Proxy 2.12's ``src/scanner.l`` in Python.

This module owns the lexical rules only; what the tokens mean is the parser's business.
Like the flex original it has two faces that share one token stream:

* **statement mode** (flex's ``INITIAL``): keywords, identifiers, ``$n``, numbers,
  ``'string'`` literals, comments skipped, any other character returned on its own;
* **raw-SQL mode** (flex's ``sql`` and its quoting sub-states), entered by ``SELECT`` and by
  a function-call token ``name(``, left at the next unquoted ``;``. Here the text is cut into
  :attr:`TokenKind.SQLPART` pieces that are copied as they are (whitespace runs folded into
  one space, comments dropped or replaced by a space, quoted parts verbatim) and
  :attr:`TokenKind.SQLIDENT` pieces the parser may replace by an argument reference.

Matching follows flex exactly: at every position each rule of the current state is tried, the
longest match wins and a tie goes to the rule written first. That is why ``RUN ON all`` reads
the keyword ``ALL`` but ``RUN ON all(x)`` reads a function call, and why ``select.x`` is an
identifier. Keywords are case-insensitive; case folding is ASCII-only, as flex's is.

Every character above U+007F counts as an identifier character: flex works on UTF-8 bytes
and its ``WORD`` class contains every byte from ``\\200`` to ``\\377``.

Each token carries the line and column where it starts and :attr:`Token.end_line`, the line
the scanner is on once the token is read (flex's ``yylineno``): that is the line PL/Proxy
prints in ``Compile error at line N``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Token", "TokenKind", "tokenize"]


class TokenKind(enum.Enum):
    """The terminal symbols of PL/Proxy's grammar (``%token`` in ``parser.y``)."""

    CLUSTER = "CLUSTER"
    CONNECT = "CONNECT"
    RUN = "RUN"
    ON = "ON"
    ALL = "ALL"
    ANY = "ANY"
    SPLIT = "SPLIT"
    TARGET = "TARGET"
    #: ``select`` keyword; switches to raw-SQL mode. ``value`` is the word as written.
    SELECT = "SELECT"
    #: ``name(`` / ``a.b (``: a function call; switches to raw-SQL mode.
    FNCALL = "FNCALL"
    #: an identifier (possibly dotted, ``a . b`` included) or ``$n`` in statement mode
    IDENT = "IDENT"
    #: ``[0-9]+`` in statement mode
    NUMBER = "NUMBER"
    #: ``'...'`` in statement mode; ``value`` is the unquoted text
    STRING = "STRING"
    #: identifier or ``$n`` in raw-SQL mode: a candidate for argument substitution
    SQLIDENT = "SQLIDENT"
    #: any other piece of raw SQL, copied as ``value``
    SQLPART = "SQLPART"
    #: one character no rule claims (``;`` and ``,`` among them); ``value`` is the character
    CHAR = "CHAR"
    #: end of the body
    EOF = "EOF"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: ``text`` as it stands in the body, ``value`` as the parser receives it.

    ``value`` differs from ``text`` for a ``STRING`` (unquoted), for whitespace and
    ``/* */`` comments in raw SQL (one space) and for ``select(`` (just ``select``).
    ``line`` and ``column`` (both 1-based) locate the first character; ``end_line`` is the
    line after the token, the one PL/Proxy reports for errors found at this token.
    """

    kind: TokenKind
    text: str
    value: str
    line: int
    column: int
    end_line: int


# -- lexical classes of scanner.l -------------------------------------------------------------

_SPACE = r"[ \t\n\r]"
_WORD = r"[_a-z\x80-\U0010ffff][a-z0-9_\x80-\U0010ffff]*"
_IDENT = rf"{_WORD}(?:{_SPACE}*\.{_SPACE}*{_WORD})*"
_NUMIDENT = r"\$[0-9]+"
_PLNUMBER = r"[0-9]+"
_SQLNUM = r"[0-9][.0-9]*"
# Symbols that may stand in SQL, matched one by one; excludes $ ' " ; and backquote.
_SQLSYM = r"[-!#%&()*+,/:<=>?@\[\]^{|}~.]"
_DOLQ = r"[a-z\x80-\U0010ffff_][a-z\x80-\U0010ffff_0-9]*"

# ASCII-only case folding, like flex's case-insensitive tables.
_FLAGS = re.IGNORECASE | re.ASCII


class _State(enum.Enum):
    """flex start conditions.

    scanner.l's comment states ``plcom`` and ``longcom`` are not here: their rules end a
    comment at the first ``*/`` whatever precedes it, so the scanner looks for that directly
    (matching them rule by rule would take quadratic time on a long run of ``*``).
    """

    INITIAL = "INITIAL"
    SQL = "sql"
    QIDENT = "qident"
    STDQ = "stdq"
    EXTQ = "extq"
    DOLQ = "dolq"


class _Act(enum.Enum):
    """What a rule does once it has matched (the C action blocks of scanner.l)."""

    SKIP = enum.auto()  # consume, return nothing
    KEYWORD = enum.auto()  # return the rule's token kind
    SELECT = enum.auto()  # SELECT, BEGIN(sql)
    SELECT_PAREN = enum.auto()  # yyless(6): SELECT, BEGIN(sql)
    FNCALL = enum.auto()  # FNCALL, BEGIN(sql)
    IDENT = enum.auto()
    NUMBER = enum.auto()
    STRING = enum.auto()
    CHAR = enum.auto()  # the character itself is the token
    PLCOM = enum.auto()  # a whole statement-mode comment: skipped
    LONGCOM = enum.auto()  # a whole raw-SQL comment: SQLPART " " once it is closed
    DOLQ_BEGIN = enum.auto()
    DOLQ_TAG = enum.auto()  # closing tag if it matches the opening one, else only "$"
    PART = enum.auto()  # SQLPART yytext
    PART_BEGIN_SQL = enum.auto()  # SQLPART yytext, BEGIN(sql)
    QIDENT_BEGIN = enum.auto()
    STDQ_BEGIN = enum.auto()
    EXTQ_BEGIN = enum.auto()
    SQLIDENT = enum.auto()
    SPACE = enum.auto()  # SQLPART " "
    SQL_END = enum.auto()  # ';', BEGIN(INITIAL)


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    act: _Act
    kind: TokenKind | None = None


def _r(pattern: str, act: _Act, kind: TokenKind | None = None) -> _Rule:
    return _Rule(re.compile(pattern, _FLAGS), act, kind)


# The rules of each start condition, in scanner.l's order (the order breaks length ties).
_RULES: dict[_State, tuple[_Rule, ...]] = {
    _State.INITIAL: (
        _r("cluster", _Act.KEYWORD, TokenKind.CLUSTER),
        _r("connect", _Act.KEYWORD, TokenKind.CONNECT),
        _r("run", _Act.KEYWORD, TokenKind.RUN),
        _r("on", _Act.KEYWORD, TokenKind.ON),
        _r("all", _Act.KEYWORD, TokenKind.ALL),
        _r("any", _Act.KEYWORD, TokenKind.ANY),
        _r("split", _Act.KEYWORD, TokenKind.SPLIT),
        _r("target", _Act.KEYWORD, TokenKind.TARGET),
        _r("select", _Act.SELECT),
        # PL/Proxy's hack so that "SELECT (" is not taken for a function call.
        _r(rf"select{_SPACE}*\(", _Act.SELECT_PAREN),
        _r(rf"{_IDENT}{_SPACE}*\(", _Act.FNCALL),
        _r(rf"{_SPACE}+", _Act.SKIP),
        _r(r"--[^\n]*", _Act.SKIP),
        _r(r"/\*", _Act.PLCOM),
        _r(_IDENT, _Act.IDENT),
        _r(_NUMIDENT, _Act.IDENT),
        _r(_PLNUMBER, _Act.NUMBER),
        # flex's ['](''|[^']+)*['] with one character per step: Python's backtracking
        # matcher would take exponential time on the nested "+" in an unclosed string.
        _r(r"'(?:[^']|'')*'", _Act.STRING),
        _r(r".", _Act.CHAR),
    ),
    _State.SQL: (
        # "--" comments vanish; the newline after them is read as whitespace.
        _r(r"--[^\n]*", _Act.SKIP),
        _r(r"/\*", _Act.LONGCOM),
        _r(rf"\$(?:{_DOLQ})?\$", _Act.DOLQ_BEGIN),
        _r(r'"', _Act.QIDENT_BEGIN),
        _r(r"E'", _Act.EXTQ_BEGIN),
        # standard_conforming_strings is on (always, from PostgreSQL 19 on): '' is standard.
        _r(r"'", _Act.STDQ_BEGIN),
        _r(_IDENT, _Act.SQLIDENT),
        _r(_NUMIDENT, _Act.SQLIDENT),
        _r(_SQLNUM, _Act.PART),
        _r(_SQLSYM, _Act.PART),
        _r(rf"{_SPACE}+", _Act.SPACE),
        _r(r";", _Act.SQL_END),
        _r(r".", _Act.CHAR),
    ),
    _State.DOLQ: (
        _r(r"[^$]+", _Act.PART),
        _r(rf"\$(?:{_DOLQ})?\$", _Act.DOLQ_TAG),
        _r(r"\$[^$]*", _Act.PART),
    ),
    # 2.12 reads "" inside a quoted identifier as an escaped quote (2.10 had \" instead).
    _State.QIDENT: (
        _r(r'[^"]+', _Act.PART),
        _r(r'""', _Act.PART),
        _r(r'"', _Act.PART_BEGIN_SQL),
    ),
    _State.STDQ: (
        _r(r"[^']+", _Act.PART),
        _r(r"''", _Act.PART),
        _r(r"'", _Act.PART_BEGIN_SQL),
    ),
    _State.EXTQ: (
        _r(r"[^'\\]+", _Act.PART),
        _r(r"''", _Act.PART),
        _r(r"\\.", _Act.PART),
        _r(r"'", _Act.PART_BEGIN_SQL),
        _r(r".", _Act.PART),
    ),
}


def _unquote(literal: str) -> str:
    """scanner.l's ``unquote()``: drop the outer quotes, ``''`` stands for ``'``."""
    return literal[1:-1].replace("''", "'")


class _Scanner:
    """One pass over one body; yields tokens lazily, like ``yylex()`` called by the parser."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.pos = 0
        self.line = 1
        self.line_start = 0  # offset of the first character of ``self.line``
        self.state = _State.INITIAL
        self.dollar_tag = ""
        self.comment_closed = False

    def _longest(self) -> tuple[_Rule, int]:
        """flex's choice: the longest match, the earliest rule on a tie."""
        best: _Rule | None = None
        best_end = -1
        for rule in _RULES[self.state]:
            m = rule.pattern.match(self.body, self.pos)
            if m is not None and m.end() > best_end:
                best, best_end = rule, m.end()
        # Every state ends in a catch-all rule, so something always matches (flex's
        # "nodefault" would otherwise abort with "scanner jammed").
        assert best is not None
        return best, best_end

    def _advance(self, end: int) -> tuple[int, int]:
        """Consume up to ``end``; return the (line, column) where the consumed text began."""
        line, column = self.line, self.pos - self.line_start + 1
        newlines = self.body.count("\n", self.pos, end)
        if newlines:
            self.line += newlines
            self.line_start = self.body.rindex("\n", self.pos, end) + 1
        self.pos = end
        return line, column

    def __iter__(self) -> Iterator[Token]:
        while self.pos < len(self.body):
            rule, end = self._longest()
            if rule.act is _Act.SELECT_PAREN:
                end = self.pos + 6  # yyless(6): give back the spaces and the "("
            elif rule.act in (_Act.PLCOM, _Act.LONGCOM):
                # The comment runs to the first "*/" after the opening "/*", or to the end.
                close = self.body.find("*/", end)
                self.comment_closed = close >= 0
                end = close + 2 if self.comment_closed else len(self.body)
            elif rule.act is _Act.DOLQ_TAG and self.body[self.pos : end] != self.dollar_tag:
                # Not our closing tag (compared with strcmp(), so case matters here):
                # flex's "report only 1 char", the rest may still hold the real tag.
                end = self.pos + 1
            start = self.pos
            line, column = self._advance(end)
            text = self.body[start:end]
            token = self._act(rule, text)
            if token is not None:
                kind, value = token
                yield Token(kind, text, value, line, column, self.line)
        column = self.pos - self.line_start + 1
        yield Token(TokenKind.EOF, "", "", self.line, column, self.line)

    def _act(self, rule: _Rule, text: str) -> tuple[TokenKind, str] | None:
        """The C action of ``rule``: switch state, return (kind, value) or nothing."""
        match rule.act:
            case _Act.SKIP:
                return None
            case _Act.KEYWORD:
                assert rule.kind is not None
                return rule.kind, text
            case _Act.SELECT | _Act.SELECT_PAREN:
                self.state = _State.SQL
                return TokenKind.SELECT, text
            case _Act.FNCALL:
                self.state = _State.SQL
                return TokenKind.FNCALL, text
            case _Act.IDENT:
                return TokenKind.IDENT, text
            case _Act.NUMBER:
                return TokenKind.NUMBER, text
            case _Act.STRING:
                return TokenKind.STRING, _unquote(text)
            case _Act.CHAR:
                return TokenKind.CHAR, text
            case _Act.PLCOM:
                return None
            case _Act.LONGCOM:
                # An unclosed comment swallows the rest of the body and yields nothing.
                return (TokenKind.SQLPART, " ") if self.comment_closed else None
            case _Act.DOLQ_BEGIN:
                self.state = _State.DOLQ
                self.dollar_tag = text
                return TokenKind.SQLPART, text
            case _Act.DOLQ_TAG:
                # __iter__ cut a mismatching tag down to its "$"; a whole one closes.
                if text == self.dollar_tag:
                    self.state = _State.SQL
                return TokenKind.SQLPART, text
            case _Act.PART:
                return TokenKind.SQLPART, text
            case _Act.PART_BEGIN_SQL:
                self.state = _State.SQL
                return TokenKind.SQLPART, text
            case _Act.QIDENT_BEGIN:
                self.state = _State.QIDENT
                return TokenKind.SQLPART, text
            case _Act.STDQ_BEGIN:
                self.state = _State.STDQ
                return TokenKind.SQLPART, text
            case _Act.EXTQ_BEGIN:
                self.state = _State.EXTQ
                return TokenKind.SQLPART, text
            case _Act.SQLIDENT:
                return TokenKind.SQLIDENT, text
            case _Act.SPACE:
                return TokenKind.SQLPART, " "
            case _Act.SQL_END:
                self.state = _State.INITIAL
                return TokenKind.CHAR, text


def tokenize(body: str) -> Iterator[Token]:
    """Tokens of a PL/Proxy function body, ending with one :attr:`TokenKind.EOF` token.

    Lazy, like flex: nothing past the token the parser asks for is read. The scanner never
    fails: a character no rule wants comes out as a :attr:`TokenKind.CHAR` for the parser
    to reject, and an unterminated comment or quote simply runs to the end of the body.
    """
    return iter(_Scanner(body))
