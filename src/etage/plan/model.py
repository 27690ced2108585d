"""The build plan: which stages a target needs, in which order, and what crosses stages.

A plan is what `etage plan` prints and what the build engine will walk. It is made of
plain frozen data so that the CLI, the checks and the tests read the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etage.dockerfile.instructions import Instruction
from etage.dockerfile.parse import Dockerfile, Stage
from etage.platforms import Platform

SCRATCH = "scratch"


@dataclass(frozen=True, slots=True)
class CopyEdge:
    """Files that cross into a stage from another stage or an image."""

    source: str  # the source stage's label ("builder", "0") or an image reference
    source_stage: int | None  # index of the source stage, None for an image
    sources: tuple[str, ...]  # paths in the source, after ARG/ENV expansion
    dest: str | None  # destination in this stage (None for a RUN --mount)
    instruction: Instruction
    kind: str  # "copy", "mount" or "onbuild" (a COPY --from inherited through ONBUILD)

    @property
    def line(self) -> int:
        return self.instruction.line


@dataclass(frozen=True, slots=True)
class VariableUse:
    """A variable an instruction referenced that had no value at that point."""

    name: str
    instruction: Instruction


@dataclass(frozen=True, slots=True)
class PlannedStage:
    stage: Stage
    base: str  # the base as resolved: an image reference, a stage label or "scratch"
    base_stage: int | None  # index of the stage this one starts FROM, if any
    platform: str | None  # --platform after expansion
    needed: bool
    reason: str  # why it is built, or why it is pruned
    depends_on: tuple[int, ...]  # stage indexes, in first-use order
    copies_from: tuple[CopyEdge, ...]
    images: tuple[str, ...]  # external images this stage reads (base, --from, mounts)
    onbuild_triggers: tuple[Instruction, ...] = ()  # run first, inherited from a stage base
    undefined_vars: tuple[VariableUse, ...] = ()
    # Variables this stage's ARG/ENV define at its end (for stages that build FROM it).
    defined_vars: frozenset[str] = field(default=frozenset())
    base_env_known: bool = True  # False when the base is an external image

    @property
    def index(self) -> int:
        return self.stage.index

    @property
    def name(self) -> str | None:
        return self.stage.name

    @property
    def label(self) -> str:
        return self.stage.label


@dataclass(frozen=True, slots=True)
class BuildPlan:
    dockerfile: Dockerfile
    target: int  # index of the target stage
    stages: tuple[PlannedStage, ...]
    waves: tuple[tuple[int, ...], ...]  # needed stages, grouped by what can run in parallel
    global_args: tuple[tuple[str, str], ...]  # values of the ARGs before the first FROM
    build_args: tuple[tuple[str, str], ...]
    target_platform: Platform
    build_platform: Platform
    unused_build_args: tuple[str, ...] = ()
    # Everything visible to FROM lines and inherited by `ARG NAME` in a stage: the global
    # ARGs and the automatic platform ARGs.
    global_env: tuple[tuple[str, str], ...] = ()

    @property
    def target_stage(self) -> PlannedStage:
        return self.stages[self.target]

    @property
    def image_stages(self) -> frozenset[int]:
        """The target and the stages it is built FROM: their layers make the image."""
        out: set[int] = set()
        index: int | None = self.target
        while index is not None and index not in out:
            out.add(index)
            index = self.stages[index].base_stage
        return frozenset(out)

    @property
    def needed(self) -> tuple[PlannedStage, ...]:
        return tuple(s for s in self.stages if s.needed)

    @property
    def pruned(self) -> tuple[PlannedStage, ...]:
        return tuple(s for s in self.stages if not s.needed)

    @property
    def external_images(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.stages:
            if s.needed:
                for image in s.images:
                    seen.setdefault(image)
        return tuple(seen)

    def label(self, index: int) -> str:
        return self.stages[index].label
