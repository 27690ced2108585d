"""Moving images between the local store, registries, OCI layouts and docker archives.

    pull   registry  -> store    (platform selection, parallel resumable blob downloads)
    push   store     -> registry (existence checks, cross-repository mounts, manifest put)
    save   store     -> OCI layout (tar or directory) or docker-archive tar
    load   OCI layout / docker-archive tar -> store

Every blob is verified against its digest before it is stored; a pull interrupted at
any moment (even by kill -9) leaves partial downloads that the next pull resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from etage.errors import EtageError
from etage.oci import mediatypes as mt
from etage.oci.digest import Digest, DigestError
from etage.oci.docker_archive import (
    ArchiveImage,
    DockerArchiveReader,
    sniff_compression,
    write_docker_archive,
)
from etage.oci.layout import (
    CONTAINERD_NAME,
    REF_NAME,
    LayoutImage,
    LayoutReader,
    write_layout_dir,
    write_layout_tar,
)
from etage.oci.model import (
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ModelError,
    parse_config,
    parse_document,
    select_platform,
)
from etage.oci.store import ContentStore
from etage.platforms import Platform, host
from etage.reference import Reference, parse_reference

if TYPE_CHECKING:
    from etage.registry.client import RegistryClient


class ImageNotFound(EtageError):
    exit_status = 1


class Progress(Protocol):
    def start(self, key: str, label: str, total: int | None) -> None: ...
    def advance(self, key: str, amount: int) -> None: ...
    def finish(self, key: str, note: str = "") -> None: ...


class NoProgress:
    def start(self, key: str, label: str, total: int | None) -> None:
        pass

    def advance(self, key: str, amount: int) -> None:
        pass

    def finish(self, key: str, note: str = "") -> None:
        pass


@dataclass(frozen=True, slots=True)
class LocalImage:
    """An image in the store, resolved to one platform."""

    name: str | None  # the reference it was found by, if any
    top: Descriptor  # what the reference points at (an index or a manifest)
    descriptor: Descriptor  # the platform's manifest
    manifest: Manifest
    config_bytes: bytes
    config: ImageConfig

    @property
    def blobs(self) -> list[Descriptor]:
        return [self.manifest.config, *self.manifest.layers]


# ---- finding images in the store -------------------------------------------------------------


def _document(store: ContentStore, digest: Digest) -> Manifest | Index:
    try:
        return parse_document(store.read(digest))
    except ModelError as exc:
        raise ImageNotFound(f"{digest} is not an image manifest or index: {exc}") from None


def _to_manifest(
    store: ContentStore,
    top: Descriptor,
    doc: Manifest | Index,
    platform: Platform | None,
    what: str,
) -> tuple[Descriptor, Manifest]:
    wanted = platform or host()
    while isinstance(doc, Index):
        chosen = select_platform(doc, wanted)
        if chosen is None:
            have = ", ".join(str(d.platform) for d in doc.manifests if d.platform) or "none"
            raise ImageNotFound(
                f"{what} has no image for {wanted}",
                hint=f"platforms in it: {have}; choose one with --platform",
            )
        if not store.has(chosen.digest):
            raise ImageNotFound(
                f"{what}: the {wanted} image is not in the store",
                hint=f"etage pull --platform {wanted} ...",
            )
        top, doc = chosen, _document(store, chosen.digest)
    return top, doc


def resolve_local(store: ContentStore, text: str, platform: Platform | None = None) -> LocalImage:
    """An image by reference (`node:18`), digest (`sha256:...`) or digest prefix."""
    name: str | None = None
    top: Descriptor | None = None
    if text.startswith("sha256:"):
        try:
            digest = Digest.parse(text)
        except DigestError:
            digest = None
        if digest is not None and store.has(digest):
            doc = _document(store, digest)
            top = Descriptor(doc.media_type, digest, store.size(digest))
    if (
        top is None
        and len(text) >= 4
        and all(c in "0123456789abcdef" for c in text.removeprefix("sha256:"))
    ):
        prefix = text.removeprefix("sha256:")
        matches = {r.digest for r in store.refs() if r.digest.hex.startswith(prefix)}
        if len(matches) > 1:
            raise ImageNotFound(f"{text} is ambiguous: it matches {len(matches)} images")
        if matches:
            digest = matches.pop()
            doc = _document(store, digest)
            top = Descriptor(doc.media_type, digest, store.size(digest))
    if top is None:
        ref = parse_reference(text)
        ref_row = store.get_ref(str(ref))
        if ref_row is None:
            from etage.dockerfile.suggest import closest

            names = [r.name for r in store.refs()]
            guess = closest(str(ref), names)
            raise ImageNotFound(
                f"image {ref.familiar()} is not in the store",
                hint=(f'did you mean "{guess}"? ' if guess else "")
                + f"pull it with `etage pull {text}`",
            )
        name = ref_row.name
        top = Descriptor(ref_row.media_type, ref_row.digest, ref_row.size)
    desc, manifest = _to_manifest(store, top, _document(store, top.digest), platform, text)
    config_bytes = store.read(manifest.config.digest)
    return LocalImage(name, top, desc, manifest, config_bytes, parse_config(config_bytes))


# ---- pull ----------------------------------------------------------------------------------


def pull(
    store: ContentStore,
    client: RegistryClient,
    text: str,
    *,
    platform: Platform | None = None,
    progress: Progress | None = None,
    jobs: int = 4,
) -> LocalImage:
    ref = parse_reference(text)
    progress = progress or NoProgress()
    wanted = platform or host()
    with store.lease():
        top, top_bytes = client.resolve(ref)
        store.write_bytes(top_bytes, top.digest)
        doc = parse_document(top_bytes, top.media_type)
        desc = top
        while isinstance(doc, Index):
            chosen = select_platform(doc, wanted)
            if chosen is None:
                have = ", ".join(str(d.platform) for d in doc.manifests if d.platform) or "none"
                raise ImageNotFound(
                    f"{ref.familiar()} has no image for {wanted}", hint=f"platforms: {have}"
                )
            data = client.get_manifest(ref, str(chosen.digest))
            store.write_bytes(data, chosen.digest)
            desc, doc = chosen, parse_document(data, chosen.media_type)
        manifest = doc
        if not store.has(manifest.config.digest):
            store.write_bytes(client.get_blob_bytes(ref, manifest.config), manifest.config.digest)
        missing = [layer for layer in manifest.layers if not store.has(layer.digest)]
        for layer in manifest.layers:
            if layer not in missing:
                progress.start(str(layer.digest), layer.digest.short, layer.size)
                progress.finish(str(layer.digest), "already present")
        errors: list[BaseException] = []
        lock = threading.Lock()

        def fetch(layer: Descriptor) -> None:
            key = str(layer.digest)
            with store.ingest(layer.digest, layer.size) as sink:
                if sink.already_present:
                    progress.finish(key, "already present")
                    return
                progress.start(key, layer.digest.short, layer.size)
                if sink.offset:
                    progress.advance(key, sink.offset)
                client.fetch_blob(ref, layer, sink, progress=lambda n: progress.advance(key, n))
                sink.commit()
                store.add_source(layer.digest, ref.domain, ref.path)
                progress.finish(key, "done")

        def guarded(layer: Descriptor) -> None:
            try:
                fetch(layer)
            except BaseException as exc:  # collected: the first error is raised below
                with lock:
                    errors.append(exc)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(guarded, missing))
        if errors:
            raise errors[0]
        name = str(ref)
        store.set_ref(name, desc.digest, desc.media_type, desc.size)
    return resolve_local(store, name, wanted)


# ---- push ------------------------------------------------------------------------------------


def push(
    store: ContentStore,
    client: RegistryClient,
    source: str,
    destination: str | None = None,
    *,
    platform: Platform | None = None,
    progress: Progress | None = None,
    fmt: str | None = None,
) -> tuple[Reference, Digest]:
    """Push an image; `fmt` "oci" or "docker" rewrites its manifest's media types
    (the blobs are the same; the manifest digest changes), None keeps it as stored."""
    progress = progress or NoProgress()
    image = resolve_local(store, source, platform)
    target_text = destination or image.name
    if target_text is None:
        raise ImageNotFound(
            f"{source} has no name to push to",
            hint="give a destination: etage push IMAGE REGISTRY/REPO:TAG",
        )
    dest = parse_reference(target_text)
    for desc in image.blobs:
        key = str(desc.digest)
        progress.start(key, desc.digest.short, desc.size)
        if client.blob_exists(dest, desc.digest):
            progress.finish(key, "already exists")
            continue
        mount = next(
            (
                repo
                for reg, repo in store.sources(desc.digest)
                if reg == dest.domain and repo != dest.path
            ),
            None,
        )
        client.push_blob(
            dest,
            desc,
            functools.partial(store.open, desc.digest),
            mount_from=mount,
            progress=functools.partial(progress.advance, key),
        )
        progress.finish(key, "pushed" if mount is None else f"pushed (mount from {mount} tried)")
    manifest_bytes = store.read(image.descriptor.digest)
    media_type = image.descriptor.media_type
    if fmt is not None and (fmt == "docker") != image.manifest.is_docker:
        try:
            converted = image.manifest.as_docker() if fmt == "docker" else image.manifest.as_oci()
        except ValueError as exc:
            raise EtageError(str(exc)) from None
        manifest_bytes, media_type = converted.to_bytes(), converted.media_type
    reference = (
        dest.tag if dest.tag and fmt is None else (dest.tag or str(Digest.of(manifest_bytes)))
    )
    digest = client.put_manifest(dest, reference, manifest_bytes, media_type)
    return dest, digest


def unpack(
    store: ContentStore,
    text: str,
    target: Path,
    *,
    platform: Platform | None = None,
    allow_devices: bool | None = None,
) -> tuple[LocalImage, int]:
    """Apply an image's layers, in order, onto the directory `target` (created if missing).

    Layers are applied safely: nothing is ever written outside `target`.
    """
    from etage.oci.apply import apply_layer

    image = resolve_local(store, text, platform)
    target.mkdir(parents=True, exist_ok=True)
    entries = 0
    for layer in image.manifest.layers:
        with store.open(layer.digest) as blob:
            entries += apply_layer(
                target, blob, media_type=layer.media_type, allow_devices=allow_devices
            ).entries
    return image, entries


# ---- save and load ---------------------------------------------------------------------------


def save(
    store: ContentStore,
    texts: list[str],
    output: Path | BinaryIO,
    *,
    fmt: str = "oci",
    platform: Platform | None = None,
    decompress: Callable[[BinaryIO, str], BinaryIO] | None = None,
    directory: bool = False,
    names: Sequence[str] | None = None,
) -> list[LocalImage]:
    """Write images to `output`: a tar, or with `directory` (or an existing directory)
    an OCI layout directory (merged with what it holds). `names`, for one image found by
    digest, are the names it gets in the archive (by default, the reference it was found by)."""
    images = [resolve_local(store, t, platform) for t in texts]
    if names is not None:
        if len(images) != 1:
            raise ValueError("names apply to a single image")
        images = [dataclasses.replace(images[0], name=names[0] if names else None)]
    blobs: dict[Digest, Descriptor] = {}
    for image in images:
        blobs[image.descriptor.digest] = image.descriptor
        for d in image.blobs:
            blobs[d.digest] = d

    def open_blob(d: Descriptor) -> BinaryIO:
        return store.open(d.digest)

    if fmt == "docker":
        if decompress is None:
            from etage.oci.decompress import open_decompressed

            decompress = open_decompressed
        archive = [
            ArchiveImage(
                image.manifest,
                image.config_bytes,
                tuple(_repo_tags(image, names)),
            )
            for image in images
        ]
        if isinstance(output, Path):
            with open(output, "wb") as f:
                write_docker_archive(f, archive, open_blob, decompress, store.ingest_dir)
        else:
            write_docker_archive(output, archive, open_blob, decompress, store.ingest_dir)
        return images
    layout_images = [
        LayoutImage(image.descriptor, _ref_name(image), image.name) for image in images
    ]
    if isinstance(output, Path) and (directory or output.is_dir()):
        write_layout_dir(output, layout_images, list(blobs.values()), open_blob)
    elif isinstance(output, Path):
        with open(output, "wb") as f:
            write_layout_tar(f, layout_images, list(blobs.values()), open_blob)
    else:
        write_layout_tar(output, layout_images, list(blobs.values()), open_blob)
    return images


def _repo_tags(image: LocalImage, names: Sequence[str] | None = None) -> Iterator[str]:
    for name in names if names is not None else [image.name] if image.name else []:
        ref = parse_reference(name)
        if ref.tag:
            yield f"{ref.familiar_name}:{ref.tag}"


def _ref_name(image: LocalImage) -> str | None:
    if not image.name:
        return None
    ref = parse_reference(image.name)
    return ref.tag


def load(store: ContentStore, path: Path) -> list[str]:
    """Load every image of an OCI layout tar/dir or a docker-archive tar; return their names."""
    with store.lease():
        if path.is_dir() or _is_layout_tar(path):
            return _load_layout(store, path)
        return _load_docker_archive(store, path)


def _is_layout_tar(path: Path) -> bool:
    import tarfile

    with contextlib.suppress(tarfile.TarError, OSError), tarfile.open(path, "r:*") as tar:
        names = {m.name.lstrip("./") for m in tar.getmembers()[:4096]}
        return "oci-layout" in names and "index.json" in names
    return False


def _load_layout(store: ContentStore, path: Path) -> list[str]:
    loaded: list[str] = []
    with LayoutReader(path) as layout:
        for entry in layout.index.manifests:
            _copy_tree(store, layout, entry)
            name = entry.annotation(CONTAINERD_NAME)
            tag = entry.annotation(REF_NAME)
            if name is None and tag and ("/" in tag or ":" in tag):
                name = tag  # some tools put a full reference in ref.name
            if name:
                ref = parse_reference(name)
                store.set_ref(str(ref), entry.digest, entry.media_type, entry.size)
                loaded.append(str(ref))
            else:
                loaded.append(str(entry.digest))
    return loaded


def _copy_tree(store: ContentStore, layout: LayoutReader, desc: Descriptor) -> None:
    data = layout.read_blob(desc)
    store.write_bytes(data, desc.digest)
    doc = parse_document(data, desc.media_type)
    if isinstance(doc, Index):
        for child in doc.manifests:
            if child.media_type in mt.MANIFESTS | mt.INDEXES:
                with contextlib.suppress(EtageError):
                    _copy_tree(store, layout, child)
        return
    for blob in (doc.config, *doc.layers):
        if not store.has(blob.digest):
            with layout.open_blob(blob) as src:
                store.write_stream(src, blob.digest, blob.size)


def _load_docker_archive(store: ContentStore, path: Path) -> list[str]:
    loaded: list[str] = []
    with DockerArchiveReader(path) as archive:
        for entry in archive.entries:
            config_bytes, config = archive.config(entry)
            if len(config.diff_ids) != len(entry.layer_paths):
                raise EtageError(
                    f"{path}: {entry.config_path} lists {len(config.diff_ids)} layers, "
                    f"manifest.json {len(entry.layer_paths)}"
                )
            config_digest = store.write_bytes(config_bytes)
            layers = []
            for layer_path, diff_id in zip(entry.layer_paths, config.diff_ids, strict=True):
                with archive.open(layer_path) as f:
                    head = f.read(4)
                compression = sniff_compression(head)
                with archive.open(layer_path) as f:
                    digest = store.write_stream(f, diff_id if compression == "none" else None)
                layers.append(
                    Descriptor(mt.layer_media_type(compression), digest, store.size(digest))
                )
            manifest = Manifest(
                Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)), tuple(layers)
            )
            data = manifest.to_bytes()
            digest = store.write_bytes(data)
            names = [str(parse_reference(t)) for t in entry.repo_tags] or []
            for name in names:
                store.set_ref(name, digest, mt.OCI_MANIFEST, len(data))
            loaded.extend(names or [str(digest)])
    return loaded
