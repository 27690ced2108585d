"""A layer in another compression, made once and remembered.

Built images keep their new layers uncompressed in the store (as BuildKit's image store
keeps snapshots); an output or a push that wants gzip or zstd compresses each layer once,
and the result is recorded so the next push or save reuses it.
"""

from __future__ import annotations

from dataclasses import replace

from etage.oci import mediatypes as mt
from etage.oci.compress import LayerWriter
from etage.oci.decompress import open_decompressed
from etage.oci.model import Descriptor
from etage.oci.store import ContentStore

CHUNK = 1 << 20


def with_compression(
    store: ContentStore, desc: Descriptor, compression: str, *, docker: bool = False
) -> Descriptor:
    """`desc` as a `compression` ("gzip", "zstd" or "none") layer in the store."""
    current = mt.layer_compression(desc.media_type)
    media_type = mt.layer_media_type(compression, docker=docker)
    if current == compression:
        return replace(desc, media_type=media_type)
    known = store.variant(desc.digest, compression)
    if known is not None:
        return replace(desc, media_type=media_type, digest=known[0], size=known[1])
    with store.ingest() as ingest, store.open(desc.digest) as blob:
        ingest.restart()
        if compression == "none":
            with open_decompressed(blob, desc.media_type) as plain:
                while chunk := plain.read(CHUNK):
                    ingest.write(chunk)
        else:
            writer = LayerWriter(ingest, compression, docker=docker)  # type: ignore[arg-type]
            with open_decompressed(blob, desc.media_type) as plain:
                while chunk := plain.read(CHUNK):
                    writer.write(chunk)
            writer.close()
        digest = ingest.commit()
        size = ingest.offset
    store.remember_variant(desc.digest, compression, digest, size)
    return replace(desc, media_type=media_type, digest=digest, size=size)
