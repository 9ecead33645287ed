"""plproxy_magic: PL/Proxy function-based sharding in the Jupyter kernel.

Register clusters of PostgreSQL partitions, define proxy functions with verbatim
``CREATE FUNCTION ... LANGUAGE plproxy``, and call them: each call is routed in the kernel
exactly as PL/Proxy routes it, runs on its partitions in parallel threads, and returns a
pandas DataFrame.

In IPython/Jupyter: ``%load_ext plproxy_magic`` adds ``%cluster`` and ``%%plproxy``.
Without IPython, use :class:`Session` (``import plproxy_magic`` does not import IPython).
"""

from __future__ import annotations

from typing import Any

from plproxy_magic.cluster import Cluster, ClusterOptions
from plproxy_magic.combine import combine  # also registers the df.plproxy accessor
from plproxy_magic.errors import (
    CallError,
    ClusterError,
    CompileError,
    ConnectError,
    FanOutError,
    PlProxyError,
    QueryTimeoutError,
    RemoteError,
    RoutingError,
    RowCountError,
)
from plproxy_magic.function import ConnectArgumentWarning
from plproxy_magic.hashing import (
    hashint2,
    hashint4,
    hashint8,
    hashtext,
    hashtextextended,
    uuid_hash,
)
from plproxy_magic.sandbox import Sandbox, sandbox
from plproxy_magic.session import ProxyCallable, Session, default_session

__all__ = [
    "CallError",
    "Cluster",
    "ClusterError",
    "ClusterOptions",
    "CompileError",
    "ConnectArgumentWarning",
    "ConnectError",
    "FanOutError",
    "PlProxyError",
    "ProxyCallable",
    "QueryTimeoutError",
    "RemoteError",
    "RoutingError",
    "RowCountError",
    "Sandbox",
    "Session",
    "combine",
    "default_session",
    "hashint2",
    "hashint4",
    "hashint8",
    "hashtext",
    "hashtextextended",
    "load_ipython_extension",
    "routing_function",
    "sandbox",
    "uuid_hash",
]

__version__ = "0.1.0"


def routing_function(fn: Any = None, *, name: str | None = None) -> Any:
    """Register a Python routing function in the default session (decorator)."""
    return default_session().routing_function(fn, name=name)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext plproxy_magic``: register the magics (IPython imported only here)."""
    from plproxy_magic.magics import load

    load(ipython)
