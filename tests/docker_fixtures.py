"""A real dockerd for tests (Debian's docker.io 20.10, started as design.md says), shared
by the image interoperability tests and the BuildKit conformance tests.

`dockerd` is session-scoped: one daemon per test session, so one per pytest-xdist worker,
each with its own data root and socket under /tmp (unix socket paths are short).
Always use Debian's 20.10 client at /usr/bin/docker: `docker` on PATH is a newer client.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

DOCKER = "/usr/bin/docker"


@dataclass
class Docker:
    socket: Path
    loaded: set[str] = field(default_factory=set)  # archives already `docker load`ed

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    def run(self, *args: str, timeout: float = 120, input: bytes | None = None) -> str:
        proc = subprocess.run(
            [DOCKER, *args], env=self.env, capture_output=True, timeout=timeout,
            input=input, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout.decode(errors="replace")


@dataclass
class _Daemon:
    docker: Docker
    process: subprocess.Popen[bytes]
    base: Path
    log: IO[bytes]
    users: int = 0


# One daemon per process (per xdist worker), however many conftest.py files import the
# fixture: each import defines its own session-scoped fixture, so they share the daemon
# through this module and the last one to finish stops it.
_daemon: _Daemon | None = None


def _start(tmp_path_factory: pytest.TempPathFactory) -> _Daemon:
    missing = [p for p in ("dockerd", "runc") if shutil.which(p) is None]
    if missing or not os.path.exists(DOCKER):
        pytest.fail(
            f"{', '.join(missing) or DOCKER} not installed: apt-get install docker.io runc"
            " (scripts/setup.sh test does)"
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
                [DOCKER, "version"], env=docker.env, capture_output=True, check=False
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
    return _Daemon(docker, proc, base, log)


def _stop(daemon: _Daemon) -> None:
    daemon.process.send_signal(signal.SIGTERM)
    try:
        daemon.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.process.kill()
        daemon.process.wait()
    daemon.log.close()
    data = daemon.base / "data"
    subprocess.run(["umount", "-R", str(data)], capture_output=True, check=False)
    shutil.rmtree(daemon.base, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    global _daemon  # noqa: PLW0603 - the per-process daemon, see above
    if _daemon is None:
        _daemon = _start(tmp_path_factory)
    daemon = _daemon
    daemon.users += 1
    try:
        yield daemon.docker
    finally:
        daemon.users -= 1
        if daemon.users == 0:
            _daemon = None
            _stop(daemon)


__all__ = ["DOCKER", "Docker", "dockerd"]
