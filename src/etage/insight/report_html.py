"""`etage report` as one standalone HTML page. It loads nothing from anywhere: its style
and its small script are inline, every value from the data is escaped (paths,
instructions and messages are user data), and a Content-Security-Policy forbids any
fetch and any script but the page's own."""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Any

from etage.insight.report_view import (
    BASE_COLOUR,
    OTHER_FILES,
    PALETTE,
    SEVERITIES,
    Entry,
    LayerTree,
    compressed_size,
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
from etage.version import __version__

# ---- HTML --------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_CSS = """
:root{--bg:#fff;--fg:#1b1f24;--muted:#5b6470;--line:#dfe3e8;--panel:#f6f7f9;--track:#e9ecf0;
--link:#0b5cad;--error:#b3261e;--error-bg:#fdecea;--warning:#8a5300;--warning-bg:#fff4e0;
--info:#0b5cad;--info-bg:#e8f1fb;color-scheme:light dark}
@media screen and (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e8eaed;--muted:#a3acb8;
--line:#2f353d;--panel:#1c2026;--track:#2a3038;--link:#8ab4f8;--error:#ff8a80;--error-bg:#3a1d1b;
--warning:#ffc266;--warning-bg:#3a2c14;--info:#8ab4f8;--info-bg:#182a40}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);line-height:1.5;font-size:16px;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans",
"DejaVu Sans",sans-serif}
code,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",
"DejaVu Sans Mono",monospace;font-size:.9em}
a{color:var(--link)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1.5rem}
header{padding-top:2rem}
.eyebrow{margin:0;color:var(--muted);font-size:.8rem;letter-spacing:.08em;text-transform:uppercase}
h1{margin:.2rem 0 .6rem;font-size:1.7rem;line-height:1.25;overflow-wrap:anywhere}
h2{margin:2.5rem 0 .75rem;font-size:1.3rem;border-bottom:1px solid var(--line);padding-bottom:.3rem}
h3{margin:1.5rem 0 .5rem;font-size:1.05rem;display:flex;flex-wrap:wrap;gap:.2rem .6rem;
align-items:center}
.meta{display:flex;flex-wrap:wrap;gap:.3rem 2rem;margin:0;color:var(--muted);font-size:.9rem}
.meta div{display:flex;gap:.4rem;min-width:0}.meta dt{font-weight:600}.meta dd{margin:0;
overflow-wrap:anywhere}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem;margin-top:1.5rem}
.card{background:var(--panel);border:1px solid var(--line);border-radius:.6rem;padding:1rem 1.2rem}
.card .label{margin:0;font-size:.85rem;font-weight:600;color:var(--muted)}
.card .value{margin:.15rem 0;font-size:2.1rem;font-weight:700;line-height:1.2;
font-variant-numeric:tabular-nums}
.card .note{margin:0;font-size:.85rem;color:var(--muted)}
.sev{display:inline-block;border-radius:1rem;padding:0 .55rem;font-size:.8rem;font-weight:700;
border:1px solid currentColor;white-space:nowrap}
.sev-error{color:var(--error);background:var(--error-bg)}
.sev-warning{color:var(--warning);background:var(--warning-bg)}
.sev-info{color:var(--info);background:var(--info-bg)}
.sev-none{color:var(--muted);border-color:var(--line)}
.sevs{display:flex;flex-wrap:wrap;gap:.35rem;margin:.3rem 0 0;padding:0;list-style:none}
.bar{display:block;height:.7rem;border-radius:.2rem;background:var(--track);overflow:hidden;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.bar i{display:block;height:100%;background:var(--c,#0072B2)}
.stack{display:flex;height:1.6rem;border-radius:.3rem;overflow:hidden;background:var(--track);
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.stack i{display:block;height:100%;background:var(--c);border-right:2px solid var(--bg)}
.legend{display:flex;flex-wrap:wrap;gap:.4rem 1.5rem;margin:.6rem 0 0;padding:0;list-style:none}
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:.15rem;background:var(--c);
vertical-align:-.05rem;margin-right:.35rem;-webkit-print-color-adjust:exact;print-color-adjust:exact}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;color:var(--muted);font-weight:600}
td.r,th.r{text-align:right}
td.path{overflow-wrap:anywhere}
.made td .bar{min-width:6rem}.made td:first-child{width:35%}
.tools{display:flex;gap:.5rem;margin:.5rem 0}
.tools button{font:inherit;font-size:.85rem;padding:.2rem .7rem;border:1px solid var(--line);
border-radius:.3rem;background:var(--panel);color:var(--fg);cursor:pointer}
.row{display:grid;grid-template-columns:minmax(0,1fr) minmax(6rem,22%) 5.5rem 3.5rem;gap:.75rem;
align-items:center;padding:.2rem .4rem;border-radius:.3rem}
.row .r{text-align:right}
.name{overflow-wrap:anywhere;padding-left:calc(var(--d,0) * 1.2rem)}
details>summary{list-style:none;cursor:pointer}
details>summary::-webkit-details-marker{display:none}
summary .name::before,.layer>summary .idx::before{content:"\\25B8";display:inline-block;
width:1rem;color:var(--muted)}
details[open]>summary .name::before,.layer[open]>summary .idx::before{content:"\\25BE"}
.leaf .name{padding-left:calc(var(--d,0) * 1.2rem + 1rem)}
summary.row:hover,.leaf:hover{background:var(--panel)}
summary:focus-visible{outline:2px solid var(--link);outline-offset:1px}
.layer{border:1px solid var(--line);border-radius:.5rem;margin:.5rem 0;padding:.3rem .4rem}
.layer>summary.row{grid-template-columns:3.5rem minmax(0,1fr) minmax(6rem,22%) 5.5rem 3.5rem}
.instr{overflow-wrap:anywhere}
.instr code{font-weight:600}
.tag{font-size:.78rem;border:1px solid var(--line);border-radius:.25rem;padding:0 .35rem;
margin-left:.4rem;white-space:nowrap}
.tree{margin:.3rem 0 .3rem 0;padding:0;list-style:none}
.tree ul{margin:0;padding:0;list-style:none}
.other .name{font-style:italic;color:var(--muted)}
.finding{border:1px solid var(--line);border-left:.35rem solid var(--sc);border-radius:.5rem;
padding:.8rem 1rem;margin:.8rem 0;break-inside:avoid}
.finding.error{--sc:var(--error)}.finding.warning{--sc:var(--warning)}.finding.info{--sc:var(--info)}
.finding h3{margin:0 0 .3rem;flex-wrap:wrap}
.finding .msg{margin:.2rem 0 .5rem;font-weight:600}
.finding dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem;margin:0;
font-size:.92rem}
.finding dt{color:var(--muted);font-weight:600}.finding dd{margin:0;overflow-wrap:anywhere}
.finding ul{margin:0;padding-left:1.1rem}
.fix{background:var(--panel);border-radius:.3rem;padding:.1rem .4rem;white-space:pre-wrap}
.ok{padding:1rem;border:1px solid var(--line);border-radius:.5rem;background:var(--panel)}
footer{margin:3rem auto 2rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line);
padding-top:1rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:40rem){.row{grid-template-columns:minmax(0,1fr) 5rem 3rem}
.row .bar,.row .gap,.made .b{display:none}
.layer>summary.row{grid-template-columns:2.2rem minmax(0,1fr) 5rem 3rem}}
@media print{body{font-size:11pt}header,main,footer{max-width:none;padding:0}.tools{display:none}
.cards{grid-template-columns:repeat(4,1fr)}
h2{break-after:avoid}.layer{break-inside:avoid}
.finding a[href]::after{content:" (" attr(href) ")";font-size:.85em;color:var(--muted)}}
"""

# Adds interactivity only: every number is in the page without it.
_JS = """(function(){
var all=function(){return document.querySelectorAll("details");};
var tools=document.getElementById("tools");
if(tools){tools.hidden=false;tools.addEventListener("click",function(ev){
var act=ev.target&&ev.target.getAttribute("data-open");if(act===null)return;
all().forEach(function(d){d.open=act==="1";});});}
var saved=[];
window.addEventListener("beforeprint",function(){saved=[];all().forEach(function(d){
saved.push(d.open);d.open=true;});});
window.addEventListener("afterprint",function(){all().forEach(function(d,i){
if(i<saved.length)d.open=saved[i];});});
})();"""

_JS_HASH = base64.b64encode(hashlib.sha256(_JS.encode()).digest()).decode()
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_JS_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)


def _colours(data: dict[str, Any]) -> dict[str | None, str]:
    names: list[str] = []
    summary = data.get("summary")
    for s in summary["stages"] if summary else []:
        names.append(s["stage"])
    for layer in layers_of(data):
        for name in (layer.get("stage"), layer.get("from_stage")):
            if name is not None and name not in names:
                names.append(name)
    colours: dict[str | None, str] = {None: BASE_COLOUR}
    colours.update({n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)})
    return colours


def _hbar(share: float, colour: str) -> str:
    fill = f'<i style="width:{share:.2f}%;--c:{colour}"></i>'
    return f'<span class="bar" aria-hidden="true">{fill}</span>'


def _size(n: int) -> str:
    return f'<span class="num" title="{n:,} bytes">{_e(human(n))}</span>'


def render_html(data: dict[str, Any]) -> str:
    summary = data.get("summary")
    title = f"etage report: {image_name(data)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        _html_header(data),
        "<main>",
        _html_headline(data),
        _html_stages(data),
        _html_layers(data),
        _html_largest(data),
        _html_findings(data),
        "</main>",
        f'<footer><p>Made by etage {_e(__version__)} (report format {_e(data.get("version", 1))}).'
        " Sizes are bytes of file data in decimal units (1 kB = 1000 bytes); compressed sizes"
        " are those of the layer blobs a registry stores. Hover a size for its exact bytes."
        + ("" if summary else " This image was not built by etage in this store: stages and"
           " Dockerfile lines are unknown.")
        + "</p></footer>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


def _html_header(data: dict[str, Any]) -> str:
    image = data["image"]
    meta = [
        ("Digest", f'<span class="mono">{_e(image["digest"])}</span>'),
        ("Created", _e(image.get("created") or "unknown")),
        ("Platform", _e(image.get("platform") or "unknown")),
        ("Dockerfile", _e(data.get("dockerfile") or "not built by etage here")),
    ]
    if summary := data.get("summary"):
        base = summary["base"]
        meta.append(("Base", f"{_e(base['ref'] or 'scratch')} ({_size(base['size'])})"))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in meta)
    return (
        f'<header><p class="eyebrow">etage report</p><h1>{_e(image_name(data))}</h1>'
        f'<dl class="meta">{items}</dl></header>'
    )


def _html_headline(data: dict[str, Any]) -> str:
    summary = data.get("summary")
    size, compressed, counts = image_size(data), compressed_size(data), severity_counts(data)
    nlayers = len(layers_of(data))
    if compressed is not None:
        comp = _size(compressed)
        comp_note = f"{percent(compressed, size):.0f}% of the size, as a registry stores it"
    else:
        comp, comp_note = "unknown", "the layer blob sizes were not recorded for this image"
    ratio, note = ratio_note(summary)
    ratio_value = f"{_e(ratio)}&times;" if summary else _e(ratio)
    sevs = "".join(
        f'<li><span class="sev sev-{s if n else "none"}">'
        f"{n} {s if n == 1 or s == 'info' else s + 's'}</span></li>"
        for s, n in counts.items()
    )
    cards = [
        ("Image size", _size(size), f"{size:,} bytes of file data in {plural(nlayers, 'layer')}"),
        ("Compressed", comp, comp_note),
        ("Multi-stage ratio", ratio_value, note),
    ]
    html_cards = "".join(
        f'<div class="card"><p class="label">{label}</p><p class="value">{value}</p>'
        f'<p class="note">{_e(n)}</p></div>'
        for label, value, n in cards
    )
    html_cards += (
        f'<div class="card"><p class="label"><a href="#findings">Findings</a></p>'
        f'<p class="value num">{sum(counts.values())}</p><ul class="sevs">{sevs}</ul></div>'
    )
    return (
        '<section aria-labelledby="h-overview"><h2 id="h-overview" class="sr">Overview</h2>'
        f'<div class="cards">{html_cards}</div></section>'
    )


def _html_stages(data: dict[str, Any]) -> str:
    size, colours, summary = image_size(data), _colours(data), data.get("summary")
    segments, legend = [], []
    for stage, name, layers in stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        share = percent(total, size)
        colour = colours.get(stage, BASE_COLOUR)
        segments.append(f'<i style="width:{share:.2f}%;--c:{colour}" title="{_e(name)}"></i>')
        legend.append(
            f'<li><span class="swatch" style="--c:{colour}"></span><strong>{_e(name)}</strong>'
            f" {_size(total)} <span class='muted'>({share:.0f}%)</span></li>"
        )
    out = [
        '<section aria-labelledby="h-stages"><h2 id="h-stages">Size by stage</h2>',
        '<p class="muted">What the image is made of, by the stage whose instructions made'
        " each layer.</p>",
        f'<div class="stack" aria-hidden="true">{"".join(segments)}</div>',
        f'<ul class="legend">{"".join(legend)}</ul>',
    ]
    if summary:
        stages = summary["stages"]
        peak = max([s["produced"] for s in stages] + [s["shipped"] for s in stages] + [1])
        rows = []
        for s in stages:
            colour = colours.get(s["stage"], BASE_COLOUR)
            cells = "".join(
                f'<td class="r">{_size(s[k])}</td>'
                f'<td class="b">{_hbar(percent(s[k], peak), colour)}</td>'
                for k in ("produced", "shipped")
            )
            swatch = f'<span class="swatch" style="--c:{colour}"></span>'
            rows.append(f"<tr><td>{swatch}{_e(s['stage'])}</td>{cells}</tr>")
        bar = '<th scope="col" class="b"><span class="sr">bar</span></th>'
        base = summary["base"]
        out.append(
            '<h3>Made and shipped</h3><table class="made"><thead><tr><th scope="col">Stage</th>'
            f'<th scope="col" class="r">Produced</th>{bar}<th scope="col" class="r">Shipped</th>'
            f"{bar}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            '<p class="muted">Produced: bytes the stage\'s own steps wrote. Shipped: bytes of'
            " the stage that are in the image (copied with COPY --from, or its own layers)."
            f" Base image {_e(base['ref'] or 'scratch')}: {_size(base['size'])}. Naive image"
            f" (the base with everything the stages made): {_size(summary['naive_size'])}.</p>"
        )
    out.append("</section>")
    return "".join(out)


def _html_layers(data: dict[str, Any]) -> str:
    size, colours = image_size(data), _colours(data)
    first_finding: dict[str, tuple[int, int]] = {}  # layer digest: (finding number, count)
    for i, f in enumerate(findings_by_severity(data), 1):
        if f.get("layer"):
            n, count = first_finding.get(f["layer"], (i, 0))
            first_finding[f["layer"]] = (n, count + 1)
    biggest = sorted((int(x["size"]) for x in layers_of(data)), reverse=True)[:3]
    out = [
        '<section aria-labelledby="h-layers"><h2 id="h-layers">Layers and directories</h2>',
        '<p class="muted">Each stage\'s layers in build order, each with the instruction that'
        " made it and its directories, biggest first. A layer's bar is its share of the image;"
        " a directory's bar, its share of the layer.</p>",
        '<div class="tools" id="tools" hidden><button type="button" data-open="1">Expand all'
        '</button><button type="button" data-open="0">Collapse all</button></div>',
    ]
    for stage, name, layers in stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        out.append(
            f'<h3><span class="swatch" style="--c:{colours.get(stage, BASE_COLOUR)}"></span>'
            f'{_e(name)} <span class="muted">{_size(total)} · {percent(total, size):.0f}%'
            " of the image</span></h3>"
        )
        for layer in layers:
            tags = ""
            if src := layer.get("from_stage"):
                swatch = f'<span class="swatch" style="--c:{colours.get(src, BASE_COLOUR)}"></span>'
                tags += f'<span class="tag">{swatch}from {_e(src)}</span>'
            if found := first_finding.get(layer["digest"]):
                n, count = found
                label = f"{count} finding{'s' if count > 1 else ''}"
                tags += f'<a class="tag" href="#finding-{n}">{label}</a>'
            nbytes = int(layer["size"])
            opened = nbytes > 0 and (nbytes in biggest or percent(nbytes, size) >= 5)
            colour = colours.get(stage, BASE_COLOUR)
            out.append(_html_layer(data, layer, size=size, colour=colour, tags=tags, opened=opened))
    out.append("</section>")
    return "".join(out)


def _html_layer(
    data: dict[str, Any], layer: dict[str, Any], *, size: int, colour: str, tags: str, opened: bool
) -> str:
    nbytes, number = int(layer["size"]), int(layer["index"]) + 1
    where = file_line(data.get("dockerfile"), layer.get("line"))
    where = f'<span class="mono">{_e(where)}</span> ' if where else ""
    paths = LayerTree(layer.get("paths") or {})
    tree = _html_tree(paths, paths.top(), nbytes, colour, 0)
    tree = tree or '<p class="muted">No file data: the layer deletes files or sets metadata.</p>'
    return (
        f'<details class="layer" id="layer-{number}"{" open" if opened else ""}>'
        f'<summary class="row"><span class="idx num muted">#{number}</span>'
        f'<span class="instr">{where}<code>{_e(layer["instruction"])}</code>{tags}</span>'
        f'{_hbar(percent(nbytes, size), colour)}<span class="r">{_size(nbytes)}</span>'
        f'<span class="r num muted">{percent(nbytes, size):.0f}%</span></summary>'
        f"{tree}</details>"
    )


def _share(part: int, whole: int) -> str:
    share = percent(part, whole)
    return "&lt;0.1%" if 0 < share < 0.1 else f"{share:.1f}%"


def _html_tree(
    tree: LayerTree, entries: tuple[Entry, ...], whole: int, colour: str, depth: int
) -> str:
    if not whole or not entries:
        return ""
    shown, rest = fold(entries, whole, keep=8, min_share=0.005)
    items = []
    for e in shown:
        cells = (
            f'{_hbar(percent(e.bytes, whole), colour)}<span class="r">{_size(e.bytes)}</span>'
            f'<span class="r num muted">{_share(e.bytes, whole)}</span>'
        )
        name = f'<span class="name mono" style="--d:{depth}">{_e(e.label)}</span>'
        sub = _html_tree(tree, tree.below(e), whole, colour, depth + 1)
        if sub:
            opened = " open" if depth < 2 and percent(e.bytes, whole) >= 25 else ""
            row = f'<summary class="row">{name}{cells}</summary>'
            items.append(f"<li><details{opened}>{row}{sub}</details></li>")
        elif e.rest:
            name = f'<span class="name" style="--d:{depth}">{OTHER_FILES}</span>'
            items.append(f'<li class="row leaf other">{name}{cells}</li>')
        else:
            items.append(f'<li class="row leaf">{name}{cells}</li>')
    if rest:
        nrest = sum(e.bytes for e in rest)
        items.append(
            f'<li class="row leaf other"><span class="name" style="--d:{depth}">'
            f'{_e(more_label(rest))}</span><span class="gap"></span>'
            f'<span class="r">{_size(nrest)}</span>'
            f'<span class="r num muted">{_share(nrest, whole)}</span></li>'
        )
    return f'<ul class="tree">{"".join(items)}</ul>'


def _html_largest(data: dict[str, Any]) -> str:
    largest = largest_paths(data)
    if not largest:
        return ""
    index = {layer["digest"]: int(layer["index"]) + 1 for layer in layers_of(data)}
    rows = []
    for p in largest:
        where = file_line(p.get("file"), p.get("line"))
        n = index.get(p.get("layer") or "")
        layer = f'<a href="#layer-{n}">#{n}</a>' if n else ""
        rows.append(
            f'<tr><td class="path mono">{_e(p["path"])}</td><td class="r">{_size(p["bytes"])}</td>'
            f'<td class="mono">{_e(where)}</td><td>{layer}</td>'
            f'<td class="path"><code>{_e(p["instruction"])}</code></td></tr>'
        )
    return (
        '<section aria-labelledby="h-largest"><h2 id="h-largest">Largest paths</h2>'
        '<table><thead><tr><th scope="col">Path</th><th scope="col" class="r">Size</th>'
        '<th scope="col">Line</th><th scope="col">Layer</th><th scope="col">Instruction</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _html_findings(data: dict[str, Any]) -> str:
    findings = findings_by_severity(data)
    out = ['<section aria-labelledby="findings"><h2 id="findings">Findings</h2>']
    if not findings:
        out.append('<p class="ok">No findings: the checks found nothing to fix.</p>')
    index = {layer["digest"]: layer for layer in layers_of(data)}
    for number, f in enumerate(findings, 1):
        sev = f["severity"] if f["severity"] in SEVERITIES else "info"
        where = file_line(f.get("file"), f.get("line"))
        head = (
            f'<span class="sev sev-{sev}">{_e(f["severity"])}</span>'
            f'<span>{_e(f["rule"])}</span>'
            + (f'<span class="mono muted">{_e(where)}</span>' if where else "")
        )  # fmt: skip
        facts: list[tuple[str, str]] = []
        if f.get("stage"):
            facts.append(("Stage", _e(f["stage"])))
        if f.get("bytes") is not None:
            facts.append(
                ("Bytes", f'{_size(f["bytes"])} <span class="muted num">({f["bytes"]:,})</span>')
            )
        if f.get("layer"):
            layer = index.get(f["layer"])
            text = f'<span class="mono">{_e(short_digest(f["layer"]))}</span>'
            if layer:
                n = int(layer["index"]) + 1
                text = (
                    f'<a href="#layer-{n}">#{n}</a> <code>{_e(layer["instruction"])}</code> {text}'
                )
            facts.append(("Layer", text))
        if f.get("paths"):
            items = "".join(f'<li class="mono">{_e(p)}</li>' for p in f["paths"][:10])
            if len(f["paths"]) > 10:
                items += f'<li class="muted">{len(f["paths"]) - 10} more</li>'
            facts.append(("Paths", f"<ul>{items}</ul>"))
        if f.get("why"):
            facts.append(("Why", _e(f["why"])))
        if f.get("fix"):
            facts.append(("Fix", f'<code class="fix">{_e(f["fix"])}</code>'))
        url = str(f.get("url") or "")
        if url.startswith(("https://", "http://")):  # never javascript: or data:
            facts.append(("Docs", f'<a href="{_e(url)}" rel="noopener noreferrer">{_e(url)}</a>'))
        dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
        out.append(
            f'<article class="finding {sev}" id="finding-{number}"><h3>{head}</h3>'
            f'<p class="msg">{_e(f["message"])}</p><dl>{dl}</dl></article>'
        )  # fmt: skip
    out.append("</section>")
    return "".join(out)
