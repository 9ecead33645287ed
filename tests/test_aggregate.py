"""Two-stage aggregation on randomized data: every query combined across partitions equals
the same query on one database holding the union of the partitions' rows."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from plproxy_magic.errors import CallError
from plproxy_magic.sandbox import EmbeddedServer, Sandbox
from plproxy_magic.session import Session

TABLE = "CREATE TABLE IF NOT EXISTS ag_t (g text, h int, x int, n numeric(12,3), f float8, b boolean, big bigint)"


def make_rows(seed: int, count: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    groups = ["alpha", "beta", "gamma", "delta", None]
    rows = []
    for _ in range(count):
        rows.append((
            rng.choice(groups),
            rng.choice([1, 2, 3, None]),
            None if rng.random() < 0.1 else rng.randint(-1000, 1000),
            None if rng.random() < 0.1 else Decimal(rng.randint(-10**8, 10**8)) / 1000,
            None if rng.random() < 0.1 else rng.uniform(-1e6, 1e6),
            None if rng.random() < 0.2 else rng.random() < 0.7,
            rng.choice([2**62, -(2**62), 12345, None]),
        ))  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def data(
    shards: Sandbox, server: EmbeddedServer
) -> Iterator[tuple[Session, psycopg.Connection[Any]]]:
    rows = make_rows(20261121, 3000)
    rng = random.Random(7)
    # partition 3 gets no rows at all; "delta" lives only on partitions 0 and 1
    placed: dict[int, list[tuple[Any, ...]]] = {0: [], 1: [], 2: [], 3: []}
    for r in rows:
        p = rng.choice([0, 1]) if r[0] == "delta" else rng.choice([0, 1, 2])
        placed[p].append(r)
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS ag_union")
        admin.execute("CREATE DATABASE ag_union")
    union = psycopg.connect(server.connstr("ag_union"), autocommit=True)
    union.execute(TABLE)
    with union.cursor() as cur:
        cur.executemany("INSERT INTO ag_t VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    s = Session()
    s.add_cluster("shards", shards.partitions)
    s.run("shards", f"{TABLE}; TRUNCATE ag_t")
    for p, part_rows in placed.items():
        with psycopg.connect(shards.partitions[p], autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO ag_t VALUES (%s, %s, %s, %s, %s, %s, %s)", part_rows)
    yield s, union
    s.close()
    union.close()


QUERIES = [
    "SELECT count(*), count(x), count(g), sum(x), sum(n), sum(f), sum(big) FROM ag_t",
    "SELECT avg(x), avg(n), avg(f), min(x), max(x), min(n), max(f), min(g), max(g) FROM ag_t",
    "SELECT bool_and(b), bool_or(b), every(b) FROM ag_t",
    "SELECT stddev(x), stddev_pop(x), variance(n), var_pop(f), stddev_samp(f), var_samp(x) FROM ag_t",
    "SELECT count(DISTINCT g), count(DISTINCT x), count(DISTINCT h) FROM ag_t",
    "SELECT g, count(*), sum(x), avg(x), min(n), max(n) FROM ag_t GROUP BY g ORDER BY g",
    "SELECT g, h, count(*), sum(n), avg(f) FROM ag_t GROUP BY g, h ORDER BY g, h",
    "SELECT lower(g) AS lg, count(*) FROM ag_t GROUP BY lower(g) ORDER BY 1",
    "SELECT x % 3 AS m, count(*), sum(x) FROM ag_t GROUP BY x % 3 ORDER BY m NULLS FIRST",
    "SELECT g, sum(x) / count(*) AS q, sum(n) / count(n) AS qn, sum(x) * 2 + 1 AS e FROM ag_t GROUP BY g ORDER BY g",
    "SELECT g, count(*) FILTER (WHERE b) AS yes, sum(x) FILTER (WHERE x > 0) AS pos FROM ag_t GROUP BY g ORDER BY g",
    "SELECT g, count(*) FROM ag_t GROUP BY g HAVING count(*) > 600 ORDER BY g",
    "SELECT g, sum(x) FROM ag_t GROUP BY g HAVING sum(x) IS NOT NULL AND avg(n) > -1000 ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1",
    "SELECT g, h, count(*) AS c FROM ag_t GROUP BY 1, 2 ORDER BY c DESC, g NULLS FIRST, h LIMIT 5",
    "SELECT h, coalesce(sum(x), 0) + 1 AS s, round(avg(n), 2) AS r, CASE WHEN count(*) > 700 THEN 'big' ELSE 'small' END AS size FROM ag_t GROUP BY h ORDER BY h",
    "SELECT g, stddev(n), variance(f) FROM ag_t GROUP BY g ORDER BY g",
    "SELECT g, count(DISTINCT h) AS hs FROM ag_t WHERE x > 0 GROUP BY g ORDER BY g",
    "SELECT count(*), sum(x), avg(x), stddev(x) FROM ag_t WHERE g = 'nobody'",
    "SELECT g, count(*) FROM ag_t WHERE g = 'nobody' GROUP BY g",
    "SELECT h, max(big) / 2 - min(big) / 2 AS spread, sum(big) FROM ag_t GROUP BY h ORDER BY h",
    "SELECT b, count(*), avg(f)::numeric(20,4) AS af FROM ag_t GROUP BY b ORDER BY b",
    "SELECT g AS grp, count(*) FROM ag_t t GROUP BY grp ORDER BY grp DESC",
]


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a == b:
        return True
    return (a == b and type(a) is type(b)) or (
        isinstance(a, Decimal) and isinstance(b, Decimal) and a == b
    )


@pytest.mark.parametrize("query", QUERIES)
def test_two_stage_equals_one_database(
    data: tuple[Session, psycopg.Connection[Any]], query: str
) -> None:
    s, union = data
    ours = s.run("shards", query)
    cur = union.execute(query)
    theirs = cur.fetchall()
    assert list(ours.columns) == [d.name for d in cur.description] or len(
        set(d.name for d in cur.description)
    ) < len(cur.description)
    got = ours.astype(object).where(ours.notna(), None).values.tolist()
    assert len(got) == len(theirs), (got, theirs)
    for row_ours, row_theirs in zip(got, theirs, strict=True):
        for a, b in zip(row_ours, row_theirs, strict=True):
            # variance/stddev of exact types: PostgreSQL's numeric vs our float combination
            assert close(a, b), (query, row_ours, row_theirs)


def test_array_and_string_agg_as_multisets(data: tuple[Session, psycopg.Connection[Any]]) -> None:
    s, union = data
    q = "SELECT g, array_agg(h) AS hs, string_agg(g || ':' || x, ',') AS ss FROM ag_t GROUP BY g ORDER BY g"
    ours = s.run("shards", q)
    theirs = union.execute(q).fetchall()
    got = ours.astype(object).where(ours.notna(), None).values.tolist()
    for (g, hs, ss), (tg, ths, tss) in zip(got, theirs, strict=True):
        assert g == tg
        assert sorted(hs, key=str) == sorted(ths, key=str)
        assert sorted((ss or "").split(",")) == sorted((tss or "").split(","))


def test_partials_transfer_at_most_partitions_times_groups(
    data: tuple[Session, psycopg.Connection[Any]],
) -> None:
    s, _ = data
    partials = s.run("shards", "SELECT g, avg(x) FROM ag_t GROUP BY g", partials=True)
    assert len(partials) <= 4 * 5
    assert set(partials["partition"]) <= {0, 1, 2, 3}
    on_p2 = [g for g in partials.loc[partials["partition"] == 2, "g0"].dropna()]
    assert "delta" not in on_p2


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("SELECT array_agg(x ORDER BY x) FROM ag_t", "orders rows across partitions"),
        ("SELECT DISTINCT g, count(*) FROM ag_t GROUP BY g", "SELECT DISTINCT"),
        ("SELECT sum(DISTINCT x) FROM ag_t", "only combined for count"),
        ("SELECT g, sum(x) OVER () FROM ag_t", "window functions"),
        ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM ag_t", "no two-stage form"),
        ("SELECT g, json_agg(x) FROM ag_t GROUP BY g", "json_agg\\(\\) has no two-stage form"),
        ("SELECT g, count(*) FROM ag_t GROUP BY ROLLUP (g)", "GROUPING SETS"),
    ],
)
def test_queries_that_cannot_be_combined_are_refused(
    data: tuple[Session, psycopg.Connection[Any]], query: str, why: str
) -> None:
    s, _ = data
    with pytest.raises(CallError, match=why) as e:
        s.run("shards", query)
    assert "cannot combine this query across partitions" in str(e.value)
