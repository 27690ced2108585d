"""docker-archive tars, as `docker save` writes them and `docker load` reads them.

    manifest.json         [{"Config": "<hex>.json", "RepoTags": ["name:tag"], "Layers": [...]}]
    <config-hex>.json     the image config
    <diffid-hex>.tar      each layer, uncompressed (the layer's diffID names it)

This is the layout skopeo writes and that docker load (20.10 and later) reads. Archives
written by Docker 25+ are also OCI layouts (index.json, blobs/); reading handles both.
Layers are stored uncompressed in the archive, so writing decompresses them once
(spooled to a temporary file, since a tar header needs the size first).
"""

from __future__ import annotations

import io
import json
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from etage.errors import EtageError
from etage.oci import mediatypes as mt
from etage.oci.canonical import canonical_json
from etage.oci.digest import Digest, HashingWriter
from etage.oci.model import Descriptor, ImageConfig, Manifest, parse_config

CHUNK = 1 << 20
Decompressor = Callable[[BinaryIO, str], BinaryIO]


class ArchiveError(EtageError):
    exit_status = 2


@dataclass(frozen=True, slots=True)
class ArchiveImage:
    """One image to write: its manifest, config bytes and the names to give it."""

    manifest: Manifest
    config: bytes
    repo_tags: tuple[str, ...]


def write_docker_archive(
    out: BinaryIO,
    images: list[ArchiveImage],
    open_blob: Callable[[Descriptor], BinaryIO],
    decompress: Decompressor,
    spool_dir: Path | None = None,
) -> None:
    entries = []
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for image in images:
            config = parse_config(image.config)
            if len(config.diff_ids) != len(image.manifest.layers):
                raise ArchiveError(
                    f"image {image.manifest.config.digest}: {len(image.manifest.layers)} layers "
                    f"but {len(config.diff_ids)} diff_ids in its config"
                )
            layer_names = []
            for desc, diff_id in zip(image.manifest.layers, config.diff_ids, strict=True):
                name = f"{diff_id.hex}.tar"
                layer_names.append(name)
                if name in written:
                    continue
                written.add(name)
                _add_layer(tar, name, desc, diff_id, open_blob, decompress, spool_dir)
            config_name = f"{image.manifest.config.digest.hex}.json"
            if config_name not in written:
                written.add(config_name)
                _add_bytes(tar, config_name, image.config)
            entries.append(
                {"Config": config_name, "RepoTags": list(image.repo_tags), "Layers": layer_names}
            )
        _add_bytes(tar, "manifest.json", canonical_json(entries))


def _add_layer(  # noqa: PLR0917 - one call site, all arguments needed
    tar: tarfile.TarFile,
    name: str,
    desc: Descriptor,
    diff_id: Digest,
    open_blob: Callable[[Descriptor], BinaryIO],
    decompress: Decompressor,
    spool_dir: Path | None,
) -> None:
    with tempfile.TemporaryFile(dir=spool_dir) as spool, open_blob(desc) as blob:
        hashing = HashingWriter(spool)
        with decompress(blob, desc.media_type) as plain:
            shutil.copyfileobj(plain, hashing, CHUNK)
        if hashing.digest != diff_id:
            raise ArchiveError(
                f"layer {desc.digest} decompresses to {hashing.digest}, "
                f"but the config says {diff_id}"
            )
        spool.seek(0)
        info = _info(name, hashing.size)
        tar.addfile(info, spool)


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    config_path: str
    repo_tags: tuple[str, ...]
    layer_paths: tuple[str, ...]


class DockerArchiveReader:
    """Random access to a docker-archive tar (a regular file: tar members are seekable)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by close()
        except (tarfile.TarError, OSError) as exc:
            raise ArchiveError(f"{path} is not a readable tar file: {exc}") from None
        self.members = {posixpath.normpath(m.name).lstrip("/"): m for m in self.tar.getmembers()}
        if "manifest.json" not in self.members:
            raise ArchiveError(
                f"{path} is not a docker-archive: no manifest.json",
                hint="etage load reads `docker save` archives and OCI layout tars",
            )
        try:
            raw = json.loads(self.read("manifest.json"))
        except ValueError as exc:
            raise ArchiveError(f"{path}: manifest.json is not valid JSON: {exc}") from None
        if not isinstance(raw, list) or not raw:
            raise ArchiveError(f"{path}: manifest.json holds no image")
        self.entries = []
        for i, e in enumerate(raw):
            if (
                not isinstance(e, dict)
                or not isinstance(e.get("Config"), str)
                or not isinstance(e.get("Layers"), list)
            ):
                raise ArchiveError(f"{path}: manifest.json entry {i} is malformed")
            self.entries.append(
                ArchiveEntry(e["Config"], tuple(e.get("RepoTags") or ()), tuple(e["Layers"]))
            )

    def open(self, name: str) -> BinaryIO:
        member = self.members.get(posixpath.normpath(name).lstrip("/"))
        f = self.tar.extractfile(member) if member is not None else None
        if f is None:
            raise ArchiveError(f"{self.path}: missing {name}")
        return f  # type: ignore[return-value]

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def size(self, name: str) -> int:
        member = self.members.get(posixpath.normpath(name).lstrip("/"))
        if member is None:
            raise ArchiveError(f"{self.path}: missing {name}")
        return member.size

    def config(self, entry: ArchiveEntry) -> tuple[bytes, ImageConfig]:
        data = self.read(entry.config_path)
        return data, parse_config(data)

    def close(self) -> None:
        self.tar.close()

    def __enter__(self) -> DockerArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sniff_compression(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def layer_descriptor(digest: Digest, size: int, compression: str) -> Descriptor:
    return Descriptor(mt.layer_media_type(compression), digest, size)


__all__ = [
    "ArchiveEntry",
    "ArchiveError",
    "ArchiveImage",
    "DockerArchiveReader",
    "layer_descriptor",
    "sniff_compression",
    "write_docker_archive",
]
