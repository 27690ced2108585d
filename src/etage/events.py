"""Events a build emits, in order, for progress displays and tools (rawjson).

Each step has an id "<stage label>#<n>" (n counts from 1 within the stage); a listener
receives every event, possibly from several threads at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class BuildStarted:
    target: str
    stages: tuple[str, ...]  # the stages that will be built, in file order
    pruned: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: str
    stage: str
    line: int
    text: str  # e.g. "RUN npm ci"


@dataclass(frozen=True, slots=True)
class StepLog:
    step: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StepDone:
    step: str
    cached: bool
    duration: float
    error: str | None = None
    size: int = 0  # bytes the step added (its layer's content)
    explain: str = ""  # why it missed the cache, when asked


@dataclass(frozen=True, slots=True)
class Message:
    level: str  # "info", "warning"
    text: str


@dataclass(frozen=True, slots=True)
class BuildDone:
    digest: str
    duration: float
    names: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class BuildSummary:
    """What the image weighs and where it comes from (etage.insight.summary's JSON)."""

    summary: dict[str, Any]


Event = BuildStarted | StepStarted | StepLog | StepDone | Message | BuildDone | BuildSummary
Listener = Callable[[Event], None]


def event_json(event: Event) -> dict[str, Any]:
    data = asdict(event)
    if isinstance(event, StepLog):
        data["data"] = event.data.decode("utf-8", "replace")
    data["type"] = type(event).__name__
    return data


def ignore(_event: Event) -> None:
    pass
