"""The runner's configuration: the # check= directive, inline suppressions, escalation."""

from __future__ import annotations

import pytest

from etage.checks.context import CheckInput
from etage.checks.model import Severity
from etage.checks.runner import run_checks
from etage.errors import DockerfileError
from etage.plan.graph import build_plan
from tests.conftest import dockerfile

BASE = """
    FROM golang:1.22
    RUN go build -o /app .
    FROM alpine
    COPY --from=0 /app /app
"""


def ids(text: str) -> list[tuple[str, int, str]]:
    report = run_checks(CheckInput(build_plan(dockerfile(text))))
    return [(f.rule.id, f.line, f.severity.value) for f in report.findings]


def test_baseline() -> None:
    assert ids(BASE) == [
        ("UnnamedStage", 1, "warning"),
        ("UnnamedStage", 3, "info"),
        ("NumericStageReference", 4, "warning"),
    ]


def test_inline_etage_ignore_covers_the_next_instruction_only() -> None:
    text = BASE.replace(
        "    COPY --from=0", "    # etage ignore=NumericStageReference\n    COPY --from=0"
    )
    assert ("NumericStageReference", 5, "warning") not in ids(text)
    assert ("UnnamedStage", 1, "warning") in ids(text)


def test_check_skip_above_from_covers_the_stage() -> None:
    text = BASE.replace(
        "    FROM alpine", "    # check=skip=UnnamedStage,NumericStageReference\n    FROM alpine"
    )
    assert ids(text) == [("UnnamedStage", 1, "warning")]


def test_file_directive_skip_all_and_error() -> None:
    assert ids("# check=skip=all\n" + BASE) == []
    escalated = ids("# check=error=true\n" + BASE.strip())
    assert {sev for _, _, sev in escalated} == {"error", "info"}
    report = run_checks(CheckInput(build_plan(dockerfile("# check=error=true\n" + BASE))))
    assert report.exit_status == 1
    assert report.errors == 2 and report.infos == 1


def test_suppressed_are_counted() -> None:
    report = run_checks(CheckInput(build_plan(dockerfile("# check=skip=UnnamedStage\n" + BASE))))
    assert report.suppressed == 2
    assert [f.severity for f in report.findings] == [Severity.WARNING]


def test_experimental_rules_need_opting_in() -> None:
    text = "# the builder\nFROM alpine AS builder\n"
    assert "InvalidDefinitionDescription" not in [r for r, _, _ in ids(text)]
    enabled = "# check=experimental=InvalidDefinitionDescription\n\n" + text
    assert "InvalidDefinitionDescription" in [r for r, _, _ in ids(enabled)]


def test_invalid_check_directive_is_an_error() -> None:
    with pytest.raises(DockerfileError, match="invalid check option") as err:
        run_checks(CheckInput(build_plan(dockerfile("# check=skip\nFROM alpine\n"))))
    assert err.value.location is not None and err.value.location.line == 1
