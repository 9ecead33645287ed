"""Batched per-row calls: one round trip per partition, results in input order, PL/Proxy's
per-call semantics kept."""

from __future__ import annotations

import pandas as pd
import pytest

from plproxy_magic import hashing
from plproxy_magic.batch import unnest_query
from plproxy_magic.errors import CallError, RemoteError, RowCountError
from plproxy_magic.session import Session

NODES = """
CREATE OR REPLACE FUNCTION bt_email(i int) RETURNS text AS $$ SELECT 'u' || i || '@' || current_database() $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION bt_pair(i int, t text, OUT n int, OUT s text) AS $$ SELECT i * 2, t || current_database() $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION bt_set(i int) RETURNS SETOF int AS $$ SELECT generate_series(1, i) $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION bt_div(i int) RETURNS int AS $$ SELECT 10 / i $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION bt_calls() RETURNS bigint AS $$ SELECT calls FROM pg_stat_user_functions WHERE funcname = 'bt_email' $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION bt_email(i int) RETURNS text AS $$ CLUSTER 'shards'; RUN ON hashint4(i); $$ LANGUAGE plproxy;
CREATE FUNCTION bt_pair(i int, t text, OUT n int, OUT s text) AS $$ CLUSTER 'shards'; RUN ON hashtext(t); $$ LANGUAGE plproxy;
CREATE FUNCTION bt_set(i int) RETURNS SETOF int AS $$ CLUSTER 'shards'; RUN ON i; $$ LANGUAGE plproxy;
CREATE FUNCTION bt_all(i int) RETURNS SETOF text AS $$ CLUSTER 'shards'; RUN ON ALL; SELECT current_database() || ':' || i; $$ LANGUAGE plproxy;
CREATE FUNCTION bt_div(i int) RETURNS int AS $$ CLUSTER 'shards'; RUN ON i; $$ LANGUAGE plproxy STRICT;
CREATE FUNCTION bt_sel(i int) RETURNS text AS $$ CLUSTER 'shards'; RUN ON hashint4(i); SELECT 'sel' || i::text; $$ LANGUAGE plproxy;
"""


@pytest.fixture()
def s(session: Session) -> Session:
    session.run("shards", NODES)
    session.execute(PROXIES)
    return session


def test_unnest_form_of_the_remote_query(s: Session) -> None:
    fn = s.functions["bt_email"].definitions[0]
    assert unnest_query(fn, None) == (
        "select u.ord, r.v::text from unnest($1::_int4) with ordinality as u(a1, ord) "
        "cross join lateral public.bt_email(u.a1) as r(v)"
    )
    assert unnest_query(s.functions["bt_sel"].definitions[0], None) is None  # explicit SELECT


def test_map_matches_per_row_calls_in_input_order(s: Session) -> None:
    keys = [7, -3, 100, 0, 7, 2**31 - 1, -(2**31)]
    batched = s.functions["bt_email"].map(keys)
    single = [s.call("bt_email", k)["bt_email"][0] for k in keys]
    assert batched["bt_email"].tolist() == single
    assert batched.index.tolist() == list(range(len(keys)))
    for k, email in zip(keys, single, strict=True):
        assert email == f"u{k}@shards_p{hashing.hashint4(k) & 3}"


def test_one_round_trip_per_partition(s: Session) -> None:
    sent: list[tuple[int, int]] = []
    run = s.executor.run

    def counting_run(cluster: str, tasks: list, **kw: object) -> list:  # type: ignore[type-arg]
        sent.extend((t.partition, len(t.statements)) for t in tasks)
        return run(cluster, tasks, **kw)  # type: ignore[arg-type]

    s.executor.run = counting_run  # type: ignore[method-assign]
    keys = list(range(1000))
    df = s.functions["bt_email"](keys)  # a list for a scalar argument: batched
    assert len(df) == 1000
    assert sorted(sent) == [(0, 1), (1, 1), (2, 1), (3, 1)]  # one statement per partition
    by_partition = df["bt_email"].str.split("@").str[1].value_counts().sort_index()
    expected = (
        pd.Series([f"shards_p{hashing.hashint4(k) & 3}" for k in keys]).value_counts().sort_index()
    )
    assert by_partition.tolist() == expected.tolist()


