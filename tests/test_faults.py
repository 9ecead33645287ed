"""Faults on real servers: a partition server killed mid-call, silent hosts, interrupts,
atomic writes across a crash, and many threads on one session.

The ``faulty`` sandbox has 8 partitions on 4 embedded servers of its own (partition *i* on
server *i mod 4*), so tests can crash and restart a server without disturbing the shared
``shards`` fixture. Every test leaves all four servers running.
"""

from __future__ import annotations

import _thread
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from IPython.core.interactiveshell import InteractiveShell

from plproxy_magic.atomic import AtomicError
from plproxy_magic.errors import ConnectError, FanOutError, PlProxyError, RemoteError
from plproxy_magic.magics import PlProxyMagic
from plproxy_magic.sandbox import EmbeddedServer, Sandbox, sandbox
from plproxy_magic.session import Session

FUNCTIONS = """
CREATE FUNCTION fz_sleep(t float8) RETURNS SETOF text AS $$
    CLUSTER 'faulty'; RUN ON ALL; SELECT current_database()::text FROM pg_sleep(t);
$$ LANGUAGE plproxy;
CREATE FUNCTION fz_echo(i int) RETURNS TABLE (k int, db text) AS $$
    CLUSTER 'faulty'; RUN ON hashint4(i); SELECT i AS k, current_database()::text AS db;
$$ LANGUAGE plproxy;
CREATE FUNCTION fz_all() RETURNS SETOF text AS $$
    CLUSTER 'faulty'; RUN ON ALL; SELECT current_database()::text;
$$ LANGUAGE plproxy;
"""


@pytest.fixture(scope="module")
def faulty() -> Iterator[Sandbox]:
    with Session() as owner:
        sb = sandbox("faulty", partitions=8, servers=4, session=owner)
        yield sb


@pytest.fixture()
def s(faulty: Sandbox) -> Iterator[Session]:
    with Session() as session:
        session.add_cluster("faulty", faulty.partitions)
        session.execute(FUNCTIONS)
        yield session
    for server in faulty.servers:  # a test that crashed a server must not leave it down
        _ensure_up(server)


def _ensure_up(server: EmbeddedServer) -> None:
    try:
        psycopg.connect(server.dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        server.restart()


def backends(faulty: Sandbox, state: str | None = None) -> int:
    """Client connections to the sandbox's partition databases, on all its servers."""
    total = 0
    for server in faulty.servers:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'faulty_p%%' "
                "AND backend_type = 'client backend' AND (state = %s OR %s::text IS NULL)",
                [state, state],
            ).fetchone()
            total += row[0] if row else 0
    return total


def sleeping(faulty: Sandbox) -> int:
    """Remote pg_sleep queries still running, on the servers that are up."""
    total = 0
    for server in faulty.servers:
        try:
            conn = psycopg.connect(server.dsn, autocommit=True, connect_timeout=2)
        except psycopg.OperationalError:
            continue  # a crashed server runs nothing
        with conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
            ).fetchone()
            total += row[0] if row else 0
    return total


