"""One routed call, one row back as a DataFrame: vs a direct call and vs real PL/Proxy.

Issue targets (per-call latency, at 1 and at 8 concurrent threads):

* <= 1.2 x a direct psycopg call of the same partition function + ``pd.DataFrame``;
* <= 0.8 x the same call through real PL/Proxy + the same ``pd.DataFrame``.

One PostgreSQL 15 server (Debian's, with plproxy) holds four partition databases (users
placed by ``hashint4(id) & 3``) and a proxy database. All three contenders reach the *same*
partition databases over unix sockets, so the only differences are the proxy hop and the
client-side work:

* direct: per thread one persistent psycopg connection per partition; the key's partition
  is known in advance (not timed); ``SELECT * FROM get_user(%s)``, ``fetchall()``,
  ``pd.DataFrame(rows, columns=...)``;
* real PL/Proxy: per thread one persistent connection to the proxy database; the same
  statement there, ``fetchall()``, the same ``pd.DataFrame``;
* plproxy_magic: one shared :class:`Session` whose cluster is the same four databases;
  ``get_user(key)`` (the callable a definition creates), which routes, runs and builds the
  DataFrame. Informational (one thread): the SQL form
  ``s.sql("SELECT * FROM get_user($1)", [key])``.

Each measurement is ``--calls`` calls per thread on random keys after a warm-up (so
psycopg's automatic prepared statements are in place on every side); the contenders are
interleaved and each reported figure is the best of ``--rounds`` measurements of the mean
per-call latency (at 8 threads: the mean over threads of each thread's own mean; throughput
is all calls / wall time). Run: ``.venv/bin/python bench/bench_single_call.py
[--users N] [--calls N] [--rounds N] [--threads 1 8]``
(needs ``apt-get install postgresql-15-plproxy``; as root the server runs as ``postgres``).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from real_plproxy import RealServer, start

from plproxy_magic.session import Session

PARTS = 4
NODE = """
CREATE TABLE users (id int PRIMARY KEY, name text, score int);
INSERT INTO users SELECT i, 'user' || i, i % 100 FROM generate_series(1, {rows}) i
  WHERE hashint4(i) & 3 = {part};
CREATE FUNCTION get_user(i_id int, OUT id int, OUT name text, OUT score int)
  AS $$ SELECT u.id, u.name, u.score FROM users u WHERE u.id = i_id $$ LANGUAGE sql STABLE;
ANALYZE users;
"""
PROXY = """CREATE FUNCTION get_user(i_id int, OUT id int, OUT name text, OUT score int) AS $$
    CLUSTER 'bench'; RUN ON hashint4(i_id);
