"""RegistryClient: the OCI distribution API for pulling and pushing images.

Pull: `resolve` a tag or digest to the top descriptor and bytes (HEAD for the
descriptor, then GET by digest, always verified) and, given a platform, the image
manifest an index names for it; `get_manifest`, `get_blob_bytes` for configs;
`fetch_blob` streams a layer into the store's ingest (resuming with Range, restarting
when the server cannot); `list_tags` follows Link pagination. Push: see upload.py.
Thread-safe: callers fetch and push blobs from several threads with one client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import closing
from typing import Protocol

import httpx

from etage.oci import mediatypes as mt
from etage.oci.digest import Digest, DigestError
from etage.oci.model import Descriptor, Index, ModelError, parse_document, select_platform
from etage.oci.store import ContentStore, DigestMismatch
from etage.platforms import Platform
from etage.reference import Reference, parse_reference
from etage.registry.credentials import CredentialProvider, DockerConfigCredentials
from etage.registry.errors import RegistryError
from etage.registry.transport import Op, RepoLike, Repository, TransientError, Transport
from etage.registry.upload import Meter, OpenBlob, Progress, Uploads
from etage.version import __version__

__all__ = ["BlobSink", "OpenBlob", "Progress", "RegistryClient", "Repository", "Resolved"]

MAX_MANIFEST = 16 << 20
_GENERIC_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})


class BlobSink(Protocol):
    """Where a blob is streamed to (the store's `Ingest`)."""

    @property
    def offset(self) -> int: ...

    def write(self, data: bytes) -> int: ...

    def restart(self) -> None: ...


class Resolved(tuple[Descriptor, bytes]):
    """`(descriptor, data)` of what a reference names, plus the manifest for a platform.

    Unpacks as the pair; `manifest`/`manifest_data` are the image manifest chosen for
    the platform asked (the same as the pair when there is no index or no platform).
    """

    repository: Repository
    reference: str  # the tag or digest asked for
    manifest: Descriptor
    manifest_data: bytes

    def __new__(
        cls,
        repository: Repository,
        reference: str,
        pair: tuple[Descriptor, bytes],
        manifest: tuple[Descriptor, bytes] | None = None,
    ) -> Resolved:
        self = super().__new__(cls, pair)
        self.repository, self.reference = repository, reference
        self.manifest, self.manifest_data = manifest or pair
        return self

    @property
    def descriptor(self) -> Descriptor:
        return self[0]

    @property
    def data(self) -> bytes:
        return self[1]

    @property
    def is_index(self) -> bool:
        return self[0].media_type in mt.INDEXES


def _mismatch(what: str, where: object, expected: object, got: object) -> DigestMismatch:
    return DigestMismatch(
        f"digest mismatch for {what} from {where}: expected {expected}, got {got}",
        hint="the registry served different content than was asked for; nothing was stored",
    )


class RegistryClient(Uploads):
    def __init__(
        self,
        *,
        insecure_registries: Iterable[str] = (),
        credentials: CredentialProvider | None = None,
        retries: int = 4,
        timeout: float = 60.0,
        user_agent: str | None = None,
        backoff: float = 0.5,
    ) -> None:
        """`credentials` default to the docker config; `insecure_registries` use plain http."""
        self.retries = retries
        self.transport = Transport(
            credentials=credentials if credentials is not None else DockerConfigCredentials(),
            insecure_registries=insecure_registries,
            retries=retries,
            timeout=timeout,
            user_agent=user_agent or f"etage/{__version__}",
            backoff=backoff,
        )

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifests ------------------------------------------------------------------------

    def resolve(self, ref: str | Reference, platform: Platform | None = None) -> Resolved:
        """What a reference names; with `platform`, also the manifest an index has for it."""
        if not isinstance(ref, Reference):
            ref = parse_reference(ref)
        repo = Repository(ref.domain, ref.path)
        reference = ref.digest or ref.tag or "latest"
        head = None if ":" in reference else self.head_manifest(repo, reference)
        desc, data = self.fetch_manifest(repo, str(head.digest) if head else reference)
        if head is not None and desc.size != head.size:
            raise _mismatch(
                f"manifest {reference}", repo, f"{head.size} bytes", f"{desc.size} bytes"
            )
        manifest, manifest_data = desc, data
        for _ in range(4):  # an index may name an index
            if platform is None or manifest.media_type not in mt.INDEXES:
                break
            try:
                index = parse_document(manifest_data, manifest.media_type)
            except ModelError as exc:
                raise RegistryError(f"{repo}:{reference}: invalid index: {exc}") from None
            assert isinstance(index, Index)
            chosen = select_platform(index, platform)
            if chosen is None:
                have = ", ".join(str(d.platform) for d in index.manifests if d.platform) or "none"
                raise RegistryError(
                    f"{repo}:{reference} has no image for platform {platform} (it has: {have})",
                    hint="choose one of its platforms with --platform",
                )
            manifest_data = self.get_manifest(repo, chosen)
            manifest = chosen
        return Resolved(repo, reference, (desc, data), (manifest, manifest_data))

    def head_manifest(self, repo: RepoLike, reference: str) -> Descriptor | None:
        """The descriptor from a HEAD, or None when the registry does not say enough."""
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, "pull", "manifest", reference)
        url = self.transport.repo_url(repo, f"manifests/{reference}")
        headers = {"Accept": mt.ACCEPT}
        response = self.transport.request(
            op, "HEAD", url, scopes=repo.scopes("pull"), headers=headers
        )
        response.close()
        if response.status_code in (401, 403, 404):
            raise self.transport.error(op, response)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if response.status_code != 200 or media_type in _GENERIC_TYPES:
            return None
        try:
            digest = Digest.parse(response.headers.get("docker-content-digest", ""))
            size = int(response.headers.get("content-length", ""))
        except (DigestError, ValueError):
            return None
        return Descriptor(media_type, digest, size)

    def get_manifest(self, repo: RepoLike, reference: str | Descriptor) -> bytes:
        """The bytes of a manifest or index, by tag, digest or descriptor, verified."""
        if isinstance(reference, Descriptor):
            desc, data = self.fetch_manifest(repo, str(reference.digest))
            if desc.size != reference.size:
                what = f"manifest {reference.digest}"
                raise _mismatch(
                    what, Repository.parse(repo), f"{reference.size} bytes", f"{desc.size} bytes"
                )
            return data
        return self.fetch_manifest(repo, reference)[1]

    def fetch_manifest(self, repo: RepoLike, reference: str) -> tuple[Descriptor, bytes]:
        """A manifest or index by tag or digest, verified, with its descriptor."""
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, "pull", "manifest", reference)
        url = self.transport.repo_url(repo, f"manifests/{reference}")
        headers = {"Accept": mt.ACCEPT}
        response = self.transport.request(
            op, "GET", url, scopes=repo.scopes("pull"), headers=headers, stream=True
        )
        with closing(response):
            if response.status_code != 200:
                raise self.transport.error(op, response)
            data = _read_limited(response, MAX_MANIFEST, f"manifest {reference} from {repo}")
            header = response.headers.get("docker-content-digest", "")
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
        expected = Digest.parse(reference) if ":" in reference else None
        if expected is None and header:
            try:
                expected = Digest.parse(header)
            except DigestError:
                expected = None
        h = (expected or Digest("sha256", "")).hasher()
        h.update(data)
        computed = Digest(h.name, h.hexdigest())
        if expected is not None and computed != expected:
            raise _mismatch(f"manifest {reference}", repo, expected, computed)
        try:
            document = parse_document(data, "" if content_type in _GENERIC_TYPES else content_type)
        except ModelError as exc:
            raise RegistryError(f"{repo}@{computed}: not a usable manifest: {exc}") from None
        return Descriptor(document.media_type, computed, len(data)), data

    def list_tags(self, repo: RepoLike, page_size: int | None = None) -> list[str]:
        """Every tag of a repository, following Link pagination."""
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, "pull", "tags")
        url: httpx.URL | None = self.transport.repo_url(repo, "tags/list")
        if page_size and url is not None:
            url = url.copy_merge_params({"n": str(page_size)})
        tags: list[str] = []
        for _ in range(100_000):
            if url is None:
                break
            response = self.transport.request(op, "GET", url, scopes=repo.scopes("pull"))
            if response.status_code != 200:
                raise self.transport.error(op, response)
            try:
                found = response.json().get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{repo}: the tag list is not JSON") from None
            tags.extend(t for t in found if isinstance(t, str))
            link = _next_link(response.headers.get("link", ""))
            url = response.request.url.join(link) if link else None
        return tags

    # -- blobs ----------------------------------------------------------------------------

    def _blob_request(
        self, op: Op, repo: Repository, desc: Descriptor, start: int
    ) -> httpx.Response:
        headers = {"Accept-Encoding": "identity"}  # Range counts stored bytes
        if start > 0:
            headers["Range"] = f"bytes={start}-"
        url = self.transport.repo_url(repo, f"blobs/{desc.digest}")
        return self.transport.request(
            op, "GET", url, scopes=repo.scopes("pull"), headers=headers, stream=True
        )

    def get_blob_bytes(self, repo: RepoLike, desc: Descriptor) -> bytes:
        """A small blob (a config) in memory, its digest and size verified."""
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, "pull", "blob", str(desc.digest))
        with closing(self._blob_request(op, repo, desc, 0)) as response:
            if response.status_code != 200:
                raise self.transport.error(op, response)
            data = _read_limited(response, desc.size, f"blob {desc.digest} from {repo}")
        h = desc.digest.hasher()
        h.update(data)
        if len(data) != desc.size or h.hexdigest() != desc.digest.hex:
            got = f"{Digest(desc.digest.algorithm, h.hexdigest())} ({len(data)} bytes)"
            raise _mismatch(f"blob {desc.digest}", repo, f"{desc.digest} ({desc.size} bytes)", got)
        return data

    def fetch_blob(
        self, repo: RepoLike, desc: Descriptor, sink: BlobSink, progress: Progress | None = None
    ) -> None:
        """Stream a blob into `sink` after the `sink.offset` bytes it has; the caller commits.

        `progress(n)` gets the bytes received (not those the sink had already; a
        negative n when the server cannot resume and the sink starts again).
        """
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, "pull", "blob", str(desc.digest))
        meter = Meter(progress, sink.offset)
        failures = 0
        use_range = True
        while True:
            if sink.offset > desc.size:
                sink.restart()
            if sink.offset == desc.size and desc.size > 0:
                return
            start = sink.offset if use_range else 0
            try:
                with closing(self._blob_request(op, repo, desc, start)) as response:
                    status = response.status_code
                    if status == 416 and start > 0:
                        sink.restart()  # what we have is not a prefix the server knows
                        meter.to(0)
                        continue
                    if (
                        status == 206
                        and _range_start(response.headers.get("content-range", "")) != start
                    ):
                        use_range = False
                        sink.restart()
                        meter.to(0)
                        continue
                    if status == 200 and sink.offset:
                        sink.restart()  # the server ignored Range: start over
                        meter.to(0)
                    elif status not in (200, 206):
                        raise self.transport.error(op, response)
                    for chunk in response.iter_bytes():  # as it arrives: keep what came
                        if sink.offset + len(chunk) > desc.size:
                            sink.restart()
                            raise _mismatch(
                                f"blob {desc.digest}", repo, f"{desc.size} bytes", "more"
                            )
                        sink.write(chunk)
                        meter.to(sink.offset)
                if sink.offset < desc.size:
                    raise httpx.ReadError(
                        f"the body ended after {sink.offset} of {desc.size} bytes"
                    )
                return
            except httpx.TransportError as exc:  # lost mid-body (the transport retried the rest)
                failures += 1
                if failures > self.retries:
                    raise TransientError(
                        f"download of {desc.digest} from {repo} failed"
                        f" after {failures} tries: {exc}",
                        hint="the partial download is kept; run again to resume it",
                        registry=repo.registry,
                        repository=repo.path,
                    ) from None
                self._sleep(failures - 1)

    def download(
        self,
        repo: RepoLike,
        desc: Descriptor,
        store: ContentStore,
        progress: Progress | None = None,
    ) -> Digest:
        """Fetch a blob into the store (resuming a partial one) and publish it verified."""
        if store.has(desc.digest):
            return desc.digest
        with store.ingest(desc.digest, desc.size) as ingest:
            if ingest.already_present:
                return desc.digest
            self.fetch_blob(repo, desc, ingest, progress)
            try:
                return ingest.commit()
            except DigestMismatch as exc:
                where = Repository.parse(repo)
                raise DigestMismatch(f"blob from {where}: {exc.message}", hint=exc.hint) from None


def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > limit:
            raise DigestMismatch(f"{what} is larger than {limit} bytes", hint="nothing was stored")
    return bytes(buf)


def _range_start(value: str) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", value)
    return int(m.group(1)) if m else None


def _next_link(value: str) -> str | None:
    for part in value.split(","):
        m = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None
