"""Fixtures for image interoperability tests: a store with a real busybox image, the
registry servers, and a real dockerd (Debian's docker.io, started as design.md says)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etage.oci.model import Descriptor
from etage.oci.store import ContentStore
from etage.testing import busybox_image
from tests.registry_fixtures import basic_registry, registry, token_registry

__all__ = ["basic_registry", "registry", "token_registry"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ContentStore]:
    s = ContentStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def busybox(store: ContentStore, tmp_path: Path) -> Descriptor:
    return busybox_image(store, tmp_path, "localhost/busybox:1")


@dataclass
class Docker:
    socket: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    def run(self, *args: str, timeout: float = 120, input: bytes | None = None) -> str:
        proc = subprocess.run(
            ["/usr/bin/docker", *args], env=self.env, capture_output=True, timeout=timeout,
            input=input, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout.decode(errors="replace")


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    if shutil.which("dockerd") is None or not os.path.exists("/usr/bin/docker"):
        pytest.fail(
            "dockerd is not installed: apt-get install docker.io (scripts/setup.sh test does)"
        )
    base = Path("/tmp") / f"etage-dockerd-{os.getpid()}"  # short path: unix socket length limit
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    sock = base / "d.sock"
    log = open(tmp_path_factory.mktemp("dockerd") / "dockerd.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            "dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
            "--pidfile", str(base / "d.pid"), "-H", f"unix://{sock}",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    docker = Docker(sock)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            sock.exists()
            and subprocess.run(
                ["/usr/bin/docker", "version"], env=docker.env, capture_output=True, check=False
            ).returncode
            == 0
        ):
            break
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    else:
        proc.kill()
    if proc.poll() is not None:
        log.close()
        pytest.fail(f"dockerd did not start: {Path(log.name).read_text(errors='replace')[-2000:]}")
    yield docker
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    subprocess.run(["umount", "-R", str(base / "data")], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)
