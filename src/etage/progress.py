"""Progress display for transfers: rich bars on a terminal, plain lines otherwise.

Implements etage.transfer.Progress. Safe to call from several threads.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


class LineProgress:
    """One line per blob when it starts and when it ends (for logs and CI)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.lock = threading.Lock()
        self.totals: dict[str, int | None] = {}
        self.done: dict[str, int] = {}
        self.labels: dict[str, str] = {}

    def start(self, key: str, label: str, total: int | None) -> None:
        with self.lock:
            self.totals[key] = total
            self.labels[key] = label
            self.done[key] = 0

    def advance(self, key: str, amount: int) -> None:
        with self.lock:
            self.done[key] = self.done.get(key, 0) + amount

    def finish(self, key: str, note: str = "") -> None:
        with self.lock:
            label = self.labels.get(key, key[:19])
            size = self.totals.get(key)
            print(f"{label}: {note or 'done'} ({_size(size)})", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    """Bars with transfer speed, for a terminal."""

    def __init__(self, title: str) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[note]}"),
            transient=False,
        )
        self.bars.console.print(title)
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.bars.start()

    def start(self, key: str, label: str, total: int | None) -> None:
        with self.lock:
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(label, total=total, note="")

    def advance(self, key: str, amount: int) -> None:
        task = self.tasks.get(key)
        if task is not None:
            self.bars.advance(task, amount)

    def finish(self, key: str, note: str = "") -> None:
        with self.lock:
            if key not in self.tasks:
                self.tasks[key] = self.bars.add_task(key[7:19], total=None, note="")
            task = self.tasks[key]
        total = self.bars.tasks[task].total
        self.bars.update(task, completed=total or 0, note=note)

    def close(self) -> None:
        self.bars.stop()


def make_progress(title: str, *, quiet: bool = False) -> LineProgress | RichProgress | None:
    if quiet:
        return None
    if sys.stderr.isatty():
        return RichProgress(title)
    print(title, file=sys.stderr, flush=True)
    return LineProgress()
