"""Validation of images and of the whole store: digests, sizes, diff_ids, reachability.

Every test that produces an image calls it, and `etage verify` exposes it. A problem is
a sentence naming the blob or reference; an empty list means consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etage.oci import mediatypes as mt
from etage.oci.digest import Digest
from etage.oci.model import Descriptor, Index, Manifest, ModelError, parse_config, parse_document
from etage.oci.store import BlobNotFound, ContentStore


@dataclass(slots=True)
class Report:
    problems: list[str] = field(default_factory=list)
    images: int = 0
    blobs_checked: int = 0
    partial_downloads: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_descriptor(
    store: ContentStore, desc: Descriptor, report: Report, *, deep: bool, seen: set[Digest]
) -> None:
    """Check one blob: present, of the declared size, and (deep) of the right digest."""
    if desc.digest in seen:
        return
    seen.add(desc.digest)
    try:
        size = store.size(desc.digest)
    except BlobNotFound:
        report.problems.append(f"{desc.media_type or 'blob'} {desc.digest} is missing")
        return
    if size != desc.size:
        report.problems.append(f"{desc.digest} has {size} bytes, its descriptor says {desc.size}")
    if deep:
        report.blobs_checked += 1
        if not store.verify_blob(desc.digest):
            report.problems.append(f"{desc.digest} does not match its digest (corrupted)")


def validate_image(
    store: ContentStore,
    top: Descriptor,
    report: Report | None = None,
    *,
    deep: bool = True,
    seen: set[Digest] | None = None,
    all_platforms: bool = False,
) -> Report:
    """An image (manifest or index) and everything it names. Entries of an index that
    were not pulled (other platforms) are only reported when all_platforms is set."""
    report = report or Report()
    seen = seen if seen is not None else set()
    validate_descriptor(store, top, report, deep=deep, seen=seen)
    if not store.has(top.digest):
        return report
    try:
        doc = parse_document(store.read(top.digest), top.media_type)
    except ModelError as exc:
        report.problems.append(f"{top.digest}: {exc}")
        return report
    if isinstance(doc, Index):
        for child in doc.manifests:
            if child.media_type not in mt.MANIFESTS | mt.INDEXES:
                continue
            if store.has(child.digest) or all_platforms:
                validate_image(
                    store, child, report, deep=deep, seen=seen, all_platforms=all_platforms
                )
        return report
    report.images += 1
    _validate_manifest(store, doc, top, report, deep=deep, seen=seen)
    return report


def _validate_manifest(
    store: ContentStore,
    manifest: Manifest,
    top: Descriptor,
    report: Report,
    *,
    deep: bool,
    seen: set[Digest],
) -> None:
    validate_descriptor(store, manifest.config, report, deep=deep, seen=seen)
    for layer in manifest.layers:
        validate_descriptor(store, layer, report, deep=deep, seen=seen)
        if layer.media_type and layer.media_type not in mt.LAYERS:
            report.problems.append(f"{top.digest}: unknown layer media type {layer.media_type}")
    if not store.has(manifest.config.digest):
        return
    try:
        config = parse_config(store.read(manifest.config.digest))
    except ModelError as exc:
        report.problems.append(f"config {manifest.config.digest}: {exc}")
        return
    if len(config.diff_ids) != len(manifest.layers):
        report.problems.append(
            f"{top.digest}: {len(manifest.layers)} layers but {len(config.diff_ids)} diff_ids"
        )
    for layer, diff_id in zip(manifest.layers, config.diff_ids, strict=False):
        if mt.layer_compression(layer.media_type) == "none" and layer.digest != diff_id:
            report.problems.append(
                f"uncompressed layer {layer.digest} does not match its diff_id {diff_id}"
            )


def validate_store(store: ContentStore, *, deep: bool = True) -> Report:
    """Every reference leads to a complete image whose blobs verify."""
    report = Report()
    seen: set[Digest] = set()
    for ref in store.refs():
        before = len(report.problems)
        validate_image(
            store, Descriptor(ref.media_type, ref.digest, ref.size), report, deep=deep, seen=seen
        )
        for i in range(before, len(report.problems)):
            report.problems[i] = f"{ref.name}: {report.problems[i]}"
    report.partial_downloads = sum(
        1 for p in store.ingest_dir.iterdir() if p.name.endswith(".partial")
    )
    return report