def wait_until(predicate: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# -- a server killed during a fan-out -------------------------------------------------------


def test_server_killed_during_fan_out_fails_fast_and_recovers(s: Session, faulty: Sandbox) -> None:
    assert sorted(s.call("fz_sleep", 0)["fz_sleep"]) == [f"faulty_p{i}" for i in range(8)]
    victim = faulty.servers[2]  # partitions 2 and 6
    killed_at: list[float] = []

    def kill() -> None:
        time.sleep(0.5)
        victim.crash()
        killed_at.append(time.monotonic())

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(PlProxyError) as e:
        s.call("fz_sleep", 30)
    failed_at = time.monotonic()
    killer.join()
    assert failed_at - killed_at[0] < 1.0  # not the 30 s the other partitions would take
    failed = e.value.errors if isinstance(e.value, FanOutError) else [e.value]
    assert sorted(x.partition for x in failed) == [2, 6]  # type: ignore[type-var]
    assert all("[faulty_p2]" in str(x) or "[faulty_p6]" in str(x) for x in failed)
    # the other partitions were cancelled, and say so; their servers stay healthy
    assert sorted(e.value.cancelled or []) == [0, 1, 3, 4, 5, 7]
    assert any("cancelled on partitions 0, 1, 3, 4, 5, 7" in n for n in e.value.__notes__)
    assert wait_until(lambda: sleeping(faulty) == 0, 2.0)
    assert s.pool.stats()["busy"] == 0

    # While the server is down, its partitions fail at once and the others answer.
    with pytest.raises(ConnectError, match=r"\[faulty_p2\]"):
        s.call("fz_echo", next(k for k in range(100) if pm_part(k) == 2))
    assert s.call("fz_echo", next(k for k in range(100) if pm_part(k) == 1))["db"].tolist() == [
        "faulty_p1"
    ]

    victim.restart()
    # The next call succeeds with no user action: dead connections are replaced.
    assert sorted(s.call("fz_sleep", 0)["fz_sleep"]) == [f"faulty_p{i}" for i in range(8)]


def pm_part(key: int) -> int:
    from plproxy_magic import hashint4

    return int(hashint4(key)) & 7


def test_no_connection_or_thread_leaks_over_1000_calls(s: Session, faulty: Sandbox) -> None:
    s.call("fz_all")  # one connection per partition, then steady state
    threads_before = threading.active_count()
    failures = 0
    for i in range(1000):
        if i == 400:
            faulty.servers[1].crash()
        if i == 600:
            faulty.servers[1].restart()
        try:
            if i % 10 == 0:
                assert len(s.call("fz_all")) == 8
            else:
                assert s.call("fz_echo", i)["k"].tolist() == [i]
        except PlProxyError as exc:
            assert 400 <= i < 600 and exc.partition in (1, 5), exc
            failures += 1
    assert failures > 0  # calls to the crashed server failed while it was down
    # Each partition holds at most one connection (idle), nothing is checked out, and the
    # thread pool did not grow beyond its fan-out workers.
    assert s.pool.stats() == {"idle": 8, "busy": 0}
    assert backends(faulty) == 8
    assert backends(faulty, "idle") == 8
    assert threading.active_count() <= threads_before + 8


def test_connect_timeout_to_a_host_that_does_not_answer() -> None:
    # A listening socket that never speaks: the TCP handshake completes (the kernel's
    # backlog), then nothing. libpq's connect_timeout is honoured.
    with socket.socket() as silent, Session() as s:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        s.add_cluster("silent", [f"host=127.0.0.1 port={port} dbname=nowhere connect_timeout=1"])
        s.execute("CREATE FUNCTION fz_silent() RETURNS int AS $$ CLUSTER 'silent'; "
                  "SELECT 1; $$ LANGUAGE plproxy")  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(ConnectError) as e:
            s.call("fz_silent")
        assert 0.9 < time.monotonic() - t0 < 3.0
        assert str(e.value).startswith("PL/Proxy function public.fz_silent(0): [nowhere] ")
        assert "timeout" in str(e.value)


def test_interrupt_during_a_fan_out_over_8_partitions(s: Session, faulty: Sandbox) -> None:
    t0 = time.monotonic()
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        s.call("fz_sleep", 30)
    timer.join()
    assert time.monotonic() - t0 < 1.5  # control back within a second of the interrupt
    assert wait_until(lambda: sleeping(faulty) == 0, 2.0)  # every backend idle within 2 s
    assert len(s.call("fz_sleep", 0)) == 8


# -- writes: which partitions committed, atomic writes, recovery ------------------------------

TABLE = "CREATE TABLE IF NOT EXISTS fz_t (id int PRIMARY KEY, v text); TRUNCATE fz_t"


def counts(s: Session) -> list[int]:
    out = []
    for p in range(8):
        df = s.run("faulty", "SELECT count(*)::int AS n FROM fz_t", run_on=p)
        out.append(int(df["n"][0]))
    return out


def prepared(faulty: Sandbox) -> list[str]:
    gids: list[str] = []
    for server in faulty.servers:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            gids += [str(r[0]) for r in conn.execute("SELECT gid FROM pg_prepared_xacts")]
    return sorted(gids)


@pytest.fixture()
def table(s: Session) -> Session:
    s.run("faulty", TABLE)
    return s


def test_a_failed_write_says_which_partitions_committed(table: Session) -> None:
    s = table
    s.run("faulty", "INSERT INTO fz_t VALUES (1, 'old')", run_on=3)
    with pytest.raises(RemoteError) as e:
        s.run("faulty", "INSERT INTO fz_t VALUES (1, 'new')")
    assert e.value.partition == 3 and e.value.sqlstate == "23505"
    assert e.value.completed == [0, 1, 2, 4, 5, 6, 7]
    assert e.value.__notes__ == ["completed on partitions 0, 1, 2, 4, 5, 6, 7 (committed)"]
    assert counts(s) == [1] * 8


def test_several_statements_are_one_transaction_per_partition(table: Session) -> None:
    s = table
    s.run("faulty", "INSERT INTO fz_t VALUES (1, 'old')", run_on=3)
    with pytest.raises(RemoteError) as e:
        s.run("faulty", "INSERT INTO fz_t VALUES (2, 'x'); INSERT INTO fz_t VALUES (1, 'y')")
    assert e.value.partition == 3
    # partition 3 applied neither statement; the others applied both
    assert counts(s) == [2, 2, 2, 1, 2, 2, 2, 2]
    # VACUUM cannot run inside a transaction: such scripts run statement by statement
    status = s.run("faulty", "VACUUM fz_t; ANALYZE fz_t")
    assert status["status"].tolist() == ["ANALYZE"] * 8


def test_atomic_write_commits_everywhere(table: Session, faulty: Sandbox) -> None:
    s = table
    status = s.run("faulty", "INSERT INTO fz_t VALUES (1, 'a'), (2, 'b')", atomic=True)
    assert status["status"].tolist() == ["INSERT 0 2"] * 8
    assert counts(s) == [2] * 8 and prepared(faulty) == []


def test_atomic_write_failing_on_one_partition_commits_nowhere(
    table: Session, faulty: Sandbox
) -> None:
    s = table
    s.run("faulty", "INSERT INTO fz_t VALUES (1, 'old')", run_on=5)
    with pytest.raises(RemoteError) as e:
        s.run("faulty", "INSERT INTO fz_t VALUES (1, 'new')", atomic=True)
    assert e.value.partition == 5 and e.value.sqlstate == "23505"
    assert e.value.completed == []
    assert e.value.__notes__ == ["atomic: rolled back on every partition, nothing committed"]
    assert counts(s) == [0, 0, 0, 0, 0, 1, 0, 0] and prepared(faulty) == []


class KillOnPrepared:
    """A progress display (the executor's observer seam) that crashes a server once every
    partition has prepared: the moment between prepare and commit."""

    def __init__(self, server: EmbeddedServer, partitions: int) -> None:
        self.server, self.partitions, self.seen = server, partitions, 0

    def __call__(self, parts: Any) -> KillOnPrepared:
        return self

    def event(self, partition: int, state: str, rows: int) -> None:
        if state == "prepared":
            self.seen += 1
            if self.seen == self.partitions:
                self.server.crash()

    def poll(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_partition_killed_between_prepare_and_commit_is_committed_by_recover(
    table: Session, faulty: Sandbox
) -> None:
    s = table
    s.executor.progress = KillOnPrepared(faulty.servers[2], 8)  # partitions 2 and 6
    with pytest.raises(AtomicError) as e:
        s.run("faulty", "INSERT INTO fz_t VALUES (7, 'x')", atomic=True)
    s.executor.progress = None
    assert e.value.committed == [0, 1, 3, 4, 5, 7]
    assert sorted(e.value.pending) == [2, 6]
    assert "recover" in str(e.value)
    faulty.servers[2].restart()
    # The prepared transactions survived the crash: listed, not yet visible.
    assert len(prepared(faulty)) == 2
    assert counts(s) == [1, 1, 0, 1, 1, 1, 0, 1]
    listed = s.recover("faulty", dry_run=True)
    assert listed["partition"].tolist() == [2, 6]
    assert listed["decision"].tolist() == ["commit", "commit"]
    assert listed["outcome"].tolist() == ["", ""]
    done = s.recover("faulty")
    assert done["outcome"].tolist() == ["committed", "committed"]
    assert counts(s) == [1] * 8 and prepared(faulty) == []


def test_coordinator_killed_before_commit_rolls_back_everywhere(
    table: Session, faulty: Sandbox
) -> None:
    s = table
    s.executor.progress = KillOnPrepared(faulty.servers[0], 8)  # partitions 0 (coordinator), 4
    with pytest.raises(AtomicError) as e:
        s.run("faulty", "INSERT INTO fz_t VALUES (7, 'x')", atomic=True)
    s.executor.progress = None
    assert e.value.committed == []
    assert sorted(e.value.pending) == list(range(8))
    faulty.servers[0].restart()
    assert counts(s) == [0] * 8  # nothing committed anywhere
    done = s.recover("faulty")
    assert done["decision"].unique().tolist() == ["rollback"]
    assert done["outcome"].unique().tolist() == ["rolled back"]
    assert sorted(done["partition"]) == list(range(8))
    assert counts(s) == [0] * 8 and prepared(faulty) == []


def test_recover_leaves_young_transactions_of_other_sessions_alone(
    table: Session, faulty: Sandbox
) -> None:
    s = table
    s.executor.progress = KillOnPrepared(faulty.servers[3], 8)
    with pytest.raises(AtomicError):
        s.run("faulty", "INSERT INTO fz_t VALUES (9, 'x')", atomic=True)
    s.executor.progress = None
    faulty.servers[3].restart()
    with Session() as other:
        other.add_cluster("faulty", faulty.partitions)
        young = other.recover("faulty")
        assert young["decision"].str.startswith("leave (younger than 60 s").all()
        assert len(prepared(faulty)) == 2
        done = other.recover("faulty", older_than=0)
        assert done["outcome"].tolist() == ["committed", "committed"]
    assert counts(s) == [1] * 8 and prepared(faulty) == []


def test_atomic_magic_and_recover_magic(table: Session, faulty: Sandbox) -> None:
    ip = InteractiveShell.instance()
    ip.register_magics(PlProxyMagic(ip, session=table))
    df = ip.run_cell_magic(
        "plproxy", "--cluster faulty --atomic", "INSERT INTO fz_t VALUES (3, 'm')"
    )
    assert df["status"].tolist() == ["INSERT 0 1"] * 8
    listed = ip.run_line_magic("cluster", "recover faulty --dry-run")
    assert len(listed) == 0 and list(listed.columns) == [
        "transaction", "partition", "database", "prepared", "decision", "outcome",
    ]  # fmt: skip


def test_cluster_option_atomic_applies_to_proxy_function_writes(faulty: Sandbox) -> None:
    with Session() as s:
        s.add_cluster("faulty", faulty.partitions, atomic=True)
        s.run("faulty", TABLE)
        s.run("faulty", "CREATE OR REPLACE FUNCTION fz_put(i int) RETURNS SETOF int AS "
                        "$$ INSERT INTO fz_t VALUES (i, 'f') RETURNING id $$ LANGUAGE sql")  # fmt: skip
        s.execute("CREATE FUNCTION fz_put(i int) RETURNS SETOF int AS $$ CLUSTER 'faulty'; "
                  "RUN ON ALL; $$ LANGUAGE plproxy")  # fmt: skip
        s.run("faulty", "INSERT INTO fz_t VALUES (4, 'old')", run_on=6, atomic=False)
        with pytest.raises(RemoteError) as e:
            s.call("fz_put", 4)
        assert e.value.partition == 6
        assert counts(s) == [0, 0, 0, 0, 0, 0, 1, 0]  # all or none: none
        assert s.call("fz_put", 5)["fz_put"].tolist() == [5] * 8
        assert counts(s) == [1, 1, 1, 1, 1, 1, 2, 1] and prepared(faulty) == []


# -- concurrency --------------------------------------------------------------------------


def test_eight_threads_on_one_session_for_ten_seconds(s: Session) -> None:
    stop = time.monotonic() + 10
    errors: list[BaseException] = []
    calls = [0] * 8

    def worker(n: int) -> None:
        try:
            i = n
            while time.monotonic() < stop:
                if i % 50 == n:
                    assert sorted(s.call("fz_all")["fz_all"]) == [f"faulty_p{p}" for p in range(8)]
                else:
                    df = s.call("fz_echo", i)
                    # the row answers this thread's own key, from the partition it hashes to
                    assert df["k"].tolist() == [i], (n, i, df)
                    assert df["db"].tolist() == [f"faulty_p{pm_part(i)}"]
                calls[n] += 1
                i += 8
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert all(c > 50 for c in calls), calls
    assert s.pool.stats()["busy"] == 0
