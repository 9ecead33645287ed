"""Read replicas: which server a provably read-only call of a partition goes to.

With ``read_write_splitting`` on, a read-only call of partition *p* may go to one of *p*'s
replicas (and to the primary too when ``primary_reads_enabled``), chosen by
``load_balancing_mode``: ``random``, or ``loc`` (the fewest outstanding queries, as
OpenProxy/pgcat name it). A replica that fails is banned for ``ban_time`` seconds; one
lagging more than ``max_replica_lag`` seconds is skipped. With no usable replica the
primary serves the read (pgcat would fail the query instead).

:class:`ReplicaBook` keeps that state for a session: bans, outstanding and served counts,
and recently measured lag. Thread-safe.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from plproxy_magic.conninfo import mask

__all__ = ["ReplicaBook", "ServerState"]

#: seconds a measured replication lag stays fresh
LAG_TTL = 1.0


@dataclass
class ServerState:
    """What the book knows about one server (primary or replica connect string)."""

    banned_until: float = 0.0
    outstanding: int = 0
    served: int = 0
    lag: float | None = None
    lag_at: float = 0.0
    last_error: str | None = None


@dataclass
class ReplicaBook:
    """Bans, load and lag per connect string."""

    servers: dict[str, ServerState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:
        # keyed by connect strings, which may hold passwords
        with self._lock:
            servers = {mask(c): st for c, st in self.servers.items()}
        return f"ReplicaBook(servers={servers!r})"

    def state(self, connstr: str) -> ServerState:
        with self._lock:
            return self.servers.setdefault(connstr, ServerState())

    def banned(self, connstr: str) -> bool:
        return self.state(connstr).banned_until > time.monotonic()

    def ban(self, connstr: str, seconds: float, error: str) -> None:
        st = self.state(connstr)
        with self._lock:
            st.banned_until = time.monotonic() + seconds
            st.last_error = error

    def begin(self, connstr: str) -> None:
        st = self.state(connstr)
        with self._lock:
            st.outstanding += 1
            st.served += 1

    def end(self, connstr: str) -> None:
        st = self.state(connstr)
        with self._lock:
            st.outstanding -= 1

    def choose(
        self,
        primary: str,
        replicas: Sequence[str],
        *,
        mode: str,
        primary_reads: bool,
        max_lag: float,
        lag_of: Callable[[str], float | None],
        rng: random.Random,
    ) -> list[str]:
        """Servers to try for one read, best first (the primary always last as fallback)."""
        now = time.monotonic()
        usable = []
        for r in replicas:
            st = self.state(r)
            if st.banned_until > now:
                continue
            if max_lag > 0:
                if now - st.lag_at > LAG_TTL:
                    try:
                        st.lag, st.lag_at = lag_of(r), now
                    except Exception as exc:  # an unreachable replica: banned by the caller
                        st.lag, st.lag_at, st.last_error = None, now, str(exc)
                if st.lag is None or st.lag > max_lag:
                    continue
            usable.append(r)
        pool = usable + ([primary] if primary_reads or not usable else [])
        if mode == "loc":
            # fewest outstanding queries; ties by fewest served so far, then in order
            ordered = sorted(pool, key=lambda c: (self.state(c).outstanding, self.state(c).served))
        else:
            ordered = list(pool)
            rng.shuffle(ordered)
        if primary not in ordered:
            ordered.append(primary)
        return ordered
