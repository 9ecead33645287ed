"""Kernel interrupts cancel remote queries; long fan-outs show live progress."""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from IPython.core.interactiveshell import InteractiveShell

from plproxy_magic.magics import PlProxyMagic
from plproxy_magic.sandbox import Sandbox
from plproxy_magic.session import Session

SLEEP = ("CREATE FUNCTION ip_sleep(t float8) RETURNS SETOF text AS $$ CLUSTER 'shards'; RUN ON ALL; "
         "SELECT current_database()::text FROM pg_sleep(t); $$ LANGUAGE plproxy;"
         "CREATE FUNCTION ip_sleep1(t float8) RETURNS SETOF text AS $$ CLUSTER 'shards'; RUN ON 1; "
         "SELECT current_database()::text FROM pg_sleep(t); $$ LANGUAGE plproxy")  # fmt: skip


def active_sleeps(shards: Sandbox) -> int:
    total = 0
    for server in shards.servers:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                               "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()").fetchone()  # fmt: skip
            total += row[0] if row else 0
    return total


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    return timer


@pytest.fixture()
def s(session: Session) -> Iterator[Session]:
    session.execute(SLEEP)
    yield session


@pytest.mark.parametrize("function", ["ip_sleep", "ip_sleep1"])
def test_interrupt_cancels_every_remote_query(s: Session, shards: Sandbox, function: str) -> None:
    t0 = time.monotonic()
    timer = interrupt_after(0.5)
    with pytest.raises(KeyboardInterrupt):
        s.sql(f"SELECT * FROM {function}(30)")
    timer.join()
    assert time.monotonic() - t0 < 1.5  # control back within a second of the interrupt
    deadline = time.monotonic() + 2
    while active_sleeps(shards) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert active_sleeps(shards) == 0
    assert len(s.sql(f"SELECT * FROM {function}(0)")) >= 1  # connections usable at once


@pytest.fixture()
def shell(s: Session) -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.register_magics(PlProxyMagic(ip, session=s))
    return ip


def test_text_progress_appends_a_line_per_partition(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_line_magic("config", "PlProxyMagic.progress = 'text'")
    df = shell.run_line_magic("plproxy", "SELECT * FROM ip_sleep(0.8)")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "running on 4 partitions ..."
    assert sorted(out[1:]) == [f"p{p} [shards_p{p}]: done, 1 row" for p in range(4)]
    assert df["ip_sleep"].tolist() == [f"shards_p{p}" for p in range(4)]
    quick = shell.run_line_magic("plproxy", "SELECT * FROM ip_sleep(0)")
    assert len(quick) == 4 and capsys.readouterr().out == ""  # quick calls print nothing
    shell.run_line_magic("config", "PlProxyMagic.progress = 'off'")


def test_widget_progress_shows_rows_per_partition(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plproxy_magic.widgets.progress as progress

    shown: list[progress.WidgetProgress] = []
    original = progress.WidgetProgress.show

    def keep(self: progress.WidgetProgress) -> None:
        original(self)
        shown.append(self)

    monkeypatch.setattr(progress.WidgetProgress, "show", keep)
    shell.run_line_magic("config", "PlProxyMagic.progress = 'widgets'")
    shell.run_line_magic("plproxy", "SELECT * FROM ip_sleep(0.8)")
    shell.run_line_magic("config", "PlProxyMagic.progress = 'off'")
    assert len(shown) == 1
    box = shown[0]._box
    assert box.children[0].value == 4 and box.children[0].bar_style == "success"
    assert [c.value for c in box.children[1:]] == [
        f"p{p} [shards_p{p}]: done, 1 row" for p in range(4)
    ]
