"""Hostile input: fuzzed parsers fail cleanly, hostile values never change the remote SQL.

Two parser families are fuzzed with hypothesis, each with at least 100,000 inputs:

* the **body parser** (``language.tokenize`` / ``parse_body``, and the same bodies inside
  ``CREATE FUNCTION ... LANGUAGE plproxy`` through ``compile_function``);
* the **SQL call parser**: ``bind_variables`` (``:var``), then ``Session.execute`` on a
  session without servers, which splits the script (``parse_statements``), compiles
  definitions and parses call forms (``parse_call``, select-list and outer-SQL calls).

Any input may fail, but only with the errors a user's mistake deserves: ``CompileError``,
``CallError``, ``ClusterError`` (no such cluster), ``SqlError`` (PostgreSQL-shaped usage
errors such as ``Function used in wrong context``) and the ``RoutingError`` of an undefined
routing function (SQLSTATE 42883). Anything else — ``IndexError``, a
``RecursionError``, a runtime error such as ``ConnectError`` that would mean the parse let
the input through to a server — fails the test.

The inputs are near-valid on purpose: real statements assembled from PL/Proxy's and the call
forms' pieces, with odd literals (unbalanced quotes, dollar quotes, ``E''`` escapes, comments,
NULs, lone surrogates, non-ASCII text), then mutated (pieces inserted, spans deleted,
duplicated) and cut at every token boundary, so that every "syntax error at end of input" path
is walked. Plain random text is fuzzed too, but it mostly hits the first error path. One
hypothesis example yields many inputs (its statements, every prefix, every mutation), which
keeps 200,000+ inputs near a minute; each test counts its inputs and asserts its quota.

Then, against the real partitions (no mocks): argument values with quotes, semicolons, dollar
quotes, backslashes, comment markers, NULs and unicode round-trip exactly, the statement the
partitions receive (their ``current_query()``) is the same fixed text whatever the value, and
an injection attempt leaves its victim table alone — through Python calls, the SQL call form
and ``:var`` parameters. Hostile function, schema, column and cluster names are quoted or
refused cleanly. Finally ``CONNECT argname`` warns at definition time.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plproxy_magic.calls import TypedNull, bind_variables
from plproxy_magic.errors import (
    CallError,
    ClusterError,
    CompileError,
    PlProxyError,
    RoutingError,
    SqlError,
)
from plproxy_magic.function import ConnectArgumentWarning
from plproxy_magic.language import Arg, SqlText, TokenKind, parse_body, tokenize
from plproxy_magic.language.ast import ArgRef, FuncCall
from plproxy_magic.pgtypes import TypeRef
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

# Errors a malformed body or statement may raise (see the module docstring).
COMPILE_ERRORS = (CompileError,)
USAGE_ERRORS = (CompileError, CallError, ClusterError, SqlError)

# Inputs per test; each family's shares add up to at least 100,000.
BODY_QUOTA = {"statements": 80_000, "text": 25_000}
SQL_QUOTA = {"statements": 100_000, "text": 20_000}
assert sum(BODY_QUOTA.values()) >= 100_000 and sum(SQL_QUOTA.values()) >= 100_000


def fuzz_settings(examples: int) -> settings:
    """Deterministic (derandomized, no example database), no deadline: CI sees one run."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


# -- pieces of near-valid input ---------------------------------------------------------------

# Odd literals and lexical traps shared by both families.
TRAPS = [
    "'", "''", "'it''s'", '"', '""', '"a""b"', "$$", "$q$", "$Q$", "$_$", "$1$", "$", "E'",
    "E'\\''", "E'\\\\'", "\\", "\\'", "--", "-- c\n", "/*", "*/", "/* a /* b */", "*", "\n",
    "\r\n", "\t", "\x0c", " ", ";", ",", "(", ")", ".", "::", ":", "[", "]", "{", "}", "\x00",
    "\ufeff", "\u2028", "é", "Ä", "𝔘", "\ud800", "\udfff", "٣", "0", "7", "1.5", "-1",
    "99999999999999999999999", "1e999999", "$1", "$0", "$2", "$4294967297",
    "$99999999999999999999999", "U&'\\0041'", "B'101'", "X'1F'", "x'zz'", "N'n'",
]  # fmt: skip

# -- body parser ------------------------------------------------------------------------------

# The proxy function's IN arguments: a scalar, arrays, an unnamed one, a non-ASCII name.
BODY_ARGS = (Arg("a"), Arg("b", True), Arg(None), Arg("Ä", True), Arg("all"))
BODY_SIGNATURE = 'a text, b text[], int4, "Ä" text[], "all" int'

BODY_WORDS = [
    "cluster", "CONNECT", "run", "ON", "all", "Any", "split", "target", "select", "SELECT (",
    "a", "b", "Ä", "$1", "$2", "$3", "$5", "$6", "x.y", "a . b", "hashtext(", "f(", "ALL(",
    "select(", "'c'", "'dbname=x'", "from", "where", "||",
]  # fmt: skip

SQL_IDENTS = st.sampled_from(["a", "b", "Ä", "ALL", "$1", "$2", "$4", "$9", "t.a", "x", "A"])
SQL_LITERALS = st.sampled_from(
    ["'a'", "'a''b'", "'$1'", "E'a\\'b'", "E'\\\\'", "$$x$$", "$t$ a $1 ' $t$", "$t$$T$",
     '"a"', '"$1"', '"x""y"', "1", "1.5e3", "/* a */", "-- z\n", "'é'", "'\\'"]
)  # fmt: skip
SQL_OPS = st.sampled_from([" ", ", ", " || ", " = ", "(", ")", "::text", ".", " + ", "\n"])
SQL_PIECES = st.one_of(SQL_IDENTS, SQL_LITERALS, SQL_OPS, st.sampled_from(TRAPS))
# A run of raw SQL: identifiers (argument candidates), literals, operators, traps.
RAW_SQL = st.lists(SQL_PIECES, min_size=1, max_size=8).map("".join)


