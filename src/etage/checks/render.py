"""Renderings of a CheckReport: text for people, JSON for tools, SARIF 2.1.0 for code scanning.

The JSON shape is documented in README.md ("etage check --format json"); keys may be
added, never renamed or removed.
"""

from __future__ import annotations

import json
from typing import Any

from etage.checks.model import Finding, Severity
from etage.checks.rules import ALL_RULES
from etage.checks.runner import CheckReport
from etage.version import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def finding_json(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": f.rule.id,
        "severity": f.severity.value,
        "file": f.file,
        "line": f.line,
        "column": f.column,
        "end_line": f.end_line or f.line,
        "stage": f.stage,
        "message": f.message,
        "why": f.rule.why,
        "fix": f.fix,
        "source": f.rule.source,
        "url": f.rule.url or None,
    }
    if f.bytes is not None:
        out["bytes"] = f.bytes
    if f.layer is not None:
        out["layer"] = f.layer
    if f.paths:
        out["paths"] = list(f.paths)
    return out


def report_json(report: CheckReport) -> dict[str, Any]:
    return {
        "version": 1,
        "dockerfile": report.dockerfile,
        "target": report.target,
        "findings": [finding_json(f) for f in report.findings],
        "summary": {
            "error": report.errors,
            "warning": report.warnings,
            "info": report.infos,
            "suppressed": report.suppressed,
        },
    }


def render_json(report: CheckReport) -> str:
    return json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"


def render_sarif(report: CheckReport) -> str:
    used = sorted({f.rule.id for f in report.findings})
    rules = [ALL_RULES[r] for r in used]
    index = {r.id: i for i, r in enumerate(rules)}
    sarif_rules = []
    for r in rules:
        entry: dict[str, Any] = {
            "id": r.id,
            "name": r.id,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.why},
            "help": {"text": r.why},
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {"source": r.source},
        }
        if r.url:
            entry["helpUri"] = r.url
        sarif_rules.append(entry)
    results = []
    for f in report.findings:
        text = f.message + (f"\nFix: {f.fix}" if f.fix else "")
        results.append(
            {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule.id],
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file},
                            "region": {
                                "startLine": f.line,
                                "startColumn": max(f.column, 1),
                                "endLine": max(f.end_line, f.line),
                            },
                        }
                    }
                ],
                "properties": {"fix": f.fix, "stage": f.stage, "why": f.rule.why},
            }
        )
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "etage",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/etage/",
                        "rules": sarif_rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_text(report: CheckReport, source_lines: tuple[str, ...], *, color: bool = False) -> str:
    def style(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    colors = {Severity.ERROR: "1;31", Severity.WARNING: "1;33", Severity.INFO: "1;36"}
    out: list[str] = []
    for f in report.findings:
        head = f"{f.file}:{f.line}:{f.column}: {style(f.severity.value, colors[f.severity])}: "
        out.append(head + f"{style(f.rule.id, '1')}: {f.message}")
        if 1 <= f.line <= len(source_lines):
            text = source_lines[f.line - 1]
            gutter = f"{f.line:>5} | "
            out.append(gutter + text)
            start = max(f.column - 1, 0)
            width = max(len(text.rstrip()) - start, 1)
            out.append(" " * 5 + " | " + " " * start + style("^" * width, "32"))
        out.append(f"      why: {f.rule.why}")
        if f.fix:
            out.append(f"      fix: {f.fix}")
        out.append("")
    counts = []
    for n, word in ((report.errors, "error"), (report.warnings, "warning"), (report.infos, "info")):
        if n:
            counts.append(f"{n} {word}{'s' if n != 1 and word != 'info' else ''}")
    summary = ", ".join(counts) if counts else "no findings"
    if report.suppressed:
        summary += f" ({report.suppressed} suppressed)"
    out.append(f"{report.dockerfile}: {summary} (target {report.target})")
    return "\n".join(out) + "\n"
