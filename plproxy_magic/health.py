"""``%cluster ping`` and ``%cluster stats``: is every partition there, and how even is the data.

:func:`ping` opens (or reuses) a connection to every partition and reports reachability,
server version and round-trip time; a dead partition is a row with its error, not an
exception. :func:`stats` reports each partition's database size and the exact row counts
of the tables asked for, as a table and as horizontal bars, so skew shows at a glance.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from psycopg import sql as pgsql

from plproxy_magic.conninfo import dbname_of, mask
from plproxy_magic.errors import PlProxyError

if TYPE_CHECKING:
    from plproxy_magic.session import Session

__all__ = ["ClusterStats", "ping", "stats"]


def ping(session: Session, cluster: str) -> pd.DataFrame:
    """One row per partition: ``ok``, ``server_version``, ``rtt_ms`` and ``error``."""
    c = session.cluster(cluster)
    rows: list[dict[str, Any]] = []
    for p, connstr in enumerate(c.partitions):
        row: dict[str, Any] = {"partition": p, "database": dbname_of(connstr), "ok": False,
                               "server_version": None, "rtt_ms": None, "error": None}  # fmt: skip
        try:
            with session.pool.connection(c.name, connstr, c.options.connection_lifetime) as pc:
                t0 = time.perf_counter()
                pc.conn.execute("SELECT 1").fetchone()
                row["rtt_ms"] = round((time.perf_counter() - t0) * 1000, 3)
                row["server_version"] = pc.conn.info.parameter_status("server_version")
                row["ok"] = True
        except PlProxyError as exc:
            row["error"] = mask(str(exc))
        except Exception as exc:  # a broken socket mid-ping is a result, not a failure
            row["error"] = mask(f"{type(exc).__name__}: {exc}")
        rows.append(row)
    df = pd.DataFrame(rows)
    dtypes = {"partition": "Int32", "database": "string", "ok": "boolean",
              "server_version": "string", "rtt_ms": "Float64", "error": "string"}  # fmt: skip
    return df.astype(dtypes)


@dataclass
class ClusterStats:
    """Per-partition sizes and row counts; renders as a table with bars."""

    cluster: str
    frame: pd.DataFrame

    def _bars(self, column: str) -> list[tuple[str, float, int]]:
        values = self.frame[column].astype("Float64").fillna(0)
        top = float(values.max()) or 1.0
        return [
            (str(db), float(v) / top, int(v))
            for db, v in zip(self.frame["database"], values, strict=True)
        ]

    def _columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in ("partition", "database")]

    def __repr__(self) -> str:
        lines = [f"cluster {self.cluster}", self.frame.to_string(index=False)]
        for col in self._columns():
            lines.append(f"\n{col}:")
            for db, share, value in self._bars(col):
                lines.append(f"  {db:>20} {'#' * round(share * 40):<40} {value}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = [
            f"<p><b>cluster {html.escape(self.cluster)}</b></p>",
            self.frame.to_html(index=False),
        ]
        for col in self._columns():
            parts.append(f"<p>{html.escape(col)}</p><table>")
            for db, share, value in self._bars(col):
                parts.append(
                    f"<tr><td>{html.escape(db)}</td><td style='width:320px'>"
                    f"<div style='background:#4c78a8;height:12px;width:{share * 100:.1f}%'></div>"
                    f"</td><td>{value}</td></tr>"
                )
            parts.append("</table>")
        return "".join(parts)


def stats(session: Session, cluster: str, tables: list[str] | None = None) -> ClusterStats:
    """Database size (bytes) and exact row counts of ``tables`` on every partition."""
    c = session.cluster(cluster)
    statements: list[tuple[str, list[Any] | None]] = [
        ("SELECT pg_database_size(current_database()) AS database_bytes", None)
    ]
    for t in tables or []:
        ident = pgsql.Identifier(*t.split("."))
        query = pgsql.SQL("SELECT count(*) AS {} FROM {}").format(
            pgsql.Identifier(f"{t} rows"), ident
        )
        statements.append((query.as_string(), None))
    from plproxy_magic.execute import Task

    parts = list(dict.fromkeys(c.canonical))
    tasks = [Task(p, c.partitions[p], statements, pipeline=True) for p in parts]
    results = session.executor.run(c.name, tasks, lifetime=c.options.connection_lifetime)
    data: dict[str, Any] = {
        "partition": pd.array(parts, dtype="Int32"),
        "database": pd.array([r.dbname for r in results], dtype="string"),
        "database_bytes": pd.array([r.batches[0][0][0] for r in results], dtype="Int64"),
    }
    for i, t in enumerate(tables or [], start=1):
        data[f"{t} rows"] = pd.array([r.batches[i][0][0] for r in results], dtype="Int64")
    return ClusterStats(c.name, pd.DataFrame(data))
