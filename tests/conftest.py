from __future__ import annotations

import textwrap

import pytest

from etage.dockerfile.parse import Dockerfile, parse_dockerfile
from etage.plan.graph import PlanOptions, build_plan
from etage.plan.model import BuildPlan


def dockerfile(text: str, filename: str = "Dockerfile") -> Dockerfile:
    return parse_dockerfile(textwrap.dedent(text).lstrip("\n"), filename)


def plan_of(text: str, **options: object) -> BuildPlan:
    return build_plan(dockerfile(text), PlanOptions(**options))  # type: ignore[arg-type]


@pytest.fixture
def make_plan():  # type: ignore[no-untyped-def]
    return plan_of
