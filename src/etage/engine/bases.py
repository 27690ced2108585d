"""Base images of a build: resolved (named context, local store, or pulled), and their
layers unpacked once each into snapshots that overlay mounts can stack."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from etage.errors import EtageError
from etage.oci.digest import chain_ids
from etage.oci.layout import LayoutReader
from etage.oci.model import Descriptor, ImageConfig
from etage.oci.store import ContentStore
from etage.platforms import Platform
from etage.reference import parse_reference
from etage.runtime.layers import unpack_layer
from etage.runtime.snapshots import Snapshot, SnapshotStore
from etage.transfer import ImageNotFound, LocalImage, Progress, pull, resolve_local

SCRATCH = "scratch"


@dataclass(frozen=True, slots=True)
class BaseImage:
    name: str  # as the Dockerfile or the named context gives it
    manifest: Descriptor | None  # None for scratch
    config: ImageConfig | None
    layers: tuple[Descriptor, ...]
    snapshots: tuple[Snapshot, ...]  # one per layer, base first
    fetched: bool = False  # pulled or unpacked by this build (not all there already)

    @property
    def top(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None


@dataclass
class BaseResolver:
    store: ContentStore
    snapshots: SnapshotStore
    platform: Platform
    client_factory: Callable[[], object]  # -> RegistryClient, created on first pull
    pull_always: bool = False
    named: dict[str, object] = field(default_factory=dict)  # name -> NamedContext
    progress: Progress | None = None
    # Called with each layer snapshot unpacked (the build notes its facts for the summary
    # and the image checks then, once, rather than after a later build).
    on_unpacked: Callable[[Snapshot], object] | None = None
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _images: dict[str, BaseImage] = field(default_factory=dict)
    # What the bases were resolved from, for the no-op replay: store references (name ->
    # the digest it pointed at) and OCI layouts' index.json files.
    refs_used: dict[str, str] = field(default_factory=dict)
    layouts_used: set[str] = field(default_factory=set)

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def resolve(self, name: str) -> BaseImage:
        with self._lock("image:" + name):
            if name in self._images:
                return self._images[name]
            image = self._resolve(name)
            self._images[name] = image
            return image

    def _resolve(self, name: str) -> BaseImage:
        if name == SCRATCH and self._named(name) is None:
            return BaseImage(SCRATCH, None, None, (), ())
        local, pulled = self._local_image(name)
        image = self._unpacked(name, local)
        return replace(image, fetched=pulled or image.fetched)

    def _named(self, name: str) -> object | None:
        from etage.engine.options import context_name

        return self.named.get(name) or self.named.get(context_name(name))

    def _local_image(self, name: str) -> tuple[LocalImage, bool]:
        """The image, and whether it had to be fetched."""
        named = self._named(name)
        if named is not None:
            kind = getattr(named, "kind", "")
            value = getattr(named, "value", "")
            if kind == "oci-layout":
                return self._from_layout(name, value), False
            if kind == "docker-image":
                name = value
            else:
                raise EtageError(
                    f"build context {name!r} is a directory: it can be a COPY --from source,"
                    " not a FROM image"
                )
        ref = parse_reference(name)
        if not self.pull_always:
            try:
                found = resolve_local(self.store, str(ref), self.platform)
                if ref.digest is None:  # a digest names its content: nothing can change
                    self.refs_used[str(ref)] = str(found.top.digest)
                return found, False
            except ImageNotFound:
                pass
        client = self.client_factory()
        pulled = pull(self.store, client, str(ref), platform=self.platform, progress=self.progress)  # type: ignore[arg-type]
        if ref.digest is None:
            self.refs_used[str(ref)] = str(pulled.top.digest)
        return pulled, True

    def _from_layout(self, name: str, value: str) -> LocalImage:
        path, selector = _split_layout(value)
        self.layouts_used.add(os.path.realpath(os.path.join(path, "index.json")))
        from etage.transfer import _copy_tree

        with LayoutReader(Path(path)) as layout:
            entry = layout.find(selector)
            with self.store.lease():
                _copy_tree(self.store, layout, entry)
        # By digest: a named context is no image of the store (no name is added; the
        # build holds its lease, so the blobs stay until it ends).
        return resolve_local(self.store, str(entry.digest), self.platform)

    def _unpacked(self, name: str, image: LocalImage) -> BaseImage:
        layers = image.manifest.layers
        diff_ids = image.config.diff_ids
        if len(diff_ids) != len(layers):
            raise EtageError(
                f"image {name}: {len(layers)} layers but {len(diff_ids)} diff_ids in its config"
            )
        snaps: list[Snapshot] = []
        parent: Snapshot | None = None
        unpacked = False
        for layer, chain in zip(layers, chain_ids(diff_ids), strict=True):
            key = f"layer:{chain}"
            with self._lock(key):
                snap = self.snapshots.by_key(key)
                if snap is None:
                    with self.store.open(layer.digest) as blob:
                        snap = unpack_layer(
                            self.snapshots, blob, layer.media_type, parent=parent, key=key
                        )
                    unpacked = True
                    if self.on_unpacked is not None:
                        self.on_unpacked(snap)
            snaps.append(snap)
            parent = snap
        return BaseImage(name, image.descriptor, image.config, layers, tuple(snaps), unpacked)


def _split_layout(value: str) -> tuple[str, str | None]:
    """`/path/to/layout[:tag|@sha256:...]` -> (path, selector)."""
    if "@" in value:
        path, _, digest = value.rpartition("@")
        return path, digest
    head, sep, tail = value.rpartition(":")
    if sep and "/" not in tail and head:
        return head, tail
    return value, None
