"""Read replicas with real streaming replication between embedded servers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from plproxy_magic.sandbox import Sandbox, sandbox
from plproxy_magic.session import Session

NODES = """
CREATE TABLE kv (k int PRIMARY KEY, v text);
CREATE SEQUENCE kv_seq;
CREATE FUNCTION where_read() RETURNS text AS $$ SELECT current_setting('data_directory') $$ LANGUAGE sql STABLE;
CREATE FUNCTION put(i int, t text) RETURNS text AS $$ INSERT INTO kv VALUES (i, t) ON CONFLICT (k) DO UPDATE SET v = t; SELECT current_setting('data_directory') $$ LANGUAGE sql;
"""
PROXIES = """
CREATE FUNCTION where_read() RETURNS text AS $$ CLUSTER 'rep'; RUN ON 0; $$ LANGUAGE plproxy;
CREATE FUNCTION put(i int, t text) RETURNS text AS $$ CLUSTER 'rep'; RUN ON 0; $$ LANGUAGE plproxy;
CREATE FUNCTION sel_read(i int) RETURNS text AS $$ CLUSTER 'rep'; RUN ON 0;
    SELECT current_setting('data_directory') || ':' || coalesce((SELECT v FROM kv WHERE k = i), '-'); $$ LANGUAGE plproxy;
CREATE FUNCTION sel_nextval() RETURNS text AS $$ CLUSTER 'rep'; RUN ON 0;
    SELECT current_setting('data_directory') || ':' || nextval('kv_seq'); $$ LANGUAGE plproxy;
CREATE FUNCTION sel_lock(i int) RETURNS SETOF text AS $$ CLUSTER 'rep'; RUN ON 0;
    SELECT current_setting('data_directory') FROM kv WHERE k = i FOR UPDATE; $$ LANGUAGE plproxy;
