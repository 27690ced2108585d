"""Fixtures of the differential conformance suite (etage vs BuildKit in dockerd 20.10).

Base images are made here, once per session (per xdist worker), in etage's store:
- `localhost/busybox:1`: Debian's static busybox (etage.testing.busybox_image);
- `localhost/users:1`: the same rootfs with named users and groups in /etc/passwd and
  /etc/group, and home directories, for USER / --chown name resolution.
Both are saved as one docker archive and `docker load`ed into the dockerd once (when the
worker first builds with BuildKit), so the two builders start from identical bases
under the same names; BuildKit 20.10 resolves `FROM localhost/busybox:1` from dockerd's
image store without a registry lookup when the image is there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conformance.harness import Conformance, Pair, Scenario
from tests.docker_fixtures import Docker, dockerd

from etage import transfer
from etage.oci.commit import commit_image, commit_layer
from etage.oci.model import ImageConfig
from etage.oci.store import ContentStore
from etage.platforms import host
from etage.testing import busybox_image, busybox_rootfs

__all__ = ["Docker", "dockerd"]

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:2000:Bob:/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """\
root:x:0:
alice:x:1000:
staff:x:2000:bob
devs:x:3000:alice,bob
nogroup:x:65534:
"""


def users_image(store: ContentStore, workdir: Path, name: str) -> None:
    rootfs = busybox_rootfs(workdir / "users-rootfs")
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    for user, uid, gid in (("alice", 1000, 1000), ("bob", 1001, 2000)):
        home = rootfs / "home" / user
        home.mkdir(parents=True)
        os.chown(home, uid, gid)
        os.chmod(home, 0o750)
    layer = commit_layer(store, rootfs, source_date_epoch=0)
    plat = host()
    config = ImageConfig(
        architecture=plat.architecture,
        os=plat.os,
        variant=plat.variant,
        created="1970-01-01T00:00:00Z",
        config={
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "Labels": {"base": "users"},
        },
    )
    commit_image(store, [layer], config, name=name, created_by="users rootfs")


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Conformance]:
    missing = [p for p in ("runc", "dockerd", "busybox") if shutil.which(p) is None]
    if missing or not Path("/bin/busybox").exists():
        pytest.fail(
            f"the conformance suite needs {', '.join(missing) or '/bin/busybox'}:"
            " run scripts/setup.sh test (docker.io, runc, busybox-static)"
        )
    workdir = tmp_path_factory.mktemp("conformance")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # the common basetemp of this run's workers: results are shared between them
        shared = tmp_path_factory.getbasetemp().parent / "conformance-results"
    else:
        shared = workdir / "results"
    shared.mkdir(exist_ok=True)
    store_root = workdir / "store"
    store = ContentStore(store_root)
    try:
        busybox_image(store, workdir, "localhost/busybox:1")
        users_image(store, workdir, "localhost/users:1")
        archive = workdir / "bases.tar"
        transfer.save(store, list(Conformance.BASES), archive, fmt="docker")
    finally:
        store.close()
    conformance = Conformance(workdir, shared, store_root, archive)
    yield conformance
    conformance.close()


@pytest.fixture
def run(
    conformance: Conformance, request: pytest.FixtureRequest
) -> Callable[[Scenario], list[Pair]]:
    """Build a scenario with both builders (once per test run) and return the pairs."""

    def get_docker() -> Docker:
        return request.getfixturevalue("dockerd")  # type: ignore[no-any-return]

    return lambda scenario: conformance.run(scenario, get_docker)
