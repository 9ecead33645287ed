"""combine(): the second stage of two-stage aggregation, checked against PostgreSQL itself.

Random rows (seeded) go into a temp table with a partition number. The server computes the
partials of every partition (``GROUP BY part, ...``, the query a rewriter sends to each
partition), they are loaded with ``result.frame`` — the dtypes a proxy call produces — and
combined; the result must equal PostgreSQL aggregating the union of the rows.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

from plproxy_magic.combine import COMBINERS, combine
from plproxy_magic.errors import CallError
from plproxy_magic.result import frame

Conn = psycopg.Connection[tuple[Any, ...]]

COLUMNS = (
    "part int, g text, h int, i4 int4, i8 int8, n numeric, f float8, r float8, v int4, "
    "s text, b bool, ts timestamptz, d date"
)
GROUPS = ["a", "B", "b", "ä", "", "zz", "Z1", "€", "a b", None]
WEIGHTS = [30, 20, 10, 8, 5, 3, 1, 1, 1, 6]  # the rare ones land on a few partitions only
LETTERS = "abcAB xyzäöé€😀"
I4_MAX, I8_MAX = 2**31 - 1, 2**63 - 1


def _maybe(rng: random.Random, value: Any, null: float = 0.12) -> Any:
    return None if rng.random() < null else value


def _row(rng: random.Random, part: int) -> tuple[Any, ...]:
    big8 = rng.choice([I8_MAX - rng.randrange(1000), -I8_MAX - rng.randrange(2)])
    return (
        part,
        rng.choices(GROUPS, WEIGHTS)[0],
        _maybe(rng, rng.randrange(3), 0.2),
        _maybe(rng, rng.choice([rng.randint(-1000, 1000), I4_MAX - rng.randrange(9), -I4_MAX])),
        _maybe(rng, big8 if rng.random() < 0.3 else rng.randint(-(10**12), 10**12)),
        _maybe(rng, Decimal(rng.randint(-(10**15), 10**15)).scaleb(-rng.randint(0, 6))),
        _maybe(rng, rng.randint(-(10**6), 10**6) / 8),  # dyadic: every sum is exact
        _maybe(rng, rng.gauss(1000.0, 50.0)),
        _maybe(rng, rng.randint(-(10**6), 10**6)),
        _maybe(rng, "".join(rng.choices(LETTERS, k=rng.randint(0, 4)))),
        _maybe(rng, rng.random() < 0.7),
        _maybe(
            rng, dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(10**8))
        ),
        _maybe(rng, dt.date(1990, 1, 1) + dt.timedelta(days=rng.randrange(20000))),
    )


def _load(pg: Conn, rows: list[tuple[Any, ...]]) -> None:
    pg.execute(f"CREATE TEMP TABLE t ({COLUMNS})")
    with pg.cursor().copy("COPY t FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _frame(pg: Conn, sql: str) -> pd.DataFrame:
    """Run a query and build the DataFrame exactly as a proxy call would."""
    cur = pg.execute(sql)
    assert cur.description is not None
    names = [d.name for d in cur.description]
    return frame(names, cur.fetchall(), [d.type_code for d in cur.description])


def _records(pg: Conn, sql: str) -> list[dict[str, Any]]:
    cur = pg.execute(sql)
    assert cur.description is not None
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


PARTIALS = """
SELECT part, {keys}
  sum(i4) AS s_i4, count(i4) AS c_i4, sum(i8) AS s_i8, count(i8) AS c_i8,
  sum(n) AS s_n, count(n) AS c_n, sum(f) AS s_f, count(f) AS c_f, sum(r) AS s_r, count(r) AS c_r,
  count(*) AS c_all,
  min(i4) AS min_i4, max(i4) AS max_i4, min(i8) AS min_i8, max(i8) AS max_i8,
  min(n) AS min_n, max(n) AS max_n, min(f) AS min_f, max(f) AS max_f,
  min(s COLLATE "C") AS min_s, max(s COLLATE "C") AS max_s,
  min(ts) AS min_ts, max(ts) AS max_ts, min(d) AS min_d, max(d) AS max_d,
  bool_and(b) AS and_b, bool_or(b) AS or_b,
  count(v) AS n_v, avg(v) AS mean_v, var_pop(v) * count(v) AS m2_v,
  avg(n) AS mean_n, var_pop(n) * count(n) AS m2_n,
  avg(r) AS mean_r, var_pop(r) * count(r) AS m2_r,
  array_agg(i4) AS arr_i4, string_agg(s, ',') AS str_s,
  array_agg(DISTINCT s) FILTER (WHERE s IS NOT NULL) AS dist_s,
  array_agg(DISTINCT d) FILTER (WHERE d IS NOT NULL) AS dist_d,
  {first} AS first_g
