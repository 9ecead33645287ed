"""Every benchmark script runs end to end with tiny sizes (the timing itself is not tested:
benchmarks print ratios; see bench/RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("bench_batch.py", ["--rows", "300"], ["same rows in the same order: True"]),
        ("bench_aggregate.py", ["--rows", "8000", "--servers", "1"], ["rows transferred: 128"]),
        ("bench_fanout_define.py", ["--partitions", "4", "--functions", "50"], ["define 50"]),
        (
            "bench_single_call.py",
            ["--users", "200", "--calls", "60", "--rounds", "1", "--threads", "1", "2"],
            [f"{n} thread(s) ratio to {b}:" for n in (1, 2) for b in ("direct", "real PL/Proxy")],
        ),
        (
            "bench_large.py",
            ["--rows-per-partition", "500", "--runs", "1"],
            [
                "ratio to real PL/Proxy:",
                "ratio to the fastest single connection:",
                "same rows as real PL/Proxy: True",
            ],
        ),
        (
            "bench_overhead.py",
            ["--calls", "300", "--rounds", "1"],
            ["routing overhead per call, get_user(k):", "routing overhead per call, s.sql"],
        ),
        ("bench_memory.py", ["--rows", "4000"], ["peak memory ratio (RSS):"]),
    ],
)
def test_benchmark_runs(script: str, args: list[str], expect: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for line in expect:
        assert line in out.stdout, out.stdout
    assert "target" in out.stdout
