"""PL/Proxy's SQL/MED cluster configuration, accepted verbatim.

``CREATE SERVER name FOREIGN DATA WRAPPER plproxy OPTIONS (p0 '...', connection_lifetime
'1800', ...)``, ``ALTER SERVER ... OPTIONS (ADD|SET|DROP ...)``, ``DROP SERVER``,
``CREATE|ALTER|DROP USER MAPPING ... OPTIONS (user '...', password '...')`` and
``GRANT USAGE ON FOREIGN SERVER`` are parsed by pglast and validated with the messages of
PL/Proxy's validator (cluster.c). A :class:`ServerDef` keeps the definition as written (for
deploy); :meth:`ServerDef.connstrs` applies a user mapping the way PL/Proxy does: unless a
connect string already contains ``user=``, it gets `` user='…' password='…'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pglast import ast

from plproxy_magic.conninfo import mask_options, with_user
from plproxy_magic.errors import ClusterError

__all__ = [
    "PUBLIC",
    "ServerDef",
    "apply",
    "is_sqlmed",
    "mapping_key",
    "partition_options",
    "validate_server",
]

if TYPE_CHECKING:
    from plproxy_magic.session import Session

#: The user-mapping key of ``FOR PUBLIC``.
PUBLIC = "PUBLIC"

#: Options PL/Proxy accepts on a SQL/MED server besides partitions (all integers).
SERVER_OPTIONS = frozenset(
    {
        "connection_lifetime",
        "query_timeout",
        "disable_binary",
        "keepalive_idle",
        "keepalive_interval",
        "keepalive_count",
        "statement_timeout",
        "modular_mapping",
    }
)

_PART = re.compile(r"^(?:p|partition_)([0-9]*)$")

#: Options of our own (read replicas, atomic writes; PL/Proxy has none): stripped by deploy.
OUR_OPTIONS = frozenset(
    {"read_write_splitting", "load_balancing_mode", "primary_reads_enabled", "ban_time",
     "max_replica_lag", "atomic"}
)  # fmt: skip
#: ``replica_<partition>`` / ``replica_<partition>_<k>``: a replica's connect string
_REPLICA = re.compile(r"^replica_([0-9]+)(?:_([0-9]+))?$")


def ours(key: str) -> bool:
    """Whether ``key`` is one of plproxy_magic's own options (not PL/Proxy's)."""
    return key in OUR_OPTIONS or _REPLICA.match(key) is not None


def _part_number(key: str) -> int | None:
    """``p3`` / ``partition_003`` -> 3; ``p`` alone is partition 0 (PL/Proxy's strtoul)."""
    m = _PART.match(key)
    if m is None:
        return None
    return int(m.group(1) or "0")


def partition_options(options: dict[str, str | None]) -> list[str]:
    """The partitions' connect strings in order; PL/Proxy's numbering rules enforced."""
    parts: dict[int, str] = {}
    count = sum(1 for k in options if _part_number(k) is not None)
    for key, value in options.items():
        n = _part_number(key)
        if n is None:
            continue
        if n >= count:
            raise ClusterError(
                "Pl/Proxy: partition numbers must start from 0 and be numbered consecutively",
                sqlstate="42601",
            )
        if n in parts:
            raise ClusterError(f"Pl/Proxy: duplicate partition number: {n}", sqlstate="42601")
        parts[n] = str(value)
    return [parts[i] for i in range(count)]


def validate_server(options: dict[str, str | None]) -> None:
    """PL/Proxy's ``plproxy_fdw_validator`` for server options."""
    for key, value in options.items():
        if value is None:
            raise ClusterError(f'Pl/Proxy: option "{key}" requires a value', sqlstate="42601")
        if _part_number(key) is not None or ours(key):
            continue
        if key not in SERVER_OPTIONS:
            raise ClusterError(f"Pl/Proxy: invalid server option: {key}")
        if not value.strip().isdigit():
            raise ClusterError(f"Pl/Proxy: only integer options are allowed: {key}={value}")
    parts = partition_options(options)
    modular = int(options.get("modular_mapping") or 0) != 0
    n = len(parts)
    if n == 0 or (not modular and n & (n - 1)):
        raise ClusterError("Pl/Proxy: invalid number of partitions", sqlstate="42601")


def validate_mapping(options: dict[str, str | None]) -> None:
    for key, value in options.items():
        if key not in ("user", "password"):
            raise ClusterError("Pl/Proxy: invalid option to user mapping", sqlstate="42601")
        if value is None:
            raise ClusterError(f'Pl/Proxy: option "{key}" requires a value', sqlstate="42601")


@dataclass
class ServerDef:
    """A SQL/MED server of the plproxy wrapper, with its user mappings, as written."""

    name: str
    options: dict[str, str | None]
    mappings: dict[str, dict[str, str | None]] = field(default_factory=dict)
    grants: set[str] = field(default_factory=set)
    #: for servers read by attach: the attach connection's user, whose mapping applies
    attach_user: str | None = None

    def __repr__(self) -> str:
        # partitions and user mappings hold passwords
        mappings = {k: mask_options(v) for k, v in self.mappings.items()}
        return (
            f"ServerDef({self.name!r}, options={mask_options(self.options)!r}, "
            f"mappings={mappings!r}, grants={self.grants!r}, attach_user={self.attach_user!r})"
        )

    @property
    def cluster_options(self) -> dict[str, str]:
        return {
            k: str(v)
            for k, v in self.options.items()
            if _part_number(k) is None and _REPLICA.match(k) is None
        }

    @property
    def plproxy_options(self) -> dict[str, str | None]:
        """The options real PL/Proxy knows (deploy writes only these)."""
        return {k: v for k, v in self.options.items() if not ours(k)}

    def replicas(self, user: str) -> dict[int, list[str]]:
        """Replica connect strings per partition, with the user mapping applied."""
        found: dict[int, list[tuple[int, str]]] = {}
        for key, value in self.options.items():
            m = _REPLICA.match(key)
            if m is not None:
                found.setdefault(int(m.group(1)), []).append((int(m.group(2) or 0), str(value)))
        return {p: self._apply(user, [c for _, c in sorted(v)]) for p, v in found.items()}

    def mapping_for(self, user: str) -> dict[str, str | None] | None:
        """The mapping PL/Proxy would use for ``user``: the user's, else PUBLIC's.

        Unlike PL/Proxy (which then fails), a server with exactly one mapping uses it, so
        the RDS tutorial's ``FOR postgres`` mapping works as pasted whoever the user is.
        """
        if user in self.mappings:
            return self.mappings[user]
        if PUBLIC in self.mappings:
            return self.mappings[PUBLIC]
        if len(self.mappings) == 1:
            return next(iter(self.mappings.values()))
        return None

    def connstrs(self, user: str) -> list[str]:
        """Partition connect strings with the user mapping's user and password applied."""
        return self._apply(user, partition_options(self.options))

    def _apply(self, user: str, connstrs: list[str]) -> list[str]:
        user = self.attach_user or user
        mapping = self.mapping_for(user)
        if mapping is None:
            return connstrs
        map_user = mapping.get("user") or user
        return [with_user(c, map_user, mapping.get("password")) for c in connstrs]


def options_of(defs: Any) -> dict[str, str | None]:
    """pglast DefElems -> {name: value}; a repeated name is PostgreSQL's error."""
    out: dict[str, str | None] = {}
    for d in defs or ():
        if d.defname in out:
            raise ClusterError(f'option "{d.defname}" provided more than once', sqlstate="42710")
        out[d.defname] = None if d.arg is None else str(d.arg.sval)
    return out


def alter_options(current: dict[str, str | None], defs: Any) -> dict[str, str | None]:
    """Apply ``OPTIONS (ADD x 'v', SET y 'w', DROP z)`` to a copy of ``current``."""
    out = dict(current)
    for d in defs or ():
        action = d.defaction.name
        value = None if d.arg is None else str(d.arg.sval)
        if action in ("DEFELEM_ADD", "DEFELEM_UNSPEC"):
            if d.defname in out:
                raise ClusterError(
                    f'option "{d.defname}" provided more than once', sqlstate="42710"
                )
            out[d.defname] = value
        elif action == "DEFELEM_SET":
            if d.defname not in out:
                raise ClusterError(f'option "{d.defname}" not found', sqlstate="42704")
            out[d.defname] = value
        else:
            if d.defname not in out:
                raise ClusterError(f'option "{d.defname}" not found', sqlstate="42704")
            del out[d.defname]
    return out


def mapping_key(role: Any, current_user: str) -> str:
    """``FOR name | PUBLIC | CURRENT_USER | SESSION_USER | CURRENT_ROLE`` -> a key."""
    kind = role.roletype.name
    if kind == "ROLESPEC_PUBLIC":
        return PUBLIC
    if kind == "ROLESPEC_CSTRING":
        return str(role.rolename)
    return current_user


_SQLMED = (
    ast.CreateForeignServerStmt,
    ast.AlterForeignServerStmt,
    ast.CreateUserMappingStmt,
    ast.AlterUserMappingStmt,
    ast.DropUserMappingStmt,
    ast.CreateFdwStmt,
)


def is_sqlmed(stmt: Any) -> bool:
    """Whether ``stmt`` configures clusters the SQL/MED way (or installs plproxy)."""
    if isinstance(stmt, _SQLMED):
        return True
    if isinstance(stmt, ast.CreateExtensionStmt):
        return str(stmt.extname).lower() == "plproxy"
    if isinstance(stmt, (ast.DropStmt, ast.GrantStmt)):
        kind = stmt.removeType if isinstance(stmt, ast.DropStmt) else stmt.objtype
        return kind is not None and kind.name == "OBJECT_FOREIGN_SERVER"
    return False


def apply(session: Session, stmt: Any) -> None:
    """Apply one SQL/MED statement (already parsed) to the session's servers."""
    if isinstance(stmt, (ast.CreateExtensionStmt, ast.CreateFdwStmt)):
        return  # the plproxy extension and its wrapper are built in here
    if isinstance(stmt, ast.CreateForeignServerStmt):
        if stmt.fdwname != "plproxy":
            raise ClusterError(
                f"server {stmt.servername} uses FOREIGN DATA WRAPPER {stmt.fdwname}: "
                "only plproxy servers define clusters",
                sqlstate="0A000",
            )
        name = str(stmt.servername)
        if name in session.servers:
            if stmt.if_not_exists:
                return
            raise ClusterError(f'server "{name}" already exists', sqlstate="42710")
        options = options_of(stmt.options)
        validate_server(options)
        session.servers[name] = ServerDef(name, options)
        session._sync_server(name)
        return
    if isinstance(stmt, ast.DropStmt):
        for obj in stmt.objects or ():
            name = str(obj.sval)
            if name not in session.servers:
                if stmt.missing_ok:
                    continue
                raise ClusterError(f'server "{name}" does not exist', sqlstate="42704")
            del session.servers[name]
            session.clusters.pop(name, None)
            session.pool.drop(name)
        return
    if isinstance(stmt, ast.GrantStmt):
        for obj in stmt.objects or ():
            session._server(str(obj.sval)).grants.update(
                mapping_key(g, session.user) for g in stmt.grantees or ()
            )
        return
    server = session._server(stmt.servername)
    if isinstance(stmt, ast.AlterForeignServerStmt):
        options = alter_options(server.options, stmt.options)
        validate_server(options)
        server.options = options
    else:
        key = mapping_key(stmt.user, session.user)
        exists = key in server.mappings
        if isinstance(stmt, ast.CreateUserMappingStmt):
            if exists and not stmt.if_not_exists:
                raise ClusterError(
                    f'user mapping for "{key}" already exists for server "{server.name}"',
                    sqlstate="42710",
                )
            if not exists:
                options = options_of(stmt.options)
                validate_mapping(options)
                server.mappings[key] = options
        elif not exists:
            if isinstance(stmt, ast.DropUserMappingStmt) and stmt.missing_ok:
                return
            raise ClusterError(
                f'user mapping for "{key}" does not exist for server "{server.name}"',
                sqlstate="42704",
            )
        elif isinstance(stmt, ast.AlterUserMappingStmt):
            options = alter_options(server.mappings[key], stmt.options)
            validate_mapping(options)
            server.mappings[key] = options
        else:
            del server.mappings[key]
    session._sync_server(server.name)
