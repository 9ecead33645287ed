"""The second stage of two-stage aggregation: per-partition partial aggregates -> final values.

PL/Proxy's FAQ: aggregation over partitions runs in stages — each partition aggregates its own
rows, the proxy collects one row per partition and group, and a top level combines them
("``avg()`` cannot be done naively: each partition must do ``sum() + count()``").
:func:`combine` is that top level. It merges partial columns so the result equals what one
database would have computed over the union of the rows::

    combine(partials, by="region",
            total=("s", "sum"), n=("n", "count"), mean=(("s", "n"), "avg"),
            names=("names", "string_agg", ", "), sd=(("n", "mean", "m2"), "stddev_samp"))

Groups come out sorted by the ``by`` columns, a NULL key being a group of its own sorted last
(``dropna=False``); without ``by`` there is exactly one row, even over no rows, as for an SQL
aggregate without GROUP BY. ``df.plproxy.combine(...)`` is the same as a DataFrame accessor.

How exact, and where it differs from PostgreSQL:

* Integers are summed without int64 overflow (Python ints past int64); ``Decimal`` sums are
  exact and keep PostgreSQL's scale (the largest input scale).
* ``avg`` of integer or ``Decimal`` sums is the ``Decimal`` PostgreSQL's ``avg`` returns, value
  *and* scale: numeric.c's division scale rule (at least 16 significant digits, never less
  than the sum's scale) and rounding half away from zero; see :func:`_pg_div`.
* Float sums add partial sums, so the last bits can differ from one database adding rows in
  another order (exact whenever the partial sums are).
* Variances are Float64 (PostgreSQL returns numeric for integer and numeric input). The merge
  itself is accurate to float rounding; the partials bound the rest: PostgreSQL rounds
  ``avg(x)`` to at least 16 significant digits, which costs about 1e-16·|mean|/stddev relative.
* Strings compare by code point, i.e. ``COLLATE "C"``: partial ``min``/``max`` of text should
  be computed with ``COLLATE "C"`` too, or a linguistic collation's answer may differ.
* NaN sorts above every number (``max`` is NaN if any partial is, ``min`` only if all are),
  and count_distinct counts all NaNs as one value, as PostgreSQL does.
* NULL is the mask of nullable columns, NaN in NumPy float columns, and ``None``, ``pd.NA``,
  ``NaT`` or a float NaN in object columns; ``Decimal('NaN')`` (numeric's NaN) and NaN in
  Float64 columns are values.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from plproxy_magic.errors import CallError

__all__ = ["COMBINERS", "OutputSpec", "PlProxyAccessor", "combine"]

Columns: TypeAlias = str | tuple[str, ...]
#: ``(columns, combiner)``, or ``(column, "string_agg", separator)``.
OutputSpec: TypeAlias = tuple[Columns, str] | tuple[Columns, str, str | bytes]

_Array: TypeAlias = npt.NDArray[Any]
_INT64_MAX = 2**63 - 1
# Wide enough that adding or subtracting numerics is always exact; no operation that could
# produce endless digits (division) ever runs under it.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[]
)


# ---------------------------------------------------------------------------------------------
# groups


class _Groups:
    """Group number of every partial row (``codes``, groups numbered in output order).

    ``order`` is a stable sort of the rows by group, so each group's rows keep partition
    (row) order; ``bounds[g]:bounds[g + 1]`` are group *g*'s positions in that order.
    """

    def __init__(self, codes: _Array, count: int) -> None:
        self.codes = codes
        self.count = count
        self.rows = len(codes)
        self.order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[self.order], np.arange(count))
        self.bounds: npt.NDArray[np.intp] = np.append(starts, self.rows)

    def add(self, values: _Array) -> _Array:
        """Per-group sums in the values' own arithmetic (exact for int64 and Python objects)."""
        if self.rows == 0:
            return np.zeros(self.count, dtype=values.dtype)  # object zeros are int 0
        return np.add.reduceat(values[self.order], self.bounds[:-1])

    def tally(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """How many rows of each group have ``mask`` set."""
        return np.bincount(self.codes[mask], minlength=self.count).astype(np.int64)

    def fsum(self, values: npt.NDArray[np.float64], rows: _Array | None = None) -> _Array:
        """Float sums per group, in row order (NaN and infinities propagate)."""
        codes = self.codes if rows is None else self.codes[rows]
        return np.bincount(codes, weights=values, minlength=self.count)

    def segments(self, values: _Array) -> Iterator[list[Any]]:
        """Each group's values as a list, in row order."""
        ordered = values[self.order].tolist()
        bounds = self.bounds.tolist()
        for g in range(self.count):
            yield ordered[bounds[g] : bounds[g + 1]]

    def first(self, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
        """Row of the first ``mask`` row of each group, -1 where there is none."""
        rows = np.flatnonzero(mask)
        found, at = np.unique(self.codes[rows], return_index=True)
        out = np.full(self.count, -1, dtype=np.intp)
        out[found] = rows[at]
        return out


def _group(partials: pd.DataFrame, by: list[str] | None) -> tuple[pd.DataFrame, _Groups]:
    if by is None:
        return pd.DataFrame(index=pd.RangeIndex(1)), _Groups(np.zeros(len(partials), np.int64), 1)
    try:
        grouped = partials.groupby(by, sort=True, dropna=False, observed=True)
        codes = grouped.ngroup().to_numpy(dtype=np.int64)
    except TypeError as e:
        raise CallError(f"combine: cannot group by {', '.join(by)}: {e}") from e
    groups = _Groups(codes, int(grouped.ngroups))
    first_rows = groups.bounds[:-1][: groups.count]
    keys = partials[by].iloc[groups.order[first_rows]].reset_index(drop=True)
    return keys, groups


# ---------------------------------------------------------------------------------------------
# column helpers


def _nullable(col: pd.Series) -> pd.Series:
    """NumPy int/float/bool columns as their nullable pandas dtypes (NaN there means NULL)."""
    kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else ""
    if kind in ("i", "u"):
        return col.astype("UInt64" if kind == "u" else "Int64")
    if kind == "f":
        return col.astype("Float64")
    if kind == "b":
        return col.astype("boolean")
    return col


def _null(col: pd.Series) -> npt.NDArray[np.bool_]:
    """SQL NULLs: pandas' missing values, except ``Decimal('NaN')``, numeric's NaN."""
    null = col.isna().to_numpy(dtype=bool, copy=True)
    if col.dtype == object and null.any():
        at = np.flatnonzero(null)
        null[at] = [not isinstance(v, Decimal) for v in col.to_numpy()[at]]
    return null


def _objects(col: pd.Series) -> _Array:
    """The column as a 1-d object array (a copy) with ``None`` for NULL."""
    out = col.to_numpy(dtype=object, copy=True)
    out[_null(col)] = None
    return out


def _floats(col: pd.Series) -> npt.NDArray[np.float64]:
    """Float values (NULL as 0.0; NaN stays NaN)."""
    if col.dtype == object:
        return np.array([0.0 if v is None else float(v) for v in _objects(col)], dtype=float)
    return col.to_numpy(dtype=np.float64, na_value=0.0)


def _number_kind(t: type) -> str:
    if issubclass(t, bool | np.bool_):
        return "bool"
    if issubclass(t, int | np.integer):
        return "int"
    if issubclass(t, Decimal):
        return "decimal"
    return "float" if issubclass(t, float | np.floating) else "other"


def _numeric_kind(col: pd.Series, name: str) -> str:
    """``int``, ``decimal`` or ``float``: how a numeric column sums."""
    if pd.api.types.is_bool_dtype(col.dtype):
        raise CallError(f"combine: column {name!r} is boolean, not numeric")
    if pd.api.types.is_integer_dtype(col.dtype):
        return "int"
    if pd.api.types.is_float_dtype(col.dtype):
        return "float"
    if col.dtype == object:
        kinds = {_number_kind(t) for t in set(map(type, _objects(col))) - {type(None)}}
        if kinds == {"int"}:
            return "int"
        if kinds <= {"int", "decimal"}:  # also no values at all: an object column is numeric
            return "decimal"
        if kinds <= {"int", "float"}:
            return "float"
    raise CallError(f"combine: column {name!r} is not numeric ({col.dtype})")


def _object_array(values: Sequence[Any]) -> _Array:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # element by element: lists must stay lists
        out[i] = v
    return out


def _ints(col: pd.Series, name: str) -> _Array:
    """An integer column as int64 (NULL as 0) when it fits, else Python ints (object)."""
    if col.dtype == object:
        try:
            values = [0 if v is None else int(v) for v in _objects(col)]
        except (TypeError, ValueError, OverflowError) as e:
            raise CallError(f"combine: column {name!r} does not hold integers") from e
        if all(-(2**63) <= v <= _INT64_MAX for v in values):
            return np.array(values, dtype=np.int64)
        return _object_array(values)
    if col.dtype == "UInt64":
        return _ints(col.astype(object), name)
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64, na_value=0)
    if pd.api.types.is_float_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        floats = _floats(col)
        if np.all(np.abs(floats) < 2**63) and np.array_equal(floats, np.trunc(floats)):
            return floats.astype(np.int64)
    raise CallError(f"combine: column {name!r} does not hold integers")


# ---------------------------------------------------------------------------------------------
# sums


@dataclass
class _Total:
    """Per-group sums: ``kind`` int / decimal / float, ``values``, ``null`` (no non-NULL input)."""

    kind: str
    values: _Array
    null: npt.NDArray[np.bool_]

    def array(self) -> Any:
        if self.kind == "float":
            return pd.arrays.FloatingArray(self.values.astype(np.float64), self.null.copy())
        if self.values.dtype == np.int64:
            return pd.arrays.IntegerArray(self.values, self.null.copy())
        out = self.values.copy()
        out[self.null] = None
        if self.kind == "int" and all(-(2**63) <= v <= _INT64_MAX for v in out[~self.null]):
            return pd.array(out, dtype="Int64")
        return out


def _sum(col: pd.Series, name: str, groups: _Groups) -> _Total:
    kind = _numeric_kind(col, name)
    null = groups.tally(~_null(col)) == 0
    if kind == "float":
        return _Total(kind, groups.fsum(_floats(col)), null)
    if kind == "decimal":
        values = _objects(col)
        values[_null(col)] = Decimal(0)  # exponent 0: leaves every scale as it is
        if any(not isinstance(v, Decimal) for v in values):  # Decimal + numpy int fails
            values = _object_array(
                [v if isinstance(v, Decimal) else Decimal(int(v)) for v in values]
            )
        with decimal.localcontext(_EXACT):
            return _Total(kind, groups.add(values), null)
    return _Total(kind, _int_sums(_ints(col, name), groups), null)


def _int_sums(ints: _Array, groups: _Groups) -> _Array:
    """Exact per-group sums: int64 when every total fits, else Python ints (object)."""
    if ints.dtype == object:
        return groups.add(ints)
    # Add the high and low 32 bits separately (neither can overflow below 2**31 rows), then
    # recombine where the total fits in int64.
    hi, lo = groups.add(ints >> 32), groups.add(ints & 0xFFFFFFFF)
    fits = (hi >= -(2**31)) & (hi < 2**31)
    shifted = np.where(fits, hi, 0) << 32
    fits &= shifted <= _INT64_MAX - lo
    if fits.all():
        return shifted + lo
    return _object_array([h * 2**32 + v for h, v in zip(hi.tolist(), lo.tolist(), strict=True)])


def _count(col: pd.Series, name: str, groups: _Groups) -> Any:
    totals = _int_sums(_ints(col, name), groups)  # NULL partial counts add nothing
    if totals.dtype == object and not all(v <= _INT64_MAX for v in totals):
        raise CallError(f"combine: count of column {name!r} overflows bigint")
    return pd.arrays.IntegerArray(totals.astype(np.int64), np.zeros(groups.count, dtype=bool))


# ---------------------------------------------------------------------------------------------
# avg: PostgreSQL's numeric division


def _pg_div(total: Decimal | int, count: int) -> Decimal:
    """``total / count`` exactly as PostgreSQL's ``numeric_div`` (what ``avg`` ends with).

    The result scale is numeric.c's ``select_div_scale``: enough decimals for at least 16
    significant digits (``NUMERIC_MIN_SIG_DIGITS``), estimated from the base-10000 weights
    and leading digits of both operands, never less than the dividend's scale, at most 1000;
    the quotient is rounded half away from zero.
    """
    if isinstance(total, Decimal):
        if not total.is_finite():
            return total  # NaN / n is NaN, ±Infinity / n (n > 0) is ±Infinity
        exp = total.as_tuple().exponent
        assert isinstance(exp, int)
        value = int(total.scaleb(-exp, _EXACT))
    else:
        value, exp = total, 0
    coef = abs(value)
    if coef:
        weight1 = (len(str(coef)) - 1 + exp) // 4
        shift = exp - 4 * weight1
        first1 = coef * 10**shift if shift >= 0 else coef // 10**-shift
    else:
        weight1 = first1 = 0
    weight2 = (len(str(count)) - 1) // 4
    first2 = count // 10 ** (4 * weight2)
    qweight = weight1 - weight2 - (1 if first1 <= first2 else 0)
    rscale = min(max(16 - 4 * qweight, -exp, 0), 1000)
    e = exp + rscale
    num, den = (coef * 10**e, count) if e >= 0 else (coef, count * 10**-e)
    q, r = divmod(num, den)
    q += 2 * r >= den
    return Decimal(q if value >= 0 else -q).scaleb(-rscale, _EXACT)


def _avg(cols: list[pd.Series], names: tuple[str, ...], groups: _Groups) -> Any:
    total = _sum(cols[0], names[0], groups)
    counts = _count(cols[1], names[1], groups).to_numpy(dtype=np.int64)
    null = total.null | (counts == 0)
    if total.kind == "float":
        with np.errstate(divide="ignore", invalid="ignore"):
            means = total.values / np.where(null, 1, counts)
        return pd.arrays.FloatingArray(means.astype(np.float64), null)
    return _object_array(
        [
            None if z else _pg_div(s, n)
            for s, n, z in zip(total.values.tolist(), counts.tolist(), null.tolist(), strict=True)
        ]
    )


# ---------------------------------------------------------------------------------------------
# variance: Chan et al.


def _mean_offsets(col: pd.Series, rows: _Array, refs: _Array, name: str) -> _Array:
    """``mean[rows] - mean[refs]`` as floats, the difference taken exactly for Decimals."""
    if col.dtype == object:
        values = _objects(col)
        try:
            with decimal.localcontext(_EXACT):
                return (values[rows] - values[refs]).astype(np.float64)
        except TypeError as e:
            raise CallError(f"combine: column {name!r} is not numeric") from e
    floats = _floats(col)
    return floats[rows] - floats[refs]


def _moments(
    cols: list[pd.Series], names: tuple[str, ...], groups: _Groups
) -> tuple[_Array, _Array]:
    """Total count and M2 per group from partial (count, mean, M2) rows.

    Chan et al.'s pairwise update generalised to k parts: with N = Σnᵢ and mean = Σnᵢmeanᵢ/N,
    M2 = ΣM2ᵢ + Σnᵢ(meanᵢ - mean)². Every term is non-negative, so nothing cancels; means are
    taken relative to the group's first partial mean (exactly, for Decimals) so the float
    arithmetic only ever sees small offsets.
    """
    n = _ints(cols[0], names[0]).astype(np.float64)
    use = (n > 0) & ~_null(cols[0]) & ~_null(cols[1]) & ~_null(cols[2])
    rows = np.flatnonzero(use)
    refs = groups.first(use)[groups.codes[rows]]
    offsets = _mean_offsets(cols[1], rows, refs, names[1])
    if cols[2].dtype == object:
        m2 = np.array([float(v) for v in _objects(cols[2])[rows]], dtype=np.float64)
    else:
        m2 = _floats(cols[2])[rows]
    weights = n[rows]
    total = groups.fsum(weights, rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = groups.fsum(weights * offsets, rows) / total
    dev = offsets - shift[groups.codes[rows]]
    m2_total = groups.fsum(m2, rows) + groups.fsum(weights * dev * dev, rows)
    return total, np.maximum(m2_total, 0.0)


def _variance(
    sample: bool, root: bool
) -> Callable[[list[pd.Series], tuple[str, ...], _Groups], Any]:
    def combine_variance(cols: list[pd.Series], names: tuple[str, ...], groups: _Groups) -> Any:
        total, m2 = _moments(cols, names, groups)
        null = total < (2 if sample else 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = m2 / (total - 1 if sample else total)
        values = np.sqrt(var) if root else var
        return pd.arrays.FloatingArray(np.where(null, 0.0, values), null)

    return combine_variance


# ---------------------------------------------------------------------------------------------
# min / max / first / bool


def _is_nan(v: Any) -> bool:
    return isinstance(v, float | Decimal) and v != v


def _extreme(largest: bool) -> Callable[[pd.Series, str, _Groups], Any]:
    """min or max over non-NULL partials; NaN sorts above all numbers, as in PostgreSQL."""

    def combine_extreme(col: pd.Series, name: str, groups: _Groups) -> Any:
        col = _nullable(col)
        if col.dtype == object:
            return _object_extreme(col, name, groups, largest)
        if pd.api.types.is_string_dtype(col.dtype):
            return _ranked_extreme(col, groups, largest)
        nan = np.zeros(len(col), dtype=bool)
        if pd.api.types.is_float_dtype(col.dtype):
            nan = np.isnan(col.to_numpy(dtype=np.float64, na_value=0.0))
            col = col.mask(nan)
        grouped = col.groupby(groups.codes, sort=True)
        result = (grouped.max() if largest else grouped.min()).reindex(range(groups.count))
        if not nan.any():
            return result.array
        with_nan = groups.tally(nan) > 0
        use_nan = with_nan if largest else with_nan & (groups.tally(~_null(col)) == 0)
        values = result.to_numpy(dtype=np.float64, na_value=0.0, copy=True)
        values[use_nan] = np.nan
        return pd.arrays.FloatingArray(values, _null(result) & ~use_nan).astype(col.dtype)

    return combine_extreme


def _ranked_extreme(col: pd.Series, groups: _Groups, largest: bool) -> Any:
    """min / max by sorted rank: far faster than pandas' groupby for string dtypes."""
    ranks, uniques = pd.factorize(col.array, sort=True)  # NULL -> -1; code point order
    none = -1 if largest else len(uniques)
    ranks = np.where(_null(col), none, ranks)
    if groups.rows:
        pick = np.maximum if largest else np.minimum
        best = pick.reduceat(ranks[groups.order], groups.bounds[:-1])
    else:
        best = np.full(groups.count, none)
    return uniques.take(np.where(best == none, -1, best), allow_fill=True)


def _object_extreme(col: pd.Series, name: str, groups: _Groups, largest: bool) -> _Array:
    pick = max if largest else min
    out: list[Any] = []
    for values in groups.segments(_objects(col)):
        present = [v for v in values if v is not None]
        numbers = [v for v in present if not _is_nan(v)]
        nans = [v for v in present if _is_nan(v)]
        if nans and (largest or not numbers):
            out.append(nans[0])
            continue
        try:
            out.append(pick(numbers) if numbers else None)
        except TypeError as e:
            raise CallError(f"combine: cannot order the values of column {name!r}: {e}") from e
    return _object_array(out)


def _first(col: pd.Series, name: str, groups: _Groups) -> Any:
    col = _nullable(col)
    rows = groups.first(~_null(col))
    if col.dtype == object:
        values = _objects(col)
        return _object_array([values[r] if r >= 0 else None for r in rows.tolist()])
    return col.array.take(rows, allow_fill=True)


def _boolean(every: bool) -> Callable[[pd.Series, str, _Groups], Any]:
    def combine_bool(col: pd.Series, name: str, groups: _Groups) -> Any:
        bools = pd.api.types.is_bool_dtype(col.dtype) or (
            col.dtype == object and set(map(type, _objects(col))) <= {bool, np.bool_, type(None)}
        )
        if not bools:
            raise CallError(f"combine: column {name!r} is not boolean")
        col = col.astype("boolean")
        valid = ~_null(col)
        trues = groups.tally(valid & col.to_numpy(dtype=bool, na_value=False))
        present = groups.tally(valid)
        return pd.arrays.BooleanArray(trues == present if every else trues > 0, present == 0)

    return combine_bool


# ---------------------------------------------------------------------------------------------
# lists and strings


def _array_agg(col: pd.Series, name: str, groups: _Groups) -> _Array:
    out: list[list[Any] | None] = []
    for parts in groups.segments(_objects(col)):
        items = [item for part in parts if part is not None for item in part]
        out.append(items if items else None)
    return _object_array(out)


def _string_agg(col: pd.Series, name: str, groups: _Groups, sep: str | bytes) -> Any:
    out: list[Any] = []
    for parts in groups.segments(_objects(col)):
        present = [p for p in parts if p is not None]
        try:
            out.append(sep.join(present) if present else None)
        except TypeError as e:
            raise CallError(f"combine: string_agg of column {name!r}: {e}") from e
    return pd.array(out, dtype="string") if isinstance(sep, str) else _object_array(out)


class _NaN:
    """One key for every NaN: PostgreSQL's DISTINCT treats NaNs as equal."""


def _distinct_key(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(_distinct_key(x) for x in v)
    return _NaN if _is_nan(v) else v


def _count_distinct(col: pd.Series, name: str, groups: _Groups) -> Any:
    out: list[int] = []
    for parts in groups.segments(_objects(col)):
        seen = {_distinct_key(v) for part in parts if part is not None for v in part}
        seen -= {None, pd.NA}
        out.append(len(seen))
    return pd.array(out, dtype="Int64")


# ---------------------------------------------------------------------------------------------
# the table of combiners


def _single(fn: Callable[[pd.Series, str, _Groups], Any]) -> Callable[..., Any]:
    def apply(cols: list[pd.Series], names: tuple[str, ...], groups: _Groups) -> Any:
        return fn(cols[0], names[0], groups)

    return apply


_ONE = ("column",)
_MOMENTS = ("count", "mean", "m2")
_SUM_COUNT = ("sum", "count")

#: combiner name -> (input roles, implementation)
_COMBINERS: dict[str, tuple[tuple[str, ...], Callable[..., Any]]] = {
    "sum": (_ONE, _single(lambda c, n, g: _sum(c, n, g).array())),
    "count": (_ONE, _single(_count)),
    "min": (_ONE, _single(_extreme(largest=False))),
    "max": (_ONE, _single(_extreme(largest=True))),
    "avg": (_SUM_COUNT, _avg),
    "bool_and": (_ONE, _single(_boolean(every=True))),
    "bool_or": (_ONE, _single(_boolean(every=False))),
    "var_samp": (_MOMENTS, _variance(sample=True, root=False)),
    "var_pop": (_MOMENTS, _variance(sample=False, root=False)),
    "stddev_samp": (_MOMENTS, _variance(sample=True, root=True)),
    "stddev_pop": (_MOMENTS, _variance(sample=False, root=True)),
    "variance": (_MOMENTS, _variance(sample=True, root=False)),
    "stddev": (_MOMENTS, _variance(sample=True, root=True)),
    "array_agg": (_ONE, _single(_array_agg)),
    "string_agg": (_ONE, _string_agg),
    "count_distinct": (_ONE, _single(_count_distinct)),
    "first": (_ONE, _single(_first)),
}
#: The combiner names :func:`combine` accepts.
COMBINERS: tuple[str, ...] = tuple(_COMBINERS)


@dataclass(frozen=True)
class _Output:
    name: str
    columns: tuple[str, ...]
    combiner: str
    separator: str | bytes | None


def _parse_output(name: str, spec: object, columns: pd.Index) -> _Output:
    shape = "(columns, combiner) or (column, 'string_agg', separator)"
    if not isinstance(spec, tuple | list) or len(spec) not in (2, 3):
        raise CallError(f"combine: output {name!r} must be {shape}, got {spec!r}")
    cols, how = spec[0], spec[1]
    if not isinstance(how, str) or how.lower() not in _COMBINERS:
        known = ", ".join(_COMBINERS)
        raise CallError(f"combine: unknown combiner {how!r} for output {name!r} (known: {known})")
    how = how.lower()
    cols = (cols,) if isinstance(cols, str) else tuple(cols)
    roles = _COMBINERS[how][0]
    if len(cols) != len(roles):
        want = f"{len(roles)} input column{'s' if len(roles) > 1 else ''}"
        role_names = f" ({', '.join(roles)})" if len(roles) > 1 else ""
        raise CallError(
            f"combine: {how} takes {want}{role_names}, got {len(cols)} for output {name!r}"
        )
    sep = spec[2] if len(spec) == 3 else None
    if how == "string_agg" and not isinstance(sep, str | bytes):
        raise CallError(
            f"combine: string_agg needs a separator: {name}=(column, 'string_agg', ', ')"
        )
    if how != "string_agg" and len(spec) == 3:
        raise CallError(f"combine: {how} takes no third element (output {name!r})")
    for c in cols:
        if c not in columns:
            raise CallError(
                f"combine: column {c!r} (for output {name!r}) not in partials; "
                f"columns are: {', '.join(map(str, columns))}"
            )
    return _Output(name, cols, how, sep)


def combine(
    partials: pd.DataFrame,
    /,
    by: str | Sequence[str] | None = None,
    **outputs: OutputSpec,
) -> pd.DataFrame:
    """Combine per-partition partial aggregates into final values, one row per group.

    ``by``: the group columns (None: one group over all rows, one output row even when
    ``partials`` is empty). Each keyword names an output column, in order after the ``by``
    columns: ``name=(input_columns, combiner)``, or ``name=(column, "string_agg", sep)``.

    ========================  ===================  =============================================
    combiner                  inputs               result
    ========================  ===================  =============================================
    sum                       partial sums         int -> Int64 (object of Python int past
                                                   int64), Decimal -> Decimal, float -> Float64;
                                                   NULL when no non-NULL partial
    count                     partial counts       Int64, 0 when none
    min, max                  partial min / max    the input's dtype; NULL when none
    avg                       (sum, count)         Decimal as PostgreSQL's numeric avg for int
                                                   and Decimal sums, Float64 for float sums;
                                                   NULL when the count is 0
    bool_and, bool_or         partial bools        boolean; NULL when none
    var_samp, var_pop,        (count, mean, M2)    Float64; var_samp NULL below 2 rows,
    stddev_samp, stddev_pop,                       var_pop below 1
    variance, stddev
    array_agg                 partial lists        concatenated in row order; NULL when empty
    string_agg                partial strings      joined with sep, NULLs skipped; string
    count_distinct            lists of distinct    Int64: distinct values across partials
    first                     any                  the first non-NULL partial in row order
    ========================  ===================  =============================================

    Raises :class:`~plproxy_magic.errors.CallError` for an unknown combiner, a missing column
    or a wrong number of input columns.
    """
    if not isinstance(partials, pd.DataFrame):
        raise CallError(f"combine: partials must be a DataFrame, got {type(partials).__name__}")
    keys: list[str] | None = None
    if by is not None and len(by):  # by=[] is GROUP BY (): one group, like by=None
        keys = [by] if isinstance(by, str) else list(by)
        for k in keys:
            if k not in partials.columns:
                raise CallError(
                    f"combine: group column {k!r} not in partials; "
                    f"columns are: {', '.join(map(str, partials.columns))}"
                )
        if len(set(keys)) != len(keys):
            raise CallError(f"combine: group columns repeat: {', '.join(keys)}")
    specs = [_parse_output(name, spec, partials.columns) for name, spec in outputs.items()]
    clash = [s.name for s in specs if keys and s.name in keys]
    if clash:
        raise CallError(f"combine: output {clash[0]!r} is also a group column")
    for c in {c for s in specs for c in s.columns} | set(keys or ()):
        if not isinstance(partials[c], pd.Series):
            raise CallError(f"combine: column {c!r} appears more than once in partials")

    keys_frame, groups = _group(partials, keys)
    data: dict[str, Any] = {}
    for spec in specs:
        cols = [partials[c] for c in spec.columns]
        fn = _COMBINERS[spec.combiner][1]
        if spec.combiner == "string_agg":
            data[spec.name] = fn(cols[0], spec.columns[0], groups, spec.separator)
        else:
            data[spec.name] = fn(cols, spec.columns, groups)
    # Object results stay object: pandas 3 would otherwise infer ``str`` for strings.
    columns = {n: pd.Series(v, index=keys_frame.index, dtype=v.dtype) for n, v in data.items()}
    values = pd.DataFrame(columns, index=keys_frame.index, columns=list(data))
    return pd.concat([keys_frame, values], axis=1) if keys else values


@pd.api.extensions.register_dataframe_accessor("plproxy")
class PlProxyAccessor:
    """``df.plproxy``: plproxy_magic's helpers on a DataFrame of partial results.

    Stateless; ``df.plproxy.combine(by=..., **outputs)`` is ``combine(df, by=..., **outputs)``.
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        if not frame.columns.is_unique:
            dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise CallError(f"df.plproxy: column names must be unique; repeated: {', '.join(dup)}")
        self._frame = frame

    def combine(self, by: str | Sequence[str] | None = None, **outputs: OutputSpec) -> pd.DataFrame:
        """:func:`combine` this DataFrame's partial aggregates."""
        return combine(self._frame, by, **outputs)
