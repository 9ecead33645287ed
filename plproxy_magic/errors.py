"""The one error tree of plproxy_magic, with PL/Proxy's message shapes.

Every error the core raises is a :class:`PlProxyError`. Messages keep PL/Proxy's wording so a
notebook error reads like the proxy database's would:

* ``PL/Proxy function public.f(1): Compile error at line 2: syntax error``
* ``PL/Proxy function public.f(1): [db1] PQconnectPoll: connection to server ... failed: ...``
* ``public.f(1): [db1] REMOTE ERROR: division by zero``  (remote errors carry no prefix)

The function label (``public.f(1)``: schema, name and the number of IN/INOUT arguments) is
attached by whoever knows it, usually after the error was raised deep down, with
:meth:`PlProxyError.for_function`. Errors define ``_render_traceback_`` so IPython shows one
short line, while the kernel still reports a real error (nbval fails such a cell).

Messages never show a password: every text an error is given (message, detail, hint,
context) passes through :func:`~plproxy_magic.conninfo.mask` when the error is made, so a
connect string quoted anywhere (a libpq message, an argument echoed by argparse, a remote
error) is masked once, here.
"""

from __future__ import annotations

from collections.abc import Sequence

from plproxy_magic.conninfo import mask

__all__ = [
    "CallError",
    "ClusterError",
    "CompileError",
    "ConnectError",
    "FanOutError",
    "PlProxyError",
    "QueryTimeoutError",
    "RemoteError",
    "RoutingError",
    "RowCountError",
    "SqlError",
]


class PlProxyError(Exception):
    """Root of the tree.

    Attributes: ``message`` (the bare text), ``function`` (``public.f(1)`` or None),
    ``partition`` (partition number or None), ``sqlstate`` (five characters). When one call
    ran on several partitions, ``completed`` lists the partitions whose statements finished
    (and committed) and ``cancelled`` those stopped after the failure (rolled back); a note
    (``add_note``) says the same in words.
    """

    completed: list[int] | None = None
    cancelled: list[int] | None = None

    default_sqlstate = "XX000"
    #: PL/Proxy prefixes its own errors with ``PL/Proxy function <label>: ``
    prefixed = True

    def __init__(
        self,
        message: str,
        *,
        function: str | None = None,
        partition: int | None = None,
        sqlstate: str | None = None,
    ) -> None:
        message = mask(message)
        super().__init__(message)
        self.message = message
        self.function = function
        self.partition = partition
        self.sqlstate = sqlstate or self.default_sqlstate

    def for_function(self, label: str) -> PlProxyError:
        """Attach the function label if none is set yet; returns self for ``raise ... from``."""
        if self.function is None:
            self.function = label
        return self

    def __str__(self) -> str:
        if self.function and self.prefixed:
            return f"PL/Proxy function {self.function}: {self.message}"
        return self.message

    def _render_traceback_(self) -> list[str]:
        # One short line in the notebook (plus the outcome of a fan-out, when there is one);
        # IPython still sends an ``error`` message.
        line = f"{type(self).__name__}: {self.headline()} (SQLSTATE {self.sqlstate})"
        return [line, *getattr(self, "__notes__", ())]

    def headline(self) -> str:
        """The first line of the message: what a notebook shows."""
        return str(self).splitlines()[0]


class CompileError(PlProxyError):
    """A malformed proxy function: ``Compile error at line N: msg`` when a line is known."""

    def __init__(self, message: str, line: int | None = None, **kw: object) -> None:
        self.line = line
        self.bare = mask(message)
        text = f"Compile error at line {line}: {message}" if line is not None else message
        super().__init__(text, **kw)  # type: ignore[arg-type]


class ClusterError(PlProxyError):
    """Unknown cluster, bad cluster definition or option (``Pl/Proxy: cluster not found: x``)."""

    prefixed = False


