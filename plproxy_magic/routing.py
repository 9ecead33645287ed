"""Pure partition selection: hash -> partition, RUN ON ALL/ANY/NR/hash, SPLIT. No I/O.

PL/Proxy tags *connections*, not partition slots: partitions that share one connect string
are one connection, queried at most once per call, and rows come back in the order in which
connections were first tagged. :func:`route` therefore takes ``canonical``, which maps every
partition to the first partition with the same connect string, and reports the tagged
canonical partitions in first-tag order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plproxy_magic.errors import RoutingError, SqlError
from plproxy_magic.language.ast import ArgRef, FuncCall, RunAll, RunAny, RunNr, RunOn, UnknownRef

__all__ = ["Route", "check_hash", "partition_of", "route"]

_INT8_MIN, _INT8_MAX = -(2**63), 2**63 - 1


def partition_of(h: int, nparts: int, modular: bool = False) -> int:
    """PL/Proxy's ``tag_part``: ``h & (n-1)``, or ``abs(h) % n`` with modular mapping.

    Python's ``&`` on a negative int is two's complement like C's; Python's ``%`` is not C's,
    hence ``abs``.
    """
    return abs(h) % nparts if modular else h & (nparts - 1)


def check_hash(value: Any) -> int:
    """Validate one hash value as PL/Proxy does (int2/int4/int8 only, never NULL)."""
    if value is None:
        raise RoutingError("Hash function returned NULL")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise RoutingError("Hash result must be int2, int4 or int8")
    h = int(value)
    if not _INT8_MIN <= h <= _INT8_MAX:
        raise RoutingError("Hash result must be int2, int4 or int8")
    return h


@dataclass
class Route:
    """Where one call goes.

    ``partitions``: canonical partition numbers in first-tag order (empty: no remote call).
    ``split``: for SPLIT calls, per partition, the argument values with the split arrays
    replaced by that partition's sub-arrays.
    """

    partitions: list[int] = field(default_factory=list)
    split: dict[int, list[Any]] | None = None


HashSource = Callable[[Sequence[Any]], list[Any]]


def _hashes(run_on: RunOn, values: Sequence[Any], hash_source: HashSource | None) -> list[Any]:
    if isinstance(run_on, ArgRef):
        return [values[run_on.index]]
    if isinstance(run_on, FuncCall):
        assert hash_source is not None
        return hash_source(values)
    assert isinstance(run_on, UnknownRef)
    raise SqlError(f'column "{run_on.name}" does not exist', sqlstate="42703")


def _tag_one(
    run_on: RunOn,
    values: Sequence[Any],
    nparts: int,
    canonical: Sequence[int],
    *,
    modular: bool,
    setof: bool,
    rng: random.Random,
    hash_source: HashSource | None,
) -> list[int]:
    """The canonical partitions one evaluation of RUN ON tags, in order."""
    if isinstance(run_on, RunAll):
        return list(canonical)
    if isinstance(run_on, RunAny):
        return [canonical[partition_of(rng.getrandbits(31), nparts, modular)]]
    if isinstance(run_on, RunNr):
        if not 0 <= run_on.nr < nparts:
            raise RoutingError("part number out of range")
        return [canonical[run_on.nr]]
    hashes = _hashes(run_on, values, hash_source)
    if not setof and len(hashes) != 1:
        raise RoutingError("Only set-returning function allows hashcount <> 1")
    return [canonical[partition_of(check_hash(h), nparts, modular)] for h in hashes]


def _split_length(arr: Any) -> int:
    if arr is None:
        return 0
    if isinstance(arr, np.ndarray) and arr.ndim > 1:
        raise RoutingError("split multi-dimensional arrays are not supported")
    items = list(arr)
    if any(isinstance(x, (list, tuple, np.ndarray)) for x in items):
        raise RoutingError("split multi-dimensional arrays are not supported")
    return len(items)


def route(
    run_on: RunOn | None,
    values: Sequence[Any],
    nparts: int,
    canonical: Sequence[int],
    *,
    modular: bool = False,
    setof: bool = True,
    split: Sequence[int] = (),
    rng: random.Random | None = None,
    hash_source: HashSource | None = None,
) -> Route:
    """Select partitions for one call.

    ``values`` are the IN/INOUT argument values; ``hash_source(values)`` evaluates a
    ``RUN ON func(...)`` expression; ``split`` lists the argument indexes being split.
    """
    run = run_on if run_on is not None else RunAny()
    rng = rng or random.Random()
    kw = dict(modular=modular, setof=setof, rng=rng, hash_source=hash_source)
    if not split:
        tagged = _tag_one(run, values, nparts, canonical, **kw)  # type: ignore[arg-type]
        return Route(list(dict.fromkeys(tagged)))

    lengths = {_split_length(values[i]) for i in split}
    if len(lengths) > 1:
        raise RoutingError("split arrays must be of identical lengths")
    n = lengths.pop()
    arrays = [list(values[i]) if values[i] is not None else [] for i in split]
    order: dict[int, None] = {}
    parts: dict[int, list[list[Any]]] = {}
    element_values = list(values)
    for row in range(n):
        for j, i in enumerate(split):
            element_values[i] = arrays[j][row]
        for p in _tag_one(run, element_values, nparts, canonical, **kw):  # type: ignore[arg-type]
            order.setdefault(p, None)
            subs = parts.setdefault(p, [[] for _ in split])
            for j in range(len(split)):
                subs[j].append(arrays[j][row])
    per_part: dict[int, list[Any]] = {}
    for p, subs in parts.items():
        vals = list(values)
        for j, i in enumerate(split):
            vals[i] = subs[j]
        per_part[p] = vals
    return Route(list(order), per_part)
