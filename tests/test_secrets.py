"""Passwords are never displayed (SPEC 3): a real password-protected PostgreSQL, every surface.

One embedded server gets roles that must authenticate with scram-sha-256 over its unix socket
(``pg_hba.conf`` edited, configuration reloaded). Passwords reach plproxy_magic in every way a
notebook gives them: in connect strings (key=value and URI), in SQL/MED user mappings, in
``PGPASSWORD`` and in a ``PGPASSFILE``; one of them is full of quotes, spaces and a
backslash. Each test then drives the surfaces a user sees (reprs, HTML, printed output,
errors and their tracebacks, log records, explain, deploy dry runs, ``%cluster
show/list/ping/stats``, feedback traces, progress, a notebook saved by nbclient), collects all
their text, and greps it for every encoding of every password: whole, URL-encoded, quoted,
escaped, and by fragments, so half a password is a failure too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import psycopg
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from plproxy_magic.conninfo import mask, parse
from plproxy_magic.errors import (
    ConnectError,
    FanOutError,
    PlProxyError,
    QueryTimeoutError,
    RemoteError,
)
from plproxy_magic.magics import PlProxyMagic
from plproxy_magic.sandbox import EmbeddedServer, start_server
from plproxy_magic.session import Session

#: the password of role ``secretrole``
PW = "S3cr3t-Pw-7f2a"
#: the password of role ``nastyrole``: a space, an @, a quote and a backslash
NASTY = "N4sty p@ss'w0rd\\x"
#: a wrong password is a password given too
WRONG = "Wr0ng-S3cr3t-91c"
#: what must never show: each password contains one of these in every encoding (URL-encoded,
#: SQL/libpq/Python-quoted, JSON, HTML), and finding one also catches half a password shown
FRAGMENTS = ("S3cr3t", "N4sty", "p@ss", "p%40ss", "w0rd")


# -- the password-protected server ---------------------------------------------------------


@dataclass
class Secure:
    """The server: its socket directory, a directory where no server runs, and DSN makers."""

    server: EmbeddedServer
    host: str
    dead_host: str

    def kv(self, db: str, user: str = "secretrole", password: str | None = PW) -> str:
        """A key=value connect string (libpq quoting for awkward passwords)."""
        return psycopg.conninfo.make_conninfo(
            host=self.host,
            dbname=db,
            user=user,
            **({} if password is None else {"password": password}),
        )

    def uri(self, db: str, password: str = PW) -> str:
        """A URI, the password URL-encoded."""
        host = quote(self.host, safe="")
        return f"postgresql://secretrole:{quote(password, safe='')}@/{db}?host={host}"

    def dead(self, db: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.dead_host, dbname=db, user="secretrole", password=PW
        )


PARTITION_SQL = """
CREATE TABLE items (id int PRIMARY KEY, name text);
INSERT INTO items SELECT g, 'item' || g FROM generate_series(1, 20) g;
GRANT SELECT ON items TO PUBLIC;
CREATE FUNCTION get_item(i int) RETURNS text LANGUAGE sql AS
  $$ SELECT name || '@' || current_database() FROM items WHERE id = i $$;