"""


@pytest.fixture(scope="module")
def rep() -> Iterator[tuple[Session, Sandbox]]:
    s = Session()
    sb = sandbox("rep", partitions=2, servers=1, replicas=2, session=s, read_write_splitting=1)
    s.run("rep", NODES)
    s.execute(PROXIES)
    deadline = time.monotonic() + 15  # the replicas replay the DDL before the tests read
    for r in sb.standbys[0]:
        for db in ("rep_p0", "rep_p1"):
            with psycopg.connect(r.connstr(db), autocommit=True) as conn:
                while conn.execute("SELECT to_regproc('where_read') IS NULL").fetchone() != (
                    False,
                ):
                    assert time.monotonic() < deadline, "replica did not catch up"
                    time.sleep(0.05)
    yield s, sb
    s.close()


def role(s: Session, sb: Sandbox, data_dir: str) -> str:
    if data_dir.startswith(str(sb.servers[0].data_dir)):
        return "primary"
    for i, r in enumerate(sb.standbys[0]):
        if data_dir.startswith(str(r.data_dir)):
            return f"replica{i}"
    raise AssertionError(data_dir)


def reads(s: Session, sb: Sandbox, n: int) -> Counter[str]:
    return Counter(role(s, sb, s.sql("SELECT where_read()")["where_read"][0]) for _ in range(n))


def wait_replicated(sb: Sandbox, key: int) -> None:
    deadline = time.monotonic() + 10
    for r in sb.standbys[0]:
        with psycopg.connect(r.connstr("rep_p0"), autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM kv WHERE k = %s", [key]).fetchone() != (1,):
                assert time.monotonic() < deadline, "replica did not catch up"
                time.sleep(0.05)


def test_reads_spread_randomly_over_replicas_and_primary(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    seen = reads(s, sb, 60)
    assert set(seen) == {"primary", "replica0", "replica1"}, seen
    s.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas,
                  read_write_splitting=1, primary_reads_enabled=0)  # fmt: skip
    seen = reads(s, sb, 40)
    assert set(seen) == {"replica0", "replica1"}, seen


def test_loc_mode_balances_by_outstanding_queries(rep: tuple[Session, Sandbox]) -> None:
    _, sb = rep
    with Session() as fresh:  # its own load book
        fresh.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas, read_write_splitting=1,
                          primary_reads_enabled=0, load_balancing_mode="loc")  # fmt: skip
        fresh.execute(PROXIES)
        seen = reads(fresh, sb, 20)
    assert seen["replica0"] == seen["replica1"] == 10  # idle replicas: served in turn


def test_writes_and_misrouting_classics_go_to_the_primary(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    for i in range(10):  # a VOLATILE remote function: always the primary
        assert role(s, sb, s.call("put", i, f"v{i}")["put"][0]) == "primary"
    assert role(s, sb, s.sql("SELECT sel_nextval()")["sel_nextval"][0].split(":")[0]) == "primary"
    # ad-hoc SQL is classified too: a writable CTE runs on the primary, a plain read may not
    cte = s.run("rep", "WITH d AS (DELETE FROM kv WHERE k = 3 RETURNING k) "
                "SELECT current_setting('data_directory') AS dd FROM d", run_on=0)  # fmt: skip
    assert [role(s, sb, d) for d in cte["dd"]] == ["primary"]
    plain = {role(s, sb, d) for _ in range(10)
             for d in s.run("rep", "SELECT current_setting('data_directory') AS dd", run_on=0)["dd"]}  # fmt: skip
    assert plain <= {"primary", "replica0", "replica1"} and plain != {"primary"}
    assert [role(s, sb, d) for d in s.sql("SELECT * FROM sel_lock(4)")["sel_lock"]] == ["primary"]
    # a read-only explicit SELECT may use a replica and sees replicated data
    wait_replicated(sb, 5)
    got = {s.sql("SELECT sel_read(5)")["sel_read"][0].split(":")[1] for _ in range(6)}
    assert got == {"v5"}
    assert (
        "primary (nextval() changes or reads session state)"
        in s.explain("SELECT sel_nextval()").summary()
    )
    assert "replica (remote function is STABLE)" in s.explain("SELECT where_read()").summary()


def test_per_function_override(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    s.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas, read_write_splitting=1,
                  primary_reads_enabled=0)  # fmt: skip
    s.read_only("where_read", False)
    assert set(reads(s, sb, 10)) == {"primary"}
    s.read_only("where_read", None)
    assert "primary" not in reads(s, sb, 10)


def test_lagging_replica_is_skipped(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    s.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas, read_write_splitting=1,
                  primary_reads_enabled=0, max_replica_lag=1)  # fmt: skip
    paused = sb.standbys[0][0]
    with psycopg.connect(paused.connstr("rep_p0"), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            s.call("put", 100, "while paused")
            time.sleep(2.2)  # past the bound, and past the cached lag's lifetime
            s.call("put", 101, "again")
            time.sleep(0.2)
            assert set(reads(s, sb, 12)) == {"replica1"}
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


def test_mixed_concurrent_workload_sends_no_write_to_a_replica(
    rep: tuple[Session, Sandbox],
) -> None:
    import random
    import threading

    s, sb = rep
    s.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas, read_write_splitting=1)
    errors: list[BaseException] = []
    writes: list[str] = []
    reads_seen: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + 1.5
        k = 1000 + seed * 10000
        try:
            while time.monotonic() < deadline:
                if rng.random() < 0.4:
                    k += 1
                    where = s.call("put", k, "mixed")["put"][0]
                    with lock:
                        writes.append(role(s, sb, where))
                else:
                    where = s.sql("SELECT where_read()")["where_read"][0]
                    with lock:
                        reads_seen.append(role(s, sb, where))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors
    assert writes and set(writes) == {"primary"}
    assert {"replica0", "replica1"} <= set(reads_seen)
    # checked on the servers: every write is on the primary (a replica refuses writes anyway)
    with psycopg.connect(sb.partitions[0], autocommit=True) as conn:
        (n,) = conn.execute("SELECT count(*) FROM kv WHERE v = 'mixed'").fetchone()  # type: ignore[misc]
    assert n == len(writes)


def test_stopped_replica_costs_no_failed_call(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    s.add_cluster("rep", sb.partitions, replicas=sb.cluster.replicas, read_write_splitting=1,
                  primary_reads_enabled=0, ban_time=30)  # fmt: skip
    assert set(reads(s, sb, 12)) == {"replica0", "replica1"}
    sb.standbys[0][1].stop()
    seen = reads(s, sb, 20)  # every call succeeds: the dead replica is banned, reads move
    assert set(seen) == {"replica0"}, seen
    state = s.executor.replicas.state(sb.cluster.replicas[0][1])
    assert state.banned_until > time.monotonic() and state.last_error


def test_cluster_show_reports_every_server(rep: tuple[Session, Sandbox]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from plproxy_magic.magics import PlProxyMagic

    s, _ = rep
    ip = InteractiveShell.instance()
    ip.register_magics(PlProxyMagic(ip, session=s))
    shown = ip.run_line_magic("cluster", "show rep")
    assert shown["role"].tolist() == ["primary", "replica 0", "replica 1"] * 2
    states = dict(zip(shown["role"][:3], shown["state"][:3], strict=True))
    assert states["primary"] == "ok" and states["replica 0"] == "ok"
    assert states["replica 1"].startswith("banned for")  # stopped in the previous test
    assert (shown["served"] >= 0).all()


def test_feedback_2_prints_each_calls_route(
    rep: tuple[Session, Sandbox], capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from plproxy_magic.magics import PlProxyMagic

    s, sb = rep
    s.add_cluster(
        "rep", sb.partitions, replicas={0: sb.cluster.replicas[0][:1]}, read_write_splitting=1
    )
    ip = InteractiveShell.instance()
    ip.register_magics(PlProxyMagic(ip, session=s))
    ip.run_line_magic("config", "PlProxyMagic.feedback = 2")
    try:
        ip.run_line_magic("plproxy", "SELECT where_read()")
        ip.run_line_magic("plproxy", "SELECT sel_nextval()")
    finally:
        ip.run_line_magic("config", "PlProxyMagic.feedback = 1")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "public.where_read(0) -> cluster rep: partition 0 [rep_p0]; replica (remote function is STABLE)",
        "public.sel_nextval(0) -> cluster rep: partition 0 [rep_p0]; primary (nextval() changes or reads session state)",
    ]


def test_stale_read_verdict_heals_on_the_primary(rep: tuple[Session, Sandbox]) -> None:
    s, sb = rep
    s.add_cluster("rep", sb.partitions, replicas={0: sb.cluster.replicas[0][:1]},
                  read_write_splitting=1, primary_reads_enabled=0)  # fmt: skip
    s.run(
        "rep",
        "CREATE OR REPLACE FUNCTION flip() RETURNS text AS $$ SELECT current_setting('data_directory') $$ LANGUAGE sql STABLE",
        run_on=0,
    )
    s.execute(
        "CREATE FUNCTION flip() RETURNS text AS $$ CLUSTER 'rep'; RUN ON 0; $$ LANGUAGE plproxy"
    )
    wait_function = time.monotonic() + 10
    while role(s, sb, s.sql("SELECT flip()")["flip"][0]) != "replica0":
        assert time.monotonic() < wait_function
        time.sleep(0.1)
    # the data node's function becomes a VOLATILE writer; the cached verdict says STABLE
    s.run("rep", "CREATE OR REPLACE FUNCTION flip() RETURNS text AS $$ INSERT INTO kv VALUES (777, 'flip') "
          "ON CONFLICT (k) DO NOTHING; SELECT current_setting('data_directory') $$ LANGUAGE sql VOLATILE", run_on=0)  # fmt: skip
    replica = sb.standbys[0][0].connstr("rep_p0")
    deadline = time.monotonic() + 10
    with psycopg.connect(replica, autocommit=True) as conn:  # the replica has replayed it
        while conn.execute("SELECT provolatile FROM pg_proc WHERE proname = 'flip'").fetchone() != (
            "v",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert role(s, sb, s.sql("SELECT flip()")["flip"][0]) == "primary"  # refused, rerun there
    assert not s.executor.replicas.banned(sb.cluster.replicas[0][0])
