"""The image commands as a user runs them (real processes, a real registry), and a
kill -9 in the middle of pulls."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from etage.oci.store import ContentStore
from etage.testing import busybox_image
from tests.registry_fixtures import RegistryServer, make_image, push_with_skopeo, skopeo


def etage(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etage", "--root", str(root), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def test_store_commands_end_to_end(tmp_path: Path, registry: RegistryServer) -> None:
    root = tmp_path / "root"
    store = ContentStore(root)
    busybox_image(store, tmp_path, "localhost/busybox:1")
    store.close()

    out = etage(root, "images")
    assert out.returncode == 0 and "localhost/busybox:1" in out.stdout

    assert etage(root, "tag", "localhost/busybox:1", "example.com/team/bb:2").returncode == 0
    rows = json.loads(etage(root, "images", "--format", "json").stdout)
    assert sorted(r["name"] for r in rows) == ["example.com/team/bb:2", "localhost/busybox:1"]
    assert rows[0]["digest"] == rows[1]["digest"] and rows[0]["size"] > 500_000

    pushed = etage(root, "push", "localhost/busybox:1", f"{registry.host}/cli/bb:1")
    assert pushed.returncode == 0, pushed.stderr
    digest = pushed.stdout.split("digest ")[-1].strip()
    assert digest == rows[0]["digest"]

    inspect = json.loads(etage(root, "inspect", "--format", "json", "localhost/busybox:1").stdout)
    assert inspect["digest"] == digest and inspect["source"] == "store"
    assert inspect["config"]["config"]["Cmd"] == ["sh"]
    remote = json.loads(
        etage(root, "inspect", "--format", "json", f"{registry.host}/cli/bb:1").stdout
    )
    assert remote["source"].startswith("registry") and remote["digest"] == digest
    text = etage(root, "inspect", "localhost/busybox:1").stdout
    assert "Layers (1):" in text and "Cmd:" in text

    oci_tar = tmp_path / "bb.tar"
    docker_tar = tmp_path / "bb-docker.tar"
    assert etage(root, "save", "-o", str(oci_tar), "localhost/busybox:1").returncode == 0
    assert (
        etage(
            root, "save", "--format", "docker", "-o", str(docker_tar), "localhost/busybox:1"
        ).returncode
        == 0
    )
    other = tmp_path / "other"
    loaded = etage(other, "load", "-i", str(docker_tar))
    assert loaded.returncode == 0 and "Loaded localhost/busybox:1" in loaded.stdout
    loaded = etage(other, "load", "-i", str(oci_tar))
    assert "Loaded localhost/busybox:1" in loaded.stdout

    df = json.loads(etage(root, "df", "--format", "json").stdout)
    assert df["refs"] == 2 and df["unreachable"] == 0
    removed = etage(root, "rmi", "example.com/team/bb:2")
    assert "Untagged example.com/team/bb:2" in removed.stdout and "Freed 0 B" in removed.stdout
    removed = etage(root, "rmi", "localhost/busybox:1")
    assert removed.returncode == 0 and "Freed 0 B" not in removed.stdout
    assert json.loads(etage(root, "df", "--format", "json").stdout)["blobs"] == 0

    pulled = etage(root, "pull", f"{registry.host}/cli/bb:1")
    assert pulled.returncode == 0, pulled.stderr
    assert f"digest {digest}" in pulled.stdout
    verified = etage(root, "verify")
    assert verified.returncode == 0 and "consistent" in verified.stdout


def test_errors_are_clear(tmp_path: Path, registry: RegistryServer) -> None:
    root = tmp_path / "root"
    out = etage(root, "pull", f"{registry.host}/nope/missing:1")
    assert out.returncode != 0 and "not found" in out.stderr and "Traceback" not in out.stderr
    out = etage(root, "inspect", "Bad:Ref")
    assert out.returncode == 2 and "must be lowercase" in out.stderr
    out = etage(root, "push", "localhost/absent:1")
    assert out.returncode == 1 and "is not in the store" in out.stderr
    out = etage(root, "load", "-i", str(tmp_path / "nothing.tar"))
    assert out.returncode == 2 and "no such file" in out.stderr
    (tmp_path / "garbage.tar").write_bytes(b"not a tar at all" * 100)
    out = etage(root, "load", "-i", str(tmp_path / "garbage.tar"))
    assert out.returncode != 0 and "Traceback" not in out.stderr


def _partial_bytes(root: Path) -> int:
    """Bytes in the resumable downloads (`*.partial`) of the store at `root`."""
    total = 0
    for p in (root / "ingest").glob("*.partial") if (root / "ingest").is_dir() else ():
        with contextlib.suppress(OSError):  # the pull renamed it into blobs/
            total += p.stat().st_size
    return total


def test_kill_9_during_pulls_then_the_next_pull_completes(
    tmp_path: Path, registry: RegistryServer
) -> None:
    from tests.registry_fixtures import noise

    big = make_image(files={"data/blob.bin": noise(64 * 1024 * 1024, "kill9")}, extra_layers=2)
    push_with_skopeo(tmp_path, registry.host, "kill/big", "1", [big])
    ref = f"{registry.host}/kill/big:1"
    root = tmp_path / "root"
    interrupted = 0
    for _attempt in range(10):
        if interrupted >= 2:
            break
        if root.exists() and ContentStore(root).get_ref(ref) is not None:
            shutil.rmtree(root)  # that pull finished before the kill: start over
        proc = subprocess.Popen(
            [sys.executable, "-m", "etage", "--root", str(root), "pull", "-q", ref],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Kill once a blob download has grown (fixed delays missed it on a busy machine).
        before = _partial_bytes(root)
        deadline = time.monotonic() + 60
        while (
            proc.poll() is None and time.monotonic() < deadline and _partial_bytes(root) <= before
        ):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Whatever is published verifies; the ref is absent or complete.
        check = etage(root, "verify")
        assert check.returncode == 0, check.stdout
        interrupted += "interrupted downloads to resume" in check.stdout
    # The kills landed mid-download at least once (else this test proves nothing).
    assert interrupted >= 1
    done = etage(root, "pull", ref)
    assert done.returncode == 0, done.stderr
    check = etage(root, "verify")
    assert check.returncode == 0 and "consistent" in check.stdout
    assert "interrupted downloads" not in check.stdout
    assert not list((root / "ingest").iterdir())
    store = ContentStore(root)
    layer = store.read(store.refs()[0].digest)  # the manifest
    assert json.loads(layer)["layers"][0]["digest"] == big.layers[0].digest
    assert (
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").encode()
        == big.manifest.data
    )


def test_push_in_docker_format(tmp_path: Path, registry: RegistryServer) -> None:
    root = tmp_path / "root"
    store = ContentStore(root)
    busybox_image(store, tmp_path, "localhost/busybox:1")
    store.close()
    out = etage(
        root, "push", "--format", "docker", "localhost/busybox:1", f"{registry.host}/fmt/bb:d"
    )
    assert out.returncode == 0, out.stderr
    raw = json.loads(
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/fmt/bb:d")
    )
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert raw["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    other = tmp_path / "other"
    assert etage(other, "pull", f"{registry.host}/fmt/bb:d").returncode == 0
    assert etage(other, "verify").returncode == 0


def test_unpack_extracts_the_filesystem(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = ContentStore(root)
    busybox_image(store, tmp_path, "localhost/busybox:1")
    store.close()
    out = etage(root, "unpack", "localhost/busybox:1", str(tmp_path / "rootfs"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "rootfs" / "bin" / "busybox").read_bytes() == Path(
        "/bin/busybox"
    ).read_bytes()
    assert os.readlink(tmp_path / "rootfs" / "bin" / "sh") == "busybox"


def test_unpack_of_a_malicious_image_writes_nothing_outside(tmp_path: Path) -> None:
    import hashlib
    import io
    import tarfile

    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    (sentinel / "victim").write_text("untouched")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        evil = tarfile.TarInfo("../../outside/victim")
        add(evil, b"pwned")
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, str(sentinel)
        add(link)
        add(tarfile.TarInfo("escape/victim"), b"pwned through a symlink")
        hard = tarfile.TarInfo("hard")
        hard.type, hard.linkname = tarfile.LNKTYPE, "../../outside/victim"
        add(hard)
        add(tarfile.TarInfo("/abs/victim"), b"absolute")
    layer = buf.getvalue()
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}
    ).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": diff, "size": len(layer)}],
    }).encode()  # fmt: skip
    layout = tmp_path / "evil-layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for data in (layer, config, manifest):
        (layout / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
        "size": len(manifest), "annotations": {"io.containerd.image.name": "localhost/evil:1", "org.opencontainers.image.ref.name": "1"}}]}))  # fmt: skip
    root = tmp_path / "root"
    assert etage(root, "load", "-i", str(layout)).returncode == 0
    target = tmp_path / "a" / "b" / "rootfs"
    out = etage(root, "unpack", "localhost/evil:1", str(target))
    assert "Traceback" not in out.stderr
    assert (sentinel / "victim").read_text() == "untouched"
    assert sorted(p.name for p in sentinel.iterdir()) == ["victim"]
    assert not Path("/abs/victim").exists()
    # Contained, as containerd does: `..` and absolute paths land inside the root, the
    # symlink is resolved inside it, the hardlink points at the contained file.
    assert out.returncode == 0, out.stderr
    assert (target / "outside" / "victim").read_bytes() == b"pwned"
    assert (target / "abs" / "victim").read_bytes() == b"absolute"
    assert os.readlink(target / "escape") == str(sentinel)