CREATE FUNCTION boom(i int) RETURNS int LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'boom %', i USING DETAIL = 'remote detail', HINT = 'remote hint'; END $$;
CREATE FUNCTION slow(i int) RETURNS int LANGUAGE sql AS $$ SELECT 1 FROM pg_sleep(5) $$;
"""


@pytest.fixture(scope="module")
def secure() -> Iterator[Secure]:
    """An embedded server whose roles ``secretrole`` / ``nastyrole`` need their passwords."""
    server = start_server()
    dead = tempfile.mkdtemp(prefix="plpm-dead-")  # a socket directory nobody listens in
    try:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            for role, pw in (("secretrole", PW), ("nastyrole", NASTY)):
                conn.execute(
                    psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        psycopg.sql.Identifier(role), psycopg.sql.Literal(pw)
                    )
                )
            for db in ("sec_p0", "sec_p1"):
                conn.execute(f"CREATE DATABASE {db}")
            hba = server.data_dir / "pg_hba.conf"
            # first match wins: these roles must give a password, postgres stays trusted
            hba.write_text("local all secretrole,nastyrole scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        for db in ("sec_p0", "sec_p1"):
            with psycopg.connect(server.connstr(db), autocommit=True) as conn:
                conn.execute(PARTITION_SQL.encode())
        sec = Secure(server, parse(server.dsn)["host"], dead)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            psycopg.connect(sec.kv("sec_p0", password=None)).close()
        psycopg.connect(sec.kv("sec_p0", "nastyrole", NASTY)).close()
        yield sec
    finally:
        server.stop()
        os.rmdir(dead)


# -- collecting what a user could see ---------------------------------------------------------


class Seen:
    """Every text a user could see in a test; :meth:`assert_clean` greps it for passwords."""

    def __init__(self, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder) -> None:
        self.texts: list[tuple[str, str]] = []
        self.caplog = caplog
        self.recwarn = recwarn

    def text(self, label: str, text: object) -> None:
        self.texts.append((label, str(text)))

    def obj(self, label: str, obj: Any) -> None:
        """repr, str, every MIME type IPython would display, and a DataFrame's cells."""
        self.text(f"{label} repr", repr(obj))
        self.text(f"{label} str", str(obj))
        formatter = InteractiveShell.instance().display_formatter
        assert formatter is not None
        data, _ = formatter.format(obj)
        for mime, value in data.items():
            self.text(f"{label} {mime}", value)
        if isinstance(obj, pd.DataFrame):
            self.text(f"{label} to_string", obj.to_string())
            self.text(f"{label} to_html", obj.to_html())
            self.text(f"{label} to_json", obj.to_json())

    def exc(self, label: str, exc: BaseException) -> None:
        """An error as every surface shows it: message, repr, short and full tracebacks."""
        self.text(f"{label} str", str(exc))
        self.text(f"{label} repr", repr(exc))
        self.text(f"{label} args", repr(exc.args))
        if isinstance(exc, PlProxyError):
            self.text(f"{label} vars", repr(vars(exc)))
        self.text(f"{label} traceback", "".join(traceback.format_exception(exc)))
        render = getattr(exc, "_render_traceback_", None)
        if render is not None:
            # with short_errors off it raises: IPython falls back to the full traceback
            with contextlib.suppress(Exception):
                self.text(f"{label} _render_traceback_", "\n".join(render()))
        if isinstance(exc, PlProxyError):
            self.text(f"{label} headline", exc.headline())
        for sub in getattr(exc, "errors", ()):
            self.exc(f"{label} > p{sub.partition}", sub)
        # What a traceback shows of the chain (a suppressed context is not shown; every
        # traceback's frames still hold the connect strings, for debuggers only).
        chained = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if chained is not None:
            self.text(f"{label} > chained", f"{chained!r} {chained}")

    def widgets(self, label: str) -> int:
        """The state of every ipywidget alive (progress rows and bars); how many rows."""
        from ipywidgets.widgets.widget import _instances

        rows = 0
        for w in list(_instances.values()):
            state = json.dumps(w.get_state(), default=str)
            rows += "[sec_p0]: done" in state
            self.text(f"{label} widget", state)
        return rows

    def leaks(self) -> list[str]:
        for rec in self.caplog.records:
            self.text(f"log {rec.name}", rec.getMessage() + (rec.exc_text or ""))
        for w in self.recwarn:
            self.text(f"warning {w.category.__name__}", w.message)
        found = []
        for label, text in self.texts:
            lower = text.lower()
            for frag in FRAGMENTS:
                i = lower.find(frag.lower())
                if i >= 0:
                    found.append(f"{label}: ...{text[max(0, i - 80) : i + 40]!r}...")
        return found

    def assert_clean(self) -> None:
        assert self.texts, "nothing was collected"
        assert self.leaks() == []


@pytest.fixture()
def seen(caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder) -> Seen:
    """Log records (DEBUG, every logger) and warnings are collected too."""
    caplog.set_level(logging.DEBUG)
    for name in ("plproxy_magic", "psycopg"):
        caplog.set_level(logging.DEBUG, logger=name)
    return Seen(caplog, recwarn)


