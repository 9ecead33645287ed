"""The type zoo: user types that exist only on the partitions, composite row types, and
lossless DataFrame dtypes, on real embedded partitions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from plproxy_magic.errors import CallError
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

NODES = """
CREATE SCHEMA IF NOT EXISTS other;
DO $$ BEGIN
  CREATE TYPE ty_mood AS ENUM ('sad', 'ok', 'happy');
  CREATE DOMAIN ty_posint AS int CHECK (VALUE > 0);
  CREATE TYPE other.ty_pair AS (a int, "B b" text);
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE TABLE IF NOT EXISTS ty_tbl (gone int, id int, "Weird Col" text, tags text[]);
ALTER TABLE ty_tbl DROP COLUMN IF EXISTS gone;
TRUNCATE ty_tbl;
INSERT INTO ty_tbl VALUES (1, 'one', '{a,b}'), (2, NULL, NULL);
CREATE OR REPLACE FUNCTION ty_enum(m ty_mood) RETURNS ty_mood AS $$ SELECT m $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ty_dom(i ty_posint) RETURNS int AS $$ SELECT i * 2 $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ty_rows() RETURNS SETOF ty_tbl AS $$ SELECT * FROM ty_tbl ORDER BY id $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ty_pair(i int) RETURNS other.ty_pair AS $$ SELECT i, 'p' || i $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ty_zoo(a int[], n numeric, t timestamptz, b bytea, j jsonb, r int8range)
RETURNS TABLE(a int[], n numeric, t timestamptz, b bytea, j jsonb, r int8range, d date, f float8)
AS $$ SELECT a, n, t, b, j, r, DATE '2024-02-29', 0.5::float8 $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION ty_enum(m ty_mood) RETURNS ty_mood AS $$ CLUSTER 'shards'; RUN ON 1; $$ LANGUAGE plproxy;
CREATE FUNCTION ty_dom(i ty_posint) RETURNS int AS $$ CLUSTER 'shards'; RUN ON 2; $$ LANGUAGE plproxy;
CREATE FUNCTION ty_rows() RETURNS SETOF ty_tbl AS $$ CLUSTER 'shards'; RUN ON 3; $$ LANGUAGE plproxy;
CREATE FUNCTION ty_pair(i int) RETURNS other.ty_pair AS $$ CLUSTER 'shards'; RUN ON i; $$ LANGUAGE plproxy;
CREATE FUNCTION ty_zoo(a int[], n numeric, t timestamptz, b bytea, j jsonb, r int8range)
RETURNS TABLE(a int[], n numeric, t timestamptz, b bytea, j jsonb, r int8range, d date, f float8)
AS $$ CLUSTER 'shards'; RUN ON 0; $$ LANGUAGE plproxy;
CREATE FUNCTION ty_missing(x no_such_type) RETURNS int AS $$ CLUSTER 'shards'; RUN ON 0; $$ LANGUAGE plproxy;
"""


@pytest.fixture()
def s(session: Session) -> Session:
    session.run("shards", NODES)
    session.execute(PROXIES)
    return session


def test_user_types_are_schema_qualified_from_the_catalog(s: Session) -> None:
    assert s.explain("SELECT ty_enum('ok')").steps[0].sql == (
        "select r::public.ty_mood from public.ty_enum($1::public.ty_mood) r"
    )
    assert s.sql("SELECT ty_enum('happy')")["ty_enum"].tolist() == ["happy"]
    assert s.sql("SELECT ty_dom(21)")["ty_dom"].tolist() == [42]


def test_table_row_type_with_a_dropped_first_column(s: Session) -> None:
    # PL/Proxy generates "select , id::int4 ..." here (a known bug); we select the live columns.
    assert s.explain("SELECT * FROM ty_rows()").steps[0].sql == (
        'select id::int4, "Weird Col"::text, tags::_text from public.ty_rows()'
    )
    df = s.sql("SELECT * FROM ty_rows()")
    assert list(df.columns) == ["id", "Weird Col", "tags"]
    assert df["id"].tolist() == [1, 2]
    assert df["tags"][0] == ["a", "b"] and df["tags"].isna()[1]


def test_named_composite_in_another_schema(s: Session) -> None:
    sql = s.explain("SELECT * FROM ty_pair(3)").steps[0].sql
    assert sql == 'select a::int4, "B b"::text from public.ty_pair($1::int4)'
    assert s.sql("SELECT * FROM ty_pair(3)").to_dict("records") == [{"a": 3, "B b": "p3"}]


def test_type_zoo_round_trips_losslessly(s: Session) -> None:
    t = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    df = s.call("ty_zoo", [1, None, 3], Decimal("1234567890.000000001"), t, b"\x00\xff",
                {"k": [1, "x"]}, "[1,10)")  # fmt: skip
    row = df.iloc[0]
    assert row["a"] == [1, None, 3]
    assert row["n"] == Decimal("1234567890.000000001")
    assert row["t"] == t
    assert row["b"] == b"\x00\xff"
    assert row["j"] == {"k": [1, "x"]}
    assert str(row["r"]) == "[1, 10)"
    assert row["d"] == dt.date(2024, 2, 29)
    assert str(df["f"].dtype) == "Float64"


def test_unknown_type_is_a_clear_error(s: Session) -> None:
    with pytest.raises(CallError) as e:
        s.sql("SELECT ty_missing('x')")
    assert str(e.value) == 'type "no_such_type" does not exist'
    assert e.value.sqlstate == "42704"


def test_catalog_lookups_are_cached(s: Session, shards: Sandbox) -> None:
    s.sql("SELECT ty_enum('ok')")
    fn = s.functions["ty_enum"].definitions[0]
    assert len([k for k in s._catalog_cache if k[0] == id(fn)]) == 1
    s.sql("SELECT ty_enum('sad')")
    assert len([k for k in s._catalog_cache if k[0] == id(fn)]) == 1


def test_client_encoding_is_synced_to_utf8(s: Session, shards: Sandbox) -> None:
    server = shards.servers[0]
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ty_latin1")
        conn.execute(
            "CREATE DATABASE ty_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    s.add_cluster("latin", [server.connstr("ty_latin1")])
    s.execute(
        "CREATE FUNCTION ty_enc(t text) RETURNS SETOF text AS $$ CLUSTER 'latin'; RUN ON 0; "
        "SELECT current_setting('client_encoding') || ':' || t || ':' || length(t)::text; $$ LANGUAGE plproxy"
    )
    assert s.call("ty_enc", "ÄÖü")["ty_enc"].tolist() == ["UTF8:ÄÖü:3"]