def _statement_strategy() -> st.SearchStrategy[str]:
    """One PL/Proxy statement, usually valid, with its operands drawn from the odd cases."""
    string = st.sampled_from(["'c'", "'it''s'", "''", "'dbname=x'", "'a;b'", "'\\'", "'é'"])
    ident = st.sampled_from(["a", "b", "Ä", "all", "$1", "$2", "$4", "$5", "$0", "$6", "x"])
    fname = st.sampled_from(["hashtext", "f", "x.y", "a . b", "ALL", "select"])
    call = st.builds("{}({})".format, fname, RAW_SQL)
    runon = st.sampled_from(["ALL", "ANY", "0", "3", "99999999999999999999"])
    names = st.lists(ident, min_size=1, max_size=3).map(", ".join)
    junk = st.lists(st.sampled_from(BODY_WORDS + TRAPS), max_size=6).map(" ".join)
    core = st.one_of(
        st.builds("CLUSTER {}".format, st.one_of(string, call)),
        st.builds("CONNECT {}".format, st.one_of(string, ident, call)),
        st.builds("RUN ON {}".format, st.one_of(runon, ident, call)),
        st.builds("SPLIT {}".format, st.one_of(st.just("ALL"), names)),
        st.builds("TARGET {}".format, st.sampled_from(["t", "s.t", "$1", "a . b", "'t'"])),
        st.builds("SELECT {}".format, st.lists(SQL_PIECES, min_size=1, max_size=12).map("".join)),
        st.sampled_from(["-- comment", "/* comment */", ""]),
        junk,
    )
    end = st.sampled_from([";", ";", ";", " ;", "", ";;", ",", "\n"])
    return st.builds(str.__add__, core, end)


BODY_STATEMENT = _statement_strategy()


@dataclass(frozen=True)
class Mutation:
    """Insert ``text`` at ``at``, then delete ``delete`` characters (``at`` taken modulo)."""

    at: int
    text: str
    delete: int


mutations = st.lists(
    st.builds(
        Mutation,
        st.integers(0, 10_000),
        st.one_of(st.sampled_from(TRAPS + BODY_WORDS), st.just("")),
        st.integers(0, 6),
    ),
    max_size=14,
)


def mutate(text: str, m: Mutation) -> str:
    at = m.at % (len(text) + 1)
    return text[:at] + m.text + text[at + m.delete :]


def cuts(text: str, starts: Iterator[int]) -> Iterator[str]:
    """``text`` cut before every position in ``starts`` (token boundaries)."""
    seen = set()
    for pos in starts:
        if 0 < pos < len(text) and pos not in seen:
            seen.add(pos)
            yield text[:pos]


def token_starts(body: str) -> Iterator[int]:
    """Offsets where the body scanner's tokens begin (from their line and column)."""
    lines = body.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for tok in tokenize(body):
        yield offsets[tok.line - 1] + tok.column - 1


def check_body(body: str) -> None:
    """``parse_body`` gives a consistent Body or a well-formed CompileError, nothing else."""
    try:
        parsed = parse_body(body, BODY_ARGS)
    except COMPILE_ERRORS as exc:
        text = str(exc)
        assert text and len(text.encode("utf-8", "surrogatepass")) <= 1023 + 64
        if exc.line is not None:
            assert 1 <= exc.line <= body.count("\n") + 1, (body, exc.line)
            assert exc.message.startswith(f"Compile error at line {exc.line}: ")
        return
    assert parsed.cluster is not None or parsed.connect is not None
    specs = (parsed.cluster, parsed.connect, parsed.run_on)
    texts = [parsed.select, *(s.sql for s in specs if isinstance(s, FuncCall))]
    for text in texts:
        if isinstance(text, SqlText):
            assert all(p != "" for p in text.parts)
            assert all(0 <= r < len(BODY_ARGS) for r in text.refs)
    split = parsed.split if isinstance(parsed.split, tuple) else ()
    for spec in (parsed.connect, parsed.run_on, *split):
        if isinstance(spec, ArgRef):
            assert 0 <= spec.index < len(BODY_ARGS)


def check_body_in_create_function(body: str, session: Session) -> None:
    """The same body in a CREATE FUNCTION statement: compile errors only."""
    tag = "$hx$"
    while tag in body:
        tag = tag[:-1] + "x$"
    sql = (
        f"CREATE FUNCTION hx_fuzz({BODY_SIGNATURE}) RETURNS SETOF text "
        f"AS {tag}{body}{tag} LANGUAGE plproxy"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConnectArgumentWarning)
        with contextlib.suppress(USAGE_ERRORS):
            session.execute(sql)


def test_body_parser_statements() -> None:
    """Real statements, mutated and cut at every token: ~86,000 bodies."""
    count = 0
    session = Session()  # only compiles: no cluster, no connection

    @fuzz_settings(2_500)
    @given(st.lists(BODY_STATEMENT, max_size=6), st.sampled_from([" ", "\n", "", "\t"]),
           mutations)  # fmt: skip
    def run(statements: list[str], sep: str, changes: list[Mutation]) -> None:
        nonlocal count
        body = sep.join(statements)
        variants = [body]
        current = body
        for m in changes:
            variants.append(mutate(body, m))
            current = mutate(current, m)
            variants.append(current)
        for v in variants:
            check_body(v)
        count += len(variants)
        # Every prefix at a token boundary: walks the "syntax error" path of every state.
        for v in (body, current):
            for prefix in cuts(v, token_starts(v)):
                check_body(prefix)
                count += 1
        check_body_in_create_function(current, session)
        count += 1

    run()
    assert count >= BODY_QUOTA["statements"], count


