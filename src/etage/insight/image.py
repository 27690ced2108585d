"""An image of the store opened for inspection: each layer's diff as a snapshot, the
image's filesystem as a read-only view, and what built each layer.

A layer etage built is read from the build's own snapshot (found through the layer blob
the build exported); a base or pulled layer from the snapshot unpacked for builds
("layer:<chain id>"), unpacked now when no build used it yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etage.cache.index import CacheIndex
from etage.oci.digest import chain_ids
from etage.oci.model import Descriptor, History
from etage.oci.store import ContentStore
from etage.runtime.layers import unpack_layer
from etage.runtime.snapshots import Snapshot, SnapshotStore
from etage.transfer import LocalImage, resolve_local


@dataclass(frozen=True, slots=True)
class ImageLayer:
    index: int
    descriptor: Descriptor
    snapshot: Snapshot
    created_by: str  # the history entry that made it ("" when the image has no history)
    # From etage's build summary when etage built the image here:
    stage: str | None = None
    line: int = 0
    instruction: str = ""
    from_stage: str | None = None

    @property
    def digest(self) -> str:
        return str(self.descriptor.digest)

    @property
    def diff_dir(self) -> Path:
        return self.snapshot.diff_dir

    @property
    def what(self) -> str:
        """The instruction, as the Dockerfile (or else the history) says it."""
        return self.instruction or _short_history(self.created_by) or f"layer {self.index + 1}"


@dataclass(frozen=True, slots=True)
class OpenedImage:
    ref: str
    image: LocalImage
    layers: tuple[ImageLayer, ...]
    summary: dict[str, Any] | None  # etage's build summary, if etage built it here

    @property
    def dockerfile(self) -> str:
        return str(self.summary["dockerfile"]) if self.summary else ""

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.image.config.config)

    @property
    def history(self) -> tuple[History, ...]:
        return self.image.config.history


def open_image(
    store: ContentStore, snapshots: SnapshotStore, cache: CacheIndex, ref: str
) -> OpenedImage:
    """`ref` (a name, digest or digest prefix) with a snapshot for each of its layers."""
    image = resolve_local(store, ref)
    summary = cache.summary(str(image.descriptor.digest))
    built = {str(x["digest"]): x for x in summary.get("layers", [])} if summary else {}
    made_by = iter(h.created_by for h in image.config.history if not h.empty_layer)
    layers: list[ImageLayer] = []
    parent: Snapshot | None = None
    diff_ids = image.config.diff_ids
    for i, (desc, chain) in enumerate(zip(image.manifest.layers, chain_ids(diff_ids), strict=True)):
        snapshot = _layer_snapshot(store, snapshots, cache, desc, chain, parent=parent)
        facts = built.get(str(desc.digest), {})
        layers.append(
            ImageLayer(
                i, desc, snapshot, next(made_by, ""), facts.get("stage"),
                int(facts.get("line") or 0), str(facts.get("instruction") or ""),
                facts.get("from_stage"),
            )
        )  # fmt: skip
        parent = snapshot
    return OpenedImage(image.name or ref, image, tuple(layers), summary)


def _layer_snapshot(
    store: ContentStore,
    snapshots: SnapshotStore,
    cache: CacheIndex,
    desc: Descriptor,
    chain: str,
    *,
    parent: Snapshot | None,
) -> Snapshot:
    key = f"layer:{chain}"
    found = snapshots.by_key(key)
    if found is not None:
        return found
    want = parent.id if parent else None
    for snapshot_id in cache.snapshots_of_layer(str(desc.digest)):
        # A build's step over the same parent (a COPY --link layer's own snapshot has none)
        snapshot = snapshots.get(snapshot_id)
        if snapshot is not None and snapshot.parent == want:
            return snapshot
    with store.open(desc.digest) as blob:
        return unpack_layer(snapshots, blob, desc.media_type, parent=parent, key=key)


def _short_history(created_by: str) -> str:
    text = created_by.removeprefix("/bin/sh -c ").removeprefix("#(nop) ").strip()
    return " ".join(text.split())
