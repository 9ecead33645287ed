"""Large results of a fan-out, fetched in chunks and kept as columns (chunked.py, columns.py,
result.py), give exactly what rows fetched whole give, on real embedded partitions.

A chunk size of 7 rows makes the 50-row results of these tests several chunks long; a chunk
size of 0 fetches them whole, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest

from plproxy_magic import chunked
from plproxy_magic.columns import Chunks, column, combine
from plproxy_magic.errors import FanOutError, QueryTimeoutError, RowCountError
from plproxy_magic.execute import PartResult, Task
from plproxy_magic.result import to_frame
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

pytestmark = pytest.mark.skipif(not chunked.AVAILABLE, reason="libpq < 17: no chunked rows")

NODES = r"""
CREATE TABLE IF NOT EXISTS ck_t (
  i int, s smallint, b bigint, o oid, r real, d float8, f bool, t text, v varchar(10),
  n numeric, ts timestamptz, tn timestamp, by bytea, j jsonb, a int[]);
TRUNCATE ck_t;
INSERT INTO ck_t
SELECT g + 1000 * p, g, g * 10000000000, g, g / 3.0, CASE WHEN g = 5 THEN 'NaN' ELSE g / 7.0 END,
       g % 2 = 0, 'row ' || g, 'v' || g, g / 3.0, TIMESTAMPTZ '2024-01-01 00:00+02' + g * interval '1 h',
       TIMESTAMP '2024-01-01' + g * interval '1 d', int4send(g), jsonb_build_object('g', g),
       ARRAY[g, p]
FROM generate_series(1, 50) g,
     (SELECT substring(current_database() FROM '\d+$')::int AS p) part;
UPDATE ck_t SET s = NULL, b = NULL, o = NULL, r = NULL, d = NULL, f = NULL, t = NULL, v = NULL,
  n = NULL, ts = NULL, tn = NULL, by = NULL, j = NULL, a = NULL WHERE i % 7 = 0;
CREATE OR REPLACE FUNCTION ck_rows() RETURNS SETOF ck_t AS $$
  SELECT * FROM ck_t ORDER BY i $$ LANGUAGE sql;
CREATE OR REPLACE FUNCTION ck_some() RETURNS SETOF ck_t AS $$
  SELECT * FROM ck_t WHERE substring(current_database() FROM '\d+$') IN ('1', '3')
     OR (substring(current_database() FROM '\d+$') = '0' AND i % 1000 < 4)
  ORDER BY i $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION ck_rows() RETURNS SETOF ck_t AS $$ CLUSTER 'shards'; RUN ON ALL; $$ LANGUAGE plproxy;
CREATE FUNCTION ck_some() RETURNS SETOF ck_t AS $$ CLUSTER 'shards'; RUN ON ALL; $$ LANGUAGE plproxy;
CREATE FUNCTION ck_swap() RETURNS TABLE (t text, i int) AS $$
  CLUSTER 'shards'; RUN ON ALL; SELECT i, t FROM ck_t ORDER BY i; $$ LANGUAGE plproxy;
CREATE FUNCTION ck_none() RETURNS SETOF ck_t AS $$
  CLUSTER 'shards'; RUN ON ALL; SELECT * FROM ck_t WHERE false; $$ LANGUAGE plproxy;
