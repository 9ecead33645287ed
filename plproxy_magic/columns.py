"""Python values -> pandas arrays, one result column at a time, with lossless dtypes.

Nullable integers and booleans, NA-aware strings, exact ``Decimal`` numerics, tz-aware
timestamps, ``bytes``, lists for arrays and dicts for json. :func:`column` builds one
array from a list of values; :class:`Chunks` builds a large result's columns chunk by
chunk while its rows arrive, so that only one chunk of row tuples is alive at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from psycopg.postgres import types as pg_types

__all__ = ["Chunks", "column", "combine"]


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
#: types whose chunks become arrays as they arrive, and turn back into the very same Python
#: values (float4 does not: a float32 array would not give back the loaded float)
_EAGER = {*_INTS, _oid("float8"), _BOOL, *_TEXTS}


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


def _values(piece: Any) -> list[Any]:
    """A chunk's Python values: the list itself, or an eager array turned back."""
    if isinstance(piece, list):
        return piece
    return piece.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[no-any-return]


def combine(pieces: Sequence[Any], oid: int | None) -> Any:
    """One pandas array from a column's chunks (as :class:`Chunks` keeps them), in order.

    Eager arrays of one dtype are concatenated; anything else goes through the values.
    """
    arrays = [p for p in pieces if len(p)]
    if arrays and all(not isinstance(p, list) for p in arrays):
        first = arrays[0]
        if oid in _EAGER and all(p.dtype == first.dtype for p in arrays):
            if len(arrays) == 1:
                return first
            return type(first)._concat_same_type(arrays)
    values: list[Any] = []
    for p in arrays:
        values.extend(_values(p))
    return column(values, oid)


class Chunks:
    """A result set's columns, built chunk by chunk in the thread that fetches the rows.

    Integers, float8, booleans and text become pandas arrays at once (the row tuples and
    libpq's chunk can then be freed); other types are kept as lists of Python values and
    become arrays in :func:`combine`. :meth:`rows` gives back the exact rows.
    """

    def __init__(self, type_oids: Sequence[int | None]) -> None:
        self.type_oids = list(type_oids)
        #: per column, its chunks in order
        self.pieces: list[list[Any]] = [[] for _ in self.type_oids]
        self.count = 0

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append a chunk of row tuples."""
        for i, oid in enumerate(self.type_oids):
            values = [r[i] for r in rows]
            self.pieces[i].append(column(values, oid) if oid in _EAGER else values)
        self.count += len(rows)

    def __len__(self) -> int:
        return self.count

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples of the Python values they were loaded as."""
        cols = [[v for p in pieces for v in _values(p)] for pieces in self.pieces]
        if not cols:
            return [() for _ in range(self.count)]
        return list(zip(*cols, strict=True))
