"""Re-execute notebooks in place so their stored outputs are what nbval will compare.

    .venv/bin/python notebooks/build_notebooks.py                      # every notebook here
    .venv/bin/python notebooks/build_notebooks.py notebooks/sharding_walkthrough.ipynb

Run from the repository root after changing a notebook or output that nbval checks. Execution
metadata (timestamps) is dropped so that re-running changes only what actually changed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
# Outputs nbval cannot reproduce under pytest (progress widgets appear only outside pytest).
UNSTABLE = ("application/vnd.jupyter.widget-view+json",)


def build(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(HERE)}})  # fmt: skip
    client.execute()
    elapsed = time.perf_counter() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            unstable = [m for m in UNSTABLE if m in out.get("data", {})]
            if unstable:
                raise SystemExit(f"{path.name}: cell {cell.id} displayed {unstable[0]}")
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: executed in {build(path):.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
