"""Renderings of a BuildPlan: text for people, JSON for tools, Mermaid and DOT for diagrams.

The JSON shape is documented in README.md ("etage plan --format json") and is stable:
keys may be added, never renamed or removed.
"""

from __future__ import annotations

import json
from typing import Any

from etage.dockerfile.instructions import Instruction
from etage.dockerfile.parse import Stage
from etage.dockerfile.syntax import Node
from etage.plan.model import BuildPlan, PlannedStage

JSON_SCHEMA_VERSION = 1


def node_json(node: Node) -> dict[str, Any]:
    """An instruction exactly as the official parser reports it (before expansion)."""
    out: dict[str, Any] = {
        "keyword": node.upper,
        "flags": list(node.flags),
        "args": list(node.args),
        "json": node.json,
        "heredocs": [{"name": h.name, "content": h.content} for h in node.heredocs],
        "line": node.start_line,
        "end_line": node.end_line,
    }
    if node.sub is not None:
        out["trigger"] = {
            "keyword": node.sub.upper,
            "flags": list(node.sub.flags),
        }
    return out


def _instructions(stage: Stage) -> list[dict[str, Any]]:
    return [node_json(i.node) for i in stage.all_instructions]


def _edge_json(plan: BuildPlan, stage: PlannedStage) -> list[dict[str, Any]]:
    out = []
    for e in stage.copies_from:
        out.append(
            {
                "from": e.source,
                "from_stage": e.source_stage,
                "image": e.source_stage is None,
                "kind": e.kind,
                "sources": list(e.sources),
                "dest": e.dest,
                "line": e.line,
            }
        )
    return out


def plan_to_json(plan: BuildPlan) -> dict[str, Any]:
    stages = []
    for s in plan.stages:
        stages.append(
            {
                "index": s.index,
                "name": s.name,
                "base": s.base,
                "base_stage": s.base_stage,
                "platform": s.platform,
                "needed": s.needed,
                "reason": s.reason,
                "depends_on": [plan.label(d) for d in s.depends_on],
                "images": list(s.images),
                "line": s.stage.from_.line,
                "instructions": _instructions(s.stage),
                "copies_from": _edge_json(plan, s),
            }
        )
    return {
        "version": JSON_SCHEMA_VERSION,
        "dockerfile": plan.dockerfile.filename,
        "target": plan.target_stage.label,
        "target_platform": str(plan.target_platform),
        "stages": stages,
        "global_args": [node_json(a.node) for a in plan.dockerfile.global_args],
        "global_arg_values": dict(plan.global_args),
        "waves": [[plan.label(i) for i in wave] for wave in plan.waves],
        "pruned": [s.label for s in plan.pruned],
        "external_images": list(plan.external_images),
        "unused_build_args": list(plan.unused_build_args),
    }


def render_json(plan: BuildPlan) -> str:
    return json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False) + "\n"


def _where(instruction: Instruction) -> str:
    return f"line {instruction.line}"


def render_text(plan: BuildPlan) -> str:
    df = plan.dockerfile
    lines = [
        f"{df.filename}: {len(plan.stages)} stage{'s' if len(plan.stages) != 1 else ''}, "
        f"target {plan.target_stage.label!r} ({plan.target_platform})",
        "",
    ]
    for s in plan.stages:
        mark = "build" if s.needed else "skip "
        name = s.name or f"#{s.index}"
        base = f"FROM {s.base}" + (f" --platform={s.platform}" if s.platform else "")
        lines.append(f"  [{mark}] {s.index}: {name:<16} {base}  (line {s.stage.from_.line})")
        lines.append(f"           {s.reason}")
        for e in s.copies_from:
            what = "mount" if e.kind == "mount" else "copy"
            src = ", ".join(e.sources) or "/"
            dest = f" -> {e.dest}" if e.dest is not None else ""
            origin = f"stage {e.source}" if e.source_stage is not None else f"image {e.source}"
            lines.append(f"           {what} {src} from {origin}{dest}  ({_where(e.instruction)})")
    lines.append("")
    lines.append("Waves (stages in one wave can be built in parallel):")
    for n, wave in enumerate(plan.waves, 1):
        lines.append(f"  {n}. " + ", ".join(plan.label(i) for i in wave))
    if plan.external_images:
        lines.append("")
        lines.append("External images: " + ", ".join(plan.external_images))
    if plan.pruned:
        lines.append("Pruned: " + ", ".join(s.label for s in plan.pruned))
    if plan.unused_build_args:
        lines.append("Build args not declared by any ARG: " + ", ".join(plan.unused_build_args))
    return "\n".join(lines) + "\n"


def _id(label: str) -> str:
    return "s_" + "".join(ch if ch.isalnum() else "_" for ch in label)


def _img_id(image: str) -> str:
    return "img_" + "".join(ch if ch.isalnum() else "_" for ch in image)


def render_mermaid(plan: BuildPlan) -> str:
    out = ["flowchart LR"]
    for s in plan.stages:
        label = f"{s.label}" + ("" if s.needed else " (pruned)")
        shape = f'(["{label}"])' if s.index == plan.target else f'["{label}"]'
        out.append(f"  {_id(s.label)}{shape}")
        if not s.needed:
            out.append(f"  style {_id(s.label)} stroke-dasharray: 5 5")
    for image in dict.fromkeys(i for s in plan.stages for i in s.images):
        out.append(f'  {_img_id(image)}[("{image}")]')
    for s in plan.stages:
        if s.base_stage is not None:
            out.append(f"  {_id(plan.label(s.base_stage))} -->|FROM| {_id(s.label)}")
        elif s.base != "scratch":
            out.append(f"  {_img_id(s.base)} -->|FROM| {_id(s.label)}")
        for e in s.copies_from:
            src = _id(e.source) if e.source_stage is not None else _img_id(e.source)
            text = (", ".join(e.sources) or "/").replace('"', "'")
            out.append(f'  {src} -->|"{text}"| {_id(s.label)}')
    return "\n".join(out) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(plan: BuildPlan) -> str:
    out = ["digraph plan {", "  rankdir=LR;", "  node [shape=box];"]
    for s in plan.stages:
        attrs = [f"label={_dot_quote(s.label)}"]
        if s.index == plan.target:
            attrs.append("penwidth=2")
        if not s.needed:
            attrs.append("style=dashed")
        out.append(f"  {_dot_quote('stage:' + s.label)} [{', '.join(attrs)}];")
    for image in sorted({i for s in plan.stages for i in s.images}):
        out.append(f"  {_dot_quote('image:' + image)} [label={_dot_quote(image)}, shape=cylinder];")
    for s in plan.stages:
        me = _dot_quote("stage:" + s.label)
        if s.base_stage is not None:
            out.append(f"  {_dot_quote('stage:' + plan.label(s.base_stage))} -> {me} [label=FROM];")
        elif s.base != "scratch":
            out.append(f"  {_dot_quote('image:' + s.base)} -> {me} [label=FROM];")
        for e in s.copies_from:
            src = "stage:" + e.source if e.source_stage is not None else "image:" + e.source
            out.append(
                f"  {_dot_quote(src)} -> {me} [label={_dot_quote(', '.join(e.sources) or '/')}];"
            )
    out.append("}")
    return "\n".join(out) + "\n"


RENDERERS = {
    "text": render_text,
    "json": render_json,
    "mermaid": render_mermaid,
    "dot": render_dot,
}
