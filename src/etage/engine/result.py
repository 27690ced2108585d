"""What a build returns: the image's digest and names, and every step's result.

Kept apart from the engine (stdlib only) so that a replayed no-op build can return one
without loading the frontend, the planner or the image model; `plan` and `image` are
loaded on first use in that case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etage.engine.export import BuiltImage
    from etage.plan.model import BuildPlan


@dataclass(frozen=True, slots=True)
class StepResult:
    step: str  # "<stage>#<n>"
    line: int
    text: str
    cached: bool
    duration: float
    key: str
    snapshot: str | None  # the step's snapshot (filesystem steps)
    size: int = 0
    explain: str = ""
    layer: str | None = None  # the digest of the layer it became in the image, if it did

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step, "line": self.line, "text": self.text, "cached": self.cached,
            "duration": round(self.duration, 6), "key": self.key, "snapshot": self.snapshot,
            "size": self.size, "explain": self.explain, "layer": self.layer,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class StageSummary:
    label: str
    steps: tuple[StepResult, ...]


@dataclass(frozen=True)
class BuildResult:
    digest: str  # the image manifest's digest in the store
    config_digest: str
    names: tuple[str, ...]
    stages: tuple[StageSummary, ...]
    duration: float
    metadata: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False  # a no-op build answered from its record (see engine.replay)
    _plan: BuildPlan | None = field(default=None, repr=False)
    _image: BuiltImage | None = field(default=None, repr=False)
    _load: Callable[[], tuple[BuildPlan, BuiltImage]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def plan(self) -> BuildPlan:
        if self._plan is None:
            self._materialize()
        assert self._plan is not None
        return self._plan

    @property
    def image(self) -> BuiltImage:
        if self._image is None:
            self._materialize()
        assert self._image is not None
        return self._image

    def _materialize(self) -> None:
        assert self._load is not None, "a build result without its plan and image"
        plan, image = self._load()
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_image", image)

    @property
    def summary(self) -> dict[str, Any] | None:
        """What the image weighs and where it comes from (etage.insight.summary)."""
        value = self.metadata.get("etage.build.summary")
        return value if isinstance(value, dict) else None

    @property
    def steps(self) -> tuple[StepResult, ...]:
        return tuple(s for st in self.stages for s in st.steps)
