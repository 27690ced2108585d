"""Pushing: blob existence, uploads (mount, monolithic, chunked) and manifests.

A blob is first looked for (HEAD). With `mount_from` the registry is asked to mount
it from another repository of the same registry (201: done; 202: it could not, and
the answer is an upload session to use). Small blobs go in one PUT streamed from
`open_blob()`; large ones (or with `chunk_size`) in PATCHes with `Content-Range`,
following the server's `Location` and `Range`, then a PUT with `?digest=`. A failed
chunk resumes from where the server says it is; any other failure restarts the
upload session, re-reading the content from `open_blob()`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO

import httpx

from etage.oci.digest import Digest
from etage.oci.model import Descriptor
from etage.registry.errors import RegistryError
from etage.registry.transport import (
    RETRY_STATUSES,
    Op,
    RepoLike,
    Repository,
    TransientError,
    Transport,
)

CHUNK = 1 << 20
LARGE_BLOB = 64 << 20  # blobs above this are uploaded in chunks
DEFAULT_CHUNK_SIZE = 16 << 20

# Called with the number of bytes just transferred (negative when a restart takes back
# what was counted before).
Progress = Callable[[int], None]
OpenBlob = Callable[[], AbstractContextManager[BinaryIO]]


class Meter:
    """Turns positions into the deltas a Progress wants."""

    def __init__(self, progress: Progress | None, start: int = 0) -> None:
        self.progress = progress
        self.position = start

    def to(self, position: int) -> None:
        if self.progress is not None and position != self.position:
            self.progress(position - self.position)
        self.position = position


class Uploads:
    """The push half of RegistryClient (which provides `transport` and `retries`)."""

    transport: Transport
    retries: int

    def _sleep(self, attempt: int) -> None:
        time.sleep(self.transport.delay(attempt))

    def blob_exists(
        self,
        repo: RepoLike,
        digest: Digest,
        *,
        action: str = "pull",
        scopes: list[str] | None = None,
    ) -> bool:
        """HEAD the blob (`scopes`: the token to use, when part of a larger operation)."""
        repo = Repository.parse(repo)
        op = Op(repo.registry, repo.path, action, "blob", str(digest))
        url = self.transport.repo_url(repo, f"blobs/{digest}")
        response = self.transport.request(op, "HEAD", url, scopes=scopes or repo.scopes(action))
        response.close()
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise self.transport.error(op, response)

    def push_blob(
        self,
        repo: RepoLike,
        desc: Descriptor,
        open_blob: OpenBlob,
        *,
        mount_from: str | Repository | None = None,
        chunk_size: int | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Make `desc` present in `repo`: returns "exists", "mounted" or "uploaded".

        `mount_from` is a repository path in the same registry (or a Repository);
        `open_blob()` opens the content afresh each time an upload (re)starts.
        """
        repo = Repository.parse(repo)
        source = _mount_source(repo, mount_from)
        scopes = repo.scopes("push")
        if source is not None:
            scopes.append(f"repository:{source.path}:pull")
        if self.blob_exists(repo, desc.digest, action="push", scopes=scopes):
            return "exists"
        if chunk_size is None and desc.size > LARGE_BLOB:
            chunk_size = DEFAULT_CHUNK_SIZE
        meter = Meter(progress)
        attempt = 0
        while True:
            try:
                return self._push_once(repo, desc, open_blob, source, chunk_size, meter, scopes)
            except TransientError:
                if attempt >= self.retries:
                    raise
                meter.to(0)
                self._sleep(attempt)
                attempt += 1

    def _push_once(  # noqa: PLR0917 - private, called from one place
        self,
        repo: Repository,
        desc: Descriptor,
        open_blob: OpenBlob,
        source: Repository | None,
        chunk_size: int | None,
        meter: Meter,
        scopes: list[str],
    ) -> str:
        op = Op(repo.registry, repo.path, "push", "upload", str(desc.digest))
        params = {"mount": str(desc.digest), "from": source.path} if source is not None else None
        url = self.transport.repo_url(repo, "blobs/uploads/")
        response = self.transport.request(
            op, "POST", url, scopes=scopes, params=params, content=b""
        )
        response.close()
        if response.status_code == 201 and source is not None:
            return "mounted"
        if response.status_code != 202 or "location" not in response.headers:
            raise self.transport.error(op, response)
        location = response.request.url.join(response.headers["location"])
        content: bytes | Callable[[], Iterator[bytes]]
        if chunk_size:
            location = self._patch_chunks(op, location, desc, open_blob, chunk_size, meter, scopes)
            content, headers = b"", {"Content-Length": "0"}
        else:

            def content() -> Iterator[bytes]:
                meter.to(0)
                with open_blob() as f:
                    while chunk := f.read(CHUNK):
                        meter.to(meter.position + len(chunk))
                        yield chunk

            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)}
        url = location.copy_merge_params({"digest": str(desc.digest)})
        response = self.transport.request(
            op, "PUT", url, scopes=scopes, headers=headers, content=content
        )
        response.read()
        if response.status_code not in (201, 204):
            raise self.transport.error(op, response)
        return "uploaded"

    def _patch_chunks(  # noqa: PLR0917 - private, called from one place
        self,
        op: Op,
        location: httpx.URL,
        desc: Descriptor,
        open_blob: OpenBlob,
        chunk_size: int,
        meter: Meter,
        scopes: list[str],
    ) -> httpx.URL:
        offset = 0
        failures = 0
        with open_blob() as f:
            while offset < desc.size:
                f.seek(offset)
                data = f.read(min(chunk_size, desc.size - offset))
                if not data:
                    raise RegistryError(f"blob {desc.digest} is shorter than its {desc.size} bytes")
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(data) - 1}",
                    "Content-Length": str(len(data)),
                }
                response: httpx.Response | None
                try:
                    response = self.transport.request(
                        op, "PATCH", location, scopes=scopes, headers=headers, content=data
                    )
                    response.read()
                except TransientError:
                    response = None
                if response is not None and response.status_code == 202:
                    if "location" in response.headers:
                        location = response.request.url.join(response.headers["location"])
                    end = range_end(response.headers.get("range", ""))
                    offset = end + 1 if end is not None and end > 0 else offset + len(data)
                    meter.to(offset)
                    continue
                if response is not None and response.status_code not in RETRY_STATUSES | {416}:
                    raise self.transport.error(op, response)
                failures += 1
                if failures > self.retries:
                    raise TransientError(
                        f"chunked upload of {desc.digest} to {op.registry} kept failing"
                    )
                self._sleep(failures - 1)
                offset, location = self._upload_status(op, location, scopes)
                meter.to(offset)
        return location

    def _upload_status(
        self, op: Op, location: httpx.URL, scopes: list[str]
    ) -> tuple[int, httpx.URL]:
        """Where the server is in an upload (GET on the upload URL answers 204 + Range)."""
        response = self.transport.request(op, "GET", location, scopes=scopes)
        response.read()
        if response.status_code != 204:
            raise TransientError(f"upload session at {op.registry} lost ({response.status_code})")
        end = range_end(response.headers.get("range", ""))
        if end is None or end == 0:
            # "0-0" means 0 or 1 bytes (distribution's way): unsure, so start again.
            raise TransientError(f"upload session at {op.registry} cannot be resumed")
        if "location" in response.headers:
            location = response.request.url.join(response.headers["location"])
        return end + 1, location

    def put_manifest(
        self, repo: RepoLike, tag_or_digest: str, data: bytes, media_type: str
    ) -> Digest:
        """Store a manifest or index under a tag (or its digest); returns its digest."""
        repo = Repository.parse(repo)
        digest = Digest.of(data)
        if ":" in tag_or_digest and Digest.parse(tag_or_digest) != digest:
            raise RegistryError(f"manifest bytes have digest {digest}, not {tag_or_digest}")
        op = Op(repo.registry, repo.path, "push", "manifest", tag_or_digest)
        url = self.transport.repo_url(repo, f"manifests/{tag_or_digest}")
        attempt = 0
        while True:
            try:
                response = self.transport.request(
                    op,
                    "PUT",
                    url,
                    scopes=repo.scopes("push"),
                    headers={"Content-Type": media_type},
                    content=data,
                )
                response.read()
            except TransientError:
                if attempt >= self.retries:
                    raise
                response = None
            if response is not None and (
                response.status_code not in RETRY_STATUSES or attempt >= self.retries
            ):
                break
            self._sleep(attempt)  # the same bytes again: PUT of a manifest is idempotent
            attempt += 1
        if response.status_code not in (200, 201, 202, 204):
            raise self.transport.error(op, response)
        header = response.headers.get("docker-content-digest", "")
        if header and header != str(digest):
            raise RegistryError(
                f"{repo} stored the manifest as {header}, but its bytes hash to {digest}"
            )
        return digest


def _mount_source(repo: Repository, mount_from: str | Repository | None) -> Repository | None:
    if mount_from is None:
        return None
    source = Repository(repo.registry, mount_from) if isinstance(mount_from, str) else mount_from
    if source.registry != repo.registry or source.path == repo.path:
        return None
    return source


def range_end(value: str) -> int | None:
    """The last byte of `0-1023` (upload Range headers)."""
    m = re.match(r"\s*(?:bytes[ =])?\s*\d+-(\d+)", value)
    return int(m.group(1)) if m else None