def test_body_parser_text() -> None:
    """Random text, plain and from the language's alphabet: ~25,000 bodies."""
    count = 0
    alphabet = st.sampled_from(list("cClLuUsStTrRnNaAeEoO$'\"\\;,()._-/*=|:[]{} \n\t0129\x00é"))

    @fuzz_settings(1_250)
    @given(st.lists(st.one_of(st.text(), st.text(alphabet)), min_size=20, max_size=20))
    def run(bodies: list[str]) -> None:
        nonlocal count
        for body in bodies:
            check_body(body)
            assert all(t.text or t.kind is TokenKind.EOF for t in tokenize(body))
        count += len(bodies)

    run()
    assert count >= BODY_QUOTA["text"], count


# -- SQL call parser --------------------------------------------------------------------------

# Notebook variables for ``:var``: hostile values are bound, never pasted.
NAMESPACE: dict[str, Any] = {
    "v": "a'); DROP TABLE hx_victim; --",
    "w": 7,
    "arr": ["$$", "\\", None],
    "nul": "a\x00b",
}

ARG_LITERALS = [
    "1", "-1", "0", "- 1", "99999999999999999999999", "1.5", "-(-1.5)", "1e999999", "'a''b'",
    "'a''); DROP TABLE hx_victim; --'", "E'\\''", "E'\\\\'", "E'a\\000b'", "E'\\x00'",
    "E'\\u0000'", "E'\\uD800'", "$$x;y$$", "$t$ ' $t$", "$$$$", "U&'\\0041'", "U&'\\0000'",
    "U&'d!0061t' UESCAPE '!'", "B'101'", "B'102'", "X'1F'", "x'zz'", "NULL", "NULL::text",
    "'{1,2}'::int[]", "'{{1},{2}}'::int[]", "'{a'::text[]", "'{{{{{{{1}}}}}}}'::int[]",
    "'{1}x'::int[]", "'[2:3]={7,4}'::int[]", "ARRAY[1,2]", "ARRAY[]::int[]", "ARRAY[ARRAY[1]]",
    "'1.255'::numeric(10,2)", "'1'::numeric(10,a)", "'1'::numeric(10,1.5)", "'x'::numeric(3,1)",
    "1::int::text", "-'5'", "-NULL", "-true", "-ARRAY[1]", "-'-5'::int", "true", ":v", ":w",
    ":arr", ":nul", ":nope", "$1", "$2", "$0", "$99", "'é'", "'\x00'", "'𝔘'", "'\ud800'",
    "a => 1", "b => 'x'", "\"b\" => 2", "/* c */ 1", "1 -- c\n", "(1)", "(SELECT 1)", "now()",
    "1 + 1", "ROW(1,2)", "'x' COLLATE \"C\"", "'{\"a\": 1}'::jsonb", "interval '1 day'",
    "DEFAULT", "*", "VARIADIC ARRAY[1]", "1 ORDER BY 1", "DISTINCT 1", "'a'::\"Weird\"\"T\"",
    "'1'::int4range", "'x'::text[][]", "'1'::s.t", "1::int2", "70000::int2", "'1'::bit(3)",
]  # fmt: skip
FNAMES = ["f", "g", "h", "hx_nope", "public.f", '"f"', '"F"', '"f""; drop"', "s.t.f", "sum"]
COLDEFS = ["a int", "a int, b text", '"x""y" text', "a int[]", "a s.t", "a numeric(10,2)"]
PARAMS = [
    "a int", "b text", "c text[]", "OUT x int", "INOUT y text", "d int DEFAULT 1",
    "e text DEFAULT 'a''b'", "VARIADIC v int[]", '"q""x" text', "int", "text[]",
    "g int DEFAULT '1'::numeric(10,a)", "h int DEFAULT now()", "t TABLE", "x t%TYPE",
]  # fmt: skip
RETURNS = [
    "int", "SETOF text", 'TABLE(a int, "b""c" text)', "record", "SETOF record", "void",
    "x.y", "int[]", "SETOF s.t", "trigger",
]  # fmt: skip
# Bodies for the SQL family route to a cluster no session has, and never CONNECT: the
# fuzzed calls must not reach any server.
SQL_BODIES = [
    "CLUSTER 'nowhere';", "CLUSTER 'nowhere'; RUN ON ALL;", "CLUSTER 'nowhere'; RUN ON a;",
    "CLUSTER 'nowhere'; RUN ON hashtext(b);", "CLUSTER 'nowhere'; SPLIT c; RUN ON ALL;",
    "CLUSTER 'nowhere'; SELECT a, b FROM t WHERE x = 'a''b';", "CLUSTER 'no''where';",
    "CLUSTER pick(a);", "CLUSTER 'nowhere'; RUN ON f(1) JOIN t ON true;",
    "CLUSTER 'nowhere'; RUN ON f(1) UNION SELECT 2;", "CLUSTER 'nowhere'; TARGET s.t;",
    "RUN ON ALL;", "CLUSTER 'nowhere'; SELECT $1 || $$;$$;", "CLUSTER 'nowhere'; RUN ON $9;",
]  # fmt: skip
SQL_ATOMS = [*TRAPS, "SELECT", "*", "AS", "=>", "ARRAY[", "::int", "NULL", "CREATE", "OR",
             "REPLACE", "FUNCTION", "LANGUAGE", "plproxy", "RETURNS", "SETOF", "TABLE(", "AS $$",
             "LATERAL", "WITH ORDINALITY", "ROWS FROM (", "WHERE", "ORDER BY 1", "LIMIT 1",
             "UNION SELECT 1", "JOIN f(1) ON true", "f(", "g(", ":v", "=>", "OVER ()"]  # fmt: skip


