"""The renderings of `etage report`, fed by real builds: text and JSON hold the numbers,
JSON is the documented shape, and the HTML page renders in a real headless Chromium,
loads nothing and escapes every path and message."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from tests.engine.conftest import BASE, Builder, base_store  # noqa: F401  (a fixture)

from etage import api
from etage.checks.render import report_json
from etage.insight.report_html import render_html
from etage.insight.report_text import render_json, render_text
from etage.insight.report_view import BASE_COLOUR, PALETTE, WIDTH, Entry, LayerTree, fold
from etage.insight.summary import human

DOCS = Path(__file__).resolve().parents[2] / "docs" / "report.md"
MB = 1_000_000
EVIL = "<img src=x onerror=alert(1)>"
# The builder makes 4 MB and the runtime takes 1 MB of it; the runtime then ships an npm
# cache, a file under a hostile directory name, 2 MB it deletes in a later step, and a
# secret in ENV: three image findings (an error and two warnings) on known lines.
DOCKERFILE = f"""\
FROM {BASE} AS builder
RUN mkdir -p /build/out /build/cache \\
 && head -c {3 * MB} /dev/urandom > /build/cache/big.bin \\
 && head -c {1 * MB} /dev/urandom > /build/out/app.bin

FROM {BASE} AS runtime
COPY --from=builder /build/out/app.bin /srv/app.bin
RUN mkdir -p /root/.npm/_cacache "/srv/{EVIL}" \\
 && head -c 250000 /dev/urandom > /root/.npm/_cacache/blob \\
 && head -c 300000 /dev/urandom > "/srv/{EVIL}/a&b.bin"
