"""Helpers for the real-browser test: JupyterLab in a subprocess, Debian's Chromium driven by
playwright, and the DOM reads the test asserts on.

Nothing here downloads a browser: playwright only drives the Chromium at ``CHROMIUM``
(``playwright install`` is never needed and fails on machines without internet).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("PLPM_CHROMIUM", "/usr/bin/chromium")
# As root in a container with a closed network: no sandbox, no GPU, no background traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    "install Debian's Chromium and the Python packages: "
    "`apt-get install -y chromium` (gives /usr/bin/chromium; or set PLPM_CHROMIUM) and "
    "`pip install jupyterlab playwright` (never `playwright install`: "
    "the test drives the system Chromium)"
)


def missing_tools() -> list[str]:
    """What the browser test needs and this machine lacks (empty: all there)."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium executable {CHROMIUM}")
    for module in ("playwright.sync_api", "jupyterlab", "jupyterlab_widgets"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {module.split('.')[0]}")
    return missing


class Budget:
    """One deadline for the whole module; every wait takes the smaller of its own timeout
    and what is left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, step: float) -> float:
        """Seconds for a step: ``step`` or what is left of the budget (at least 1)."""
        return max(1.0, min(step, self.deadline - time.monotonic()))

    def ms(self, step: float) -> float:
        return self.left(step) * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clear_outputs(src: Path, dest: Path) -> int:
    """Copy notebook ``src`` to ``dest`` without outputs or execution counts (so whatever the
    browser shows was computed in this run); returns the number of code cells."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    code = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            code += 1
    nbformat.write(nb, dest)
    return code


def processes_mentioning(path: Path) -> list[int]:
    """Processes whose command line names something under ``path`` (embedded PostgreSQL
    servers started by the kernels, their reapers, Chromium with its profile)."""
    needle = str(path).encode()
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if needle in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 (free port, random token) serving ``root``, with its
    configuration, runtime files and the kernels' temporary files under ``scratch``."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch
        self.port = free_port()
        self.token = os.urandom(16).hex()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = scratch / "jupyterlab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        # The kernels must not think they run under pytest (PlProxyMagic.progress = 'auto'
        # turns itself off there), nor read this user's Jupyter/IPython configuration.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "JUPYTER", "JPY_")) and k != "IPYTHONDIR"
        }
        config = self.scratch / "jupyter-config"
        (config / "labconfig").mkdir(parents=True, exist_ok=True)
        # No "get Jupyter news?" toast over the notebook in the screenshots.
        (config / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        tmp = self.scratch / "tmp"  # the kernels' sandboxes (embedded PostgreSQL) go here
        tmp.mkdir(exist_ok=True)
        venv_bin = str(Path(sys.executable).parent)
        env.update(
            PATH=os.pathsep.join([venv_bin, env.get("PATH", os.defpath)]),
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(self.scratch / "jupyter-data"),
            JUPYTER_RUNTIME_DIR=str(self.scratch / "jupyter-runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(self.scratch / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.scratch / "lab-workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(self.scratch / "ipython"),
            TMPDIR=str(tmp),
            XDG_RUNTIME_DIR=str(self.scratch),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        return env

    def start(self, timeout: float) -> None:
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its kernels can be ended as one group
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            with suppress(OSError):
                if self.api("GET", "/api/status").get("started"):
                    return
            time.sleep(0.25)
        raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 5) -> Any:
        req = urllib.request.Request(
            self.base + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def url(self, notebook: str) -> str:
        # ?reset: start from an empty workspace, whatever a previous page left
        return f"{self.base}/lab/tree/{notebook}?token={self.token}&reset"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20) -> None:
        """Shut the server down through its API (it shuts its kernels down, which stop their
        embedded servers); then SIGTERM, then SIGKILL of its process group."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with suppress(OSError, urllib.error.URLError):
            self.api("POST", "/api/shutdown")
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=timeout if sig is None else 10)
                break
            except subprocess.TimeoutExpired:
                continue
        # Kernels left in the group (only after a SIGKILL of the server).
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def launch_chromium(playwright: Any, profile: Path) -> Any:
    """A persistent context on Debian's Chromium with a fresh, empty profile directory."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )


# Per code cell, in notebook order: prompt, the tables (rows of cell texts), error text,
# widget rows and the whole output text. textContent, not innerText: JupyterLab skips the
# layout of cells out of view (content-visibility), and innerText is empty for those.
READ_CELLS = r"""() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(cell => ({
  prompt: (cell.querySelector('.jp-InputArea-prompt')?.textContent ?? '').trim(),
  tables: [...cell.querySelectorAll('.jp-OutputArea-output table.dataframe')].map(t =>
    [...t.querySelectorAll('tr')].map(tr =>
      [...tr.querySelectorAll('th, td')].map(c => c.textContent.trim()))),
  errors: [...cell.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map(e => e.textContent.trim()),
  widget_rows: [...cell.querySelectorAll('.jupyter-widgets .widget-html-content')]
    .map(e => e.textContent.trim()),
  progress_bars: [...cell.querySelectorAll('.jupyter-widgets.widget-hprogress .progress-bar')]
    .map(e => e.className),
  text: (() => {
    const out = cell.querySelector('.jp-OutputArea')?.cloneNode(true);
    out?.querySelectorAll('style, .jp-OutputArea-prompt').forEach(e => e.remove());
    return (out?.textContent ?? '').replace(/\s+/g, ' ').trim();
  })(),
}))"""

# Run All finished: the first cell has its number and none is queued or running ("[*]:").
# (After an unexpected error JupyterLab clears the queue: the rest stay "[ ]:".)
RUN_FINISHED = """(n) => {
  const ps = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
    .map(e => e.textContent.trim());
  return ps.length === n && /^\\[\\d+\\]:$/.test(ps[0]) && !ps.some(p => p === '[*]:');
}"""


def open_notebook(page: Any, lab: JupyterLab, notebook: str, budget: Budget) -> None:
    """Open the notebook, wait for its kernel to be idle, fold the file browser away."""
    page.goto(lab.url(notebook), timeout=budget.ms(30))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=budget.ms(30))
    wait_kernel_idle(page, budget, 45)
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click(
        timeout=budget.ms(10)
    )


def wait_kernel_idle(page: Any, budget: Budget, seconds: float) -> None:
    """The status bar names the kernel and says Idle, and the notebook's own execution
    indicator (which counts the cells it scheduled) is idle too: the status bar alone
    flickers to Idle while widget messages are handled during a long cell."""
    page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle\s*$")).wait_for(
        timeout=budget.ms(seconds)
    )
    page.locator(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]'
    ).wait_for(timeout=budget.ms(seconds))


