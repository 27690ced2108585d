"""Reachability and garbage collection in the content store.

A blob is live if a reference leads to it: a reference names a manifest or an index,
an index names manifests, a manifest names its config and layers. Everything else,
and temp files no writer holds, is garbage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from etage.oci import mediatypes as mt
from etage.oci.digest import Digest
from etage.oci.model import Index, Manifest, ModelError, parse_document
from etage.oci.store import BlobNotFound, ContentStore


@dataclass(frozen=True, slots=True)
class Usage:
    blobs: int
    bytes: int
    manifests: int
    configs: int
    layers: int
    layer_bytes: int
    unreachable: int
    unreachable_bytes: int
    ingest_files: int
    ingest_bytes: int
    refs: int


@dataclass(slots=True)
class PruneResult:
    removed: list[tuple[Digest, int]] = field(default_factory=list)
    stale_ingests: int = 0
    stale_ingest_bytes: int = 0

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.removed) + self.stale_ingest_bytes


@dataclass(slots=True)
class Reach:
    manifests: set[Digest] = field(default_factory=set)
    configs: set[Digest] = field(default_factory=set)
    layers: set[Digest] = field(default_factory=set)
    missing: set[Digest] = field(default_factory=set)  # referenced but absent (a partial pull)
    other: set[Digest] = field(default_factory=set)  # referenced blobs that are not documents

    @property
    def all(self) -> set[Digest]:
        return self.manifests | self.configs | self.layers | self.other


def reachable(store: ContentStore, extra_roots: Iterable[Digest] = ()) -> Reach:
    reach = Reach()
    todo = [r.digest for r in store.refs()] + list(extra_roots)
    while todo:
        digest = todo.pop()
        if digest in reach.manifests or digest in reach.other:
            continue
        try:
            doc = parse_document(store.read(digest))
        except BlobNotFound:
            reach.missing.add(digest)
            continue
        except ModelError:
            reach.other.add(digest)  # not an image document: keep the blob, follow nothing
            continue
        reach.manifests.add(digest)
        if isinstance(doc, Index):
            todo.extend(
                d.digest for d in doc.manifests if d.media_type in mt.MANIFESTS | mt.INDEXES
            )
        elif isinstance(doc, Manifest):
            for d in (doc.config, *doc.layers):
                (reach.configs if d is doc.config else reach.layers).add(d.digest)
                if not store.has(d.digest):
                    reach.missing.add(d.digest)
    return reach


def usage(store: ContentStore) -> Usage:
    reach = reachable(store)
    blobs = list(store.blobs())
    sizes = dict(blobs)
    dead = [(d, s) for d, s in blobs if d not in reach.all]
    ingest = [p for p in store.ingest_dir.iterdir() if p.is_file()]
    return Usage(
        blobs=len(blobs),
        bytes=sum(sizes.values()),
        manifests=len(reach.manifests & sizes.keys()),
        configs=len(reach.configs & sizes.keys()),
        layers=len(reach.layers & sizes.keys()),
        layer_bytes=sum(sizes[d] for d in reach.layers if d in sizes),
        unreachable=len(dead),
        unreachable_bytes=sum(s for _, s in dead),
        ingest_files=len(ingest),
        ingest_bytes=sum(p.stat().st_size for p in ingest),
        refs=len(store.refs()),
    )


def prune(
    store: ContentStore, *, dry_run: bool = False, extra_roots: Iterable[Digest] = ()
) -> PruneResult:
    """Remove blobs no reference reaches, and temp files no writer holds.

    Holds the store's exclusive GC lock: writers (pull, load, build) hold it shared.
    """
    result = PruneResult()
    with store.exclusive():
        live = reachable(store, extra_roots).all
        for digest, size in list(store.blobs()):
            if digest not in live:
                result.removed.append((digest, size))
                if not dry_run:
                    store.delete_blob(digest)
        for path in store.stale_ingests():
            with contextlib.suppress(FileNotFoundError):
                result.stale_ingest_bytes += path.stat().st_size
                result.stale_ingests += 1
                if not dry_run:
                    os.unlink(path)
    return result
