"""Pushing to a real distribution server, read back by skopeo with the same digests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etage.oci import mediatypes as mt
from etage.oci.digest import Digest
from etage.platforms import Platform
from etage.registry import RegistryClient, RegistryError
from etage.registry import upload as upload_module
from tests.registry_fixtures import (
    FakeHandler,
    RegistryServer,
    descriptor,
    descriptor_for,
    fake_handler,
    make_image,
    make_index,
    noise,
    opener,
    push_image,
    record,
    serve,
    skopeo,
)


def _layout_blobs(layout: Path) -> set[str]:
    return {"sha256:" + p.name for p in (layout / "blobs/sha256").iterdir()}


def test_monolithic_push_reads_back_identically_with_skopeo(
    registry: RegistryServer, client: RegistryClient, tmp_path: Path, unique: str
) -> None:
    image = make_image({"push/mono": b"monolithic"}, extra_layers=1)
    repo = f"{registry.host}/{unique}"
    seen = record(client)
    progress: list[int] = []
    results = [
        client.push_blob(repo, descriptor(b), opener(b.data), progress=progress.append)
        for b in image.blobs
    ]
    assert results == ["uploaded"] * len(image.blobs)
    assert not any(s.method == "PATCH" for s in seen)  # one PUT per blob
    digest = client.put_manifest(repo, "v1", image.manifest.data, image.manifest.media_type)
    assert str(digest) == image.manifest.digest
    assert sum(progress) == sum(b.size for b in image.blobs)

    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:v1")
    assert raw.encode() == image.manifest.data
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:v1"))
    assert inspected["Digest"] == image.manifest.digest
    assert inspected["Layers"] == [layer.digest for layer in image.layers]

    out = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"docker://{repo}:v1", f"oci:{out}:v1")
    assert _layout_blobs(out) == {image.manifest.digest, *(b.digest for b in image.blobs)}
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest.digest


def test_pushing_again_finds_the_blob(
    registry: RegistryServer, client: RegistryClient, unique: str
) -> None:
    image = make_image({"push/again": b"x"})
    repo = f"{registry.host}/{unique}"
    push_image(client, repo, "v1", image)
    seen = record(client)
    assert (
        client.push_blob(repo, descriptor(image.layers[0]), opener(image.layers[0].data))
        == "exists"
    )
    assert [s.method for s in seen] == ["HEAD"]
    assert client.blob_exists(repo, Digest.parse(image.layers[0].digest))
    assert not client.blob_exists(repo, Digest.of(b"absent"))


def test_chunked_push(
    registry: RegistryServer, client: RegistryClient, tmp_path: Path, unique: str
) -> None:
    image = make_image({"push/chunked": noise(20_000, "chunked")})
    repo = f"{registry.host}/{unique}"
    layer = image.layers[0]
    seen = record(client)
    progress: list[int] = []
    result = client.push_blob(
        repo, descriptor(layer), opener(layer.data), chunk_size=4096, progress=progress.append
    )
    assert result == "uploaded"
    patches = [s for s in seen if s.method == "PATCH"]
    assert len(patches) == -(-layer.size // 4096) > 3
    assert patches[1].headers["content-range"] == "4096-8191"
    assert all(s.status == 202 for s in patches)
    put = next(s for s in seen if s.method == "PUT")
    assert f"digest={layer.digest.replace(':', '%3A')}" in put.url and put.status == 201
    assert sum(progress) == layer.size and len(progress) == len(patches)
    push_image(client, repo, "v1", image)  # the config; the layer is there already
    assert client.get_blob_bytes(repo, descriptor(layer)) == layer.data
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{repo}:v1"))
    assert inspected["Layers"] == [layer.digest]


def test_large_blobs_are_chunked(
    registry: RegistryServer, client: RegistryClient, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_module, "LARGE_BLOB", 10_000)
    monkeypatch.setattr(upload_module, "DEFAULT_CHUNK_SIZE", 8192)
    image = make_image({"push/large": noise(20_000, "large")})
    layer = image.layers[0]
    assert layer.size > 10_000
    seen = record(client)
    client.push_blob(f"{registry.host}/{unique}", descriptor(layer), opener(layer.data))
    assert len([s for s in seen if s.method == "PATCH"]) == -(-layer.size // 8192)
    assert client.get_blob_bytes(f"{registry.host}/{unique}", descriptor(layer)) == layer.data


def test_cross_repository_mount(
    registry: RegistryServer, client: RegistryClient, unique: str
) -> None:
    image = make_image({"push/mount": b"shared base layer"})
    source, target = f"{registry.host}/{unique}-src", f"{registry.host}/{unique}-dst"
    push_image(client, source, "v1", image)
    seen = record(client)
    layer = image.layers[0]
    assert (
        client.push_blob(target, descriptor(layer), opener(layer.data), mount_from=f"{unique}-src")
        == "mounted"
    )
    post = next(s for s in seen if s.method == "POST")
    assert f"mount={layer.digest.replace(':', '%3A')}" in post.url and post.status == 201
    assert not any(s.method in ("PUT", "PATCH") for s in seen)
    assert client.blob_exists(target, Digest.parse(layer.digest))

    # A source without the blob: the registry answers 202 and the upload goes on.
    seen.clear()
    config = image.config
    result = client.push_blob(
        target, descriptor(config), opener(config.data), mount_from=f"{unique}-nowhere"
    )
    assert result == "uploaded"
    assert [s.status for s in seen if s.method in ("POST", "PUT")] == [202, 201]


def test_push_index_and_resolve_a_platform(
    registry: RegistryServer, client: RegistryClient, tmp_path: Path, unique: str
) -> None:
    amd64, arm64 = (
        make_image(arch="amd64", files={"i": b"amd"}),
        make_image(arch="arm64", files={"i": b"arm"}),
    )
    repo = f"{registry.host}/{unique}"
    for img in (amd64, arm64):
        push_image(client, repo, img.manifest.digest, img)
    index = make_index([amd64, arm64])
    assert str(client.put_manifest(repo, "multi", index.data, mt.OCI_INDEX)) == index.digest

    assert (
        skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:multi").encode()
        == index.data
    )
    out = tmp_path / "all"
    skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{repo}:multi", f"oci:{out}:multi")
    expected = {index.digest} | {
        b.digest for img in (amd64, arm64) for b in (img.manifest, *img.blobs)
    }
    assert _layout_blobs(out) == expected

    resolved = client.resolve(f"{repo}:multi", Platform("linux", "amd64"))
    assert str(resolved.manifest.digest) == amd64.manifest.digest


def test_manifest_with_missing_blob_is_refused(
    registry: RegistryServer, client: RegistryClient, unique: str
) -> None:
    image = make_image({"push/missing": b"m"})
    with pytest.raises(RegistryError, match=r"answered 400 .*MANIFEST_BLOB_UNKNOWN") as e:
        client.put_manifest(
            f"{registry.host}/{unique}", "v1", image.manifest.data, image.manifest.media_type
        )
    assert "MANIFEST_BLOB_UNKNOWN" in e.value.codes


def test_upload_restarts_after_a_server_error(client: RegistryClient) -> None:
    blob = b"upload me" * 1000
    state = {"puts": 0}
    received: list[bytes] = []

    def answer(h: FakeHandler) -> None:
        if h.command == "HEAD":
            h.reply(404)
        elif h.command == "POST":
            h.reply(202, b"", {"Location": f"/v2/a/b/blobs/uploads/session{len(h.seen)}?_state=s"})
        elif h.command == "PUT":
            state["puts"] += 1
            received.append(h.body)  # type: ignore[attr-defined]
            if state["puts"] == 1:
                h.reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
            else:
                h.reply(201, b"", {"Docker-Content-Digest": str(Digest.of(blob))})

    handler = fake_handler(answer)
    with serve(handler) as url:
        desc = descriptor_for(blob)
        assert (
            client.push_blob(f"{url.removeprefix('http://')}/a/b", desc, opener(blob)) == "uploaded"
        )
    methods = [(m, p.split("?")[0]) for m, p, _ in handler.seen]
    assert methods == [
        ("HEAD", f"/v2/a/b/blobs/{Digest.of(blob)}"),
        ("POST", "/v2/a/b/blobs/uploads/"),
        ("PUT", "/v2/a/b/blobs/uploads/session2"),
        ("POST", "/v2/a/b/blobs/uploads/"),  # a new session
        ("PUT", "/v2/a/b/blobs/uploads/session4"),
    ]
    assert received == [blob, blob]  # the body was re-read from open_blob()
    assert (
        "_state=s" in handler.seen[2][1]
        and f"digest={Digest.of(blob)}".replace(":", "%3A") in handler.seen[2][1]
    )


def test_chunked_upload_resumes_from_the_servers_offset(client: RegistryClient) -> None:
    blob = bytes(range(256)) * 40  # 10240 bytes, chunks of 4096
    got = bytearray()
    state = {"patches": 0}

    def answer(h: FakeHandler) -> None:
        if h.command == "HEAD":
            h.reply(404)
        elif h.command == "POST":
            h.reply(202, b"", {"Location": "/v2/a/b/blobs/uploads/u1"})
        elif h.command == "PATCH":
            state["patches"] += 1
            start = int(h.headers["Content-Range"].split("-")[0])
            if state["patches"] == 2:  # refuse once, as if the range did not line up
                h.reply(416, b"")
                return
            assert start == len(got)
            got.extend(h.body)  # type: ignore[attr-defined]
            h.reply(
                202, b"", {"Location": "/v2/a/b/blobs/uploads/u1", "Range": f"0-{len(got) - 1}"}
            )
        elif h.command == "GET":
            h.reply(
                204, b"", {"Location": "/v2/a/b/blobs/uploads/u1", "Range": f"0-{len(got) - 1}"}
            )
        elif h.command == "PUT":
            ok = bytes(got) == blob
            h.reply(201 if ok else 400, b"")

    handler = fake_handler(answer)
    with serve(handler) as url:
        desc = descriptor_for(blob)
        assert (
            client.push_blob(
                f"{url.removeprefix('http://')}/a/b", desc, opener(blob), chunk_size=4096
            )
            == "uploaded"
        )
    assert [m for m, _, _ in handler.seen] == [
        "HEAD",
        "POST",
        "PATCH",
        "PATCH",
        "GET",
        "PATCH",
        "PATCH",
        "PUT",
    ]
