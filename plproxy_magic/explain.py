"""``explain``: where calls would go, shown without running them.

An :class:`Explain` lists, for every call of a query, the function, the cluster, each tagged
partition with its (password-masked) connect string, and the remote SQL with that
partition's bound parameters. It renders as a text table and as HTML, and answers the
sharding question "where does key X live?" in its one-line :meth:`Explain.summary`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from plproxy_magic.conninfo import dbname_of, mask

__all__ = ["Explain", "ExplainStep"]


@dataclass(frozen=True)
class ExplainStep:
    """One call: ``targets`` are (partition, database, masked connect string, params)."""

    function: str
    cluster: str | None
    sql: str
    targets: tuple[tuple[int, str, str, tuple[Any, ...]], ...]
    decision: str = "primary"

    @classmethod
    def of(cls, label: str, prepared: Any) -> ExplainStep:
        """Build from a prepared call (``Session._prepare``)."""
        cluster = prepared.cluster
        targets = tuple(
            (t.partition, dbname_of(t.connstr), mask(t.connstr), tuple(t.statements[0][1] or ()))
            for t in prepared.tasks
        )
        name = None if cluster is None else cluster.name
        if name is not None and name.startswith("connect:"):
            name = "(CONNECT)"
        return cls(label, name, prepared.sql, targets, getattr(prepared, "decision", "primary"))

    def summary(self) -> str:
        """``public.get_user(1) -> cluster userdb: partition 2 [userdb_p2]``"""
        if self.cluster is None:
            return f"{self.function} -> no remote call (STRICT function with a NULL argument)"
        if not self.targets:
            return f"{self.function} -> cluster {self.cluster}: no partition (nothing tagged)"
        where = ", ".join(f"partition {p} [{db}]" for p, db, _, _ in self.targets)
        read = f"; {self.decision}" if self.decision != "primary" else ""
        return f"{self.function} -> cluster {self.cluster}: {where}{read}"


@dataclass(frozen=True)
class Explain:
    """The plan of every call in a query."""

    steps: list[ExplainStep]

    def summary(self) -> str:
        """One line per call."""
        return "\n".join(s.summary() for s in self.steps)

    def to_frame(self) -> pd.DataFrame:
        """One row per (call, partition)."""
        rows = [
            (s.function, s.cluster, p, db, conn, s.sql, _params(params))
            for s in self.steps
            for p, db, conn, params in s.targets
        ]
        cols = ["function", "cluster", "partition", "database", "connect string", "remote sql",
                "params"]  # fmt: skip
        return pd.DataFrame(rows, columns=cols).astype(
            {c: "string" for c in cols if c != "partition"} | {"partition": "Int32"}
        )

    def __repr__(self) -> str:
        lines = []
        for s in self.steps:
            lines.append(s.summary())
            if s.targets:
                lines.append(f"  remote sql: {s.sql}")
            for p, _db, conn, params in s.targets:
                lines.append(f"  p{p}: {conn}  params={_params(params)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        parts = []
        for s in self.steps:
            parts.append(f"<p><b>{html.escape(s.summary())}</b></p>")
            if s.targets:
                parts.append(f"<pre>{html.escape(s.sql)}</pre>")
                body = "".join(
                    f"<tr><td>{p}</td><td>{html.escape(conn)}</td>"
                    f"<td>{html.escape(_params(params))}</td></tr>"
                    for p, _db, conn, params in s.targets
                )
                parts.append(
                    "<table><tr><th>partition</th><th>connect string</th><th>params</th></tr>"
                    f"{body}</table>"
                )
        return "".join(parts)


def _params(params: tuple[Any, ...]) -> str:
    """A call's parameters for display: a CONNECT argument is a connect string, masked."""
    return mask(repr(list(params)))
