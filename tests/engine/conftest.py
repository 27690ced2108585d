"""Fixtures for build-engine tests: a fresh store holding a real busybox image (with
named users), a context directory to write files into, and `build()` running the real
engine (runc, overlayfs) on them."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.registry_fixtures import registry  # the real registry on 127.0.0.1 (push, --pull)

import etage
from etage.engine.run import BuildResult
from etage.events import Event
from etage.oci.store import ContentStore
from etage.testing import busybox_image

__all__ = ["registry"]

BASE = "localhost/busybox:1"
PASSWD_EXTRA = "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
GROUP_EXTRA = "alice:x:1000:\nstaff:x:50:alice\n"


@pytest.fixture(scope="session")
def base_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store with the base image, copied for each test (commit once per session)."""
    if os.geteuid() != 0:
        pytest.skip("building needs root")
    work = tmp_path_factory.mktemp("engine-template")
    store = ContentStore(work / "root")
    try:
        busybox_image(store, work, BASE, users=(PASSWD_EXTRA, GROUP_EXTRA))
    finally:
        store.close()
    return work / "root"


@dataclass
class Builder:
    root: Path
    context: Path
    events: list[Event] = field(default_factory=list)

    def write(self, files: dict[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.context / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def build(self, dockerfile: str | None = None, **kwargs: Any) -> BuildResult:
        if dockerfile is not None:
            (self.context / "Dockerfile").write_text(dockerfile)
        self.events = []
        return etage.build(self.context, root=self.root, listener=self.events.append, **kwargs)

    def store(self) -> ContentStore:
        return ContentStore(self.root)


@pytest.fixture
def builder(base_store: Path, tmp_path: Path) -> Builder:
    root = tmp_path / "root"
    shutil.copytree(base_store, root, symlinks=True)
    context = tmp_path / "ctx"
    context.mkdir()
    return Builder(root, context)


def cached(result: BuildResult) -> dict[str, bool]:
    """Step text -> was it a cache hit (for steps that can be cached)."""
    return {f"[{s.step.split('#')[0]}] {s.text}": s.cached for s in result.steps}


def mounts(root: Path) -> list[str]:
    """The mounts below this test's store (other tests run in parallel)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(root) in line]


def process_alive(marker: str) -> bool:
    """Whether a process whose command line holds `marker` is alive (not a zombie)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and "State:\tZ" not in status:
            return True
    return False
