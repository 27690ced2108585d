"""The build summary: what the image weighs, what each stage made and shipped, the
multi-stage ratio and the largest paths with the instruction that put each there.

Made from plain facts about the image's layers (the engine gathers them); the summary is
JSON data (in --metadata-file, rawjson and the no-op replay record) and `summary_lines`
renders it. Sizes are bytes of file data, as the layers' contents count them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etage.insight.paths import main_paths

LARGEST = 6  # paths the summary names
VERSION = 1


@dataclass(frozen=True, slots=True)
class LayerFacts:
    digest: str
    size: int  # bytes of file data
    compressed: int  # bytes of the layer blob as a push sends it (gzip)
    stage: str  # the stage whose instruction made it ("" for a base image's layer)
    line: int  # that instruction's Dockerfile line (the FROM line for a base layer)
    instruction: str
    from_stage: str | None = None  # the stage a COPY --from copied these files from
    paths: dict[str, int] = field(default_factory=dict)  # etage.insight.paths.path_sizes

    @property
    def base(self) -> bool:
        return not self.stage


def summarize(
    dockerfile: str,
    layers: list[LayerFacts],
    produced: dict[str, int],
    base_ref: str,
) -> dict[str, Any]:
    """`produced`: for each stage built, the bytes its steps wrote, the files it copied
    from other stages excepted (those count where they were made)."""
    size = sum(layer.size for layer in layers)
    base_size = sum(layer.size for layer in layers if layer.base)
    shipped = dict.fromkeys(produced, 0)
    for layer in layers:
        if not layer.base:
            owner = layer.from_stage or layer.stage
            shipped[owner] = shipped.get(owner, 0) + layer.size
    naive = base_size + sum(produced.values())
    largest = sorted(
        (
            (nbytes, path, i)
            for i, layer in enumerate(layers)
            for path, nbytes in main_paths(layer.paths)
        ),
        key=lambda x: (-x[0], x[2], x[1]),
    )[:LARGEST]
    return {
        "version": VERSION,
        "dockerfile": dockerfile,
        "image": {
            "size": size,
            "compressed": sum(layer.compressed for layer in layers),
            "layers": len(layers),
        },
        "base": {"ref": base_ref, "size": base_size},
        "stages": [
            {"stage": label, "produced": produced[label], "shipped": shipped.get(label, 0)}
            for label in produced
        ],
        "layers": [
            {
                "digest": layer.digest,
                "size": layer.size,
                "compressed": layer.compressed,
                "stage": layer.stage or None,
                "line": layer.line,
                "instruction": layer.instruction,
                "from_stage": layer.from_stage,
            }
            for layer in layers
        ],
        "naive_size": naive,
        "ratio": round(naive / size, 2) if size else 1.0,
        "largest": [
            {
                "path": path,
                "bytes": nbytes,
                "file": dockerfile,
                "line": layers[i].line,
                "instruction": layers[i].instruction,
                "stage": layers[i].stage or None,
                "layer": layers[i].digest,
            }
            for nbytes, path, i in largest
        ],
    }


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # pragma: no cover


def summary_lines(summary: dict[str, Any]) -> list[str]:
    image, stages = summary["image"], summary["stages"]
    out = [
        f"image: {human(image['size'])} ({human(image['compressed'])} compressed),"
        f" {image['layers']} layers; base {summary['base']['ref'] or 'scratch'}"
        f" {human(summary['base']['size'])}"
    ]
    width = max([len(s["stage"]) for s in stages] + [5])
    out.append(f"  {'stage':<{width}}  {'produced':>9}  {'shipped':>9}")
    for s in stages:
        out.append(f"  {s['stage']:<{width}}  {human(s['produced']):>9}  {human(s['shipped']):>9}")
    if len(stages) > 1:
        out.append(
            f"multi-stage ratio {summary['ratio']:.1f}x: the base with everything the stages"
            f" made would be {human(summary['naive_size'])}"
        )
    if summary["largest"]:
        out.append("largest paths:")
        pwidth = max(len(p["path"]) for p in summary["largest"])
        for p in summary["largest"]:
            where = f"{p['file']}:{p['line']}"
            out.append(
                f"  {human(p['bytes']):>9}  {p['path']:<{pwidth}}  {where} {_cut(p['instruction'])}"
            )
    out += finding_lines(summary.get("findings") or [])
    return out


def finding_lines(findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return ["image checks: no findings"]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    head = ", ".join(f"{n} {s}" for s, n in counts.items())
    out = [f"image checks: {head} (etage report --last for the details and fixes)"]
    for f in findings:
        where = f"{f['file']}:{f['line']}" if f["line"] else f["file"]
        out.append(f"  {f['severity']}: {where}: {f['rule']}: {_cut(f['message'], 110)}")
    return out


def _cut(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
