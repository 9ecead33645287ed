"""Pure partition selection (no database): mapping arithmetic, RUN ON forms, SPLIT."""

from __future__ import annotations

import random

import numpy as np
import pytest

from plproxy_magic.errors import RoutingError, SqlError
from plproxy_magic.language.ast import ArgRef, RunAll, RunAny, RunNr, UnknownRef
from plproxy_magic.routing import check_hash, partition_of, route

# (hash, n, bitmask partition, modular partition) measured on PostgreSQL 15.20 / PL/Proxy
MAPPING = [
    (-1524351049, 4, 3, None), (-1242090879, 4, 1, None), (385747274, 4, 2, None),
    (-272711505, 4, 3, None), (1509752520, 4, 0, None), (-96758253, 4, 3, None),
    (-1, 4, 3, None), (-5, 4, 3, None), (-9223372036854775807, 4, 1, None),
    (4294967297, 4, 1, None),
    (-1, 3, None, 1), (-2, 3, None, 2), (-3, 3, None, 0), (-4, 3, None, 1),
    (-2147483648, 3, None, 2), (-7, 3, None, 1), (1955559433, 3, None, 1),
    (-1524351049, 3, None, 1), (-1242090879, 3, None, 0),
]  # fmt: skip


@pytest.mark.parametrize(("h", "n", "mask", "mod"), MAPPING)
def test_partition_mapping_matches_c(h: int, n: int, mask: int | None, mod: int | None) -> None:
    if mask is not None:
        assert partition_of(h, n) == mask
    if mod is not None:
        assert partition_of(h, n, modular=True) == mod


@pytest.mark.parametrize("bad", [True, 1.5, "3", None, 2**63])
def test_hash_values_must_be_integers(bad: object) -> None:
    with pytest.raises(RoutingError) as e:
        check_hash(bad)
    expected = (
        "Hash function returned NULL" if bad is None else "Hash result must be int2, int4 or int8"
    )
    assert e.value.message == expected


def test_numpy_integers_are_hash_values() -> None:
    assert check_hash(np.int32(-5)) == -5


CANON4 = (0, 1, 2, 3)


def test_run_on_all_tags_every_connection_once_in_partition_order() -> None:
    assert route(RunAll(), [], 4, CANON4).partitions == [0, 1, 2, 3]
    # p0=A, p1=B, p2=A, p3=B: two connections
    assert route(RunAll(), [], 4, (0, 1, 0, 1)).partitions == [0, 1]


def test_run_on_nr_is_range_checked_at_call_time() -> None:
    assert route(RunNr(2), [], 4, CANON4).partitions == [2]
    with pytest.raises(RoutingError, match="part number out of range"):
        route(RunNr(4), [], 4, CANON4)


def test_run_on_any_is_one_partition_and_spreads() -> None:
    rng = random.Random(7)
    seen = {route(RunAny(), [], 4, CANON4, rng=rng).partitions[0] for _ in range(200)}
    assert seen == {0, 1, 2, 3}
    assert route(None, [], 4, CANON4, rng=rng).partitions[0] in seen  # default is ANY


def test_run_on_argument_value() -> None:
    assert route(ArgRef(1), ["x", -1], 4, CANON4).partitions == [3]
    with pytest.raises(RoutingError, match="Hash function returned NULL"):
        route(ArgRef(0), [None], 4, CANON4)


def test_unknown_name_fails_at_call_time() -> None:
    with pytest.raises(SqlError, match='column "b" does not exist'):
        route(UnknownRef("b"), [1], 4, CANON4)


def test_multi_hash_order_is_first_tag_order() -> None:
    def hashes(values: object) -> list[int]:
        return [3, 2, 1, 0]

    def more(values: object) -> list[int]:
        return [6, 5, 4, 3, 2, 1, 0]

    assert route(RunAny(), [], 4, CANON4).partitions  # sanity
    from plproxy_magic.language.ast import FuncCall, SqlText

    fc = FuncCall("f", SqlText(("f()",)))
    assert route(fc, [], 4, CANON4, hash_source=hashes).partitions == [3, 2, 1, 0]
    assert route(fc, [], 4, CANON4, hash_source=more).partitions == [2, 1, 0, 3]
    assert route(fc, [], 4, CANON4, hash_source=lambda v: []).partitions == []
    with pytest.raises(RoutingError, match="Only set-returning function allows hashcount <> 1"):
        route(fc, [], 4, CANON4, setof=False, hash_source=hashes)


def test_split_routes_each_element_and_builds_sub_arrays() -> None:
    from plproxy_magic.language.ast import FuncCall, SqlText

    fc = FuncCall("ascii", SqlText(("ascii(", ArgRef(0), ")")))
    r = route(
        fc,
        [["a", "b", "c", "d", "e"], ["A", "B", "C", "D", "E"], "fixed"],
        4,
        CANON4,
        split=(0, 1),
        hash_source=lambda v: [ord(v[0])],
    )
    # ascii('a') = 97 -> p1, 98 -> p2, 99 -> p3, 100 -> p0, 101 -> p1
    assert r.partitions == [1, 2, 3, 0]
    assert r.split is not None
    assert r.split[1] == [["a", "e"], ["A", "E"], "fixed"]
    assert r.split[0] == [["d"], ["D"], "fixed"]


def test_split_errors_and_null_arrays() -> None:
    src = lambda v: [0]  # noqa: E731
    from plproxy_magic.language.ast import FuncCall, SqlText

    fc = FuncCall("f", SqlText(("f()",)))
    with pytest.raises(RoutingError, match="split arrays must be of identical lengths"):
        route(fc, [[1, 2], [1]], 4, CANON4, split=(0, 1), hash_source=src)
    with pytest.raises(RoutingError, match="split arrays must be of identical lengths"):
        route(fc, [None, [1]], 4, CANON4, split=(0, 1), hash_source=src)
    with pytest.raises(RoutingError, match="multi-dimensional"):
        route(fc, [[[1], [2]]], 4, CANON4, split=(0,), hash_source=src)
    assert route(fc, [None, None], 4, CANON4, split=(0, 1), hash_source=src).partitions == []
    all_parts = route(RunAll(), [[1, 2]], 4, CANON4, split=(0,))
    assert all_parts.partitions == [0, 1, 2, 3]
    assert all_parts.split is not None and all_parts.split[3] == [[1, 2]]