RUN head -c {2 * MB} /dev/urandom > /tmp/big.bin
RUN rm /tmp/big.bin
ENV API_TOKEN=hunter2
CMD ["/srv/app.bin"]
"""


@dataclass(frozen=True)
class Built:
    builder: Builder
    digest: str
    data: dict[str, Any]


@pytest.fixture(scope="module")
def built(base_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:  # noqa: F811
    """One real two-stage build for the whole module (the engine tests' builder, but once)."""
    work = tmp_path_factory.mktemp("report")
    shutil.copytree(base_store, work / "root", symlinks=True)
    (work / "ctx").mkdir()
    builder = Builder(work / "root", work / "ctx")
    result = builder.build(DOCKERFILE, tags=["localhost/report-demo:1"])
    data = api.report_data("localhost/report-demo:1", root=builder.root)
    return Built(builder, result.digest, data)


def _finding(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "rule": "SourcesShipped", "severity": "warning", "file": "Dockerfile", "line": 3,
        "column": 1, "end_line": 3, "stage": "runtime", "message": "sources ship",
        "why": "They are not needed at run time.", "fix": "COPY only dist/", "source": "etage",
        "url": None,
    }  # fmt: skip
    f.update(over)
    return f


# ---- what every rendering must hold ------------------------------------------------------


def test_the_build_gave_the_report_what_the_page_needs(built: Built) -> None:
    data = built.data
    summary = data["summary"]
    assert summary is not None and data["dockerfile"] == "Dockerfile"
    assert [s["stage"] for s in summary["stages"]] == ["builder", "runtime"]
    assert {s["stage"]: s["shipped"] for s in summary["stages"]}["builder"] == 1 * MB
    rules = {f["rule"]: f for f in data["findings"]}
    assert {"SecretInConfig", "PackageCacheShipped", "WastedBytes"} <= set(rules)
    assert rules["WastedBytes"]["line"] == 11 and rules["WastedBytes"]["bytes"] == 2 * MB
    assert data["counts"]["error"] >= 1 and data["counts"]["warning"] >= 2
    assert [layer["stage"] for layer in data["layers"]][:2] == [None, "runtime"]


def _numbers(data: dict[str, Any]) -> list[str]:
    """What a reader must find in every rendering."""
    summary = data["summary"]
    out = [human(summary["image"]["size"]), human(summary["image"]["compressed"])]
    out.append(f"{summary['ratio']:.1f}")
    out += [s["stage"] for s in summary["stages"]]
    out += [f"{f['file']}:{f['line']}" for f in data["findings"]]
    out += [f["rule"] for f in data["findings"]]
    out += [f"Dockerfile:{layer['line']}" for layer in data["layers"]]
    out += [human(layer["size"]) for layer in data["layers"]]
    out += [human(s[k]) for s in summary["stages"] for k in ("produced", "shipped")]
    out += [human(f["bytes"]) for f in data["findings"] if "bytes" in f]
    return out


def test_the_text_report_holds_the_numbers_in_100_columns(built: Built) -> None:
    text = render_text(built.data)
    for needle in _numbers(built.data):
        assert needle in text, needle
    assert f"{built.data['summary']['ratio']:.1f}x" in text
    assert "/srv/app.bin" in text and "1.0 MB" in text
    assert f"/srv/{EVIL}/a&b.bin" in text  # a terminal shows it as it is
    assert "COPY --from=builder /build/out/app.bin /srv/app.bin" in text
    assert "base image:" in text and "runtime:" in text
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert text.endswith("\n") and "\x1b[" not in text


def test_the_json_report_round_trips_and_is_deterministic(built: Built) -> None:
    data = built.data
    out = render_json(data)
    assert out.endswith("}\n") and out.startswith('{\n  "counts"')
    assert json.loads(out) == data
    # the same data in another order renders the same bytes
    shuffled = copy.deepcopy(data)
    shuffled["layers"].reverse()
    for layer in shuffled["layers"]:
        layer["paths"] = dict(reversed(list(layer["paths"].items())))
    shuffled = dict(reversed(list(shuffled.items())))
    assert render_json(shuffled) == out


def test_an_image_reported_by_digest_is_titled_by_its_name(built: Built) -> None:
    data = api.report_data(built.digest, root=built.builder.root)
    assert data["image"]["ref"] == "localhost/report-demo:1"  # the name the build gave it
    assert render_text(data).startswith("etage report: localhost/report-demo:1\n")
    assert "<h1>localhost/report-demo:1</h1>" in render_html(data)


def test_the_findings_are_those_of_etage_check_image(built: Built) -> None:
    report = api.check_image(built.digest, root=built.builder.root)
    assert json.loads(render_json(built.data))["findings"] == report_json(report)["findings"]


def _documented() -> dict[str, set[str]]:
    """docs/report.md: for each '### `name`' section, the keys its table lists."""
    sections: dict[str, set[str]] = {}
    current = None
    for line in DOCS.read_text().splitlines():
        if m := re.match(r"^### (?:`([^`]+)`|(Top level))$", line):
            current = m.group(1) or "top"
            sections[current] = set()
        elif current and (m := re.match(r"^\| `([a-z_]+)` \|", line)):
            sections[current].add(m.group(1))
    return sections


def test_the_docs_list_every_key(built: Built) -> None:
    data, docs = built.data, _documented()
    summary = data["summary"]
    full = _finding(bytes=1, layer="sha256:00", paths=["/x"])  # the optional keys too
    want = {
        "top": set(data),
        "image": set(data["image"]),
        "layers[]": {k for layer in data["layers"] for k in layer},
        "findings[]": {k for f in [*data["findings"], full] for k in f},
        "counts": set(data["counts"]),
        "summary": set(summary),
        "summary.image": set(summary["image"]),
        "summary.base": set(summary["base"]),
        "summary.stages[]": {k for s in summary["stages"] for k in s},
        "summary.largest[]": {k for p in summary["largest"] for k in p},
    }
    for section, keys in want.items():
        assert keys <= docs.get(section, set()), (section, keys - docs.get(section, set()))
    # and nothing documented that the data does not have (optional finding keys aside)
    assert docs["top"] == set(data) and docs["layers[]"] == want["layers[]"]


# ---- the HTML page -----------------------------------------------------------------------


class _Page(HTMLParser):
    """The text a reader sees, and every element with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    @classmethod
    def read(cls, source: str) -> _Page:
        page = cls()
        page.feed(source)
        page.close()
        return page

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def _loads_nothing(source: str) -> None:
    page = _Page.read(source)
    for tag, attrs in page.elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no handler from the data
            if name in ("src", "srcset", "poster", "data", "action", "formaction"):
                raise AssertionError(f"<{tag} {name}=...> would load something")
            if name == "href":
                assert tag == "a", f"<{tag} href> would load something"
                assert value and value.startswith(("#", "https://", "http://")), value
        assert tag not in ("img", "link", "iframe", "object", "embed", "video", "audio"), tag
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy":
            assert "default-src 'none'" in str(attrs["content"])
    # no resource URL anywhere but in <a href>: not in CSS, not in the script
    outside_links = re.sub(r'<a [^>]*href="https?://[^"]*"[^>]*>[^<]*</a>', "", source)
    assert not re.search(r"https?://", outside_links)
    assert "url(" not in source and "@import" not in source and "@font-face" not in source


def test_the_page_is_standalone_and_holds_the_numbers_without_javascript(built: Built) -> None:
    source = render_html(built.data)
    assert source.startswith("<!DOCTYPE html>") and source.endswith("</html>\n")
    _loads_nothing(source)
    page = _Page.read(source)  # the text outside <script>: what a browser without JS shows
    for needle in [*_numbers(built.data), f"{built.data['summary']['ratio']:.1f}×"]:
        assert needle in page.words, needle
    assert f"/srv/{EVIL}/a&b.bin" in page.words  # shown as text...
    assert EVIL not in source and "&lt;img src=x onerror=alert(1)&gt;" in source  # ...escaped


def test_the_page_escapes_hostile_data_and_links_only_to_the_web() -> None:
    data = _foreign(
        paths={"/": 600_000, "/<script>alert(1)</script>": 600_000},
        findings=[
            _finding(message="</script><script>alert(2)</script>", url="javascript:alert(3)",
                     fix='"><b>x</b>', paths=["/a\"b'c<d>"], stage="<i>s</i>"),
            _finding(rule="JSONArgsRecommended", url="https://docs.docker.com/go/x/"),
        ],
    )  # fmt: skip
    source = render_html(data)
    _loads_nothing(source)
    assert "<script>alert" not in source and "<b>x" not in source and "<i>s" not in source
    assert "javascript:" not in source  # an unsafe URL is not made a link
    assert source.count("<script>") == 1  # the page's own
    assert '<a href="https://docs.docker.com/go/x/" rel="noopener noreferrer">' in source
    words = _Page.read(source).words
    assert "/<script>alert(1)</script>" in words and "</script><script>alert(2)</script>" in words


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        # CI installs it (scripts/setup.sh test): there its absence is a failure.
        assert not os.environ.get("CI"), "chromium is missing: scripts/setup.sh test installs it"
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return found


def _run_chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000", *args, url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _png_rows(png: bytes, rows: int) -> Iterator[bytes]:
    """The first `rows` rows of an 8-bit RGB or RGBA PNG, as RGB bytes (a minimal decoder)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, bytearray()
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(bytes(idat), (stride + 1) * min(rows, height))
    prev = bytearray(stride)
    for y in range(min(rows, height)):
        start = y * (stride + 1)
        filt, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        yield bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3)


