"""The build summary: sizes by stage, the multi-stage ratio and the largest paths, checked
against files of known sizes written by real builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.engine.conftest import BASE, Builder

from etage.insight.listing import list_layer
from etage.insight.paths import main_paths, path_sizes
from etage.insight.summary import summary_lines

MB = 1_000_000
# The builder writes 3 MB + 1 MB of random data (incompressible: gzip cannot shrink it)
# and a 2 MB file it deletes in the same step (in no layer); the runtime ships the 1 MB file.
DOCKERFILE = f"""\
FROM {BASE} AS builder
RUN mkdir -p /build/out /build/cache \\
 && head -c {3 * MB} /dev/urandom > /build/cache/big.bin \\
 && head -c {1 * MB} /dev/urandom > /build/out/app.bin
RUN head -c {2 * MB} /dev/urandom > /build/tmp.bin && rm /build/tmp.bin

FROM {BASE} AS runtime
COPY --from=builder /build/out/app.bin /srv/app.bin
CMD ["/srv/app.bin"]
"""


def _base_size(builder: Builder) -> int:
    result = builder.build(f"FROM {BASE}\n")
    summary = result.summary
    assert summary is not None
    return int(summary["base"]["size"])


def test_the_summary_counts_what_each_stage_made_and_shipped(builder: Builder) -> None:
    base = _base_size(builder)
    result = builder.build(DOCKERFILE)
    summary = result.summary
    assert summary is not None
    stages = {s["stage"]: s for s in summary["stages"]}
    # the builder made 4 MB (the file written and deleted by one RUN is in no layer)
    assert 4 * MB <= stages["builder"]["produced"] < 4 * MB + 10_000
    assert stages["builder"]["shipped"] == 1 * MB
    # the runtime's COPY --from counts for the builder, where the bytes were made
    assert stages["runtime"] == {"stage": "runtime", "produced": 0, "shipped": 0}
    assert summary["base"] == {"ref": BASE, "size": base}
    assert summary["image"]["size"] == base + 1 * MB
    assert summary["image"]["layers"] == len(result.image.layers)
    assert summary["naive_size"] == base + stages["builder"]["produced"]
    assert summary["ratio"] == round(summary["naive_size"] / summary["image"]["size"], 2)
    app = next(p for p in summary["largest"] if p["path"] == "/srv/app.bin")
    assert app["bytes"] == 1 * MB
    assert (app["file"], app["line"], app["stage"]) == ("Dockerfile", 8, "runtime")
    assert app["instruction"] == "COPY --from=builder /build/out/app.bin /srv/app.bin"
    assert app["layer"] == str(result.image.layers[-1].digest)
    base_entry = next(p for p in summary["largest"] if p["stage"] is None)
    assert base_entry["line"] == 7 and base_entry["instruction"] == f"FROM {BASE}"


def test_the_compressed_size_is_what_an_oci_output_holds(builder: Builder, tmp_path: Path) -> None:
    oci = tmp_path / "image.tar"
    result = builder.build(DOCKERFILE, outputs=[f"type=oci,dest={oci}"])
    summary = result.summary
    assert summary is not None
    with tarfile.open(oci) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].removeprefix("sha256:")
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    assert summary["image"]["compressed"] == sum(layer["size"] for layer in manifest["layers"])
    # random data does not compress: the 1 MB layer is about 1 MB compressed
    assert manifest["layers"][-1]["size"] > MB


def test_the_cli_prints_the_summary_and_the_metadata_file_holds_it(
    builder: Builder, tmp_path: Path
) -> None:
    (builder.context / "Dockerfile").write_text(DOCKERFILE)
    meta = tmp_path / "meta.json"
    env = {**os.environ, "ETAGE_NO_FASTPATH": "1"}
    cmd = [sys.executable, "-m", "etage", "--root", str(builder.root), "build"]
    args = ["--progress", "plain", "--metadata-file", str(meta), str(builder.context)]
    proc = subprocess.run(cmd + args, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(meta.read_text())["etage.build.summary"]
    lines = summary_lines(summary)
    assert "\n".join(lines) in proc.stderr
    assert any(line.startswith("multi-stage ratio") for line in lines)
    assert any(
        "/srv/app.bin" in line and "Dockerfile:8 COPY --from=builder" in line for line in lines
    )
    # rawjson carries the same summary as an event
    proc = subprocess.run(
        [*cmd, "--progress", "rawjson", str(builder.context)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    assert [e["summary"] for e in events if e["type"] == "BuildSummary"] == [summary]


def test_path_sizes_and_main_paths(tmp_path: Path) -> None:
    app = tmp_path / "app" / "node_modules"
    for name, size in (("a", 600_000), ("b", 300_000), ("c", 100_000)):
        (app / name).mkdir(parents=True)
        (app / name / "index.js").write_bytes(b"x" * size)
    (tmp_path / "app" / "package.json").write_bytes(b"{}")
    os.link(app / "a" / "index.js", app / "a" / "again.js")  # counted once
    sizes = path_sizes(list_layer(tmp_path).files)
    assert sizes["/"] == 1_000_002
    assert sizes["/app/node_modules"] == 1_000_000
    a = "/app/node_modules/a/"
    assert sizes.get(a + "index.js", 0) + sizes.get(a + "again.js", 0) == 600_000
    # /app is named by node_modules (most of it); node_modules by nothing below it
    assert main_paths(sizes) == [("/app/node_modules", 1_000_000)]
    assert main_paths({"/": 0}) == []
