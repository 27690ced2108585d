"""Renderings of `etage report` data: text for a terminal, JSON for tools (its shape is
documented in docs/report.md), and one standalone HTML page.

All three read the dict of `etage.api.report_data` and check nothing. The HTML page
loads nothing from anywhere: its style and its small script are inline, every value from
the data is escaped (paths, instructions and messages are user data), and a
Content-Security-Policy forbids any fetch and any script but the page's own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from etage.insight.paths import main_paths
from etage.insight.summary import LARGEST, human
from etage.version import __version__

WIDTH = 100  # text columns
SEVERITIES = ("error", "warning", "info")
BASE_LABEL = "base image"
# Colour-blind-safe hues (Okabe-Ito first), each at least 3:1 against both page backgrounds.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#B8650A", "#4477AA", "#EE6677")
BASE_COLOUR = "#6B7280"
OTHER_FILES = "other files"


# ---- shared reading of the data --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """A row of a layer's directory tree."""

    label: str  # the full path at the top of a layer, else relative to the parent entry
    bytes: int
    path: str = ""  # the path the row stands for, "" for the other files of a directory
    rest: bool = False  # the files of the parent no listed path accounts for


class LayerTree:
    """A layer's {path: bytes} (etage.insight.paths) read as a tree, one level at a time: a
    layer can list tens of thousands of paths, and a page shows a few hundred."""

    def __init__(self, paths: dict[str, int]) -> None:
        self.sizes = paths
        self.kids: dict[str, list[str]] = defaultdict(list)
        for path in paths:
            if path != "/":
                parent = path.rsplit("/", 1)[0] or "/"
                while parent != "/" and parent not in paths:  # tolerate holes in the listing
                    parent = parent.rsplit("/", 1)[0] or "/"
                self.kids[parent].append(path)

    def top(self) -> tuple[Entry, ...]:
        return self.below(Entry("/", self.sizes.get("/", 0), "/"))

    def below(self, entry: Entry) -> tuple[Entry, ...]:
        """The entries under `entry`, biggest first. A directory whose one listed child
        holds all of it is one entry (/srv/app.bin rather than /srv then app.bin); bytes no
        listed child accounts for (small files) are an "other files" entry."""
        parent = entry.path
        if not parent:
            return ()
        found = []
        for path in self.kids.get(parent, []):
            end = path
            while (only := self._only_child(end)) is not None:
                end = only
            label = end if parent == "/" else end[len(parent) + 1 :]
            found.append(Entry(label, self.sizes[path], end))
        total = self.sizes.get(parent, sum(e.bytes for e in found))
        if found and (rest := total - sum(e.bytes for e in found)) > 0:
            found.append(Entry(OTHER_FILES, rest, rest=True))
        return tuple(sorted(found, key=lambda e: (-e.bytes, e.label)))

    def _only_child(self, path: str) -> str | None:
        kids = self.kids.get(path, [])
        return kids[0] if len(kids) == 1 and self.sizes[kids[0]] == self.sizes[path] else None


def fold(
    entries: tuple[Entry, ...], whole: int, *, keep: int, min_share: float
) -> tuple[tuple[Entry, ...], tuple[Entry, ...]]:
    """The entries worth a row (the first always), and the rest."""
    n = 1
    while n < min(keep, len(entries)) and entries[n].bytes >= min_share * whole:
        n += 1
    return entries[:n], entries[n:]


