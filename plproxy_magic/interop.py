"""Both ways between a notebook session and a real PL/Proxy proxy database.

* :func:`attach` reads a proxy database: its SQL/MED clusters (servers of the plproxy
  wrapper, with the user mappings the connecting user may read), its compat clusters
  (``plproxy.get_cluster_partitions/config/version``, for the cluster names its functions
  use), and every ``LANGUAGE plproxy`` function, and registers them in the session. SQL
  routing functions are then evaluated on that database.
* :func:`deploy_ddl` / :func:`deploy` produce and run the DDL that recreates the session's
  clusters, user mappings and proxy functions there (``CREATE EXTENSION``, ``CREATE
  SERVER``, ``CREATE USER MAPPING``, ``CREATE OR REPLACE FUNCTION``), in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql as pgsql

from plproxy_magic.cluster import Cluster
from plproxy_magic.conninfo import mask, mask_options
from plproxy_magic.errors import ClusterError, ConnectError, PlProxyError
from plproxy_magic.language.ast import ClusterName
from plproxy_magic.sqlmed import PUBLIC, SERVER_OPTIONS, ServerDef, partition_options

if TYPE_CHECKING:
    from plproxy_magic.session import Session

__all__ = ["Attached", "CompatCluster", "attach", "deploy", "deploy_ddl"]

_SERVERS_SQL = """
SELECT s.srvname, coalesce(w.fdwoptions, '{}'), coalesce(s.srvoptions, '{}')
FROM pg_catalog.pg_foreign_server s
JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
JOIN pg_catalog.pg_proc v ON v.oid = w.fdwvalidator
WHERE v.proname = 'plproxy_fdw_validator'
ORDER BY s.srvname
"""

_MAPPINGS_SQL = """
SELECT srvname, usename, coalesce(umoptions, '{}') FROM pg_catalog.pg_user_mappings
WHERE srvname = ANY(%s)
"""

_FUNCTIONS_SQL = """
SELECT pg_catalog.pg_get_functiondef(p.oid)
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE l.lanname = 'plproxy'
ORDER BY p.pronamespace, p.proname, p.oid
"""

_COMPAT_SQL = """
SELECT count(*) = 3 FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'plproxy'
  AND p.proname IN ('get_cluster_version', 'get_cluster_partitions', 'get_cluster_config')
