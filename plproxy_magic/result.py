"""Per-partition results -> one pandas DataFrame, as PL/Proxy's result.c maps them.

Rows are concatenated in first-tag order (never completion order). Columns are mapped to the
function's result columns by exact, case-sensitive name; a scalar result takes the single
remote column whatever its name. Dtypes lose nothing: nullable integers and booleans,
NA-aware strings, exact ``Decimal`` numerics, tz-aware timestamps, ``bytes``, lists for arrays
and dicts for json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from psycopg.postgres import types as pg_types

from plproxy_magic.errors import PlProxyError, RowCountError
from plproxy_magic.execute import PartResult

__all__ = ["frame", "to_frame"]


def _oid(name: str) -> int:
    info = pg_types.get(name)
    assert info is not None
    return int(info.oid)


_INTS = {_oid("int2"): np.int16, _oid("int4"): np.int32, _oid("int8"): np.int64,
         _oid("oid"): np.int64}  # fmt: skip
_FLOATS = {_oid("float4"): np.float32, _oid("float8"): np.float64}
_BOOL = _oid("bool")
_TEXTS = {_oid("text"), _oid("varchar"), _oid("bpchar"), _oid("name")}
_STRING = pd.StringDtype()
_TIMESTAMPTZ = _oid("timestamptz")
_TIMESTAMP = _oid("timestamp")


def _masked(values: list[Any], np_type: Any, fill: Any) -> tuple[np.ndarray, np.ndarray]:
    mask = np.array([v is None for v in values], dtype=bool)
    if mask.any():
        values = [fill if v is None else v for v in values]
    return np.array(values, dtype=np_type), mask


def _column(values: list[Any], oid: int | None) -> Any:
    """A pandas array for one column of Python values.

    Arrays are built directly (no dtype-string parsing, no inference): a one-row result is
    on the hot path of every routed call.
    """
    if oid in _INTS:
        data, mask = _masked(values, _INTS[oid], 0)
        return pd.arrays.IntegerArray(data, mask)
    if oid in _FLOATS:
        # Keep NaN a value: only SQL NULL is missing.
        data, mask = _masked(values, _FLOATS[oid], 0.0)
        return pd.arrays.FloatingArray(data, mask)
    if oid in _TEXTS:
        return pd.arrays.StringArray._from_sequence(values, dtype=_STRING)  # type: ignore[attr-defined]
    if oid == _BOOL:
        data, mask = _masked(values, bool, False)
        return pd.arrays.BooleanArray(data, mask)
    if oid in (_TIMESTAMPTZ, _TIMESTAMP) and values:
        return pd.array(pd.to_datetime(pd.Series(values, dtype=object), utc=oid == _TIMESTAMPTZ))
    # numeric stays Decimal, json dict/list, arrays list, bytea bytes: exact objects.
    return pd.array(values, dtype=object)


def _from_arrays(arrays: list[Any], columns: list[str], n: int) -> pd.DataFrame:
    try:
        # The fast constructor: no per-column checks (the arrays are ours and aligned).
        return pd.DataFrame._from_arrays(  # type: ignore[attr-defined, no-any-return]
            arrays, columns=pd.Index(columns), index=pd.RangeIndex(n), verify_integrity=False
        )
    except (AttributeError, TypeError):  # a pandas without it
        return pd.DataFrame(dict(zip(columns, arrays, strict=True)), columns=columns)


def frame(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    type_oids: Sequence[int | None] | None = None,
    partitions: Sequence[int] | None = None,
    partition_column: str | None = None,
) -> pd.DataFrame:
    """Build a DataFrame column by column with lossless dtypes."""
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    arrays = []
    for i in range(len(columns)):
        oid = type_oids[i] if type_oids is not None else None
        arrays.append(_column(list(cols[i]), oid))
    names = list(columns)
    if len(set(names)) != len(names):  # duplicate names: the dict path keeps them apart
        df = pd.DataFrame({i: a for i, a in enumerate(arrays)})
        df.columns = pd.Index(names)
    else:
        df = _from_arrays(arrays, names, len(rows))
    if partition_column is not None and partitions is not None:
        tags = np.array(list(partitions), dtype=np.int32)
        column = pd.arrays.IntegerArray(tags, np.zeros(len(tags), dtype=bool))
        df.insert(0, partition_column, pd.Series(column, index=df.index))
    return df


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
    rows: list[tuple[Any, ...]] = []
    parts: list[int] = []
    oids: list[int | None] | None = None
    for r in results:
        remote = r.columns or []
        if scalar:
            if len(remote) != 1:
                raise PlProxyError("single field function but got record", partition=r.partition)
            picked = r.rows
            roids = r.type_oids
        elif names is None:
            names = remote
            picked, roids = r.rows, r.type_oids
        else:
            idx = _map_columns(names, remote, r.partition)
            picked = (
                [tuple(row[i] for i in idx) for row in r.rows]
                if idx != list(range(len(remote)))
                else r.rows
            )
            roids = [r.type_oids[i] for i in idx] if r.type_oids else None
        if oids is None and roids is not None:
            oids = list(roids)
        rows.extend(picked)
        parts.extend([r.partition] * len(picked))
    if not setof and len(rows) != 1:
        raise RowCountError(len(rows))
    if names is None:
        names = []
    return frame(names, rows, oids, parts, partition_column)


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
