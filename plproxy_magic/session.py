"""Session: the registry of clusters and proxy functions, and the calls made through them.

A Session holds everything the kernel knows (clusters, functions, routing functions,
connections, sandboxes); nothing lives in module globals except the one default session the
magics use (:func:`default_session`). Its methods are the Python API:

* :meth:`Session.add_cluster` / :meth:`Session.drop_cluster`
* :meth:`Session.execute`: a script of ``CREATE FUNCTION ... LANGUAGE plproxy`` and calls
* :meth:`Session.sql`: one call statement -> DataFrame; :meth:`Session.call` from Python
* :meth:`Session.run`: ad-hoc SQL on a cluster's partitions
"""

from __future__ import annotations

import getpass
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
import pglast
import psycopg
from pglast import ast

from plproxy_magic import calls as _calls
from plproxy_magic import interop, sqlmed
from plproxy_magic.arguments import bind_arguments, fit, signature
from plproxy_magic.atomic import AtomicLog
from plproxy_magic.catalog import resolve_function, result_types
from plproxy_magic.cluster import Cluster
from plproxy_magic.connections import ConnectionPool
from plproxy_magic.errors import CallError, ClusterError, PlProxyError, RoutingError, SqlError
from plproxy_magic.evaluate import (
    BUILTIN_FUNCTIONS,
    Evaluator,
    SqlFallback,
    VectorEvaluator,
    compile_local,
    compile_scalar_hash,
    compile_vector,
)
from plproxy_magic.execute import Executor, PartResult, Task, remote_error
from plproxy_magic.explain import Explain, ExplainStep
from plproxy_magic.function import ProxyFunction, compile_function, function_language
from plproxy_magic.interop import Attached, CompatCluster
from plproxy_magic.language.ast import (
    ArgRef,
    ClusterName,
    ConnectString,
    FuncCall,
    SplitAll,
    UnknownRef,
)
from plproxy_magic.pgtypes import TypeRef, typeref_from_ast
from plproxy_magic.query import RemoteQuery, default_query, local_query, remote_query
from plproxy_magic.readonly import classify
from plproxy_magic.result import frame, to_frame
from plproxy_magic.routing import Route, route
from plproxy_magic.sqlmed import ServerDef

if TYPE_CHECKING:
    from plproxy_magic.sandbox import Sandbox

__all__ = ["ProxyCallable", "Session", "default_session"]

#: seconds a volatility verdict read from a partition catalog is trusted
CATALOG_TTL = 30.0


@dataclass
class _Prepared:
    """A call ready to run; ``cluster`` None means no remote call (STRICT with a NULL)."""

    fn: ProxyFunction
    columns: list[str]
    cluster: Cluster | None
    tasks: list[Task]
    sql: str
    decision: str = "primary"


@dataclass
class _Plan:
    """What a function needs at call time, computed once per definition."""

    fn: ProxyFunction
    remote: RemoteQuery | None  # None for dynamic RECORD (depends on the call's coldefs)
    hash_eval: Evaluator | None
    hash_vector: VectorEvaluator | None  # RUN ON builtin_hash(arg): one pass per column
    cluster_eval: Evaluator | None
    connect_eval: Evaluator | None
    split: tuple[int, ...]
    #: RUN ON argname where the argument is no int2/int4/int8 (a domain, text...)
    bad_hash_arg: bool = False


class ProxyCallable:
    """The Python callable a definition creates: ``get_user_name()`` -> DataFrame."""

    def __init__(self, session: Session, name: str) -> None:
        self._session = session
        self.__name__ = name

    def __call__(self, *args: Any, columns: Any = None, **kwargs: Any) -> pd.DataFrame:
        """Call the proxy function; ``columns`` is the AS list of a dynamic RECORD function.

        A list, numpy array or Series where the function takes a scalar makes a batched
        call (one per element, other arguments repeated): see :meth:`map`.
        """
        coldefs = _coldefs(columns) if columns is not None else None
        if not kwargs and self._batched(args):
            n = max(len(a) for a in args if _is_vector(a))
            cols = [list(a) if _is_vector(a) else [a] * n for a in args]
            return self._session.call_many(self.__name__, list(zip(*cols, strict=True)), coldefs)
        return self._session.call(self.__name__, *args, coldefs=coldefs, **kwargs)

    def _batched(self, args: tuple[Any, ...]) -> bool:
        if not any(_is_vector(a) for a in args):
            return False
        defs = [f for f in self.definitions if f.min_args <= len(args) <= len(f.args)]
        return len(defs) == 1 and any(
            _is_vector(a) and not p.type.array for a, p in zip(args, defs[0].args, strict=False)
        )

    def map(self, *columns: Any, columns_as: Any = None) -> pd.DataFrame:
        """One call per element: ``get_email.map(keys)`` or ``f.map(ids, names)``.

        Rows are routed together and each partition gets one round trip; the result's
        index (``input``) says which element each row belongs to.
        """
        coldefs = _coldefs(columns_as) if columns_as is not None else None
        rows = list(zip(*[list(c) for c in columns], strict=True))
        return self._session.call_many(self.__name__, rows, coldefs)

    @property
    def definitions(self) -> list[ProxyFunction]:
        return list(self._session._functions[self.__name__.lower()])

    def describe(self) -> pd.DataFrame:
        """One row per definition: signature, returns, cluster, run on, remote SQL."""
        rows = []
        for fn in self.definitions:
            body = fn.body
            where = (
                "CONNECT" if body.connect is not None
                else body.cluster.name if isinstance(body.cluster, ClusterName)
                else "CLUSTER (computed)"
            )  # fmt: skip
            run = body.run_on
            run_on = "ANY" if run is None else _describe_run_on(run, fn)
            args = ", ".join(f"{p.name or ''} {p.type.cast}".strip() for p in fn.args)
            returns = ("SETOF " if fn.setof else "") + (
                ", ".join(f"{p.name} {p.type.cast}" for p in fn.result_columns)
                if fn.kind == "composite" else fn.result_type.cast
            )  # fmt: skip
            remote = "(per call: AS list)" if fn.kind == "record" else remote_query(fn).sql
            rows.append((f"{fn.schema}.{fn.name}({args})", returns, where, run_on, remote))
        cols = ["function", "returns", "cluster", "run on", "remote sql"]
        return pd.DataFrame(rows, columns=cols).astype("string")

    def _repr_html_(self) -> str:
        return str(self.describe().to_html(index=False))

    def __repr__(self) -> str:
        sigs = ", ".join(fn.label for fn in self.definitions)
        return f"<proxy function {sigs}>"


