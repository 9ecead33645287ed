"""Both ways to a real PL/Proxy proxy database (Debian's postgresql-15-plproxy): deploy the
kernel's definitions and call them through the real proxy; attach and get them back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from real_plproxy import RealServer, start

from plproxy_magic.session import Session

NODES = """
CREATE TABLE io_users (id int, name text);
CREATE FUNCTION io_add(i int, n text) RETURNS int AS $$ INSERT INTO io_users VALUES (i, n); SELECT 1 $$ LANGUAGE sql;
"""

PROXIES = """
CREATE FUNCTION io_add(i int, n text) RETURNS int AS $$ CLUSTER 'io'; RUN ON hashint4(i); $$ LANGUAGE plproxy;
CREATE FUNCTION io_all() RETURNS TABLE(id int, name text, db text) AS $$
    CLUSTER 'io'; RUN ON ALL; SELECT id, name, current_database()::text AS db FROM io_users ORDER BY id;
$$ LANGUAGE plproxy;
CREATE FUNCTION io_med(i int) RETURNS SETOF text AS $$
    CLUSTER 'iomed'; RUN ON i; SELECT current_user || '@' || current_database();
$$ LANGUAGE plproxy;
"""


@pytest.fixture(scope="module")
def real() -> Iterator[RealServer]:
    server = start()  # raises, never skips, when real PL/Proxy is missing
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def kernel(real: RealServer) -> Iterator[tuple[Session, list[str], str]]:
    parts = [real.create_database(f"io_p{i}") for i in range(4)]
    proxy = real.create_database("io_proxy")
    with real.connect() as conn:
        conn.execute("CREATE ROLE io_reader LOGIN PASSWORD 'sekret-pw'")
    with Session() as s:
        s.add_cluster("io", parts, connection_lifetime=600)
        bare = [p.replace(" user=postgres", "") for p in parts[:2]]
        s.execute(
            f"CREATE SERVER iomed FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{bare[0]}', p1 '{bare[1]}');"
            "CREATE USER MAPPING FOR PUBLIC SERVER iomed OPTIONS (user 'io_reader', password 'sekret-pw');"
        )
        s.run("io", NODES)
        s.execute(PROXIES)
        for i, name in enumerate(["a", "b", "c", "d", "e", "f"]):
            s.call("io_add", i, name)
        yield s, parts, proxy


def rows(real: RealServer, sql: str) -> list[tuple[Any, ...]]:
    with real.connect("io_proxy") as conn:
        return conn.execute(sql).fetchall()


def test_deploy_dry_run_shows_masked_ddl_and_runs_nothing(
    kernel: tuple[Session, list[str], str], real: RealServer
) -> None:
    s, _, proxy = kernel
    ddl = s.deploy(proxy, dry_run=True)
    assert "CREATE EXTENSION IF NOT EXISTS plproxy;" in ddl
    assert (
        'CREATE SERVER "io" FOREIGN DATA WRAPPER plproxy OPTIONS ("connection_lifetime" \'600\', "p0"'
        in ddl
    )
    assert "CREATE OR REPLACE FUNCTION io_add(i int, n text)" in ddl
    assert "sekret-pw" not in ddl and "'***'" in ddl
    assert rows(real, "SELECT count(*) FROM pg_proc WHERE proname = 'io_all'") == [(0,)]


def test_deployed_functions_give_the_kernels_rows(
    kernel: tuple[Session, list[str], str], real: RealServer
) -> None:
    s, _, proxy = kernel
    s.deploy(proxy)
    ours = s.sql("SELECT * FROM io_all()")
    theirs = rows(real, "SELECT * FROM io_all()")
    assert [tuple(r) for r in ours.astype(object).values.tolist()] == theirs
    assert len(theirs) == 6
    # writes through the real proxy land where the kernel routes them, and vice versa
    rows(real, "SELECT io_add(100, 'via-proxy')")
    assert "via-proxy" in s.sql("SELECT * FROM io_all()")["name"].tolist()
    # the SQL/MED user mapping (user and password) is applied on both sides alike
    assert rows(real, "SELECT * FROM io_med(1)") == [("io_reader@io_p1",)]
    assert s.sql("SELECT * FROM io_med(1)")["io_med"].tolist() == ["io_reader@io_p1"]
    s.deploy(proxy)  # idempotent: servers are dropped and recreated


def test_attach_brings_back_clusters_and_functions(
    kernel: tuple[Session, list[str], str], real: RealServer
) -> None:
    s, _, proxy = kernel
    s.deploy(proxy)
    with Session() as t:
        attached = t.attach(proxy)
        assert sorted(attached.clusters) == ["io", "iomed"]
        assert t.clusters["io"].partitions == s.clusters["io"].partitions
        assert t.clusters["io"].options.connection_lifetime == 600
        assert t.clusters["iomed"].partitions[0].endswith("user='io_reader' password='sekret-pw'")
        assert sorted(attached.functions) == [
            "public.io_add(2)",
            "public.io_all(0)",
            "public.io_med(1)",
        ]
        assert "sekret-pw" not in repr(attached)
        assert t.sql("SELECT * FROM io_all()").equals(s.sql("SELECT * FROM io_all()"))
        assert t.sql("SELECT * FROM io_med(0)")["io_med"].tolist() == ["io_reader@io_p0"]


def test_attach_compat_cluster_reloads_on_version_change(
    kernel: tuple[Session, list[str], str], real: RealServer
) -> None:
    _, parts, _ = kernel
    proxy = real.create_database("io_compat")
    with real.connect("io_compat") as conn:
        conn.execute("CREATE EXTENSION plproxy; CREATE SCHEMA plproxy;"
                     "CREATE TABLE plproxy.parts (nr int, connstr text); CREATE TABLE plproxy.ver (v int)")  # fmt: skip
        conn.execute("INSERT INTO plproxy.ver VALUES (1)")
        for i, p in enumerate(parts[:2]):
            conn.execute("INSERT INTO plproxy.parts VALUES (%s, %s)", [i, p])
        conn.execute("""
            CREATE FUNCTION plproxy.get_cluster_version(c text) RETURNS int AS $$ SELECT v FROM plproxy.ver $$ LANGUAGE sql;
            CREATE FUNCTION plproxy.get_cluster_partitions(c text) RETURNS SETOF text AS $$ SELECT connstr FROM plproxy.parts ORDER BY nr $$ LANGUAGE sql;
            CREATE FUNCTION plproxy.get_cluster_config(c text, OUT key text, OUT val text) RETURNS SETOF record AS $$ SELECT 'query_timeout'::text, '30'::text $$ LANGUAGE sql;
            CREATE FUNCTION io_where() RETURNS SETOF text AS $$ CLUSTER 'compat1'; RUN ON ALL; SELECT current_database()::text; $$ LANGUAGE plproxy;
        """)
        real_rows = conn.execute("SELECT * FROM io_where()").fetchall()
    with Session() as t:
        assert t.attach(proxy).clusters == ["compat1"]
        assert t.clusters["compat1"].options.query_timeout == 30
        assert (
            [(x,) for x in t.sql("SELECT * FROM io_where()")["io_where"]]
            == real_rows
            == [("io_p0",), ("io_p1",)]
        )
        with real.connect("io_compat") as conn:
            conn.execute("UPDATE plproxy.parts SET connstr = %s WHERE nr = 1", [parts[3]])
            assert t.sql("SELECT * FROM io_where()")["io_where"].tolist() == [
                "io_p0",
                "io_p1",
            ]  # same version
            conn.execute("UPDATE plproxy.ver SET v = 2")
        assert t.sql("SELECT * FROM io_where()")["io_where"].tolist() == ["io_p0", "io_p3"]


def test_magics_deploy_and_attach(
    kernel: tuple[Session, list[str], str], real: RealServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    from plproxy_magic.magics import PlProxyMagic

    s, _, proxy = kernel
    ip = InteractiveShell.instance()
    ip.register_magics(PlProxyMagic(ip, session=s))
    ip.user_ns["proxy"] = proxy
    r = ip.run_cell("%plproxy deploy --to '{proxy}' --dry-run io_all")
    assert r.error_in_exec is None
    out = capsys.readouterr().out
    assert "io_all" in out and "io_add" not in out and 'CREATE SERVER "io"' in out
    with Session() as t:
        ip.register_magics(PlProxyMagic(ip, session=t))
        s.deploy(proxy)
        assert ip.run_cell("%cluster attach '{proxy}'").error_in_exec is None
        assert (
            "Attached as postgres: clusters io, iomed; 3 proxy functions" in capsys.readouterr().out
        )
        assert "io_all" in t.functions
