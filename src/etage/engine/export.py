"""The built image: its layers, config and manifest in the store, then the outputs.

New layers are kept uncompressed in the store (a layer's digest is then its diffID), as
BuildKit's image store keeps snapshots; base-image layers keep their original blobs.
An output or a push that needs compression compresses each layer once (remembered).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from etage.engine.history import timestamp
from etage.engine.session import BuildSession
from etage.engine.state import StageResult
from etage.events import Message
from etage.oci import mediatypes as mt
from etage.oci.compress import LayerWriter
from etage.oci.digest import Digest
from etage.oci.model import Descriptor, History, ImageConfig, Manifest
from etage.oci.recompress import with_compression
from etage.reference import parse_reference
from etage.runtime.layers import export_diff


@dataclass(frozen=True, slots=True)
class BuiltImage:
    manifest: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[Digest, ...]
    image_config: ImageConfig
    # snapshot id -> the digest of the layer made from it (steps of the final stage)
    snapshot_layers: Mapping[str, str] = field(default_factory=dict)


def load_built_image(root: Path, digest: str) -> BuiltImage:
    """A built image back from the store (for a replayed build's result)."""
    from etage.oci.store import ContentStore
    from etage.transfer import resolve_local

    store = ContentStore(root)
    try:
        image = resolve_local(store, digest)
    finally:
        store.close()
    return BuiltImage(
        image.descriptor,
        image.manifest.config,
        tuple(image.manifest.layers),
        tuple(image.config.diff_ids),
        image.config,
    )


def _layer_blob(session: BuildSession, snapshot_id: str) -> tuple[Descriptor, Digest]:
    cache, store, epoch = session.cache, session.store, session.epoch
    known = cache.layer(snapshot_id, epoch)
    if known is not None:
        digest = Digest.parse(known[0])
        if store.has(digest):
            return Descriptor(mt.OCI_LAYER, digest, known[1]), digest
    snapshot = session.snapshots.get(snapshot_id)
    if snapshot is None:  # pragma: no cover - the build just used it
        raise RuntimeError(f"snapshot {snapshot_id} disappeared")
    # The store keeps the layer uncompressed; its gzip blob (what a push sends, and the
    # summary's compressed size) is made in the same pass, on other cores.
    with store.ingest() as ingest, store.ingest() as packed:
        ingest.restart()
        packed.restart()
        gzip = LayerWriter(packed, "gzip")  # type: ignore[arg-type]
        chain = session.snapshots.chain(snapshot)
        lowers = [s.diff_dir for s in reversed(chain[:-1])]
        export_diff(snapshot, _Tee(ingest, gzip), source_date_epoch=epoch, lowers=lowers)  # type: ignore[arg-type]
        gzip.close()
        digest = ingest.commit()
        size = ingest.offset
        packed_digest = packed.commit()
        store.remember_variant(digest, "gzip", packed_digest, packed.offset)
    cache.remember_layer(snapshot_id, epoch, str(digest), size)
    return Descriptor(mt.OCI_LAYER, digest, size), digest


class _Tee:
    """One stream written to several."""

    def __init__(self, *outs: Any) -> None:
        self.outs = outs

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        for out in self.outs:
            out.write(data)
        return len(data)


class LayerExporter:
    """Writes the image's new layers to the store as soon as their steps commit, in the
    background: the export overlaps the steps still running (in BuildKit, too, the final
    stage's early layers are ready before its last `COPY --from` has waited for a builder).

    The export also writes the layer's gzip blob (kept: a push or an OCI output reuses it);
    then the facts the summary and the image checks need (listing, bytes per path). All of
    it at a low CPU priority."""

    def __init__(self, session: BuildSession) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._session = session
        self._pool = ThreadPoolExecutor(
            1, thread_name_prefix="etage-export", initializer=_lower_priority
        )
        self._facts_pool = ThreadPoolExecutor(
            1, thread_name_prefix="etage-layer-facts", initializer=_lower_priority
        )
        self._futures: dict[str, Future[tuple[Descriptor, Digest]]] = {}
        self._facts: dict[str, Future[tuple[int, dict[str, int]]]] = {}
        self._lock = threading.Lock()

    def submit(self, snapshot_id: str) -> None:
        with self._lock:
            if snapshot_id not in self._futures:
                self._futures[snapshot_id] = self._pool.submit(self._export, snapshot_id)

    def _export(self, snapshot_id: str) -> tuple[Descriptor, Digest]:
        desc, diff = _layer_blob(self._session, snapshot_id)
        with self._lock:
            self._facts.setdefault(
                snapshot_id, self._facts_pool.submit(layer_facts, self._session, snapshot_id, desc)
            )
        return desc, diff

    def blob(self, snapshot_id: str) -> tuple[Descriptor, Digest]:
        with self._lock:
            future = self._futures.get(snapshot_id)
        return future.result() if future is not None else _layer_blob(self._session, snapshot_id)

    def facts(self, snapshot_id: str, desc: Descriptor) -> tuple[int, dict[str, int]]:
        """(gzip size, bytes per path) of a layer of the image."""
        with self._lock:
            future = self._facts.get(snapshot_id)
        if future is not None:
            return future.result()
        return layer_facts(self._session, snapshot_id, desc)

    def close(self) -> None:
        """Wait for the work under way (it writes to the store); drop the queued work."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._facts_pool.shutdown(wait=True, cancel_futures=True)


def _lower_priority() -> None:
    import contextlib
    import os

    # Linux nice values are per thread (and inherited by the threads it starts): exports
    # and compression running beside a build yield the CPU to its RUNs.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def layer_facts(
    session: BuildSession, snapshot_id: str, desc: Descriptor
) -> tuple[int, dict[str, int]]:
    from etage.insight import snapshot_facts

    compressed = (
        desc.size
        if mt.layer_compression(desc.media_type) != "none"
        else with_compression(session.store, desc, "gzip").size
    )
    snapshot = session.snapshots.get(snapshot_id)
    if snapshot is None:  # pragma: no cover - the build just used it
        raise RuntimeError(f"snapshot {snapshot_id} disappeared")
    return compressed, snapshot_facts.path_sizes(session.cache, snapshot)


def _normalized_history(history: list[History], epoch: int | None) -> list[History]:
    """BuildKit's rule: entries without a time take the first new layer's time, then the
    previous one's (so a fully cached rebuild gives the same config)."""
    if epoch is not None:
        stamp = timestamp(epoch)
        return [replace(h, created=stamp) for h in history]
    first = next((h.created for h in history if h.created), "")
    out: list[History] = []
    last = first
    for h in history:
        if h.created:
            last = h.created
            out.append(h)
        else:
            out.append(replace(h, created=last))
    return out


def assemble(session: BuildSession, result: StageResult, labels: dict[str, str]) -> BuiltImage:
    store = session.store
    layers: list[Descriptor] = []
    diff_ids: list[Digest] = []
    base_diff: dict[str, Digest] = {}
    made: dict[str, str] = {}
    for ref in result.layers:
        if ref.base is not None:
            layers.append(ref.base)
            diff_ids.append(_base_diff_id(session, ref.base, base_diff))
        else:
            desc, diff = session.exporter.blob((ref.alone or ref.snapshot).id)
            if ref.alone is not None:  # the stacked step has the same diff, hence this blob
                session.cache.remember_layer(
                    ref.snapshot.id, session.epoch, str(desc.digest), desc.size
                )
            made[ref.snapshot.id] = str(desc.digest)
            layers.append(desc)
            diff_ids.append(diff)
    config_dict = dict(result.config)
    if labels:
        config_dict["Labels"] = {**(config_dict.get("Labels") or {}), **labels}
    history = _normalized_history(list(result.history), session.epoch)
    created = (
        timestamp(session.epoch)
        if session.epoch is not None
        else (history[-1].created if history else timestamp(None))
    )
    image_config = ImageConfig(
        architecture=result.architecture,
        os=result.os,
        variant=result.variant,
        created=created,
        author=result.author,
        config=config_dict,
        diff_ids=tuple(diff_ids),
        history=tuple(history),
    )
    config_bytes = image_config.to_bytes()
    config_desc = Descriptor(mt.OCI_CONFIG, store.write_bytes(config_bytes), len(config_bytes))
    manifest = Manifest(config_desc, tuple(layers))
    data = manifest.to_bytes()
    manifest_desc = Descriptor(mt.OCI_MANIFEST, store.write_bytes(data), len(data))
    return BuiltImage(
        manifest_desc, config_desc, tuple(layers), tuple(diff_ids), image_config, made
    )


def _base_diff_id(session: BuildSession, desc: Descriptor, memo: dict[str, Digest]) -> Digest:
    """The diffID of a base-image layer, from the snapshot store's chain of its image."""
    if mt.layer_compression(desc.media_type) == "none":
        return desc.digest
    key = str(desc.digest)
    if key not in memo:
        for base in session.bases._images.values():
            if base.config is None:
                continue
            for layer, diff in zip(base.layers, base.config.diff_ids, strict=True):
                memo[str(layer.digest)] = diff
    return memo[key]


def compressed_manifest(
    session: BuildSession, image: BuiltImage, compression: str, *, docker: bool = False
) -> tuple[Descriptor, bytes]:
    """The image with every layer compressed (each layer compressed once, remembered)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    store = session.store

    def one(desc: Descriptor) -> Descriptor:
        return with_compression(store, desc, compression, docker=docker)

    # Several layers at once (compression runs outside the GIL): a big layer does not
    # hold up the small ones, and each gzip stream is itself made of parallel blocks.
    workers = max(1, min(len(image.layers), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="etage-compress") as pool:
        layers = tuple(pool.map(one, image.layers))
    manifest = Manifest(image.config, layers)
    if docker:
        manifest = manifest.as_docker()
    data = manifest.to_bytes()
    return Descriptor(manifest.media_type, store.write_bytes(data), len(data)), data


def write_outputs(
    session: BuildSession, image: BuiltImage, tags: tuple[str, ...]
) -> tuple[list[str], Descriptor]:
    """Tag in the store, and write each requested output. Returns the names given and
    the digest to report: the manifest pushed, else the store's when -t names it, else
    the one written to an OCI archive (its layers are compressed: another manifest than
    the store's), as buildx reports the image it exported."""
    from etage import transfer

    store = session.store
    options = session.options
    names: list[str] = []
    outputs = list(options.outputs)
    image_outputs = [o for o in outputs if o.type == "image"]
    all_tags = list(dict.fromkeys([*tags, *(n for o in image_outputs for n in o.names)]))
    reported = image.manifest
    for tag in all_tags:
        name = str(parse_reference(tag))
        store.set_ref(name, image.manifest.digest, image.manifest.media_type, image.manifest.size)
        names.append(name)
    for output in outputs:
        started = time.monotonic()
        if output.type == "image" and output.push:
            desc, _data = compressed_manifest(
                session,
                image,
                output.compression if output.compression != "none" else "gzip",
                docker=not output.oci_mediatypes,
            )
            reported = desc
            client = session.bases.client_factory()
            with store.lease():
                for name in output.names:
                    transfer.push(store, client, str(desc.digest), name)  # type: ignore[arg-type]
                    session.emit(Message("info", f"pushed {name} ({desc.digest})"))
        elif output.type in ("oci", "docker"):
            out_names = list(names) or None
            written = _write_archive(
                session, image, output.type, output.dest or "-", output.compression, out_names
            )
            if output.type == "oci" and not tags and reported is image.manifest:
                reported = written  # the store is no output here: name the archive's
        elif output.type == "local":
            _write_local(session, image, Path(output.dest or "."))
        session.emit(
            Message("info", f"exported {output.type} in {time.monotonic() - started:.1f}s")
        )
    return names, reported


def _write_archive(  # noqa: PLR0917
    session: BuildSession,
    image: BuiltImage,
    kind: str,
    dest: str,
    compression: str,
    names: list[str] | None,
) -> Descriptor:
    """Write the archive; the descriptor of the manifest in it."""
    import sys

    from etage import transfer

    if kind == "oci":
        desc, _ = compressed_manifest(session, image, compression if compression else "gzip")
    else:
        desc = image.manifest
    target = sys.stdout.buffer if dest == "-" else Path(dest)
    with session.store.lease():
        transfer.save(session.store, [str(desc.digest)], target, fmt=kind, names=names or [])
    return desc


def _write_local(session: BuildSession, image: BuiltImage, dest: Path) -> None:
    from etage.oci.apply import apply_layer

    dest.mkdir(parents=True, exist_ok=True)
    for layer in image.layers:
        with session.store.open(layer.digest) as blob:
            apply_layer(dest, blob, media_type=layer.media_type)