def _quote_body(body: str, style: int) -> str:
    if style == 0:
        return "$$" + body + "$$"
    if style == 1:
        return "$body$" + body + "$body$"
    if style == 2:
        return "'" + body.replace("'", "''") + "'"
    return "E'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_statement_strategy() -> st.SearchStrategy[str]:
    """A call form or a definition, with odd literals, names and bodies."""
    fname = st.sampled_from(FNAMES)
    args = st.lists(st.sampled_from(ARG_LITERALS), max_size=4).map(", ".join)
    coldefs = st.lists(st.sampled_from(COLDEFS), min_size=1, max_size=2).map(", ".join)
    call = st.builds("{}({})".format, fname, args)
    forms = st.one_of(
        st.builds("SELECT * FROM {}".format, call),
        st.builds("SELECT * FROM {} AS t({})".format, call, coldefs),
        st.builds("SELECT {}".format, call),
        st.builds("SELECT {} AS x".format, call),
        st.builds("SELECT ({}).*".format, call),
        st.builds("SELECT a, b FROM {}".format, call),
        st.builds("SELECT * FROM {} t WHERE t.a = 1".format, call),
        st.builds("SELECT count(*) FROM {} t".format, call),
    )
    body = st.one_of(
        st.sampled_from(SQL_BODIES),
        st.lists(st.sampled_from(SQL_BODIES + TRAPS), max_size=3).map(" ".join),
    )
    params = st.lists(st.sampled_from(PARAMS), max_size=3).map(", ".join)
    options = st.sampled_from(["", " STRICT", " IMMUTABLE", " VOLATILE", " SECURITY DEFINER",
                               " CALLED ON NULL INPUT", " COST 1", " WINDOW"])  # fmt: skip
    definition = st.builds(
        "CREATE {}FUNCTION {}({}) RETURNS {} AS {} LANGUAGE {}{}".format,
        st.sampled_from(["", "OR REPLACE "]),
        fname,
        params,
        st.sampled_from(RETURNS),
        st.builds(_quote_body, body, st.integers(0, 3)),
        st.sampled_from(["plproxy", "PLPROXY", '"plproxy"', "sql", "c"]),
        options,
    )
    other = st.sampled_from(["VACUUM", "DROP TABLE x", "SELECT 1", "", "BEGIN", "COMMIT",
                             "SELECT * FROM hx_t", "EXPLAIN SELECT * FROM f(1)"])  # fmt: skip
    return st.one_of(forms, forms, definition, other)


SQL_STATEMENT = _sql_statement_strategy()
SQL_MUTATIONS = st.lists(
    st.builds(Mutation, st.integers(0, 10_000),
              st.one_of(st.sampled_from(SQL_ATOMS), st.just("")), st.integers(0, 6)),
    max_size=14,
)  # fmt: skip

# Definitions every fuzzed call can find: all on a cluster no session has.
SQL_FUZZ_DEFINITIONS = """
CREATE FUNCTION f(a int, b text DEFAULT 'x') RETURNS SETOF text AS $$
    CLUSTER 'nowhere'; RUN ON hashtext(b); $$ LANGUAGE plproxy;
CREATE FUNCTION f(a text) RETURNS text AS $$ CLUSTER 'nowhere'; $$ LANGUAGE plproxy;
CREATE FUNCTION g(c text[], OUT a int, OUT b text) RETURNS SETOF record AS $$
    CLUSTER 'nowhere'; SPLIT c; RUN ON ALL; SELECT 1, c; $$ LANGUAGE plproxy;
CREATE FUNCTION h(a text) RETURNS SETOF record AS $$
    CLUSTER 'nowhere'; RUN ON ALL; $$ LANGUAGE plproxy;
CREATE FUNCTION "f""; drop"(a text) RETURNS text AS $$ CLUSTER 'nowhere'; $$ LANGUAGE plproxy;
"""


def sql_session() -> Session:
    session = Session()
    session.execute(SQL_FUZZ_DEFINITIONS)
    return session


@pytest.fixture()
def fuzz_session() -> Iterator[Session]:
    """A session without servers: every proxy function in it routes to a missing cluster."""
    with sql_session() as session:
        yield session


def check_sql(sql: str, session: Session) -> None:
    """``:var`` binding, then ``Session.execute``: usage errors only, no server reached."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConnectArgumentWarning)
        try:
            bound, params = bind_variables(sql, NAMESPACE)
            session.execute(bound, params)
        except USAGE_ERRORS:
            pass
        except RoutingError as exc:
            # a routing function with no implementation (CLUSTER pick(a)): undefined function
            if exc.sqlstate != "42883":
                raise


def sql_token_starts(sql: str) -> Iterator[int]:
    """Where PostgreSQL's scanner starts each token (nothing when it cannot scan ``sql``)."""
    from pglast.parser import ParseError, scan

    try:
        tokens = scan(sql)
    except (ParseError, UnicodeEncodeError):
        return iter(())
    return (t.start for t in tokens)


def test_sql_call_parser_statements(fuzz_session: Session) -> None:
    """Call forms and definitions, mutated and cut at every token: ~120,000 scripts."""
    count = 0

    @fuzz_settings(2_400)
    @given(st.lists(SQL_STATEMENT, min_size=1, max_size=3), st.sampled_from(["; ", ";\n", " "]),
           SQL_MUTATIONS)  # fmt: skip
    def run(statements: list[str], sep: str, changes: list[Mutation]) -> None:
        nonlocal count
        script = sep.join(statements)
        variants = [script]
        current = script
        for m in changes:
            variants.append(mutate(script, m))
            current = mutate(current, m)
            variants.append(current)
        for v in (script, current):
            variants.extend(cuts(v, sql_token_starts(v)))
        for v in variants:
            check_sql(v, fuzz_session)
        count += len(variants)

    run()
    assert count >= SQL_QUOTA["statements"], count