class SqlError(PlProxyError):
    """A plain PostgreSQL error of the proxy side, without PL/Proxy's prefix.

    For example ``column "b" does not exist`` from a RUN ON naming no argument, or
    ``Function used in wrong context``; ``detail`` and ``hint`` as PostgreSQL gave them.
    """

    prefixed = False

    def __init__(
        self, message: str, *, detail: str | None = None, hint: str | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.detail = _masked(detail)
        self.hint = _masked(hint)

    def __str__(self) -> str:
        text = self.message
        if self.detail:
            text += f"\nDETAIL:  {self.detail}"
        if self.hint:
            text += f"\nHINT:  {self.hint}"
        return text

    def headline(self) -> str:
        return self.message


class CallError(PlProxyError):
    """A call that cannot be made: wrong argument count, unknown function, bad value."""

    prefixed = False
    default_sqlstate = "42883"


class RoutingError(PlProxyError):
    """Partition selection failed: NULL hash, wrong hash type, part number out of range..."""


class RowCountError(PlProxyError):
    """``Non-SETOF function requires 1 row from remote query, got N`` (P0002 / P0003)."""

    def __init__(self, got: int, **kw: object) -> None:
        self.got = got
        kw.setdefault("sqlstate", "P0002" if got < 1 else "P0003")
        super().__init__(
            f"Non-SETOF function requires 1 row from remote query, got {got}",
            **kw,  # type: ignore[arg-type]
        )


class ConnectError(PlProxyError):
    """A partition could not be reached: ``[db] PQconnectPoll: <libpq message>``.

    The SQLSTATE is PL/Proxy's XX000, not libpq's connection class.
    """

    def __init__(self, dbname: str, step: str, detail: str, **kw: object) -> None:
        self.dbname = dbname
        self.step = step
        super().__init__(f"[{dbname}] {step}: {detail}", **kw)  # type: ignore[arg-type]


class QueryTimeoutError(PlProxyError):
    """``query timeout``: the cluster's ``query_timeout`` passed; the remote query was cancelled."""

    default_sqlstate = "57014"


class RemoteError(PlProxyError):
    """The partition raised an error: ``public.f(1): [db] REMOTE ERROR: msg``.

    Keeps the remote ``sqlstate``, ``detail``, ``hint`` and ``context``.
    """

    prefixed = False

    def __init__(
        self,
        dbname: str,
        message: str,
        *,
        severity: str = "ERROR",
        detail: str | None = None,
        hint: str | None = None,
        context: str | None = None,
        **kw: object,
    ) -> None:
        self.dbname = dbname
        self.severity = severity
        self.detail = _masked(detail)
        self.hint = _masked(hint)
        self.context = _masked(context)
        self.remote_message = mask(message)
        super().__init__(f"[{dbname}] REMOTE {severity}: {message}", **kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        text = f"{self.function}: {self.message}" if self.function else self.message
        if self.detail:
            text += f"\nDETAIL:  Remote detail: {self.detail}"
        if self.hint:
            text += f"\nHINT:  Remote hint: {self.hint}"
        return text


class FanOutError(PlProxyError):
    """Several partitions failed in one call; ``errors`` holds each, in partition order.

    The message names every failed partition, the way psycopg folds failed connection
    attempts into one readable message.
    """

    prefixed = False

    def __init__(self, errors: Sequence[PlProxyError], total: int) -> None:
        self.errors = list(errors)
        self.total = total
        first = self.errors[0]
        lines = [f"{len(self.errors)} of {total} partitions failed:"]
        lines += [f"  p{e.partition}: {str(e).splitlines()[0]}" for e in self.errors]
        super().__init__(
            "\n".join(lines),
            function=first.function,
            partition=first.partition,
            sqlstate=first.sqlstate,
        )

    def for_function(self, label: str) -> PlProxyError:
        for e in self.errors:
            e.for_function(label)
        super().for_function(label)
        return self

    def __str__(self) -> str:
        lines = [f"{len(self.errors)} of {self.total} partitions failed:"]
        lines += [f"  p{e.partition}: {str(e).splitlines()[0]}" for e in self.errors]
        return "\n".join(lines)

    def headline(self) -> str:
        return str(self).replace("\n", " ").replace("  p", " p")


def _masked(text: str | None) -> str | None:
    return None if text is None else mask(text)
