"""Clusters: named lists of partition connect strings, with PL/Proxy's options.

A :class:`Cluster` is validated when it is defined, not at its first call: the partition
count must be a power of two unless ``modular_mapping`` is on, and options are PL/Proxy's
(unknown ones are errors). Partitions sharing one connect string are one connection, as in
PL/Proxy; :attr:`Cluster.canonical` records that mapping for routing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

from plproxy_magic.conninfo import mask
from plproxy_magic.errors import ClusterError

__all__ = ["Cluster", "ClusterOptions", "parse_bool"]

_TRUE = {"1", "true", "on", "yes", "t", "y"}
_FALSE = {"0", "false", "off", "no", "f", "n"}


def parse_bool(key: str, value: object) -> bool:
    """Booleans as PostgreSQL takes them (``true/false/on/off/1/0``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ClusterError(f'Pl/Proxy: option "{key}" requires a boolean value, got "{value}"')


def _parse_int(key: str, value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text.isdigit():
        raise ClusterError(f"Pl/Proxy: only integer options are allowed: {key}={value}")
    return int(text)


@dataclass(frozen=True)
class ClusterOptions:
    """PL/Proxy's cluster options. Times are seconds; 0 means off."""

    connection_lifetime: int = 0
    query_timeout: int = 0
    disable_binary: int = 0
    modular_mapping: bool = False
    statement_timeout: int = 0
    keepalive_idle: int = 0
    keepalive_interval: int = 0
    keepalive_count: int = 0
    default_user: str = "current_user"
    # read replicas (OpenProxy/pgcat names; not PL/Proxy options, stripped by deploy)
    read_write_splitting: bool = False
    load_balancing_mode: str = "random"
    primary_reads_enabled: bool = True
    ban_time: int = 60
    max_replica_lag: int = 0
    # writes on several partitions commit all or none (two-phase commit; ours, stripped too)
    atomic: bool = False

    @classmethod
    def from_mapping(cls, options: Mapping[str, object]) -> ClusterOptions:
        """Validate ``options`` (strings or Python values) the way PL/Proxy does."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, value in options.items():
            k = key.lower()
            if k not in known:
                raise ClusterError(f"Unknown config param: {key}")
            if k == "default_user":
                if value not in ("current_user", "session_user"):
                    raise ClusterError(
                        f"default_user: Expect 'current_user' or 'session_user', got '{value}'"
                    )
                values[k] = value
            elif k in ("modular_mapping", "read_write_splitting", "primary_reads_enabled",
                       "atomic"):  # fmt: skip
                values[k] = parse_bool(k, value)
            elif k == "load_balancing_mode":
                if str(value).lower() not in ("random", "loc"):
                    raise ClusterError(
                        f"load_balancing_mode: expect 'random' or 'loc', got '{value}'"
                    )
                values[k] = str(value).lower()
            else:
                values[k] = _parse_int(k, value)
        return cls(**values)  # type: ignore[arg-type]

    def changed(self) -> dict[str, object]:
        """The options that differ from their defaults, for display."""
        default = ClusterOptions()
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


@dataclass(frozen=True)
class Cluster:
    """A registered cluster. ``partitions[i]`` is partition *i*'s connect string."""

    name: str
    partitions: tuple[str, ...]
    options: ClusterOptions = field(default_factory=ClusterOptions)
    replicas: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.partitions)
        if n == 0:
            raise ClusterError(
                f"Pl/Proxy: invalid number of partitions: cluster {self.name} has none"
            )
        if not self.options.modular_mapping and n & (n - 1):
            raise ClusterError(
                f"Pl/Proxy: invalid number of partitions: cluster {self.name} has {n}, "
                "not a power of two (set modular_mapping to allow any count)",
                sqlstate="42601",
            )
        for p in self.replicas:
            if not 0 <= p < n:
                raise ClusterError(f"replica for partition {p}: cluster {self.name} has {n}")

    @classmethod
    def define(
        cls,
        name: str,
        partitions: Iterable[str],
        options: Mapping[str, object] | None = None,
        replicas: Mapping[int, Sequence[str]] | None = None,
    ) -> Cluster:
        """Validate and build a cluster from plain values."""
        return cls(
            name,
            tuple(partitions),
            ClusterOptions.from_mapping(options or {}),
            {int(k): tuple(v) for k, v in (replicas or {}).items()},
        )

    @property
    def canonical(self) -> tuple[int, ...]:
        """For each partition, the first partition with the same connect string."""
        first: dict[str, int] = {}
        return tuple(first.setdefault(c, i) for i, c in enumerate(self.partitions))

    def __repr__(self) -> str:
        parts = ", ".join(repr(mask(p)) for p in self.partitions)
        opts = "".join(f", {k}={v!r}" for k, v in self.options.changed().items())
        # a CONNECT call's one-partition cluster is named after its connect string
        return f"Cluster({mask(self.name)!r}, [{parts}]{opts})"
