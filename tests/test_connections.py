"""Connections as PL/Proxy keeps them: lazy, reused, dropped after connection_lifetime,
replaced transparently when the server closed them."""

from __future__ import annotations

import time

import psycopg

from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

PID = "CREATE FUNCTION cn_pid() RETURNS int AS $$ CLUSTER '{c}'; RUN ON 0; SELECT pg_backend_pid(); $$ LANGUAGE plproxy"


def pid(s: Session) -> int:
    return int(s.sql("SELECT cn_pid()")["cn_pid"][0])


def test_lazy_open_and_reuse(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("cn", shards.partitions)
        assert s.pool.stats() == {"idle": 0, "busy": 0}  # nothing opened at definition
        s.execute(PID.format(c="cn"))
        first = pid(s)
        assert pid(s) == first
        assert s.pool.stats() == {"idle": 1, "busy": 0}


def test_connection_lifetime_drops_old_connections(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("cn", shards.partitions, connection_lifetime=1)
        s.execute(PID.format(c="cn"))
        first = pid(s)
        assert pid(s) == first
        time.sleep(1.1)
        assert pid(s) != first


def test_server_closed_connection_is_replaced_transparently(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("cn", shards.partitions)
        s.execute(PID.format(c="cn"))
        first = pid(s)
        with psycopg.connect(shards.partitions[0], autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [first])
        time.sleep(0.2)  # well under PL/Proxy's 2 s idle check: we still notice
        second = pid(s)
        assert second != first


def test_redefining_a_cluster_drops_its_connections(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("cn", shards.partitions)
        s.execute(PID.format(c="cn"))
        first = pid(s)
        s.add_cluster("cn", shards.partitions)
        assert pid(s) != first


def test_ping_reports_every_partition_and_dead_ones(shards: Sandbox) -> None:
    with Session() as s:
        host = shards.partitions[0].split("host=")[1].split()[0]
        s.add_cluster("pg2", [shards.partitions[0], f"host={host} dbname=nope_db user=postgres"])
        df = s.ping("pg2")
        assert df["ok"].tolist() == [True, False]
        assert df["server_version"][0].startswith("18")
        assert df["rtt_ms"][0] >= 0
        assert 'database "nope_db" does not exist' in df["error"][1]


def test_stats_shows_sizes_rows_and_bars(shards: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("st", shards.partitions)
        s.run("st", "CREATE TABLE IF NOT EXISTS st_t (i int); TRUNCATE st_t; "
                    "INSERT INTO st_t SELECT generate_series(1, 10 * (1 + right(current_database(), 1)::int))")  # fmt: skip
        st = s.stats("st", ["st_t"])
        assert st.frame["st_t rows"].tolist() == [10, 20, 30, 40]
        assert (st.frame["database_bytes"] > 0).all()
        text = repr(st)
        assert "#" * 40 in text and "shards_p3" in text
        assert "width:100.0%" in st._repr_html_() and "width:25.0%" in st._repr_html_()


def test_query_timeout_fires_while_the_remote_side_is_silent(shards: Sandbox) -> None:
    import pytest

    from plproxy_magic.errors import QueryTimeoutError

    with Session() as s:
        s.add_cluster("slow", shards.partitions, query_timeout=1)
        s.execute("CREATE FUNCTION cn_sleep(t float8) RETURNS SETOF int AS $$ CLUSTER 'slow'; "
                  "RUN ON ALL; SELECT 1 FROM pg_sleep(t); $$ LANGUAGE plproxy")  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(QueryTimeoutError) as e:
            s.sql("SELECT * FROM cn_sleep(20)")
        assert time.monotonic() - t0 < 2.0  # timeout + 1 s; PL/Proxy would wait the full 20 s
        assert str(e.value) == "PL/Proxy function public.cn_sleep(1): query timeout"
        # the remote queries were cancelled and the connections are usable at once
        assert s.sql("SELECT * FROM cn_sleep(0)")["cn_sleep"].tolist() == [1, 1, 1, 1]
        with psycopg.connect(shards.partitions[0], autocommit=True) as admin:
            busy = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()
        assert busy == (0,)