def test_sql_call_parser_text(fuzz_session: Session) -> None:
    """Random text, plain and from SQL's alphabet: ~20,000 scripts."""
    count = 0
    alphabet = st.sampled_from(list("SELECTFROMselectfrom*$'\"\\;,()[]{}:=>.-/ \n\t019\x00é"))

    @fuzz_settings(1_000)
    @given(st.lists(st.one_of(st.text(), st.text(alphabet)), min_size=20, max_size=20))
    def run(scripts: list[str]) -> None:
        nonlocal count
        for sql in scripts:
            check_sql(sql, fuzz_session)
        count += len(scripts)

    run()
    assert count >= SQL_QUOTA["text"], count


# -- what the fuzzing found: exact errors instead of crashes ------------------------------------


@pytest.mark.parametrize(
    ("sql", "message", "sqlstate"),
    [
        # pglast's ParseError has no .location: every syntax error was an AttributeError
        ("SELECT 1;\nSELECT * FROM f(", "syntax error at end of input", "42601"),
        (
            "SELECT 1;\nSELECT * FROM f('a)",
            'unterminated quoted string at or near "\'a)" (line 2)',
            "42601",
        ),
        # the C parser stops at a NUL: the rest of the script was silently dropped
        (
            "SELECT * FROM f(1)\x00; DROP TABLE x",
            'invalid byte sequence for encoding "UTF8": 0x00 (line 1)',
            "22021",
        ),
        # a lone surrogate has no UTF-8 form: UnicodeEncodeError
        (
            "SELECT * FROM f('\ud800')",
            'invalid byte sequence for encoding "UTF8": 0xed 0xa0 0x80',
            "22021",
        ),
        # bit strings: AttributeError (no .sval)
        ("SELECT * FROM f(x'1g')", '"g" is not a valid hexadecimal digit', "22P02"),
        ("SELECT * FROM f(B'102')", '"2" is not a valid binary digit', "22P02"),
        # numeric typmods that are not integer constants: AttributeError
        (
            "SELECT * FROM f('1'::numeric(10,a))",
            "type modifiers of numeric must be integer constants",
            "22023",
        ),
        (
            "SELECT * FROM f('1'::numeric(10,1.5))",
            "type modifiers of numeric must be integer constants",
            "22023",
        ),
        (
            "SELECT * FROM f('1'::numeric(10,2000))",
            "NUMERIC scale 2000 must be between -1000 and 1000",
            "22023",
        ),
        # unary minus of what has no minus: "-None", "-[1]" were sent as text
        ("SELECT * FROM f(-NULL)", "operator is not unique: - unknown", "42725"),
        ("SELECT * FROM f(-true)", "operator does not exist: - boolean", "42883"),
        ("SELECT * FROM f(-ARRAY[1])", "operator does not exist: - array", "42883"),
        # array literals: junk was ignored, deep nesting was a RecursionError
        ("SELECT * FROM f('{1}x'::int[])", 'malformed array literal: "{1}x"', "22P02"),
        ("SELECT * FROM f('abc'::int[])", 'malformed array literal: "abc"', "22P02"),
        ("SELECT * FROM f('{,}'::int[])", 'malformed array literal: "{,}"', "22P02"),
        (
            "SELECT * FROM f('" + "{" * 3000 + "'::int[])",
            "number of array dimensions exceeds the maximum allowed (6)",
            "54000",
        ),
        # deep trees: RecursionError in the kernel's tree walkers
        ("SELECT * FROM f(" + "ARRAY[" * 3000 + "1" + "]" * 3000 + ")", None, "54001"),
        ("SELECT x FROM f(1) t WHERE " + "+".join(["x"] * 150) + " > 0", None, "54001"),
    ],
)
def test_hostile_sql_gives_exact_errors(
    fuzz_session: Session, sql: str, message: str | None, sqlstate: str
) -> None:
    with pytest.raises(CallError) as info:
        fuzz_session.execute(sql)
    if message is None:
        assert info.value.message.startswith("statement nested more than 80 levels deep: ")
    else:
        assert info.value.message == message
    assert info.value.sqlstate == sqlstate


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        ("SELECT * FROM f(B'101', X'1F', b'')", ["101", "00011111", ""]),
        ("SELECT * FROM f(-(-1.5), - -2, -'-5'::int, -'7')", ["1.5", 2, "5", "-7"]),
        ("SELECT * FROM f(NULL::text::int)", [TypedNull(TypeRef("int4", "pg_catalog"))]),
        ("SELECT * FROM f('{ a , \"b c\" , NULL, \"NULL\", a\\,b, \\\\ }'::text[])",
         [["a", "b c", None, "NULL", "a,b", "\\"]]),
        ("SELECT * FROM f('[2:3]={{1,2},{3,4}}'::int[], '{}'::int[])", [[["1", "2"], ["3", "4"]], []]),
        # statement texts after non-ASCII text were cut at byte offsets (UnicodeDecodeError)
        ("SELECT 1 -- é\u2028\n; SELECT * FROM f('é')", ["é"]),
    ],
)  # fmt: skip
def test_odd_literals_give_postgres_values(sql: str, args: list[Any]) -> None:
    from plproxy_magic.calls import parse_call, parse_statements

    stmt, _ = parse_statements(sql)[-1]
    call = parse_call(stmt)
    assert call is not None
    assert list(call.args) == args


def test_statement_texts_are_cut_at_characters() -> None:
    from plproxy_magic.calls import parse_statements

    texts = [t for _, t in parse_statements("SELECT 'ä€😀' -- é\n; SELECT 'ö'; SELECT 3")]
    assert texts == ["SELECT 'ä€😀' -- é", "SELECT 'ö'", "SELECT 3"]


