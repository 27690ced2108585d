"""The image checks and the report of an image of the store, as the API offers them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from etage.cache.index import CacheIndex
from etage.checks.model import Finding
from etage.checks.render import finding_json
from etage.checks.runner import CheckReport
from etage.insight import snapshot_facts
from etage.insight.evidence import ImageEvidence, run_evidence_checks
from etage.insight.image import OpenedImage, open_image
from etage.insight.listing import merge
from etage.oci import mediatypes as mt
from etage.oci.model import Descriptor
from etage.oci.store import ContentStore
from etage.runtime.snapshots import SnapshotStore


def gather(opened: OpenedImage, cache: CacheIndex, context: Path | None = None) -> ImageEvidence:
    summary_path = (opened.summary or {}).get("dockerfile_path")
    listings = tuple(snapshot_facts.listing(cache, ly.snapshot) for ly in opened.layers)
    summary = opened.summary or {}
    if context is None and summary.get("context"):
        context = Path(summary["context"])
    return ImageEvidence(
        file=opened.dockerfile or opened.ref,
        layers=opened.layers,
        listings=listings,
        merged=merge(list(listings)),
        config=opened.config,
        history=tuple(h.created_by for h in opened.history),
        context=context if context is not None and context.is_dir() else None,
        dockerfile_lines=_dockerfile_lines(summary_path),
    )


def _dockerfile_lines(path: str | None) -> tuple[str, ...]:
    if not path:
        return ()
    try:
        return tuple(Path(path).read_text(errors="replace").splitlines())
    except OSError:
        return ()


def image_findings(
    store: ContentStore,
    snapshots: SnapshotStore,
    cache: CacheIndex,
    ref: str,
    *,
    context: Path | None = None,
) -> tuple[OpenedImage, list[Finding]]:
    opened = open_image(store, snapshots, cache, ref)
    return opened, run_evidence_checks(gather(opened, cache, context))


def check_report(opened: OpenedImage, findings: list[Finding]) -> CheckReport:
    summary = opened.summary or {}
    lines = _dockerfile_lines(summary.get("dockerfile_path"))
    return CheckReport(
        dockerfile=opened.dockerfile or opened.ref,
        target=str(summary.get("target") or opened.ref),
        findings=tuple(findings),
        lines=lines,
    )


def _blob_size(desc: Descriptor) -> int | None:
    """A layer's size as pushed, when its blob is already compressed."""
    return desc.size if mt.layer_compression(desc.media_type) != "none" else None


def _display_ref(opened: OpenedImage) -> str:
    names = (opened.summary or {}).get("image", {}).get("names") or []
    if opened.ref.startswith("sha256:") and names:
        return str(names[0])
    return opened.ref


def report_data(
    store: ContentStore, snapshots: SnapshotStore, cache: CacheIndex, ref: str
) -> dict[str, Any]:
    """What `etage report` shows: the summary, each layer with its bytes per path, the
    findings (see docs/report.md)."""
    opened, findings = image_findings(store, snapshots, cache, ref)
    image = opened.image
    summary = opened.summary
    built = {str(x["digest"]): x for x in (summary or {}).get("layers", [])}
    layers = []
    for ly in opened.layers:
        facts = built.get(ly.digest, {})
        layers.append(
            {
                "index": ly.index,
                "digest": ly.digest,
                "size": ly.snapshot.size,
                "compressed": facts.get("compressed", _blob_size(ly.descriptor)),
                "stage": ly.stage,
                "line": ly.line,
                "instruction": ly.what,
                "from_stage": ly.from_stage,
                "paths": snapshot_facts.path_sizes(cache, ly.snapshot),
            }
        )
    platform = f"{image.config.os}/{image.config.architecture}"
    if image.config.variant:
        platform += f"/{image.config.variant}"
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f.severity.value] += 1
    public = (
        {k: v for k, v in summary.items() if k not in ("context", "dockerfile_path")}
        if summary
        else None
    )
    return {
        "version": 1,
        "image": {
            "ref": _display_ref(opened),
            "digest": str(image.descriptor.digest),
            "created": image.config.created,
            "platform": platform,
        },
        "dockerfile": opened.dockerfile or None,
        "summary": public,
        "layers": layers,
        "findings": [finding_json(f) for f in findings],
        "counts": counts,
    }
