"""Per-call routing overhead in the kernel, without the network (issue target: <= 50 µs).

What is measured, exactly: a routed call ``get_user(key)`` (``RUN ON hashint4(i_id)``, 4
partitions on an embedded server, one row back) runs its whole plproxy_magic path, from
the callable through overload resolution, argument binding, the plan cache, the hash,
partition choice, connection checkout (with its liveness check, a ``select()`` on the
socket) and checkin, to the DataFrame, with one substitution: ``psycopg.RawCursor`` is
replaced by a stand-in that returns the rows, column descriptions and status a real call
recorded moments before, without any I/O. What is left out is therefore the round trip
and psycopg's own client-side encoding/decoding of it, which a direct psycopg call pays
too. The stand-in's own cost (measured alone) is subtracted.

* routing overhead = kernel time per call - time in the DataFrame build (``to_frame``,
  timed inside the same calls) - the stand-in's cost. Target <= 50 µs.
* the same for the SQL form ``s.sql("SELECT * FROM get_user($1)", [key])``, which also
  parses the statement (informational; the notebook's ``%%plproxy`` path).
* informational: the real call and a direct psycopg call + ``pd.DataFrame`` on the same
  partitions, with the network; and the plain ``pd.DataFrame(rows, columns=...)`` of the
  same row that the direct baseline builds (to compare with ``to_frame``).

Each figure is the best of ``--rounds`` means over ``--calls`` calls. ``--profile`` prints
the top of a cProfile of the replayed call. Run: ``.venv/bin/python bench/bench_overhead.py
[--calls N] [--rounds N] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import pandas as pd
import psycopg

import plproxy_magic.session as session_module
from plproxy_magic.sandbox import sandbox
from plproxy_magic.session import Session

USERS = 1000
NODE = f"""
CREATE TABLE users (id int PRIMARY KEY, name text, score int);
INSERT INTO users SELECT i, 'user' || i, i % 100 FROM generate_series(1, {USERS}) i;
CREATE FUNCTION get_user(i_id int, OUT id int, OUT name text, OUT score int)
  AS $$ SELECT u.id, u.name, u.score FROM users u WHERE u.id = i_id $$ LANGUAGE sql STABLE;
"""
PROXY = """CREATE FUNCTION get_user(i_id int, OUT id int, OUT name text, OUT score int) AS $$
    CLUSTER 'ovh'; RUN ON hashint4(i_id);
$$ LANGUAGE plproxy"""
WARM = 200


class Recorder(psycopg.RawCursor[Any]):
    """A real RawCursor that keeps what its last ``fetchall`` saw."""

    seen: ClassVar[dict[str, Any]] = {}

    def fetchall(self) -> list[Any]:
        rows = super().fetchall()
        Recorder.seen = {
            "description": self.description,
            "statusmessage": self.statusmessage,
            "rowcount": self.rowcount,
            "rows": rows,
        }
        return rows


class Replay:
    """Stands in for ``psycopg.RawCursor``: no I/O, the recorded result of a real call."""

    executed = 0
    description: Any = None
    statusmessage = ""
    rowcount = -1
    rows: ClassVar[list[Any]] = []

    def __init__(self, conn: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        pass

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Replay:
        Replay.executed += 1
        return self

    def fetchall(self) -> list[Any]:
        return list(self.rows)


class Clock:
    """Wraps a function and adds up the time spent in it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.total, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.total += time.perf_counter() - t0
            self.calls += 1


