"""plproxy_magic.hashing: bit-identical to PostgreSQL, checked against a live server.

Three layers: the published vectors as a table; differential runs of thousands of generated
values against the embedded server (sent as one array per query, so the file stays fast);
and the Python surface (input kinds, dtypes, nulls, errors).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

from plproxy_magic import hashing
from plproxy_magic.hashing import (
    hashbpchar,
    hashbpcharextended,
    hashint2,
    hashint2extended,
    hashint4,
    hashint4extended,
    hashint8,
    hashint8extended,
    hashtext,
    hashtextextended,
    uuid_hash,
    uuid_hash_extended,
)

Conn = psycopg.Connection[tuple[Any, ...]]

INT2_MIN, INT2_MAX = -(2**15), 2**15 - 1
INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1
#: Seeds for the extended variants: zero, small, negative, the int8 extremes, and the seed
#: PostgreSQL's PARTITION BY HASH uses (HASH_PARTITION_SEED).
SEEDS = [0, 1, 42, -1, -42, INT8_MIN, INT8_MAX, 0x7A5B22367996DCFD]


# --- 1. published vectors -------------------------------------------------------------------

# (value, hash, extended seed 0, extended seed 42): peers-pgcat-citus-hashing.md §3.3
TEXT_VECTORS = [
    ("", -1477818771, -6939563903564495251, 6158832220375811857),
    ("foo", 1955559433, -1635844193734658039, -5229171623247698203),
    ("bar", 1701599129, -7540394876946589799, -5856612463619302476),
    ("a", 1075015857, 3591986179850072241, 6942402718208252407),
    ("hello world", 1021725223, 6947366892317592103, -3513769554600704881),
    ("x" * 12, 631527812, -2459440608274261628, 3697377092803125200),
    ("é", -983094517, -763932721387459829, -2538586268327829357),
    ("中", -723927071, 4250127677792042977, 4298315894291365363),
    ("😀", 1734229978, -9149796522330800166, 6030932355784347341),
]
INT4_VECTORS = [
    (0, -272711505, 4154612158245552303, -8162688053457160230),
    (1, -1905060026, -3670598878359251130, 2207685931686633351),
    (-1, 385747274, -1888257769727981238, -2218543911767281624),
    (INT4_MAX, -96758253, -9109110466470504941, -4216469540329842178),
    (INT4_MIN, -1524351049, 1977219185673256887, 2517197663604715469),
]
INT8_VECTORS = [
    (2**32, -1905060026, -3670598878359251130, 2207685931686633351),
    (INT8_MAX, -1524351049, 1977219185673256887, 2517197663604715469),
    (INT8_MIN, -96758253, -9109110466470504941, -4216469540329842178),
]

# (function, argument, expected): plproxy-semantics.md §5 item 1, and uuid_hash from §2.3
SCALAR_VECTORS: list[tuple[Callable[..., Any], object, int]] = [
    (hashint4, -2, -1242090879),
    (hashint4, 2, 1134484726),
    (hashint4, 3, -28094569),
    (hashint4, 42, 1509752520),
    (hashint4, 100000, 1001413960),
    (hashtext, "user", -1496687293),
    (hashtext, "Sven", 1431175189),
    (hashtext, "Marko", -483835417),
    (hashtext, "Steve", -516279555),
    (hashtext, "ÄÖ€", 1359382214),
    (hashint8, -1, 385747274),
    (hashint8, 0, -272711505),
    (hashint8, 1, -1905060026),
    (hashint8, 4294967297, -272711505),
    (hashint8, INT8_MAX, -1524351049),
    (hashint8, -(2**32), -272711505),  # the fold: hashint8(-2^32) = hashint4(0)
    (hashint2, -1, 385747274),  # sign-extended: = hashint4(-1)
    (hashbpchar, "foo  ", 1955559433),  # trailing blanks stripped: = hashtext('foo')
    (uuid_hash, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 1154666245),
]


@pytest.mark.parametrize(("value", "h", "ext0", "ext42"), TEXT_VECTORS)
def test_text_vectors(value: str, h: int, ext0: int, ext42: int) -> None:
    assert hashtext(value) == h
    assert hashtext(value.encode()) == h
    assert hashtextextended(value, 0) == ext0
    assert hashtextextended(value, 42) == ext42
    assert hashtext([value]).tolist() == [h]
    assert hashtextextended([value], 42).tolist() == [ext42]


@pytest.mark.parametrize(("value", "h", "ext0", "ext42"), INT4_VECTORS)
def test_int4_vectors(value: int, h: int, ext0: int, ext42: int) -> None:
    assert hashint4(value) == h
    assert hashint4extended(value, 0) == ext0
    assert hashint4extended(value, 42) == ext42
    assert hashint4([value]).tolist() == [h]
    assert hashint4extended([value], 42).tolist() == [ext42]


@pytest.mark.parametrize(("value", "h", "ext0", "ext42"), INT8_VECTORS)
def test_int8_vectors(value: int, h: int, ext0: int, ext42: int) -> None:
    assert hashint8(value) == h
    assert hashint8extended(value, 0) == ext0
    assert hashint8extended(value, 42) == ext42
    assert hashint8([value]).tolist() == [h]
    assert hashint8extended([value], 42).tolist() == [ext42]


@pytest.mark.parametrize(("fn", "value", "expected"), SCALAR_VECTORS)
def test_scalar_vectors(fn: Callable[..., Any], value: object, expected: int) -> None:
    assert fn(value) == expected
    assert fn([value]).tolist() == [expected]


# --- 2. differential runs against the server ------------------------------------------------


def _server(pg: Conn, expr: str, values: Sequence[Any], sqltype: str, *args: Any) -> list[Any]:
    """``expr`` over ``x`` for every value, in order, in one query."""
    row = pg.execute(
        f"SELECT array_agg({expr} ORDER BY i) "
        f"FROM unnest(%s::{sqltype}[]) WITH ORDINALITY AS t(x, i)",
        (*args, list(values)),
    ).fetchone()
    assert row is not None
    return list(row[0])


def _random_text(rng: random.Random, alphabet: Sequence[str], length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _text_corpus() -> list[str]:
    rng = random.Random(18)
    ascii_chars = [chr(c) for c in range(1, 128)]  # no NUL: text cannot hold it
    unicode_chars = [
        *"abcxyz  ",
        "é",
        "e\u0301",  # e + combining accent: not normalised, so not equal to 'é'
        "中",
        "😀",
        "Ä",
        "€",
        "\u0080",
        "\u07ff",
        "\u0800",
        "\uffff",
        "\U00010000",
        "\U0010ffff",
    ]
    corpus = ["", " ", "foo", "é", "e\u0301", "中", "😀", "ÄÖ€", "a b  ", "x" * 12]
    for alphabet in (ascii_chars, unicode_chars):
        corpus += [_random_text(rng, alphabet, n) for n in range(41)]  # every tail length
    corpus += [_random_text(rng, ascii_chars, rng.randint(0, 200)) for _ in range(1500)]
    corpus += [_random_text(rng, unicode_chars, rng.randint(0, 80)) for _ in range(1000)]
    # Random code points across every UTF-8 length, surrogates excluded (not encodable).
    points = [c for c in range(1, 0x110000, 97) if not 0xD800 <= c <= 0xDFFF]
    corpus += ["".join(map(chr, rng.choices(points, k=rng.randint(1, 30)))) for _ in range(500)]
    corpus += [_random_text(rng, ascii_chars, n) for n in (10_000, 10_007, 12_345)]
    corpus += [_random_text(rng, unicode_chars, 6000), "x" * 12 * 1000]
    return corpus


TEXT_CORPUS = _text_corpus()


def test_hashtext_matches_server(pg: Conn) -> None:
    assert len(TEXT_CORPUS) > 3000
    expected = _server(pg, "hashtext(x)", TEXT_CORPUS, "text")
    assert hashtext(TEXT_CORPUS).tolist() == expected
    assert [hashtext(s) for s in TEXT_CORPUS] == expected
    assert hashtext([s.encode() for s in TEXT_CORPUS]).tolist() == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_hashtextextended_matches_server(pg: Conn, seed: int) -> None:
    expected = _server(pg, "hashtextextended(x, %s)", TEXT_CORPUS, "text", seed)
    assert hashtextextended(TEXT_CORPUS, seed).tolist() == expected
    assert [hashtextextended(s, seed) for s in TEXT_CORPUS[::7]] == expected[::7]


def test_hashbpchar_matches_server(pg: Conn) -> None:
    rng = random.Random(3)
    values = [s + " " * rng.randint(0, 3) for s in TEXT_CORPUS[:1200]] + ["", "   ", " a "]
    expected = _server(pg, "hashbpchar(x::bpchar)", values, "text")
    assert hashbpchar(values).tolist() == expected
    assert [hashbpchar(s) for s in values] == expected
    for seed in (0, -7):
        expected = _server(pg, "hashbpcharextended(x::bpchar, %s)", values, "text", seed)
        assert hashbpcharextended(values, seed).tolist() == expected
        assert [hashbpcharextended(s, seed) for s in values[::11]] == expected[::11]


def _ints(lo: int, hi: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    edges = [lo, lo + 1, hi - 1, hi, 0, 1, -1, 2, -2, 255, -256, 65535, -65536]
    edges += [2**k + d for k in range(1, 64) for d in (-1, 0, 1)]
    edges += [-(2**k) + d for k in range(1, 64) for d in (-1, 0, 1)]
    values = [v for v in edges if lo <= v <= hi]
    return values + [rng.randint(lo, hi) for _ in range(count)]


INT_CASES = [
    # (standard, extended, sql type, values)
    (hashint2, hashint2extended, "int2", _ints(INT2_MIN, INT2_MAX, 1000, 2)),
    (hashint4, hashint4extended, "int4", _ints(INT4_MIN, INT4_MAX, 2000, 4)),
    (hashint8, hashint8extended, "int8", _ints(INT8_MIN, INT8_MAX, 2000, 8)),
]


@pytest.mark.parametrize(("fn", "fn_ext", "sqltype", "values"), INT_CASES)
def test_int_hashes_match_server(
    pg: Conn, fn: Any, fn_ext: Any, sqltype: str, values: list[int]
) -> None:
    expected = _server(pg, f"hash{sqltype}(x)", values, sqltype)
    assert fn(values).tolist() == expected
    numpy_dtype = {"int2": np.int16, "int4": np.int32, "int8": np.int64}[sqltype]
    assert fn(np.array(values, dtype=numpy_dtype)).tolist() == expected
    assert [fn(v) for v in values] == expected
    for seed in SEEDS:
        expected = _server(pg, f"hash{sqltype}extended(x, %s)", values, sqltype, seed)
        assert fn_ext(values, seed).tolist() == expected
        assert [fn_ext(v, seed) for v in values[::13]] == expected[::13]


def test_uuid_hash_matches_server(pg: Conn) -> None:
    rng = random.Random(16)
    values = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(500)]
    values += [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    expected = _server(pg, "uuid_hash(x)", values, "uuid")
    assert uuid_hash(values).tolist() == expected
    assert uuid_hash([str(u) for u in values]).tolist() == expected
    assert [uuid_hash(u.bytes) for u in values] == expected
    for seed in (0, 42, -1):
        expected = _server(pg, "uuid_hash_extended(x, %s)", values, "uuid", seed)
        assert uuid_hash_extended(values, seed).tolist() == expected
        assert [uuid_hash_extended(u, seed) for u in values[::9]] == expected[::9]


@pytest.mark.parametrize(
    ("cast", "fn", "value"),
    [
        ("int2", hashint2, INT2_MAX + 1),
        ("int2", hashint2, INT2_MIN - 1),
        ("int4", hashint4, INT4_MAX + 1),
        ("int4", hashint4, INT4_MIN - 1),
        ("int8", hashint8, INT8_MAX + 1),
        ("int8", hashint8, INT8_MIN - 1),
    ],
)
def test_range_errors_use_server_wording(
    pg: Conn, cast: str, fn: Callable[[Any], Any], value: int
) -> None:
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as server:
        pg.execute(f"SELECT %s::numeric::{cast}", (value,))
    with pytest.raises(ValueError) as ours:
        fn(value)
    assert str(ours.value) == server.value.diag.message_primary
    with pytest.raises(ValueError, match=r"^.* out of range \(position 1\)$"):
        fn([0, value])


# --- 3. invariants --------------------------------------------------------------------------


def test_extended_seed_zero_low_bits_are_the_standard_hash() -> None:
    def low32(values: Any) -> list[int]:
        return [v & 0xFFFFFFFF for v in values.tolist()]

    assert low32(hashtextextended(TEXT_CORPUS, 0)) == low32(hashtext(TEXT_CORPUS))
    for fn, fn_ext, _, values in INT_CASES:
        assert low32(fn_ext(values, 0)) == low32(fn(values))
    assert hashint4extended(-5, 0) & 0xFFFFFFFF == hashint4(-5) & 0xFFFFFFFF


def test_int2_and_int8_agree_with_int4_in_range() -> None:
    values = INT_CASES[0][3]
    assert np.array_equal(hashint2(values), hashint4(values))
    assert np.array_equal(hashint8(values), hashint4(values))
    assert np.array_equal(hashint2extended(values, -3), hashint4extended(values, -3))


def test_text_is_not_normalised() -> None:
    assert hashtext("é") != hashtext("e\u0301")


def test_encoding_keyword() -> None:
    assert hashtext("é", encoding="latin-1") == hashtext(b"\xe9")
    assert hashtext(["é", "ab"], encoding="latin-1").tolist() == [hashtext(b"\xe9"), hashtext("ab")]
    assert hashtext(["中"], encoding="gbk").tolist() == [hashtext("中".encode("gbk"))]
    assert hashtext(["é"], encoding="UTF8").tolist() == [hashtext("é")]


# --- 4. the Python surface ------------------------------------------------------------------


def test_scalars_return_python_ints() -> None:
    for result in (hashtext("a"), hashint4(1), hashint8extended(1, 2), uuid_hash(uuid.UUID(int=1))):
        assert type(result) is int
    assert hashint4(np.int16(42)) == hashint4(42)
    assert hashint8(np.uint32(42)) == hashint4(42)
    assert hashtext(np.str_("foo")) == 1955559433
    assert hashint4(np.array(42)) == hashint4(42)  # 0-d arrays are scalars
    assert hashtext(np.array("foo")) == 1955559433
    assert hashtext(bytearray(b"foo")) == 1955559433


@pytest.mark.parametrize(
    "fn",
    [hashtext, hashbpchar, hashint2, hashint4, hashint8, uuid_hash],
)
def test_none_is_null(fn: Callable[[Any], Any]) -> None:
    assert fn(None) is None


def test_none_is_null_for_extended() -> None:
    assert hashtextextended(None, 1) is None
    assert hashint8extended(None, 1) is None
    assert uuid_hash_extended(None, 1) is None


@pytest.mark.parametrize(
    "values",
    [
        [1, 2, 3],
        (1, 2, 3),
        np.array([1, 2, 3], dtype=np.int8),
        np.array([1, 2, 3], dtype=np.int32),
        np.array([1, 2, 3], dtype=np.uint16),
        np.array([1, 2, 3], dtype=np.uint64),
        pd.Series([1, 2, 3]),
        pd.Series([1, 2, 3], dtype="Int32"),
        pd.Index([1, 2, 3]),
        pd.array([1, 2, 3], dtype="Int64"),
        [np.int64(1), 2, np.uint8(3)],
        np.array([1, 2, 3], dtype=object),
    ],
    ids=lambda v: type(v).__name__ + "-" + str(getattr(v, "dtype", "")),
)
def test_int_vector_kinds(values: Any) -> None:
    expected = [hashint4(1), hashint4(2), hashint4(3)]
    got = hashint4(values)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.int32
    assert got.tolist() == expected
    ext = hashint4extended(values, 5)
    assert isinstance(ext, np.ndarray)
    assert ext.dtype == np.int64
    assert ext.tolist() == [hashint4extended(v, 5) for v in (1, 2, 3)]


@pytest.mark.parametrize(
    "values",
    [
        ["a", "é", "中"],
        ("a", "é", "中"),
        np.array(["a", "é", "中"]),
        np.array(["a", "é", "中"], dtype=object),
        np.array(["a", "é", "中"], dtype=np.dtypes.StringDType()),
        pd.Series(["a", "é", "中"]),
        pd.Series(["a", "é", "中"], dtype=object),
        pd.Index(["a", "é", "中"]),
        pd.array(["a", "é", "中"], dtype="string"),
        [b"a", "é".encode(), "中".encode()],
        np.array([b"a", "é".encode(), "中".encode()]),
        ["a", "é".encode(), "中"],  # str and bytes may mix
    ],
    ids=lambda v: type(v).__name__ + "-" + str(getattr(v, "dtype", "")),
)
def test_text_vector_kinds(values: Any) -> None:
    got = hashtext(values)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.int32
    assert got.tolist() == [hashtext("a"), hashtext("é"), hashtext("中")]
    ext = hashtextextended(values, -9)
    assert isinstance(ext, np.ndarray)
    assert ext.dtype == np.int64
    assert ext.tolist() == [hashtextextended(s, -9) for s in ("a", "é", "中")]


def test_empty_vectors() -> None:
    assert hashtext([]).dtype == np.int32
    assert len(hashtext([])) == 0
    assert hashint8extended(np.array([], dtype=np.int64), 3).dtype == np.int64
    assert len(uuid_hash([])) == 0


@pytest.mark.parametrize(
    ("fn", "values", "dtype"),
    [
        (hashtext, ["a", None, "b", float("nan")], "Int32"),
        (hashtext, pd.Series(["a", None, "b", None]), "Int32"),
        (hashtext, pd.Series(["a", pd.NA, "b", pd.NA], dtype="string"), "Int32"),
        (hashtext, np.array(["a", None, b"b", None], dtype=object), "Int32"),
        (hashint4, [1, None, 2, None], "Int32"),
        (hashint4, pd.array([1, None, 2, None], dtype="Int64"), "Int32"),
        (hashint4, pd.Series([1, pd.NA, 2, None], dtype=object), "Int32"),
        (uuid_hash, [uuid.UUID(int=1), None, str(uuid.UUID(int=2)), None], "Int32"),
    ],
)
def test_nulls_give_a_masked_array(fn: Callable[..., Any], values: Any, dtype: str) -> None:
    got = fn(values)
    assert isinstance(got, pd.arrays.IntegerArray)
    assert str(got.dtype) == dtype
    assert got.isna().tolist() == [False, True, False, True]
    non_null = [v for v in values if v is not None and not pd.isna(v)]
    assert got[~got.isna()].tolist() == [fn(v) for v in non_null]


def test_nulls_with_extended_give_int64() -> None:
    got = hashint8extended([None, 7], 11)
    assert isinstance(got, pd.arrays.IntegerArray)
    assert str(got.dtype) == "Int64"
    assert got.tolist() == [pd.NA, hashint8extended(7, 11)]
    got = hashtextextended(["x", None], 11)
    assert str(got.dtype) == "Int64"
    assert got.tolist() == [hashtextextended("x", 11), pd.NA]


def test_nullable_dtype_without_nulls_gives_numpy() -> None:
    got = hashint4(pd.Series([5, 6], dtype="Int64"))
    assert isinstance(got, np.ndarray)
    assert got.tolist() == [hashint4(5), hashint4(6)]


def test_inputs_are_not_modified() -> None:
    series = pd.Series(["a", None, "b"], dtype="string")
    array = np.array(["a ", None], dtype=object)
    hashtext(series)
    hashbpchar(array)
    assert series.isna().tolist() == [False, True, False]
    assert array.tolist() == ["a ", None]


def test_masked_values_are_not_range_checked() -> None:
    # a nullable column's masked slots hold junk; they must not raise "out of range"
    assert hashint2(pd.array([None, 1], dtype="Int64")).tolist() == [pd.NA, hashint2(1)]


@pytest.mark.parametrize(
    ("fn", "value", "message"),
    [
        (hashint4, True, r"hashint4\(\) argument must be int, not bool"),
        (hashint4, 1.0, r"hashint4\(\) argument must be int, not float"),
        (hashint4, "1", r"hashint4\(\) argument must be int, not str"),
        (hashint8, np.float64(1), r"must be int, not float64"),
        (hashint4, np.bool_(True), r"must be int, not bool"),
        (hashint4, [1, True], r"must be int, not bool \(position 1\)"),
        (hashint4, [1, 2.5], r"must be int, not float \(position 1\)"),
        (hashint2, [1, "2"], r"must be int, not str \(position 1\)"),
        (hashint4, np.array([True, False]), r"must be int, not bool \(dtype bool\)"),
        (hashint4, np.array([1.0, 2.0]), r"must be int, not float \(dtype float64\)"),
        (hashint4, pd.Series([1.0, None]), r"must be int, not float \(dtype float64\)"),
        (hashint4, pd.array([1.0, None], dtype="Float64"), r"cannot hash Float64 values"),
        (hashint4, pd.array([True], dtype="boolean"), r"cannot hash boolean values"),
        (hashint4, {1, 2}, r"must be int, not set"),
        (hashint4, pd.array([None, "1"], dtype="string"), r"must be int, not str \(position 1\)"),
        (hashtext, 1, r"hashtext\(\) argument must be str or bytes, not int"),
        (hashtext, ["a", 1], r"must be str or bytes, not int \(position 1\)"),
        (hashtext, np.array([1, 2]), r"must be str or bytes, not dtype int64"),
        (hashtext, (s for s in "ab"), r"must be str or bytes, not generator"),
        (uuid_hash, 5, r"must be uuid.UUID, str or 16 bytes, not int"),
        (uuid_hash, b"short", r"must be uuid.UUID, str or 16 bytes, not bytes"),
    ],
)
def test_type_errors(fn: Callable[[Any], Any], value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        fn(value)


@pytest.mark.parametrize(
    ("fn", "value", "message"),
    [
        (hashint4, 2**31, r"^integer out of range$"),
        (hashint4, np.int64(2**31), r"^integer out of range$"),
        (hashint2, [1, 2, -32769], r"^smallint out of range \(position 2\)$"),
        (hashint4, np.array([0, 2**40]), r"^integer out of range \(position 1\)$"),
        (hashint4, np.array([0, 2**40], dtype=np.uint64), r"^integer out of range \(position 1\)$"),
        (hashint8, [0, 2**64], r"^bigint out of range \(position 1\)$"),
        (hashint8, np.array([2**63], dtype=np.uint64), r"^bigint out of range \(position 0\)$"),
        (hashint4, np.zeros((2, 2), dtype=np.int32), r"takes 1-D arrays, not 2-D"),
        (uuid_hash, "not-a-uuid", r"badly formed"),
        (uuid_hash, ["not-a-uuid"], r"badly formed .*\(position 0\)"),
    ],
)
def test_value_errors(fn: Callable[[Any], Any], value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fn(value)


def test_seed_checks() -> None:
    with pytest.raises(ValueError, match=r"^bigint out of range$"):
        hashtextextended("a", INT8_MAX + 1)
    with pytest.raises(TypeError, match=r"seed must be int, not bool"):
        hashint4extended(1, True)
    with pytest.raises(TypeError, match=r"seed must be int, not float"):
        hashint4extended(1, 1.0)  # type: ignore[call-overload]
    assert hashint4extended(1, np.int64(42)) == hashint4extended(1, 42)


def test_all_exports() -> None:
    assert sorted(hashing.__all__) == sorted(
        name for name in dir(hashing) if name.startswith(("hash", "uuid_hash"))
    )


# --- 5. large inputs complete (timings belong to bench/bench_hashing.py) --------------------


def test_large_vectors_match_server(pg: Conn) -> None:
    # Long enough to cross the internal chunk size several times, with mixed lengths so the
    # per-chunk block sorting is exercised.
    ints = np.random.default_rng(1).integers(INT4_MIN, INT4_MAX + 1, 1_000_000)
    got = hashint4(ints)
    assert got.shape == (1_000_000,)
    sample = slice(None, None, 97)
    assert got[sample].tolist() == _server(pg, "hashint4(x)", ints[sample].tolist(), "int4")
    rng = random.Random(200)
    keys = [f"key-{i}-é" * rng.randint(0, 5) if i % 3 else f"k{i}" for i in range(200_000)]
    assert hashtext(keys).tolist() == _server(pg, "hashtext(x)", keys, "text")
