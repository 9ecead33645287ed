"""The magics through a real IPython InteractiveShell: the RDS tutorial and the notebook
conventions (errors fail cells, values returned, variables bound)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from plproxy_magic.errors import CallError, ClusterError, PlProxyError
from plproxy_magic.magics import PlProxyMagic
from plproxy_magic.session import Session


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    session = Session()
    ip.register_magics(PlProxyMagic(ip, session=session))
    ip.user_ns["_session"] = session
    yield ip
    session.close()


def cell(ip: InteractiveShell, source: str) -> Any:
    r = ip.run_cell(source, store_history=False)
    if r.error_in_exec is not None:
        raise r.error_in_exec
    if r.error_before_exec is not None:
        raise r.error_before_exec
    return r.result


def test_load_ext_registers_magics_without_importing_ipython_in_core() -> None:
    import subprocess
    import sys

    code = "import sys, plproxy_magic; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rds_tutorial(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    cell(shell, "%cluster sandbox cluster_srv1 --partitions 2")
    assert (
        "Sandbox cluster cluster_srv1: 2 partitions on 1 embedded PostgreSQL server"
        in capsys.readouterr().out
    )
    status = cell(
        shell,
        """%%plproxy --cluster cluster_srv1 --run-on all
CREATE TABLE users (userid int, name text);
CREATE OR REPLACE FUNCTION insert_user(i_id int, i_name text) RETURNS integer
AS $$ INSERT INTO users (userid, name) VALUES ($1, $2); SELECT 1; $$ LANGUAGE SQL;
CREATE OR REPLACE FUNCTION trunc_user() RETURNS integer
AS $$ TRUNCATE TABLE users; SELECT 1; $$ LANGUAGE SQL;""",
    )
    assert status["status"].tolist() == ["CREATE FUNCTION", "CREATE FUNCTION"]
    cell(
        shell,
        """%%plproxy
CREATE OR REPLACE FUNCTION insert_user(i_id int, i_name text) RETURNS integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ANY;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION get_user_name() RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL;
    SELECT userid, name FROM users;
$$ LANGUAGE plproxy;""",
    )
    assert "Defined: public.insert_user(2), public.get_user_name(0)" in capsys.readouterr().out

    one = cell(shell, "insert_user(1001, 'Sven')")
    assert isinstance(one, pd.DataFrame) and one["insert_user"].tolist() == [1]
    assert cell(shell, "%plproxy SELECT insert_user(1002, 'Marko')")["insert_user"].tolist() == [1]
    names = ["Steve", "lottu", "rax", "ak", "jack", "molica", "pg", "oracle"]
    calls = "\n".join(f"SELECT insert_user({1003 + i}, '{n}');" for i, n in enumerate(names))
    cell(shell, "%%plproxy\n" + calls)
    every = cell(shell, "get_user_name()")
    assert sorted(every["userid"].tolist()) == list(range(1001, 1011))
    same = cell(shell, "%plproxy SELECT * FROM get_user_name()")
    assert same.sort_values("userid").equals(every.sort_values("userid"))
    total = cell(shell, "%%plproxy --cluster cluster_srv1\nSELECT count(*) AS n FROM users")
    assert total["n"].tolist() == [10]  # combined across partitions
    counts = cell(
        shell,
        "%%plproxy --cluster cluster_srv1\nSELECT current_database() AS db, count(*) AS n FROM users GROUP BY 1",
    )
    assert counts["n"].sum() == 10 and len(counts) == 2

    # SQL replication: RUN ON ALL + TARGET
    cell(
        shell,
        """%%plproxy
CREATE OR REPLACE FUNCTION trunc_user() RETURNS SETOF integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION insert_user_2(i_id int, i_name text) RETURNS SETOF integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL; TARGET insert_user;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION get_user_name_2() RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'cluster_srv1'; RUN ON ANY;
    SELECT userid, name FROM users;
$$ LANGUAGE plproxy;""",
    )
    assert cell(shell, "%plproxy SELECT trunc_user()")["trunc_user"].tolist() == [1, 1]
    for i, n in zip(range(1004, 1008), ["lottu", "rax", "ak", "jack"], strict=True):
        assert cell(shell, f"%plproxy SELECT insert_user_2({i}, '{n}')")[
            "insert_user_2"
        ].tolist() == [1, 1]
    expected = [
        {"userid": i, "name": n}
        for i, n in zip(range(1004, 1008), ["lottu", "rax", "ak", "jack"], strict=True)
    ]
    for _ in range(4):
        assert (
            cell(shell, "%plproxy SELECT userid, name FROM get_user_name_2()").to_dict("records")
            == expected
        )
    per_part = cell(
        shell, "%%plproxy --cluster cluster_srv1\nSELECT userid, name FROM users ORDER BY userid"
    )
    assert per_part.to_dict("records") == expected * 2

    # CONNECT mode with the connect string of one partition, via {{templating}}
    shell.user_ns["p0"] = shell.user_ns["_session"].clusters["cluster_srv1"].partitions[0]
    got = cell(
        shell,
        """%%plproxy
