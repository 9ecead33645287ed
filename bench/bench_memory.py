"""Peak memory of a large result (issue target: <= ~2 x the DataFrame's own size).

Loads ``--rows`` rows (default 1,000,000) of (int, int, text) into 4 partition databases on
an embedded server, then measures each contender in a fresh Python process (so nothing
else the process did inflates the figures):

* plproxy_magic: ``get_rows()``, a ``RUN ON ALL`` proxy function over the 4 partitions;
* reference (not a target): direct psycopg, ``fetchall`` from each partition, one
  ``pd.DataFrame`` of all rows, as a user would build it by hand.

In the child process everything is imported and the connections opened by a small warm-up
call first; then the resident set size is read (``VmRSS``), the kernel's peak counter is
reset (``/proc/self/clear_refs``), the call made, and the peak read (``VmHWM``).

    ratio = (peak RSS during the call - RSS before it) / df.memory_usage(deep=True).sum()

The DataFrame itself is part of the peak, so a ratio of 2 means the transient cost equals
the DataFrame's size. A second child per contender measures the same with ``tracemalloc``
(Python allocations only: libpq's own result buffers are not seen; slower).
Run: ``.venv/bin/python bench/bench_memory.py [--rows N] [--no-tracemalloc]``
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

PARTS = 4
NODE = """
CREATE TABLE t (a int, b int, c text);
INSERT INTO t SELECT i, i % 1000, 'row ' || i FROM generate_series(1, {per}) i;
CREATE FUNCTION get_rows(n bigint) RETURNS TABLE (a int, b int, c text)
  AS $$ SELECT t.a, t.b, t.c FROM t LIMIT n $$ LANGUAGE sql STABLE;
ANALYZE t;
"""
PROXY = """CREATE FUNCTION get_rows(n bigint) RETURNS TABLE (a int, b int, c text) AS $$
    CLUSTER 'mem'; RUN ON ALL;
$$ LANGUAGE plproxy"""
ALL = 2**62


def _status() -> dict[str, int]:
    """Current and peak resident set size, in bytes."""
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+) kB", text).group(1)) * 1024  # type: ignore[union-attr]
            for k in ("VmRSS", "VmHWM")}  # fmt: skip


def child(mode: str, parts: list[str], traced: bool) -> dict[str, Any]:
    """Runs in a fresh process: one measured call, the figures as a dict."""
    import pandas as pd
    import psycopg

    if mode == "ours":
        from plproxy_magic.session import Session

        s = Session()
        s.add_cluster("mem", parts)
        s.execute(PROXY)
        get_rows = s.functions["get_rows"]

        def call(n: int) -> pd.DataFrame:
            return get_rows(n)
    else:
        conns = [psycopg.connect(p, autocommit=True) for p in parts]

        def call(n: int) -> pd.DataFrame:
            rows: list[Any] = []
            for conn in conns:
                cur = conn.execute("SELECT * FROM get_rows(%s)", [n])
                rows.extend(cur.fetchall())
                cols = [d.name for d in cur.description or ()]
            return pd.DataFrame(rows, columns=cols)

    warm = call(100)
    warm.memory_usage(deep=True).sum()
    del warm
    gc.collect()
    if traced:
        tracemalloc.start()
        df = call(ALL)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        before = 0
    else:
        before = _status()["VmRSS"]
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        df = call(ALL)
        peak = _status()["VmHWM"]
    return {"rows": len(df), "df": int(df.memory_usage(deep=True).sum()), "peak": peak - before}


def measure(mode: str, parts: list[str], traced: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", mode, *(["--traced"] if traced else []), *parts]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"child {mode} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--child", choices=["ours", "direct"])
    ap.add_argument("--traced", action="store_true")
    ap.add_argument("partitions", nargs="*")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.partitions, args.traced)))
        return 0

    from plproxy_magic.sandbox import sandbox
    from plproxy_magic.session import Session

    with Session() as s:
        sb = sandbox("mem", partitions=PARTS, servers=1, session=s)
        s.run("mem", NODE.format(per=args.rows // PARTS))
        results = {}
        for mode in ("ours", "direct"):
            for traced in (False, True) if not args.no_tracemalloc else (False,):
                results[mode, traced] = measure(mode, sb.partitions, traced)
    mib = 1 / 2**20
    print(f"rows={args.rows} over {PARTS} partitions, (int, int, text)")
    ratio = 0.0
    for (mode, traced), r in results.items():
        what = "plproxy_magic get_rows()" if mode == "ours" else "direct psycopg (reference)"
        how = "tracemalloc peak" if traced else "peak RSS growth"
        r_ratio = r["peak"] / r["df"]
        print(f"  {what:28s} {how:17s} {r['peak'] * mib:8.1f} MiB; DataFrame "
              f"{r['df'] * mib:7.1f} MiB ({r['rows']} rows); ratio {r_ratio:.2f}")  # fmt: skip
        if mode == "ours" and not traced:
            ratio = r_ratio
    print(f"peak memory ratio (RSS): {ratio:.2f} "
          f"(target <= 2.0: {'PASS' if ratio <= 2.0 else 'FAIL'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
