"""Calls end to end on real embedded partitions: routing, results, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from plproxy_magic import hashing
from plproxy_magic.errors import (
    CallError,
    ClusterError,
    CompileError,
    ConnectError,
    FanOutError,
    RemoteError,
    RoutingError,
    RowCountError,
)
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

DATA_NODES = """
CREATE TABLE IF NOT EXISTS ts_users (userid int, name text);
CREATE OR REPLACE FUNCTION ts_insert(i_id int, i_name text) RETURNS integer
AS $$ INSERT INTO ts_users VALUES ($1, $2); SELECT 1; $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ts_where() RETURNS SETOF text
AS $$ SELECT current_database()::text $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ts_div(i int) RETURNS int AS $$ SELECT 1 / i $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ts_out(i int, OUT doubled int, OUT label text)
AS $$ SELECT i * 2, 'n' || i $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ts_void(i int) RETURNS void AS $$ SELECT $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ts_dyn(q text) RETURNS SETOF record
AS $$ BEGIN RETURN QUERY EXECUTE q; END $$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION ts_types() RETURNS TABLE(i int, b bigint, n numeric, t timestamptz,
    s text, ok boolean, arr int[], j jsonb)
AS $$ SELECT 1, 9007199254740993::bigint, 12345678901234567890.123456789::numeric,
    '2024-03-01 12:00:00+00'::timestamptz, 'x', true, ARRAY[1,2], '{"a": 1}'::jsonb
    UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION ts_insert(i_id int, i_name text) RETURNS integer AS $$
    CLUSTER 'shards'; RUN ON hashint4(i_id);
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_insert_txt(i_id int, i_name text) RETURNS integer AS $$
    CLUSTER 'shards'; RUN ON hashtext(i_name); TARGET ts_insert;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_get(i_id int) RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'shards'; RUN ON hashint4(i_id);
    SELECT u.userid, u.name FROM ts_users u WHERE u.userid = i_id;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_all() RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'shards'; RUN ON ALL;
    SELECT userid, name FROM ts_users ORDER BY userid;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_where() RETURNS SETOF text AS $$
    CLUSTER 'shards'; RUN ON ALL;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_where_nr(nr int) RETURNS SETOF text AS $$
    CLUSTER 'shards'; RUN ON nr; SELECT current_database()::text;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_div(i int) RETURNS int AS $$
    CLUSTER 'shards'; RUN ON 2;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_div_all(i int) RETURNS SETOF int AS $$
    CLUSTER 'shards'; RUN ON ALL; TARGET ts_div;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_out(i int, OUT doubled int, OUT label text) AS $$
    CLUSTER 'shards'; RUN ON i;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_void(i int) RETURNS void AS $$
    CLUSTER 'shards'; RUN ON i;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_dyn(q text) RETURNS SETOF record AS $$
    CLUSTER 'shards'; RUN ON ALL;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_types() RETURNS TABLE(i int, b bigint, n numeric, t timestamptz,
    s text, ok boolean, arr int[], j jsonb) AS $$
    CLUSTER 'shards'; RUN ON 0;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_strict(i int) RETURNS int AS $$
    CLUSTER 'shards'; RUN ON 0; TARGET ts_div;
$$ LANGUAGE plproxy STRICT;
CREATE FUNCTION ts_none() RETURNS int AS $$
    CLUSTER 'shards'; RUN ON 1; SELECT 1 WHERE false;
$$ LANGUAGE plproxy;
CREATE FUNCTION ts_two() RETURNS int AS $$
    CLUSTER 'shards'; RUN ON 1; SELECT 1 UNION ALL SELECT 2;
