"""Batched per-row calls vs real PL/Proxy's one remote call per row (issue target: >= 20x).

Sets up one PostgreSQL 15 with Debian's plproxy (a proxy database and 4 partitions, users
placed by ``hashint4(id) & 3``), then times, in the same run:

* baseline: ``SELECT get_user_email(i) FROM generate_series(1, N) i`` through real PL/Proxy
  (one remote call per row), fetched by psycopg;
* plproxy_magic: ``get_user_email.map(range(1, N + 1))`` on the same partitions.

Each time is the best of three. Run: ``.venv/bin/python bench/bench_batch.py [--rows N]``
(needs ``apt-get install postgresql-15-plproxy``; as root the server runs as ``postgres``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real_plproxy import start

from plproxy_magic.session import Session

NODE = """
CREATE TABLE users (id int PRIMARY KEY, email text);
INSERT INTO users SELECT i, 'user' || i || '@example.com' FROM generate_series(1, {rows}) i
  WHERE hashint4(i) & 3 = {part};
CREATE FUNCTION get_user_email(i_id int) RETURNS text
  AS $$ SELECT email FROM users WHERE id = i_id $$ LANGUAGE sql STABLE;
ANALYZE users;
"""
PROXY = """CREATE FUNCTION get_user_email(i_id int) RETURNS text AS $$
    CLUSTER 'bench'; RUN ON hashint4(i_id);
$$ LANGUAGE plproxy"""


def best_of(fn: Callable[[], Any], runs: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    n = ap.parse_args().rows
    real = start()
    try:
        parts = [real.create_database(f"bench_p{i}") for i in range(4)]
        real.create_database("bench_proxy")
        for i in range(4):
            with real.connect(f"bench_p{i}") as conn:
                conn.execute(NODE.format(rows=n, part=i))
        with real.connect("bench_proxy") as proxy:
            opts = ", ".join(f"p{i} '{p}'" for i, p in enumerate(parts))
            proxy.execute("CREATE EXTENSION plproxy")
            proxy.execute(f"CREATE SERVER bench FOREIGN DATA WRAPPER plproxy OPTIONS ({opts})")
            proxy.execute("CREATE USER MAPPING FOR PUBLIC SERVER bench")
            proxy.execute(PROXY)
            query = f"SELECT get_user_email(i) FROM generate_series(1, {n}) i"
            t_real, real_rows = best_of(lambda: proxy.execute(query).fetchall())
        with Session() as s:
            s.add_cluster("bench", parts)
            s.execute(PROXY)
            fn = s.functions["get_user_email"]
            keys = list(range(1, n + 1))
            t_ours, df = best_of(lambda: fn.map(keys))
        same = [r[0] for r in real_rows] == df["get_user_email"].tolist()
        ratio = t_real / t_ours
        print(f"rows={n}")
        print(f"real PL/Proxy, one call per row: {t_real * 1000:9.1f} ms")
        print(f"plproxy_magic, batched:          {t_ours * 1000:9.1f} ms")
        print(f"speed-up: {ratio:.1f}x (target >= 20x: {'PASS' if ratio >= 20 else 'FAIL'})")
        print(f"same rows in the same order: {same}")
        return 0 if same else 1
    finally:
        real.stop()


if __name__ == "__main__":
    raise SystemExit(main())
