"""Live per-partition progress for calls that take more than a moment.

Worker threads only *report* (:meth:`Progress.event` puts on a queue); the thread running
the cell applies the reports in :meth:`Progress.poll` — ipywidgets are not thread-safe —
and shows the display only once a call has run for ``delay`` seconds, so quick calls print
nothing. Two renderings:

* :class:`WidgetProgress`: one ipywidgets row per partition (waiting / running / rows /
  done / failed);
* :class:`TextProgress`: plain lines that are only ever appended (``p2 [db]: done, 12
  rows``), so saved notebooks and nbval see stable text.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["Progress", "TextProgress", "WidgetProgress", "make_progress"]


class Progress:
    """Collects events from worker threads; subclasses render them in the cell's thread."""

    def __init__(self, parts: Sequence[tuple[int, str]], delay: float = 0.5) -> None:
        self.parts = list(parts)
        self.delay = delay
        self.started = time.monotonic()
        self.shown = False
        self.state: dict[int, tuple[str, int]] = {p: ("waiting", 0) for p, _ in parts}
        self._events: queue.SimpleQueue[tuple[int, str, int]] = queue.SimpleQueue()

    def event(self, partition: int, state: str, rows: int) -> None:
        """Thread-safe: called by workers."""
        self._events.put((partition, state, rows))

    def poll(self) -> None:
        """Apply queued events (cell thread only); show the display once it is due."""
        changed: list[int] = []
        while True:
            try:
                p, state, rows = self._events.get_nowait()
            except queue.Empty:
                break
            self.state[p] = (state, rows)
            changed.append(p)
        if not self.shown and time.monotonic() - self.started >= self.delay:
            self.shown = True
            self.show()
            changed = [p for p, _ in self.parts]
        if self.shown:
            for p in dict.fromkeys(changed):
                self.update(p)

    def close(self) -> None:
        """The call ended (in any way): apply what is left."""
        self.poll()

    def show(self) -> None:  # pragma: no cover - overridden
        pass

    def update(self, partition: int) -> None:  # pragma: no cover - overridden
        pass

    def label(self, partition: int) -> str:
        db = dict(self.parts).get(partition, "")
        state, rows = self.state[partition]
        text = {"waiting": "waiting", "running": "running", "failed": "failed",
                "prepared": "prepared", "committed": "committed"}.get(state)  # fmt: skip
        if text is None:
            text = f"done, {rows} row{'s' * (rows != 1)}"
        return f"p{partition} [{db}]: {text}"


class TextProgress(Progress):
    """Appends one line per finished or failed partition."""

    def __init__(self, parts: Sequence[tuple[int, str]], delay: float = 0.5) -> None:
        super().__init__(parts, delay)
        self._printed: set[int] = set()

    def show(self) -> None:
        print(f"running on {len(self.parts)} partitions ...", flush=True)

    def update(self, partition: int) -> None:
        state, _ = self.state[partition]
        if state in ("done", "failed") and partition not in self._printed:
            self._printed.add(partition)
            print(self.label(partition), flush=True)


class WidgetProgress(Progress):
    """An ipywidgets box with one row per partition and a bar of finished partitions."""

    def show(self) -> None:
        import ipywidgets as w
        from IPython.display import display

        self._bar = w.IntProgress(value=0, min=0, max=len(self.parts), description="partitions")
        self._rows: dict[int, Any] = {p: w.HTML(value=self.label(p)) for p, _ in self.parts}
        self._box = w.VBox([self._bar, *self._rows.values()])
        display(self._box)  # type: ignore[no-untyped-call]

    def update(self, partition: int) -> None:
        self._rows[partition].value = self.label(partition)
        self._bar.value = sum(1 for s, _ in self.state.values() if s not in ("waiting", "running"))
        if any(s == "failed" for s, _ in self.state.values()):
            self._bar.bar_style = "danger"
        elif self._bar.value == len(self.parts):
            self._bar.bar_style = "success"


def make_progress(mode: str, parts: Sequence[tuple[int, str]]) -> Progress | None:
    """``mode``: ``widgets``, ``text`` or ``off`` (``auto`` is decided by the caller)."""
    if mode == "widgets":
        return WidgetProgress(parts)
    if mode == "text":
        return TextProgress(parts)
    return None
