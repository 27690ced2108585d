"""The CLI's fast path for a no-op `etage build` (etage.fastpath): it answers exactly as
the full CLI does, only when the record holds, and without importing the CLI.

The context is written, then left alone for longer than the replay's racy window, so
the first build may record what it read (a file changed within 2 s of a build is not
trusted)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.engine.conftest import BASE

from etage.cache import replay

DOCKERFILE = f"""\
FROM {BASE} AS builder
ARG MODE=dev
COPY app.txt /app/
RUN cat /app/app.txt > /out && echo "$MODE" >> /out

FROM {BASE}
LABEL from=dockerfile
COPY --from=builder /out /srv/
"""


@pytest.fixture(scope="module")
def recorded(base_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store and context built once, with nothing changed in the racy window."""
    work = tmp_path_factory.mktemp("fastpath")
    shutil.copytree(base_store, work / "root", symlinks=True)
    ctx = work / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "Dockerfile.other").write_text(DOCKERFILE.replace("dev", "other"))
    (ctx / "app.txt").write_text("hello\n")
    time.sleep(replay.RACY_SECONDS + 0.2)
    return work


def etage(
    work: Path, *args: str, fast: bool = True, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("ETAGE_NO_FASTPATH", None)
    if not fast:
        env["ETAGE_NO_FASTPATH"] = "1"
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "etage"]
    return subprocess.run(
        [*argv, "--root", str(work / "root"), *args],
        cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def took_fast_path(proc: subprocess.CompletedProcess[str]) -> bool:
    """-X importtime lists every module imported: the CLI's click must not be there."""
    assert proc.returncode == 0, proc.stderr
    return " click" not in proc.stderr and "etage.fastpath" in proc.stderr


def without_times(text: str) -> str:
    return re.sub(r" in \d+\.\d+s$", " in Xs", text, flags=re.M)


COMMANDS = [
    ["build", "--progress", "plain", "-t", "app:1", "ctx"],
    ["build", "--progress=plain", "-t", "app:1", "--build-arg", "MODE=prod", "ctx"],
    ["build", "-q", "-t", "app:1", "-t", "app:latest", "--label", "x=1", "ctx"],
    ["build", "--progress", "quiet", "-f", "ctx/Dockerfile.other", "--target", "builder", "ctx"],
    ["build", "--progress", "plain", "--build-arg", "UNUSED=1", "ctx"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[1:]))
def test_the_fast_path_answers_as_the_full_cli(recorded: Path, command: list[str]) -> None:
    first = etage(recorded, *command, fast=False)  # builds, or replays through the API
    assert first.returncode == 0, first.stderr
    full = etage(recorded, *command, fast=False)
    fast = etage(recorded, *command)
    assert fast.returncode == full.returncode == 0
    assert fast.stdout == full.stdout
    assert without_times(fast.stderr) == without_times(full.stderr)
    assert took_fast_path(etage(recorded, *command, importtime=True))


def test_iidfile_and_metadata_file_are_written_alike(recorded: Path) -> None:
    files = {}
    for fast in (False, True):
        iid, meta = recorded / f"iid-{fast}", recorded / f"meta-{fast}"
        iid.write_text("stale")
        proc = etage(
            recorded, "build", "-q", "-t", "app:1", "--iidfile", str(iid),
            "--metadata-file", str(meta), "ctx", fast=fast,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        files[fast] = (iid.read_text(), json.loads(meta.read_text()), proc.stdout.strip())
    assert files[True] == files[False]
    assert files[True][0] == files[True][2] == files[True][1]["containerimage.digest"]


def test_a_changed_input_takes_the_full_path(recorded: Path) -> None:
    etage(recorded, "build", "-q", "-t", "app:2", "ctx", fast=False)
    assert took_fast_path(etage(recorded, "build", "-q", "-t", "app:2", "ctx", importtime=True))
    (recorded / "ctx" / "app.txt").write_text("changed\n")
    proc = etage(recorded, "build", "--progress", "plain", "-t", "app:2", "ctx", importtime=True)
    assert proc.returncode == 0, proc.stderr
    assert " click" in proc.stderr  # the full CLI ran
    assert re.search(r"\[builder\] COPY app.txt /app/\n#\d+ DONE", proc.stderr)


@pytest.mark.parametrize(
    "extra",
    [
        ["--no-cache"],
        ["-o", "type=local,dest=out"],
        ["--progress", "rawjson"],
        ["--no-cache-filter", "builder"],
        ["--build-context", "extra=ctx"],
    ],
)
def test_other_options_take_the_full_path(recorded: Path, extra: list[str]) -> None:
    proc = etage(recorded, "build", *extra, "ctx", importtime=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert " click" in proc.stderr
