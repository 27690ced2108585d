"""`etage report` as text for a terminal (at most WIDTH columns) and as JSON for tools
(its shape is documented in docs/report.md)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from etage.insight.report_view import (
    WIDTH,
    Entry,
    LayerTree,
    compressed_size,
    counts_text,
    file_line,
    findings_by_severity,
    fold,
    image_name,
    image_size,
    largest_paths,
    layers_of,
    more_label,
    percent,
    plural,
    ratio_note,
    severity_counts,
    short_digest,
    stage_groups,
)
from etage.insight.summary import human


def render_json(data: dict[str, Any]) -> str:
    """`data` as documented in docs/report.md: object keys sorted (a path map is no list),
    layers by index, findings as given (the order of `etage check --image`)."""
    doc = {**data, "layers": layers_of(data)}
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- text --------------------------------------------------------------------------------


def _fit(path: str, width: int) -> str:
    """`path` in `width` columns, its middle elided (its two ends say the most)."""
    if len(path) <= width:
        return path
    head = max(width - 1, 0) // 2
    return path[:head] + "…" + path[len(path) - max(width - 1 - head, 0) :]


def _clip(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _bar(share: float, width: int = 16) -> str:
    return ("█" * round(share / 100 * width)).ljust(width, "·")


def _wrapped(label: str, text: str) -> list[str]:
    first = f"    {label:<5} " if label else "    "
    out: list[str] = []
    for part in text.splitlines() or [""]:
        out += textwrap.wrap(
            part, WIDTH, initial_indent=first, subsequent_indent=" " * len(first),
            break_on_hyphens=False,
        ) or [first]  # fmt: skip
        first = " " * len(first)
    return out


# Paths and messages may hold control characters: a terminal must show them, not obey them.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}


def _shown(line: str) -> str:
    safe = line.translate(_CONTROLS).rstrip()
    return safe if safe == line.rstrip() else _clip(safe)


def render_text(data: dict[str, Any]) -> str:
    image, summary = data["image"], data.get("summary")
    size, compressed, counts = image_size(data), compressed_size(data), severity_counts(data)
    ratio, note = ratio_note(summary)
    out = [
        _clip(f"etage report: {image_name(data)}"),
        f"  digest     {image['digest']}",
        f"  created    {image.get('created') or 'unknown'}   platform {image.get('platform')}",
        _clip(f"  Dockerfile {data.get('dockerfile') or '(not built by etage here)'}"),
        "",
        f"image size         {human(size):>9}   {size:,} bytes of file data in"
        f" {plural(len(layers_of(data)), 'layer')}",
        f"compressed         {'unknown' if compressed is None else human(compressed):>9}",
        _clip(f"multi-stage ratio  {ratio + 'x' if summary else ratio:>9}   {note}"),
        f"findings           {sum(counts.values()):>9}   {counts_text(counts)}",
    ]
    if summary:
        stages = summary["stages"]
        width = min(max([len(s["stage"]) for s in stages] + [6]), 40)
        out += ["", f"{'stage':<{width + 2}}  {'produced':>9}  {'shipped':>9}"]
        for s in stages:
            name = _fit(s["stage"], width)
            out.append(f"  {name:<{width}}  {human(s['produced']):>9}  {human(s['shipped']):>9}")
    out += ["", "size by stage, layer and directory"]
    for _stage, name, layers in stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        out.append(_clip(f"{name}: {human(total)}, {percent(total, size):.0f}% of the image"))
        for layer in layers:
            out += _text_layer(data, layer, size)
    largest = largest_paths(data)
    if largest:
        out += ["", "largest paths"]
        width = min(max(len(p["path"]) for p in largest), 40)
        for p in largest:
            path = _fit(p["path"], width)
            where = file_line(p.get("file"), p.get("line"))
            at = f"{where}  " if where else ""
            line = f"  {human(p['bytes']):>9}  {path:<{width}}  {at}{p['instruction']}"
            out.append(_clip(line))
    out += ["", "findings"]
    out += _text_findings(data) or ["  none"]
    out += ["", counts_text(counts)]
    return "\n".join(_shown(line) for line in out) + "\n"


def _text_layer(data: dict[str, Any], layer: dict[str, Any], size: int) -> list[str]:
    nbytes = int(layer["size"])
    where = file_line(data.get("dockerfile"), layer.get("line"))
    number = f"#{int(layer['index']) + 1}"
    head = f"  {number:<4}{human(nbytes):>9} {percent(nbytes, size):>3.0f}%  {where}".rstrip()
    out = [_clip(f"{head}  {layer['instruction']}")]

    tree = LayerTree(layer.get("paths") or {})

    def rows(entries: tuple[Entry, ...], depth: int) -> None:
        shown, rest = fold(entries, nbytes, keep=4, min_share=0.02)
        indent = "  " * depth
        for e in shown:
            share = percent(e.bytes, nbytes)
            lead = f"{'':8}{human(e.bytes):>9} {share:>3.0f}% {_bar(share)}  {indent}"
            out.append(lead + _fit(e.label, WIDTH - len(lead)))
            if depth < 2 and share >= 10:
                rows(tree.below(e), depth + 1)
        if rest:
            nrest = sum(e.bytes for e in rest)
            lead = f"{'':8}{human(nrest):>9} {percent(nrest, nbytes):>3.0f}% {'':16}  {indent}"
            out.append(lead + more_label(rest))

    if nbytes:
        rows(tree.top(), 0)
    return out


def _text_findings(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    index = {layer["digest"]: layer for layer in layers_of(data)}
    for f in findings_by_severity(data):
        where = file_line(f.get("file"), f.get("line")) or "image"
        stage = f" (stage {f['stage']})" if f.get("stage") else ""
        out += ["", _clip(f"  {where}: {f['severity']}: {f['rule']}{stage}")]
        out += _wrapped("", f["message"])
        if f.get("bytes") is not None:
            out.append(f"    bytes {human(f['bytes'])} ({f['bytes']:,} bytes)")
        if f.get("layer"):
            hit = index.get(f["layer"])
            what = f"  #{int(hit['index']) + 1} {hit['instruction']}" if hit else ""
            out.append(_clip(f"    layer {short_digest(f['layer'])}{what}"))
        paths = list(f.get("paths") or [])
        for path in paths[:5]:
            out.append("    path  " + _fit(path, WIDTH - 10))
        if len(paths) > 5:
            out.append(f"          and {len(paths) - 5} more")
        out += _wrapped("why", f.get("why") or "")
        if f.get("fix"):
            out += _wrapped("fix", f["fix"])
        if f.get("url"):
            out.append(f"    docs  {f['url']}")  # whole even past WIDTH: a cut link is no link
    return out
