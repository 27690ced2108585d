"""Golden error messages: each broken Dockerfile under tests/golden/errors gives exactly
the error text (with file:line, the line, a caret and a hint) stored beside it.

After a deliberate change, regenerate with:
    ETAGE_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_golden_errors.py
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etage.cli import format_error
from etage.dockerfile.parse import parse_dockerfile
from etage.errors import EtageError
from etage.plan.graph import build_plan

CASES = sorted((Path(__file__).parent / "golden" / "errors").glob("*.Dockerfile"))


def render(path: Path) -> str:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    try:
        build_plan(parse_dockerfile(text, "Dockerfile"))
    except EtageError as exc:
        return f"exit status {exc.exit_status}\n{format_error(exc)}\n"
    return "no error\n"


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_error_text(path: Path) -> None:
    expected_path = path.with_suffix(".expected")
    actual = render(path)
    if os.environ.get("ETAGE_REGEN_GOLDEN"):
        expected_path.write_text(actual)
    assert actual.startswith("exit status 2\n"), actual
    assert actual == expected_path.read_text()


def test_every_error_names_its_line() -> None:
    for path in CASES:
        first = render(path).splitlines()[1]
        assert first.startswith("Dockerfile:"), (path.name, first)
