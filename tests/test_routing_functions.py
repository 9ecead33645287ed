"""RUN ON / CLUSTER / CONNECT with functions: Python routing functions, SQL evaluated on a
routing database, and the error when neither knows the function."""

from __future__ import annotations

import psycopg
import pytest

from plproxy_magic import hashing
from plproxy_magic.errors import RoutingError, SqlError
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

WHERE = "SELECT current_database()::text;"


def define(s: Session, sig: str, body: str) -> None:
    s.execute(f"CREATE FUNCTION {sig} AS $$ {body} $$ LANGUAGE plproxy")


def dbs(df: object) -> list[str]:
    return df.iloc[:, 0].tolist()  # type: ignore[attr-defined, no-any-return]


def test_python_routing_function_in_run_on(session: Session) -> None:
    @session.routing_function
    def by_length(name: str) -> int:
        return len(name)

    define(
        session,
        "rf_len(name text) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON by_length(name); {WHERE}",
    )
    assert dbs(session.call("rf_len", "abc")) == ["shards_p3"]
    assert dbs(session.call("rf_len", "abcd")) == ["shards_p0"]


def test_set_returning_python_function_tags_several_partitions(session: Session) -> None:
    session.routing_function(lambda n: range(n), name="first_n")
    define(
        session,
        "rf_many(n int) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON first_n(n); {WHERE}",
    )
    assert dbs(session.call("rf_many", 3)) == ["shards_p0", "shards_p1", "shards_p2"]
    assert session.call("rf_many", 0).empty  # zero hashes: no remote call, no rows


def test_cluster_and_connect_functions(session: Session, shards: Sandbox) -> None:
    session.add_cluster("solo", [shards.partitions[2]])
    session.routing_function(lambda region: "solo" if region == "eu" else "shards", name="pick")
    define(
        session, "rf_cl(region text) RETURNS SETOF text", f"CLUSTER pick(region); RUN ON 0; {WHERE}"
    )
    assert dbs(session.call("rf_cl", "eu")) == ["shards_p2"]
    assert dbs(session.call("rf_cl", "us")) == ["shards_p0"]

    parts = shards.partitions
    session.routing_function(lambda i: parts[i], name="conn_for")
    define(session, "rf_conn(i int) RETURNS SETOF text", f"CONNECT conn_for(i); {WHERE}")
    assert dbs(session.call("rf_conn", 1)) == ["shards_p1"]
    session.routing_function(lambda i: None, name="conn_for")
    define(session, "rf_conn(i int) RETURNS SETOF text", f"CONNECT conn_for(i); {WHERE}")
    with pytest.raises(RoutingError, match="Cluster/connect name map func returned NULL"):
        session.call("rf_conn", 1)


def test_expressions_over_builtin_hashes(session: Session) -> None:
    define(session, "rf_expr(name text, i int) RETURNS SETOF text",
           f"CLUSTER 'shards'; RUN ON hashint4(abs(hashtext(lower(name))) % 1000 + i); {WHERE}")  # fmt: skip
    h = hashing.hashint4(abs(hashing.hashtext("mixed")) % 1000 + 7)
    assert dbs(session.call("rf_expr", "MiXeD", 7)) == [f"shards_p{h & 3}"]


def test_invalid_local_sql_is_a_sql_error_at_call_time(session: Session) -> None:
    define(
        session,
        "rf_bad(a int) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON hashint4(a) # 1; {WHERE}",
    )
    with pytest.raises(SqlError) as e:
        session.call("rf_bad", 1)
    assert e.value.sqlstate == "42601" and 'syntax error at or near "#"' in str(e.value)


def test_unknown_function_names_both_ways_to_provide_it(session: Session) -> None:
    define(
        session,
        "rf_unknown(k text) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON my_shard(k); {WHERE}",
    )
    with pytest.raises(RoutingError) as e:
        session.call("rf_unknown", "x")
    assert "my_shard" in str(e.value)
    assert "@plproxy_magic.routing_function" in str(e.value)
    assert "attach a proxy database" in str(e.value)


def test_sql_routing_function_on_a_routing_database(session: Session, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE OR REPLACE FUNCTION rf_sql_hash(t text) RETURNS SETOF int "
                     "AS $$ SELECT length(t) UNION ALL SELECT length(t) + 1 $$ LANGUAGE sql")  # fmt: skip
        conn.execute("CREATE OR REPLACE FUNCTION rf_boom(t text) RETURNS int "
                     "AS $$ SELECT 1 / 0 $$ LANGUAGE sql")  # fmt: skip
    define(
        session,
        "rf_sql(k text) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON rf_sql_hash(k); {WHERE}",
    )
    define(
        session,
        "rf_boom(k text) RETURNS SETOF text",
        f"CLUSTER 'shards'; RUN ON rf_boom(k); {WHERE}",
    )
    session.routing_database(pg_dsn)
    assert dbs(session.call("rf_sql", "ab")) == ["shards_p2", "shards_p3"]
    with pytest.raises(SqlError) as e:
        session.call("rf_boom", "x")
    assert e.value.sqlstate == "22012" and str(e.value) == "division by zero"
    session.routing_database(None)
    with pytest.raises(RoutingError, match="cannot evaluate rf_sql_hash"):
        session.call("rf_sql", "ab")
