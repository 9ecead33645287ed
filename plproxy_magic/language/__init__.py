"""The PL/Proxy body language: scanner, parser and the AST they produce.

``parse_body(body, args)`` turns the text between the ``$$`` of a ``LANGUAGE plproxy``
function into a :class:`Body`, raising :class:`~plproxy_magic.errors.CompileError` with
PL/Proxy's own messages. ``tokenize`` is exposed for tools that want the tokens.
"""

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
from plproxy_magic.language.parser import Arg, parse_body
from plproxy_magic.language.scanner import Token, TokenKind, tokenize

__all__ = [
    "Arg",
    "ArgRef",
    "Body",
    "ClusterName",
    "ClusterSpec",
    "ConnectSpec",
    "ConnectString",
    "FuncCall",
    "RunAll",
    "RunAny",
    "RunNr",
    "RunOn",
    "SplitAll",
    "SplitSpec",
    "SqlText",
    "Token",
    "TokenKind",
    "UnknownRef",
    "parse_body",
    "tokenize",
]
