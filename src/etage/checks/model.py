"""Findings and rules: what `etage check` reports and how each rule is described."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # stable CamelCase id, e.g. "NumericStageReference"
    severity: Severity  # default severity
    title: str  # one line: what the rule checks
    why: str  # why it matters, for the report and SARIF help text
    source: str  # "buildkit" (same name and meaning as BuildKit's build checks) or "etage"
    url: str = ""
    experimental: bool = False  # off unless enabled (BuildKit's check=experimental=...)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    severity: Severity
    file: str
    line: int
    message: str
    fix: str | None = None  # a concrete fix, the corrected line where possible
    column: int = 1
    end_line: int = 0
    stage: str | None = None  # label of the stage the finding is about
    # Evidence from a built image (image checks; unused by static checks).
    bytes: int | None = None
    layer: str | None = None
    paths: tuple[str, ...] = field(default=())

    @property
    def why(self) -> str:
        return self.rule.why

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.rule.id)