def test_the_page_renders_in_chromium_with_the_numbers(built: Built, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(built.data))
    url = page.as_uri()
    # the DOM Chromium built, after the page's script ran
    dom = _run_chromium(tmp_path, url, "--dump-dom").stdout
    rendered = _Page.read(dom)
    for needle in [*_numbers(built.data), f"{built.data['summary']['ratio']:.1f}×"]:
        assert needle in rendered.words, needle
    assert f"/srv/{EVIL}/a&b.bin" in rendered.words
    tags = [tag for tag, _ in rendered.elements]
    assert "img" not in tags  # the hostile path stayed text
    tools = next(attrs for tag, attrs in rendered.elements if attrs.get("id") == "tools")
    assert "hidden" not in tools  # the script ran: the CSP hash matches it
    # a screenshot: not blank, text in many shades, the stage bars in their colours
    shot = tmp_path / "shot.png"
    _run_chromium(tmp_path, url, f"--screenshot={shot}")
    top = list(_png_rows(shot.read_bytes(), 700))
    pixels = [row[i : i + 3] for row in top for i in range(0, len(row), 3)]
    inked = sum(1 for p in pixels if min(p) < 200)
    assert 0.02 < inked / len(pixels) < 0.6, inked / len(pixels)
    colours = set(pixels)
    assert len(colours) > 100, len(colours)
    stage_colours = {bytes.fromhex(c[1:]) for c in (BASE_COLOUR, PALETTE[1])}
    assert stage_colours <= colours  # the base image (grey) and the runtime (second hue)


