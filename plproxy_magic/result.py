"""Per-partition results -> one pandas DataFrame, as PL/Proxy's result.c maps them.

Rows are concatenated in first-tag order (never completion order). Columns are mapped to the
function's result columns by exact, case-sensitive name; a scalar result takes the single
remote column whatever its name. Dtypes lose nothing (:mod:`plproxy_magic.columns`).
A partition's result comes either as row tuples (small results) or, for a large result of
a fan-out, as columns its worker already built chunk by chunk
(:class:`~plproxy_magic.columns.Chunks`); both give the same frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from plproxy_magic.columns import Chunks, column, combine
from plproxy_magic.errors import PlProxyError, RowCountError
from plproxy_magic.execute import PartResult

__all__ = ["frame", "to_frame"]

#: up to this many rows, ``zip(*rows)`` is the fastest transpose; beyond, it is the slowest
#: (one iterator per row): one list comprehension per column instead
_ZIP_ROWS = 32


#: column Indexes by names: building one costs ~30 µs, a view of a cached one ~1 µs
_INDEXES: dict[tuple[str, ...], pd.Index] = {}


def _columns_index(columns: list[str]) -> pd.Index:
    key = tuple(columns)
    index = _INDEXES.get(key)
    if index is None:
        if len(_INDEXES) >= 1024:
            _INDEXES.clear()
        index = _INDEXES[key] = pd.Index(columns)
    # A view: a frame's own Index object (``df.columns.name = ...`` stays with that frame).
    return index._view()  # type: ignore[attr-defined, no-any-return]


def _from_arrays(arrays: list[Any], columns: list[str], n: int) -> pd.DataFrame:
    try:
        # The fast constructor: no per-column checks (the arrays are ours and aligned).
        return pd.DataFrame._from_arrays(  # type: ignore[attr-defined, no-any-return]
            arrays, columns=_columns_index(columns), index=pd.RangeIndex(n),
            verify_integrity=False,
        )  # fmt: skip
    except (AttributeError, TypeError):  # a pandas without it
        return pd.DataFrame(dict(zip(columns, arrays, strict=True)), columns=columns)


def _assemble(
    names: list[str],
    arrays: list[Any],
    n: int,
    tags: np.ndarray | None,
    partition_column: str | None,
) -> pd.DataFrame:
    if len(set(names)) != len(names):  # duplicate names: the dict path keeps them apart
        df = pd.DataFrame({i: a for i, a in enumerate(arrays)})
        df.columns = pd.Index(names)
    else:
        df = _from_arrays(arrays, names, n)
    if partition_column is not None and tags is not None:
        tag_array = pd.arrays.IntegerArray(tags, np.zeros(len(tags), dtype=bool))
        df.insert(0, partition_column, pd.Series(tag_array, index=df.index))
    return df


def frame(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    type_oids: Sequence[int | None] | None = None,
    partitions: Sequence[int] | None = None,
    partition_column: str | None = None,
) -> pd.DataFrame:
    """Build a DataFrame column by column with lossless dtypes."""
    width = len(columns)
    if len(rows) <= _ZIP_ROWS:
        cols: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
        values = [list(cols[i]) for i in range(width)]
    else:
        values = [[r[i] for r in rows] for i in range(width)]
    arrays = [column(values[i], type_oids[i] if type_oids is not None else None)
              for i in range(width)]  # fmt: skip
    tags = None
    if partition_column is not None and partitions is not None:
        tags = np.array(partitions, dtype=np.int32)
    return _assemble(list(columns), arrays, len(rows), tags, partition_column)


def _layout(
    r: PartResult, names: list[str] | None, scalar: bool
) -> tuple[list[str] | None, list[int] | None]:
    """The local column names and, when not simply all in order, their remote positions."""
    remote = r.columns or []
    if scalar:
        if len(remote) != 1:
            raise PlProxyError("single field function but got record", partition=r.partition)
        return names, None
    if names is None:
        return remote, None
    idx = _map_columns(names, remote, r.partition)
    return names, None if idx == list(range(len(remote))) else idx


def to_frame(
    results: Sequence[PartResult],
    columns: Sequence[str] | None,
    *,
    scalar: bool,
    setof: bool,
    partition_column: str | None = None,
) -> pd.DataFrame:
    """Combine partition results of one proxy call.

    ``columns``: the function's result column names (None: take the remote names).
    ``scalar``: one result column; the remote column name is ignored, as in PL/Proxy.
    """
    names = list(columns) if columns is not None else None
    if any(r.chunks is not None for r in results):
        return _to_frame_chunked(results, names, scalar, setof, partition_column)
    rows: list[tuple[Any, ...]] = []
    parts: list[int] = []
    oids: list[int | None] | None = None
    for r in results:
        names, idx = _layout(r, names, scalar)
        picked = r.rows
        roids: Sequence[int | None] | None = r.type_oids
        if idx is not None:
            picked = [tuple(row[i] for i in idx) for row in picked]
            roids = [r.type_oids[i] for i in idx] if r.type_oids else None
        if oids is None and roids is not None:
            oids = list(roids)
        rows.extend(picked)
        parts.extend([r.partition] * len(picked))
    if not setof and len(rows) != 1:
        raise RowCountError(len(rows))
    return frame(names or [], rows, oids, parts, partition_column)


def _to_frame_chunked(
    results: Sequence[PartResult],
    names: list[str] | None,
    scalar: bool,
    setof: bool,
    partition_column: str | None,
) -> pd.DataFrame:
    """:func:`to_frame` when some partitions came as columns: the columns are concatenated."""
    pieces: list[list[Any]] | None = None
    oids: list[int | None] | None = None
    counts: list[int] = []
    for r in results:
        names, idx = _layout(r, names, scalar)
        chunks = r.chunks
        if chunks is None:  # a small partition in rows: its columns, one chunk
            chunks = Chunks(r.type_oids or [None] * len(r.columns or []))
            chunks.add(r.rows)
        own = chunks.pieces if idx is None else [chunks.pieces[i] for i in idx]
        roids = chunks.type_oids if idx is None else [chunks.type_oids[i] for i in idx]
        if pieces is None:
            pieces = [[] for _ in own]
        if oids is None and r.type_oids is not None:
            oids = roids
        for mine, theirs in zip(pieces, own, strict=True):
            mine.extend(theirs)
        counts.append(len(chunks))
    total = sum(counts)
    if not setof and total != 1:
        raise RowCountError(total)
    names = names or []
    pieces = pieces or []
    arrays = [combine(pieces[i], oids[i] if oids is not None else None)
              for i in range(len(names))]  # fmt: skip
    tags = None
    if partition_column is not None:
        tags = np.repeat(np.array([r.partition for r in results], dtype=np.int32), counts)
    return _assemble(names, arrays, total, tags, partition_column)


def _map_columns(names: Sequence[str], remote: Sequence[str], partition: int) -> list[int]:
    """Local column -> remote position, by exact name (PL/Proxy's result.c rules)."""
    if len(remote) < len(names):
        raise PlProxyError("Got too few fields from remote end", partition=partition)
    if len(remote) > len(names):
        raise PlProxyError("Got too many fields from remote end", partition=partition)
    idx: list[int] = []
    for i, name in enumerate(names):
        if remote[i] == name:
            idx.append(i)
            continue
        try:
            idx.append(remote.index(name))
        except ValueError:
            raise PlProxyError(
                f"Field {name} does not exists in result", partition=partition
            ) from None
    return idx
