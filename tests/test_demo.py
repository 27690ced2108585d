"""The demo, end to end: examples/node-ts-api built naive and multi-stage on base images
made locally (bench/make_bases.py: debootstrap, cached), the multi-stage image at least
2x smaller, the naive image's planted problems found, and the image serving HTTP under
runc."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import etage
from etage import api

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "node-ts-api"

# CI installs both (scripts/setup.sh test): there a missing tool fails instead of skipping.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI")
    and (shutil.which("runc") is None or shutil.which("debootstrap") is None),
    reason="needs runc and debootstrap (scripts/setup.sh test installs them)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, etage.BuildResult]:
    sys.path.insert(0, str(ROOT / "bench"))
    from make_bases import ensure_bases

    layouts = ensure_bases()
    root = tmp_path_factory.mktemp("demo") / "store"
    for name in ("node:18", "node:18-slim"):
        api.load(layouts[name], root=root)
    naive = etage.build(
        EXAMPLE, dockerfile=EXAMPLE / "Dockerfile.naive", tags=["node-ts-api:naive"], root=root
    )
    multi = etage.build(EXAMPLE, tags=["node-ts-api:multi"], root=root)
    return {"naive": naive, "multi": multi, "root": root}  # type: ignore[dict-item]


def test_the_multi_stage_image_is_at_least_twice_smaller(
    built: dict[str, etage.BuildResult],
) -> None:
    naive, multi = built["naive"].summary, built["multi"].summary
    assert naive is not None and multi is not None
    assert naive["image"]["size"] / multi["image"]["size"] >= 2
    assert naive["image"]["compressed"] / multi["image"]["compressed"] >= 1.5


def test_the_naive_image_gets_its_findings_and_the_multi_stage_one_none(
    built: dict[str, etage.BuildResult],
) -> None:
    naive, multi = built["naive"].summary, built["multi"].summary
    assert naive is not None and multi is not None
    rules = {f["rule"]: f for f in naive["findings"]}
    assert {
        "DevDependenciesShipped",
        "PackageCacheShipped",
        "SourcesShipped",
        "TestsShipped",
    } <= set(rules)
    dev = rules["DevDependenciesShipped"]
    assert dev["file"].endswith("Dockerfile.naive") and dev["line"] == 5  # RUN npm install
    assert "typescript" in dev["message"] and dev["bytes"] > 10_000_000
    assert [f for f in multi["findings"] if f["severity"] != "info"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_multi_stage_image_serves_http_under_runc(
    built: dict[str, etage.BuildResult], tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    api.unpack("node-ts-api:multi", rootfs, root=built["root"])  # type: ignore[arg-type]
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    config = built["multi"].image.image_config.config
    port = _free_port()
    spec["process"].update(
        terminal=False,
        args=[*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])],
        env=[*config["Env"], f"PORT={port}"],
        cwd=config["WorkingDir"],
    )
    spec["root"]["readonly"] = False
    # the host's network, so the test reaches it on 127.0.0.1
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "network"]
    (bundle / "config.json").write_text(json.dumps(spec))
    name = f"etage-demo-{port}"
    with (tmp_path / "out.log").open("wb") as log:
        proc = subprocess.Popen(["runc", "run", name], cwd=bundle, stdout=log, stderr=log)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
    try:
        body = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with direct.open(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.2)
        assert json.loads(body) == {"status": "ok"}, (tmp_path / "out.log").read_text()
    finally:
        subprocess.run(["runc", "kill", name, "KILL"], check=False, capture_output=True)
        proc.wait(timeout=20)
        subprocess.run(["runc", "delete", "-f", name], check=False, capture_output=True)
