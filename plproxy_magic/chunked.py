"""One statement in libpq's chunked-rows mode: a large result set arrives a chunk at a time.

Fetched whole, a result set of a million rows is alive three times over: libpq's buffers,
one Python tuple per row, and the DataFrame. Fetched in chunks, a result set of one chunk
stays rows (the usual small result), and from the second chunk on every chunk becomes
columns (:class:`~plproxy_magic.columns.Chunks`) as it arrives, in the worker thread that
fetches it; then only one chunk of tuples and of libpq's buffers is alive at a time.

psycopg's ``Cursor.stream(size=...)`` fetches the same way, but fails on a statement without
rows (an UPDATE) after running it, never uses a prepared statement and yields rows one by
one; :func:`fetch` takes any statement, loads each chunk at once, and sends the statement as
``Cursor.execute`` does: parameters adapted by the cursor, and prepared on the server once
it ran ``prepare_threshold`` times (the connection's own cache of prepared statements), which
saves a repeated small query its planning. That takes psycopg's private cursor methods;
:data:`AVAILABLE` is False without them or with a libpq older than 17 (then fan-outs fetch
whole result sets, as before).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg.abc import PQGen
from psycopg.generators import execute as _execute
from psycopg.generators import fetch as _fetch_result
from psycopg.generators import send as _send

from plproxy_magic.columns import Chunks

try:
    from psycopg._preparing import Prepare
except ImportError:  # pragma: no cover - another psycopg
    Prepare = None  # type: ignore[assignment, misc]

__all__ = ["AVAILABLE", "Fetched", "fetch", "mode_left"]

_PRIVATE = ("_start_query", "_convert_query", "_get_prepared", "_execute_send", "_send_prepare",
            "_send_query_prepared", "_raise_for_result", "_make_row_maker")  # fmt: skip
AVAILABLE = (
    psycopg.capabilities.has_stream_chunked()
    and hasattr(pq.ExecStatus, "TUPLES_CHUNK")
    and Prepare is not None
    and all(hasattr(psycopg.RawCursor, name) for name in _PRIVATE)
)
_TUPLES_CHUNK = getattr(pq.ExecStatus, "TUPLES_CHUNK", -1)
_DONE = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY)

#: connections whose last statement ran in chunked-rows mode. libpq (17, 18) resets the mode
#: when the next statement is sent, except when that statement is the first of a pipeline:
#: its rows would come in chunks, which psycopg's pipeline refuses.
_MODE_LEFT: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def mode_left(conn: psycopg.Connection[Any]) -> bool:
    """True (once) when a pipeline opened on ``conn`` must first send a statement without
    rows, to take the chunked-rows mode left over by :func:`fetch`."""
    if conn in _MODE_LEFT:
        _MODE_LEFT.discard(conn)
        return True
    return False


def _send_gen(
    cur: psycopg.RawCursor[Any], sql: str, params: Sequence[Any] | None, size: int
) -> PQGen[tuple[Any, Any, bytes]]:
    """``Cursor.execute``'s sending part (psycopg's ``_maybe_prepare_gen``), in chunked mode.

    Returns what the prepared-statement cache needs to validate the outcome.
    """
    conn = cur.connection
    yield from cur._start_query(sql)
    pgq = cur._convert_query(sql, params)
    prep, name = cur._get_prepared(pgq)
    if prep is Prepare.NO:
        cur._execute_send(pgq, force_extended=True)  # one statement: one result set
    else:
        if prep is Prepare.SHOULD:
            cur._send_prepare(name, pgq)
            for res in (yield from _execute(conn.pgconn)):
                if res.status == pq.ExecStatus.FATAL_ERROR:
                    cur._raise_for_result(res)
        cur._send_query_prepared(name, pgq)
    key = conn._prepared.maybe_add_to_cache(pgq, prep, name)
    conn.pgconn.set_chunked_rows_mode(size)
    yield from _send(conn.pgconn)
    return key, prep, name


@dataclass
class Fetched:
    """What one statement returned."""

    status: str = ""
    rowcount: int = -1
    #: None: the statement returned no result set
    columns: list[str] | None = None
    type_oids: list[int] | None = None
    #: a result set of one chunk
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: a result set of several chunks, as columns
    chunks: Chunks | None = None


def fetch(
    cur: psycopg.RawCursor[Any], sql: str, params: Sequence[Any] | None, size: int
) -> Fetched:
    """Run ``sql`` on ``cur``'s connection, its rows ``size`` at a time.

    Server errors raise as from ``cur.execute``. Stopped midway (an exception while
    loading), the query is cancelled and the connection drained, so it stays usable.
    """
    conn = cur.connection
    pgconn = conn.pgconn
    got = Fetched()
    first: list[Any] | None = None  # the first chunk, rows until a second one comes
    chunks: Chunks | None = None
    count = 0
    final = error = None
    tag = b""  # the command tag comes with the last chunk, not with the final result
    with conn.lock:
        _MODE_LEFT.add(conn)
        key, prep, name = conn.wait(_send_gen(cur, sql, params, size))
        try:
            while (res := conn.wait(_fetch_result(pgconn))) is not None:
                status = res.status
                tag = res.command_status or tag
                if status == _TUPLES_CHUNK and error is None:
                    cur.pgresult = res
                    cur._tx.set_pgresult(res, set_loaders=got.columns is None)
                    if got.columns is None:
                        _describe(cur, got)
                        make_row = cur._make_row_maker()
                    rows = cur._tx.load_rows(0, res.ntuples, make_row)
                    count += len(rows)
                    if chunks is None and first is None:
                        first = rows
                        continue
                    if chunks is None:
                        chunks = Chunks(got.type_oids or [])
                        chunks.add(first or [])
                        first = None
                    chunks.add(rows)
                elif status in _DONE:
                    final = res
                elif error is None:
                    error = res
        finally:
            if pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
                # Stopped mid-stream: cancel the query, then read what is left.
                with suppress(Exception):
                    conn.cancel_safe(timeout=5.0)
                with suppress(Exception):
                    while conn.wait(_fetch_result(pgconn)) is not None:
                        pass
        outcome = error or final
        if key is not None:  # a statement new to the cache: keep it if it ran well
            conn._prepared.validate(key, prep, name, [outcome] if outcome is not None else [])
        if error is None:
            conn.wait(conn._prepared.maintain_gen(conn))  # deallocate what the cache dropped
    cur.pgresult = final
    if error is not None:
        cur._raise_for_result(error)
    if final is None:
        raise psycopg.InternalError("the server sent no result")
    got.status = tag.decode()
    if final.status != pq.ExecStatus.TUPLES_OK:
        n = final.command_tuples
        got.rowcount = n if n is not None else -1
        got.columns = got.type_oids = None
        return got
    if got.columns is None:  # no rows: the final result describes the columns
        _describe(cur, got)
    got.rowcount = count
    got.rows, got.chunks = first or [], chunks
    return got


def _describe(cur: psycopg.RawCursor[Any], got: Fetched) -> None:
    desc = cur.description or []
    got.columns = [d.name for d in desc]
    got.type_oids = [d.type_code for d in desc]
