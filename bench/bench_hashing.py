"""Time the vectorised hashes against the product targets (not part of the test suite).

Targets: 1,000,000 ``hashtext`` values in <= 1 s and 1,000,000 ``hashint4`` values in
<= 0.1 s. Each time is the best of three runs. The baseline, measured in the same run, is
the scalar (pure-Python) path over 20,000 values, scaled to 1M; the ratio is the speed-up.

Run: ``.venv/bin/python bench/bench_hashing.py``
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from plproxy_magic.hashing import hashint4, hashint8, hashtext, hashtextextended

N = 1_000_000
BASELINE_N = 20_000


def best_of(fn: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def scalar_baseline(fn: Callable[[Any], Any], values: list[Any]) -> float:
    """The pure-Python scalar path over BASELINE_N values, scaled to N."""
    sample = values[:BASELINE_N]
    return best_of(lambda: [fn(v) for v in sample], runs=1) * N / len(sample)


def main() -> None:
    rng = random.Random(20240518)
    ascii_keys = [f"user_{i}" for i in range(N)]
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789éü中😀"
    mixed_keys = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(N)]
    ints = np.random.default_rng(7).integers(-(2**31), 2**31, N, dtype=np.int64)
    int_list = ints.tolist()
    int8s = np.random.default_rng(8).integers(-(2**63), 2**63 - 1, N, dtype=np.int64)

    rows = [
        # (label, seconds, target seconds or None, scalar baseline seconds or None)
        (
            "hashtext    1M ASCII keys (list[str])",
            best_of(lambda: hashtext(ascii_keys)),
            1.0,
            scalar_baseline(hashtext, ascii_keys),
        ),
        (
            "hashtext    1M mixed 0-40 chars, non-ASCII",
            best_of(lambda: hashtext(mixed_keys)),
            1.0,
            scalar_baseline(hashtext, mixed_keys),
        ),
        (
            "hashtextextended 1M ASCII keys, seed 42",
            best_of(lambda: hashtextextended(ascii_keys, 42)),
            None,
            None,
        ),
        (
            "hashint4    1M int64 ndarray",
            best_of(lambda: hashint4(ints)),
            0.1,
            scalar_baseline(hashint4, int_list),
        ),
        ("hashint4    1M list[int]", best_of(lambda: hashint4(int_list)), None, None),
        ("hashint8    1M int64 ndarray", best_of(lambda: hashint8(int8s)), None, None),
    ]
    failed = False
    for label, seconds, target, baseline in rows:
        verdict = ""
        if target is not None:
            ok = seconds <= target
            failed |= not ok
            verdict = f"{'PASS' if ok else 'FAIL'} (target {target:g} s)"
        speedup = f"{baseline / seconds:6.0f}x scalar" if baseline else " " * 13
        print(f"{label:45s} {seconds:8.3f} s  {speedup}  {verdict}")
    print("FAIL" if failed else "PASS")


if __name__ == "__main__":
    main()
