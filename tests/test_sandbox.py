"""Embedded sandbox clusters: real servers, spread of partitions, cleanup at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg

from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session


def test_partitions_are_spread_round_robin_over_servers(shards: Sandbox) -> None:
    assert len(shards.servers) == 2
    assert len({s.dsn for s in shards.servers}) == 2
    for i, connstr in enumerate(shards.partitions):
        server = shards.servers[i % 2]
        with psycopg.connect(connstr) as conn:
            db, port = conn.execute("SELECT current_database(), inet_server_port()").fetchone()  # type: ignore[misc]
            assert db == f"shards_p{i}"
            assert port is None  # unix socket only, no TCP listener
        assert server.connstr(f"shards_p{i}") == connstr


def test_servers_listen_on_unix_sockets_only(shards: Sandbox) -> None:
    with psycopg.connect(shards.servers[0].dsn) as conn:
        addrs = conn.execute("SHOW listen_addresses").fetchone()
    assert addrs == ("",)


def _alive(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` still runs after up to ``timeout`` seconds of waiting for it to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def test_sandbox_is_stopped_and_deleted_when_python_exits() -> None:
    code = (
        "import json, plproxy_magic as pm\n"
        "sb = pm.sandbox('exitcheck', partitions=2, session=pm.Session())\n"
        "s = sb.servers[0]\n"
        "print(json.dumps({'pid': s.pid, 'dir': str(s.data_dir)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert not _alive(info["pid"])
    assert not os.path.exists(info["dir"])


def test_sandbox_is_cleaned_even_when_the_kernel_is_killed() -> None:
    code = (
        "import json, os, signal, sys, plproxy_magic as pm\n"
        "sb = pm.sandbox('killcheck', partitions=1, session=pm.Session())\n"
        "s = sb.servers[0]\n"
        "print(json.dumps({'pid': s.pid, 'dir': str(s.data_dir)}), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == -9
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert not _alive(info["pid"], timeout=20)
    deadline = time.monotonic() + 10
    while os.path.exists(info["dir"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(info["dir"])


def test_session_close_stops_its_sandboxes() -> None:
    s = Session()
    sb = s and __import__("plproxy_magic").sandbox("closing", partitions=1, session=s)
    data_dir = sb.servers[0].data_dir
    assert data_dir.exists()
    s.close()
    assert not data_dir.exists()
