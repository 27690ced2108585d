"""OCI image layouts (image-layout.md), as a directory or as a tar file.

    oci-layout          {"imageLayoutVersion": "1.0.0"}
    index.json          an image index; each entry may carry a name in the
                        org.opencontainers.image.ref.name annotation
    blobs/sha256/<hex>  content

Writing a directory is atomic per file (temp + rename); an existing layout is merged:
entries with the same name are replaced, as skopeo and buildx do. A tar layout is
written in a fixed order (oci-layout, blobs, index.json last) so the same images give
the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from etage.errors import EtageError
from etage.oci import mediatypes as mt
from etage.oci.canonical import canonical_json, load_json
from etage.oci.digest import Digest, HashingReader
from etage.oci.model import Descriptor, Index, ModelError

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
LAYOUT_FILE = canonical_json({"imageLayoutVersion": "1.0.0"})
CHUNK = 1 << 20


class LayoutError(EtageError):
    exit_status = 2


BlobOpener = Callable[[Descriptor], BinaryIO]


@dataclass(frozen=True, slots=True)
class LayoutImage:
    """An image to put in a layout: its top descriptor (manifest or index) and names."""

    descriptor: Descriptor
    ref_name: str | None = None  # the tag, e.g. "18" (annotation org.opencontainers.image.ref.name)
    full_name: str | None = None  # e.g. docker.io/library/node:18 (io.containerd.image.name)


def _annotated(image: LayoutImage) -> Descriptor:
    notes = dict(image.descriptor.annotations)
    if image.full_name:
        notes[CONTAINERD_NAME] = image.full_name
    if image.ref_name:
        notes[REF_NAME] = image.ref_name
    return replace(image.descriptor, annotations=tuple(sorted(notes.items())), platform=None)


# ---- reading -----------------------------------------------------------------------------


class LayoutReader:
    """Reads a layout directory or tar. Blobs are verified by the caller that stores them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if path.is_dir():
            if not (path / "oci-layout").is_file():
                raise LayoutError(f"{path} is not an OCI image layout (no oci-layout file)")
        elif path.is_file():
            try:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
            except tarfile.TarError as exc:
                raise LayoutError(f"{path} is not a tar file: {exc}") from None
            for member in self._tar.getmembers():
                self._members[os.path.normpath(member.name).lstrip("/")] = member
            if "oci-layout" not in self._members:
                raise LayoutError(f"{path} is not an OCI image layout tar (no oci-layout)")
        else:
            raise LayoutError(f"no OCI layout at {path}")
        try:
            self.index = Index.from_json(
                load_json(self.read_path("index.json"), "index.json"), mt.OCI_INDEX
            )
        except (ValueError, ModelError) as exc:
            raise LayoutError(f"{path}: invalid index.json: {exc}") from None

    def open_path(self, name: str) -> BinaryIO:
        if self._tar is None:
            try:
                return open(self.path / name, "rb")
            except FileNotFoundError:
                raise LayoutError(f"{self.path}: missing {name}") from None
        member = self._members.get(name)
        f = self._tar.extractfile(member) if member is not None else None
        if f is None:
            raise LayoutError(f"{self.path}: missing {name}")
        return f  # type: ignore[return-value]

    def read_path(self, name: str) -> bytes:
        with self.open_path(name) as f:
            return f.read()

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.open_path(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}")

    def read_blob(self, desc: Descriptor) -> bytes:
        data = self.read_path(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}")
        if Digest.of(data) != desc.digest:
            raise LayoutError(f"{self.path}: blob {desc.digest} does not match its digest")
        return data

    def names(self) -> list[str]:
        out = []
        for d in self.index.manifests:
            name = d.annotation(REF_NAME) or d.annotation(CONTAINERD_NAME)
            if name:
                out.append(name)
        return out

    def find(self, selector: str | None) -> Descriptor:
        """The entry for a tag (ref.name), a full name, a digest, or the only one."""
        entries = self.index.manifests
        if selector is None:
            if len(entries) == 1:
                return entries[0]
            names = ", ".join(self.names()) or f"{len(entries)} unnamed entries"
            raise LayoutError(
                f"{self.path} holds {len(entries)} images; say which one",
                hint=f"append :NAME or @sha256:DIGEST to the path (names: {names})",
            )
        for d in entries:
            if selector in (str(d.digest), d.annotation(REF_NAME), d.annotation(CONTAINERD_NAME)):
                return d
        raise LayoutError(
            f"{self.path}: no image named {selector!r}",
            hint="names in this layout: " + (", ".join(self.names()) or "none"),
        )

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def __enter__(self) -> LayoutReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- writing -----------------------------------------------------------------------------


