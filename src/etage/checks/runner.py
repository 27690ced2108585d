"""Run the static rules, then apply configuration: the `# check=` directive, inline
suppressions, experimental rules, and `error=true` escalation.

Inline suppression, on the comment lines right above an instruction:
    # check=skip=UndefinedVar,NumericStageReference    (BuildKit's syntax)
    # etage ignore=NumericStageReference               (same effect)
Above a FROM, it applies to the whole stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from etage.checks.buildkit import check_buildkit
from etage.checks.context import CheckInput
from etage.checks.model import Finding, Severity
from etage.checks.multistage import check_multistage
from etage.checks.rules import ALL_RULES
from etage.dockerfile.directives import parse_check_directive
from etage.dockerfile.instructions import Instruction
from etage.dockerfile.parse import Stage
from etage.errors import DockerfileError, SourceLocation

_INLINE = re.compile(
    r"^(?:check\s*=\s*(?P<check>\S+)|etage:?\s+ignore\s*=\s*(?P<ignore>[\w,\s]+))", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class CheckReport:
    dockerfile: str
    target: str
    findings: tuple[Finding, ...]
    suppressed: int = 0
    lines: tuple[str, ...] = ()  # the Dockerfile's lines, to show findings in context

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)

    @property
    def infos(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.INFO)

    @property
    def exit_status(self) -> int:
        return 1 if self.errors else 0


def _inline_skips(comments: Iterable[str]) -> set[str]:
    skips: set[str] = set()
    for comment in comments:
        m = _INLINE.match(comment.strip())
        if m is None:
            continue
        if m.group("check"):
            try:
                skip, _error, _exp = parse_check_directive(m.group("check"))
            except ValueError:
                continue
            skips |= set(skip)
        else:
            skips |= {r.strip() for r in m.group("ignore").split(",") if r.strip()}
    return skips


def _suppressions(ci: CheckInput) -> list[tuple[int, int, set[str]]]:
    """(first line, last line, rule ids skipped there) for each annotated instruction or stage."""
    out: list[tuple[int, int, set[str]]] = []
    stages: tuple[Stage, ...] = ci.dockerfile.stages
    for n, stage in enumerate(stages):
        end = stages[n + 1].from_.line - 1 if n + 1 < len(stages) else 1 << 30
        skips = _inline_skips(stage.from_.node.comments)
        if skips:
            out.append((stage.from_.line, end, skips))
        instruction: Instruction
        for instruction in stage.instructions:
            skips = _inline_skips(instruction.node.comments)
            if skips:
                out.append((instruction.line, instruction.end_line, skips))
    for arg in ci.dockerfile.global_args:
        skips = _inline_skips(arg.node.comments)
        if skips:
            out.append((arg.line, arg.end_line, skips))
    return out


def run_checks(ci: CheckInput) -> CheckReport:
    df = ci.dockerfile
    skip_all = False
    skip: frozenset[str] = frozenset()
    error = False
    experimental: frozenset[str] = frozenset()
    value = df.parsed.directive("check")
    if value is not None:
        try:
            skip, error, experimental = parse_check_directive(value)
        except ValueError as exc:
            line = next(d.line for d in df.parsed.directives if d.name == "check")
            raise DockerfileError(
                str(exc),
                location=SourceLocation(df.filename, line),
                source_line=df.source_line(line),
                hint="use `# check=skip=Rule1,Rule2;error=true`",
            ) from None
        skip_all = "all" in skip
    findings = [*check_buildkit(ci), *check_multistage(ci)]
    regions = _suppressions(ci)
    kept: list[Finding] = []
    suppressed = 0
    seen: set[tuple[str, int, str]] = set()
    for f in findings:
        r = f.rule
        if r.experimental and not ("all" in experimental or r.id in experimental):
            continue
        if (
            skip_all
            or r.id in skip
            or any(lo <= f.line <= hi and (r.id in ids or "all" in ids) for lo, hi, ids in regions)
        ):
            suppressed += 1
            continue
        key = (r.id, f.line, f.message)
        if key in seen:
            continue
        seen.add(key)
        if error and f.severity is Severity.WARNING:
            kept.append(replace(f, severity=Severity.ERROR))
        else:
            kept.append(f)
    kept.sort(key=Finding.sort_key)
    return CheckReport(
        df.filename, ci.plan.target_stage.label, tuple(kept), suppressed, df.parsed.lines
    )


__all__ = ["ALL_RULES", "CheckReport", "run_checks"]
