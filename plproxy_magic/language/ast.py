"""The parsed PL/Proxy function body: frozen records of what each statement decided.

The parser only records decisions here; the rules that span statements (CONNECT excludes
CLUSTER/RUN, TARGET excludes SELECT, ...) are checked once after the parse, as PL/Proxy does.

SQL fragments (an explicit SELECT, or the ``f(args)`` of CLUSTER/CONNECT/RUN ON) are kept as
:class:`SqlText`: the text after PL/Proxy's raw-SQL lexing (whitespace folded, comments
dropped, quoted parts verbatim) split into literal pieces and :class:`ArgRef` markers. The
query stage renders them with ``$k`` placeholders numbered by first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

from plproxy_magic.conninfo import mask

__all__ = [
    "ArgRef",
    "Body",
    "ClusterName",
    "ClusterSpec",
    "ConnectSpec",
    "ConnectString",
    "FuncCall",
    "RunAll",
    "RunAny",
    "RunNr",
    "RunOn",
    "SplitAll",
    "SplitSpec",
    "SqlText",
    "UnknownRef",
]


@dataclass(frozen=True)
class ArgRef:
    """A reference to the proxy function's IN/INOUT argument number ``index`` (0-based)."""

    index: int


@dataclass(frozen=True)
class UnknownRef:
    """A bare name in ``RUN ON name;`` / ``CONNECT name;`` that is no argument.

    PL/Proxy accepts it at CREATE time and fails at the first call (``column "b" does not
    exist``); we keep it so the call can fail the same way.
    """

    name: str


@dataclass(frozen=True)
class SqlText:
    """Raw SQL with argument references: ``("select ", ArgRef(0), " from t")``."""

    parts: tuple[str | ArgRef, ...]

    @property
    def refs(self) -> tuple[int, ...]:
        """Referenced argument indexes in order of first appearance, without repeats."""
        seen: dict[int, None] = {}
        for p in self.parts:
            if isinstance(p, ArgRef):
                seen.setdefault(p.index, None)
        return tuple(seen)


@dataclass(frozen=True)
class FuncCall:
    """``name(args...)`` in CLUSTER, CONNECT or RUN ON; ``sql`` is the whole call text."""

    name: str
    sql: SqlText


@dataclass(frozen=True)
class ClusterName:
    """``CLUSTER 'name';``"""

    name: str


@dataclass(frozen=True)
class ConnectString:
    """``CONNECT 'connstr';``"""

    connstr: str

    def __repr__(self) -> str:
        # the connect string may hold a password
        return f"ConnectString({mask(self.connstr)!r})"


@dataclass(frozen=True)
class RunAll:
    """``RUN ON ALL;``"""


@dataclass(frozen=True)
class RunAny:
    """``RUN ON ANY;`` (also the default when RUN ON is omitted)."""


@dataclass(frozen=True)
class RunNr:
    """``RUN ON <nr>;`` an exact partition number, range-checked at call time."""

    nr: int


@dataclass(frozen=True)
class SplitAll:
    """``SPLIT ALL;`` every array argument is split."""


ClusterSpec = ClusterName | FuncCall
ConnectSpec = ConnectString | FuncCall | ArgRef | UnknownRef
RunOn = RunAll | RunAny | RunNr | FuncCall | ArgRef | UnknownRef
SplitSpec = tuple[ArgRef, ...] | SplitAll


@dataclass(frozen=True)
class Body:
    """Everything a proxy function body says; ``None`` where a statement is absent."""

    cluster: ClusterSpec | None = None
    connect: ConnectSpec | None = None
    run_on: RunOn | None = None
    split: SplitSpec | None = None
    target: str | None = None
    select: SqlText | None = None
