"""Well-made multi-stage Dockerfiles from every common ecosystem: nothing above info.

A linter that cries wolf on good files gets switched off; these are the patterns the
official docs of each ecosystem recommend."""

from __future__ import annotations

from pathlib import Path

import pytest

from etage.checks.context import CheckInput
from etage.checks.model import Severity
from etage.checks.runner import run_checks
from etage.dockerfile.parse import parse_dockerfile
from etage.plan.graph import build_plan

CLEAN = sorted((Path(__file__).parent / "checks" / "clean").glob("*.Dockerfile"))


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.stem)
def test_nothing_above_info(path: Path) -> None:
    df = parse_dockerfile(path.read_text(), path.name)
    report = run_checks(CheckInput(build_plan(df)))
    loud = [
        f"{f.line}: {f.rule.id}: {f.message}"
        for f in report.findings
        if f.severity is not Severity.INFO
    ]
    assert loud == []


def test_the_corpus_is_there() -> None:
    assert len(CLEAN) >= 12
