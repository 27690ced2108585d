"""What etage writes, other implementations read with identical digests, and back:
skopeo (OCI layouts, docker archives, registries), umoci (OCI layouts), a real dockerd
(docker load + docker run) and a real registry server."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from etage import transfer
from etage.oci.digest import Digest
from etage.oci.model import Descriptor, parse_config
from etage.oci.store import ContentStore
from etage.oci.validate import validate_store
from etage.registry import RegistryClient, StaticCredentials
from tests.images.conftest import Docker
from tests.registry_fixtures import RegistryServer, make_image, push_with_skopeo, skopeo


def client() -> RegistryClient:
    return RegistryClient(credentials=StaticCredentials({}), backoff=0.01)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_oci_tar_reads_in_skopeo_with_identical_digests(
    store: ContentStore, busybox: Descriptor, tmp_path: Path
) -> None:
    out = tmp_path / "bb.tar"
    transfer.save(store, ["localhost/busybox:1"], out, fmt="oci")
    raw = skopeo("inspect", "--raw", f"oci-archive:{out}:1").encode()
    assert sha(raw) == str(busybox.digest)
    info = json.loads(skopeo("inspect", f"oci-archive:{out}:1"))
    image = transfer.resolve_local(store, "localhost/busybox:1")
    assert info["Layers"] == [str(d.digest) for d in image.manifest.layers]
    config = skopeo("inspect", "--config", "--raw", f"oci-archive:{out}:1").encode()
    assert sha(config) == str(image.manifest.config.digest)


def test_oci_dir_unpacks_with_umoci(
    store: ContentStore, busybox: Descriptor, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    transfer.save(store, ["localhost/busybox:1"], layout, fmt="oci", directory=True)
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:1", str(bundle)], check=True, capture_output=True
    )
    busybox_bin = bundle / "rootfs" / "bin" / "busybox"
    assert busybox_bin.read_bytes() == Path("/bin/busybox").read_bytes()
    assert (bundle / "rootfs" / "bin" / "sh").readlink() == Path("busybox")
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["sh"]


def test_docker_archive_loads_and_runs_in_dockerd(
    store: ContentStore, busybox: Descriptor, tmp_path: Path, dockerd: Docker
) -> None:
    out = tmp_path / "bb-docker.tar"
    transfer.save(store, ["localhost/busybox:1"], out, fmt="docker")
    image = transfer.resolve_local(store, "localhost/busybox:1")
    info = json.loads(skopeo("inspect", "--config", "--raw", f"docker-archive:{out}"))
    assert info["rootfs"]["diff_ids"] == [str(d) for d in image.config.diff_ids]
    loaded = dockerd.run("load", "-i", str(out))
    assert "localhost/busybox:1" in loaded
    assert dockerd.run(
        "image", "inspect", "--format", "{{.Id}}", "localhost/busybox:1"
    ).strip() == str(image.manifest.config.digest)
    hello = dockerd.run(
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/busybox:1",
        "sh",
        "-c",
        "echo hello from $(uname -s)",
    )
    assert hello.strip() == "hello from Linux"


def test_docker_save_archive_loads_into_etage(
    store: ContentStore, busybox: Descriptor, tmp_path: Path, dockerd: Docker
) -> None:
    out = tmp_path / "bb-docker.tar"
    transfer.save(store, ["localhost/busybox:1"], out, fmt="docker")
    dockerd.run("load", "-i", str(out))
    dockerd.run("tag", "localhost/busybox:1", "localhost/from-docker:2")
    saved = tmp_path / "docker-save.tar"
    dockerd.run("save", "-o", str(saved), "localhost/from-docker:2")
    other = ContentStore(tmp_path / "other")
    assert transfer.load(other, saved) == ["localhost/from-docker:2"]
    image = transfer.resolve_local(other, "localhost/from-docker:2")
    original = transfer.resolve_local(store, "localhost/busybox:1")
    assert image.config.diff_ids == original.config.diff_ids
    assert validate_store(other).ok


def test_skopeo_docker_archive_loads_into_etage(
    store: ContentStore, busybox: Descriptor, tmp_path: Path
) -> None:
    oci = tmp_path / "bb.tar"
    transfer.save(store, ["localhost/busybox:1"], oci)
    archive = tmp_path / "skopeo-docker.tar"
    skopeo("copy", f"oci-archive:{oci}:1", f"docker-archive:{archive}:example.com/bb:7")
    other = ContentStore(tmp_path / "other")
    assert transfer.load(other, archive) == ["example.com/bb:7"]
    loaded = transfer.resolve_local(other, "example.com/bb:7")
    assert (
        loaded.config.diff_ids
        == transfer.resolve_local(store, "localhost/busybox:1").config.diff_ids
    )
    # and the OCI tar etage wrote loads back too
    again = ContentStore(tmp_path / "again")
    assert transfer.load(again, oci) == ["localhost/busybox:1"]
    assert transfer.resolve_local(again, "localhost/busybox:1").descriptor.digest == busybox.digest


def test_push_then_skopeo_reads_identical_digests(
    store: ContentStore, busybox: Descriptor, registry: RegistryServer, tmp_path: Path
) -> None:
    dest = f"{registry.host}/etage/busybox:1"
    with client() as c:
        _ref, digest = transfer.push(store, c, "localhost/busybox:1", dest)
    assert digest == busybox.digest
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{dest}").encode()
    assert sha(raw) == str(busybox.digest)
    copy = tmp_path / "copy"
    skopeo("copy", "--src-tls-verify=false", f"docker://{dest}", f"oci:{copy}:x")
    ours = {str(d.digest) for d in transfer.resolve_local(store, "localhost/busybox:1").blobs}
    theirs = {"sha256:" + p.name for p in (copy / "blobs" / "sha256").iterdir()}
    assert ours | {str(busybox.digest)} == theirs


def test_pull_what_skopeo_pushed(
    store: ContentStore, registry: RegistryServer, tmp_path: Path
) -> None:
    images = [make_image(arch="amd64", extra_layers=2), make_image(arch="arm64", extra_layers=1)]
    top = push_with_skopeo(tmp_path, registry.host, "skopeo/multi", "v1", images)
    with client() as c:
        pulled = transfer.pull(store, c, f"{registry.host}/skopeo/multi:v1")
    assert str(pulled.descriptor.digest) == images[0].manifest.digest
    assert (
        str(pulled.top.digest) == images[0].manifest.digest
    )  # the ref names the platform's manifest
    assert store.has(Digest.parse(top.digest))  # the index itself was stored too
    assert [str(d.digest) for d in pulled.manifest.layers] == [b.digest for b in images[0].layers]
    assert validate_store(store).ok
    from etage.platforms import Platform

    with client() as c:
        arm = transfer.pull(
            store, c, f"{registry.host}/skopeo/multi:v1", platform=Platform.parse("linux/arm64")
        )
    assert str(arm.descriptor.digest) == images[1].manifest.digest
    assert parse_config(arm.config_bytes).architecture == "arm64"


def test_pull_push_round_trip_keeps_digests(
    store: ContentStore, busybox: Descriptor, registry: RegistryServer, tmp_path: Path
) -> None:
    with client() as c:
        transfer.push(store, c, "localhost/busybox:1", f"{registry.host}/rt/busybox:a")
        other = ContentStore(tmp_path / "other")
        pulled = transfer.pull(other, c, f"{registry.host}/rt/busybox:a")
        assert pulled.descriptor.digest == busybox.digest
        transfer.push(other, c, f"{registry.host}/rt/busybox:a", f"{registry.host}/rt2/busybox:b")
    raw = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/rt2/busybox:b"
    ).encode()
    assert sha(raw) == str(busybox.digest)
