"""Gathers what the build summary needs from a finished build (etage.insight.summary)."""

from __future__ import annotations

from typing import Any

from etage.engine.export import BuiltImage
from etage.engine.result import StepResult
from etage.engine.session import BuildSession
from etage.engine.state import StageResult
from etage.insight.inspect import image_findings
from etage.insight.summary import LayerFacts, summarize


def build_summary(session: BuildSession, result: StageResult, image: BuiltImage) -> dict[str, Any]:
    plan = session.plan
    # A COPY --from=<stage> step: its files count for the stage they were made in.
    copied_from: dict[tuple[str, int], str] = {
        (s.label, e.line): plan.stages[e.source_stage].label
        for s in plan.needed
        for e in s.copies_from
        if e.source_stage is not None and e.kind in ("copy", "onbuild")
    }
    made_by: dict[str, tuple[str, StepResult]] = {}
    produced: dict[str, int] = {}
    for index in sorted(session.results):
        stage = session.results[index].result()
        produced[stage.label] = 0
        for step in stage.steps:
            if step.snapshot is None:
                continue
            made_by.setdefault(step.snapshot, (stage.label, step))
            if (stage.label, step.line) not in copied_from:
                produced[stage.label] += step.size
    root = plan.target_stage
    while root.base_stage is not None:
        root = plan.stages[root.base_stage]
    layers: list[LayerFacts] = []
    for ref, desc in zip(result.layers, image.layers, strict=True):
        compressed, paths = session.exporter.facts((ref.alone or ref.snapshot).id, desc)
        if ref.base is not None:
            label, line, text, source = "", root.stage.from_.line, f"FROM {root.base}", None
        else:
            label, step = made_by[ref.snapshot.id]
            line, text = step.line, step.text
            source = copied_from.get((label, line))
        layers.append(
            LayerFacts(
                str(desc.digest), ref.snapshot.size, compressed, label, line, text, source, paths
            )
        )
    base_ref = "" if root.base == "scratch" else root.base
    return summarize(session.dockerfile.filename, layers, produced, base_ref)


def check_built_image(session: BuildSession, image: BuiltImage) -> list[dict[str, Any]]:
    """The image checks' findings on the image just built (JSON, as `check --format json`)."""
    from etage.checks.render import finding_json

    _, findings = image_findings(
        session.store, session.snapshots, session.cache, str(image.manifest.digest),
        context=session.context_dir,
    )  # fmt: skip
    return [finding_json(f) for f in findings]
