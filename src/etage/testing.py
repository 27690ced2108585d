"""Helpers for tests and demos: small real images made locally, without Docker Hub.

`busybox_rootfs` lays out a root filesystem around Debian's static busybox
(package busybox-static); `busybox_image` commits it to a store as an image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from etage.oci.commit import commit_image, commit_layer
from etage.oci.model import Descriptor, ImageConfig
from etage.oci.store import ContentStore
from etage.platforms import host

BUSYBOX = "/bin/busybox"


def busybox_rootfs(root: Path, busybox: str = BUSYBOX) -> Path:
    """A minimal root filesystem: static busybox, its applets as symlinks, /etc basics."""
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
    if (
        shutil.which("ldd")
        and subprocess.run(["ldd", busybox], capture_output=True, check=False).returncode == 0
    ):
        raise RuntimeError(f"{busybox} is dynamically linked: install Debian's busybox-static")
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "tmp",
        "root",
        "var",
        "proc",
        "sys",
        "dev",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in out.stdout.split():
        target = root / applet
        if applet == "bin/busybox" or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(root / "bin" / "busybox", target.parent))
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return root


def busybox_image(
    store: ContentStore,
    workdir: Path,
    name: str = "localhost/busybox:latest",
    *,
    source_date_epoch: int | None = 0,
    docker: bool = False,
    users: tuple[str, str] = ("", ""),
) -> Descriptor:
    """`users`: lines added to /etc/passwd and /etc/group (named users for USER tests)."""
    rootfs = busybox_rootfs(workdir / "busybox-rootfs")
    with (rootfs / "etc" / "passwd").open("a") as f:
        f.write(users[0])
    with (rootfs / "etc" / "group").open("a") as f:
        f.write(users[1])
    layer = commit_layer(store, rootfs, source_date_epoch=source_date_epoch)
    plat = host()
    config = ImageConfig(
        architecture=plat.architecture,
        os=plat.os,
        variant=plat.variant,
        created="1970-01-01T00:00:00Z",
        config={
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
        },
    )
    return commit_image(
        store, [layer], config, name=name, created_by="busybox rootfs", docker=docker
    )
