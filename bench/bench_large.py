"""A large ``RUN ON ALL`` result into one DataFrame: vs real PL/Proxy and vs one connection.

Issue targets, for 4 partitions x 100,000 rows of (int, int, text):

* <= 1.0 x real PL/Proxy returning the same 400,000 rows to a client: psycopg fetching
  ``SELECT * FROM get_rows()`` from the proxy database and building a DataFrame, as a user
  would;
* <= 1.5 x the fastest single-connection psycopg path into pandas for the same 400,000
  rows in one table (``SELECT a, b, c FROM t``); the paths tried, each timed:
  ``fetchall`` + ``pd.DataFrame`` (text and binary protocol), binary ``COPY`` rows +
  ``pd.DataFrame``, text ``COPY`` + ``pd.read_csv``. The fastest is the baseline.

One PostgreSQL 15 server (Debian's, with plproxy) holds the four partition databases, the
proxy database and the single database with all rows; plproxy_magic's cluster is the same
four partition databases. Each time is the best of ``--runs``. Note the dtypes differ:
plproxy_magic returns nullable ``Int32`` and ``string`` columns (lossless), the baselines
pandas' default ``int64`` / ``object``.
Run: ``.venv/bin/python bench/bench_large.py [--rows-per-partition N] [--runs N]``
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real_plproxy import start

from plproxy_magic.session import Session

PARTS = 4
NODE = """
CREATE TABLE t (a int, b int, c text);
INSERT INTO t SELECT i, i % 1000, 'row ' || i FROM generate_series({lo}, {hi}) i;
CREATE FUNCTION get_rows() RETURNS TABLE (a int, b int, c text)
  AS $$ SELECT t.a, t.b, t.c FROM t $$ LANGUAGE sql STABLE;
ANALYZE t;
"""
PROXY = """CREATE FUNCTION get_rows() RETURNS TABLE (a int, b int, c text) AS $$
    CLUSTER 'bench'; RUN ON ALL;
$$ LANGUAGE plproxy"""
QUERY = "SELECT a, b, c FROM t"


def best_of(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        result = None  # the previous result is freed before the next run
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def fetch_frame(conn: psycopg.Connection[Any], sql: str, binary: bool = False) -> pd.DataFrame:
    with conn.cursor(binary=binary) as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        return pd.DataFrame(rows, columns=[d.name for d in cur.description or ()])


def copy_binary_frame(conn: psycopg.Connection[Any]) -> pd.DataFrame:
    with conn.cursor() as cur, cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "int4", "text"])
        rows = list(copy.rows())
    return pd.DataFrame(rows, columns=["a", "b", "c"])


def copy_csv_frame(conn: psycopg.Connection[Any]) -> pd.DataFrame:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT CSV)") as copy:
        for chunk in copy:
            buf.write(chunk)
    buf.seek(0)
    return pd.read_csv(buf, header=None, names=["a", "b", "c"], keep_default_na=False)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-per-partition", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    per, runs = args.rows_per_partition, args.runs
    total = per * PARTS
    real = start()
    try:
        parts = [real.create_database(f"bench_p{i}") for i in range(PARTS)]
        for i in range(PARTS):
            with real.connect(f"bench_p{i}") as conn:
                conn.execute(NODE.format(lo=i * per + 1, hi=(i + 1) * per))
        real.create_database("bench_one")
        with real.connect("bench_one") as conn:
            conn.execute(NODE.format(lo=1, hi=total))
        real.create_database("bench_proxy")
        with real.connect("bench_proxy") as proxy:
            opts = ", ".join(f"p{i} '{p}'" for i, p in enumerate(parts))
            proxy.execute("CREATE EXTENSION plproxy")
            proxy.execute(f"CREATE SERVER bench FOREIGN DATA WRAPPER plproxy OPTIONS ({opts})")
            proxy.execute("CREATE USER MAPPING FOR PUBLIC SERVER bench")
            proxy.execute(PROXY)

        print(f"rows={total} ({PARTS} partitions x {per}), best of {runs}")
        paths: dict[str, float] = {}
        with real.connect("bench_one") as one:
            candidates: dict[str, Callable[[], pd.DataFrame]] = {
                "fetchall + DataFrame (text)": lambda: fetch_frame(one, QUERY),
                "fetchall + DataFrame (binary)": lambda: fetch_frame(one, QUERY, binary=True),
                "binary COPY rows + DataFrame": lambda: copy_binary_frame(one),
                "CSV COPY + read_csv": lambda: copy_csv_frame(one),
            }
            for name, fn in candidates.items():
                paths[name], df = best_of(fn, runs)
                assert len(df) == total, (name, len(df))
                print(f"  {'one connection, ' + name:46s} {paths[name] * 1000:8.1f} ms")
        fastest = min(paths, key=paths.__getitem__)

        with real.connect("bench_proxy") as proxy:
            t_real, real_df = best_of(lambda: fetch_frame(proxy, "SELECT * FROM get_rows()"), runs)
        print(f"  {'real PL/Proxy, fetchall + DataFrame':46s} {t_real * 1000:8.1f} ms")

        with Session() as s:
            s.add_cluster("bench", parts)
            s.execute(PROXY)
            get_rows = s.functions["get_rows"]
            get_rows()  # connections opened once, as in a working session
            t_ours, ours_df = best_of(get_rows, runs)
        print(f"  {'plproxy_magic get_rows()':46s} {t_ours * 1000:8.1f} ms")

        same = (
            len(ours_df) == len(real_df) == total
            and int(ours_df["a"].sum()) == int(real_df["a"].sum())
            and ours_df["c"].tolist() == real_df["c"].tolist()
        )
        to_real = t_ours / t_real
        to_fast = t_ours / paths[fastest]
        print(f"fastest single-connection path: {fastest}")
        print(f"ratio to real PL/Proxy: {to_real:.2f} "
              f"(target <= 1.0: {'PASS' if to_real <= 1.0 else 'FAIL'})")  # fmt: skip
        print(f"ratio to the fastest single connection: {to_fast:.2f} "
              f"(target <= 1.5: {'PASS' if to_fast <= 1.5 else 'FAIL'})")  # fmt: skip
        print(f"same rows as real PL/Proxy: {same}")
        return 0 if same else 1
    finally:
        real.stop()


if __name__ == "__main__":
    raise SystemExit(main())
