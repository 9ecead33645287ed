"""A real browser: JupyterLab on localhost, notebooks run in headless Chromium.

JupyterLab serves a temporary copy of ``notebooks/`` (outputs cleared, so everything the page
shows is computed now) plus a small notebook of the test's own; Debian's Chromium, driven by
playwright, opens each one, runs Run → Run All Cells from the menu bar and waits for the
kernel. The test then reads the DOM:

* the quickstart: DataFrames render as HTML tables (the users table, Sven first), the
  unknown-cluster cell shows PL/Proxy's one-line error and the cell after it still runs;
* the progress widget: a 2-second fan-out over 4 partitions shows the ipywidgets box, live
  ("running") while the call runs and one "done, 1 row" line per partition at the end.

Screenshots (whole notebooks, and the asserted elements) go to ``$PLPM_ARTIFACTS`` or a kept
temporary directory named in the output and in every assertion message.

Needs Debian's ``chromium`` (``/usr/bin/chromium``, or ``$PLPM_CHROMIUM``) and the Python
packages ``jupyterlab`` and ``playwright``; ``playwright install`` is never run. Missing tools
fail the test (never a skip: ``.ci/run`` installs them).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from browser_util import (
    INSTALL_HINT,
    Budget,
    JupyterLab,
    artifacts_dir,
    clear_outputs,
    launch_chromium,
    missing_tools,
    open_notebook,
    read_cells,
    remove_tree,
    run_all_cells,
    screenshot_notebook,
    wait_run_finished,
)

REPO = Path(__file__).resolve().parents[1]
# Seconds for the whole module (server, browser, both notebooks); a run takes about 30.
BUDGET = 110
NAP = 2.0  # seconds each partition sleeps in the progress notebook

USERS = ["Sven", "Marko", "Steve", "lottu", "rax", "ak", "jack", "molica", "pg", "oracle"]
CLUSTER_ERROR = "ClusterError: Pl/Proxy: cluster not found: no_such_cluster (SQLSTATE XX000)"


def _progress_notebook(path: Path) -> int:
    """A notebook whose one fan-out runs long enough for the progress widget to show."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [
        new_markdown_cell(
            "# Progress widget\n\nA call on 4 partitions that takes "
            f"{NAP:g} s shows one live row per partition."
        ),
        # Explicit: 'auto' would decide from the environment.
        new_code_cell("%load_ext plproxy_magic\n%config PlProxyMagic.progress = 'widgets'"),
        new_code_cell("%cluster sandbox c --partitions 4"),
        new_code_cell(
            "%%plproxy --cluster c --run-on all\n"
            "CREATE FUNCTION nap(t float8) RETURNS SETOF text AS $$\n"
            "    SELECT current_database()::text FROM pg_sleep(t)\n"
            "$$ LANGUAGE sql;"
        ),
        new_code_cell(
            "%%plproxy\n"
            "CREATE FUNCTION nap(t float8) RETURNS SETOF text AS $$\n"
            "    CLUSTER 'c'; RUN ON ALL;\n"
            "$$ LANGUAGE plproxy;\n"
            f"SELECT * FROM nap({NAP});"
        ),
    ]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
    )
    nbformat.write(nb, path)
    return sum(c.cell_type == "code" for c in cells)


class Env:
    """What the tests share: the budget, the server, the browser, the artifacts folder."""

    def __init__(self, budget: Budget, lab: JupyterLab, browser: Any, artifacts: Path,
                 code_cells: dict[str, int]) -> None:  # fmt: skip
        self.budget = budget
        self.lab = lab
        self.browser = browser
        self.artifacts = artifacts
        self.code_cells = code_cells

    def where(self) -> str:
        return (
            f"(screenshots in {self.artifacts}, JupyterLab log {self.artifacts / 'jupyterlab.log'})"
        )


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    missing = missing_tools()
    if missing:
        # never skipped: .ci/run installs them, and a developer should too
        pytest.fail(f"browser test needs {', '.join(missing)}: {INSTALL_HINT}", pytrace=False)
    from playwright.sync_api import sync_playwright

    budget = Budget(BUDGET)
    artifacts = artifacts_dir()
    print(f"\nbrowser test artifacts: {artifacts}")
    scratch = Path(tempfile.mkdtemp(prefix="plpm-browser-")).resolve()
    root = scratch / "notebooks"
    root.mkdir()
    code_cells = {
        "quickstart.ipynb": clear_outputs(
            REPO / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb"
        ),
        "progress.ipynb": _progress_notebook(root / "progress.ipynb"),
    }
    lab = JupyterLab(root, scratch)
    playwright = browser = None
    try:
        lab.start(timeout=budget.left(60))
        playwright = sync_playwright().start()
        browser = launch_chromium(playwright, scratch / "chromium-profile")
        browser.set_default_timeout(budget.ms(30))
        yield Env(budget, lab, browser, artifacts, code_cells)
    finally:
        # Each step bounded and independent: a failing one must not leave the others running.
        if browser is not None:
            with suppress(Exception):
                browser.close()
        if playwright is not None:
            with suppress(Exception):
                playwright.stop()
        lab.stop()
        log_copy = artifacts / "jupyterlab.log"
        if lab.log_path.exists():
            shutil.copyfile(lab.log_path, log_copy)
        stragglers = remove_tree(scratch)
        print(f"browser test artifacts: {sorted(p.name for p in artifacts.iterdir())}")
    assert not stragglers, (
        f"processes of the browser test still running 30 s after JupyterLab stopped "
        f"(killed): {stragglers}; log {log_copy}"
    )