def _layers(data: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(data.get("layers") or [], key=lambda layer: int(layer["index"]))


def _stage_groups(data: dict[str, Any]) -> list[tuple[str | None, str, list[dict[str, Any]]]]:
    """(stage, its name as shown, its layers): layers grouped by the stage that made them
    (None: the base image, or every layer of an image etage did not build), in build order."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for layer in _layers(data):
        groups.setdefault(layer.get("stage"), []).append(layer)
    unknown = BASE_LABEL if data.get("summary") else "layers (stages unknown)"
    return [(stage, unknown if stage is None else stage, ls) for stage, ls in groups.items()]


def _image_size(data: dict[str, Any]) -> int:
    summary = data.get("summary")
    if summary:
        return int(summary["image"]["size"])
    return sum(int(layer["size"]) for layer in _layers(data))


def _compressed(data: dict[str, Any]) -> int | None:
    summary = data.get("summary")
    if summary:
        return int(summary["image"]["compressed"])
    sizes = [layer.get("compressed") for layer in _layers(data)]
    return None if None in sizes else sum(int(s) for s in sizes if s is not None)


def _largest(data: dict[str, Any]) -> list[dict[str, Any]]:
    summary = data.get("summary")
    if summary:
        return list(summary["largest"])
    found = [
        {"path": path, "bytes": nbytes, "file": data.get("dockerfile"), "line": layer["line"],
         "instruction": layer["instruction"], "stage": layer.get("stage"),
         "layer": layer["digest"]}
        for layer in _layers(data)
        for path, nbytes in main_paths(layer.get("paths") or {})
    ]  # fmt: skip
    return sorted(found, key=lambda p: -int(p["bytes"]))[:LARGEST]


def _counts(data: dict[str, Any]) -> dict[str, int]:
    counts = data.get("counts") or {}
    return {s: int(counts.get(s, 0)) for s in SEVERITIES}


def _counts_text(counts: dict[str, int]) -> str:
    words = {"error": "errors", "warning": "warnings", "info": "info"}
    return ", ".join(f"{n} {word if n == 1 else words[word]}" for word, n in counts.items())


def _by_severity(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Errors first; within a severity, the order of the data (that of `etage check`)."""
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(data.get("findings") or [], key=lambda f: rank.get(f["severity"], len(rank)))


def _name(data: dict[str, Any]) -> str:
    """The image's name: the reference asked for, or, for a digest, the name the build gave."""
    ref = str(data["image"]["ref"])
    names = ((data.get("summary") or {}).get("image") or {}).get("names") or []
    return str(names[0]) if ref.startswith("sha256:") and names else ref


def _where(file: str | None, line: int | None) -> str:
    if not file:
        return ""
    return f"{file}:{line}" if line else file


def _short(digest: str) -> str:
    algo, _, hexa = digest.partition(":")
    return f"{algo}:{hexa[:12]}" if hexa else digest[:19]


def _ratio_note(summary: dict[str, Any] | None) -> tuple[str, str]:
    """The ratio as shown, and what it means."""
    if not summary:
        return "n/a", "not built by etage in this store"
    ratio, naive = f"{float(summary['ratio']):.1f}", human(summary["naive_size"])
    if len(summary["stages"]) < 2:
        return ratio, f"one stage, nothing left behind (naive image {naive})"
    if float(summary["ratio"]) < 1:
        return ratio, f"naive image {naive}: the image holds more than its stages made"
    return ratio, f"naive image {naive}: the base with everything the stages made"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


# ---- JSON --------------------------------------------------------------------------------


def render_json(data: dict[str, Any]) -> str:
    """`data` as documented in docs/report.md: object keys sorted (a path map is no list),
    layers by index, findings as given (the order of `etage check --image`)."""
    doc = {**data, "layers": _layers(data)}
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
    size, compressed, counts = _image_size(data), _compressed(data), _counts(data)
    ratio, note = _ratio_note(summary)
    out = [
        _clip(f"etage report: {_name(data)}"),
        f"  digest     {image['digest']}",
        f"  created    {image.get('created') or 'unknown'}   platform {image.get('platform')}",
        _clip(f"  Dockerfile {data.get('dockerfile') or '(not built by etage here)'}"),
        "",
        f"image size         {human(size):>9}   {size:,} bytes of file data in"
        f" {_plural(len(_layers(data)), 'layer')}",
        f"compressed         {'unknown' if compressed is None else human(compressed):>9}",
        _clip(f"multi-stage ratio  {ratio + 'x' if summary else ratio:>9}   {note}"),
        f"findings           {sum(counts.values()):>9}   {_counts_text(counts)}",
    ]
    if summary:
        stages = summary["stages"]
        width = min(max([len(s["stage"]) for s in stages] + [6]), 40)
        out += ["", f"{'stage':<{width + 2}}  {'produced':>9}  {'shipped':>9}"]
        for s in stages:
            name = _fit(s["stage"], width)
            out.append(f"  {name:<{width}}  {human(s['produced']):>9}  {human(s['shipped']):>9}")
    out += ["", "size by stage, layer and directory"]
    for _stage, name, layers in _stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        out.append(_clip(f"{name}: {human(total)}, {_pct(total, size):.0f}% of the image"))
        for layer in layers:
            out += _text_layer(data, layer, size)
    largest = _largest(data)
    if largest:
        out += ["", "largest paths"]
        width = min(max(len(p["path"]) for p in largest), 40)
        for p in largest:
            path = _fit(p["path"], width)
            where = _where(p.get("file"), p.get("line"))
            at = f"{where}  " if where else ""
            line = f"  {human(p['bytes']):>9}  {path:<{width}}  {at}{p['instruction']}"
            out.append(_clip(line))
    out += ["", "findings"]
    out += _text_findings(data) or ["  none"]
    out += ["", _counts_text(counts)]
    return "\n".join(_shown(line) for line in out) + "\n"


def _text_layer(data: dict[str, Any], layer: dict[str, Any], size: int) -> list[str]:
    nbytes = int(layer["size"])
    where = _where(data.get("dockerfile"), layer.get("line"))
    number = f"#{int(layer['index']) + 1}"
    head = f"  {number:<4}{human(nbytes):>9} {_pct(nbytes, size):>3.0f}%  {where}".rstrip()
    out = [_clip(f"{head}  {layer['instruction']}")]

    tree = LayerTree(layer.get("paths") or {})

    def rows(entries: tuple[Entry, ...], depth: int) -> None:
        shown, rest = fold(entries, nbytes, keep=4, min_share=0.02)
        indent = "  " * depth
        for e in shown:
            share = _pct(e.bytes, nbytes)
            lead = f"{'':8}{human(e.bytes):>9} {share:>3.0f}% {_bar(share)}  {indent}"
            out.append(lead + _fit(e.label, WIDTH - len(lead)))
            if depth < 2 and share >= 10:
                rows(tree.below(e), depth + 1)
        if rest:
            nrest = sum(e.bytes for e in rest)
            lead = f"{'':8}{human(nrest):>9} {_pct(nrest, nbytes):>3.0f}% {'':16}  {indent}"
            out.append(lead + _more(rest))

    if nbytes:
        rows(tree.top(), 0)
    return out


def _more(rest: tuple[Entry, ...]) -> str:
    return OTHER_FILES if len(rest) == 1 and rest[0].rest else f"{len(rest)} more"


def _text_findings(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    index = {layer["digest"]: layer for layer in _layers(data)}
    for f in _by_severity(data):
        where = _where(f.get("file"), f.get("line")) or "image"
        stage = f" (stage {f['stage']})" if f.get("stage") else ""
        out += ["", _clip(f"  {where}: {f['severity']}: {f['rule']}{stage}")]
        out += _wrapped("", f["message"])
        if f.get("bytes") is not None:
            out.append(f"    bytes {human(f['bytes'])} ({f['bytes']:,} bytes)")
        if f.get("layer"):
            hit = index.get(f["layer"])
            what = f"  #{int(hit['index']) + 1} {hit['instruction']}" if hit else ""
            out.append(_clip(f"    layer {_short(f['layer'])}{what}"))
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
    for layer in _layers(data):
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
    title = f"etage report: {_name(data)}"
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
        f'<header><p class="eyebrow">etage report</p><h1>{_e(_name(data))}</h1>'
        f'<dl class="meta">{items}</dl></header>'
    )


def _html_headline(data: dict[str, Any]) -> str:
    summary = data.get("summary")
    size, compressed, counts = _image_size(data), _compressed(data), _counts(data)
    nlayers = len(_layers(data))
    if compressed is not None:
        comp = _size(compressed)
        comp_note = f"{_pct(compressed, size):.0f}% of the size, as a registry stores it"
    else:
        comp, comp_note = "unknown", "the layer blob sizes were not recorded for this image"
    ratio, note = _ratio_note(summary)
    ratio_value = f"{_e(ratio)}&times;" if summary else _e(ratio)
    sevs = "".join(
        f'<li><span class="sev sev-{s if n else "none"}">'
        f"{n} {s if n == 1 or s == 'info' else s + 's'}</span></li>"
        for s, n in counts.items()
    )
    cards = [
        ("Image size", _size(size), f"{size:,} bytes of file data in {_plural(nlayers, 'layer')}"),
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
    size, colours, summary = _image_size(data), _colours(data), data.get("summary")
    segments, legend = [], []
    for stage, name, layers in _stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        share = _pct(total, size)
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
                f'<td class="b">{_hbar(_pct(s[k], peak), colour)}</td>'
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
    size, colours = _image_size(data), _colours(data)
    first_finding: dict[str, tuple[int, int]] = {}  # layer digest: (finding number, count)
    for i, f in enumerate(_by_severity(data), 1):
        if f.get("layer"):
            n, count = first_finding.get(f["layer"], (i, 0))
            first_finding[f["layer"]] = (n, count + 1)
    biggest = sorted((int(x["size"]) for x in _layers(data)), reverse=True)[:3]
    out = [
        '<section aria-labelledby="h-layers"><h2 id="h-layers">Layers and directories</h2>',
        '<p class="muted">Each stage\'s layers in build order, each with the instruction that'
        " made it and its directories, biggest first. A layer's bar is its share of the image;"
        " a directory's bar, its share of the layer.</p>",
        '<div class="tools" id="tools" hidden><button type="button" data-open="1">Expand all'
        '</button><button type="button" data-open="0">Collapse all</button></div>',
    ]
    for stage, name, layers in _stage_groups(data):
        total = sum(int(layer["size"]) for layer in layers)
        out.append(
            f'<h3><span class="swatch" style="--c:{colours.get(stage, BASE_COLOUR)}"></span>'
            f'{_e(name)} <span class="muted">{_size(total)} · {_pct(total, size):.0f}%'
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
            opened = nbytes > 0 and (nbytes in biggest or _pct(nbytes, size) >= 5)
            colour = colours.get(stage, BASE_COLOUR)
            out.append(_html_layer(data, layer, size=size, colour=colour, tags=tags, opened=opened))
    out.append("</section>")
    return "".join(out)


def _html_layer(
    data: dict[str, Any], layer: dict[str, Any], *, size: int, colour: str, tags: str, opened: bool
) -> str:
    nbytes, number = int(layer["size"]), int(layer["index"]) + 1
    where = _where(data.get("dockerfile"), layer.get("line"))
    where = f'<span class="mono">{_e(where)}</span> ' if where else ""
    paths = LayerTree(layer.get("paths") or {})
    tree = _html_tree(paths, paths.top(), nbytes, colour, 0)
    tree = tree or '<p class="muted">No file data: the layer deletes files or sets metadata.</p>'
    return (
        f'<details class="layer" id="layer-{number}"{" open" if opened else ""}>'
        f'<summary class="row"><span class="idx num muted">#{number}</span>'
        f'<span class="instr">{where}<code>{_e(layer["instruction"])}</code>{tags}</span>'
        f'{_hbar(_pct(nbytes, size), colour)}<span class="r">{_size(nbytes)}</span>'
        f'<span class="r num muted">{_pct(nbytes, size):.0f}%</span></summary>'
        f"{tree}</details>"
    )


def _share(part: int, whole: int) -> str:
    share = _pct(part, whole)
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
            f'{_hbar(_pct(e.bytes, whole), colour)}<span class="r">{_size(e.bytes)}</span>'
            f'<span class="r num muted">{_share(e.bytes, whole)}</span>'
        )
        name = f'<span class="name mono" style="--d:{depth}">{_e(e.label)}</span>'
        sub = _html_tree(tree, tree.below(e), whole, colour, depth + 1)
        if sub:
            opened = " open" if depth < 2 and _pct(e.bytes, whole) >= 25 else ""
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
            f'{_e(_more(rest))}</span><span class="gap"></span>'
            f'<span class="r">{_size(nrest)}</span>'
            f'<span class="r num muted">{_share(nrest, whole)}</span></li>'
        )
    return f'<ul class="tree">{"".join(items)}</ul>'


def _html_largest(data: dict[str, Any]) -> str:
    largest = _largest(data)
    if not largest:
        return ""
    index = {layer["digest"]: int(layer["index"]) + 1 for layer in _layers(data)}
    rows = []
    for p in largest:
        where = _where(p.get("file"), p.get("line"))
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
    findings = _by_severity(data)
    out = ['<section aria-labelledby="findings"><h2 id="findings">Findings</h2>']
    if not findings:
        out.append('<p class="ok">No findings: the checks found nothing to fix.</p>')
    index = {layer["digest"]: layer for layer in _layers(data)}
    for number, f in enumerate(findings, 1):
        sev = f["severity"] if f["severity"] in SEVERITIES else "info"
        where = _where(f.get("file"), f.get("line"))
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
            text = f'<span class="mono">{_e(_short(f["layer"]))}</span>'
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