$$ LANGUAGE plproxy;
"""


@pytest.fixture(scope="module")
def data_nodes(shards: Sandbox) -> Sandbox:
    with Session() as s:
        s.add_cluster("shards", shards.partitions)
        s.run("shards", DATA_NODES)
        s.run("shards", "TRUNCATE ts_users")
    return shards


@pytest.fixture()
def s(session: Session, data_nodes: Sandbox) -> Session:
    session.execute(PROXIES)
    return session


def partition_rows(s: Session, table: str = "ts_users") -> dict[int, list[int]]:
    out = {}
    for p in range(4):
        df = s.run("shards", f"SELECT userid FROM {table} ORDER BY userid", run_on=p)
        out[p] = df["userid"].tolist()
    return out


def test_hash_routed_writes_land_where_postgres_hash_says(s: Session) -> None:
    s.run("shards", "TRUNCATE ts_users")
    ids = list(range(-20, 40))
    for i in ids:
        assert s.call("ts_insert", i, f"user{i}")["ts_insert"].tolist() == [1]
    placed = partition_rows(s)
    for i in ids:
        assert i in placed[hashing.hashint4(i) & 3]
    # and the partitions' own hashint4 agrees (computed on the server)
    server = s.run("shards", "SELECT userid, hashint4(userid) & 3 AS p FROM ts_users")
    assert sorted(server["userid"].tolist()) == sorted(ids)
    for p, rows in placed.items():
        assert set(server.loc[server["p"] == p, "userid"]) == set(rows)
    # reading back by key finds each row through the same routing
    got = s.sql("SELECT * FROM ts_get(17)")
    assert got.to_dict("records") == [{"userid": 17, "name": "user17"}]


def test_hashtext_routing_and_target(s: Session) -> None:
    s.run("shards", "TRUNCATE ts_users")
    names = ["Sven", "Marko", "Steve", "", "ÄÖ€", "中文", "x" * 40]
    for i, name in enumerate(names):
        s.call("ts_insert_txt", i, name)
    placed = partition_rows(s)
    for i, name in enumerate(names):
        assert i in placed[hashing.hashtext(name) & 3]


def test_run_on_all_concatenates_in_partition_order(s: Session) -> None:
    df = s.sql("SELECT * FROM ts_where()")
    assert df["ts_where"].tolist() == [f"shards_p{i}" for i in range(4)]
    assert str(df["ts_where"].dtype) == "string"


def test_run_on_argument_number(s: Session) -> None:
    assert s.sql("SELECT ts_where_nr(6)")["ts_where_nr"].tolist() == ["shards_p2"]
    assert s.sql("SELECT * FROM ts_where_nr(-1)")["ts_where_nr"].tolist() == ["shards_p3"]


def test_partition_column_names_the_source(s: Session) -> None:
    s.partition_column = "part"
    df = s.sql("SELECT * FROM ts_where()")
    assert df["part"].tolist() == [0, 1, 2, 3]


def test_out_parameters_void_and_alias(s: Session) -> None:
    df = s.sql("SELECT * FROM ts_out(21)")
    assert df.to_dict("records") == [{"doubled": 42, "label": "n21"}]
    assert str(df["doubled"].dtype) == "Int32"
    void = s.sql("SELECT ts_void(3)")
    assert list(void.columns) == ["ts_void"] and len(void) == 1
    assert s.sql("SELECT ts_where_nr(1) AS db")["db"].tolist() == ["shards_p1"]
    assert s.sql("SELECT label FROM ts_out(2)").to_dict("records") == [{"label": "n2"}]


def test_dynamic_record_needs_and_uses_column_list(s: Session) -> None:
    df = s.sql(
        "SELECT * FROM ts_dyn('select 1::int, current_database()::text') AS t(n int, db text)"
    )
    assert df["db"].tolist() == [f"shards_p{i}" for i in range(4)]
    assert str(df["n"].dtype) == "Int32"
    py = s.functions["ts_dyn"]("select 2::int8", columns="v bigint")
    assert py["v"].tolist() == [2, 2, 2, 2]
    with pytest.raises(CallError, match="column definition list is required"):
        s.sql("SELECT * FROM ts_dyn('select 1')")
    with pytest.raises(Exception, match="Function used in wrong context"):
        s.sql("SELECT ts_dyn('select 1')")


def test_lossless_dtypes(s: Session) -> None:
    df = s.sql("SELECT * FROM ts_types()")
    assert str(df["i"].dtype) == "Int32"
    assert df["b"][0] == 9007199254740993 and str(df["b"].dtype) == "Int64"
    assert df["n"][0] == Decimal("12345678901234567890.123456789")
    assert df["t"][0] == pd.Timestamp(dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC))
    assert df["t"].dt.tz is not None
    assert df["ok"].tolist()[0] is True and str(df["ok"].dtype) == "boolean"
    assert df["arr"][0] == [1, 2] and df["j"][0] == {"a": 1}
    assert df.iloc[1].isna().all()


def test_non_setof_row_count_rule(s: Session) -> None:
    with pytest.raises(RowCountError) as none:
        s.sql("SELECT ts_none()")
    assert none.value.sqlstate == "P0002"
    assert str(none.value) == (
        "PL/Proxy function public.ts_none(0): Non-SETOF function requires 1 row from remote "
        "query, got 0"
    )
    with pytest.raises(RowCountError) as two:
        s.sql("SELECT ts_two()")
    assert two.value.sqlstate == "P0003"


def test_remote_error_keeps_plproxy_shape_and_sqlstate(s: Session) -> None:
    with pytest.raises(RemoteError) as e:
        s.sql("SELECT ts_div(0)")
    assert (
        str(e.value).splitlines()[0]
        == "public.ts_div(1): [shards_p2] REMOTE ERROR: division by zero"
    )
    assert e.value.sqlstate == "22012" and e.value.partition == 2
    assert s.sql("SELECT ts_div(1)")["ts_div"].tolist() == [1]  # still usable


def test_fan_out_error_names_every_failed_partition(s: Session) -> None:
    with pytest.raises(FanOutError) as e:
        s.sql("SELECT * FROM ts_div_all(0)")
    assert [x.partition for x in e.value.errors] == [0, 1, 2, 3]
    text = str(e.value)
    assert text.startswith("4 of 4 partitions failed:")
    assert "p3: public.ts_div_all(1): [shards_p3] REMOTE ERROR: division by zero" in text
    assert e.value.sqlstate == "22012"
    assert len(s.sql("SELECT * FROM ts_div_all(1)")) == 4


def test_strict_null_makes_no_remote_call(s: Session) -> None:
    # ts_div(NULL) remotely would return NULL too; TARGET ts_div with 0 would fail, so a
    # NULL result without error proves no call for the NULL case.
    assert s.sql("SELECT ts_strict(NULL)")["ts_strict"].isna().all()
    with pytest.raises(RemoteError):
        s.sql("SELECT ts_strict(0)")


def test_connect_string_and_connect_argument(s: Session, shards: Sandbox) -> None:
    p3 = shards.partitions[3]
    s.execute(
        "CREATE FUNCTION ts_conn() RETURNS SETOF text AS $$ CONNECT '"
        + p3.replace("'", "''")
        + "'; SELECT current_database()::text; $$ LANGUAGE plproxy"
    )
    assert s.sql("SELECT * FROM ts_conn()")["ts_conn"].tolist() == ["shards_p3"]
    s.execute(
        "CREATE FUNCTION ts_conn_arg(c text) RETURNS SETOF text AS $$ CONNECT c; "
        "SELECT current_database()::text; $$ LANGUAGE plproxy"
    )
    assert s.call("ts_conn_arg", shards.partitions[1])["ts_conn_arg"].tolist() == ["shards_p1"]
    with pytest.raises(RoutingError, match="Cluster/connect name map func returned NULL"):
        s.call("ts_conn_arg", None)


def test_duplicate_connect_strings_are_called_once(s: Session, shards: Sandbox) -> None:
    a, b = shards.partitions[0], shards.partitions[1]
    s.add_cluster("dup", [a, b, a, b])
    s.execute("CREATE FUNCTION ts_dup() RETURNS SETOF text AS $$ CLUSTER 'dup'; RUN ON ALL; "
              "SELECT current_database()::text; $$ LANGUAGE plproxy")  # fmt: skip
    assert s.sql("SELECT * FROM ts_dup()")["ts_dup"].tolist() == ["shards_p0", "shards_p1"]


def test_bound_parameters_never_change_the_statement(s: Session) -> None:
    s.run("shards", "TRUNCATE ts_users")
    hostile = "x'); DROP TABLE ts_users; --"
    s.execute("SELECT ts_insert($1, $2)", [5, hostile])
    assert s.sql("SELECT * FROM ts_get(5)")["name"].tolist() == [hostile]


def test_errors_for_bad_calls(s: Session, shards: Sandbox) -> None:
    with pytest.raises(CallError, match="with 1 argument"):
        s.sql("SELECT ts_where(1)")
    with pytest.raises(CallError, match="does not exist"):
        s.sql("SELECT * FROM nope()")
    with pytest.raises(CallError, match='invalid input syntax for type integer: "abc"') as bad:
        s.sql("SELECT ts_get('abc')")
    assert bad.value.sqlstate == "22P02"
    with pytest.raises(CallError, match="out of range for type integer") as big:
        s.call("ts_get", 2**31)
    assert big.value.sqlstate == "22003"
    s.execute("CREATE FUNCTION ts_lost() RETURNS SETOF int AS $$ CLUSTER 'nope'; RUN ON ALL; $$ "
              "LANGUAGE plproxy")  # fmt: skip
    with pytest.raises(ClusterError) as e:
        s.sql("SELECT * FROM ts_lost()")
    assert str(e.value) == "Pl/Proxy: cluster not found: nope"
    with pytest.raises(ClusterError, match="not a power of two"):
        s.add_cluster("three", shards.partitions[:3])
    assert "three" not in s.clusters
    assert len(s.add_cluster("three", shards.partitions[:3], modular_mapping="on").partitions) == 3
    with pytest.raises(ClusterError, match="Unknown config param: bogus"):
        s.add_cluster("x", shards.partitions, bogus=1)
    with pytest.raises(CallError, match="LANGUAGE sql, not plproxy"):
        s.execute("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql")
    with pytest.raises(CallError, match="not a proxy function call"):
        s.execute("UPDATE t SET x = 1")


def test_overloads_by_argument_type(s: Session) -> None:
    s.execute(
        "CREATE FUNCTION ts_ovl(i int) RETURNS SETOF text AS $$ CLUSTER 'shards'; RUN ON 0; "
        "SELECT 'int'::text; $$ LANGUAGE plproxy;"
        "CREATE FUNCTION ts_ovl(t text) RETURNS SETOF text AS $$ CLUSTER 'shards'; RUN ON 0; "
        "SELECT 'text'::text; $$ LANGUAGE plproxy;"
    )
    assert s.sql("SELECT * FROM ts_ovl(1)")["ts_ovl"].tolist() == ["int"]
    assert s.sql("SELECT * FROM ts_ovl('1')")["ts_ovl"].tolist() == ["text"]
    assert s.call("ts_ovl", "x")["ts_ovl"].tolist() == ["text"]
    assert len(s.functions["ts_ovl"].definitions) == 2


def test_compile_errors_carry_the_function_label(s: Session) -> None:
    with pytest.raises(CompileError) as e:
        s.execute("CREATE FUNCTION bad(a int) RETURNS int AS $$\n CLUSTER 'shards';\n RUN ON ;\n$$ "
                  "LANGUAGE plproxy")  # fmt: skip
    assert str(e.value) == "PL/Proxy function public.bad(1): Compile error at line 3: syntax error"
    with pytest.raises(CompileError, match="RUN ON ALL requires set-returning function"):
        s.execute("CREATE FUNCTION bad2() RETURNS int AS $$ CLUSTER 'shards'; RUN ON ALL; $$ "
                  "LANGUAGE plproxy")  # fmt: skip
    # nothing of a failing script was defined
    with pytest.raises(CompileError):
        s.execute("CREATE FUNCTION good() RETURNS SETOF int AS $$ CLUSTER 'shards'; $$ LANGUAGE "
                  "plproxy; CREATE FUNCTION bad3() RETURNS int AS $$ RUN ON 1; $$ LANGUAGE plproxy")  # fmt: skip
    assert "good" not in s.functions


def test_dead_partition_is_named_and_session_recovers(s: Session, shards: Sandbox) -> None:
    host = shards.partitions[0].split("host=")[1].split()[0]
    s.add_cluster("dead", [f"host={host} dbname=nonex_db user=postgres", shards.partitions[1]])
    s.execute("CREATE FUNCTION ts_dead() RETURNS SETOF text AS $$ CLUSTER 'dead'; RUN ON ALL; "
              "SELECT current_database()::text; $$ LANGUAGE plproxy")  # fmt: skip
    with pytest.raises(ConnectError) as e:
        s.sql("SELECT * FROM ts_dead()")
    text = str(e.value)
    assert text.startswith("PL/Proxy function public.ts_dead(0): [nonex_db] PQconnectPoll: ")
    assert 'database "nonex_db" does not exist' in text
    assert e.value.partition == 0
    s.add_cluster("dead", [shards.partitions[0], shards.partitions[1]])
    assert s.sql("SELECT * FROM ts_dead()")["ts_dead"].tolist() == ["shards_p0", "shards_p1"]


def test_ad_hoc_run_reports_status_and_rows(s: Session) -> None:
    status = s.run("shards", "CREATE TEMP TABLE tmp_x(a int); INSERT INTO tmp_x VALUES (1), (2)")
    assert status["status"].tolist() == ["INSERT 0 2"] * 4
    assert status["rows"].tolist() == [2] * 4
    rows = s.run("shards", "SELECT current_database() AS db, 1 AS one", run_on=1)
    assert rows.to_dict("records") == [{"db": "shards_p1", "one": 1}]
    with pytest.raises(RoutingError, match="part number out of range"):
        s.run("shards", "SELECT 1", run_on=4)


def test_explain_shows_partitions_and_remote_sql_without_running(s: Session) -> None:
    s.run("shards", "TRUNCATE ts_users")
    ex = s.explain("SELECT ts_insert(42, 'x')")
    assert ex.summary() == "public.ts_insert(2) -> cluster shards: partition 0 [shards_p0]"
    step = ex.steps[0]
    assert step.sql == "select r::int4 from public.ts_insert($1::int4,$2::text) r"
    assert step.targets[0][3] == (42, "x")
    assert hashing.hashint4(42) & 3 == 0
    assert s.sql("SELECT * FROM ts_get(42)").empty  # nothing ran
    every = s.explain("SELECT * FROM ts_where(); SELECT ts_strict(NULL)")
    assert every.summary().splitlines() == [
        "public.ts_where(0) -> cluster shards: partition 0 [shards_p0], partition 1 "
        "[shards_p1], partition 2 [shards_p2], partition 3 [shards_p3]",
        "public.ts_strict(1) -> no remote call (STRICT function with a NULL argument)",
    ]
    frame_ = every.to_frame()
    assert frame_["partition"].tolist() == [0, 1, 2, 3]
    assert "remote sql" in every._repr_html_() or "<pre>" in every._repr_html_()


def test_explain_masks_passwords(s: Session, shards: Sandbox) -> None:
    s.add_cluster("pw", [p + " password=hunter2" for p in shards.partitions])
    s.execute("CREATE FUNCTION ts_pw(i int) RETURNS SETOF text AS $$ CLUSTER 'pw'; "
              "RUN ON i; SELECT current_database()::text; $$ LANGUAGE plproxy")  # fmt: skip
    ex = s.explain("SELECT * FROM ts_pw(1)")
    for text in (repr(ex), ex._repr_html_(), ex.to_frame().to_string()):
        assert "hunter2" not in text and "password=***" in text


def test_function_display(s: Session) -> None:
    d = s.functions["ts_get"].describe()
    assert d.to_dict("records") == [
        {
            "function": "public.ts_get(i_id int4)",
            "returns": "SETOF userid int4, name text",
            "cluster": "shards",
            "run on": "hashint4($1)",
            "remote sql": "SELECT u.userid, u.name FROM ts_users u WHERE u.userid = $1::int4",
        }
    ]
    assert "<table" in s.functions["ts_all"]._repr_html_()
    assert s.functions["ts_where_nr"].describe()["run on"].tolist() == ["nr"]