def run_all_cells(page: Any) -> None:
    """Run → Run All Cells, through the menu bar as a person would."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()


def wait_run_finished(page: Any, code_cells: int, budget: Budget, seconds: float) -> None:
    page.wait_for_function(RUN_FINISHED, arg=code_cells, polling=100, timeout=budget.ms(seconds))
    wait_kernel_idle(page, budget, 15)


def read_cells(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(READ_CELLS)  # type: ignore[no-any-return]


OVERFLOW = """() => {
  const outer = document.querySelector(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');
  outer.scrollTop = 0;
  const cells = outer.querySelectorAll('.jp-Cell');
  const last = cells[cells.length - 1].getBoundingClientRect().bottom;
  return Math.ceil(last - outer.getBoundingClientRect().bottom);
}"""


def screenshot_notebook(page: Any, path: Path) -> Path:
    """The whole notebook in one picture: the page made as tall as the notebook's content
    (JupyterLab scrolls inside a fixed-size panel and draws only the cells in view; cells
    out of view have an estimated height, so grow until the last cell fits)."""
    size = page.viewport_size
    try:
        height = size["height"]
        for _ in range(8):
            overflow = page.evaluate(OVERFLOW)
            if overflow <= -8 or height >= 15000:
                break
            height = min(height + overflow + 40, 15000)
            page.set_viewport_size({"width": size["width"], "height": height})
            page.wait_for_timeout(300)  # let the cells now in view be laid out and drawn
        page.evaluate(OVERFLOW)  # scrolled to the top
        page.wait_for_timeout(200)
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def artifacts_dir() -> Path:
    """``$PLPM_ARTIFACTS`` (created) or a new temporary directory that is kept."""
    configured = os.environ.get("PLPM_ARTIFACTS")
    if configured:
        path = Path(configured).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="plpm-browser-artifacts-"))


def remove_tree(path: Path, wait: float = 30) -> list[int]:
    """Wait (bounded) for processes naming ``path`` to end, kill stragglers, delete ``path``.
    Returns the stragglers that had to be killed."""
    deadline = time.monotonic() + wait
    while (left := processes_mentioning(path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)
    return left
