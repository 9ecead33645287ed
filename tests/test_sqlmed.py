"""PL/Proxy's SQL/MED cluster configuration: CREATE/ALTER/DROP SERVER, user mappings,
the validator's messages, and calls through the clusters they define."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plproxy_magic.errors import ClusterError
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session


def bare(connstr: str) -> str:
    """A sandbox connect string without its user= (so the mapping supplies it)."""
    return " ".join(p for p in connstr.split() if not p.startswith("user="))


@pytest.fixture()
def s(shards: Sandbox) -> Iterator[Session]:
    with Session() as session:
        session.user = "analyst"
        yield session


def create(s: Session, shards: Sandbox, name: str = "medc", n: int = 2, extra: str = "") -> None:
    parts = ", ".join(f"p{i} '{bare(shards.partitions[i])}'" for i in range(n))
    s.execute(f"CREATE SERVER {name} FOREIGN DATA WRAPPER plproxy OPTIONS ({extra}{parts})")


def test_rds_tutorial_definition_as_pasted(s: Session, shards: Sandbox) -> None:
    p0, p1 = bare(shards.partitions[0]), bare(shards.partitions[1])
    s.execute(f"""
        CREATE EXTENSION plproxy;
        CREATE SERVER cluster_srv1 FOREIGN DATA WRAPPER plproxy OPTIONS (
            connection_lifetime '1800', disable_binary '1', p0 '{p0}', p1 '{p1}');
        GRANT USAGE ON FOREIGN SERVER cluster_srv1 TO postgres;
        CREATE USER MAPPING FOR postgres SERVER cluster_srv1 OPTIONS (user 'postgres');
        CREATE FUNCTION med_where() RETURNS SETOF text AS $$
            CLUSTER 'cluster_srv1'; RUN ON ALL; SELECT current_user || '@' || current_database();
        $$ LANGUAGE plproxy;
    """)
    c = s.clusters["cluster_srv1"]
    assert c.options.connection_lifetime == 1800 and c.options.disable_binary == 1
    # the only mapping (FOR postgres) applies although the session user is "analyst"
    assert c.partitions[0] == f"{p0} user='postgres'"
    assert s.sql("SELECT * FROM med_where()")["med_where"].tolist() == [
        "postgres@shards_p0",
        "postgres@shards_p1",
    ]


def test_mapping_choice_user_then_public(s: Session, shards: Sandbox) -> None:
    create(s, shards)
    s.execute("CREATE USER MAPPING FOR PUBLIC SERVER medc OPTIONS (user 'postgres', password 'pw1');"
              "CREATE USER MAPPING FOR other SERVER medc OPTIONS (user 'nobody')")  # fmt: skip
    assert s.clusters["medc"].partitions[1].endswith("user='postgres' password='pw1'")
    s.execute(
        "CREATE USER MAPPING FOR CURRENT_USER SERVER medc OPTIONS (user 'postgres', password 'it''s')"
    )
    assert s.clusters["medc"].partitions[0].endswith("user='postgres' password='it\\'s'")
    assert "it's" not in repr(s.clusters["medc"]) and "pw1" not in repr(s.clusters["medc"])
    s.execute("ALTER USER MAPPING FOR analyst SERVER medc OPTIONS (SET password 'new')")
    assert s.clusters["medc"].partitions[0].endswith("password='new'")
    s.execute("DROP USER MAPPING FOR analyst SERVER medc")
    assert s.clusters["medc"].partitions[0].endswith("password='pw1'")


def test_connect_string_with_user_gets_nothing_appended(s: Session, shards: Sandbox) -> None:
    s.execute(f"CREATE SERVER withuser FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{shards.partitions[0]}');"
              "CREATE USER MAPPING FOR PUBLIC SERVER withuser OPTIONS (user 'x', password 'y')")  # fmt: skip
    assert s.clusters["withuser"].partitions == (shards.partitions[0],)


def test_alter_and_drop_server(s: Session, shards: Sandbox) -> None:
    create(s, shards, n=2)
    s.execute(f"ALTER SERVER medc OPTIONS (ADD p2 '{bare(shards.partitions[2])}', "
              f"ADD p3 '{bare(shards.partitions[3])}', ADD query_timeout '5')")  # fmt: skip
    c = s.clusters["medc"]
    assert len(c.partitions) == 4 and c.options.query_timeout == 5
    s.execute("ALTER SERVER medc OPTIONS (SET query_timeout '7', DROP p3, DROP p2)")
    assert len(s.clusters["medc"].partitions) == 2
    assert s.clusters["medc"].options.query_timeout == 7
    with pytest.raises(ClusterError, match="Pl/Proxy: invalid number of partitions"):
        s.execute("ALTER SERVER medc OPTIONS (DROP p1, ADD p1 'a', ADD p2 'b')")
    assert len(s.clusters["medc"].partitions) == 2  # a failed ALTER changes nothing
    s.execute("DROP SERVER medc")
    assert "medc" not in s.clusters
    s.execute("DROP SERVER IF EXISTS medc")


VALIDATOR = [
    ("p0 'a', p2 'b'", "Pl/Proxy: partition numbers must start from 0 and be numbered consecutively", "42601"),
    ("p1 'a', p2 'b'", "Pl/Proxy: partition numbers must start from 0 and be numbered consecutively", "42601"),
    ("p0 'a', partition_0 'b'", "Pl/Proxy: duplicate partition number: 0", "42601"),
    ("p0 'a', p1 'b', p2 'c'", "Pl/Proxy: invalid number of partitions", "42601"),
    ("connection_lifetime '1800'", "Pl/Proxy: invalid number of partitions", "42601"),
    ("p0 'a', query_timeout 'soon'", "Pl/Proxy: only integer options are allowed: query_timeout=soon", "XX000"),
    ("p0 'a', connect_timeout '5'", "Pl/Proxy: invalid server option: connect_timeout", "XX000"),
    ("p0 'a', default_user 'current_user'", "Pl/Proxy: invalid server option: default_user", "XX000"),
    ("p0 'a', p0 'b'", 'option "p0" provided more than once', "42710"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "message", "sqlstate"), VALIDATOR)
def test_validator_messages(s: Session, options: str, message: str, sqlstate: str) -> None:
    with pytest.raises(ClusterError) as e:
        s.execute(f"CREATE SERVER bad FOREIGN DATA WRAPPER plproxy OPTIONS ({options})")
    assert str(e.value) == message and e.value.sqlstate == sqlstate
    assert "bad" not in s.clusters and "bad" not in s.servers


def test_modular_mapping_and_leading_zeros(s: Session) -> None:
    s.execute("CREATE SERVER mod3 FOREIGN DATA WRAPPER plproxy OPTIONS "
              "(modular_mapping '1', partition_000 'a', p1 'b', partition_2 'c')")  # fmt: skip
    assert s.clusters["mod3"].partitions == ("a", "b", "c")
    assert s.clusters["mod3"].options.modular_mapping is True


def test_mapping_and_server_errors(s: Session, shards: Sandbox) -> None:
    create(s, shards)
    with pytest.raises(ClusterError, match="Pl/Proxy: invalid option to user mapping"):
        s.execute("CREATE USER MAPPING FOR PUBLIC SERVER medc OPTIONS (host 'x')")
    with pytest.raises(ClusterError, match='server "nope" does not exist'):
        s.execute("CREATE USER MAPPING FOR PUBLIC SERVER nope OPTIONS (user 'x')")
    with pytest.raises(ClusterError, match='server "medc" already exists'):
        create(s, shards)
    with pytest.raises(ClusterError, match="only plproxy servers define clusters"):
        s.execute("CREATE SERVER pgf FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'x')")
    s.execute("CREATE USER MAPPING FOR PUBLIC SERVER medc")
    with pytest.raises(ClusterError, match='user mapping for "PUBLIC" already exists'):
        s.execute("CREATE USER MAPPING FOR PUBLIC SERVER medc")
    with pytest.raises(ClusterError, match='user mapping for "someone" does not exist'):
        s.execute("DROP USER MAPPING FOR someone SERVER medc")


def test_replica_options_of_our_own(s: Session, shards: Sandbox) -> None:
    p = [bare(x) for x in shards.partitions[:2]]
    s.execute(
        f"CREATE SERVER withrep FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{p[0]}', p1 '{p[1]}', "
        f"replica_0 '{p[1]}', replica_0_1 '{p[0]}', read_write_splitting 'on', "
        "load_balancing_mode 'loc', ban_time '5');"
        "CREATE USER MAPPING FOR PUBLIC SERVER withrep OPTIONS (user 'postgres')"
    )
    c = s.clusters["withrep"]
    assert c.options.read_write_splitting and c.options.load_balancing_mode == "loc"
    assert c.replicas[0] == (f"{p[1]} user='postgres'", f"{p[0]} user='postgres'")
    with pytest.raises(ClusterError, match="load_balancing_mode"):
        s.execute("ALTER SERVER withrep OPTIONS (SET load_balancing_mode 'fastest')")
    # deploy keeps only what real PL/Proxy knows
    from plproxy_magic.interop import deploy_ddl

    s.execute(
        "CREATE FUNCTION wr() RETURNS SETOF int AS $$ CLUSTER 'withrep'; RUN ON ALL; $$ LANGUAGE plproxy"
    )
    ddl = " ".join(x.as_string() for x in deploy_ddl(s, ["wr"]))
    assert "replica_0" not in ddl and "load_balancing_mode" not in ddl and '"p1"' in ddl