def test_local_queries_the_kernel_cannot_evaluate_fail_cleanly(shards: Sandbox) -> None:
    """RUN ON f(1) UNION ... / JOIN ...: a TypeError / AttributeError while planning."""
    with Session() as s:
        s.add_cluster("shards", shards.partitions)
        s.execute(
            "CREATE FUNCTION hx_union(a int) RETURNS SETOF int AS $$ CLUSTER 'shards'; "
            "RUN ON hashint4(a) UNION SELECT 2; $$ LANGUAGE plproxy;"
            "CREATE FUNCTION hx_join(a int) RETURNS SETOF int AS $$ CLUSTER 'shards'; "
            "RUN ON hashint4(a) JOIN t ON true; $$ LANGUAGE plproxy;"
            "CREATE FUNCTION hx_bits(a int) RETURNS SETOF int AS $$ CLUSTER 'shards'; "
            "RUN ON length(X'1F'::text); $$ LANGUAGE plproxy;"
        )
        for name in ("hx_union", "hx_join"):
            with pytest.raises(PlProxyError, match=r"cannot evaluate .* in the kernel") as info:
                s.call(name, 1)
            assert info.value.sqlstate == "42883"
        s.routing_function(lambda t: 2 if t == "00011111" else 1, name="length")
        step = s.explain("SELECT * FROM hx_bits(1)").steps[0]
        assert [t[0] for t in step.targets] == [2]


# -- hostile values on the real partitions ------------------------------------------------------

# The echo functions return their argument and current_query(): the statement text exactly as
# the partition received it from the client.
DATA_NODES = r"""
CREATE TABLE IF NOT EXISTS hx_victim (x int);
TRUNCATE hx_victim;
INSERT INTO hx_victim VALUES (42);
CREATE OR REPLACE FUNCTION hx_seen(t text, OUT v text, OUT q text)
AS $$ SELECT t, current_query() $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION hx_seen_bytes(b bytea, OUT v bytea, OUT q text)
AS $$ SELECT b, current_query() $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION hx_seen_arr(a text[], OUT v text[], OUT q text)
AS $$ SELECT a, current_query() $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION "hx_q""; DROP TABLE hx_victim; --"(t text, OUT v text, OUT q text)
AS $$ SELECT t, current_query() $$ LANGUAGE sql;
CREATE SCHEMA IF NOT EXISTS "hx s""; --";
CREATE OR REPLACE FUNCTION "hx s""; --"."Hx F"(t text) RETURNS TABLE("a""b" text, "q; --" text)
AS $$ SELECT t, current_query() $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION hx_seen(t text, OUT v text, OUT q text) AS $$
    CLUSTER 'shards'; RUN ON hashtext(t);
$$ LANGUAGE plproxy;
CREATE FUNCTION hx_seen_all(t text) RETURNS TABLE(v text, q text) AS $$
    CLUSTER 'shards'; RUN ON ALL;
    SELECT v, q FROM hx_seen(t) /* t, $1 */ WHERE 't' = $q$t$q$ AND "v" IS NOT NULL;
$$ LANGUAGE plproxy;
CREATE FUNCTION hx_seen_bytes(b bytea, OUT v bytea, OUT q text) AS $$
    CLUSTER 'shards'; RUN ON 0;
$$ LANGUAGE plproxy;
CREATE FUNCTION hx_seen_arr(a text[], OUT v text[], OUT q text) AS $$
    CLUSTER 'shards'; RUN ON 1;
$$ LANGUAGE plproxy;
CREATE FUNCTION "hx_q""; DROP TABLE hx_victim; --"(t text, OUT v text, OUT q text) AS $$
    CLUSTER 'shards'; RUN ON 2;
$$ LANGUAGE plproxy;
CREATE FUNCTION "hx s""; --"."Hx F"(t text) RETURNS TABLE("a""b" text, "q; --" text) AS $$
    CLUSTER 'shards'; RUN ON 3;
$$ LANGUAGE plproxy;
"""

HOSTILE = [
    "'); DROP TABLE hx_victim; --",
    "x'; DROP TABLE hx_victim; --",
    "' OR '1'='1",
    '"; DROP TABLE hx_victim; --',
    "$$; DROP TABLE hx_victim; $$",
    "$q$ DROP TABLE hx_victim $q$",
    "$1",
    "$2::text); DROP TABLE hx_victim; --",
    ":v",
    "\\'; DROP TABLE hx_victim; --",
    "\\",
    "\\\\x00",
    "E'\\x27'",
    "/* unclosed comment",
    "*/ DROP TABLE hx_victim; /*",
    "-- comment\n; DROP TABLE hx_victim",
    ";",
    "%s %(x)s {} {{x}}",
    "NULL",
    "",
    " \r\n\t",
    "é中文🙂\u2028\ufeff\u200b",
    "x" * 100_000,
]

DEFAULT_STATEMENT = "select v::text, q::text from public.hx_seen($1::text)"
SELECT_STATEMENT = "SELECT v, q FROM hx_seen($1::text)   WHERE 't' = $q$t$q$ AND \"v\" IS NOT NULL"


def sql_literals(value: str) -> list[str]:
    """``value`` as SQL literals of every quoting style."""
    tag = "$z$"
    while tag in value or value.endswith(tag[:-1]):
        tag = tag[:-1] + "z$"
    e = value.replace("\\", "\\\\").replace("'", "\\'")
    return ["'" + value.replace("'", "''") + "'", f"{tag}{value}{tag}", f"E'{e}'"]


@pytest.fixture(scope="module")
def hostile_nodes(shards: Sandbox) -> Sandbox:
    with Session() as s:
        s.add_cluster("shards", shards.partitions)
        s.run("shards", DATA_NODES)
    return shards


@pytest.fixture()
def hs(session: Session, hostile_nodes: Sandbox) -> Iterator[Session]:
    session.execute(PROXIES)
    yield session
    # No injected statement ran anywhere: the victim keeps its one row on every partition.
    victims = session.run("shards", "SELECT x FROM hx_victim")
    assert victims["x"].tolist() == [42, 42, 42, 42]