"""


@pytest.fixture()
def s(session: Session) -> Session:
    session.run("shards", NODES)
    session.execute(PROXIES)
    return session


def both(s: Session, fn: Callable[[], Any]) -> tuple[Any, Any]:
    """``fn()`` fetched in chunks of 7 rows, then fetched whole."""
    s.executor.chunk_rows = 7
    chunked_result = fn()
    s.executor.chunk_rows = 0
    return chunked_result, fn()


def test_every_type_gives_the_same_frame(s: Session) -> None:
    got, whole = both(s, s.functions["ck_rows"])
    pd.testing.assert_frame_equal(got, whole)
    assert len(got) == 200 and got["i"].tolist()[::50] == [1, 1001, 2001, 3001]
    assert [str(t) for t in got.dtypes[:9]] == [
        "Int32", "Int16", "Int64", "Int64", "Float32", "Float64", "boolean", "string", "string"
    ]  # fmt: skip
    assert isinstance(got["n"][0], Decimal) and got["j"][0] == {"g": 1}
    assert got["by"][0] == b"\x00\x00\x00\x01" and got["a"][0] == [1, 0]
    assert str(got["ts"].dtype) == "datetime64[us, UTC]" and got["ts"][0].hour == 23
    nulls = got["i"] % 7 == 0
    assert got.loc[nulls, "s":].isna().all().all() and got.loc[~nulls, "s":"tn"].notna().all().all()
    nan = got["d"].array[4]  # 'NaN' is a value, not SQL NULL
    assert np.isnan(nan) and not got["d"].array._mask[4]


def test_partition_column_and_partition_order(s: Session) -> None:
    s.partition_column = "partition"
    got, whole = both(s, s.functions["ck_rows"])
    pd.testing.assert_frame_equal(got, whole)
    assert got["partition"].tolist() == [0] * 50 + [1] * 50 + [2] * 50 + [3] * 50
    assert str(got["partition"].dtype) == "Int32"


def test_partitions_of_one_chunk_and_of_several_mix(s: Session) -> None:
    # p0: 3 rows (one chunk: rows), p1 and p3: 50 rows (columns), p2: none.
    s.partition_column = "partition"
    got, whole = both(s, s.functions["ck_some"])
    pd.testing.assert_frame_equal(got, whole)
    assert got["partition"].tolist() == [0] * 3 + [1] * 50 + [3] * 50


def test_columns_map_by_name(s: Session) -> None:
    got, whole = both(s, s.functions["ck_swap"])
    pd.testing.assert_frame_equal(got, whole)
    assert list(got.columns) == ["t", "i"] and got.iloc[1].tolist() == ["row 2", 2]


def test_no_rows(s: Session) -> None:
    got, whole = both(s, s.functions["ck_none"])
    pd.testing.assert_frame_equal(got, whole)
    assert len(got) == 0 and str(got["i"].dtype) == "Int32"


def run_all(s: Session, shards: Sandbox, statements: list[tuple[str, Any]]) -> list[PartResult]:
    tasks = [Task(p, c, statements) for p, c in enumerate(shards.partitions)]
    return s.executor.run("shards", tasks)


def test_rows_come_back_exactly(s: Session, shards: Sandbox) -> None:
    got, whole = both(s, lambda: run_all(s, shards, [("SELECT * FROM ck_t ORDER BY i", None)]))
    assert all(r.chunks is not None and r.nrows == 50 for r in got)
    assert all(r.chunks is None and r.nrows == 50 for r in whole)
    for a, b in zip(got, whole, strict=True):
        assert (a.columns, a.type_oids, a.status, a.rowcount) == (
            b.columns, b.type_oids, b.status, b.rowcount
        )  # fmt: skip
        assert a.status == "SELECT 50" and a.rowcount == 50
        assert repr(a.rows) == repr(b.rows)  # NaN != NaN
        assert [[type(v) for v in row] for row in a.rows] == [
            [type(v) for v in row] for row in b.rows
        ]
    frames = [to_frame(r, None, scalar=False, setof=True) for r in (got, whole)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    for r in (got, whole):  # a non-SETOF function wants one row of all partitions
        with pytest.raises(RowCountError, match=r"got 200$"):
            to_frame(r, None, scalar=False, setof=False)


def test_statements_without_rows(s: Session, shards: Sandbox) -> None:
    update = [("UPDATE ck_t SET i = i WHERE i % 1000 < $1", [5])]
    got, whole = both(s, lambda: run_all(s, shards, update))
    for r in got + whole:
        assert (r.status, r.rowcount, r.columns, r.rows) == ("UPDATE 4", 4, None, [])
    # the last result set wins, the last status stays
    several = [("SELECT i FROM ck_t ORDER BY i", None), ("SET LOCAL work_mem = '8MB'", None)]
    got, whole = both(s, lambda: run_all(s, shards, several))
    assert [(r.status, r.nrows, r.rows) for r in got] == [
        (r.status, r.nrows, r.rows) for r in whole
    ]
    assert got[0].status == "SET" and got[0].nrows == 50


def test_repeated_statements_are_prepared_as_by_execute(s: Session, shards: Sandbox) -> None:
    s.executor.chunk_rows = 7
    query = [("SELECT i FROM ck_t WHERE i % 1000 = $1 /* ck_marker */", [3])]
    for _ in range(6):  # psycopg prepares a statement on its 6th run (prepare_threshold 5)
        assert [r.rows for r in run_all(s, shards, query)] == [[(3 + 1000 * p,)] for p in range(4)]
    prepared = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%ck_marker%'"
    # (the count comes as the 7th statement on the same connection, itself not prepared)
    assert [r.rows for r in run_all(s, shards, [(prepared, None)])] == [[(1,)]] * 4


def test_a_pipeline_after_a_chunked_fetch(s: Session, shards: Sandbox) -> None:
    # libpq keeps the chunked-rows mode for the first statement of a following pipeline.
    s.executor.chunk_rows = 7
    run_all(s, shards, [("SELECT * FROM ck_t", None)])
    tasks = [
        Task(p, c, [("SELECT i FROM ck_t ORDER BY i LIMIT 2", None), ("SELECT 1", None)],
             pipeline=True)
        for p, c in enumerate(shards.partitions)
    ]  # fmt: skip
    results = s.executor.run("shards", tasks)
    assert [r.batches for r in results] == [
        [[(1 + 1000 * p,), (2 + 1000 * p,)], [(1,)]] for p in range(4)
    ]


def test_an_error_midway_leaves_the_connections_usable(s: Session, shards: Sandbox) -> None:
    s.executor.chunk_rows = 7
    failing = [("SELECT 1 / (i % 1000 - 30) FROM ck_t ORDER BY i", None)]
    with pytest.raises(FanOutError, match="division by zero"):
        run_all(s, shards, failing)
    again = run_all(s, shards, [("SELECT i FROM ck_t ORDER BY i", None)])
    assert [r.nrows for r in again] == [50] * 4


def test_a_timeout_midway_cancels_and_leaves_the_connections_usable(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("ck_slow", shards.partitions, query_timeout=1)
        s.executor.chunk_rows = 7
        slow = [("SELECT i, pg_sleep(CASE WHEN i % 1000 = 30 THEN 20 END) FROM ck_t "
                 "ORDER BY i", None)]  # fmt: skip
        tasks = [Task(p, c, slow) for p, c in enumerate(shards.partitions)]
        t0 = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            s.executor.run("ck_slow", tasks, timeout=1)
        assert time.monotonic() - t0 < 3
        tasks = [
            Task(p, c, [("SELECT i FROM ck_t", None)]) for p, c in enumerate(shards.partitions)
        ]
        assert [r.nrows for r in s.executor.run("ck_slow", tasks)] == [50] * 4


def test_chunks_round_trip_and_combine() -> None:
    int4, float4, text, numeric = 23, 700, 25, 1700
    chunks = Chunks([int4, float4, text, numeric])
    chunks.add([(1, 0.1, "a", Decimal("1.5")), (None, None, None, None)])
    chunks.add([(3, 2.5, "c", Decimal("3"))])
    assert len(chunks) == 3
    assert chunks.rows() == [
        (1, 0.1, "a", Decimal("1.5")), (None, None, None, None), (3, 2.5, "c", Decimal("3"))
    ]  # fmt: skip
    ints = combine(chunks.pieces[0], int4)
    assert str(ints.dtype) == "Int32" and ints.tolist()[::2] == [1, 3] and ints.isna()[1]
    assert str(combine(chunks.pieces[1], float4).dtype) == "Float32"
    # pieces of another type (int8 from one partition) go through the values
    mixed = combine([column([1], int4), column([2**40], 20)], 20)
    assert str(mixed.dtype) == "Int64" and mixed.tolist() == [1, 2**40]
    assert str(combine([], int4).dtype) == "Int32"
