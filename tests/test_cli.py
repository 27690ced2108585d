"""The command line, run as a real process: outputs, error format, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "node-ts-api"


def etage(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etage", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=60,
    )


def test_plan_text_json_mermaid_dot_on_the_example() -> None:
    text = etage("plan", str(EXAMPLE))
    assert text.returncode == 0, text.stderr
    assert "[skip ] 2: test" in text.stdout and "Pruned: test" in text.stdout
    data = json.loads(etage("plan", "--format", "json", str(EXAMPLE)).stdout)
    assert data["target"] == "runtime"
    assert data["waves"] == [["builder", "prod-deps"], ["runtime"]]
    assert data["pruned"] == ["test"]
    assert data["external_images"] == ["node:18", "node:18-slim"]
    runtime = data["stages"][3]
    assert runtime["copies_from"][0] == {
        "from": "prod-deps", "from_stage": 1, "image": False, "kind": "copy",
        "sources": ["/app/node_modules"], "dest": "./node_modules", "line": 27,
    }  # fmt: skip
    assert runtime["instructions"][0]["keyword"] == "FROM"
    mermaid = etage("plan", "--format", "mermaid", str(EXAMPLE)).stdout
    assert mermaid.startswith("flowchart LR") and "s_builder" in mermaid
    dot = etage("plan", "--format", "dot", "--target", "test", str(EXAMPLE)).stdout
    assert dot.startswith("digraph plan {") and "style=dashed" in dot


def test_plan_build_args_and_target() -> None:
    out = etage(
        "plan", "--format", "json", "--build-arg", "RUNTIME_IMAGE=gcr.io/distroless/nodejs18",
        "--target", "prod-deps", str(EXAMPLE),
    )  # fmt: skip
    data = json.loads(out.stdout)
    assert data["target"] == "prod-deps"
    assert [s["needed"] for s in data["stages"]] == [False, True, False, False]
    assert data["stages"][3]["base"] == "gcr.io/distroless/nodejs18"


def test_check_clean_example_and_naive_one() -> None:
    clean = etage("check", "--format", "json", str(EXAMPLE))
    assert clean.returncode == 0
    found = json.loads(clean.stdout)["findings"]
    assert {f["severity"] for f in found} <= {"info"}
    naive = etage(
        "check", "-f", str(EXAMPLE / "Dockerfile.naive"), "--format", "json", str(EXAMPLE)
    )
    assert naive.returncode == 0  # warnings only
    rules = {(f["rule"], f["line"]) for f in json.loads(naive.stdout)["findings"]}
    assert {
        ("BuildInSingleStage", 5),
        ("DevInstallInFinalStage", 5),
        ("JSONArgsRecommended", 7),
    } <= rules
    for f in json.loads(naive.stdout)["findings"]:
        assert set(f) >= {"rule", "severity", "line", "message", "fix", "file"}
        assert f["fix"]


def test_check_exit_status_follows_error_findings(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("# check=error=true\nFROM alpine\nCMD echo hi\n")
    out = etage("check", str(tmp_path))
    assert out.returncode == 1
    assert "Dockerfile:3:1: error: JSONArgsRecommended" in out.stdout
    (tmp_path / "Dockerfile").write_text(
        "# check=skip=JSONArgsRecommended;error=true\nFROM alpine\nCMD echo hi\n"
    )
    assert etage("check", str(tmp_path)).returncode == 0


def test_errors_are_for_humans(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM alpine AS build\nRUN make\n\nFROM alpine\nCOPY --from=biuld /out /out\n"
    )
    out = etage("plan", "--target", "biuld", str(tmp_path))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert (
        lines[0]
        == 'Dockerfile:1: error: target stage "biuld" could not be found (did you mean "build"?)'
    )
    assert lines[1] == "    1 | FROM alpine AS build"
    assert lines[2].startswith("      | ^")
    assert lines[3] == "hint: stages with a name: build"
    assert "Traceback" not in out.stderr

    (tmp_path / "Dockerfile").write_text("FROM alpine\nCOPY onlyone\n")
    out = etage("check", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith("Dockerfile:2: error: COPY requires at least two arguments")
    assert "    2 | COPY onlyone\n      | ^^^^^^^^^^^^\nhint: usage: COPY" in out.stderr
    debug = etage("--debug", "check", str(tmp_path))
    assert "Traceback" in debug.stderr and debug.returncode == 2


def test_missing_context_and_dockerfile(tmp_path: Path) -> None:
    out = etage("plan", str(tmp_path / "nope"))
    assert out.returncode == 2 and "does not exist" in out.stderr
    (tmp_path / "Dockerfile.prod").write_text("FROM alpine\n")
    out = etage("plan", str(tmp_path))
    assert out.returncode == 2 and "use -f to pick one of: Dockerfile.prod" in out.stderr


def test_dockerfile_from_stdin(tmp_path: Path) -> None:
    out = etage(
        "plan", "-f", "-", "--format", "json", str(tmp_path), stdin="FROM alpine AS a\nFROM a\n"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["dockerfile"] == "-"


def test_usage_errors_exit_2() -> None:
    assert etage("plan", "--format", "yaml", str(EXAMPLE)).returncode == 2
    assert etage("frobnicate").returncode == 2


@pytest.mark.parametrize(
    "command", [["--help"], ["plan", "--help"], ["check", "--help"], ["--version"]]
)
def test_help_and_version(command: list[str]) -> None:
    out = etage(*command)
    assert out.returncode == 0 and out.stdout


def test_lowercase_dockerfile_fallback(tmp_path: Path) -> None:
    (tmp_path / "dockerfile").write_text("FROM alpine\n")
    out = etage("plan", "--format", "json", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["dockerfile"].endswith("dockerfile")
