"""Run every benchmark with its default sizes, one after another, then list the verdicts.

Each script's output is shown as it runs; at the end every line that states a target is
repeated, so the PASS/FAIL summary fits on one screen. Exit status 1 if a script failed
to run (a FAIL verdict is a result, not an error).
Run: ``.venv/bin/python bench/run_all.py [NAME ...]`` (``NAME``: e.g. ``single_call``;
default all ``bench/bench_*.py``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", help="scripts to run, e.g. single_call large")
    args = ap.parse_args()
    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.names:
        scripts = [p for p in scripts if p.stem.removeprefix("bench_") in args.names]
    verdicts: list[str] = []
    failed: list[str] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if "target" in line:
                verdicts.append(f"{script.name}: {line.strip()}")
        if proc.wait() != 0:
            failed.append(script.name)
        print(f"== {script.name}: {time.perf_counter() - t0:.0f} s, exit {proc.returncode}\n")
    print("== verdicts")
    for v in verdicts:
        print(v)
    if failed:
        print(f"failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
