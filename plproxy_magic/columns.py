"""Python values -> pandas arrays, one result column at a time, with lossless dtypes.

Nullable integers and booleans, NA-aware strings, exact ``Decimal`` numerics, tz-aware
timestamps, ``bytes``, lists for arrays and dicts for json. :func:`column` builds one
array from a list of values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from psycopg.postgres import types as pg_types

__all__ = ["column"]


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
    # ``None in`` is a fast scan; the mask is only built when there is a NULL.
    if None not in values:
        return np.array(values, dtype=np_type), np.zeros(len(values), dtype=bool)
    mask = np.array([v is None for v in values], dtype=bool)
    values = [fill if v is None else v for v in values]
    return np.array(values, dtype=np_type), mask


def column(values: list[Any], oid: int | None) -> Any:
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
