"""Build progress like BuildKit's: a live terminal view, plain lines for CI, rawjson for tools."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from etage.events import (
    BuildDone,
    BuildStarted,
    BuildSummary,
    Event,
    Message,
    StepDone,
    StepLog,
    StepStarted,
    event_json,
)


class PlainProgress:
    """`#N [stage] TEXT`, then the step's output with elapsed time, then CACHED or DONE."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.out = stream or sys.stderr
        self.lock = threading.Lock()
        self.numbers: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.partial: dict[str, bytes] = {}

    def __call__(self, event: Event) -> None:
        with self.lock:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            n = self.numbers.setdefault(event.step, len(self.numbers) + 1)
            self.started[event.step] = time.monotonic()
            print(f"#{n} [{event.stage}] {event.text}", file=self.out, flush=True)
        elif isinstance(event, StepLog):
            n = self.numbers.get(event.step, 0)
            elapsed = time.monotonic() - self.started.get(event.step, time.monotonic())
            data = self.partial.pop(event.step, b"") + event.data
            *lines, rest = data.split(b"\n")
            if rest:
                self.partial[event.step] = rest
            for line in lines:
                text = line.decode("utf-8", "replace").rstrip("\r")
                print(f"#{n} {elapsed:.3f} {text}", file=self.out, flush=True)
        elif isinstance(event, StepDone):
            n = self.numbers.get(event.step, 0)
            if event.step in self.partial:
                text = self.partial.pop(event.step).decode("utf-8", "replace")
                print(f"#{n} {text}", file=self.out)
            if event.explain:
                print(f"#{n} cache: {event.explain}", file=self.out)
            if event.error:
                print(f"#{n} ERROR: {event.error}", file=self.out, flush=True)
            elif event.cached:
                print(f"#{n} CACHED", file=self.out, flush=True)
            else:
                print(f"#{n} DONE {event.duration:.1f}s", file=self.out, flush=True)
        elif isinstance(event, Message):
            prefix = "WARNING: " if event.level == "warning" else ""
            print(f"{prefix}{event.text}", file=self.out, flush=True)
        elif isinstance(event, BuildStarted):
            pruned = f" (pruned: {', '.join(event.pruned)})" if event.pruned else ""
            print(
                f"building target {event.target}: stages {', '.join(event.stages)}{pruned}",
                file=self.out,
                flush=True,
            )
        elif isinstance(event, BuildDone):
            print(f"built {event.digest} in {event.duration:.2f}s", file=self.out, flush=True)
        elif isinstance(event, BuildSummary):
            from etage.insight.summary import summary_lines

            print("\n".join(summary_lines(event.summary)), file=self.out, flush=True)

    def close(self) -> None:
        pass


class RawJsonProgress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.out = stream or sys.stderr
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps({"time": time.time(), **event_json(event)})
        with self.lock:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        pass


@dataclass
class _Step:
    stage: str
    text: str
    started: float
    done: float | None = None
    cached: bool = False
    error: str | None = None
    tail: list[str] = field(default_factory=list)


class TtyProgress:
    """A live view: every step with its time, CACHED markers, and the last lines of the
    running commands' output."""

    TAIL = 6

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.steps: dict[str, _Step] = {}
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.messages: list[str] = []
        self.summary: dict[str, Any] | None = None
        self.live = Live(
            console=self.console, refresh_per_second=8, transient=False, get_renderable=self._render
        )
        self.live.start()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, StepStarted):
                self.steps[event.step] = _Step(event.stage, event.text, time.monotonic())
            elif isinstance(event, StepLog):
                step = self.steps.get(event.step)
                if step is not None:
                    for line in event.data.decode("utf-8", "replace").splitlines():
                        if line.strip():
                            step.tail.append(line.rstrip("\r"))
                    del step.tail[: -self.TAIL]
            elif isinstance(event, StepDone):
                step = self.steps.get(event.step)
                if step is not None:
                    step.done = time.monotonic()
                    step.cached = event.cached
                    step.error = event.error
            elif isinstance(event, Message):
                self.messages.append(event.text)
            elif isinstance(event, BuildSummary):
                self.summary = event.summary

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        width = self.console.width
        with self.lock:
            now = time.monotonic()
            finished = sum(1 for s in self.steps.values() if s.done is not None)
            lines = [
                Text(
                    f"[+] Building {now - self.start:.1f}s ({finished}/{len(self.steps)})",
                    style="bold",
                )
            ]
            for step in self.steps.values():
                elapsed = (step.done or now) - step.started
                if step.error:
                    status, style = "ERROR", "bold red"
                elif step.cached:
                    status, style = "CACHED", "cyan"
                elif step.done is not None:
                    status, style = f"{elapsed:.1f}s", "green"
                else:
                    status, style = f"{elapsed:.1f}s", "yellow"
                # One line per step, cut to the terminal's width, the status on the
                # right (as BuildKit shows it): a wrapped line would break the redraw.
                label = f" => [{step.stage}] " + " ".join(step.text.split())
                status = status.rjust(6)
                room = max(width - len(status) - 2, 10)
                if len(label) > room:
                    label = label[: room - 1] + "…"
                text = Text(label.ljust(room) + "  ", no_wrap=True, overflow="crop")
                text.append(status, style=style)
                lines.append(text)
                if step.done is None or step.error:
                    for tail in step.tail:
                        lines.append(self._line(f"    {tail}", width, "dim"))
            for message in self.messages[-3:]:
                lines.append(self._line(message, width, "dim"))
            return Group(*lines)

    @staticmethod
    def _line(text: str, width: int, style: str) -> Any:
        from rich.text import Text

        return Text(text.expandtabs()[:width], style=style, no_wrap=True, overflow="crop")

    def close(self) -> None:
        self.live.stop()
        if self.summary is not None:
            from etage.insight.summary import summary_lines

            self.console.print("\n".join(summary_lines(self.summary)), highlight=False)


def make_listener(mode: str) -> PlainProgress | RawJsonProgress | TtyProgress | None:
    if mode == "quiet":
        return None
    if mode == "rawjson":
        return RawJsonProgress()
    if mode == "tty" or (mode == "auto" and sys.stderr.isatty()):
        return TtyProgress()
    return PlainProgress()
