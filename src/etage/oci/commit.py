"""A directory tree -> a layer blob and an image in the store, in one pass over the files.

The tree is tarred (deterministically), compressed and hashed as it streams into the
store's ingest file; nothing is read twice and memory stays flat.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from etage.oci import mediatypes as mt
from etage.oci.compress import LayerWriter
from etage.oci.digest import Digest
from etage.oci.model import Descriptor, History, ImageConfig, Manifest
from etage.oci.store import ContentStore
from etage.oci.tar import TarWriter
from etage.oci.tar_tree import write_tree


@dataclass(frozen=True, slots=True)
class CommittedLayer:
    descriptor: Descriptor
    diff_id: Digest
    uncompressed_size: int


def commit_layer(
    store: ContentStore,
    root: str | os.PathLike[str],
    *,
    compression: str = "gzip",
    source_date_epoch: int | None = None,
) -> CommittedLayer:
    """Tar `root` into a layer blob in the store."""
    with store.ingest() as ingest:
        ingest.restart()
        layer = LayerWriter(ingest, compression)  # type: ignore[arg-type]
        tar = TarWriter(layer, source_date_epoch=source_date_epoch)
        write_tree(tar, root)
        tar.close()
        digests = layer.close()
        digest = ingest.commit()
    assert digest == digests.digest
    return CommittedLayer(
        Descriptor(digests.media_type, digests.digest, digests.size),
        digests.diff_id,
        digests.uncompressed_size,
    )


def commit_image(
    store: ContentStore,
    layers: list[CommittedLayer],
    config: ImageConfig,
    *,
    name: str | None = None,
    created_by: str = "etage",
    docker: bool = False,
) -> Descriptor:
    """Write the config and manifest of an image made of `layers`; tag it `name`."""
    history = config.history or tuple(
        History(created=config.created, created_by=created_by) for _ in layers
    )
    config = replace(config, diff_ids=tuple(layer.diff_id for layer in layers), history=history)
    config_bytes = config.to_bytes()
    config_desc = Descriptor(mt.OCI_CONFIG, store.write_bytes(config_bytes), len(config_bytes))
    manifest = Manifest(config_desc, tuple(layer.descriptor for layer in layers))
    if docker:
        manifest = manifest.as_docker()
    data = manifest.to_bytes()
    desc = Descriptor(manifest.media_type, store.write_bytes(data), len(data))
    if name is not None:
        store.set_ref(name, desc.digest, desc.media_type, desc.size)
    return desc