$$ LANGUAGE plproxy"""
CALL = "SELECT * FROM get_user(%s)"
WARM = 50

#: a contender: per thread, ``factory()`` -> (call(key) -> DataFrame, close())
Factory = Callable[[], tuple[Callable[[int], pd.DataFrame], Callable[[], None]]]


@dataclass
class Measure:
    latency: float  # mean seconds per call
    throughput: float  # calls per second, all threads


def direct_factory(parts: Sequence[str], part_of: dict[int, int]) -> Factory:
    def factory() -> tuple[Callable[[int], pd.DataFrame], Callable[[], None]]:
        conns = [psycopg.connect(p, autocommit=True) for p in parts]

        def call(key: int) -> pd.DataFrame:
            cur = conns[part_of[key]].execute(CALL, [key])
            rows = cur.fetchall()
            return pd.DataFrame(rows, columns=[d.name for d in cur.description or ()])

        def close() -> None:
            for c in conns:
                c.close()

        return call, close

    return factory


def proxy_factory(proxy_dsn: str) -> Factory:
    def factory() -> tuple[Callable[[int], pd.DataFrame], Callable[[], None]]:
        conn = psycopg.connect(proxy_dsn, autocommit=True)

        def call(key: int) -> pd.DataFrame:
            cur = conn.execute(CALL, [key])
            rows = cur.fetchall()
            return pd.DataFrame(rows, columns=[d.name for d in cur.description or ()])

        return call, conn.close

    return factory


def ours_factory(call: Callable[[int], pd.DataFrame]) -> Factory:
    def factory() -> tuple[Callable[[int], pd.DataFrame], Callable[[], None]]:
        return call, lambda: None

    return factory


def measure(factory: Factory, keys: Sequence[Sequence[int]]) -> Measure:
    """Every thread (one per key list) connects, warms up, then times its calls together."""
    n = len(keys)
    start, done = threading.Barrier(n + 1), threading.Barrier(n + 1)
    elapsed = [0.0] * n
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            call, close = factory()
            try:
                for k in keys[i][:WARM]:
                    call(k)
                start.wait()
                t0 = time.perf_counter()
                for k in keys[i]:
                    call(k)
                elapsed[i] = time.perf_counter() - t0
                done.wait()
            finally:
                close()
        except BaseException as exc:
            errors.append(exc)
            start.abort()
            done.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    try:
        start.wait()
        t0 = time.perf_counter()
        done.wait()
        wall = time.perf_counter() - t0
    except threading.BrokenBarrierError:
        wall = 0.0
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    calls = sum(len(k) for k in keys)
    latency = sum(e / len(k) for e, k in zip(elapsed, keys, strict=True)) / n
    return Measure(latency, calls / wall)


def settle(real: RealServer, limit: int) -> None:
    """Wait until closed connections' backends are gone (max_connections is 100).

    ``limit``: the client backends that stay (the session's pooled connections).
    """
    deadline = time.monotonic() + 10
    with real.connect() as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE backend_type = 'client backend'").fetchone()  # fmt: skip
            if row is not None and row[0] <= limit + 1:  # + this connection
                return
            time.sleep(0.02)


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=2000, help="calls per thread per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()
    rng = random.Random(8)
    real = start()
    try:
        parts = [real.create_database(f"bench_p{i}") for i in range(PARTS)]
        real.create_database("bench_proxy")
        for i in range(PARTS):
            with real.connect(f"bench_p{i}") as conn:
                conn.execute(NODE.format(rows=args.users, part=i))
        with real.connect("bench_proxy") as proxy:
            opts = ", ".join(f"p{i} '{p}'" for i, p in enumerate(parts))
            proxy.execute("CREATE EXTENSION plproxy")
            proxy.execute(f"CREATE SERVER bench FOREIGN DATA WRAPPER plproxy OPTIONS ({opts})")
            proxy.execute("CREATE USER MAPPING FOR PUBLIC SERVER bench")
            proxy.execute(PROXY)
            part_of = {
                int(k): int(p)
                for k, p in proxy.execute(
                    f"SELECT i, hashint4(i) & 3 FROM generate_series(1, {args.users}) i"
                ).fetchall()
            }
        with Session() as s:
            s.add_cluster("bench", parts)
            s.execute(PROXY)
            get_user = s.functions["get_user"]
            check = [rng.randint(1, args.users) for _ in range(20)]
            direct_call, direct_close = direct_factory(parts, part_of)()
            try:
                for k in check:
                    ours, theirs = get_user(k), direct_call(k)
                    if ours.astype(object).values.tolist() != theirs.values.tolist():
                        print(f"different rows for key {k}:\n{ours}\n{theirs}")
                        return 1
            finally:
                direct_close()

            def sql_form(k: int) -> pd.DataFrame:
                return s.sql("SELECT * FROM get_user($1)", [k])

            contenders: dict[str, Factory] = {
                "direct psycopg + DataFrame": direct_factory(parts, part_of),
                "real PL/Proxy + DataFrame": proxy_factory(real.connstr("bench_proxy")),
                "plproxy_magic get_user(k)": ours_factory(get_user),
            }
            info = {"plproxy_magic s.sql(...) (info)": ours_factory(sql_form)}
            print(f"partitions={PARTS} users={args.users} calls per thread={args.calls} "
                  f"rounds={args.rounds} (best round's mean latency)")  # fmt: skip
            for n in args.threads:
                keys = [[rng.randint(1, args.users) for _ in range(args.calls)] for _ in range(n)]
                best: dict[str, Measure] = {}
                for _ in range(args.rounds):
                    # the SQL form is informational: timed at one thread only
                    extra = info if n == 1 else {}
                    for name, factory in {**contenders, **extra}.items():
                        m = measure(factory, keys)
                        settle(real, s.pool.stats()["idle"])
                        old = best.get(name)
                        best[name] = Measure(
                            min(m.latency, old.latency) if old else m.latency,
                            max(m.throughput, old.throughput) if old else m.throughput,
                        )
                print(f"{n} thread(s):")
                for name, m in best.items():
                    print(f"  {name:32s} {m.latency * 1e6:8.1f} µs/call"
                          f"  {m.throughput:8.0f} calls/s")  # fmt: skip
                ours_m = best["plproxy_magic get_user(k)"]
                to_direct = ours_m.latency / best["direct psycopg + DataFrame"].latency
                to_real = ours_m.latency / best["real PL/Proxy + DataFrame"].latency
                print(f"  {n} thread(s) ratio to direct: {to_direct:.2f} "
                      f"(target <= 1.2: {verdict(to_direct, 1.2)})")  # fmt: skip
                print(f"  {n} thread(s) ratio to real PL/Proxy: {to_real:.2f} "
                      f"(target <= 0.8: {verdict(to_real, 0.8)})")  # fmt: skip
        return 0
    finally:
        real.stop()


if __name__ == "__main__":
    raise SystemExit(main())