CREATE OR REPLACE FUNCTION get_user_name_3() RETURNS TABLE(userid int, name text) AS $$
    CONNECT '{{p0}}';
    SELECT userid, name FROM users;
$$ LANGUAGE plproxy;
SELECT userid, name FROM get_user_name_3();""",
    )
    assert got.to_dict("records") == expected


def test_values_variables_and_assignment(shell: InteractiveShell) -> None:
    cell(shell, "%cluster sandbox mvars --partitions 1")
    cell(
        shell,
        "%%plproxy --cluster mvars\nCREATE FUNCTION echo(t text) RETURNS text AS $$ SELECT t $$ LANGUAGE sql",
    )
    cell(
        shell,
        "%%plproxy\nCREATE FUNCTION echo(t text) RETURNS text AS $$ CLUSTER 'mvars'; $$ LANGUAGE plproxy",
    )
    shell.user_ns["word"] = "it's; $$ tricky"
    assert cell(shell, "%plproxy SELECT echo(:word)")["echo"].tolist() == ["it's; $$ tricky"]
    cell(shell, "df = %plproxy SELECT echo('x')")
    assert shell.user_ns["df"]["echo"].tolist() == ["x"]
    assert cell(shell, "%%plproxy res <<\nSELECT echo('y')") is None
    assert shell.user_ns["res"]["echo"].tolist() == ["y"]
    shell.user_ns["tbl"] = "pg_class"
    n = cell(shell, "%%plproxy --cluster mvars\nSELECT count(*) > 0 AS ok FROM {{tbl}}")
    assert n["ok"].tolist() == [True]


def test_errors_fail_the_cell_with_one_line(shell: InteractiveShell) -> None:
    r = shell.run_cell("%plproxy SELECT * FROM nobody_defined_this()")
    assert isinstance(r.error_in_exec, CallError)
    with pytest.raises(ClusterError) as e:
        cell(shell, "%cluster show nope")
    assert e.value._render_traceback_() == [
        "ClusterError: Pl/Proxy: cluster not found: nope (SQLSTATE XX000)"
    ]
    with pytest.raises(CallError, match="the following arguments are required"):
        cell(shell, "%cluster add")
    with pytest.raises(ClusterError, match="not a power of two"):
        cell(shell, "%cluster sandbox odd --partitions 3")
    with pytest.raises(PlProxyError):
        cell(
            shell, "%%plproxy\nCREATE FUNCTION f() RETURNS int AS $$ RUN ON 0; $$ LANGUAGE plproxy"
        )
    # the session is still usable
    assert cell(shell, "%plproxy SELECT echo('still here')")["echo"].tolist() == ["still here"]


def test_cluster_list_show_drop_mask_passwords(shell: InteractiveShell) -> None:
    cell(
        shell,
        "%cluster add secret 'host=127.0.0.1 dbname=a password=hunter2' 'host=127.0.0.1 dbname=b password=hunter2' --option query_timeout=5",
    )
    listing = cell(shell, "%cluster list")
    assert "secret" in listing["cluster"].tolist()
    shown = cell(shell, "%cluster show secret")
    assert "hunter2" not in shown.to_string() and "password=***" in shown.to_string()
    assert "hunter2" not in repr(shell.user_ns["_session"].clusters["secret"])
    cell(shell, "%cluster drop secret")
    assert "secret" not in cell(shell, "%cluster list")["cluster"].tolist()


def test_explain_magic(shell: InteractiveShell) -> None:
    shell.user_ns["key"] = "k1"
    ex = cell(shell, "%plproxy explain SELECT echo(:key)")
    assert ex.summary() == "public.echo(1) -> cluster mvars: partition 0 [mvars_p0]"
    assert ex.steps[0].targets[0][3] == ("k1",)


def test_cluster_cell_magic_takes_sqlmed(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.user_ns["m0"] = shell.user_ns["_session"].clusters["mvars"].partitions[0]
    cell(
        shell,
        """%%cluster
