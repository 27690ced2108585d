"""The public API: what `import etage` offers is pinned."""

from __future__ import annotations

import subprocess
import sys

import etage


def test_public_api_is_pinned() -> None:
    assert sorted(etage.__all__) == [
        "BuildPlan", "BuildResult", "CheckReport", "Dockerfile", "EtageError", "Finding",
        "__version__", "build", "check", "parse_dockerfile", "plan_build",
    ]  # fmt: skip
    for name in etage.__all__:
        assert getattr(etage, name) is not None


def test_api_plan_and_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "Dockerfile").write_text(
        "FROM golang:1.22 AS build\nRUN go build -o /a .\nFROM scratch\nCOPY --from=build /a /a\n"
    )
    plan = etage.plan_build(tmp_path)
    assert [s.label for s in plan.needed] == ["build", "1"]
    report = etage.check(tmp_path)
    assert [f.rule.id for f in report.findings] == ["UnnamedStage"]


def test_help_imports_no_heavy_modules() -> None:
    code = "import sys, etage.cli; print(sorted(m for m in sys.modules if m.startswith('etage')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['etage', 'etage.cli', 'etage.errors', 'etage.version']"