@dataclass
class Kernel:
    """An IPython shell with the magics on a fresh Session, and what its cells showed."""

    ip: InteractiveShell
    magic: PlProxyMagic
    session: Session
    seen: Seen
    #: what the last cell printed
    out: str = ""

    def run(self, source: str, label: str | None = None) -> Any:
        """Run a cell as a notebook would; record its output, value and error."""
        label = label or source.splitlines()[0][:60]
        with capture_output() as cap:
            r = self.ip.run_cell(source, store_history=False)
        self.out = cap.stdout
        self.seen.text(f"{label} stdout", cap.stdout)
        self.seen.text(f"{label} stderr", cap.stderr)
        for out in cap.outputs:
            for mime, value in out.data.items():
                self.seen.text(f"{label} display {mime}", value)
        if r.result is not None:
            self.seen.obj(label, r.result)
        error = r.error_in_exec or r.error_before_exec
        if error is not None:
            self.seen.exc(label, error)
        return r

    def ok(self, source: str) -> Any:
        r = self.run(source)
        assert r.success, r.error_in_exec or r.error_before_exec
        return r.result

    def fails(self, source: str, kind: type[BaseException]) -> BaseException:
        """Run a failing cell with short errors, then again with full tracebacks."""
        errors = []
        for short in (True, False):
            self.magic.short_errors = short
            r = self.run(source, f"{source.splitlines()[0][:50]} short={short}")
            assert not r.success
            errors.append(r.error_in_exec)
        self.magic.short_errors = True
        assert isinstance(errors[0], kind), errors[0]
        return errors[0]


@pytest.fixture()
def kernel(seen: Seen, secure: Secure) -> Iterator[Kernel]:
    ip = InteractiveShell.instance()
    session = Session()
    magic = PlProxyMagic(ip, session=session)
    ip.register_magics(magic)
    ip.user_ns.update(
        _session=session,
        dsn0=shlex.quote(secure.kv("sec_p0")),
        dsn1=shlex.quote(secure.kv("sec_p1")),
    )
    try:
        yield Kernel(ip, magic, session, seen)
    finally:
        session.close()
        magic.progress = "off"


GET_ITEM = """%%plproxy
CREATE FUNCTION get_item(i int) RETURNS text AS $$ CLUSTER '{c}'; RUN ON i; $$ LANGUAGE plproxy;
CREATE FUNCTION get_items() RETURNS SETOF text AS $$
  CLUSTER '{c}'; RUN ON ALL; SELECT name FROM items ORDER BY id; $$ LANGUAGE plproxy;
CREATE FUNCTION boom(i int) RETURNS SETOF int AS $$ CLUSTER '{c}'; RUN ON ALL; $$ LANGUAGE plproxy;
CREATE FUNCTION boom1(i int) RETURNS int AS $$
  CLUSTER '{c}'; RUN ON 0; SELECT boom(i); $$ LANGUAGE plproxy;
CREATE FUNCTION slow(i int) RETURNS SETOF int AS $$ CLUSTER '{c}'; RUN ON ALL; $$ LANGUAGE plproxy;
"""


def surfaces(k: Kernel, cluster: str) -> None:
    """Everything a working cluster shows: calls, explain, show/list/ping/stats, traces."""
    s, seen = k.session, k.seen
    k.ok(GET_ITEM.format(c=cluster))
    assert k.ok("get_item(1)")["get_item"].iloc[0].startswith("item1@sec_p")
    assert len(k.ok("%plproxy SELECT * FROM get_items()")) == 40
    k.ok(f"%cluster show {cluster}")
    k.ok("%cluster list")
    ping = k.ok(f"%cluster ping {cluster}")
    assert ping["ok"].all(), ping["error"].tolist()
    k.ok(f"%cluster stats {cluster} items")
    k.ok("%plproxy explain SELECT * FROM get_item(7)")
    explain = s.explain("SELECT * FROM get_item(7); SELECT * FROM get_items()")
    seen.obj("Session.explain", explain)
    seen.obj("explain frame", explain.to_frame())
    seen.text("explain summary", explain.summary())
    k.magic.feedback = 2
    k.ok("%plproxy SELECT * FROM get_items()")
    assert f"-> cluster {cluster}: partition 0" in k.out
    k.ok(f"%%plproxy --cluster {cluster}\nSELECT count(*) FROM items")
    k.magic.feedback = 1
    k.magic.displaycon = True
    k.ok(f"%%plproxy --cluster {cluster}\nSELECT 1")
    assert f"Running on {cluster}" in k.out
    k.magic.displaycon = False
    # progress: appended text lines for a fan-out slower than the display delay
    k.magic.progress = "text"
    assert k.run(f"%%plproxy --cluster {cluster}\nSELECT pg_sleep(0.6)").success
    assert "running on 2 partitions" in k.out and "p1 [sec_p1]: done" in k.out
    # ... and ipywidgets rows (their state is what a saved notebook keeps)
    k.magic.progress = "widgets"
    assert k.run(f"%%plproxy --cluster {cluster}\nSELECT pg_sleep(0.6)").success
    assert seen.widgets("progress") > 0
    k.magic.progress = "off"
    for name, value in (("session", s), ("clusters", s.clusters), ("servers", s.servers),
                        ("cluster", s.clusters[cluster]), ("pool", s.pool),
                        ("executor", s.executor), ("replicas", s.executor.replicas),
                        ("get_item", s.functions["get_item"]),
                        ("definitions", s.functions["get_item"].definitions)):  # fmt: skip
        seen.obj(name, value)


