"""``%cluster`` and ``%%plproxy``: thin IPython magics over the default :class:`Session`.

Each magic parses its arguments, calls the core, and returns what the notebook displays.
Failures raise the core's :class:`~plproxy_magic.errors.PlProxyError` itself, whose
``_render_traceback_`` keeps the output to one line while the kernel still reports an error
(so nbval fails such a cell); ``%config PlProxyMagic.short_errors = False`` shows the full
traceback instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shlex
from collections.abc import Callable
from typing import Any

import pandas as pd
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Int, Unicode

from plproxy_magic.cluster import Cluster
from plproxy_magic.conninfo import mask
from plproxy_magic.errors import CallError, PlProxyError
from plproxy_magic.sandbox import sandbox
from plproxy_magic.session import ProxyCallable, Session, default_session

__all__ = ["PlProxyMagic", "load"]

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*<<\s*(.*)$", re.DOTALL)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting the kernel."""

    def error(self, message: str) -> Any:
        raise CallError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise CallError(message or f"{self.prog}: usage error")


def _options(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep:
            raise CallError(f"--option takes key=value, not {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _cluster_parser() -> _Parser:
    p = _Parser(prog="%cluster", add_help=False,
                description="Register and inspect clusters of PostgreSQL partitions.")  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sb = sub.add_parser("sandbox", help="partition databases on embedded PostgreSQL servers")
    sb.add_argument("name")
    sb.add_argument("--partitions", type=int, default=2)
    sb.add_argument("--servers", type=int, default=1)
    sb.add_argument("--replicas", type=int, default=0)
    sb.add_argument("--option", action="append", metavar="KEY=VALUE")
    add = sub.add_parser("add", help="a cluster from connect strings, in partition order")
    add.add_argument("name")
    add.add_argument("dsn", nargs="*")
    add.add_argument("--conn", action="append", metavar="ALIAS", help="a jupysql connection")
    add.add_argument("--section", action="append", help="a section of connections.ini")
    add.add_argument("--dsn-file", help="connections.ini (default: jupysql's)")
    add.add_argument("--option", action="append", metavar="KEY=VALUE")
    add.add_argument("--replica", action="append", metavar="N=DSN")
    at = sub.add_parser("attach", help="import clusters and functions from a PL/Proxy proxy db")
    at.add_argument("dsn")
    sub.add_parser("list", help="the registered clusters")
    for cmd, text in (("show", "one cluster's partitions and options"),
                      ("drop", "forget a cluster and close its connections"),
                      ("ping", "reachability, version and round trip per partition")):  # fmt: skip
        sp = sub.add_parser(cmd, help=text)
        sp.add_argument("name")
    st = sub.add_parser("stats", help="database size and table rows per partition")
    st.add_argument("name")
    st.add_argument("tables", nargs="*")
    rc = sub.add_parser("recover", help="resolve prepared transactions atomic writes left")
    rc.add_argument("name")
    rc.add_argument("--dry-run", action="store_true", help="list them, resolve nothing")
    rc.add_argument("--older-than", type=float, default=60.0, metavar="SECONDS",
                    help="others' transactions only once this old (default 60)")  # fmt: skip
    return p


def _plproxy_parser() -> _Parser:
    p = _Parser(prog="%%plproxy", add_help=False)
    p.add_argument("--cluster", help="run the cell's SQL on this cluster's partitions")
    p.add_argument("--run-on", default="all", help="all, any or a partition number")
    p.add_argument("--partials", action="store_true", help="per-partition partial aggregates")
    p.add_argument("--atomic", action="store_true", default=None,
                   help="commit on every partition or none (two-phase commit)")  # fmt: skip
    p.add_argument("--persist", metavar="TABLE", help="store the result in a jupysql database")
    p.add_argument("--conn", metavar="ALIAS", help="the jupysql connection for --persist")
    return p


def _deploy_parser() -> _Parser:
    p = _Parser(prog="%plproxy deploy", add_help=False)
    p.add_argument("--to", required=True, metavar="PROXY_DSN")
    p.add_argument("--dry-run", action="store_true", help="print the DDL, run nothing")
    p.add_argument("functions", nargs="*", metavar="FUNC")
    return p


def _cluster_table(clusters: list[Cluster]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": pd.array([c.name for c in clusters], dtype="string"),
            "partitions": pd.array([len(c.partitions) for c in clusters], dtype="Int32"),
            "options": pd.array(
                [", ".join(f"{k}={v}" for k, v in c.options.changed().items()) for c in clusters],
                dtype="string",
            ),
        }
    )


def _partition_table(session: Session, c: Cluster) -> pd.DataFrame:
    """Every server of the cluster: role, masked connect string, state, lag, queries served."""
    import time

    rows = []
    book = session.executor.replicas
    for p, primary in enumerate(c.partitions):
        for role, connstr in [("primary", primary)] + [
            (f"replica {k}", r) for k, r in enumerate(c.replicas.get(p, ()))
        ]:
            st = book.state(connstr)
            state, lag = "ok", None
            if st.banned_until > time.monotonic():
                state = f"banned for {st.banned_until - time.monotonic():.0f} s"
            if role != "primary" and state == "ok":
                try:
                    lag = session._replica_lag(connstr)
                except Exception:
                    state = "unreachable"
            rows.append((p, role, mask(connstr), state, lag, st.served))
    df = pd.DataFrame(
        rows, columns=["partition", "role", "connect string", "state", "lag_s", "served"]
    )
    return df.astype({"partition": "Int32", "role": "string", "connect string": "string",
                      "state": "string", "lag_s": "Float64", "served": "Int64"})  # fmt: skip


@magics_class
class PlProxyMagic(Magics):
    """PL/Proxy in the kernel: ``%cluster`` registers partitions, ``%%plproxy`` calls."""

    feedback = Int(1, help="0: quiet; 1: say what a cell defined; 2: also where calls went").tag(
        config=True
    )
    short_errors = Bool(True, help="one-line errors; False shows the full traceback").tag(
        config=True
    )
    partition_column = Unicode(
        None, allow_none=True, help="add a column naming each row's partition"
    ).tag(config=True)
    max_workers = Int(32, help="threads for parallel partition calls").tag(config=True)
    progress = Unicode(
        "auto",
        help="live per-partition progress of fan-outs: auto (widgets in Jupyter, off under "
        "pytest/nbval), widgets, text (appended lines) or off",
    ).tag(config=True)
    displaycon = Bool(
        False, help="print the cluster and partitions a --cluster cell runs on, as jupysql"
    ).tag(config=True)

    def __init__(self, shell: Any, session: Session | None = None) -> None:
        super().__init__(shell)
        self.session = session or default_session()
        self.session.on_define(self._publish)
        self._cluster_args = _cluster_parser()
        self._plproxy_args = _plproxy_parser()
        self._deploy_args = _deploy_parser()

    @property
    def _ns(self) -> dict[str, Any]:
        assert self.shell is not None
        return self.shell.user_ns  # type: ignore[no-any-return]

    def _publish(self, name: str, fn: ProxyCallable) -> None:
        self._ns[name] = fn

    def _sync_config(self) -> None:
        self.session.partition_column = self.partition_column
        self.session.executor.max_workers = self.max_workers
        mode = self.progress.lower()
        if mode not in ("auto", "widgets", "text", "off"):
            raise CallError(f"PlProxyMagic.progress is auto, widgets, text or off, not {mode!r}")
        if mode == "auto":
            # nbval and pytest run kernels with PYTEST_CURRENT_TEST set: keep outputs stable
            mode = "off" if "PYTEST_CURRENT_TEST" in os.environ else "widgets"
        if mode == "off":
            self.session.executor.progress = None
        else:
            from plproxy_magic.widgets.progress import make_progress

            self.session.executor.progress = functools.partial(make_progress, mode)

    def _guard(self, action: Callable[[], Any]) -> Any:
        self._sync_config()
        # feedback >= 2: say where every call went (partitions, replica or primary, why)
        self.session.trace = [] if self.feedback >= 2 else None
        try:
            return action()
        except PlProxyError as exc:
            if not self.short_errors:
                exc._render_traceback_ = _full_traceback  # type: ignore[method-assign]
            raise
        finally:
            trace, self.session.trace = self.session.trace, None
            for line in (trace or [])[:20]:
                print(line)
            if trace and len(trace) > 20:
                print(f"... and {len(trace) - 20} more calls")

    # -- %cluster ---------------------------------------------------------------------------

    @line_cell_magic
    def cluster(self, line: str, cell: str | None = None) -> Any:
        """Register and inspect clusters.

        %cluster sandbox NAME --partitions N [--servers K] [--option key=value ...]
        %cluster add NAME DSN [DSN ...] [--option key=value ...]
        %cluster add NAME --conn ALIAS [--conn ALIAS ...]    jupysql connections
        %cluster add NAME --section S [--section S ...] [--dsn-file PATH]   connections.ini
        %cluster list | show NAME | drop NAME | ping NAME
        %cluster stats NAME [TABLE ...]   sizes and row counts per partition, with bars
        %cluster recover NAME [--dry-run] [--older-than S]   resolve what --atomic left prepared
        %cluster attach PROXY_DSN   import clusters and functions from a real proxy db
        %%cluster     CREATE SERVER ... FOREIGN DATA WRAPPER plproxy OPTIONS (...);
                      CREATE USER MAPPING ...; GRANT USAGE ON FOREIGN SERVER ...
        """
        if cell is not None:
            return self._guard(lambda: self._cluster_sql(cell))
        return self._guard(lambda: self._cluster(line))

    def _cluster_sql(self, cell: str) -> None:
        before = dict(self.session.clusters)
        self.session.execute(self._template(cell))
        if self.feedback:
            for name, c in self.session.clusters.items():
                if before.get(name) != c:
                    n = len(c.partitions)
                    print(f"Cluster {name}: {n} partition{'s' * (n != 1)}")
            for name in before.keys() - self.session.clusters.keys():
                print(f"Dropped cluster {name}")

    def _cluster(self, line: str) -> Any:
        args = self._cluster_args.parse_args(shlex.split(line))
        handler = getattr(self, f"_cluster_{args.command}")
        return handler(args)

    def _cluster_sandbox(self, args: argparse.Namespace) -> None:
        sb = sandbox(args.name, args.partitions, args.servers, args.replicas,
                     session=self.session, **_options(args.option))  # fmt: skip
        if self.feedback:
            n, k = len(sb.partitions), len(sb.servers)
            r = len(next(iter(sb.standbys.values()), []))
            extra = f", {r} streaming replica{'s' * (r != 1)} each" if r else ""
            print(f"Sandbox cluster {sb.name}: {n} partition{'s' * (n != 1)} "
                  f"on {k} embedded PostgreSQL server{'s' * (k != 1)}{extra}")  # fmt: skip

    def _cluster_add(self, args: argparse.Namespace) -> None:
        replicas: dict[int, list[str]] = {}
        for spec in args.replica or ():
            nr, sep, dsn = spec.partition("=")
            if not sep or not nr.strip().isdigit():
                raise CallError(f"--replica takes N=DSN, not {mask(spec)!r}")
            replicas.setdefault(int(nr), []).append(dsn)
        from plproxy_magic import jupysql_conn

        dsns = list(args.dsn)
        dsns += [jupysql_conn.dsn_from_alias(a) for a in args.conn or ()]
        dsns += [jupysql_conn.dsn_from_section(s, args.dsn_file) for s in args.section or ()]
        if not dsns:
            raise CallError("%cluster add: give partition DSNs, --conn ALIAS or --section NAME")
        c = self.session.add_cluster(args.name, dsns, replicas=replicas,
                                     **_options(args.option))  # fmt: skip
        if self.feedback:
            print(f"Cluster {c.name}: {len(c.partitions)} partitions")

    def _cluster_attach(self, args: argparse.Namespace) -> None:
        attached = self.session.attach(args.dsn)
        if self.feedback:
            print(f"Attached as {attached.user}: clusters {', '.join(attached.clusters) or '-'}; "
                  f"{len(attached.functions)} proxy functions")  # fmt: skip

    def _cluster_list(self, args: argparse.Namespace) -> pd.DataFrame:
        return _cluster_table(list(self.session.clusters.values()))

    def _cluster_show(self, args: argparse.Namespace) -> pd.DataFrame:
        return _partition_table(self.session, self.session.cluster(args.name))

    def _cluster_ping(self, args: argparse.Namespace) -> pd.DataFrame:
        return self.session.ping(args.name)

    def _cluster_stats(self, args: argparse.Namespace) -> Any:
        return self.session.stats(args.name, args.tables)

    def _cluster_recover(self, args: argparse.Namespace) -> pd.DataFrame:
        return self.session.recover(args.name, older_than=args.older_than, dry_run=args.dry_run)

    def _cluster_drop(self, args: argparse.Namespace) -> None:
        self.session.drop_cluster(args.name)
        if self.feedback:
            print(f"Dropped cluster {args.name}")

    # -- %%plproxy --------------------------------------------------------------------------

    @line_cell_magic
    def plproxy(self, line: str, cell: str | None = None) -> Any:
        """Define and call proxy functions, or run SQL on a cluster's partitions.

        %%plproxy [RESULT <<]      CREATE FUNCTION ... LANGUAGE plproxy; and calls
        %plproxy SELECT * FROM f(...)
        %plproxy explain SELECT * FROM f(...)      where it would go, without running it
        %plproxy deploy --to PROXY_DSN [--dry-run] [FUNC ...]   install on a real proxy db
        %%plproxy --cluster NAME [--run-on all|any|N] [--partials] [--atomic]
                                   SQL on the partitions (--atomic: all commit or none)
        %%plproxy ... --persist TABLE [--conn ALIAS]   also store the result for %sql
        """
        return self._guard(lambda: self._plproxy(line, cell))

    def _plproxy(self, line: str, cell: str | None) -> Any:
        target = None
        m = _ASSIGN.match(line)
        if m:
            target, line = m.group(1), m.group(2)
        if cell is None:
            sql, opts = line, None
            word, _, rest = line.strip().partition(" ")
            if word.lower() == "deploy":
                d = self._deploy_args.parse_args(shlex.split(rest))
                ddl = self.session.deploy(d.to, d.functions or None, dry_run=d.dry_run)
                if d.dry_run or self.feedback >= 2:
                    print(ddl)
                elif self.feedback:
                    print(f"Deployed {ddl.count('CREATE OR REPLACE FUNCTION')} proxy functions")
                return None
            if word.lower() == "explain":
                from plproxy_magic.calls import bind_variables

                bound, params = bind_variables(self._template(rest), self._ns)
                return self.session.explain(bound, params)
        else:
            opts = self._plproxy_args.parse_args(shlex.split(line)) if line.strip() else None
            sql = cell
        result: pd.DataFrame | None
        sql = self._template(sql)
        if opts is not None and opts.cluster:
            if self.displaycon:
                n = len(self.session.cluster(opts.cluster).partitions)
                print(f"Running on {opts.cluster} ({n} partitions, run on {opts.run_on})")
            result = self.session.run(opts.cluster, sql, run_on=opts.run_on,
                                      partials=opts.partials, atomic=opts.atomic)  # fmt: skip
        else:
            from plproxy_magic.calls import bind_variables

            bound, params = bind_variables(sql, self._ns)
            result = self.session.execute(bound, params)
            defined = self.session.last_defined
            if self.feedback and result is None and defined:
                print("Defined: " + ", ".join(fn.label for fn in defined))
        if opts is not None and opts.persist:
            if result is None:
                raise CallError("--persist: the cell returned no rows to store")
            from plproxy_magic import jupysql_conn

            jupysql_conn.persist(result, opts.persist, opts.conn)
            if self.feedback:
                print(f"Persisted {len(result)} rows as {opts.persist}")
        if target is not None:
            self._ns[target] = result
            return None
        return result

    def _template(self, sql: str) -> str:
        """``{{var}}``: text templating from the notebook namespace, as in jupysql."""
        ns = self._ns

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in ns:
                raise CallError(f"{{{{{name}}}}}: no variable {name} in the notebook")
            return str(ns[name])

        return _TEMPLATE.sub(sub, sql)


def _full_traceback() -> list[str]:
    # Raising here makes IPython fall back to its ordinary, full traceback.
    raise RuntimeError("full traceback requested")


def load(ipython: Any) -> None:
    """Register the magics on ``ipython`` (once per shell)."""
    if getattr(ipython, "_plproxy_magic_loaded", False):
        return
    ipython.register_magics(PlProxyMagic(ipython))
    ipython._plproxy_magic_loaded = True
