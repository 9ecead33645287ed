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
        ("bench_batch.py", ["--rows", "300"], "same rows in the same order: True"),
        ("bench_aggregate.py", ["--rows", "8000", "--servers", "1"], "rows transferred: 128"),
        ("bench_fanout_define.py", ["--partitions", "4", "--functions", "50"], "define 50"),
    ],
)
def test_benchmark_runs(script: str, args: list[str], expect: str) -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout
    assert "target" in out.stdout
