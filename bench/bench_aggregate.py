"""Two-stage aggregation over 8 partitions (issue targets, measured in one run).

Loads N rows (default 4,000,000) into 8 partition databases on embedded servers, then:

* baseline: each partition's own ``SELECT g, avg(x) FROM t GROUP BY g``, run alone; the
  slowest of the eight;
* plproxy_magic: the same query through ``Session.run`` (partials on all partitions in
  parallel, combined in the kernel).

Prints rows transferred (target <= partitions x groups) and the wall-time ratio against the
slowest partition (target <= 1.3). Note: on a 2-core machine eight partitions share two
cores, so the parallel wall time cannot approach one partition's time alone. For the cost
of plproxy_magic itself it also prints the ratio against the same eight queries run
concurrently over eight direct psycopg connections (threads, no combining): the best any
client can do on this machine.
Run: ``.venv/bin/python bench/bench_aggregate.py [--rows N] [--servers K]``
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from plproxy_magic.sandbox import sandbox
from plproxy_magic.session import Session

GROUPS = 16
QUERY = "SELECT g, avg(x) FROM t GROUP BY g"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--servers", type=int, default=2)
    args = ap.parse_args()
    parts = 8
    per = args.rows // parts
    with Session() as s:
        sb = sandbox("aggbench", partitions=parts, servers=args.servers, session=s)
        s.run(
            "aggbench",
            f"CREATE TABLE t (g int, x int); INSERT INTO t SELECT i % {GROUPS}, i % 1000 "
            f"FROM generate_series(1, {per}) i; ANALYZE t",
        )
        own = []
        for connstr in sb.partitions:
            with psycopg.connect(connstr) as conn:
                conn.execute(QUERY).fetchall()  # warm
                t0 = time.perf_counter()
                conn.execute(QUERY).fetchall()
                own.append(time.perf_counter() - t0)
        conns = [psycopg.connect(c) for c in sb.partitions]
        direct = float("inf")
        with ThreadPoolExecutor(parts) as pool:
            for _ in range(3):
                t0 = time.perf_counter()
                list(pool.map(lambda c: c.execute(QUERY).fetchall(), conns))
                direct = min(direct, time.perf_counter() - t0)
        for c in conns:
            c.close()
        s.run("aggbench", QUERY)  # warm connections
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            df = s.run("aggbench", QUERY)
            best = min(best, time.perf_counter() - t0)
        partials = s.run("aggbench", QUERY, partials=True)
    slowest = max(own)
    ratio = best / slowest
    print(f"rows={args.rows} partitions={parts} groups={GROUPS} cores={os.cpu_count()}")
    print(f"rows transferred: {len(partials)} (target <= {parts * GROUPS}: "
          f"{'PASS' if len(partials) <= parts * GROUPS else 'FAIL'})")  # fmt: skip
    print(f"slowest partition alone: {slowest * 1000:8.1f} ms")
    print(f"two-stage, all partitions: {best * 1000:8.1f} ms  ({len(df)} groups)")
    print(f"ratio: {ratio:.2f} (target <= 1.3: {'PASS' if ratio <= 1.3 else 'FAIL'})")
    print(f"the 8 queries concurrently over direct connections: {direct * 1000:8.1f} ms")
    print(f"two-stage vs direct concurrent (info: plproxy_magic's own cost): {best / direct:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