@contextmanager
def replaced(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def per_call(fn: Callable[[int], Any], keys: Sequence[int], rounds: int) -> float:
    """Best of ``rounds`` mean seconds per call over ``keys`` (after a warm-up)."""
    for k in keys[:WARM]:
        fn(k)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for k in keys:
            fn(k)
        best = min(best, (time.perf_counter() - t0) / len(keys))
    return best


def kernel_time(fn: Callable[[int], Any], keys: Sequence[int], rounds: int) -> tuple[float, float]:
    """Per call with the round trip replayed: (total, of which in to_frame), best round."""
    best = (float("inf"), 0.0)
    for k in keys[:WARM]:
        fn(k)
    for _ in range(rounds):
        clock = Clock(session_module.to_frame)
        before = Replay.executed
        with replaced(session_module, "to_frame", clock):
            t0 = time.perf_counter()
            for k in keys:
                fn(k)
            total = (time.perf_counter() - t0) / len(keys)
        if Replay.executed - before != len(keys) or clock.calls != len(keys):
            raise SystemExit(
                f"the substitution did not take: {Replay.executed - before} replayed "
                f"queries and {clock.calls} DataFrame builds for {len(keys)} calls "
                "(plproxy_magic's call path changed; adapt this benchmark)"
            )
        if total < best[0]:
            best = (total, clock.total / len(keys))
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    rng = random.Random(8)
    keys = [rng.randint(1, USERS) for _ in range(args.calls)]
    with Session() as s:
        sb = sandbox("ovh", partitions=4, servers=1, session=s)
        s.run("ovh", NODE)
        s.execute(PROXY)
        get_user = s.functions["get_user"]

        def sql_form(k: int) -> pd.DataFrame:
            return s.sql("SELECT * FROM get_user($1)", [k])

        # With the network, for context.
        conns = [psycopg.connect(p, autocommit=True) for p in sb.partitions]
        part_of = dict(
            conns[0].execute(f"SELECT i, hashint4(i) & 3 FROM generate_series(1, {USERS}) i")
        )

        def direct(k: int) -> pd.DataFrame:
            cur = conns[part_of[k]].execute("SELECT * FROM get_user(%s)", [k])
            rows = cur.fetchall()
            return pd.DataFrame(rows, columns=[d.name for d in cur.description or ()])

        t_direct = per_call(direct, keys, args.rounds)
        for c in conns:
            c.close()
        t_real = per_call(get_user, keys, args.rounds)

        # Record one real result, then replay it for every call.
        with replaced(psycopg, "RawCursor", Recorder):
            expected = get_user(keys[0])
        for attr, value in Recorder.seen.items():
            setattr(Replay, attr, value)
        with replaced(psycopg, "RawCursor", Replay):
            replayed = get_user(keys[0])
            if not replayed.equals(expected):
                raise SystemExit(f"the replayed call differs:\n{replayed}\n{expected}")
            total, in_frame = kernel_time(get_user, keys, args.rounds)
            sql_total, sql_frame = kernel_time(sql_form, keys, args.rounds)
            cols = [d.name for d in Replay.description]
            plain_frame = per_call(lambda k: pd.DataFrame(Replay.rows, columns=cols), keys,
                                   args.rounds)  # fmt: skip
            stand_in = per_call(lambda k: Replay(None).execute("", [k]).fetchall(), keys,
                                args.rounds)  # fmt: skip
            if args.profile:
                prof = cProfile.Profile()
                prof.runcall(lambda: [get_user(k) for k in keys])
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
                print(out.getvalue())

    routing = total - in_frame - stand_in
    sql_routing = sql_total - sql_frame - stand_in
    us = 1e6
    print(f"calls={args.calls} rounds={args.rounds} (best round's mean), 4 partitions")
    print(f"  with the network: direct psycopg + DataFrame     {t_direct * us:7.1f} µs/call")
    print(f"  with the network: plproxy_magic get_user(k)      {t_real * us:7.1f} µs/call")
    print(f"  replayed round trip: get_user(k), kernel time    {total * us:7.1f} µs/call")
    print(f"    of which the DataFrame build (to_frame)        {in_frame * us:7.1f} µs/call")
    print(f"    of which the stand-in cursor                   {stand_in * us:7.1f} µs/call")
    print(f"  for comparison: pd.DataFrame(rows, columns=...)  {plain_frame * us:7.1f} µs/call")
    print(f"  replayed round trip: s.sql(...), kernel time     {sql_total * us:7.1f} µs/call")
    print(f"    of which the DataFrame build (to_frame)        {sql_frame * us:7.1f} µs/call")
    print(f"routing overhead per call, get_user(k): {routing * us:.1f} µs "
          f"(target <= 50 µs: {'PASS' if routing <= 50e-6 else 'FAIL'})")  # fmt: skip
    print(f"routing overhead per call, s.sql(...) (info, includes parsing the SQL): "
          f"{sql_routing * us:.1f} µs")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
