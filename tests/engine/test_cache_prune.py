"""`etage prune --build-cache` and the build cache in `etage df`: the cache goes, images
stay whole, running builds are waited for, and the next build runs its steps again."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner
from tests.engine.conftest import BASE, Builder, cached

import etage.api
from etage.cli import main

DOCKERFILE = f"""\
FROM {BASE}
COPY app.txt /app/
RUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /app/app.txt > /out
"""


def snapshot_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "snapshots").iterdir() if p.name.isdigit())


def test_prune_removes_the_cache_and_keeps_images_whole(builder: Builder, tmp_path: Path) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(DOCKERFILE, tags=["app:1"])
    before = etage.api.build_cache_usage(root=builder.root)
    assert before.entries >= 2 and before.snapshots >= 3 and before.snapshot_bytes > 0
    assert before.cache_mounts == 1 and before.cache_mount_bytes == len("run\n")

    dry = etage.api.prune_build_cache(root=builder.root, dry_run=True)
    assert (dry.snapshots, dry.entries) == (before.snapshots, before.entries)
    assert etage.api.build_cache_usage(root=builder.root) == before  # nothing removed

    gone = etage.api.prune_build_cache(root=builder.root)
    assert gone.snapshots == before.snapshots and gone.cache_mounts == 0
    after = etage.api.build_cache_usage(root=builder.root)
    assert (after.snapshots, after.entries, after.snapshot_bytes) == (0, 0, 0)
    assert snapshot_dirs(builder.root) == []
    assert after.cache_mounts == 1  # kept without cache_mounts=True

    # the image is whole: every blob is there and it exports
    report = etage.api.verify(["app:1"], root=builder.root)
    assert report.ok, report
    out = tmp_path / "app.tar"
    etage.api.save(["app:1"], out, root=builder.root)
    assert out.stat().st_size > 0

    # the next build runs its steps again (the cache mount still has the first run's log)
    second = builder.build(DOCKERFILE, tags=["app:1"])
    assert not any(v for k, v in cached(second).items() if "RUN" in k or "COPY" in k)

    etage.api.prune_build_cache(root=builder.root, cache_mounts=True)
    assert etage.api.build_cache_usage(root=builder.root).cache_mounts == 0


def test_prune_waits_for_a_running_build(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    (builder.context / "Dockerfile").write_text(f"FROM {BASE}\nRUN sleep 2 && echo done > /x\n")
    done: dict[str, float] = {}

    def build() -> None:
        builder.build()
        done["build"] = time.monotonic()

    thread = threading.Thread(target=build)
    thread.start()
    deadline = time.monotonic() + 30
    while not any("RUN sleep" in str(getattr(e, "text", "")) for e in list(builder.events)):
        assert time.monotonic() < deadline, "the RUN never started"
        time.sleep(0.02)
    # the RUN is sleeping: the build holds its lease
    etage.api.prune_build_cache(root=builder.root)
    done["prune"] = time.monotonic()
    thread.join()
    assert done["prune"] >= done["build"]
    assert etage.api.build_cache_usage(root=builder.root).snapshots == 0


def test_cli_df_and_prune(builder: Builder) -> None:
    builder.write({"app.txt": "hello\n"})
    builder.build(DOCKERFILE, tags=["app:1"])
    runner = CliRunner()
    env = {"ETAGE_ROOT": str(builder.root)}
    shown = runner.invoke(main, ["--root", str(builder.root), "df", "--format", "json"], env=env)
    assert shown.exit_code == 0, shown.output
    usage = json.loads(shown.output)["build_cache"]
    assert usage["snapshots"] > 0 and usage["cache_mounts"] == 1

    bad = runner.invoke(main, ["--root", str(builder.root), "prune", "--all"])
    assert bad.exit_code == 2 and "--build-cache" in bad.output

    pruned = runner.invoke(main, ["--root", str(builder.root), "prune", "--build-cache", "--all"])
    assert pruned.exit_code == 0, pruned.output
    assert f"{usage['snapshots']} snapshots, 1 RUN cache mounts" in pruned.output
    text = runner.invoke(main, ["--root", str(builder.root), "df"])
    assert "Build cache:          0 steps, 0 snapshots" in text.output
    # the image still runs through the whole CLI path
    listed = subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(builder.root), "images"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "app" in listed.stdout