def _run(env: Env, notebook: str, seconds: float, while_running: Any = None) -> tuple[Any, Any]:
    """Open ``notebook``, Run All Cells, wait until done; returns the page and the cells."""
    page = env.browser.new_page()
    stem = notebook.removesuffix(".ipynb")
    try:
        open_notebook(page, env.lab, notebook, env.budget)
        started = time.monotonic()
        run_all_cells(page)
        if while_running is not None:
            while_running(page)
        wait_run_finished(page, env.code_cells[notebook], env.budget, seconds)
        print(f"{notebook}: ran in {time.monotonic() - started:.1f} s in the browser")
        shot = screenshot_notebook(page, env.artifacts / f"{stem}.png")
        print(f"screenshot: {shot}")
        return page, read_cells(page)
    except Exception as exc:
        with_shot = env.artifacts / f"{stem}-failure.png"
        try:
            page.screenshot(path=str(with_shot), full_page=True)
        except Exception:  # the page may be gone; the original error matters
            with_shot = Path("(none)")
        exc.add_note(f"{notebook} in the browser failed; screenshot {with_shot} {env.where()}\n"
                     f"--- JupyterLab log (end)\n{env.lab.log_tail()}")  # fmt: skip
        raise


def _summary(cells: list[dict[str, Any]]) -> str:
    """One line per code cell for assertion messages: prompt and the start of its output."""
    return "\n".join(f"{c['prompt']} {c['text'][:120]!r}" for c in cells)


def test_quickstart_renders_tables_and_one_line_error(env: Env) -> None:
    page, cells = _run(env, "quickstart.ipynb", seconds=60)
    where = env.where()
    summary = _summary(cells)
    n = env.code_cells["quickstart.ipynb"]
    assert [c["prompt"] for c in cells] == [f"[{i}]:" for i in range(1, n + 1)], (
        f"every cell ran once, in order {where}\n{summary}"
    )

    # DataFrames render as HTML tables: the users read through the proxy, sorted.
    users = [c for c in cells if any(t[0][1:] == ["userid", "name"] and len(t) == 11
                                     for t in c["tables"])]  # fmt: skip
    assert users, f"no rendered users table (header userid, name; 10 rows) {where}\n{summary}"
    table = next(t for t in users[0]["tables"] if len(t) == 11)
    assert table[1:] == [[str(i), str(1001 + i), name] for i, name in enumerate(USERS)], (
        f"users table {table} {where}"
    )
    assert sum(len(c["tables"]) for c in cells) >= 10, f"tables rendered {where}\n{summary}"
    page.locator("table.dataframe", has_text="Sven").first.screenshot(
        path=str(env.artifacts / "quickstart-users-table.png")
    )

    # The unknown cluster: one line, PL/Proxy's message, no traceback; the session goes on.
    failing = [i for i, c in enumerate(cells) if c["errors"]]
    assert len(failing) == 1, f"exactly one cell shows an error {where}\n{summary}"
    (error,) = cells[failing[0]]["errors"]
    assert error == CLUSTER_ERROR, f"error output {error!r} {where}"
    assert failing[0] < len(cells) - 1
    after = cells[failing[0] + 1]
    assert after["tables"] == [[["", "insert_user"], ["0", "1"]]], (
        f"the cell after the error ran {after} {where}"
    )
    page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').first.screenshot(
        path=str(env.artifacts / "quickstart-error.png")
    )
    page.close()


def test_progress_widget_renders_per_partition_rows(env: Env) -> None:
    seen_running: list[str] = []

    def watch(page: Any) -> None:
        # The widget appears after half a second of the call and updates while it runs.
        row = page.locator(".jupyter-widgets .widget-html-content", has_text="running").first
        row.wait_for(timeout=env.budget.ms(30))
        seen_running.append(row.text_content() or "")
        page.screenshot(path=str(env.artifacts / "progress-running.png"))

    page, cells = _run(env, "progress.ipynb", seconds=45, while_running=watch)
    where = env.where()
    summary = _summary(cells)
    n = env.code_cells["progress.ipynb"]
    assert [c["prompt"] for c in cells] == [f"[{i}]:" for i in range(1, n + 1)], (
        f"every cell ran once, in order {where}\n{summary}"
    )
    assert seen_running and seen_running[0].endswith("running"), (
        f"a live row while the call ran: {seen_running} {where}"
    )
    last = cells[-1]
    assert last["widget_rows"] == [f"p{p} [c_p{p}]: done, 1 row" for p in range(4)], (
        f"per-partition rows of the progress widget {last['widget_rows']} {where}\n{summary}"
    )
    assert len(last["progress_bars"]) == 1 and "progress-bar-success" in last["progress_bars"][0], (
        f"the bar of finished partitions is full and green {last['progress_bars']} {where}"
    )
    assert last["tables"] == [[["", "nap"], *[[str(p), f"c_p{p}"] for p in range(4)]]], (
        f"the call's DataFrame below the widget {last['tables']} {where}"
    )
    assert not any(c["widget_rows"] for c in cells[:-1]), f"quick cells show no widget {where}"
    page.locator(".jupyter-widgets.widget-vbox").first.screenshot(
        path=str(env.artifacts / "progress-widget.png")
    )
    page.close()
