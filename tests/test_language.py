"""Tests for plproxy_magic.language: the PL/Proxy body scanner and parser.

Pure and data-driven: tables of valid bodies with the :class:`Body` they must give, tables of
invalid bodies with the exact error text, and a golden file of cases measured on real
PL/Proxy (``language_cases/plproxy_2_10.jsonl``, see the README there). Every expected error
text and every remote/local query text in these tables was checked against PL/Proxy 2.10.0
running on PostgreSQL 15.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plproxy_magic.errors import CompileError
from plproxy_magic.language import (
    Arg,
    ArgRef,
    Body,
    ClusterName,
    ConnectString,
    FuncCall,
    RunAll,
    RunAny,
    RunNr,
    SplitAll,
    SqlText,
    Token,
    TokenKind,
    UnknownRef,
    parse_body,
    tokenize,
)

CASES = Path(__file__).parent / "language_cases"

# -- helpers ----------------------------------------------------------------------------------


def sql(*parts: str | int) -> SqlText:
    """``sql("select ", 0, " from t")``: ints are argument references."""
    return SqlText(tuple(ArgRef(p) if isinstance(p, int) else p for p in parts))


def call(name: str, *parts: str | int) -> FuncCall:
    return FuncCall(name, sql(*parts))


def render(text: SqlText, types: Sequence[str] | None = None) -> str:
    """The query PL/Proxy sends for ``text``: ``$k`` numbered by first appearance.

    With ``types`` (PL/Proxy's type names per argument) every reference gets its
    ``::type`` cast, as in the remote query of an explicit SELECT; without, it is a local
    query's bare ``$k``. This is the query stage's job; it is repeated here only to compare
    with what PL/Proxy was seen to send.
    """
    numbers: dict[int, int] = {}
    out: list[str] = []
    for part in text.parts:
        if isinstance(part, ArgRef):
            k = numbers.setdefault(part.index, len(numbers) + 1)
            out.append(f"${k}::{types[part.index]}" if types is not None else f"${k}")
        else:
            out.append(part)
    return "".join(out)


def error_of(body: str, args: Sequence[Arg]) -> str:
    with pytest.raises(CompileError) as info:
        parse_body(body, args)
    return str(info.value)


# Signatures used below (IN/INOUT arguments only).
NONE: tuple[Arg, ...] = ()
# plproxy_split.out: test_array(a text[], b text[], c text)
ABC = (Arg("a", True), Arg("b", True), Arg("c"))
# the reference's f_sel(xuser text, id int, "Quoted" text)
SEL = (Arg("xuser"), Arg("id"), Arg("Quoted"))
# an unnamed argument and names that collide with keywords or look dotted
ODD = (Arg(None), Arg("all"), Arg("t.id"), Arg(""), Arg("e3"))

# -- valid bodies -----------------------------------------------------------------------------

C = ClusterName("c")

VALID: list[tuple[str, str, Sequence[Arg], Body]] = [
    # CLUSTER
    ("cluster-name", "cluster 'userdb';", NONE, Body(cluster=ClusterName("userdb"))),
    ("cluster-quote-escape", r"CLUSTER 'it''s\x';", NONE, Body(cluster=ClusterName("it's\\x"))),
    ("cluster-empty-name", "cluster '';", NONE, Body(cluster=ClusterName(""))),
    ("cluster-only-quote", "cluster '''';", NONE, Body(cluster=ClusterName("'"))),
    (
        "cluster-func",
        "cluster get_cluster(c, $1);",
        ABC,
        Body(cluster=call("get_cluster", "get_cluster(", 2, ", ", 0, ")")),
    ),
    (
        "cluster-func-dotted-spaced",
        "cluster plproxy . pick \n ( 'x' ) ;",
        NONE,
        Body(cluster=call("plproxy . pick", "plproxy . pick \n ( 'x' ) ")),
    ),
    # CONNECT
    (
        "connect-string",
        "connect 'dbname=a host=b';",
        NONE,
        Body(connect=ConnectString("dbname=a host=b")),
    ),
    (
        "connect-func",
        "connect conn_for(xuser);",
        SEL,
        Body(connect=call("conn_for", "conn_for(", 0, ")")),
    ),
    ("connect-name-any-case", "CONNECT XUSER;", SEL, Body(connect=ArgRef(0))),
    ("connect-dollar", "connect $2;", SEL, Body(connect=ArgRef(1))),
    ("connect-unknown-name", "connect other;", SEL, Body(connect=UnknownRef("other"))),
    # RUN ON
    ("run-all", "cluster 'c'; run on all;", NONE, Body(cluster=C, run_on=RunAll())),
    ("run-any", "cluster 'c'; RUN ON ANY;", NONE, Body(cluster=C, run_on=RunAny())),
    ("run-nr", "cluster 'c'; run on 3;", NONE, Body(cluster=C, run_on=RunNr(3))),
    ("run-nr-leading-zeros", "cluster 'c'; run on 007;", NONE, Body(cluster=C, run_on=RunNr(7))),
    # atoi(): int truncation of the saturated long, as the C code does
    (
        "run-nr-wraps",
        "cluster 'c'; run on 99999999999;",
        NONE,
        Body(cluster=C, run_on=RunNr(1215752191)),
    ),
    (
        "run-nr-saturates",
        "cluster 'c'; run on 99999999999999999999999;",
        NONE,
        Body(cluster=C, run_on=RunNr(-1)),
    ),
    (
        "run-func",
        "cluster 'c'; run on hashtext(xuser);",
        SEL,
        Body(cluster=C, run_on=call("hashtext", "hashtext(", 0, ")")),
    ),
    (
        "run-func-no-paren-check",
        "cluster 'c'; run on f(id) + 1;",
        SEL,
        Body(cluster=C, run_on=call("f", "f(", 1, ") + 1")),
    ),
    (
        "run-func-named-like-keyword",
        "cluster 'c'; run on all(a);",
        ABC,
        Body(cluster=C, run_on=call("all", "all(", 0, ")")),
    ),
    ("run-arg-name", "cluster 'c'; run on Id;", SEL, Body(cluster=C, run_on=ArgRef(1))),
    ("run-arg-dollar", "cluster 'c'; run on $3;", SEL, Body(cluster=C, run_on=ArgRef(2))),
    # atoi() again: $4294967297 is $1
    (
        "run-arg-dollar-wraps",
        "cluster 'c'; run on $4294967297;",
        SEL,
        Body(cluster=C, run_on=ArgRef(0)),
    ),
    ("run-unknown-name", "cluster 'c'; run on b;", SEL, Body(cluster=C, run_on=UnknownRef("b"))),
    (
        "run-unknown-dotted",
        "cluster 'c'; run on t.x;",
        SEL,
        Body(cluster=C, run_on=UnknownRef("t.x")),
    ),
    # keywords win over identifiers: an argument named "all" needs $n
    ("run-keyword-beats-arg", "cluster 'c'; run on all;", ODD, Body(cluster=C, run_on=RunAll())),
    ("run-arg-named-all", "cluster 'c'; run on $2;", ODD, Body(cluster=C, run_on=ArgRef(1))),
    # an argument named "t.id" is matched by the one dotted token
    ("run-arg-dotted-name", "cluster 'c'; run on T.ID;", ODD, Body(cluster=C, run_on=ArgRef(2))),
    # SPLIT
    ("split-names", "cluster 'c'; split a, b;", ABC, Body(cluster=C, split=(ArgRef(0), ArgRef(1)))),
    (
        "split-mixed",
        "cluster 'c'; SPLIT $2 ,A;",
        ABC,
        Body(cluster=C, split=(ArgRef(1), ArgRef(0))),
    ),
    ("split-all", "cluster 'c'; split all;", ABC, Body(cluster=C, split=SplitAll())),
    ("split-all-no-arrays", "cluster 'c'; split all;", SEL, Body(cluster=C, split=SplitAll())),
    # TARGET
    (
        "target",
        "cluster 'c'; target other_function;",
        NONE,
        Body(cluster=C, target="other_function"),
    ),
    ("target-dotted", "cluster 'c'; TARGET other.f;", NONE, Body(cluster=C, target="other.f")),
    ("target-verbatim", "cluster 'c'; target o .\n f;", NONE, Body(cluster=C, target="o .\n f")),
    ("target-dollar", "cluster 'c'; target $1;", NONE, Body(cluster=C, target="$1")),
    # SELECT: case as written, whitespace runs folded, text up to the ";"
    ("select", "cluster 'c'; select 1;", NONE, Body(cluster=C, select=sql("select 1"))),
    (
        "select-case-kept",
        "cluster 'c'; SeLeCt X FROM t;",
        NONE,
        Body(cluster=C, select=sql("SeLeCt X FROM t")),
    ),
    ("select-paren", "cluster 'c'; select(1);", NONE, Body(cluster=C, select=sql("select(1)"))),
    (
        "select-space-paren",
        "cluster 'c'; select (0*0);",
        NONE,
        Body(cluster=C, select=sql("select (0*0)")),
    ),
    (
        "select-whitespace",
        "cluster 'c';\nselect\n\t a ,\r\n b\n;",
        NONE,
        Body(cluster=C, select=sql("select a , b ")),
    ),
    (
        "select-comments",
        "cluster 'c'; select a -- xuser;\n, b /* ; xuser */ from t;",
        SEL,
        Body(cluster=C, select=sql("select a  , b   from t")),
    ),
    (
        "select-refs",
        "cluster 'c'; select $3, XUSER, xuser, id;",
        SEL,
        Body(cluster=C, select=sql("select ", 2, ", ", 0, ", ", 0, ", ", 1)),
    ),
    (
        "select-dotted-never-matches",
        "cluster 'c'; select t.xuser, t . id from t where t.id = id;",
        SEL,
        Body(cluster=C, select=sql("select t.xuser, t . id from t where t.id = ", 1)),
    ),
    (
        "select-quotes-verbatim",
        "cluster 'c'; select 'xuser;''id', E'\\';xuser', \"xuser\", \"a\"\"id\", xuser;",
        SEL,
        Body(
            cluster=C, select=sql("select 'xuser;''id', E'\\';xuser', \"xuser\", \"a\"\"id\", ", 0)
        ),
    ),
    (
        "select-dollar-quotes",
        "cluster 'c'; select $$ ; xuser $$, $q$ $Q$ ; xuser $q$, xuser;",
        SEL,
        Body(cluster=C, select=sql("select $$ ; xuser $$, $q$ $Q$ ; xuser $q$, ", 0)),
    ),
    (
        "select-whitespace-in-quotes-kept",
        "cluster 'c'; select 'a\n\n  b';",
        NONE,
        Body(cluster=C, select=sql("select 'a\n\n  b'")),
    ),
    # SQL numbers are [0-9][.0-9]*, so "1.5e3" is a number and then an identifier
    (
        "select-number-then-ident",
        "cluster 'c'; select 1.5e3;",
        ODD,
        Body(cluster=C, select=sql("select 1.5", 4)),
    ),
    (
        "select-unnamed-args-only-by-number",
        "cluster 'c'; select $1, $4;",
        ODD,
        Body(cluster=C, select=sql("select ", 0, ", ", 3)),
    ),
    # statement mode: any order, comments, keywords in any case
    (
        "any-order",
        "select 1; run on 0; split a;\ncluster 'c';",
        ABC,
        Body(cluster=C, run_on=RunNr(0), split=(ArgRef(0),), select=sql("select 1")),
    ),
    (
        "comments-statement-mode",
        "/* c ; */ cluster -- x ;\n 'c' /* y\n */ ; -- end",
        NONE,
        Body(cluster=C),
    ),
    ("unterminated-comment-at-end", "cluster 'c'; /* open", NONE, Body(cluster=C)),
    (
        "keywords-any-case",
        "ClUsTeR 'c'; rUn oN aNy; sPlIt AlL; TaRgEt f;",
        NONE,
        Body(cluster=C, run_on=RunAny(), split=SplitAll(), target="f"),
    ),
    (
        "non-ascii-ident",
        "cluster 'c'; run on été;",
        NONE,
        Body(cluster=C, run_on=UnknownRef("été")),
    ),
]


@pytest.mark.parametrize(
    ("body", "args", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID]
)
def test_valid(body: str, args: Sequence[Arg], expected: Body) -> None:
    assert parse_body(body, args) == expected


# -- invalid bodies ---------------------------------------------------------------------------

INVALID: list[tuple[str, str, Sequence[Arg], str]] = [
    # statements missing or clashing: checked after the parse, so at the last line
    ("empty", "", NONE, "Compile error at line 1: CLUSTER statement missing"),
    (
        "cluster-missing-last-line",
        "\n    --cluster 'testcluster';\n    run on hashtext(dat);\n    select dat;\n",
        (Arg("dat"),),
        "Compile error at line 5: CLUSTER statement missing",
    ),
    (
        "connect-with-cluster",
        "connect 'x';\ncluster 'c';\n",
        NONE,
        "Compile error at line 3: CONNECT cannot be used with CLUSTER/RUN",
    ),
    (
        "connect-with-run",
        "connect 'x';\nrun on 0;",
        NONE,
        "Compile error at line 2: CONNECT cannot be used with CLUSTER/RUN",
    ),
    (
        "target-with-select",
        "cluster 'c';\ntarget f;\nselect 1;\n\n",
        NONE,
        "Compile error at line 5: TARGET cannot be used with SELECT",
    ),
    # the mandatory-statement check comes first
    (
        "cluster-missing-before-target",
        "select 1; target f;",
        NONE,
        "Compile error at line 1: CLUSTER statement missing",
    ),
    # each statement at most once: reported at the second one's ";"
    (
        "two-cluster",
        "cluster 'a';\ncluster\n'b'\n;",
        NONE,
        "Compile error at line 4: Only one CLUSTER statement allowed",
    ),
    (
        "two-connect",
        "connect 'a'; connect 'b';",
        NONE,
        "Compile error at line 1: Only one CONNECT statement allowed",
    ),
    (
        "two-run",
        "cluster 'c'; run on 0;\nrun on any;",
        NONE,
        "Compile error at line 2: Only one RUN statement allowed",
    ),
    (
        "two-split",
        "cluster 'c'; split a;\nsplit b;",
        ABC,
        "Compile error at line 2: Only one SPLIT statement allowed",
    ),
    (
        "two-split-all",
        "cluster 'c'; split all; split all;",
        ABC,
        "Compile error at line 1: Only one SPLIT statement allowed",
    ),
    (
        "two-target",
        "cluster 'c'; target f;\ntarget g;",
        NONE,
        "Compile error at line 2: Only one TARGET statement allowed",
    ),
    # ... except SELECT, which is checked at its keyword, before the query is read
    (
        "two-select",
        "cluster 'c';\nselect 1;\nselect\n2\n;",
        NONE,
        "Compile error at line 3: Only one SELECT statement allowed",
    ),
    (
        "two-select-before-bad-ref",
        "cluster 'c'; select 1; select $9;",
        NONE,
        "Compile error at line 1: Only one SELECT statement allowed",
    ),
    # bad argument references
    (
        "run-bad-dollar",
        "\n    cluster 'testcluster';\n    run on hashtext($2);\n",
        (Arg("dat"),),
        "Compile error at line 3: invalid argument reference: $2",
    ),
    (
        "run-dollar-zero",
        "cluster 'c'; run on $0;",
        SEL,
        "Compile error at line 1: invalid argument reference: $0",
    ),
    (
        "run-dollar-too-big",
        "cluster 'c'; run on $4;",
        SEL,
        "Compile error at line 1: invalid argument reference: $4",
    ),
    (
        "run-dollar-no-args",
        "cluster 'c'; run on $1;",
        NONE,
        "Compile error at line 1: invalid argument reference: $1",
    ),
    (
        "connect-bad-dollar",
        "connect $4;",
        SEL,
        "Compile error at line 1: invalid argument reference: $4",
    ),
    (
        "cluster-func-bad-dollar",
        "cluster f(\n$4);",
        SEL,
        "Compile error at line 2: invalid argument reference: $4",
    ),
    (
        "select-bad-dollar",
        "cluster 'c';\nselect a\nfrom t\nwhere b = $04;",
        SEL,
        "Compile error at line 4: invalid argument reference: $04",
    ),
    # found before the statement's own duplicate check and before a later syntax error
    (
        "bad-ref-before-dup",
        "cluster 'c'; run on 0; run on $9;",
        NONE,
        "Compile error at line 1: invalid argument reference: $9",
    ),
    (
        "bad-ref-before-syntax",
        "cluster 'c'; run on $9 x;",
        NONE,
        "Compile error at line 1: invalid argument reference: $9",
    ),
    # SPLIT: unknown names are compile errors; its own two errors carry no "Compile error"
    (
        "split-bad-dollar",
        "split $4; cluster 'c'; run on 0;",
        ABC,
        "Compile error at line 1: invalid argument reference: $4",
    ),
    (
        "split-bad-name",
        "split x; cluster 'c'; run on 0;",
        ABC,
        "Compile error at line 1: invalid argument reference: x",
    ),
    (
        "split-twice",
        "split a, b, b; cluster 'c'; run on 0;",
        ABC,
        "SPLIT parameter specified more than once: b",
    ),
    (
        "split-twice-as-written",
        "cluster 'c'; split A, $1;",
        ABC,
        "SPLIT parameter specified more than once: $1",
    ),
    (
        "split-not-array",
        "split $3; cluster 'c'; run on 0;",
        ABC,
        "SPLIT parameter is not an array: $3",
    ),
    (
        "split-not-array-as-written",
        "cluster 'c'; split C;",
        ABC,
        "SPLIT parameter is not an array: C",
    ),
    # the parameter check runs before the second statement is complete
    (
        "split-twice-across-statements",
        "cluster 'c'; split a; split a;",
        ABC,
        "SPLIT parameter specified more than once: a",
    ),
    (
        "split-all-then-name",
        "cluster 'c'; split all; split b;",
        ABC,
        "SPLIT parameter specified more than once: b",
    ),
    # syntax errors, at the line of the token that does not fit
    ("run-negative", "cluster 'c'; run on -1;", NONE, "Compile error at line 1: syntax error"),
    ("run-expression", "cluster 'c';\nrun on a + 1;", ABC, "Compile error at line 2: syntax error"),
    ("run-without-on", "cluster 'c'; run 0;", NONE, "Compile error at line 1: syntax error"),
    ("run-on-keyword", "cluster 'c'; run on on;", NONE, "Compile error at line 1: syntax error"),
    ("run-two-values", "cluster 'c'; run on 1 2;", NONE, "Compile error at line 1: syntax error"),
    (
        "target-quoted",
        "cluster 'c'; target \"Quoted\";",
        NONE,
        "Compile error at line 1: syntax error",
    ),
    ("target-number", "cluster 'c'; target 1;", NONE, "Compile error at line 1: syntax error"),
    (
        "target-trailing-dot",
        "cluster 'c'; target a. ;",
        NONE,
        "Compile error at line 1: syntax error",
    ),
    ("cluster-ident", "cluster x;", NONE, "Compile error at line 1: syntax error"),
    ("cluster-double-quoted", 'cluster "c";', NONE, "Compile error at line 1: syntax error"),
    ("cluster-no-semicolon", "cluster 'c'\n\n", NONE, "Compile error at line 3: syntax error"),
    ("cluster-unterminated-string", "cluster 'c;\n", NONE, "Compile error at line 1: syntax error"),
    ("connect-number", "connect 1;", NONE, "Compile error at line 1: syntax error"),
    ("empty-statement", "cluster 'c';;", NONE, "Compile error at line 1: syntax error"),
    ("bare-call", "cluster 'c';\nfoo(1);", NONE, "Compile error at line 2: syntax error"),
    ("unknown-word", "cluster 'c'; foo;", NONE, "Compile error at line 1: syntax error"),
    ("func-without-args", "cluster 'c'; run on f(;", NONE, "Compile error at line 1: syntax error"),
    ("split-empty", "cluster 'c'; split;", ABC, "Compile error at line 1: syntax error"),
    ("split-no-comma", "cluster 'c'; split a b;", ABC, "Compile error at line 1: syntax error"),
    (
        "split-trailing-comma",
        "cluster 'c'; split a,;",
        ABC,
        "Compile error at line 1: syntax error",
    ),
    ("select-empty", "cluster 'c'; select;", NONE, "Compile error at line 1: syntax error"),
    ("select-glued", "cluster 'c'; selectx;", NONE, "Compile error at line 1: syntax error"),
    (
        "select-unterminated",
        "cluster 'c'; select 'x;\n\n",
        NONE,
        "Compile error at line 3: syntax error",
    ),
    (
        "select-no-semicolon",
        "cluster 'c'; select 1\n",
        NONE,
        "Compile error at line 2: syntax error",
    ),
    (
        "select-lone-dollar",
        "cluster 'c';\nselect $a from t;",
        NONE,
        "Compile error at line 2: syntax error",
    ),
    ("select-backquote", "cluster 'c'; select `x`;", NONE, "Compile error at line 1: syntax error"),
    (
        "select-backslash",
        "cluster 'c'; select\n\n\\;",
        NONE,
        "Compile error at line 3: syntax error",
    ),
    ("formfeed-is-no-space", "cluster 'c';\x0c", NONE, "Compile error at line 1: syntax error"),
    ("crlf-lines", "cluster 'c';\r\n\r\nrun on -1;", NONE, "Compile error at line 3: syntax error"),
    # multi-line tokens: the line after the token counts
    (
        "line-after-string",
        "cluster '\n\nc'; run on $9;",
        NONE,
        "Compile error at line 3: invalid argument reference: $9",
    ),
    (
        "line-after-comment",
        "cluster 'c'; /*\n\n*/ run on $9;",
        NONE,
        "Compile error at line 3: invalid argument reference: $9",
    ),
    (
        "line-in-func-call",
        "cluster 'c'; run on\n f\n (\n $9);",
        NONE,
        "Compile error at line 4: invalid argument reference: $9",
    ),
]


@pytest.mark.parametrize(
    ("body", "args", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid(body: str, args: Sequence[Arg], message: str) -> None:
    assert error_of(body, args) == message


def test_error_fields() -> None:
    with pytest.raises(CompileError) as info:
        parse_body("cluster 'c';\nrun on $9;", NONE)
    assert (info.value.line, info.value.bare) == (2, "invalid argument reference: $9")
    assert str(info.value.for_function("public.f(0)")) == (
        "PL/Proxy function public.f(0): Compile error at line 2: invalid argument reference: $9"
    )
    with pytest.raises(CompileError) as info:
        parse_body("cluster 'c'; split c;", ABC)
    assert (info.value.line, str(info.value)) == (None, "SPLIT parameter is not an array: c")


def test_long_messages_are_cut_like_plproxy() -> None:
    # PL/Proxy formats into 1024-byte buffers: the whole "Compile error ..." text is cut
    # to 1023 bytes, and a multi-byte character is not split.
    name = "x" * 2000
    message = error_of(f"cluster 'c'; split {name};", ABC)
    assert message == "Compile error at line 1: invalid argument reference: " + name[:970]
    assert len(message.encode()) == 1023
    message = error_of(f"cluster 'c'; split {'€' * 600};", ABC)
    assert message.endswith("€") and len(message.encode()) == 1022


# -- the reference's observed SELECT ------------------------------------------------------------

F_SEL_BODY = """select $3 || XUSER || xuser || ':' || t.data || ' "xuser" ' || 'xuser' || $$xuser$$ || id::text
       from tbl t where t.id = id and t.data = t.data -- xuser comment
       /* xuser */ ;
cluster 'c';"""
F_SEL_SENT = (
    """select $1::text || $2::text || $2::text || ':' || t.data || ' "xuser" ' || 'xuser' """
    """|| $$xuser$$ || $3::int4::text from tbl t where t.id = $3::int4 and t.data = t.data    """
)


def test_reference_f_sel() -> None:
    body = parse_body(F_SEL_BODY, SEL)
    assert body.select is not None
    assert body.select.refs == (2, 0, 1)
    assert render(body.select, ["text", "int4", "text"]) == F_SEL_SENT


# -- the seed documents -------------------------------------------------------------------------

SEEDS: list[tuple[str, str, Sequence[Arg], Body]] = [
    # 000: ApsaraDB RDS tutorial
    (
        "rds-insert_user",
        " CLUSTER 'cluster_srv1'; RUN ON ANY; ",
        (Arg("i_id"), Arg("i_name")),
        Body(cluster=ClusterName("cluster_srv1"), run_on=RunAny()),
    ),
    (
        "rds-get_user_name",
        " CLUSTER 'cluster_srv1'; RUN ON ALL; SELECT userid, name FROM users; ",
        NONE,
        Body(
            cluster=ClusterName("cluster_srv1"),
            run_on=RunAll(),
            select=sql("SELECT userid, name FROM users"),
        ),
    ),
    (
        "rds-trunc_user",
        " CLUSTER 'cluster_srv1'; RUN ON ALL; ",
        NONE,
        Body(cluster=ClusterName("cluster_srv1"), run_on=RunAll()),
    ),
    (
        "rds-insert_user_2",
        " CLUSTER 'cluster_srv1'; RUN ON ALL; TARGET insert_user; ",
        (Arg("i_id"), Arg("i_name")),
        Body(cluster=ClusterName("cluster_srv1"), run_on=RunAll(), target="insert_user"),
    ),
    (
        "rds-get_user_name_3",
        "\nCONNECT 'dbname=pl_db0 host=100.81.137.72 port=56789';\nSELECT userid, name FROM users;\n",
        NONE,
        Body(
            connect=ConnectString("dbname=pl_db0 host=100.81.137.72 port=56789"),
            select=sql("SELECT userid, name FROM users"),
        ),
    ),
    # 001: the language reference
    (
        "syntax-set_profiles",
        "\n    CLUSTER 'userdb';\n    SPLIT i_users, i_profiles;\n    RUN ON hashtext(i_users);\n",
        (Arg("i_users", True), Arg("i_profiles", True)),
        Body(
            cluster=ClusterName("userdb"),
            split=(ArgRef(0), ArgRef(1)),
            run_on=call("hashtext", "hashtext(", 0, ")"),
        ),
    ),
    (
        "syntax-some_function",
        "\n    CLUSTER 'userdb';\n    RUN ON hashtext(username);\n    TARGET other_function;\n",
        (Arg("username"), Arg("num")),
        Body(
            cluster=ClusterName("userdb"),
            run_on=call("hashtext", "hashtext(", 0, ")"),
            target="other_function",
        ),
    ),
    (
        "syntax-dynamic_query",
        "\n    CLUSTER 'mycluster';\n    RUN ON ALL;\n",
        (Arg("q"),),
        Body(cluster=ClusterName("mycluster"), run_on=RunAll()),
    ),
    # 004: RDS best practice, key-routed functions
    (
        "rds-query_pk",
        "  \n  cluster 'rds_pg_cluster';  \n  run on i_userid;  \n  target digoal.query_pk;  \n",
        (Arg("i_userid"),),
        Body(cluster=ClusterName("rds_pg_cluster"), run_on=ArgRef(0), target="digoal.query_pk"),
    ),
]


@pytest.mark.parametrize(
    ("body", "args", "expected"), [c[1:] for c in SEEDS], ids=[c[0] for c in SEEDS]
)
def test_seed_examples(body: str, args: Sequence[Arg], expected: Body) -> None:
    assert parse_body(body, args) == expected


def test_split_example_local_query() -> None:
    # "The hash function is called 2 times: SELECT * FROM hashtext('foo')": the local
    # query is "select * from " + the call, with the split argument as $1.
    body = parse_body(SEEDS[5][1], SEEDS[5][2])
    assert isinstance(body.run_on, FuncCall)
    assert "select * from " + render(body.run_on.sql) == "select * from hashtext($1)"


# -- golden cases measured on real PL/Proxy -----------------------------------------------------


def _golden() -> list[dict[str, Any]]:
    with (CASES / "plproxy_2_10.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


GOLDEN = _golden()


@pytest.mark.parametrize("case", GOLDEN, ids=[f"golden-{i}" for i in range(len(GOLDEN))])
def test_golden(case: dict[str, Any]) -> None:
    args = [Arg(name, typ.startswith("_")) for name, typ in case["args"]]
    types = [typ for _, typ in case["args"]]
    if case["error"] is not None:
        assert error_of(case["body"], args) == case["error"]
        return
    body = parse_body(case["body"], args)
    if "remote_sql" in case:
        assert body.select is not None
        assert render(body.select, types) == case["remote_sql"]
    if "local_sql" in case:
        # the first local query PL/Proxy prepares: CLUSTER's, then RUN ON's, then CONNECT's
        local = [
            prefix + render(spec.sql)
            for spec, prefix in (
                (body.cluster, "select "),
                (body.run_on, "select * from "),
                (body.connect, "select * from "),
            )
            if isinstance(spec, FuncCall)
        ]
        assert local[0] == case["local_sql"]


def test_golden_file_covers_both_outcomes() -> None:
    outcomes = {case["error"] is None for case in GOLDEN}
    assert outcomes == {True, False}
    assert sum("remote_sql" in case for case in GOLDEN) >= 50
    assert sum("local_sql" in case for case in GOLDEN) >= 30


# -- the scanner ------------------------------------------------------------------------------


def kinds(body: str) -> list[tuple[TokenKind, str]]:
    return [(t.kind, t.value) for t in tokenize(body)]


K = TokenKind


def test_tokens_statement_mode() -> None:
    assert kinds("RUN on hashtext (x.y, 'a''b');") == [
        (K.RUN, "RUN"),
        (K.ON, "on"),
        (K.FNCALL, "hashtext ("),
        (K.SQLIDENT, "x.y"),
        (K.SQLPART, ","),
        (K.SQLPART, " "),
        (K.SQLPART, "'"),
        (K.SQLPART, "a"),
        (K.SQLPART, "''"),
        (K.SQLPART, "b"),
        (K.SQLPART, "'"),
        (K.SQLPART, ")"),
        (K.CHAR, ";"),
        (K.EOF, ""),
    ]


def test_tokens_longest_match() -> None:
    # keyword vs identifier of the same length: the keyword; longer identifier: identifier
    assert kinds("all alls all.x $12 12 'it''s' , @") == [
        (K.ALL, "all"),
        (K.IDENT, "alls"),
        (K.IDENT, "all.x"),
        (K.IDENT, "$12"),
        (K.NUMBER, "12"),
        (K.STRING, "it's"),
        (K.CHAR, ","),
        (K.CHAR, "@"),
        (K.EOF, ""),
    ]


def test_tokens_select_paren_hack() -> None:
    # "select (" is SELECT then "(", with the spaces given back to the SQL
    assert kinds("select (1") == [
        (K.SELECT, "select"),
        (K.SQLPART, " "),
        (K.SQLPART, "("),
        (K.SQLPART, "1"),
        (K.EOF, ""),
    ]
    assert kinds("selectx(1")[0] == (K.FNCALL, "selectx(")


def test_tokens_raw_sql_mode() -> None:
    assert kinds('select 1.5e3 /* c */ -- d\n$q$ $Q$ $q$ "a""b" E\'\\\'\';x') == [
        (K.SELECT, "select"),
        (K.SQLPART, " "),
        (K.SQLPART, "1.5"),
        (K.SQLIDENT, "e3"),
        (K.SQLPART, " "),
        (K.SQLPART, " "),
        (K.SQLPART, " "),
        (K.SQLPART, " "),
        (K.SQLPART, "$q$"),
        (K.SQLPART, " "),
        (K.SQLPART, "$"),
        (K.SQLPART, "Q"),
        (K.SQLPART, "$ "),
        (K.SQLPART, "$q$"),
        (K.SQLPART, " "),
        (K.SQLPART, '"'),
        (K.SQLPART, "a"),
        (K.SQLPART, '""'),
        (K.SQLPART, "b"),
        (K.SQLPART, '"'),
        (K.SQLPART, " "),
        (K.SQLPART, "E'"),
        (K.SQLPART, "\\'"),
        (K.SQLPART, "'"),
        (K.CHAR, ";"),
        (K.IDENT, "x"),
        (K.EOF, ""),
    ]


def test_token_positions() -> None:
    tokens = list(tokenize("cluster\n  'a\nb';\nselect /* x\n */ 1;"))
    positions = [(t.kind, t.text, t.line, t.column, t.end_line) for t in tokens]
    assert positions == [
        (K.CLUSTER, "cluster", 1, 1, 1),
        (K.STRING, "'a\nb'", 2, 3, 3),
        (K.CHAR, ";", 3, 3, 3),
        (K.SELECT, "select", 4, 1, 4),
        (K.SQLPART, " ", 4, 7, 4),
        (K.SQLPART, "/* x\n */", 4, 8, 5),
        (K.SQLPART, " ", 5, 4, 5),
        (K.SQLPART, "1", 5, 5, 5),
        (K.CHAR, ";", 5, 6, 5),
        (K.EOF, "", 5, 7, 5),
    ]
    assert all(isinstance(t, Token) for t in tokens)


@pytest.mark.parametrize(
    "body",
    [
        "cluster 'c'; split '" + "a" * 20000,  # unclosed string: no exponential backtracking
        "cluster 'c'; /*" + "*" * 20000,  # run of stars in a comment: not quadratic
        "cluster 'c'; select /*" + "*" * 20000 + "*/ 1;",
        "cluster 'c'; select " + "a.b " * 20000 + ";",
        "cluster 'c'; select $q$" + "$Q" * 10000 + "$q$;",
    ],
    ids=["string", "comment", "sql-comment", "dotted", "dollar"],
)
def test_pathological_inputs_stay_fast(body: str) -> None:
    start = time.monotonic()
    with contextlib.suppress(CompileError):
        parse_body(body, ABC)
    assert time.monotonic() - start < 5


# -- fuzz: any text either parses or raises CompileError -----------------------------------------

FRAGMENTS = [
    "cluster", "connect", "run", "on", "all", "any", "split", "target", "select", "SELECT (",
    "'c'", "'it''s'", "'", "\"", '"q""x"', "$$", "$q$", "$Q$", "E'\\'", "--", "\n", "/*", "*/",
    " ", "\t", ";", ",", "(", ")", ".", "$", "$1", "$0", "$99", "a", "b", "c", "x.y", "hashtext(",
    "7", "1.5", "-", "+", "\\", "`", "\x0c", "é", "ALL(", "*", "**", "/",
]  # fmt: skip


def _check_any(body: str) -> None:
    try:
        result = parse_body(body, ABC)
    except CompileError as exc:
        assert str(exc)
        return
    for text in (
        result.select,
        *(getattr(s, "sql", None) for s in (result.cluster, result.run_on, result.connect)),
    ):
        if isinstance(text, SqlText):
            assert all(p != "" for p in text.parts)
            assert not any(
                isinstance(a, str) and isinstance(b, str)
                for a, b in zip(text.parts, text.parts[1:], strict=False)
            )
            assert all(0 <= r < len(ABC) for r in text.refs)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_arbitrary_text(body: str) -> None:
    _check_any(body)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))
def test_fuzz_language_fragments(body: str) -> None:
    _check_any(body)
