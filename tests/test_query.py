"""Remote SQL generation: golden strings observed on real PL/Proxy (reference §1.4)."""

from __future__ import annotations

import pglast
import pytest

from plproxy_magic.function import compile_function
from plproxy_magic.pgtypes import parse_type
from plproxy_magic.query import local_query, remote_query


def compile_sql(sql: str):  # type: ignore[no-untyped-def]
    stmt = pglast.parse_sql(sql)[0].stmt
    return compile_function(stmt, sql)


def fn(signature: str, body: str = "cluster 'c'; run on 0;") -> str:
    return f"CREATE FUNCTION {signature} AS $$ {body} $$ LANGUAGE plproxy"


GOLDEN = [
    (fn("f_scalar(a int, b text) returns text"),
     "select r::text from public.f_scalar($1::int4,$2::text) r"),
    (fn("f_types(a int[], b numeric(10,2), c varchar(5), d char(3), e timestamptz, "
        "i bytea, j jsonb, k int8range) returns text"),
     'select r::text from public.f_types($1::_int4,$2::"numeric",$3::"varchar",$4::bpchar,'
     "$5::timestamptz,$6::bytea,$7::jsonb,$8::int8range) r"),
    (fn("f_types2(h other.pair, g public.mood) returns text"),
     "select r::text from public.f_types2($1::other.pair,$2::public.mood) r"),
    (fn('f_out(a int, out x int, out "Y z" text)'),
     'select x::int4, "Y z"::text from public.f_out($1::int4)'),
    (fn("f_table(n int) returns table (id int, data text)"),
     "select id::int4, data::text from public.f_table($1::int4)"),
    (fn("f_void(a int) returns void"),
     "select r::void from public.f_void($1::int4) r"),
    (fn("f_tgt(a int) returns text", "cluster 'c'; run on 0; target other.f_target;"),
     "select r::text from other.f_target($1::int4) r"),
    (fn("test_out2(username text, id integer, out out_id integer, xdata text, "
        "inout xdata2 text, out odata text)"),
     "select out_id::int4, xdata2::text, odata::text "
     "from public.test_out2($1::text,$2::int4,$3::text,$4::text)"),
    (fn('"MixedCase"(a bigint, b smallint, c boolean, d double precision) returns setof int'),
     'select r::int4 from public."MixedCase"($1::int8,$2::int2,$3::bool,$4::float8) r'),
    (fn("s.f_one_out(a int, out only_col int)"),
     "select r::int4 from s.f_one_out($1::int4) r"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), GOLDEN)
def test_default_query_matches_plproxy(sql: str, expected: str) -> None:
    assert remote_query(compile_sql(sql)).sql == expected


def test_dynamic_record_query_uses_call_site_columns() -> None:
    f = compile_sql(fn("dynq(q text) returns setof record", "cluster 'c'; run on all;"))
    q = remote_query(f, [("a", parse_type("int")), ("B c", parse_type("text"))])
    assert q.sql == 'select a::int4, "B c"::text from public.dynq($1::text) as (a int4, "B c" text)'


def test_dynamic_record_without_column_list_is_refused() -> None:
    f = compile_sql(fn("dynq(q text) returns setof record", "cluster 'c'; run on all;"))
    with pytest.raises(ValueError, match="column definition list"):
        remote_query(f)


def test_explicit_select_substitutes_by_first_appearance() -> None:
    body = (
        "cluster 'c'; run on 0; select $3 || XUSER || xuser || ':' || t.data || ' \"xuser\" ' "
        "|| 'xuser' || $$xuser$$ || id::text\n from tbl t where t.id = id and t.data = t.data "
        "-- xuser comment\n /* xuser */ ;"
    )
    f = compile_sql(
        'CREATE FUNCTION f_sel(xuser text, id int, "Quoted" text) RETURNS SETOF text AS '
        f"$body$ {body} $body$ LANGUAGE plproxy"
    )
    q = remote_query(f)
    assert q.sql.startswith(
        "select $1::text || $2::text || $2::text || ':' || t.data || ' \"xuser\" ' || 'xuser' "
        "|| $$xuser$$ || $3::int4::text from tbl t where t.id = $3::int4 and t.data = t.data"
    )
    assert q.arg_indexes == (2, 0, 1)
    assert q.params(["U", 1, "Q"]) == ["Q", "U", 1]


def test_local_query_has_no_casts() -> None:
    f = compile_sql(fn("f(username text, n int) returns setof int",
                       "cluster 'c'; run on hashtext(lower(username));"))  # fmt: skip
    assert f.body.run_on is not None
    q = local_query(f.body.run_on.sql)  # type: ignore[union-attr]
    assert q.sql == "select * from hashtext(lower($1))"
    assert q.arg_indexes == (0,)