"""


def _options(items: Sequence[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


@dataclass
class CompatCluster:
    """A cluster served by the ``plproxy.get_cluster_*`` functions of an attached db."""

    name: str
    version: int


@dataclass
class Attached:
    """What :func:`attach` registered."""

    dsn: str
    user: str
    clusters: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"<Attached {mask(self.dsn)!r} as {self.user}: clusters {self.clusters}, "
            f"{len(self.functions)} functions>"
        )


def _connect(dsn: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        text = str(exc).removeprefix("connection failed: ")
        raise ConnectError("proxy", "PQconnectPoll", mask(text)) from None


def load_compat(conn: psycopg.Connection[tuple[Any, ...]], name: str) -> tuple[Cluster, int]:
    """A compat cluster from ``plproxy.get_cluster_*`` (config first, as PL/Proxy reads it)."""
    version = conn.execute("SELECT plproxy.get_cluster_version(%s)", [name]).fetchall()
    if len(version) != 1 or version[0][0] is None:
        raise ClusterError(f"get_version: got {len(version)} rows")
    config = {
        str(k): str(v)
        for k, v in conn.execute("SELECT * FROM plproxy.get_cluster_config(%s)", [name])
    }
    parts = [r[0] for r in conn.execute("SELECT * FROM plproxy.get_cluster_partitions(%s)", [name])]
    if any(p is None for p in parts):
        raise ClusterError("connstr must not be NULL")
    return Cluster.define(name, parts, config), int(version[0][0])


def attach(session: Session, dsn: str) -> Attached:
    """Register the clusters and proxy functions of the proxy database at ``dsn``."""
    conn = _connect(dsn)
    try:
        user = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        result = Attached(dsn, user)
        servers = conn.execute(_SERVERS_SQL).fetchall()
        names = [r[0] for r in servers]
        mappings: dict[str, dict[str, dict[str, str | None]]] = {}
        for srv, usename, opts in conn.execute(_MAPPINGS_SQL, [names]).fetchall():
            key = PUBLIC if usename == "public" else str(usename)
            mappings.setdefault(srv, {})[key] = _options(opts)
        for name, fdw_opts, srv_opts in servers:
            options = _options(fdw_opts) | _options(srv_opts)
            server = ServerDef(name, options, mappings.get(name, {}), attach_user=user)
            session.servers[name] = server
            session._sync_server(name)
            result.clusters.append(name)
        definitions = [r[0] for r in conn.execute(_FUNCTIONS_SQL).fetchall()]
        compat = bool(conn.execute(_COMPAT_SQL).fetchone()[0])  # type: ignore[index]
    except psycopg.Error as exc:
        raise PlProxyError(f"attach: {exc.diag.message_primary or exc}") from None
    finally:
        conn.close()

    for text in definitions:
        session.execute(text)
        fn = session.last_defined[-1]
        result.functions.append(fn.label)
        cl = fn.body.cluster
        known = session.servers.keys() | set(result.clusters)
        if compat and isinstance(cl, ClusterName) and cl.name not in known:
            with _connect(dsn) as c2:
                cluster, version = load_compat(c2, cl.name)
            session.clusters[cl.name] = cluster
            session.compat[cl.name] = CompatCluster(cl.name, version)
            result.clusters.append(cl.name)
    session.routing_database(dsn)
    return result


def _literal(value: str | None) -> pgsql.Composable:
    return pgsql.Literal(value if value is not None else "")


def _options_sql(options: dict[str, str | None]) -> pgsql.Composable:
    return pgsql.SQL(", ").join(
        pgsql.SQL("{} {}").format(pgsql.Identifier(k), _literal(v)) for k, v in options.items()
    )


def deploy_ddl(
    session: Session, functions: Sequence[str] | None = None, *, masked: bool = False
) -> list[pgsql.Composable]:
    """The statements that recreate the session's clusters and functions on a proxy db.

    ``functions``: names to deploy (default all), with the clusters they use; clusters of
    other kinds (CONNECT) need nothing. Servers are dropped and recreated (CASCADE drops
    their old user mappings). ``masked``: the same statements for display, every password
    replaced before quoting (masking the quoted SQL afterwards would have to undo quoting).
    """
    hide = mask_options if masked else dict
    fns = [f for defs in session._functions.values() for f in defs]
    if functions is not None:
        wanted = {n.lower() for n in functions}
        missing = wanted - {f.name.lower() for f in fns}
        if missing:
            raise PlProxyError(f"deploy: no proxy function named {sorted(missing)[0]}")
        fns = [f for f in fns if f.name.lower() in wanted]
    used = {f.body.cluster.name for f in fns if isinstance(f.body.cluster, ClusterName)}
    stmts: list[pgsql.Composable] = [pgsql.SQL("CREATE EXTENSION IF NOT EXISTS plproxy")]
    for name in sorted(used):
        if name not in session.clusters:
            raise ClusterError(f"Pl/Proxy: cluster not found: {name}")
        server = session.servers.get(name) or _server_of(session.clusters[name])
        ident = pgsql.Identifier(name)
        stmts.append(pgsql.SQL("DROP SERVER IF EXISTS {} CASCADE").format(ident))
        stmts.append(
            pgsql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER plproxy OPTIONS ({})").format(
                ident, _options_sql(hide(server.plproxy_options))
            )
        )
        maps = server.mappings or {PUBLIC: {}}
        for key, opts in maps.items():
            who = pgsql.SQL("PUBLIC") if key == PUBLIC else pgsql.Identifier(key)
            tail = (
                pgsql.SQL(" OPTIONS ({})").format(_options_sql(hide(opts)))
                if opts
                else pgsql.SQL("")
            )
            stmts.append(
                pgsql.SQL("CREATE USER MAPPING FOR {} SERVER {}{}").format(who, ident, tail)
            )
        for grantee in sorted(server.grants):
            who = pgsql.SQL("PUBLIC") if grantee == PUBLIC else pgsql.Identifier(grantee)
            stmts.append(pgsql.SQL("GRANT USAGE ON FOREIGN SERVER {} TO {}").format(ident, who))
    stmts.extend(pgsql.SQL(_or_replace(mask(f.source) if masked else f.source)) for f in fns)
    return stmts


def _or_replace(source: str) -> str:
    head = source.lstrip()
    if head[:15].upper() == "CREATE FUNCTION":
        return "CREATE OR REPLACE FUNCTION" + head[15:]
    return head


def _server_of(cluster: Cluster) -> ServerDef:
    """A SQL/MED definition for a cluster registered through the Python API or sandbox."""
    options: dict[str, str | None] = {
        k: str(int(v))
        for k, v in cluster.options.changed().items()
        if isinstance(v, (int, bool)) and k in SERVER_OPTIONS
    }
    for i, p in enumerate(cluster.partitions):
        options[f"p{i}"] = p
    partition_options(options)  # same validation as CREATE SERVER
    return ServerDef(cluster.name, options)


def deploy(
    session: Session, dsn: str, functions: Sequence[str] | None = None, *, dry_run: bool = False
) -> str:
    """Run (or with ``dry_run`` only show) the deploy DDL; returns it, passwords masked."""
    stmts = deploy_ddl(session, functions)
    shown = deploy_ddl(session, functions, masked=True)
    conn = _connect(dsn)
    try:
        texts = [s.as_string(conn) for s in stmts]
        display = [s.as_string(conn) for s in shown]
        if not dry_run:
            try:
                with conn.transaction():
                    for text in texts:
                        conn.execute(text.encode())
            except psycopg.Error as exc:
                raise PlProxyError(
                    f"deploy: {exc.diag.message_primary or exc}",
                    sqlstate=exc.diag.sqlstate,
                ) from None
    finally:
        conn.close()
    return "\n".join(t + ";" for t in display)
