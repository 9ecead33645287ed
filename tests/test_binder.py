"""Binder: an environment built from ``binder/`` alone runs the quickstart notebook.

What repo2docker does, in one fresh virtualenv: ``pip install -r binder/requirements.txt``,
then ``binder/postBuild`` from the repository root, then the notebook is executed there with
``jupyter nbconvert --execute`` (its kernel is that venv's ipykernel). The repository is
copied first (what git tracks, plus new files not ignored, like a clone of the branch), so the
build leaves nothing in the checkout and cannot import the sources from the working tree.
The venv does not see this test run's virtualenv or its editable install of the package.

pip keeps using the machine's cache: postBuild disables it unless PIP_NO_CACHE_DIR is set,
and pip reads an empty PIP_NO_CACHE_DIR as "use the cache" (any other value, even "false",
disables it). The test takes about a minute even with every wheel downloaded; each step has
a timeout inside an overall budget, and the venv is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
NOTEBOOK = "notebooks/quickstart.ipynb"

# Seconds. The whole test must stay far below the CI budget of 10 minutes.
BUDGET = 480
STEP_TIMEOUTS = {"venv": 120, "requirements": 300, "postBuild": 300, "probe": 60, "notebook": 240}
CELL_TIMEOUT = 120


def test_binder_files() -> None:
    """The files repo2docker reads: pip requirements, an executable postBuild, a Python
    version the package supports."""
    assert (BINDER / "requirements.txt").is_file()
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert post_build.read_text().startswith("#!/bin/bash\n")
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert m, runtime
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert SpecifierSet(pyproject["project"]["requires-python"]).contains(m.group(1) + ".0")


def _copy_checkout(dest: Path) -> None:
    """Copy what a clone would hold: tracked files plus untracked files that are not ignored."""
    git = ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        listed = subprocess.run(
            git,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        listed = None
    if listed is None:  # not a git checkout: copy the tree without build and cache output
        shutil.copytree(
            REPO,
            dest,
            symlinks=True,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
            ),
        )
        return
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():  # tracked files deleted in the working tree are not copied
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _clean_env(venv: Path, tmp: Path) -> dict[str, str]:
    """The environment repo2docker gives: the venv first on PATH, nothing of this test run's
    virtualenv, no user Jupyter/IPython configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "PIP_", "JUPYTER", "CONDA", "COV_CORE", "PYTEST_"))
        and k not in {"VIRTUAL_ENV", "VIRTUAL_ENV_PROMPT", "IPYTHONDIR", "MPLBACKEND"}
    }
    # pip's own settings from the environment (proxy, index, certificates) still apply...
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    # ...except the cache, which is kept: an empty PIP_NO_CACHE_DIR overrides postBuild's
    # default ("false" would disable it too).
    env["PIP_NO_CACHE_DIR"] = ""
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    outer = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    path = [
        p
        for p in env.get("PATH", os.defpath).split(os.pathsep)
        if p and not (outer and Path(p).resolve().is_relative_to(outer))
    ]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "jupyter-config")
    env["JUPYTER_DATA_DIR"] = str(tmp / "jupyter-data")
    env["IPYTHONDIR"] = str(tmp / "ipython")
    env.setdefault("XDG_RUNTIME_DIR", str(tmp))
    return env


class _Steps:
    """Runs the build steps with per-step timeouts inside an overall budget."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.deadline = time.monotonic() + BUDGET
        self.times: dict[str, float] = {}

    def run(self, name: str, cmd: list[str], cwd: Path) -> str:
        timeout = min(STEP_TIMEOUTS[name], self.deadline - time.monotonic())
        if timeout <= 0:
            pytest.fail(f"binder build over its {BUDGET} s budget before step {name!r}")
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(
                f"step {name!r} timed out after {timeout:.0f} s: {cmd}\n"
                f"--- stdout\n{str(e.stdout)[-4000:]}\n--- stderr\n{str(e.stderr)[-4000:]}"
            )
        self.times[name] = time.monotonic() - start
        if proc.returncode != 0:
            pytest.fail(
                f"step {name!r} failed ({proc.returncode}): {cmd}\n"
                f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc.stdout


def _processes_under(root: Path) -> list[int]:
    """Processes whose executable lives under ``root`` (embedded PostgreSQL, reapers)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if Path(os.readlink(d / "exe")).is_relative_to(root):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


@pytest.fixture()
def scratch() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="plpm-binder-")).resolve()
    try:
        yield tmp
    finally:
        # The kernel's embedded servers are stopped by their reapers once it exits; wait for
        # them before deleting the venv that holds their binaries, then end any stragglers.
        deadline = time.monotonic() + 30
        while (left := _processes_under(tmp)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _processes_under(tmp):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"processes from the binder venv still running after 30 s: {left}"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Binder images are Linux")
def test_binder_environment_runs_quickstart(scratch: Path) -> None:
    repo, venv, out = scratch / "repo", scratch / "venv", scratch / "out"
    _copy_checkout(repo)
    assert (repo / "binder" / "postBuild").is_file(), "binder/ must be in the checkout"
    steps = _Steps(_clean_env(venv, scratch))
    py = str(venv / "bin" / "python")

    # A plain venv from the base interpreter (not this run's virtualenv).
    steps.run("venv", [sys.executable, "-m", "venv", str(venv)], cwd=scratch)
    # repo2docker: requirements.txt, then postBuild from the repository root.
    steps.run(
        "requirements", [py, "-m", "pip", "install", "-r", "binder/requirements.txt"], cwd=repo
    )
    steps.run("postBuild", [str(repo / "binder" / "postBuild")], cwd=repo)

    # The package and the kernel come from the new venv, not from the sources or this run.
    probe = steps.run(
        "probe",
        [
            py,
            "-c",
            "import json, sys, plproxy_magic, jupyter_client.kernelspec as k;"
            "s = k.KernelSpecManager().get_kernel_spec('python3');"
            "print(json.dumps([sys.prefix, plproxy_magic.__file__, s.argv, s.resource_dir]))",
        ],
        cwd=scratch,
    )
    prefix, package, argv, spec_dir = json.loads(probe)
    assert Path(prefix) == venv
    assert Path(package).is_relative_to(venv / "lib"), package
    # "python" in a kernelspec is replaced by the interpreter running nbconvert.
    assert argv[0] == "python" or Path(argv[0]).is_relative_to(venv), argv
    assert Path(spec_dir).is_relative_to(venv), spec_dir

    steps.run(
        "notebook",
        [
            str(venv / "bin" / "jupyter"),
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            f"--ExecutePreprocessor.timeout={CELL_TIMEOUT}",
            "--output-dir",
            str(out),
            NOTEBOOK,
        ],
        cwd=repo,
    )
    print("binder build and run, seconds:", {k: round(v, 1) for k, v in steps.times.items()})

    # nbconvert stops at the first unexpected error; check every cell ran, and that the
    # one cell tagged raises-exception really raised (errors are real error outputs).
    nb = json.loads((out / Path(NOTEBOOK).name).read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] for c in code)
    for c in code:
        errors = [o for o in c["outputs"] if o["output_type"] == "error"]
        expected = "raises-exception" in c["metadata"].get("tags", [])
        assert bool(errors) == expected, ("".join(c["source"]), errors)