def _merge(existing: Index | None, images: Iterable[LayoutImage]) -> Index:
    entries = list(existing.manifests) if existing else []
    for image in images:
        new = _annotated(image)
        name = new.annotation(REF_NAME)
        if name is not None:
            entries = [e for e in entries if e.annotation(REF_NAME) != name]
        entries = [
            e for e in entries if not (e.digest == new.digest and e.annotations == new.annotations)
        ]
        entries.append(new)
    return Index(manifests=tuple(entries), media_type=mt.OCI_INDEX)


def write_layout_dir(
    path: Path, images: list[LayoutImage], blobs: list[Descriptor], open_blob: BlobOpener
) -> Index:
    """Write (or merge into) a layout directory: blobs first, index.json last."""
    path.mkdir(parents=True, exist_ok=True)
    _atomic_write(path / "oci-layout", LAYOUT_FILE)
    blob_dir = path / "blobs"
    for desc in blobs:
        target = blob_dir / desc.digest.algorithm / desc.digest.hex
        if target.is_file() and target.stat().st_size == desc.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_blob(desc) as src:
            _atomic_copy(src, target, desc)
    existing: Index | None = None
    if (path / "index.json").is_file():
        try:
            existing = Index.from_json(load_json((path / "index.json").read_bytes(), "index.json"))
        except (ValueError, ModelError) as exc:
            raise LayoutError(f"{path}: existing index.json is invalid: {exc}") from None
    index = _merge(existing, images)
    _atomic_write(path / "index.json", index.to_bytes())
    return index


def write_layout_tar(
    out: BinaryIO, images: list[LayoutImage], blobs: list[Descriptor], open_blob: BlobOpener
) -> Index:
    index = _merge(None, images)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", LAYOUT_FILE)
        _add_dir(tar, "blobs/")
        algorithms = sorted({d.digest.algorithm for d in blobs})
        for alg in algorithms:
            _add_dir(tar, f"blobs/{alg}/")
        seen: set[Digest] = set()
        for desc in sorted(blobs, key=lambda d: str(d.digest)):
            if desc.digest in seen:
                continue
            seen.add(desc.digest)
            info = _file_info(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}", desc.size)
            with open_blob(desc) as src:
                reader = HashingReader(src)
                tar.addfile(info, reader)
                if reader.digest != desc.digest or reader.size != desc.size:
                    raise LayoutError(f"blob {desc.digest} changed while being written")
        _add_bytes(tar, "index.json", index.to_bytes())
    return index


def _file_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_file_info(name, len(data)), io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 0
    info.uname = info.gname = ""
    tar.addfile(info)


def _atomic_write(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _atomic_copy(src: BinaryIO, target: Path, desc: Descriptor) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            reader = HashingReader(src)
            while chunk := reader.read(CHUNK):
                f.write(chunk)
            if reader.digest != desc.digest or reader.size != desc.size:
                raise LayoutError(f"blob {desc.digest} does not match its digest or size")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def iter_entries(index: Index) -> Iterator[tuple[str | None, Descriptor]]:
    for d in index.manifests:
        yield d.annotation(REF_NAME), d


__all__ = [
    "CONTAINERD_NAME",
    "REF_NAME",
    "LayoutError",
    "LayoutImage",
    "LayoutReader",
    "iter_entries",
    "write_layout_dir",
    "write_layout_tar",
]
