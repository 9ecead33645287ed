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


_DTYPES: dict[int, str] = {
    _oid("int2"): "Int16",
    _oid("int4"): "Int32",
    _oid("int8"): "Int64",
    _oid("oid"): "Int64",
    _oid("float4"): "Float32",
    _oid("float8"): "Float64",
    _oid("bool"): "boolean",
    _oid("text"): "string",
    _oid("varchar"): "string",
    _oid("bpchar"): "string",
    _oid("name"): "string",
}
_TIMESTAMPTZ = _oid("timestamptz")
_TIMESTAMP = _oid("timestamp")


def _column(values: list[Any], oid: int | None) -> Any:
    """A pandas array for one column of Python values."""
    dtype = _DTYPES.get(oid) if oid is not None else None
    if dtype in ("Float32", "Float64"):
        # Keep NaN a value: only SQL NULL is missing.
        mask = np.array([v is None for v in values], dtype=bool)
        data = np.array([0.0 if v is None else v for v in values], dtype=dtype.lower())
        return pd.arrays.FloatingArray(data, mask)
    if dtype is not None:
        return pd.array(values, dtype=dtype)  # type: ignore[call-overload]
    if oid in (_TIMESTAMPTZ, _TIMESTAMP) and values:
        return pd.array(pd.to_datetime(pd.Series(values, dtype=object), utc=oid == _TIMESTAMPTZ))
    # numeric stays Decimal, json dict/list, arrays list, bytea bytes: exact objects.
    arr = pd.array(values, dtype=object)
    return arr


def frame(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    type_oids: Sequence[int | None] | None = None,
    partitions: Sequence[int] | None = None,
    partition_column: str | None = None,
) -> pd.DataFrame:
    """Build a DataFrame column by column with lossless dtypes."""
    data: dict[str, Any] = {}
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    for i, name in enumerate(columns):
        oid = type_oids[i] if type_oids is not None else None
        data[name] = _column(list(cols[i]), oid)
    df = pd.DataFrame(data, columns=list(columns))
    if partition_column is not None and partitions is not None:
        df.insert(0, partition_column, pd.Series(list(partitions), dtype="Int32"))
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