def test_the_page_prints(built: Built, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(built.data))
    pdf = tmp_path / "report.pdf"
    _run_chromium(tmp_path, page.as_uri(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2


# ---- edge cases: foreign images, no findings, long paths, folding ------------------------


def _foreign(paths: dict[str, int], findings: list[dict[str, Any]]) -> dict[str, Any]:
    size = paths.get("/", 0)
    counts = {s: sum(f["severity"] == s for f in findings) for s in ("error", "warning", "info")}
    return {
        "version": 1,
        "image": {"ref": "registry.example/x:1", "digest": "sha256:" + "ab" * 32,
                  "created": None, "platform": "linux/amd64"},
        "dockerfile": None, "summary": None,
        "layers": [{"index": 0, "digest": "sha256:" + "cd" * 32, "size": size, "compressed": None,
                    "stage": None, "line": 0, "instruction": "ADD rootfs.tar /", "from_stage": None,
                    "paths": paths}],
        "findings": findings, "counts": counts,
    }  # fmt: skip


def test_an_image_etage_did_not_build_renders_without_a_summary(built: Built) -> None:
    data = api.report_data(BASE, root=built.builder.root)  # the base: committed, not built
    assert data["summary"] is None and data["dockerfile"] is None
    size = sum(layer["size"] for layer in data["layers"])
    text = render_text(data)
    assert human(size) in text and "not built by etage" in text and "n/a" in text
    assert "layers (stages unknown)" in text and "base image" not in text
    assert "/bin/busybox" in text
    source = render_html(data)
    _loads_nothing(source)
    words = _Page.read(source).words
    assert human(size) in words and "n/a" in words and "/bin" in words
    assert json.loads(render_json(data)) == data


def test_no_findings_and_long_paths() -> None:
    long = "/" + "/".join(f"directory-{i:02d}-with-a-long-name" for i in range(6))
    paths = {"/": 2 * MB, long: 2 * MB}
    parts = long.split("/")
    for i in range(2, len(parts)):
        paths["/".join(parts[:i])] = 2 * MB
    data = _foreign(paths, [])
    data["layers"][0]["instruction"] = "RUN " + "x" * 300
    text = render_text(data)
    assert all(len(line) <= WIDTH for line in text.splitlines())
    assert "findings\n  none" in text and "0 errors, 0 warnings, 0 info" in text
    assert "…" in text  # elided, not wrapped
    # control characters from the data are shown, not obeyed by the terminal
    hostile = _foreign({"/": MB, "/a\x1b[2J\nb": MB}, [_finding(message="x\x1b]0;title\x07")])
    text = render_text(hostile)
    assert "\x1b" not in text and "\x07" not in text
    assert "/a\\x1b[2J\\x0ab" in text and "x\\x1b]0;title\\x07" in text
    source = render_html(data)
    assert "No findings" in source and long in source  # the page wraps rather than cuts


def test_the_tree_merges_single_child_chains_and_folds_small_entries() -> None:
    paths = {"/": 1000, "/app": 1000, "/app/node_modules": 1000, "/app/node_modules/a": 500}
    paths |= {f"/app/node_modules/p{i:02d}": 30 for i in range(13)}
    tree = LayerTree(paths)
    (top,) = tree.top()
    assert top == Entry("/app/node_modules", 1000, "/app/node_modules")  # merged: one child
    # the listed children, biggest first, and what they leave: small files
    below = tree.below(top)
    assert below[:3] == (
        Entry("a", 500, "/app/node_modules/a"),
        Entry("other files", 110, rest=True),
        Entry("p00", 30, "/app/node_modules/p00"),
    )
    assert tree.below(below[0]) == () and tree.below(below[1]) == ()
    shown, rest = fold(below, 1000, keep=8, min_share=0.005)
    assert len(shown) == 8 and len(rest) == 7
    text = render_text(_foreign(paths, []))
    assert "/app/node_modules" in text and "7 more" not in text  # text folds harder
    assert re.search(r"\d+ more", text)
    assert "7 more" in render_html(_foreign(paths, []))
    assert LayerTree({"/": 0}).top() == () and LayerTree({}).top() == ()
    # a listing with holes (a hand-made one) still hangs together
    assert LayerTree({"/": 10, "/a/b/c": 10}).top() == (Entry("/a/b/c", 10, "/a/b/c"),)


def test_a_big_layer_renders_quickly() -> None:
    """A node_modules of 3000 packages: the page shows the biggest, folds the rest."""
    paths: dict[str, int] = {"/": 0, "/app": 0, "/app/node_modules": 0}
    for i in range(3000):
        for j in range(5):
            for p in ("/", "/app", "/app/node_modules", f"/app/node_modules/pkg{i}"):
                paths[p] = paths.get(p, 0) + 1000 + i
            paths[f"/app/node_modules/pkg{i}/lib{j}"] = 1000 + i
    data = _foreign(paths, [])
    data["layers"] *= 10
    for i, layer in enumerate(data["layers"]):
        data["layers"][i] = {**layer, "index": i}
    started = time.monotonic()
    source, text = render_html(data), render_text(data)
    assert time.monotonic() - started < 10  # about 0.5 s here; a whole tree took 10 times more
    assert len(source) < 500_000 and "2999 more" in source and "pkg2999" in source
    assert all(len(line) <= WIDTH for line in text.splitlines())
