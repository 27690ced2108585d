"""OCI layers to snapshots and back.

`unpack_layer` extracts a layer blob into a new snapshot's diff directory, with the safety
of `etage.oci.apply` (no path, symlink or hardlink leads outside the directory) and
overlayfs' whiteouts: `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the
`trusted.overlay.opaque=y` xattr of its directory (`apply_entries(..., overlay=True)`).

`export_diff` writes a snapshot's diff directory as a deterministic OCI layer tar
(`etage.oci.tar.TarWriter`: BuildKit's entry order, PAX headers, clamped mtimes): a
whiteout device becomes a `.wh.NAME` entry, an opaque directory its directory entry
followed, in order, by `DIR/.wh..wh..opq`; overlayfs' xattrs are never exported.
Unpacking a layer made by `TarWriter` and exporting it again gives the same bytes when
the layer lists every parent directory (as layers that etage, BuildKit or Docker write do).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from etage.oci.apply import apply_layer
from etage.oci.tar import OPAQUE_MARKER, WHITEOUT_PREFIX, EntryType, LayerError, TarEntry, TarWriter
from etage.oci.tar_tree import _Walk, default_xattr_filter
from etage.runtime.snapshot_tree import is_opaque, is_whiteout
from etage.runtime.snapshots import KIND_LAYER, Snapshot, SnapshotStore


def unpack_layer(
    store: SnapshotStore,
    blob: BinaryIO,
    media_type: str,
    *,
    parent: Snapshot | None,
    key: str,
) -> Snapshot:
    """Unpack a layer blob (gzip, zstd or plain tar) as a snapshot over `parent`.

    `key` labels the snapshot (e.g. "layer:<chainid>"): if a snapshot already has it, that
    one is returned and the blob is not read; if another process unpacks the same key at
    the same time, both get the snapshot that was committed first.
    """
    existing = store.by_key(key)
    if existing is not None:
        return existing
    lowers = [s.diff_dir for s in reversed(store.chain(parent))] if parent is not None else []
    scratch = store.scratch("layer-")
    try:
        diff = scratch.path / "fs"
        diff.mkdir(mode=0o755)
        apply_layer(diff, blob, media_type=media_type, overlay=True, lower_dirs=lowers)
    except BaseException:
        scratch.remove()
        raise
    return store.commit(scratch, parent=parent, kind=KIND_LAYER, key=key)


class _Counter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.count = 0

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self.out.write(data)
        self.count += len(data)
        return len(data)


def export_diff(
    snapshot: Snapshot,
    out: BinaryIO,
    *,
    source_date_epoch: int | None = None,
    lowers: Sequence[Path] = (),
) -> int:
    """Write the snapshot's diff as an uncompressed layer tar to `out`; returns its size.

    `lowers` are the parent chain's diff directories, nearest first. A directory that
    overlayfs copied up only because something was created and removed inside it (a
    RUN's mount stubs) is left out when it matches the lower one in type, mode, owner and
    security.capability, as BuildKit's differ does (`sameDirent`): its content is still
    walked."""
    counter = _Counter(out)
    writer = TarWriter(counter, source_date_epoch=source_date_epoch)
    root = os.fspath(snapshot.diff_dir)
    walk = _Walk(writer, default_xattr_filter)
    stack = [iter(_children(root, ""))]
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        rel, path, st = item
        if st is None:
            head, _, name = rel.rpartition("/")
            if name == OPAQUE_MARKER and head:
                writer.opaque(head)
            elif name == OPAQUE_MARKER:  # an opaque root: every lower entry is hidden
                writer.add(TarEntry(name, EntryType.FILE, 0, 0, 0, source_date_epoch or 0))
            else:
                target = name[len(WHITEOUT_PREFIX) :]
                writer.whiteout(f"{head}/{target}" if head else target)
            continue
        try:
            if (
                lowers
                and stat.S_ISDIR(st.st_mode)
                and not is_opaque(path)
                and _same_as_lower(rel, st, path, lowers)
            ):
                stack.append(iter(_children(path, rel)))
                continue
            if walk.one(rel, path, st):
                stack.append(iter(_children(path, rel)))
        except OSError as exc:
            raise LayerError(f"{path}: cannot add to the layer: {exc.strerror}") from exc
    writer.close()
    return counter.count


def _lower_entry(rel: str, lowers: Sequence[Path]) -> str | None:
    """The path of `rel` in the first lower diff dir that has it (whiteouts and opaque
    directories of nearer layers hide farther ones)."""
    parts = rel.split("/")
    for lower in lowers:
        current = os.fspath(lower)
        hidden = False
        for i, part in enumerate(parts):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                break
            if is_whiteout(st):
                hidden = True
                break
            # an opaque directory: farther layers are hidden below it
            if (
                i < len(parts) - 1
                and stat.S_ISDIR(st.st_mode)
                and is_opaque(current)
                and not os.path.lexists(os.path.join(os.fspath(lower), *parts))
            ):
                hidden = True
                break
        else:
            return current
        if hidden:
            return None
    return None


def _same_as_lower(rel: str, st: os.stat_result, path: str, lowers: Sequence[Path]) -> bool:
    lower = _lower_entry(rel, lowers)
    if lower is None:
        return False
    try:
        lst = os.lstat(lower)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(lst.st_mode):
        return False
    if (st.st_mode, st.st_uid, st.st_gid) != (lst.st_mode, lst.st_uid, lst.st_gid):
        return False
    return _capability(path) == _capability(lower)


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, "security.capability", follow_symlinks=False)
    except OSError:
        return None


def _children(directory: str, rel: str) -> list[tuple[str, str, os.stat_result | None]]:
    """The entries of a diff directory in the writer's order, under the names they have in
    the layer: (layer path, path on disk, stat), stat None for a whiteout or the marker."""
    items: list[tuple[str, str, os.stat_result | None]] = []
    with os.scandir(directory) as it:
        for entry in it:
            st = entry.stat(follow_symlinks=False)
            name = entry.name
            if name.startswith(WHITEOUT_PREFIX):
                raise LayerError(
                    f"{Path(rel, name)}: a file named {name} would read as a whiteout in a layer",
                    hint="rename it: names starting with .wh. are reserved by the OCI image spec",
                )
            if is_whiteout(st):
                items.append((_join(rel, WHITEOUT_PREFIX + name), entry.path, None))
            else:
                items.append((_join(rel, name), entry.path, st))
    if is_opaque(directory):
        items.append((_join(rel, OPAQUE_MARKER), directory, None))
    items.sort(key=lambda item: os.fsencode(item[0].rpartition("/")[2]))
    return items


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name