def test_hostile_values_round_trip_as_python_arguments(hs: Session) -> None:
    for value in HOSTILE:
        got = hs.functions["hx_seen"](value)
        assert got.to_dict("records") == [{"v": value, "q": DEFAULT_STATEMENT}]
        rows = hs.functions["hx_seen_all"](value)
        assert rows.to_dict("records") == [{"v": value, "q": SELECT_STATEMENT}] * 4


def test_hostile_values_round_trip_through_sql_literals(hs: Session) -> None:
    for value in HOSTILE[:-1]:
        for literal in sql_literals(value):
            got = hs.sql(f"SELECT * FROM hx_seen({literal})")
            assert got.to_dict("records") == [{"v": value, "q": DEFAULT_STATEMENT}], literal
            got = hs.sql(f"SELECT v, q FROM hx_seen_all(t => {literal}) WHERE v = {literal}")
            assert got["q"].tolist() == [SELECT_STATEMENT] * 4, literal


def test_hostile_values_round_trip_through_variables(hs: Session) -> None:
    for value in HOSTILE:
        sql, params = bind_variables("SELECT * FROM hx_seen(:value) -- :value", {"value": value})
        assert sql == "SELECT * FROM hx_seen($1) -- :value" and params == [value]
        assert hs.sql(sql, params).to_dict("records") == [{"v": value, "q": DEFAULT_STATEMENT}]


def test_hostile_bytes_and_arrays_round_trip(hs: Session) -> None:
    for data in (b"\x00'); DROP TABLE hx_victim; --\x00", bytes(range(256)), b""):
        got = hs.functions["hx_seen_bytes"](data)
        assert got["v"].tolist() == [data]
        assert got["q"].tolist() == [
            "select v::bytea, q::text from public.hx_seen_bytes($1::bytea)"
        ]
    array = [*HOSTILE[:-1], None, '"', "{", "}", ",", "NULL", "{a,b}"]
    got = hs.functions["hx_seen_arr"](array)
    assert got["v"].tolist() == [array]
    assert got["q"].tolist() == ["select v::_text, q::text from public.hx_seen_arr($1::_text)"]
    # the same array as a literal in SQL: PostgreSQL's quoting rules, parsed in the kernel
    inner = ",".join(
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in array
    )
    for literal in sql_literals("{" + inner + "}"):
        got = hs.sql(f"SELECT v FROM hx_seen_arr({literal}::text[])")
        assert got["v"].tolist() == [array], literal


def test_nul_in_text_is_refused_by_the_partition_and_the_session_goes_on(hs: Session) -> None:
    with pytest.raises(PlProxyError) as info:
        hs.functions["hx_seen"]("a\x00b")
    err = info.value
    partition = hashtext_partition("a\x00b")
    assert err.function == "public.hx_seen(1)" and err.partition == partition
    assert str(err) == (
        f"PL/Proxy function public.hx_seen(1): [shards_p{partition}] "
        "PostgreSQL text fields cannot contain NUL (0x00) bytes"
    )
    # through a :variable too, and as an array element
    sql, params = bind_variables("SELECT * FROM hx_seen(:v)", {"v": "\x00"})
    with pytest.raises(
        PlProxyError, match=r"\[shards_p\d\] PostgreSQL text fields cannot contain NUL"
    ):
        hs.sql(sql, params)
    with pytest.raises(PlProxyError, match=r"public.hx_seen_arr\(1\): \[shards_p1\] .* NUL"):
        hs.functions["hx_seen_arr"](["a", "b\x00"])
    # a NUL in the SQL text itself is refused before parsing (PostgreSQL's error)
    with pytest.raises(CallError, match='invalid byte sequence for encoding "UTF8": 0x00'):
        hs.sql("SELECT * FROM hx_seen('a\x00b')")
    with pytest.raises(CallError, match='invalid byte sequence for encoding "UTF8": 0x00'):
        hs.sql("SELECT * FROM hx_seen(E'a\\000b')")
    # the session and its connections are still fine
    assert hs.functions["hx_seen"]("after")["v"].tolist() == ["after"]
    assert hs.functions["hx_seen_all"]("after")["v"].tolist() == ["after"] * 4


def hashtext_partition(value: str) -> int:
    from plproxy_magic.hashing import hashtext

    return int(hashtext(value)) & 3


def test_lone_surrogates_are_refused_before_routing(hs: Session) -> None:
    for call in (
        lambda: hs.functions["hx_seen"]("a\ud800"),
        lambda: hs.functions["hx_seen_all"]("\udfff"),
        lambda: hs.functions["hx_seen_arr"](["ok", "a\ud800"]),
        lambda: hs.sql(*bind_variables("SELECT * FROM hx_seen(:v)", {"v": "\ud800"})),
        lambda: hs.sql("SELECT * FROM hx_seen('\ud800')"),
    ):
        with pytest.raises(
            CallError, match='invalid byte sequence for encoding "UTF8": 0xed'
        ) as info:
            call()
        assert info.value.sqlstate == "22021"
    assert hs.functions["hx_seen"]("after")["v"].tolist() == ["after"]


def test_hostile_names_are_quoted(hs: Session) -> None:
    got = hs.sql("""SELECT * FROM "hx_q""; DROP TABLE hx_victim; --"('x'';--')""")
    assert got.to_dict("records") == [{
        "v": "x';--",
        "q": 'select v::text, q::text from public."hx_q""; DROP TABLE hx_victim; --"($1::text)',
    }]  # fmt: skip
    got = hs.sql("""SELECT * FROM "hx s""; --"."Hx F"('$$')""")
    assert got.to_dict("records") == [{
        'a"b': "$$",
        "q; --": 'select "a""b"::text, "q; --"::text from "hx s""; --"."Hx F"($1::text)',
    }]  # fmt: skip


def test_alias_column_lists_rename_with_hostile_names(hs: Session) -> None:
    """``AS t(a, b)`` renames the columns, as in PostgreSQL (the plain call form ignored it)."""
    got = hs.sql('SELECT * FROM hx_seen(\'y\') AS t("v; --", "q""")')
    assert got.to_dict("records") == [{"v; --": "y", 'q"': DEFAULT_STATEMENT}]


