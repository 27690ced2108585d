"""What a static rule can look at: the plan, the Dockerfile, the context and its ignore file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from etage.checks.model import Finding
from etage.checks.rules import rule
from etage.dockerfile.ignore import DockerIgnore
from etage.dockerfile.parse import Dockerfile, Stage
from etage.plan.model import BuildPlan, PlannedStage

# A target named like this is a development or test image, not what ships to production.
DEVELOPMENT_TARGET = re.compile(
    r"(^|[-_.])(dev|devel|develop|development|dev-?envs?|devcontainer|debug|local|"
    r"test|tests|testing|ci|lint)([-_.]|$)"
)


def is_development_name(name: str | None) -> bool:
    return name is not None and DEVELOPMENT_TARGET.search(name) is not None


@dataclass(frozen=True, slots=True)
class StageRoles:
    """Which stages ship and how each is used, as the rules about shipping need it."""

    shipping: frozenset[int]  # the target and the stages it is built FROM
    copied_from: frozenset[int]  # stages another stage copies or mounts from
    based_on: frozenset[int]  # stages another stage is built FROM


class CheckInput:
    def __init__(
        self,
        plan: BuildPlan,
        *,
        context_dir: Path | None = None,
        ignore: DockerIgnore | None = None,
        explicit_target: bool = False,
        default_plan: BuildPlan | None = None,
    ) -> None:
        self.plan = plan
        self.context_dir = context_dir
        self.ignore = ignore
        self.explicit_target = explicit_target
        # The plan with no --build-arg, for rules about defaults (InvalidDefaultArgInFrom).
        self.default_plan = default_plan or plan

    @property
    def dockerfile(self) -> Dockerfile:
        return self.plan.dockerfile

    @property
    def stages(self) -> tuple[PlannedStage, ...]:
        return self.plan.stages

    @cached_property
    def roles(self) -> StageRoles:
        shipping: set[int] = set()
        i: int | None = self.plan.target
        if is_development_name(self.plan.target_stage.name):
            i = None  # a dev or test target: nothing of it ships to production
        while i is not None and i not in shipping:
            shipping.add(i)
            i = self.plan.stages[i].base_stage
        copied = {
            e.source_stage
            for s in self.plan.stages
            for e in s.copies_from
            if e.source_stage is not None
        }
        based = {s.base_stage for s in self.plan.stages if s.base_stage is not None}
        return StageRoles(frozenset(shipping), frozenset(copied), frozenset(based))

    def is_shipping(self, stage: Stage | PlannedStage) -> bool:
        return stage.index in self.roles.shipping

    def finding(
        self,
        rule_id: str,
        line: int,
        message: str,
        *,
        fix: str | None = None,
        stage: str | None = None,
        column: int = 1,
        end_line: int = 0,
    ) -> Finding:
        r = rule(rule_id)
        return Finding(
            rule=r,
            severity=r.severity,
            file=self.dockerfile.filename,
            line=line,
            message=message,
            fix=fix,
            column=column,
            end_line=end_line or line,
            stage=stage,
        )