FROM t {where} GROUP BY part {group} ORDER BY part
"""

FINAL = """
SELECT {keys}
  sum(i4) AS s_i4, count(i4) AS c_i4, sum(i8) AS s_i8, sum(n) AS s_n, sum(f) AS s_f, sum(r) AS s_r,
  count(*) AS c_all,
  avg(i4) AS avg_i4, avg(i8) AS avg_i8, avg(n) AS avg_n, avg(f) AS avg_f, avg(r) AS avg_r,
  min(i4) AS min_i4, max(i4) AS max_i4, min(i8) AS min_i8, max(i8) AS max_i8,
  min(n) AS min_n, max(n) AS max_n, min(f) AS min_f, max(f) AS max_f,
  min(s COLLATE "C") AS min_s, max(s COLLATE "C") AS max_s,
  min(ts) AS min_ts, max(ts) AS max_ts, min(d) AS min_d, max(d) AS max_d,
  bool_and(b) AS and_b, bool_or(b) AS or_b,
  var_samp(v) AS vs_v, var_pop(v) AS vp_v, stddev_samp(v) AS ss_v, stddev_pop(v) AS sp_v,
  variance(n) AS vs_n, stddev(n) AS ss_n, var_pop(r) AS vp_r, stddev_samp(r) AS ss_r,
  array_agg(i4) AS arr_i4, string_agg(s, ',') AS str_s,
  count(DISTINCT s) AS dist_s, count(DISTINCT d) AS dist_d, {first} AS first_g