def test_hostile_cluster_names_are_refused_cleanly(hs: Session) -> None:
    hs.execute(
        "CREATE FUNCTION hx_nowhere(t text) RETURNS text AS $$ "
        "CLUSTER 'x''; DROP TABLE hx_victim; --'; $$ LANGUAGE plproxy;"
    )
    with pytest.raises(ClusterError) as info:
        hs.functions["hx_nowhere"]("v")
    assert str(info.value) == "Pl/Proxy: cluster not found: x'; DROP TABLE hx_victim; --"
    # a cluster may have any name: it is a key in the session, never SQL
    odd = "we'ird\"; --"
    hs.add_cluster(odd, hs.clusters["shards"].partitions)
    hs.execute(
        "CREATE FUNCTION hx_odd(t text, OUT v text, OUT q text) AS $$ "
        "CLUSTER 'we''ird\"; --'; RUN ON 0; TARGET hx_seen; $$ LANGUAGE plproxy;"
    )
    got = hs.functions["hx_odd"]("z")
    assert got.to_dict("records") == [{
        "v": "z", "q": "select v::text, q::text from hx_seen($1::text)"
    }]  # fmt: skip


def test_deepest_accepted_statement_runs(hs: Session) -> None:
    """Just below the depth bound, outer SQL runs (copies, deparse, DuckDB) from deep in a
    stack; one level more is refused with 54001."""
    import inspect

    def nested(levels: int) -> str:
        return (
            "SELECT " + "abs(" * levels + "length(v)" + ")" * levels + " AS n FROM hx_seen('abc')"
        )

    def at_depth(frames: int, sql: str) -> Any:
        return hs.sql(sql) if frames == 0 else at_depth(frames - 1, sql)

    from plproxy_magic.calls import MAX_DEPTH, parse_statements

    levels = MAX_DEPTH
    while True:  # the statement around the calls takes a few levels
        try:
            parse_statements(nested(levels))
            break
        except CallError as exc:
            assert exc.sqlstate == "54001"
            levels -= 1
    assert levels > MAX_DEPTH - 10
    # IPython's kernel runs a cell about 60 frames deep; leave room for twice that
    base = len(inspect.stack(0))
    assert at_depth(max(0, 120 - base), nested(levels))["n"].tolist() == [3]


# -- array literals parse as PostgreSQL parses them ---------------------------------------------

ARRAY_LITERALS = [
    "{}", "{ }", "{1,2}", " { a , b } ", '{"a b",NULL,"NULL",null}', "{a\\,b,\\\\,\\\"}",
    '{"\\a\\"b"}', "{{1,2},{3,4}}", "[2:3]={7,4}", "{{{{{{1}}}}}}", "{{{{{{{1}}}}}}}",
    "{1}x", "abc", "{a{b}", "{,}", "{a,}", '{"a"x}', "{", '{"a', "{a b  ,  c d}", "{\\ a\\ }",
    "{{1},{2}}", "{ {1} , {2} }", "{ \"x\" }", "{NuLL}", "{\\NULL}", "{é,\"😀\"}",
]  # fmt: skip


def test_array_literals_match_postgres(pg: psycopg.Connection[tuple[object, ...]]) -> None:
    from plproxy_magic.calls import parse_array_literal

    for literal in ARRAY_LITERALS:
        try:
            row = pg.execute("SELECT %s::text[]", (literal,)).fetchone()
            assert row is not None
            expected: Any = row[0]
        except psycopg.Error as exc:
            expected = exc.sqlstate
        try:
            got: Any = parse_array_literal(literal)
        except CallError as exc:
            got = exc.sqlstate
        assert got == expected, literal


# -- CONNECT argname ----------------------------------------------------------------------------


def test_connect_argument_warns_at_definition() -> None:
    with Session() as s:
        connect_argument_warnings(s)


def connect_argument_warnings(s: Session) -> None:
    with pytest.warns(ConnectArgumentWarning) as record:
        s.execute(
            "CREATE FUNCTION hx_conn(cs text) RETURNS SETOF text AS $$ CONNECT cs; "
            "SELECT current_database()::text; $$ LANGUAGE plproxy;"
        )
    assert [str(w.message) for w in record] == [
        "PL/Proxy function public.hx_conn(1): CONNECT cs takes the connect string from the "
        "caller, who then chooses the server, user and libpq options the kernel connects to "
        "with its credentials (~/.pgpass, service files, PGPASSWORD): never pass untrusted "
        "input to it"
    ]
    with pytest.warns(ConnectArgumentWarning, match=r"public.hx_conn2\(2\): CONNECT \$2 "):
        s.execute("CREATE FUNCTION hx_conn2(int, text) RETURNS int AS $$ CONNECT $2; "
                  "$$ LANGUAGE plproxy;")  # fmt: skip
    # a literal connect string, a mapping function, an unknown name: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConnectArgumentWarning)
        s.execute(
            "CREATE FUNCTION hx_c1(a text) RETURNS int AS $$ CONNECT 'dbname=x'; $$ "
            "LANGUAGE plproxy; CREATE FUNCTION hx_c2(a text) RETURNS int AS $$ "
            "CONNECT pick(a); $$ LANGUAGE plproxy; CREATE FUNCTION hx_c3(a text) RETURNS int "
            "AS $$ CONNECT other; $$ LANGUAGE plproxy;"
        )
    # a definition that fails to compile does not warn
    with warnings.catch_warnings(), pytest.raises(CompileError):
        warnings.simplefilter("error", ConnectArgumentWarning)
        s.execute("CREATE FUNCTION hx_c4(cs text) RETURNS text AS $$ CONNECT cs; RUN ON ALL; "
                  "$$ LANGUAGE plproxy;")  # fmt: skip
