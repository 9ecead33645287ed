"""Fan-out wall time and definition speed (issue targets, measured in one run).

* ``RUN ON ALL`` over 16 partitions each sleeping 0.25 s: wall <= 0.35 s (the baseline is
  the sleep itself: perfect parallelism);
* defining 1,000 proxy functions in one script: <= 1 s.

Run: ``.venv/bin/python bench/bench_fanout_define.py [--partitions N] [--functions N]``
"""

from __future__ import annotations

import argparse
import time

from plproxy_magic.sandbox import sandbox
from plproxy_magic.session import Session

SLEEP = 0.25


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--functions", type=int, default=1000)
    args = ap.parse_args()
    with Session() as s:
        sandbox("fan", partitions=args.partitions, servers=2, session=s)
        s.run("fan", "CREATE FUNCTION nap(t float8) RETURNS SETOF int "
                     "AS $$ SELECT 1 FROM pg_sleep(t) $$ LANGUAGE sql")  # fmt: skip
        s.execute("CREATE FUNCTION nap(t float8) RETURNS SETOF int AS $$ "
                  "CLUSTER 'fan'; RUN ON ALL; $$ LANGUAGE plproxy")  # fmt: skip
        s.sql("SELECT * FROM nap(0)")  # connections opened once, as in a working session
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            rows = s.sql(f"SELECT * FROM nap({SLEEP})")
            best = min(best, time.perf_counter() - t0)
        script = "\n".join(
            f"CREATE FUNCTION f{i}(a int, b text) RETURNS SETOF text AS $$ CLUSTER 'fan'; "
            f"RUN ON hashint4(a); SELECT b || a::text; $$ LANGUAGE plproxy;"
            for i in range(args.functions)
        )
        t0 = time.perf_counter()
        s.execute(script)
        define = time.perf_counter() - t0
    print(f"fan-out: {args.partitions} partitions x {SLEEP} s sleep: {best:.3f} s wall "
          f"({len(rows)} rows), ratio to the sleep {best / SLEEP:.2f} "
          f"(target <= 0.35 s: {'PASS' if best <= 0.35 else 'FAIL'})")  # fmt: skip
    per_1000 = define * 1000 / args.functions
    verdict = "PASS" if per_1000 <= 1 else "FAIL"
    print(f"define {args.functions} proxy functions: {define:.3f} s "
          f"(target <= 1 s per 1000: {verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
