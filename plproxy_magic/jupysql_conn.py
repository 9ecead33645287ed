"""Partitions named the jupysql way: connection aliases and ``connections.ini`` sections.

A jupysql user already has connections (``%sql postgresql://... --alias shard0``) or a
``connections.ini`` file (``SqlMagic.dsn_filename``). :func:`dsn_from_alias` and
:func:`dsn_from_section` turn either into a libpq connect string; plproxy_magic then opens
its own psycopg connections (one per partition and worker), never sharing jupysql's.
Only PostgreSQL URLs qualify. jupysql is imported lazily, only when an alias is used.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path
from typing import Any

from psycopg.conninfo import make_conninfo

from plproxy_magic.errors import CallError

__all__ = ["DEFAULT_DSN_FILE", "dsn_from_alias", "dsn_from_section", "dsn_from_url", "persist"]

#: jupysql's default ``SqlMagic.dsn_filename``.
DEFAULT_DSN_FILE = Path("~/.jupysql/connections.ini")


def dsn_from_url(url: Any) -> str:
    """A SQLAlchemy URL (object or string) of PostgreSQL -> a libpq connect string."""
    from sqlalchemy.engine import make_url

    u = make_url(url) if isinstance(url, str) else url
    if not u.drivername.startswith("postgres"):
        raise CallError(
            f"{u.drivername} is not PostgreSQL: partitions must be PostgreSQL databases"
        )
    params: dict[str, Any] = {
        "host": u.host,
        "port": u.port,
        "dbname": u.database,
        "user": u.username,
        "password": u.password,
    }
    for key, value in u.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def dsn_from_alias(alias: str) -> str:
    """The connect string of jupysql connection ``alias`` (``%sql ... --alias NAME``)."""
    from sql.connection import ConnectionManager

    conn = ConnectionManager.connections.get(alias)
    if conn is None:
        known = ", ".join(sorted(map(str, ConnectionManager.connections))) or "none"
        raise CallError(f"no jupysql connection with alias {alias!r} (known: {known})")
    engine_conn = getattr(conn, "connection_sqlalchemy", None)
    if engine_conn is None:
        raise CallError(f"jupysql connection {alias!r} is not a SQLAlchemy connection")
    return dsn_from_url(engine_conn.engine.url)


def dsn_from_section(section: str, path: str | Path | None = None) -> str:
    """The connect string of section ``[section]`` of jupysql's connections.ini."""
    file = Path(path or DEFAULT_DSN_FILE).expanduser()
    parser = configparser.ConfigParser()
    if not parser.read(file):
        raise CallError(f"connections file {file} not found")
    if not parser.has_section(section):
        raise CallError(f"no section [{section}] in {file}")
    args: dict[str, Any] = dict(parser.items(section))
    if "query" in args:
        args["query"] = ast.literal_eval(args["query"])
    from sqlalchemy.engine import URL

    if "port" in args:
        args["port"] = int(args["port"])
    return dsn_from_url(URL.create(**args))


def persist(df: Any, table: str, alias: str | None = None) -> None:
    """Store ``df`` as ``table`` in jupysql's current connection (or ``alias``).

    Then ``%sql SELECT ... FROM table`` and ``%sqlplot`` work on a proxy result. The table
    must not exist yet (jupysql's ``--persist`` behaves the same).
    """
    from sql.connection import ConnectionManager

    conn = ConnectionManager.connections.get(alias) if alias else ConnectionManager.current
    if conn is None:
        raise CallError(
            f"no jupysql connection {alias!r}" if alias else
            "no current jupysql connection: connect with %sql first, or pass --conn ALIAS"
        )  # fmt: skip
    sa_conn = getattr(conn, "connection_sqlalchemy", None)
    if sa_conn is None:
        raise CallError("--persist needs a SQLAlchemy connection in jupysql")
    try:
        df.to_sql(table, sa_conn, if_exists="fail", index=False)
        sa_conn.commit()
    except ValueError as exc:
        raise CallError(f"--persist: {exc}", sqlstate="42P07") from None
