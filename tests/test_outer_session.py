"""Outer SQL around proxy calls through a Session on real partitions (DuckDB in-process)."""

from __future__ import annotations

import pytest

from plproxy_magic.errors import CallError, FanOutError
from plproxy_magic.session import Session

NODES = """
CREATE TABLE IF NOT EXISTS os_t (id int, v int);
TRUNCATE os_t;
INSERT INTO os_t SELECT i, i * 10 FROM generate_series(1, 8) i
  WHERE i % 4 = right(current_database(), 1)::int;
CREATE OR REPLACE FUNCTION os_dy(q text) RETURNS SETOF record AS $$ BEGIN RETURN QUERY EXECUTE q; END $$ LANGUAGE plpgsql;
"""
PROXIES = """
CREATE FUNCTION os_dy(q text) RETURNS SETOF record AS $$ CLUSTER 'shards'; RUN ON ALL; $$ LANGUAGE plproxy;
CREATE FUNCTION os_rows() RETURNS TABLE(id int, v int) AS $$ CLUSTER 'shards'; RUN ON ALL; SELECT id, v FROM os_t; $$ LANGUAGE plproxy;
CREATE FUNCTION os_div(i int) RETURNS SETOF int AS $$ CLUSTER 'shards'; RUN ON ALL; SELECT 1 / i; $$ LANGUAGE plproxy;
"""


@pytest.fixture()
def s(session: Session) -> Session:
    session.run("shards", NODES)
    session.execute(PROXIES)
    return session


def test_sum_over_a_dynamic_record_call(s: Session) -> None:
    df = s.sql(
        "SELECT sum(cnt) FROM (SELECT cnt FROM os_dy('select count(*) from os_t') AS t(cnt int8)) t"
    )
    assert df.to_dict("records") == [{"sum": 8}]


def test_where_order_by_and_join(s: Session) -> None:
    df = s.sql("SELECT id, v FROM os_rows() WHERE id > 5 ORDER BY id DESC")
    assert df.to_dict("records") == [{"id": 8, "v": 80}, {"id": 7, "v": 70}, {"id": 6, "v": 60}]
    joined = s.sql(
        "SELECT a.id, b.c FROM os_rows() a JOIN os_dy('select id, v * 2 from os_t') AS b(i int, c int) "
        "ON a.id = b.i WHERE a.id <= 2 ORDER BY a.id"
    )
    assert joined.to_dict("records") == [{"id": 1, "c": 20}, {"id": 2, "c": 40}]


def test_parameters_and_errors(s: Session) -> None:
    assert s.sql("SELECT count(*) AS n FROM os_rows() WHERE v > $1", [40]).to_dict("records") == [
        {"n": 4}
    ]
    with pytest.raises(FanOutError, match="division by zero"):
        s.sql("SELECT count(*) FROM os_div(0)")
    with pytest.raises(CallError, match='column "nosuchcolumn" does not exist') as e:
        s.sql("SELECT nosuchcolumn FROM os_rows()")
    assert e.value.sqlstate == "42703"
    with pytest.raises(CallError, match="no proxy function call"):
        s.sql("SELECT 1")