CREATE SERVER medm FOREIGN DATA WRAPPER plproxy OPTIONS (connection_lifetime '60', p0 '{{m0}}');
GRANT USAGE ON FOREIGN SERVER medm TO PUBLIC;""",
    )
    assert "Cluster medm: 1 partition" in capsys.readouterr().out
    cell(
        shell,
        "%%plproxy\nCREATE FUNCTION echo2(t text) RETURNS text AS $$ CLUSTER 'medm'; TARGET echo; $$ LANGUAGE plproxy",
    )
    assert cell(shell, "%plproxy SELECT echo2('via sqlmed')")["echo2"].tolist() == ["via sqlmed"]
    with pytest.raises(ClusterError, match="Pl/Proxy: invalid number of partitions"):
        cell(
            shell,
            "%%cluster\nCREATE SERVER medbad FOREIGN DATA WRAPPER plproxy OPTIONS (p0 'a', p1 'b', p2 'c')",
        )
    cell(shell, "%%cluster\nDROP SERVER medm")
    assert "Dropped cluster medm" in capsys.readouterr().out


def test_partitions_from_jupysql_aliases_and_connections_ini(
    shell: InteractiveShell, tmp_path: Any
) -> None:
    from sqlalchemy.engine import make_url

    from plproxy_magic.jupysql_conn import dsn_from_url

    session = shell.user_ns["_session"]
    dsn = session.clusters["mvars"].partitions[0]
    params = dict(p.split("=", 1) for p in dsn.split())
    url = f"postgresql+psycopg://{params['user']}@/{params['dbname']}?host={params['host']}"
    assert dsn_from_url(make_url(url)) == dsn
    shell.run_line_magic("load_ext", "sql")
    assert shell.run_cell(f"%sql {url} --alias part0").error_in_exec is None
    cell(shell, "%cluster add viaalias --conn part0")
    assert session.clusters["viaalias"].partitions == (dsn,)
    ini = tmp_path / "connections.ini"
    ini.write_text(f"[part0]\ndrivername = postgresql\nusername = {params['user']}\n"
                   f"database = {params['dbname']}\nquery = {{'host': '{params['host']}'}}\n")  # fmt: skip
    cell(shell, f"%cluster add viaini --section part0 --dsn-file {ini}")
    assert session.clusters["viaini"].partitions == (dsn,)
    cell(
        shell,
        "%%plproxy\nCREATE FUNCTION echo3(t text) RETURNS text AS $$ CLUSTER 'viaini'; TARGET echo; $$ LANGUAGE plproxy",
    )
    assert cell(shell, "%plproxy SELECT echo3('ini')")["echo3"].tolist() == ["ini"]
    with pytest.raises(CallError, match="no jupysql connection with alias 'nope'"):
        cell(shell, "%cluster add x --conn nope")
    with pytest.raises(CallError, match=r"no section \[nope\]"):
        cell(shell, f"%cluster add x --section nope --dsn-file {ini}")


def test_config_options(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    shell.run_line_magic("config", "PlProxyMagic.displaycon = True")
    cell(shell, "%%plproxy --cluster mvars\nSELECT 1 AS one")
    assert "Running on mvars (1 partitions, run on all)" in capsys.readouterr().out
    shell.run_line_magic("config", "PlProxyMagic.displaycon = False")
    shell.run_line_magic("config", "PlProxyMagic.feedback = 0")
    cell(
        shell,
        "%%plproxy\nCREATE OR REPLACE FUNCTION echo9(t text) RETURNS text AS $$ CLUSTER 'mvars'; TARGET echo; $$ LANGUAGE plproxy",
    )
    assert capsys.readouterr().out == ""
    shell.run_line_magic("config", "PlProxyMagic.feedback = 1")
    shell.run_line_magic("config", "PlProxyMagic.progress = 'sometimes'")
    with pytest.raises(CallError, match="progress is auto, widgets, text or off"):
        cell(shell, "%plproxy SELECT echo9('x')")
    shell.run_line_magic("config", "PlProxyMagic.progress = 'auto'")
    shell.run_line_magic("config", "PlProxyMagic.short_errors = False")
    r = shell.run_cell("%plproxy SELECT * FROM nobody_defined_this()")
    assert isinstance(r.error_in_exec, CallError)
    with pytest.raises(RuntimeError):  # IPython then falls back to the full traceback
        r.error_in_exec._render_traceback_()
    shell.run_line_magic("config", "PlProxyMagic.short_errors = True")


def test_persist_a_proxy_result_for_jupysql(shell: InteractiveShell) -> None:
    session = shell.user_ns["_session"]
    dsn = session.clusters["mvars"].partitions[0]
    params = dict(p.split("=", 1) for p in dsn.split())
    shell.run_line_magic("load_ext", "sql")
    url = f"postgresql+psycopg://{params['user']}@/{params['dbname']}?host={params['host']}"
    assert shell.run_cell(f"%sql {url} --alias store").error_in_exec is None
    cell(
        shell,
        "%%plproxy --cluster mvars --persist persisted_counts --conn store\nSELECT 7 AS n, 'x' AS label",
    )
    back = cell(shell, "%sql SELECT n, label FROM persisted_counts")
    assert list(back.dicts()) == [{"n": 7, "label": "x"}]
    with pytest.raises(CallError, match="--persist"):
        cell(
            shell,
            "%%plproxy --cluster mvars --persist persisted_counts --conn store\nSELECT 8 AS n",
        )