# -- the tests ------------------------------------------------------------------------------


def test_password_in_connect_strings(kernel: Kernel, secure: Secure) -> None:
    kernel.ok("%cluster add sec $dsn0 $dsn1")
    surfaces(kernel, "sec")
    # the URI form, the password URL-encoded
    kernel.session.add_cluster("securi", [secure.uri("sec_p0"), secure.uri("sec_p1")])
    kernel.ok("%cluster show securi")
    kernel.ok("%cluster ping securi")
    assert kernel.session.sql("SELECT * FROM get_item(2)") is not None
    kernel.seen.obj("uri cluster", kernel.session.clusters["securi"])
    kernel.seen.assert_clean()


def test_awkward_password_in_connect_strings(kernel: Kernel, secure: Secure) -> None:
    kernel.ip.user_ns.update(
        n0=shlex.quote(secure.kv("sec_p0", "nastyrole", NASTY)),
        n1=shlex.quote(secure.kv("sec_p1", "nastyrole", NASTY)),
    )
    kernel.ok("%cluster add nasty $n0 $n1")
    surfaces(kernel, "nasty")
    kernel.seen.assert_clean()


def test_password_in_user_mappings(kernel: Kernel, secure: Secure) -> None:
    """SQL/MED as PL/Proxy takes it; the mapping's password is applied, never shown."""
    lit = "'" + NASTY.replace("'", "''") + "'"
    kernel.ip.user_ns.update(
        p0=f"host={secure.host} dbname=sec_p0", p1=f"host={secure.host} dbname=sec_p1",
        pw_lit=f"'{PW}'", nasty_lit=lit, wrong_lit=f"'{WRONG}'",
    )  # fmt: skip
    kernel.ok("""%%cluster
CREATE SERVER secmed FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{{p0}}', p1 '{{p1}}');
CREATE USER MAPPING FOR PUBLIC SERVER secmed OPTIONS (user 'secretrole', password {{pw_lit}});
GRANT USAGE ON FOREIGN SERVER secmed TO PUBLIC;
CREATE SERVER nastymed FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{{p0}}', p1 '{{p1}}');
CREATE USER MAPPING FOR PUBLIC SERVER nastymed OPTIONS (user 'nastyrole', password {{nasty_lit}});
""")
    surfaces(kernel, "secmed")
    kernel.ok("%cluster show nastymed")
    assert kernel.ok("%cluster ping nastymed")["ok"].all()
    # mistakes in mappings: messages name the mapping, not its password
    kernel.fails("""%%cluster
CREATE USER MAPPING FOR PUBLIC SERVER secmed OPTIONS (user 'secretrole', password {{wrong_lit}});
""", PlProxyError)  # fmt: skip
    kernel.fails("""%%cluster
ALTER USER MAPPING FOR PUBLIC SERVER secmed OPTIONS (ADD password {{wrong_lit}});
""", PlProxyError)  # fmt: skip
    kernel.fails("""%%cluster
ALTER USER MAPPING FOR PUBLIC SERVER secmed OPTIONS (SET passwd {{wrong_lit}});
""", PlProxyError)  # fmt: skip
    kernel.seen.obj("servers", kernel.session.servers)
    kernel.seen.obj("server", kernel.session.servers["nastymed"])
    kernel.seen.assert_clean()