def _describe_run_on(run: Any, fn: ProxyFunction) -> str:
    if isinstance(run, FuncCall):
        return local_query(run.sql, "").sql
    if isinstance(run, ArgRef):
        return fn.args[run.index].name or f"${run.index + 1}"
    if isinstance(run, UnknownRef):
        return run.name
    return {"RunAll": "ALL", "RunAny": "ANY"}.get(type(run).__name__, str(getattr(run, "nr", run)))


def _is_vector(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (list, np.ndarray, pd.Series, pd.Index))


def _coldefs(columns: Any) -> tuple[tuple[str, TypeRef], ...]:
    """``columns=`` as ``"id int, name text"``, a dict or (name, type) pairs."""
    from plproxy_magic.pgtypes import parse_type

    if isinstance(columns, str):
        stmt: Any = pglast.parse_sql(f"SELECT * FROM f() AS t({columns})")[0].stmt
        rf = stmt.fromClause[0]
        return tuple((c.colname, typeref_from_ast(c.typeName)) for c in rf.coldeflist)
    items = columns.items() if isinstance(columns, Mapping) else columns
    return tuple((str(n), t if isinstance(t, TypeRef) else parse_type(str(t))) for n, t in items)


class Session:
    """Clusters, proxy functions and their calls. Thread-safe for concurrent calls."""

    def __init__(self, *, max_workers: int = 32, partition_column: str | None = None) -> None:
        self.clusters: dict[str, Cluster] = {}
        #: SQL/MED servers of the plproxy wrapper, as written (clusters derive from them)
        self.servers: dict[str, ServerDef] = {}
        #: clusters served by plproxy.get_cluster_* of the attached database, by name
        self.compat: dict[str, CompatCluster] = {}
        #: the current user: picks SQL/MED user mappings (libpq's default user by default)
        self.user: str = os.environ.get("PGUSER") or getpass.getuser()
        self._functions: dict[str, list[ProxyFunction]] = {}
        self._plans: dict[int, _Plan] = {}
        self._aggregates: dict[str, frozenset[str]] = {}
        self._volatile: dict[str, tuple[frozenset[str], float]] = {}
        self._volatility: dict[tuple[int, str], tuple[ProxyFunction, str | None, float]] = {}
        self._read_overrides: dict[str, bool] = {}
        self._catalog_cache: dict[tuple[int, str], tuple[ProxyFunction, ProxyFunction]] = {}
        self.routing_functions: dict[str, Callable[..., Any]] = {}
        self.sql_fallback: SqlFallback | None = None
        self._routing_conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._routing_lock = threading.Lock()
        self.partition_column = partition_column
        self.pool = ConnectionPool()
        self.executor = Executor(self.pool, max_workers)
        self.sandboxes: list[Sandbox] = []
        self._listeners: list[Callable[[str, ProxyCallable], None]] = []
        self._lock = threading.RLock()
        self._rng = random.Random()
        #: atomic (two-phase) transactions made by this session, for recovery
        self.atomic_log = AtomicLog()
        #: parsed scripts that are only proxy calls, by their text (see :meth:`execute`)
        self._call_scripts: dict[str, list[tuple[Any, str]]] = {}
        #: the functions the last :meth:`execute` defined, in order
        self.last_defined: list[ProxyFunction] = []
        #: when a list, every call appends where it went (``feedback >= 2`` in the magics)
        self.trace: list[str] | None = None

    # -- clusters ---------------------------------------------------------------------------

    def add_cluster(
        self,
        name: str,
        partitions: Sequence[str],
        *,
        replicas: Mapping[int, Sequence[str]] | None = None,
        **options: object,
    ) -> Cluster:
        """Register (or replace) cluster ``name``; validated now, not at the first call."""
        cluster = Cluster.define(name, partitions, options, replicas)
        with self._lock:
            old = self.clusters.get(name)
            self.clusters[name] = cluster
            self._forget_catalog(name)
        if old is not None:
            self.pool.drop(name)
        return cluster

    # -- SQL/MED ------------------------------------------------------------------------------

    def _apply_sqlmed(self, stmt: Any) -> None:
        """Apply one SQL/MED statement (CREATE SERVER, USER MAPPING...) to the session."""
        sqlmed.apply(self, stmt)

    # -- a real proxy database ---------------------------------------------------------------

    def attach(self, dsn: str) -> Attached:
        """Import the clusters and proxy functions of the PL/Proxy proxy database ``dsn``.

        SQL/MED servers (with the mapping of the connecting user), compat clusters
        (``plproxy.get_cluster_*``, re-read when their version changes) and every
        ``LANGUAGE plproxy`` function; routing functions are then evaluated there as SQL.
        """
        return interop.attach(self, dsn)

    def deploy(
        self, dsn: str, functions: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> str:
        """Create the session's clusters, mappings and functions on proxy database ``dsn``.

        Returns the DDL (passwords masked); with ``dry_run`` nothing is executed.
        """
        return interop.deploy(self, dsn, functions, dry_run=dry_run)

    def _refresh_compat(self, name: str) -> None:
        """PL/Proxy calls get_cluster_version on every call and reloads when it changed."""
        conn = self._routing_conn
        if conn is None:
            return
        with self._routing_lock:
            row = conn.execute("SELECT plproxy.get_cluster_version(%s)", [name]).fetchone()
            if row is None or row[0] == self.compat[name].version:
                return
            cluster, version = interop.load_compat(conn, name)
        with self._lock:
            self.clusters[name] = cluster
            self.compat[name].version = version
        self.pool.drop(name)  # a reload closes every connection of the cluster

    def _server(self, name: str) -> ServerDef:
        try:
            return self.servers[name]
        except KeyError:
            raise ClusterError(f'server "{name}" does not exist', sqlstate="42704") from None

    def _sync_server(self, name: str) -> None:
        """(Re)derive cluster ``name`` from its server and the current user's mapping."""
        server = self.servers[name]
        cluster = Cluster.define(
            name, server.connstrs(self.user), server.cluster_options, server.replicas(self.user)
        )
        with self._lock:
            self.clusters[name] = cluster
        # As PL/Proxy: a changed server or mapping drops that cluster's connections.
        self.pool.drop(name)

    def _forget_catalog(self, cluster: str) -> None:
        """Drop what was learnt from ``cluster``'s catalog (types, volatility, aggregates)."""
        self._volatile.pop(cluster, None)
        self._aggregates.pop(cluster, None)
        self._volatility = {k: v for k, v in self._volatility.items() if k[1] != cluster}
        self._catalog_cache = {k: v for k, v in self._catalog_cache.items() if k[1] != cluster}

    def drop_cluster(self, name: str) -> None:
        """Forget cluster ``name`` and close its connections."""
        with self._lock:
            if name not in self.clusters:
                raise ClusterError(f"Pl/Proxy: cluster not found: {name}")
            del self.clusters[name]
            self.servers.pop(name, None)
        self.pool.drop(name)

    def ping(self, cluster: str) -> pd.DataFrame:
        """Per partition: reachable, server version, round-trip time (or the error)."""
        from plproxy_magic.health import ping

        return ping(self, cluster)

    def stats(self, cluster: str, tables: Sequence[str] = ()) -> Any:
        """Per partition: database size and exact row counts of ``tables``, with bars."""
        from plproxy_magic.health import stats

        return stats(self, cluster, list(tables))

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise ClusterError(f"Pl/Proxy: cluster not found: {name}") from None

    # -- functions --------------------------------------------------------------------------

    @property
    def functions(self) -> dict[str, ProxyCallable]:
        """Defined proxy functions by name, each a callable returning a DataFrame."""
        return {name: ProxyCallable(self, name) for name in self._functions}

    def on_define(self, listener: Callable[[str, ProxyCallable], None]) -> None:
        """Call ``listener(name, callable)`` after each definition (the magics use it)."""
        self._listeners.append(listener)

    def routing_function(
        self, fn: Callable[..., Any] | None = None, *, name: str | None = None
    ) -> Any:
        """Register a Python function usable in RUN ON / CLUSTER / CONNECT expressions.

        Use as ``@session.routing_function`` or ``session.routing_function(f, name="x")``.
        It receives the SQL arguments as Python values and returns a value, or an iterable
        of values for a set-returning function.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            with self._lock:
                self.routing_functions[(name or f.__name__).lower()] = f
                self._plans.clear()
            return f

        return register(fn) if fn is not None else register

    def routing_database(self, dsn: str | None) -> None:
        """Evaluate routing functions the kernel does not know as SQL on database ``dsn``.

        PL/Proxy runs ``select * from f($1)`` for RUN ON / CLUSTER / CONNECT in the proxy
        database; with a routing database (usually the proxy database a notebook attached)
        the same query runs there, with bound parameters. ``None`` turns it off.
        """
        if self._routing_conn is not None:
            self._routing_conn.close()
            self._routing_conn = None
        fallback: SqlFallback | None = None
        if dsn is not None:
            conn = psycopg.connect(dsn, autocommit=True)
            self._routing_conn = conn
            lock = self._routing_lock

            def fallback(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                with lock:
                    try:
                        with psycopg.RawCursor(conn) as cur:
                            return cur.execute(sql, params).fetchall()
                    except psycopg.Error as exc:
                        raise SqlError(
                            exc.diag.message_primary or str(exc),
                            sqlstate=exc.diag.sqlstate or "XX000",
                            detail=exc.diag.message_detail,
                            hint=exc.diag.message_hint,
                        ) from None

        with self._lock:
            self.sql_fallback = fallback
            self._plans.clear()

    def define(self, fn: ProxyFunction) -> ProxyCallable:
        """Register a compiled function, replacing one with the same signature.

        Functions overload by argument types, as in PostgreSQL: ``f(int)`` and ``f(text)``
        are two functions.
        """
        key = fn.name.lower()
        sig = signature(fn)
        with self._lock:
            defs = [f for f in self._functions.get(key, []) if signature(f) != sig]
            defs.append(fn)
            self._functions[key] = defs
            self._plans = {k: p for k, p in self._plans.items() if p.fn.name.lower() != key}
        callable_ = ProxyCallable(self, fn.name)
        for listener in self._listeners:
            listener(fn.name, callable_)
        return callable_

    def _resolve_function(
        self, name: str, args: Sequence[Any], kwnames: Sequence[str]
    ) -> ProxyFunction:
        """Pick the definition a call means: by name, argument count, then argument types."""
        parts = name.split(".")
        key = parts[-1].lower()
        defs = self._functions.get(key, [])
        if len(parts) > 1:
            defs = [f for f in defs if f.schema.lower() == parts[-2].lower()]
        total = len(args) + len(kwnames)
        matches = [f for f in defs if f.min_args <= total <= len(f.args)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            scored = sorted(((fit(f, args), i) for i, f in enumerate(matches)), reverse=True)
            if scored[0][0] > scored[1][0] and scored[0][0] >= 0:
                return matches[scored[0][1]]
            if scored[0][0] >= 0:
                raise CallError(f"function {name} is not unique: cast the arguments to choose "
                                "one overload", sqlstate="42725")  # fmt: skip
        if not defs:
            raise CallError(f"function {name}() does not exist: no proxy function of that name "
                            "is defined in this session")  # fmt: skip
        sigs = ", ".join(
            f"{f.schema}.{f.name}({', '.join(p.type.cast for p in f.args)})" for f in defs
        )
        raise CallError(
            f"function {name} with {total} argument(s) of these types does not exist; "
            f"defined: {sigs}"
        )

    # -- scripts ----------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame | None:
        """Run a script of proxy definitions and calls; returns the last call's DataFrame.

        Everything is parsed first, so a syntax error anywhere runs nothing.
        """
        cached = self._call_scripts.get(sql)
        stmts = cached if cached is not None else _calls.parse_statements(sql)
        plan: list[tuple[str, Any, str]] = []
        pending: set[str] = set()  # functions this script defines before calling them

        def is_proxy(name: str) -> bool:
            return self._is_proxy(name) or name.lower().rsplit(".", 1)[-1] in pending

        for stmt, text in stmts:
            if isinstance(stmt, ast.CreateFunctionStmt):
                lang = function_language(stmt)
                if lang != "plproxy":
                    fname = ".".join(n.sval for n in stmt.funcname or ())
                    raise CallError(
                        f"function {fname} is LANGUAGE {lang}, not plproxy: only proxy "
                        "functions are defined in the kernel; create it on the partitions "
                        "with %%plproxy --cluster NAME (or Session.run)",
                        sqlstate="0A000",
                    )
                fn = compile_function(stmt, text)
                pending.add(fn.name.lower())
                plan.append(("define", fn, text))
            elif sqlmed.is_sqlmed(stmt):
                plan.append(("sqlmed", stmt, text))
            else:
                call = _calls.parse_call(stmt, params, is_proxy)
                if call is None and isinstance(stmt, ast.SelectStmt):
                    from plproxy_magic.batch import select_list_calls

                    per_row = stmt.fromClause and select_list_calls(stmt, is_proxy)
                    if not per_row:
                        from plproxy_magic.outer import find_proxy_calls

                        bare = _calls.parse_call(stmt, params)
                        if bare is not None and not find_proxy_calls(stmt, is_proxy):
                            # SELECT * FROM nope(): say the function does not exist
                            self._resolve_function(bare.name, bare.args, list(bare.kwargs))
                    plan.append(("per_row" if per_row else "outer", stmt, text))
                    continue
                if call is None:
                    raise CallError(
                        f"not a proxy function call: {text[:60]!r}; calls look like "
                        "SELECT * FROM f(...) or SELECT f(...). Run other SQL on the "
                        "partitions with %%plproxy --cluster NAME",
                        sqlstate="0A000",
                    )
                plan.append(("call", call, text))
        if cached is None and plan and all(kind == "call" for kind, _, _ in plan):
            # Calls only read their syntax trees, so a script of calls is parsed once:
            # a notebook loop calling s.sql("SELECT * FROM f($1)", [k]) skips pglast.
            if len(self._call_scripts) >= 256:
                self._call_scripts.clear()
            self._call_scripts[sql] = stmts
        result: pd.DataFrame | None = None
        self.last_defined = [item for kind, item, _ in plan if kind == "define"]
        for kind, item, _ in plan:
            if kind == "outer":
                result = self._outer(item, params)
            elif kind == "per_row":
                from plproxy_magic.batch import run_select

                result = run_select(self, item, params)
            elif kind == "sqlmed":
                self._apply_sqlmed(item)
            elif kind == "define":
                self.define(item)
            else:
                result = self._call(item)
        return result

    def _outer(self, stmt: Any, params: Sequence[Any]) -> pd.DataFrame:
        """A SELECT around proxy calls: the calls run on the shards, the rest in DuckDB."""
        from plproxy_magic import outer

        def call(
            name: str,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            coldefs: tuple[tuple[str, str], ...] | None,
        ) -> pd.DataFrame:
            defs = _coldefs(coldefs) if coldefs else None
            return self._call(_calls.Call(name, args, kwargs, defs))

        return outer.run_outer(stmt, "", params, call, self._is_proxy)

    def _is_proxy(self, name: str) -> bool:
        parts = name.lower().split(".")
        return any(
            len(parts) == 1 or f.schema.lower() == parts[-2]
            for f in self._functions.get(parts[-1], [])
        )

    def sql(self, query: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """One call statement (``SELECT * FROM f(...)``) -> DataFrame."""
        result = self.execute(query, params)
        if result is None:
            raise CallError("the query contains no proxy function call")
        return result

    def call(
        self,
        name: str,
        *args: Any,
        coldefs: Sequence[tuple[str, TypeRef]] | None = None,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Call proxy function ``name`` with Python values."""
        return self._call(_calls.Call(name, args, kwargs, tuple(coldefs) if coldefs else None))

    def call_many(
        self,
        name: str,
        rows: Sequence[Sequence[Any]],
        coldefs: Sequence[tuple[str, TypeRef]] | None = None,
    ) -> pd.DataFrame:
        """Call ``name`` once per argument row, batched: one round trip per partition.

        The result's index (``input``) is the position of the row each result belongs to.
        """
        from plproxy_magic.batch import call_many

        return call_many(self, name, rows, coldefs)

    def _call(self, call: _calls.Call) -> pd.DataFrame:
        fn = self._resolve_function(call.name, call.args, list(call.kwargs))
        try:
            df = self._invoke(fn, call)
        except PlProxyError as exc:
            raise exc.for_function(fn.label) from None
        if call.projection is not None:
            missing = [c for c in call.projection if c not in df.columns]
            if missing:
                raise CallError(f'column "{missing[0]}" does not exist', sqlstate="42703")
            keep = [self.partition_column] if self.partition_column in df.columns else []
            df = df[keep + list(call.projection)]
        if fn.kind != "composite" and (call.alias or call.scalar_context):
            # SELECT f(x) names its column after the function (or the alias), as PostgreSQL
            # does; SELECT * FROM f(x) after a single OUT parameter.
            df = df.rename(columns={fn.result_name: call.alias or fn.name})
        return df

    # -- the call pipeline: arguments -> route -> tasks -> execute -> frame -----------------

    def _plan(self, fn: ProxyFunction) -> _Plan:
        plan = self._plans.get(id(fn))
        if plan is not None and plan.fn is fn:
            return plan
        body = fn.body
        resolve = self._resolver()

        split: tuple[int, ...] = ()
        if isinstance(body.split, SplitAll):
            split = tuple(i for i, p in enumerate(fn.args) if p.type.array)
        elif body.split:
            split = tuple(r.index for r in body.split)
        types = [p.type.element if i in split else p.type for i, p in enumerate(fn.args)]

        def local(spec: object, form: str) -> Evaluator | None:
            if isinstance(spec, FuncCall):
                query = local_query(spec.sql, form, types)
                return compile_local(query, resolve, self.sql_fallback, label=fn.label)
            return None

        vector = None
        hash_eval = local(body.run_on, "select * from ")
        if isinstance(body.run_on, FuncCall) and hash_eval is not None:
            query = local_query(body.run_on.sql, "select * from ", types)
            hash_eval = compile_scalar_hash(query, resolve, hash_eval) or hash_eval
            if not split:
                vector = compile_vector(query, resolve)
        bad_arg = False
        if isinstance(body.run_on, ArgRef):
            t = types[body.run_on.index]
            # PL/Proxy checks the argument's type, not its value: a domain over int fails
            bad_arg = not (t.is_builtin and not t.array and t.name in ("int2", "int4", "int8"))
        plan = _Plan(
            fn,
            None if fn.kind == "record" and body.select is None else remote_query(fn),
            hash_eval,
            vector,
            local(body.cluster, "select "),
            local(body.connect, "select * from "),
            split,
            bad_arg,
        )
        with self._lock:
            self._plans[id(fn)] = plan
        return plan

    def _resolver(self) -> Callable[[str], Callable[..., Any] | None]:
        user = self.routing_functions

        def resolve(name: str) -> Callable[..., Any] | None:
            key = name.lower()
            short = key.rsplit(".", 1)[-1]
            return (
                user.get(key)
                or user.get(short)
                or (BUILTIN_FUNCTIONS.get(short) if key in (short, f"pg_catalog.{short}") else None)
            )

        return resolve

    def _target(self, plan: _Plan, values: Sequence[Any]) -> Cluster:
        """The cluster a call runs on: CLUSTER name/func, or CONNECT's one-partition cluster."""
        body = plan.fn.body
        if body.connect is not None:
            spec = body.connect
            if isinstance(spec, ConnectString):
                connstr: Any = spec.connstr
            elif isinstance(spec, ArgRef):
                connstr = values[spec.index]
            elif isinstance(spec, UnknownRef):
                raise SqlError(f'column "{spec.name}" does not exist', sqlstate="42703")
            else:
                assert plan.connect_eval is not None
                connstr = _one_text(plan.connect_eval(values), _local_text(spec, "select * from "))
            if connstr is None:
                raise RoutingError("Cluster/connect name map func returned NULL")
            return Cluster(f"connect:{connstr}", (str(connstr),))
        spec_c = body.cluster
        if isinstance(spec_c, ClusterName):
            if spec_c.name in self.compat:
                self._refresh_compat(spec_c.name)
            return self.cluster(spec_c.name)
        assert plan.cluster_eval is not None
        assert isinstance(spec_c, FuncCall)
        name = _one_text(plan.cluster_eval(values), _local_text(spec_c, "select "))
        if name is None:
            raise RoutingError("Cluster/connect name map func returned NULL")
        return self.cluster(str(name))

    def route(self, fn: ProxyFunction, values: Sequence[Any]) -> tuple[Cluster, Route]:
        """Where a call with these (normalised) argument values goes, without running it."""
        cluster = self._target(self._plan(fn), values)
        return cluster, self._route_on(fn, cluster, values)

    def _route_on(self, fn: ProxyFunction, cluster: Cluster, values: Sequence[Any]) -> Route:
        if fn.body.connect is not None:
            return Route([0])
        plan = self._plan(fn)
        if plan.bad_hash_arg:
            raise RoutingError("Hash result must be int2, int4 or int8")
        return route(
            fn.body.run_on,
            values,
            len(cluster.partitions),
            cluster.canonical,
            modular=cluster.options.modular_mapping,
            setof=fn.setof,
            split=plan.split,
            rng=self._rng,
            hash_source=plan.hash_eval,
        )

    def _resolved(self, fn: ProxyFunction, cluster: Cluster) -> ProxyFunction:
        """``fn`` with its user types looked up in ``cluster``'s partition 0 (cached)."""
        if not fn.user_types:
            return fn
        key = (id(fn), cluster.name)
        hit = self._catalog_cache.get(key)
        if hit is not None and hit[0] is fn:
            return hit[1]

        def lookup(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            connstr = cluster.partitions[0]
            with self.pool.connection(cluster.name, connstr) as pc:
                try:
                    with psycopg.RawCursor(pc.conn) as cur:
                        return cur.execute(sql, params).fetchall()
                except psycopg.Error as exc:
                    raise remote_error(exc, pc.dbname, 0) from None

        resolved = resolve_function(fn, lookup)
        with self._lock:
            self._catalog_cache[key] = (fn, resolved)
        return resolved

    def _columns(self, fn: ProxyFunction, call: _calls.Call) -> list[str]:
        kind = fn.kind
        if kind == "record":
            if call.scalar_context:
                raise SqlError("Function used in wrong context")
            if not call.coldefs:
                raise CallError(
                    'a column definition list is required for functions returning "record"',
                    sqlstate="42601",
                )
            return [n for n, _ in call.coldefs]
        if call.coldefs:
            raise CallError(
                'a column definition list is only allowed for functions returning "record"',
                sqlstate="42601",
            )
        if kind == "composite":
            return [str(p.name) for p in fn.result_columns]
        return [fn.result_name]

    def _prepare(self, fn: ProxyFunction, call: _calls.Call) -> _Prepared:
        """Everything about a call short of running it: columns, cluster, tasks."""
        values = bind_arguments(fn, call.args, call.kwargs)
        if fn.strict and any(v is None for v in values):
            # STRICT: NULL in, NULL out, no remote call (and no catalog lookup).
            return _Prepared(fn, self._columns(fn, call), None, [], "")
        plan = self._plan(fn)
        cluster = self._target(plan, values)
        typed = self._resolved(fn, cluster)
        columns = self._columns(typed, call)
        if typed is fn and plan.remote is not None:
            remote = plan.remote
        else:
            remote = (
                default_query(typed, call.coldefs)
                if typed.body.select is None
                else remote_query(typed)
            )
        r = self._route_on(fn, cluster, values)
        prepared = _Prepared(typed, columns, cluster, [], remote.sql)
        user_types = result_types(typed) if typed is not fn else ()
        verdict = self._read_verdict(typed, cluster, remote.sql)
        prepared.decision = verdict
        for p in r.partitions:
            vals = r.split[p] if r.split is not None else values
            connstr = cluster.partitions[p]
            fallbacks: tuple[str, ...] = ()
            if verdict.startswith("replica"):
                connstr, fallbacks = self._read_servers(cluster, p)
            prepared.tasks.append(
                Task(
                    p,
                    connstr,
                    [(remote.sql, remote.params(vals))],
                    types=user_types,
                    fallbacks=fallbacks,
                )
            )
        return prepared

    # -- read replicas ----------------------------------------------------------------------

    def read_only(self, name: str, value: bool | None) -> None:
        """Override the read/write decision for proxy function ``name`` (None: automatic).

        ``True`` lets its calls go to replicas, ``False`` keeps them on the primary.
        """
        with self._lock:
            if value is None:
                self._read_overrides.pop(name.lower(), None)
            else:
                self._read_overrides[name.lower()] = value

    def _read_servers(self, cluster: Cluster, partition: int) -> tuple[str, tuple[str, ...]]:
        """For a read of ``partition``: the server to use and the fallbacks, in order."""
        opts = cluster.options
        order = self.executor.replicas.choose(
            cluster.partitions[partition],
            cluster.replicas.get(partition, ()),
            mode=opts.load_balancing_mode,
            primary_reads=opts.primary_reads_enabled,
            max_lag=opts.max_replica_lag,
            lag_of=self._replica_lag,
            rng=self._rng,
        )
        return order[0], tuple(order[1:])

    def _read_verdict(self, fn: ProxyFunction, cluster: Cluster, sql: str) -> str:
        """``replica (...)`` when the call may go to a replica, else ``primary (why)``."""
        if not cluster.options.read_write_splitting or not cluster.replicas:
            return "primary"
        override = self._read_overrides.get(fn.name.lower())
        if override is not None:
            return "replica (declared read-only)" if override else "primary (declared)"
        if fn.body.select is not None:
            verdict = classify(sql, self._volatile_names(cluster).__contains__)
            return "replica (read-only SELECT)" if verdict else f"primary ({verdict.reason})"
        volatility = self._remote_volatility(fn, cluster)
        if volatility in ("s", "i"):
            kind = "STABLE" if volatility == "s" else "IMMUTABLE"
            return f"replica (remote function is {kind})"
        return "primary (remote function is VOLATILE or unknown)"

    def _reads_only(self, fn: ProxyFunction, cluster: Cluster) -> bool:
        """Whether calls of ``fn`` provably only read (no need for an atomic commit)."""
        override = self._read_overrides.get(fn.name.lower())
        if override is not None:
            return override
        if fn.body.select is not None:
            return bool(classify(remote_query(fn).sql, self._volatile_names(cluster).__contains__))
        return self._remote_volatility(fn, cluster) in ("s", "i")

    def _catalog_query(self, cluster: Cluster, sql: str, params: Sequence[Any]) -> list[Any]:
        with self.pool.connection(cluster.name, cluster.partitions[0]) as pc:
            try:
                with psycopg.RawCursor(pc.conn) as cur:
                    return cur.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                raise remote_error(exc, pc.dbname, 0) from None

    def _volatile_names(self, cluster: Cluster) -> frozenset[str]:
        cached = self._volatile.get(cluster.name)
        hit = cached[0] if cached and time.monotonic() - cached[1] < CATALOG_TTL else None
        if hit is None:
            rows = self._catalog_query(
                cluster,
                "SELECT lower(proname) FROM pg_catalog.pg_proc GROUP BY 1 "
                "HAVING bool_or(provolatile = 'v')",
                (),
            )
            hit = frozenset(str(r[0]) for r in rows)
            self._volatile[cluster.name] = (hit, time.monotonic())
        return hit

    def _remote_volatility(self, fn: ProxyFunction, cluster: Cluster) -> str | None:
        key = (id(fn), cluster.name)
        hit = self._volatility.get(key)
        if hit is not None and hit[0] is fn and time.monotonic() - hit[2] < CATALOG_TTL:
            return hit[1]
        target = fn.body.target or fn.qualified_name
        signature = f"{target}({','.join(p.type.cast for p in fn.args)})"
        rows = self._catalog_query(
            cluster,
            "SELECT provolatile FROM pg_catalog.pg_proc WHERE oid = pg_catalog.to_regprocedure($1)",
            [signature],
        )
        value = str(rows[0][0]) if rows else None
        self._volatility[key] = (fn, value, time.monotonic())
        return value

    def _replica_lag(self, connstr: str) -> float | None:
        """Seconds a replica is behind (0 when it replayed all it received)."""
        sql = (
            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
        )
        with self.pool.connection("(replica lag)", connstr) as pc:
            row = pc.conn.execute(sql).fetchone()
        return None if row is None or row[0] is None else float(str(row[0]))

    def _invoke(self, fn: ProxyFunction, call: _calls.Call) -> pd.DataFrame:
        prep = self._prepare(fn, call)
        if self.trace is not None:
            self.trace.append(ExplainStep.of(fn.label, prep).summary())
        fn = prep.fn
        if prep.cluster is None:
            rows: list[tuple[Any, ...]] = [] if fn.setof else [(None,) * len(prep.columns)]
            return frame(prep.columns, rows)
        opts = prep.cluster.options
        atomic = (
            opts.atomic
            and len(prep.tasks) > 1
            and not prep.decision.startswith("replica")
            and not self._reads_only(fn, prep.cluster)
        )
        results: list[PartResult] = self.executor.run(
            prep.cluster.name,
            prep.tasks,
            lifetime=opts.connection_lifetime,
            timeout=opts.query_timeout,
            atomic=self.atomic_log if atomic else None,
        )
        df = to_frame(
            results,
            prep.columns,
            scalar=fn.kind in ("scalar", "void"),
            setof=fn.setof,
            partition_column=self.partition_column,
        )
        if fn.kind == "void":
            # PL/Proxy returns the void datum, whose text is '' (not NULL).
            df[prep.columns[0]] = pd.array([""] * len(df), dtype="string")
        return df

    def explain(self, query: str, params: Sequence[Any] = ()) -> Explain:
        """Where each call in ``query`` would go and what it would send, without running it.

        For every call: the function, its cluster, the partitions (connect strings with
        passwords masked) and the remote SQL with each partition's parameters.
        """
        steps: list[ExplainStep] = []
        for stmt, text in _calls.parse_statements(query):
            call = _calls.parse_call(stmt, params)
            if call is None:
                raise CallError(f"not a proxy function call: {text[:60]!r}", sqlstate="0A000")
            fn = self._resolve_function(call.name, call.args, list(call.kwargs))
            try:
                prep = self._prepare(fn, call)
            except PlProxyError as exc:
                raise exc.for_function(fn.label) from None
            steps.append(ExplainStep.of(fn.label, prep))
        return Explain(steps)

    # -- ad-hoc SQL on partitions -----------------------------------------------------------

    def run(
        self,
        cluster: str,
        sql: str,
        *,
        run_on: str | int = "all",
        params: Sequence[Any] | None = None,
        partials: bool = False,
        atomic: bool | None = None,
    ) -> pd.DataFrame:
        """Run ``sql`` (one or more statements) on the partitions of ``cluster``.

        ``run_on``: ``"all"``, ``"any"`` or a partition number. Statements run in order on
        each partition, partitions in parallel; several statements are one transaction per
        partition (unless one cannot run in a transaction block, like VACUUM). The result:
        the last statement's rows concatenated in partition order if it returns rows, else
        a per-partition status table (``partition``, ``database``, ``status``, ``rows``).
        When a partition fails, the error's ``completed`` / ``cancelled`` say which
        partitions committed and which were rolled back.

        ``atomic=True`` commits on every partition or on none (two-phase commit; the
        servers need ``max_prepared_transactions`` > 0); ``None`` follows the cluster's
        ``atomic`` option for statements that are not provably read-only. What a failure
        leaves prepared is resolved by :meth:`recover`.

        A single aggregate query on several partitions is combined in two stages
        (:mod:`plproxy_magic.aggregate`): the answer one database holding every partition's
        rows would give. ``partials=True`` returns the per-partition partials instead.
        """
        from plproxy_magic import adhoc

        return adhoc.run(
            self, cluster, sql, run_on=run_on, params=params, partials=partials, atomic=atomic
        )

    def recover(
        self, cluster: str, *, older_than: float = 60.0, dry_run: bool = False
    ) -> pd.DataFrame:
        """List and resolve the prepared transactions atomic writes left on ``cluster``.

        Each is committed when its coordinator partition committed, else rolled back, so
        every partition ends with the same outcome. This session's own leftovers are
        resolved at once; other sessions' once ``older_than`` seconds old. ``dry_run``
        only lists them. One row per prepared transaction (see
        :func:`plproxy_magic.atomic.recover`).
        """
        from plproxy_magic.atomic import recover

        c = self.cluster(cluster)
        return recover(self.executor, c, self.atomic_log, older_than=older_than, dry_run=dry_run)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close connections and threads, and stop this session's sandboxes."""
        self.routing_database(None)
        self.executor.close()
        for sb in list(self.sandboxes):
            sb.stop()
        self.sandboxes.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        return iter(self.clusters)

    def __repr__(self) -> str:
        return f"<Session clusters={sorted(self.clusters)} functions={sorted(self._functions)}>"


def _local_text(spec: FuncCall, form: str) -> str:
    """The local query as PL/Proxy prints it in messages (``select f($1)``)."""
    return local_query(spec.sql, form).sql


def _one_text(rows: list[Any], sql: str) -> Any:
    if len(rows) != 1:
        raise RoutingError(f"'{sql}' returned {len(rows)} rows, expected 1")
    value = rows[0]
    if value is not None and not isinstance(value, str):
        raise RoutingError("expected text")
    return value


_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The Session the magics use (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Session()
        return _default
