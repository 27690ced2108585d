"""Pulling from a real distribution server (images pushed there by skopeo) and from fakes."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from etage.oci import mediatypes as mt
from etage.oci.digest import Digest
from etage.oci.store import ContentStore, DigestMismatch
from etage.platforms import Platform
from etage.reference import parse_reference
from etage.registry import RegistryClient, RegistryError, StaticCredentials
from tests.registry_fixtures import (
    FakeHandler,
    RegistryServer,
    descriptor,
    descriptor_for,
    fake_handler,
    make_image,
    noise,
    push_image,
    push_with_skopeo,
    record,
    serve,
)


def _blobs_in(store: ContentStore) -> list[Digest]:
    return [d for d, _ in store.blobs()]


def test_resolve_tag_and_pull_what_skopeo_pushed(
    registry: RegistryServer,
    client: RegistryClient,
    store: ContentStore,
    tmp_path: Path,
    unique: str,
) -> None:
    image = make_image({"etc/os-release": b"ID=etage-test\n"}, extra_layers=1)
    push_with_skopeo(tmp_path, registry.host, unique, "v1", [image])
    seen = record(client)

    resolved = client.resolve(f"{registry.host}/{unique}:v1")

    assert resolved.data == image.manifest.data
    assert str(resolved.descriptor.digest) == image.manifest.digest
    assert resolved.descriptor.size == image.manifest.size
    assert resolved.descriptor.media_type == mt.OCI_MANIFEST
    assert resolved.manifest == resolved.descriptor and not resolved.is_index
    top, data = resolved  # it unpacks as (descriptor, bytes)
    assert (top, data) == (resolved.descriptor, resolved.data)
    # HEAD for the descriptor, then GET by digest.
    assert [(s.method, s.url.rsplit("/", 1)[1]) for s in seen] == [
        ("HEAD", "v1"),
        ("GET", image.manifest.digest),
    ]
    assert (
        client.get_blob_bytes(f"{registry.host}/{unique}", descriptor(image.config))
        == image.config.data
    )
    for layer in image.layers:
        assert client.download(
            f"{registry.host}/{unique}", descriptor(layer), store
        ) == Digest.parse(layer.digest)
        assert store.read(Digest.parse(layer.digest)) == layer.data


def test_resolve_by_digest(
    registry: RegistryServer, client: RegistryClient, tmp_path: Path, unique: str
) -> None:
    image = make_image({"by/digest": b"1"})
    push_with_skopeo(tmp_path, registry.host, unique, "v1", [image])
    seen = record(client)
    resolved = client.resolve(f"{registry.host}/{unique}@{image.manifest.digest}")
    assert resolved.data == image.manifest.data and resolved.reference == image.manifest.digest
    assert [s.method for s in seen] == ["GET"]  # a digest needs no HEAD


def test_index_resolves_to_the_platform_manifest(
    registry: RegistryServer, client: RegistryClient, tmp_path: Path, unique: str
) -> None:
    amd64, arm64 = make_image(arch="amd64"), make_image(arch="arm64")
    index = push_with_skopeo(tmp_path, registry.host, unique, "multi", [amd64, arm64])

    whole = client.resolve(f"{registry.host}/{unique}:multi")
    assert (
        whole.is_index and whole.data == index.data and str(whole.descriptor.digest) == index.digest
    )
    assert whole.manifest == whole.descriptor

    arm = client.resolve(
        parse_reference(f"{registry.host}/{unique}:multi"), Platform("linux", "arm64")
    )
    assert str(arm.descriptor.digest) == index.digest
    assert str(arm.manifest.digest) == arm64.manifest.digest
    assert arm.manifest_data == arm64.manifest.data
    assert arm.manifest.platform is not None and arm.manifest.platform.architecture == "arm64"
    # The index entry as a descriptor, and a Reference as the repository.
    ref = parse_reference(f"{registry.host}/{unique}:multi")
    assert client.get_manifest(ref, arm.manifest) == arm64.manifest.data

    with pytest.raises(
        RegistryError,
        match=r"no image for platform linux/s390x \(it has: linux/amd64, linux/arm64\)",
    ):
        client.resolve(f"{registry.host}/{unique}:multi", Platform("linux", "s390x"))


def test_not_found_messages(registry: RegistryServer, client: RegistryClient, unique: str) -> None:
    with pytest.raises(
        RegistryError, match=rf"tag nope not found in repository {registry.host}/{unique}"
    ) as e:
        client.resolve(f"{registry.host}/{unique}:nope")
    assert e.value.status == 404
    missing = Digest.of(b"no such blob")
    with pytest.raises(
        RegistryError, match=rf"blob {missing} not found in repository .*BLOB_UNKNOWN"
    ):
        client.get_blob_bytes(f"{registry.host}/{unique}", descriptor_for(b"no such blob"))
    with pytest.raises(RegistryError, match=rf"manifest {missing} not found in repository"):
        client.get_manifest(f"{registry.host}/{unique}", str(missing))  # by digest


def test_tampered_blob_is_refused_and_nothing_is_stored(
    registry: RegistryServer, client: RegistryClient, store: ContentStore, unique: str
) -> None:
    image = make_image({"tamper/me": b"original content " * 100})
    repo = f"{registry.host}/{unique}"
    push_image(client, repo, "v1", image)
    layer = image.layers[0]
    data_file = registry.blob_data(layer.digest)
    data_file.write_bytes(bytes(b ^ 0xFF for b in layer.data))  # same size, other bytes

    with pytest.raises(
        DigestMismatch, match=rf"from {repo}: digest mismatch: expected {layer.digest}"
    ) as e:
        client.download(repo, descriptor(layer), store)
    assert "nothing was stored" in (e.value.hint or "")
    assert _blobs_in(store) == []
    with pytest.raises(DigestMismatch):
        client.get_blob_bytes(repo, descriptor(layer))


def _manifest_server(body: bytes, *, header_digest: str | None) -> type[FakeHandler]:
    def answer(h: FakeHandler) -> None:
        headers = {"Content-Type": mt.OCI_MANIFEST}
        if header_digest:
            headers["Docker-Content-Digest"] = header_digest
        h.reply(200, body, headers)

    return fake_handler(answer)


def test_manifest_digest_is_verified(client: RegistryClient) -> None:
    good = make_image().manifest
    evil = make_image({"evil": b"1"}).manifest
    # Asked by digest, served other bytes.
    with serve(_manifest_server(evil.data, header_digest=good.digest)) as url:
        host = url.removeprefix("http://")
        with pytest.raises(DigestMismatch, match=f"expected {good.digest}, got {evil.digest}"):
            client.resolve(f"{host}/x/y@{good.digest}")
        # Asked by tag: the body must hash to the Docker-Content-Digest the server claims.
        with pytest.raises(DigestMismatch, match=f"expected {good.digest}"):
            client.get_manifest(f"{host}/x/y", "latest")
    # No Docker-Content-Digest at all: the digest is computed from the body.
    with serve(_manifest_server(good.data, header_digest=None)) as url:
        desc, data = client.fetch_manifest(f"{url.removeprefix('http://')}/x/y", "latest")
        assert (
            str(desc.digest) == good.digest
            and data == good.data
            and desc.media_type == mt.OCI_MANIFEST
        )


def test_resume_uses_range(
    registry: RegistryServer, client: RegistryClient, store: ContentStore, unique: str
) -> None:
    image = make_image({"big/file": noise(300_000, "resume")})
    repo = f"{registry.host}/{unique}"
    push_image(client, repo, "v1", image)
    layer = image.layers[0]
    half = layer.size // 2
    with store.ingest(Digest.parse(layer.digest), layer.size) as partial:
        partial.write(layer.data[:half])  # an interrupted download, left on disk
    seen = record(client)
    progress: list[int] = []
    with store.ingest(Digest.parse(layer.digest), layer.size) as ingest:
        assert ingest.offset == half
        client.fetch_blob(repo, descriptor(layer), ingest, progress.append)
        ingest.commit()
    gets = [s for s in seen if s.method == "GET"]
    assert gets[0].headers.get("range") == f"bytes={half}-" and gets[0].status == 206
    assert store.read(Digest.parse(layer.digest)) == layer.data
    assert sum(progress) == layer.size - half and all(n > 0 for n in progress)  # only what came


def _blob_server(blob: bytes, *, honour_range: bool, cut_first: bool = False) -> type[FakeHandler]:
    state = {"calls": 0}

    def answer(h: FakeHandler) -> None:
        state["calls"] += 1
        rng = h.headers.get("Range")
        if rng and honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            h.reply(
                206, blob[start:], {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"}
            )
            return
        if cut_first and state["calls"] == 1:
            # Promise the whole blob, send half, hang up.
            h.send_response(200)
            h.send_header("Content-Length", str(len(blob)))
            h.end_headers()
            h.wfile.write(blob[: len(blob) // 2])
            h.wfile.flush()
            h.close_connection = True
            return
        h.reply(200, blob)

    return fake_handler(answer)


def test_server_ignoring_range_restarts_the_download(
    client: RegistryClient, store: ContentStore
) -> None:
    blob = hashlib.sha256(b"r").digest() * 5000
    desc = descriptor_for(blob)
    handler = _blob_server(blob, honour_range=False)
    progress: list[int] = []
    with serve(handler) as url, store.ingest(Digest.of(blob), len(blob)) as ingest:
        ingest.write(blob[:1000])
        client.fetch_blob(f"{url.removeprefix('http://')}/a/b", desc, ingest, progress.append)
        assert ingest.offset == len(blob)
        ingest.commit()
    assert handler.seen[0][2].get("Range") == "bytes=1000-"
    assert progress[0] == -1000 and sum(progress) == len(blob) - 1000  # the restart is taken back
    assert store.read(Digest.of(blob)) == blob


def test_connection_lost_mid_blob_resumes_with_range(
    client: RegistryClient, store: ContentStore
) -> None:
    blob = hashlib.sha256(b"cut").digest() * 20000
    handler = _blob_server(blob, honour_range=True, cut_first=True)
    with serve(handler) as url:
        client.download(f"{url.removeprefix('http://')}/a/b", descriptor_for(blob), store)
    assert store.read(Digest.of(blob)) == blob
    assert len(handler.seen) == 2
    assert handler.seen[1][2].get("Range", "").startswith("bytes=")


def test_a_download_that_keeps_failing_keeps_its_partial(store: ContentStore) -> None:
    blob = noise(200_000, "keeps failing")

    def answer(h: FakeHandler) -> None:  # always promises everything, sends a little
        start = int((h.headers.get("Range") or "bytes=0-").removeprefix("bytes=").split("-")[0])
        h.send_response(206 if start else 200)
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
        h.send_header("Content-Length", str(len(blob) - start))
        h.end_headers()
        h.wfile.write(blob[start : start + 10_000])
        h.wfile.flush()
        h.close_connection = True

    with (
        serve(fake_handler(answer)) as url,
        RegistryClient(credentials=StaticCredentials({}), retries=2, backoff=0.01) as c,
    ):
        with pytest.raises(
            RegistryError, match=r"download of sha256:\w+ from .* failed after 3 tries"
        ) as e:
            c.download(f"{url.removeprefix('http://')}/a/b", descriptor_for(blob), store)
        assert "resume" in (e.value.hint or "")
        with store.ingest(Digest.of(blob), len(blob)) as again:
            assert again.offset == 30_000  # three tries, 10 000 bytes each, all kept


def test_redirect_to_storage_does_not_leak_authorization(store: ContentStore) -> None:
    blob = b"stored elsewhere" * 100

    def storage(h: FakeHandler) -> None:
        h.reply(200, blob)

    storage_handler = fake_handler(storage)
    with serve(storage_handler) as storage_url:

        def registry_answer(h: FakeHandler) -> None:
            if h.headers.get("Authorization") is None:
                h.reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="fake"'})
            else:
                h.reply(307, b"", {"Location": f"{storage_url}/bucket/blob?signature=abc"})

        reg_handler = fake_handler(registry_answer)
        with serve(reg_handler) as reg_url:
            host = reg_url.removeprefix("http://")
            c = RegistryClient(credentials=StaticCredentials({host: ("u", "p")}), backoff=0.01)
            c.download(f"{host}/a/b", descriptor_for(blob), store)
            c.close()
    assert store.read(Digest.of(blob)) == blob
    assert reg_handler.seen[-1][2].get("Authorization", "").startswith("Basic ")
    assert storage_handler.seen and all("Authorization" not in s[2] for s in storage_handler.seen)


def test_parallel_fetches_share_one_client(
    registry: RegistryServer, client: RegistryClient, store: ContentStore, unique: str
) -> None:
    image = make_image({"p/0": b"zero"}, extra_layers=7)
    repo = f"{registry.host}/{unique}"
    push_image(client, repo, "v1", image)
    threads: set[int] = set()

    def pull(layer_index: int) -> Digest:
        threads.add(threading.get_ident())
        return client.download(repo, descriptor(image.layers[layer_index]), store)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(pull, range(len(image.layers))))
    assert [str(d) for d in got] == [layer.digest for layer in image.layers]
    assert all(store.verify_blob(d) for d in got)
    assert len(threads) > 1


def test_list_tags(registry: RegistryServer, client: RegistryClient, unique: str) -> None:
    image = make_image({"tags": b"t"})
    repo = f"{registry.host}/{unique}"
    push_image(client, repo, "a", image)
    for tag in ("b", "c"):
        client.put_manifest(repo, tag, image.manifest.data, image.manifest.media_type)
    assert sorted(client.list_tags(repo)) == ["a", "b", "c"]


def test_list_tags_follows_link_pagination(client: RegistryClient) -> None:
    # distribution 2.8 ignores ?n= for tags; registries that page answer like this.
    pages = {
        "/v2/a/b/tags/list?n=2": (["a", "b"], '</v2/a/b/tags/list?n=2&last=b>; rel="next"'),
        "/v2/a/b/tags/list?n=2&last=b": (["c", "d"], '</v2/a/b/tags/list?n=2&last=d>; rel="next"'),
        "/v2/a/b/tags/list?n=2&last=d": (["e"], None),
    }

    def answer(h: FakeHandler) -> None:
        tags, link = pages[h.path]
        headers = {"Content-Type": "application/json", **({"Link": link} if link else {})}
        h.reply(200, json.dumps({"name": "a/b", "tags": tags}).encode(), headers)

    handler = fake_handler(answer)
    with serve(handler) as url:
        assert client.list_tags(f"{url.removeprefix('http://')}/a/b", page_size=2) == [
            "a",
            "b",
            "c",
            "d",
            "e",
        ]
    assert len(handler.seen) == 3


def test_generic_content_type_uses_the_documents_media_type(client: RegistryClient) -> None:
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": []}
    ).encode()

    def answer(h: FakeHandler) -> None:
        h.reply(200, index, {"Content-Type": "application/json"})

    with serve(fake_handler(answer)) as url:
        desc, _ = client.fetch_manifest(f"{url.removeprefix('http://')}/a/b", "latest")
    assert desc.media_type == mt.DOCKER_MANIFEST_LIST