def test_deploy_dry_run_and_deploy_errors(kernel: Kernel, secure: Secure) -> None:
    lit = "'" + NASTY.replace("'", "''") + "'"
    kernel.ip.user_ns.update(
        p0=f"host={secure.host} dbname=sec_p0", p1=f"host={secure.host} dbname=sec_p1",
        pw_lit=f"'{PW}'", nasty_lit=lit, to=shlex.quote(secure.kv("postgres")),
        to_part=shlex.quote(secure.kv("sec_p0")),
        to_wrong=shlex.quote(secure.kv("postgres", password=WRONG)),
    )  # fmt: skip
    kernel.ok("""%%cluster
CREATE SERVER secmed FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{{p0}}', p1 '{{p1}}');
CREATE USER MAPPING FOR PUBLIC SERVER secmed OPTIONS (user 'secretrole', password {{pw_lit}});
CREATE USER MAPPING FOR nastyrole SERVER secmed OPTIONS (user 'nastyrole', password {{nasty_lit}});
""")
    kernel.ok(GET_ITEM.format(c="secmed"))
    # clusters added with passwords in their connect strings deploy as SQL/MED servers
    kernel.session.add_cluster("seckv", [secure.kv("sec_p0", "nastyrole", NASTY),
                                         secure.kv("sec_p1")])  # fmt: skip
    kernel.ok("""%%plproxy
CREATE FUNCTION kv_item(i int) RETURNS text AS $$
  CLUSTER 'seckv'; RUN ON i; SELECT get_item(i); $$ LANGUAGE plproxy;""")
    kernel.ok("%plproxy deploy --to $to --dry-run")
    ddl = kernel.session.deploy(secure.kv("postgres"), dry_run=True)
    kernel.seen.text("Session.deploy dry run", ddl)
    assert 'CREATE USER MAPPING FOR PUBLIC SERVER "secmed"' in ddl
    assert (
        'CREATE USER MAPPING FOR "nastyrole" SERVER "secmed" OPTIONS ("user" \'nastyrole\'' in ddl
    )
    assert 'CREATE SERVER "seckv"' in ddl
    kernel.magic.feedback = 2
    kernel.ok("%plproxy deploy --to $to --dry-run get_item")
    kernel.magic.feedback = 1
    # deploying for real where plproxy is not installed fails remotely
    kernel.fails("%plproxy deploy --to $to_part", PlProxyError)
    kernel.fails("%plproxy deploy --to $to_wrong --dry-run", ConnectError)
    for to in (secure.kv("sec_p0"), secure.kv("postgres", password=WRONG)):
        with pytest.raises(PlProxyError) as info:
            kernel.session.deploy(to)
        kernel.seen.exc("Session.deploy", info.value)
    kernel.seen.assert_clean()