FROM t {where} {group} {order}
"""

OUTPUTS: dict[str, Any] = {
    "s_i4": ("s_i4", "sum"),
    "c_i4": ("c_i4", "count"),
    "s_i8": ("s_i8", "sum"),
    "s_n": ("s_n", "sum"),
    "s_f": ("s_f", "sum"),
    "s_r": ("s_r", "sum"),
    "c_all": ("c_all", "count"),
    "avg_i4": (("s_i4", "c_i4"), "avg"),
    "avg_i8": (("s_i8", "c_i8"), "avg"),
    "avg_n": (("s_n", "c_n"), "avg"),
    "avg_f": (("s_f", "c_f"), "avg"),
    "avg_r": (("s_r", "c_r"), "avg"),
    **{c: (c, c[:3]) for c in ["min_i4", "max_i4", "min_i8", "max_i8", "min_n", "max_n"]},
    **{c: (c, c[:3]) for c in ["min_f", "max_f", "min_s", "max_s", "min_ts", "max_ts"]},
    "min_d": ("min_d", "min"),
    "max_d": ("max_d", "max"),
    "and_b": ("and_b", "bool_and"),
    "or_b": ("or_b", "bool_or"),
    "vs_v": (("n_v", "mean_v", "m2_v"), "var_samp"),
    "vp_v": (("n_v", "mean_v", "m2_v"), "var_pop"),
    "ss_v": (("n_v", "mean_v", "m2_v"), "stddev_samp"),
    "sp_v": (("n_v", "mean_v", "m2_v"), "stddev_pop"),
    "vs_n": (("c_n", "mean_n", "m2_n"), "variance"),
    "ss_n": (("c_n", "mean_n", "m2_n"), "stddev"),
    "vp_r": (("c_r", "mean_r", "m2_r"), "var_pop"),
    "ss_r": (("c_r", "mean_r", "m2_r"), "stddev_samp"),
    "arr_i4": ("arr_i4", "array_agg"),
    "str_s": ("str_s", "string_agg", ","),
    "dist_s": ("dist_s", "count_distinct"),
    "dist_d": ("dist_d", "count_distinct"),
    "first_g": ("first_g", "first"),
}
# How each output is compared with PostgreSQL's value.
FLOAT_CLOSE = {"vs_v", "vp_v", "ss_v", "sp_v", "vs_n", "ss_n", "vp_r", "ss_r", "s_r", "avg_r"}
MULTISET = {"arr_i4", "str_s"}
DTYPES = {
    "s_i4": "Int64", "c_i4": "Int64", "s_i8": "object", "s_n": "object", "s_f": "Float64",
    "c_all": "Int64", "avg_i4": "object", "avg_i8": "object", "avg_n": "object",
    "avg_f": "Float64", "min_i4": "Int32", "min_i8": "Int64", "min_n": "object",
    "min_f": "Float64", "min_s": "string", "min_ts": "datetime64[us, UTC]", "min_d": "object",
    "and_b": "boolean", "vs_v": "Float64", "ss_r": "Float64", "arr_i4": "object",
    "str_s": "string", "dist_s": "Int64", "first_g": "string",
}  # fmt: skip


def _is_null(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT


def _same(name: str, got: Any, want: Any) -> bool:
    if _is_null(got) or _is_null(want):
        return _is_null(got) and _is_null(want)
    if name in MULTISET:
        parts = (lambda x: x.split(",")) if isinstance(want, str) else list
        return Counter(parts(got)) == Counter(parts(want))
    if name in FLOAT_CLOSE:
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, Decimal):  # exact value *and* scale
        return isinstance(got, Decimal) and str(got) == str(want)
    if isinstance(want, float) and math.isnan(want):
        return math.isnan(got)
    if isinstance(want, dt.datetime):
        return pd.Timestamp(want) == got
    if isinstance(want, bool):
        return isinstance(got, bool | np.bool_) and bool(got == want)
    return bool(got == want)


def _check(result: pd.DataFrame, expected: list[dict[str, Any]], keys: list[str]) -> None:
    assert list(result.columns) == keys + list(OUTPUTS)
    assert len(result) == len(expected)
    for i, want in enumerate(expected):
        got = result.iloc[i]
        for name in keys + list(OUTPUTS):
            assert _same(name, got[name], want[name]), (i, name, got[name], want[name])


SHAPES = [["g"], ["g", "h"], None]


def test_the_random_comparison_covers_every_combiner() -> None:
    assert {spec[1] for spec in OUTPUTS.values()} == set(COMBINERS)


@pytest.mark.parametrize("k", range(1, 9))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_combine_equals_postgres_over_the_union(pg: Conn, k: int, seed: int) -> None:
    rng = random.Random(seed * 100 + k)
    by = SHAPES[(k + seed) % 3]
    # Some partitions stay empty; each gets a different number of rows.
    used = rng.sample(range(k), k - 1) if k > 2 else list(range(k))
    rows = [_row(rng, rng.choice(used)) for _ in range(rng.randint(150, 500))]
    _load(pg, rows)
    keys = by or []
    cols = "".join(f"{c}, " for c in keys)
    group = "".join(f", {c}" for c in keys)
    order = ", ".join(
        f'{c} COLLATE "C" NULLS LAST' if c == "g" else f"{c} NULLS LAST" for c in keys
    )
    # first: a value constant in each group (the whole union without GROUP BY)
    first = "min(upper(g))" if by else "min('const'::text)"
    partials = _frame(pg, PARTIALS.format(keys=cols, first=first, where="", group=group))
    group_by = f"GROUP BY {', '.join(keys)}" if keys else ""
    order_by = f"ORDER BY {order}" if keys else ""
    final = FINAL.format(keys=cols, first=first, where="", group=group_by, order=order_by)
    expected = _records(pg, final)
    result = combine(partials, by=by, **OUTPUTS)
    _check(result, expected, keys)
    for name, dtype in DTYPES.items():
        assert str(result[name].dtype) == dtype, name


def test_no_rows_without_group_by_gives_one_row(pg: Conn) -> None:
    _load(pg, [])
    partials = _frame(pg, PARTIALS.format(keys="", first="min(g)", where="", group=""))
    assert partials.empty
    expected = _records(pg, FINAL.format(keys="", first="min(g)", where="", group="", order=""))
    result = combine(partials, **OUTPUTS)
    _check(result, expected, [])
    assert result["c_all"].tolist() == [0] and result["dist_s"].tolist() == [0]
    assert result["s_i4"].dtype == "Int64" and result["s_n"].dtype == object
    assert result["s_f"].dtype == "Float64"


def test_no_rows_with_group_by_gives_no_rows(pg: Conn) -> None:
    _load(pg, [])
    partials = _frame(pg, PARTIALS.format(keys="g, ", first="upper(g)", where="", group=", g"))
    result = combine(partials, by="g", **OUTPUTS)
    assert list(result.columns) == ["g", *OUTPUTS] and result.empty


def test_nan_and_infinity_order_as_in_postgres(pg: Conn) -> None:
    # PostgreSQL sorts NaN above every number; inf + -inf is NaN; min ignores NaN.
    specials = [float("nan"), float("inf"), float("-inf"), 1.5, -2.0, None]
    rng = random.Random(7)
    rows = []
    for i in range(120):
        f = rng.choice(specials)
        n = None if f is None else Decimal(str(f)) if not math.isinf(f) else Decimal(f)
        rows.append(
            (
                rng.randrange(4),
                f"g{i % 9}",
                None,
                None,
                None,
                n,
                f,
                None,
                None,
                None,
                None,
                None,
                None,
            )
        )
    _load(pg, rows)
    sums = "sum(f) AS s_f, count(f) AS c_f, sum(n) AS s_n, count(n) AS c_n"
    extremes = "min(f) AS min_f, max(f) AS max_f, min(n) AS min_n, max(n) AS max_n"
    partials = _frame(
        pg, f"SELECT part, g, {sums}, {extremes} FROM t GROUP BY part, g ORDER BY part"
    )
    finals = "sum(f) AS s_f, sum(n) AS s_n, avg(f) AS a_f, avg(n) AS a_n"
    want = _records(pg, f"SELECT g, {finals}, {extremes} FROM t GROUP BY g ORDER BY g")
    got = combine(
        partials, by="g", s_f=("s_f", "sum"), s_n=("s_n", "sum"), a_f=(("s_f", "c_f"), "avg"),
        a_n=(("s_n", "c_n"), "avg"), min_f=("min_f", "min"), max_f=("max_f", "max"),
        min_n=("min_n", "min"), max_n=("max_n", "max"),
    )  # fmt: skip
    assert len(got) == len(want) == 9
    for i, w in enumerate(want):
        for name, value in w.items():
            g = got.iloc[i][name]
            assert str(g) == str(value) or (isinstance(value, float) and g == value), (
                i,
                name,
                g,
                value,
            )


def test_bigint_sums_do_not_overflow(pg: Conn) -> None:
    # Int64 partial sums whose total passes int64 come back as exact Python ints.
    rng = random.Random(3)
    parts = [
        rng.choice([I8_MAX - rng.randrange(10**6), -I8_MAX, rng.randint(-9, 9)]) for _ in range(400)
    ]
    groups = [rng.randrange(20) for _ in parts]
    partials = pd.DataFrame(
        {"g": pd.array(groups, dtype="Int64"), "s": pd.array(parts, dtype="Int64")}
    )
    partials["one"] = pd.array([1] * len(parts), dtype="Int64")
    got = combine(partials, by="g", total=("s", "sum"), mean=(("s", "one"), "avg"))
    cur = pg.execute(
        "SELECT g, sum(s), avg(s) FROM unnest(%s::int8[], %s::int8[]) u(g, s) GROUP BY g ORDER BY g",
        (groups, parts),
    )
    want = cur.fetchall()
    assert got["g"].tolist() == [w[0] for w in want]
    assert got["total"].tolist() == [int(w[1]) for w in want]
    assert all(type(v) is int for v in got["total"])
    assert got["total"].dtype == object  # some totals pass int64
    assert [str(v) for v in got["mean"]] == [str(w[2]) for w in want]
    # Totals that fit stay Int64, even when partials are Python ints in an object column.
    small = partials.assign(s=pd.array([1, 2**70, -(2**70)] + [5] * (len(parts) - 3), dtype=object))
    fits = combine(small, total=("s", "sum"))["total"]
    assert fits.dtype == "Int64" and fits[0] == 1 + 5 * (len(parts) - 3)


def test_avg_matches_postgres_numeric_scale(pg: Conn) -> None:
    rng = random.Random(11)
    sums: list[Any] = []
    counts: list[int] = []
    for _ in range(3000):
        if rng.random() < 0.4:
            sums.append(rng.randint(-(10 ** rng.randint(0, 22)), 10 ** rng.randint(0, 22)))
        else:
            digits = rng.randint(1, 30)
            sums.append(Decimal(rng.randint(-(10**digits), 10**digits)).scaleb(-rng.randint(0, 12)))
        counts.append(
            rng.choice([1, 2, 3, 7, 9999, 10000, 10001, rng.randint(1, 10 ** rng.randint(1, 12))])
        )
    want = pg.execute(
        "SELECT (s::numeric / c)::text FROM unnest(%s::text[], %s::int8[]) u(s, c)",
        ([str(s) for s in sums], counts),
    ).fetchall()
    partials = pd.DataFrame({
        "i": range(len(sums)),
        "s": pd.array([Decimal(s) for s in sums], dtype=object),
        "c": pd.array(counts, dtype="Int64"),
    })  # fmt: skip
    got = combine(partials, by="i", avg=(("s", "c"), "avg"))["avg"]
    assert [str(g) for g in got] == [str(Decimal(w[0])) for w in want]


def test_variance_is_stable_for_large_offsets() -> None:
    # Values near 1e9 with unit spread: a sum-of-squares formula would lose every digit.
    rng = random.Random(5)
    values = [1e9 + rng.random() for _ in range(4000)]
    chunks = [values[i::7] for i in range(7)]
    exact = [(len(c), sum(map(Fraction, c)) / len(c)) for c in chunks]
    m2s = [sum((Fraction(x) - m) ** 2 for x in c) for c, (_, m) in zip(chunks, exact, strict=True)]
    partials = pd.DataFrame({
        "n": pd.array([n for n, _ in exact], dtype="Int64"),
        "mean": pd.array([float(m) for _, m in exact], dtype="Float64"),  # as float8 partials
        "m2": pd.array([float(m2) for m2 in m2s], dtype="Float64"),
    })  # fmt: skip
    moments = ("n", "mean", "m2")
    got = combine(partials, v=(moments, "var_samp"), sd=(moments, "stddev_pop"))
    # Combining those float partials loses nothing beyond float rounding...
    n, means, m2 = (
        len(values),
        [Fraction(float(m)) for _, m in exact],
        [Fraction(float(x)) for x in m2s],
    )
    mean = sum(k * m for (k, _), m in zip(exact, means, strict=True)) / n
    total = sum(m2) + sum(k * (m - mean) ** 2 for (k, _), m in zip(exact, means, strict=True))
    assert math.isclose(got["v"][0], float(total / (n - 1)), rel_tol=1e-13)
    assert math.isclose(got["sd"][0], math.sqrt(total / n), rel_tol=1e-13)
    # ...and the partial means' own rounding (1e-7 at 1e9) bounds the distance to the truth.
    assert math.isclose(got["v"][0], float(np.var(values, ddof=1)), rel_tol=1e-6)


def test_variance_needs_enough_rows() -> None:
    partials = pd.DataFrame({
        "g": ["one", "none", "two", "two"],
        "n": pd.array([1, 0, 1, 1], dtype="Int64"),
        "mean": pd.array([Decimal("2.5"), None, Decimal(1), Decimal(3)], dtype=object),
        "m2": pd.array([Decimal(0), None, Decimal(0), Decimal(0)], dtype=object),
    })  # fmt: skip
    moments = ("n", "mean", "m2")
    got = combine(
        partials, by="g", vs=(moments, "var_samp"), vp=(moments, "var_pop"), sd=(moments, "stddev")
    )
    assert got["g"].tolist() == ["none", "one", "two"]
    assert got["vs"].tolist() == [pd.NA, pd.NA, 2.0]
    assert got["vp"].tolist() == [pd.NA, 0.0, 1.0]
    assert got["sd"].tolist() == [pd.NA, pd.NA, math.sqrt(2.0)]


def test_lists_and_strings_keep_partition_order() -> None:
    partials = pd.DataFrame({
        "g": ["x", "y", "x", "y", "x"],
        "arr": pd.array([[1, None], None, [], [4], [2, 3]], dtype=object),
        "txt": pd.array(["a,b", None, "", None, "c"], dtype="string"),
        "dist": pd.array([[1, 2], None, [2.0, 3], None, [float("nan"), float("nan")]], dtype=object),
    })  # fmt: skip
    got = combine(
        partials, by="g", arr=("arr", "array_agg"), txt=("txt", "string_agg", "; "),
        dist=("dist", "count_distinct"), first=("arr", "first"),
    )  # fmt: skip
    assert got["arr"].tolist() == [[1, None, 2, 3], [4]]
    assert got["txt"].tolist() == ["a,b; ; c", pd.NA]
    assert got["dist"].tolist() == [4, 0]  # 1, 2, 3 and NaN (NaNs are one value, as in SQL)
    assert got["first"].tolist() == [[1, None], [4]]
    assert combine(partials.iloc[1:2], arr=("arr", "array_agg"))["arr"].tolist() == [None]


def test_null_keys_form_a_group_sorted_last() -> None:
    partials = pd.DataFrame({
        "a": pd.array([None, 2, 1, None, 1, 2], dtype="Int64"),
        "b": pd.array(["x", None, "y", None, "y", "a"], dtype="string"),
        "c": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
    })  # fmt: skip
    got = combine(partials, by=["a", "b"], c=("c", "sum"))
    assert got.astype(object).where(got.notna(), None).values.tolist() == [
        [1, "y", 8], [2, "a", 6], [2, None, 2], [None, "x", 1], [None, None, 4],
    ]  # fmt: skip
    assert got["a"].dtype == "Int64" and got["b"].dtype == "string"


@pytest.mark.parametrize("dtype", ["string", "str", "object"])
def test_strings_order_by_code_point(dtype: str) -> None:
    partials = pd.DataFrame({
        "g": [1, 1, 1, 2, 2, 3],
        "s": pd.array(["b", "B", "ä", None, "", None], dtype=dtype),
    }).astype({"s": dtype})  # fmt: skip
    got = combine(partials, by="g", lo=("s", "min"), hi=("s", "max"), first=("s", "first"))
    assert got["lo"].tolist()[:2] == ["B", ""] and got["hi"].tolist()[:2] == ["ä", ""]
    assert got["first"].tolist()[:2] == ["b", ""]
    assert all(pd.isna(got[c][2]) for c in ("lo", "hi", "first"))
    assert {str(got[c].dtype) for c in ("lo", "hi", "first")} == {dtype}


def test_plain_numpy_columns_and_empty_by() -> None:
    partials = pd.DataFrame({"x": [3, 1, 2], "f": [0.5, np.nan, 1.5], "b": [True, False, True]})
    got = combine(
        partials, by=[], s=("x", "sum"), lo=("x", "min"), f=("f", "max"), all=("b", "bool_and")
    )
    assert got.to_dict("records") == [{"s": 6, "lo": 1, "f": 1.5, "all": False}]
    assert [str(t) for t in got.dtypes] == ["Int64", "Int64", "Float64", "boolean"]
    empty = combine(partials.iloc[:0], lo=("x", "min"), f=("f", "first"), n=("x", "count"))
    assert [str(t) for t in empty.dtypes] == ["Int64", "Float64", "Int64"]
    assert empty["lo"].isna().all() and empty["f"].isna().all() and empty["n"].tolist() == [0]


def test_accessor_is_combine() -> None:
    partials = pd.DataFrame({"g": ["b", "a", "b"], "s": pd.array([1, 2, 3], dtype="Int64")})
    pd.testing.assert_frame_equal(
        partials.plproxy.combine(by="g", s=("s", "sum"), n=("s", "count")),
        combine(partials, by="g", s=("s", "sum"), n=("s", "count")),
    )
    assert partials.plproxy.combine(total=("s", "sum"))["total"].tolist() == [6]
    with pytest.raises(CallError, match=r"^df.plproxy: column names must be unique; repeated: s$"):
        _ = pd.DataFrame([[1, 2]], columns=["s", "s"]).plproxy


ERRORS = [
    ({"x": ("s", "median")}, "combine: unknown combiner 'median' for output 'x' (known: sum, count, min, max, avg, bool_and, bool_or, var_samp, var_pop, stddev_samp, stddev_pop, variance, stddev, array_agg, string_agg, count_distinct, first)"),
    ({"x": ("nope", "sum")}, "combine: column 'nope' (for output 'x') not in partials; columns are: g, s, t"),
    ({"x": ("s", "avg")}, "combine: avg takes 2 input columns (sum, count), got 1 for output 'x'"),
    ({"x": (("s", "s"), "sum")}, "combine: sum takes 1 input column, got 2 for output 'x'"),
    ({"x": (("s", "s"), "stddev")}, "combine: stddev takes 3 input columns (count, mean, m2), got 2 for output 'x'"),
    ({"x": ("t", "string_agg")}, "combine: string_agg needs a separator: x=(column, 'string_agg', ', ')"),
    ({"x": ("s", "sum", ",")}, "combine: sum takes no third element (output 'x')"),
    ({"x": "s"}, "combine: output 'x' must be (columns, combiner) or (column, 'string_agg', separator), got 's'"),
    ({"g": ("s", "sum")}, "combine: output 'g' is also a group column"),
    ({"x": ("t", "sum")}, "combine: column 't' is not numeric (str)"),
]  # fmt: skip


@pytest.mark.parametrize(("outputs", "message"), ERRORS)
def test_errors_are_call_errors(outputs: dict[str, Any], message: str) -> None:
    partials = pd.DataFrame({"g": ["a"], "s": pd.array([1], dtype="Int64"), "t": ["x"]})
    with pytest.raises(CallError) as info:
        combine(partials, by="g", **outputs)
    assert str(info.value) == message


def test_value_errors() -> None:
    partials = pd.DataFrame({
        "n": pd.array([2**62, 2**62, 1], dtype=object),
        "f": pd.array([0.5, 1.0, None], dtype="Float64"),
        "b": pd.array([True, None, False], dtype="boolean"),
    })  # fmt: skip
    cases = [
        ({"x": ("n", "count")}, "combine: count of column 'n' overflows bigint"),
        ({"x": ("f", "count")}, "combine: column 'f' does not hold integers"),
        ({"x": ("b", "sum")}, "combine: column 'b' is boolean, not numeric"),
        ({"x": ("f", "bool_or")}, "combine: column 'f' is not boolean"),
    ]
    for outputs, message in cases:
        with pytest.raises(CallError) as info:
            combine(partials, **outputs)
        assert str(info.value) == message


def test_group_column_errors() -> None:
    partials = pd.DataFrame({"g": ["a"], "s": [1]})
    with pytest.raises(
        CallError, match=r"^combine: group column 'h' not in partials; columns are: g, s$"
    ):
        combine(partials, by=["g", "h"], s=("s", "sum"))
    with pytest.raises(CallError, match=r"^combine: group columns repeat: g, g$"):
        combine(partials, by=["g", "g"])