def test_composite_and_broadcast_arguments(s: Session) -> None:
    df = s.functions["bt_pair"]([1, 2, 3], "x")
    assert df["n"].tolist() == [2, 4, 6]
    assert all(v.startswith("xshards_p") for v in df["s"])
    assert df["s"].tolist()[0] == f"xshards_p{hashing.hashtext('x') & 3}"


def test_setof_rows_keep_input_positions(s: Session) -> None:
    df = s.functions["bt_set"].map([2, 0, 3])
    assert df["bt_set"].tolist() == [1, 2, 1, 2, 3]
    assert df.index.tolist() == [0, 0, 2, 2, 2]
    every = s.functions["bt_all"].map([5, 6])
    assert every["bt_all"].tolist() == [f"shards_p{p}:5" for p in range(4)] + [
        f"shards_p{p}:6" for p in range(4)
    ]


def test_pipeline_fallback_for_explicit_select(s: Session) -> None:
    df = s.functions["bt_sel"].map([1, 2, 3])
    assert df["bt_sel"].tolist() == ["sel1", "sel2", "sel3"]


def test_strict_nulls_and_errors(s: Session) -> None:
    df = s.functions["bt_div"].map([1, None, 2])
    assert (
        df["bt_div"].tolist()[0] == 10
        and pd.isna(df["bt_div"][1])
        and df["bt_div"].tolist()[2] == 5
    )
    with pytest.raises(RemoteError, match="division by zero"):
        s.functions["bt_div"].map([1, 0])
    with pytest.raises(CallError, match="out of range for type integer"):
        s.functions["bt_email"].map([1, 2**40])
    s.execute(
        "CREATE FUNCTION bt_none(i int) RETURNS int AS $$ CLUSTER 'shards'; RUN ON i; SELECT 1 WHERE false; $$ LANGUAGE plproxy"
    )
    with pytest.raises(RowCountError):
        s.functions["bt_none"].map([1, 2])


def test_select_list_calls_over_other_rows_are_batched(s: Session) -> None:
    df = s.sql("SELECT i, bt_email(i) FROM generate_series(1, 200) i ORDER BY i DESC")
    assert df["i"].tolist() == list(range(200, 0, -1))
    assert df["bt_email"].tolist() == [
        f"u{i}@shards_p{hashing.hashint4(i) & 3}" for i in range(200, 0, -1)
    ]
    star = s.sql("SELECT (bt_pair(k, 'z')).* FROM generate_series(0, 5) t(k) WHERE k % 2 = 0")
    assert star["n"].tolist() == [0, 4, 8]
    assert list(star.columns) == ["n", "s"]
    alias = s.sql("SELECT bt_email(k) AS mail FROM generate_series(3, 4) AS g(k)")
    assert alias["mail"].tolist() == [f"u{k}@shards_p{hashing.hashint4(k) & 3}" for k in (3, 4)]
    with pytest.raises(CallError, match="returns sets"):
        s.sql("SELECT bt_set(k) FROM generate_series(1, 3) AS g(k)")


def test_select_list_composite_results_and_output_ordering(s: Session) -> None:
    df = s.sql("SELECT bt_pair(k, 'q') FROM generate_series(1, 3) AS g(k)")
    assert list(df.columns) == ["n", "s"] and df["n"].tolist() == [2, 4, 6]
    ordered = s.sql(
        "SELECT (bt_pair(k, 'q')).* FROM generate_series(1, 5) AS g(k) ORDER BY n DESC LIMIT 2"
    )
    assert ordered["n"].tolist() == [10, 8]
    by_pos = s.sql(
        "SELECT k, bt_email(k) FROM generate_series(1, 4) AS g(k) ORDER BY 2, 1 OFFSET 1"
    )
    expected = sorted((f"u{k}@shards_p{hashing.hashint4(k) & 3}", k) for k in range(1, 5))[1:]
    assert list(zip(by_pos["bt_email"], by_pos["k"], strict=True)) == expected