def test_passwords_from_the_environment(
    kernel: Kernel, secure: Secure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PGPASSWORD and a password file: libpq reads them; nothing of ours shows them."""
    kernel.ip.user_ns.update(
        e0=shlex.quote(secure.kv("sec_p0", password=None)),
        e1=shlex.quote(secure.kv("sec_p1", password=None)),
    )
    monkeypatch.setenv("PGPASSWORD", PW)
    kernel.ok("%cluster add envpw $e0 $e1")
    surfaces(kernel, "envpw")
    monkeypatch.setenv("PGPASSWORD", WRONG)
    kernel.session.pool.drop()
    err = kernel.fails("get_item(1)", ConnectError)
    assert "password authentication failed" in str(err)
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:secretrole:{PW}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    kernel.ok("%cluster add pgpass $e0 $e1")
    kernel.ok("%cluster ping pgpass")
    kernel.ok("%cluster show pgpass")
    kernel.ok("%plproxy explain SELECT * FROM get_items()")
    passfile.write_text(f"*:*:*:secretrole:{WRONG}\n")
    kernel.session.pool.drop()
    kernel.fails("get_item(1)", ConnectError)
    ping = kernel.ok("%cluster ping pgpass")
    assert not ping["ok"].any()
    kernel.seen.assert_clean()


def test_failures(kernel: Kernel, secure: Secure) -> None:
    """Wrong password, dead server, remote error, timeout, fan-out: no message shows one."""
    s = kernel.session
    s.add_cluster("sec", [secure.kv("sec_p0"), secure.kv("sec_p1")])
    s.add_cluster("wrong", [secure.kv("sec_p0", password=WRONG),
                            secure.kv("sec_p1", "nastyrole", NASTY + "!")])  # fmt: skip
    s.add_cluster("dead", [secure.dead("sec_p0"), secure.kv("sec_p1")])
    s.add_cluster("slowpoke", [secure.kv("sec_p0"), secure.kv("sec_p1")], query_timeout=1)
    kernel.ok(GET_ITEM.format(c="sec"))
    kernel.ok("""%%plproxy
CREATE FUNCTION w_item(i int) RETURNS text AS $$
  CLUSTER 'wrong'; RUN ON 0; SELECT get_item(i); $$ LANGUAGE plproxy;
CREATE FUNCTION w_all() RETURNS SETOF text AS $$
  CLUSTER 'wrong'; RUN ON ALL; SELECT name FROM items; $$ LANGUAGE plproxy;
CREATE FUNCTION d_all() RETURNS SETOF text AS $$
  CLUSTER 'dead'; RUN ON ALL; SELECT name FROM items; $$ LANGUAGE plproxy;
CREATE FUNCTION d_item(i int) RETURNS text AS $$
  CLUSTER 'dead'; RUN ON 0; SELECT get_item(i); $$ LANGUAGE plproxy;
CREATE FUNCTION t_slow(i int) RETURNS SETOF int AS $$
  CLUSTER 'slowpoke'; RUN ON ALL; SELECT slow(i); $$ LANGUAGE plproxy;""")
    wrong = kernel.fails("w_item(1)", ConnectError)
    assert "password authentication failed" in str(wrong)
    kernel.fails("%plproxy SELECT * FROM w_all()", FanOutError)
    dead = kernel.fails("d_item(1)", ConnectError)
    assert "No such file or directory" in str(dead)
    kernel.fails("%plproxy SELECT * FROM d_all()", PlProxyError)
    remote = kernel.fails("%plproxy SELECT boom1(1)", RemoteError)
    assert "boom 1" in str(remote)
    fan = kernel.fails("%plproxy SELECT * FROM boom(1)", FanOutError)
    assert "2 of 2 partitions failed" in str(fan)
    kernel.fails("%plproxy SELECT * FROM t_slow(1)", QueryTimeoutError)
    kernel.fails("%%plproxy --cluster wrong\nSELECT 1", PlProxyError)
    kernel.fails("%%plproxy --cluster dead\nSELECT 1", PlProxyError)
    # a failing fan-out while progress is shown
    kernel.magic.progress = "text"
    kernel.fails("%%plproxy --cluster dead\nSELECT pg_sleep(0.6)", PlProxyError)
    kernel.magic.progress = "off"
    for name in ("wrong", "dead"):
        ping = kernel.ok(f"%cluster ping {name}")
        assert not ping["ok"].all()
        kernel.ok(f"%cluster show {name}")
        kernel.fails(f"%cluster stats {name}", PlProxyError)
    # the Python API raises the same errors
    for query in ("SELECT * FROM w_all()", "SELECT * FROM d_all()", "SELECT boom1(2)",
                  "SELECT * FROM t_slow(1)"):  # fmt: skip
        with pytest.raises(PlProxyError) as info:
            s.sql(query)
        kernel.seen.exc(query, info.value)
    kernel.seen.obj("replicas", s.executor.replicas)
    kernel.seen.assert_clean()


def test_connect_functions(kernel: Kernel, secure: Secure) -> None:
    """CONNECT 'connstr': the password written in a proxy function is not shown back."""
    lit = secure.kv("sec_p0").replace("'", "''")
    bad = secure.kv("sec_p0", password=WRONG).replace("'", "''")
    kernel.ip.user_ns.update(connect_lit=f"'{lit}'", bad_lit=f"'{bad}'")
    kernel.ok("""%%plproxy
CREATE FUNCTION get_item(i int) RETURNS text AS $$ CONNECT {{connect_lit}}; $$ LANGUAGE plproxy;
CREATE FUNCTION bad_item(i int) RETURNS text AS $$
  CONNECT {{bad_lit}}; SELECT get_item(i); $$ LANGUAGE plproxy;
CREATE FUNCTION dyn_item(c text, i int) RETURNS text AS $$
  CONNECT c; SELECT get_item(i); $$ LANGUAGE plproxy;
CREATE FUNCTION dyn_pass(c text, i int) RETURNS text AS $$ CONNECT c; $$ LANGUAGE plproxy;""")
    assert kernel.ok("get_item(3)")["get_item"].tolist() == ["item3@sec_p0"]
    kernel.ip.user_ns["conn"] = secure.kv("sec_p1")
    assert kernel.ok("%plproxy SELECT dyn_item(:conn, 4)")["dyn_item"].tolist() == ["item4@sec_p1"]
    kernel.ok("%plproxy explain SELECT get_item(3)")
    kernel.ok("%plproxy explain SELECT dyn_item(:conn, 4)")
    # the connect string is also the remote call's first parameter
    kernel.ok("%plproxy explain SELECT dyn_pass(:conn, 4)")
    fn = kernel.session.functions["dyn_pass"].definitions[0]
    kernel.seen.obj("Session.route", kernel.session.route(fn, [secure.kv("sec_p1"), 4]))
    kernel.magic.feedback = 2
    kernel.ok("%plproxy SELECT get_item(3)")
    kernel.magic.feedback = 1
    kernel.fails("bad_item(1)", ConnectError)
    kernel.ip.user_ns["bad_conn"] = secure.dead("sec_p0")
    kernel.fails("%plproxy SELECT dyn_item(:bad_conn, 1)", ConnectError)
    kernel.fails("dyn_item(bad_conn, 1)", ConnectError)
    for name in ("get_item", "bad_item", "dyn_item"):
        kernel.seen.obj(name, kernel.session.functions[name])
        kernel.seen.obj(f"{name} definitions", kernel.session.functions[name].definitions)
    kernel.seen.obj(
        "explain", kernel.session.explain("SELECT dyn_item($1, 4)", [secure.kv("sec_p1")])
    )
    kernel.seen.assert_clean()


def test_attach(kernel: Kernel, secure: Secure) -> None:
    kernel.ip.user_ns.update(
        proxy=shlex.quote(secure.kv("sec_p0")),
        proxy_wrong=shlex.quote(secure.kv("sec_p0", password=WRONG)),
    )
    kernel.ok("%cluster attach $proxy")
    kernel.seen.obj("Session.attach", kernel.session.attach(secure.kv("sec_p1")))
    kernel.fails("%cluster attach $proxy_wrong", ConnectError)
    kernel.seen.assert_clean()


def test_jupysql_connections_file(kernel: Kernel, secure: Secure, tmp_path: Path) -> None:
    ini = tmp_path / "connections.ini"
    ini.write_text(
        "".join(
            f"[s{i}]\ndrivername = postgresql\nusername = nastyrole\npassword = {NASTY}\n"
            f"database = sec_p{i}\nquery = {{'host': '{secure.host}'}}\n\n"
            for i in range(2)
        )
    )
    kernel.ip.user_ns["ini"] = str(ini)
    kernel.ok("%cluster add fromini --section s0 --section s1 --dsn-file $ini")
    kernel.ok("%cluster show fromini")
    assert kernel.ok("%cluster ping fromini")["ok"].all()
    kernel.fails("%cluster add fromini --section nope --dsn-file $ini", PlProxyError)
    kernel.seen.assert_clean()


NOTEBOOK_SETUP = """\
import logging, os, shlex, sys
handler = logging.StreamHandler(sys.stdout)
for name in ("plproxy_magic", "psycopg"):
    logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger(name).addHandler(handler)
host, dead, pw = os.environ["PLPM_HOST"], os.environ["PLPM_DEAD"], os.environ["PLPM_SECRET"]
pw_lit = "'" + pw.replace("'", "''") + "'"
p0, p1 = f"host={host} dbname=sec_p0", f"host={host} dbname=sec_p1"
to_dsn = f"host={host} dbname=postgres user=secretrole password={pw}"
kv0, kv1, env0, env1, to, dead0, wrong0 = map(shlex.quote, [
    f"{p0} user=secretrole password={pw}", f"{p1} user=secretrole password={pw}",
    f"{p0} user=secretrole", f"{p1} user=secretrole", to_dsn,
    f"host={dead} dbname=sec_p0 user=secretrole password={pw}",
    f"{p0} user=secretrole password=Wr0ng-{pw}"])
"""

NOTEBOOK_CELLS = [
    NOTEBOOK_SETUP,
    "%load_ext plproxy_magic\n%config PlProxyMagic.progress = 'widgets'\n"
    "%config PlProxyMagic.feedback = 2",
    """%%cluster
CREATE SERVER nbmed FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '{{p0}}', p1 '{{p1}}');
CREATE USER MAPPING FOR PUBLIC SERVER nbmed OPTIONS (user 'secretrole', password {{pw_lit}});""",
    "%cluster add nbkv $kv0 $kv1\n%cluster add nbpass $env0 $env1\n"
    "%cluster add nbdead $dead0 $kv1\n%cluster add nbwrong $wrong0 $kv1\n"
    "%cluster add nbslow $kv0 $kv1 --option query_timeout=1",
    GET_ITEM.format(c="nbmed")
    + """CREATE FUNCTION t_slow(i int) RETURNS SETOF int AS $$
  CLUSTER 'nbslow'; RUN ON ALL; SELECT slow(i); $$ LANGUAGE plproxy;""",
    "get_item(1)",
    "%plproxy SELECT * FROM get_items()",
    "%cluster list",
    *[
        f"%cluster {cmd} {c}"
        for cmd in ("show", "ping")
        for c in ("nbmed", "nbkv", "nbpass", "nbdead", "nbwrong")
    ],
    "%cluster stats nbmed items",
    "%plproxy explain SELECT * FROM get_item(7)",
    "import plproxy_magic as pm\ns = pm.default_session()\ns.explain('SELECT * FROM get_items()')",
    "s.clusters",
    "s.servers",
    "s.executor.replicas",
    "%%plproxy --cluster nbkv\nSELECT pg_sleep(0.6)",
    "%plproxy deploy --to $to --dry-run",
    "print(s.deploy(to_dsn, dry_run=True))",
    # failures: each cell errors, the notebook goes on (allow_errors)
    "%%plproxy --cluster nbdead\nSELECT pg_sleep(0.6)",
    "%%plproxy --cluster nbwrong\nSELECT 1",
    "%plproxy SELECT boom1(1)",
    "%plproxy SELECT * FROM boom(1)",
    "%plproxy SELECT * FROM t_slow(1)",
    "%plproxy deploy --to $kv0",
    "%cluster ping nbkv $kv0",
    "%config PlProxyMagic.short_errors = False",
    "%%plproxy --cluster nbwrong\nSELECT 1",
    "%plproxy SELECT * FROM boom(1)",
]


def test_saved_notebook(secure: Secure, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A notebook using password-protected clusters, executed and saved: grep its JSON."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    path = tmp_path / "secrets.ipynb"
    nbformat.write(nb, path)
    assert not any(f.lower() in path.read_text().lower() for f in FRAGMENTS)  # not in sources
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:secretrole:{PW}\n")
    passfile.chmod(0o600)
    for key, value in (("PLPM_HOST", secure.host), ("PLPM_DEAD", secure.dead_host),
                       ("PLPM_SECRET", PW), ("PGPASSFILE", str(passfile))):  # fmt: skip
        monkeypatch.setenv(key, value)
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    nbformat.write(nb, path)
    text = path.read_text()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    # 9 failing cells; the last two (short_errors off) print a full traceback as a stream
    assert len(errors) >= 7, [o.get("ename") for o in errors]
    assert "Traceback (most recent call last)" in text
    assert "password=***" in text and "item1@sec_p" in text
    assert "running on 2 partitions" in text or "widget-view" in text
    assert "state" in nb.metadata.get("widgets", {}).get(
        "application/vnd.jupyter.widget-state+json", {}
    )
    leaks = [f for f in FRAGMENTS if f.lower() in text.lower()]
    assert leaks == [], [text[max(0, text.lower().find(f.lower()) - 200) :][:300] for f in leaks]


def test_usage_errors_echo_no_password(kernel: Kernel) -> None:
    """argparse repeats what it did not understand: a connect string in the wrong place."""
    kernel.ok("%cluster add sec $dsn0 $dsn1")
    kernel.fails("%cluster ping sec $dsn0", PlProxyError)
    kernel.fails("%cluster show $dsn0 $dsn1", PlProxyError)
    kernel.fails("%cluster add sec2 $dsn0 --replica $dsn1", PlProxyError)
    kernel.fails("%plproxy deploy $dsn0", PlProxyError)
    kernel.fails("%plproxy deploy --to $dsn0 --bogus $dsn1", PlProxyError)
    kernel.fails("%%plproxy --cluster sec $dsn0\nSELECT 1", PlProxyError)
    kernel.seen.assert_clean()


def test_internal_reprs(kernel: Kernel, secure: Secure) -> None:
    from plproxy_magic.execute import Task

    kernel.seen.obj("task", Task(0, secure.kv("sec_p0"), [("SELECT 1", None)]))
    with kernel.session.pool.connection("sec", secure.kv("sec_p0")) as pc:
        kernel.seen.obj("pooled connection", pc)
    kernel.seen.assert_clean()


@pytest.mark.parametrize(
    "text",
    [
        r"dbname=x password=S3cr3tQz",
        r"dbname=x password = 'S3cr3t Qz' user=u",
        r"dbname=x password='S3cr3t\'Qz\\' user=u",
        r"postgresql://u:S3cr3t%40Qz@h/db",
        r"postgresql://h/db?user=u&password=S3cr3tQz",
        # a connect string inside a SQL literal (deploy, CONNECT in a function body)
        r"p0 'dbname=x password=''S3cr3t Qz'''",
        r"p0 'dbname=x password=''S3cr3t\''Qz'''",
        r"CONNECT 'dbname=x password=S3cr3tQz';",
        r"OPTIONS (user 'u', password 'S3cr3t''Qz')",
        r"""OPTIONS ("password" E'S3cr3t\\Qz')""",
    ],
)
def test_mask(text: str) -> None:
    masked = mask(text)
    assert "S3cr3t" not in masked and "Qz" not in masked, masked


def test_mask_keeps_the_literal_around_an_unquoted_password() -> None:
    assert mask("CONNECT 'dbname=x password=S3cr3t';") == "CONNECT 'dbname=x password=***';"
