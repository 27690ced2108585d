"""The build cache's disk use, and removing it (`etage df`, `etage prune --build-cache`).

The build cache is everything a build keeps to be fast next time and nothing an image
needs: the committed snapshots (each step's filesystem diff and the unpacked base
layers), the cache index that maps step keys to them (with the checksums and no-op
records that explain and shortcut rebuilds), and, only with `cache_mounts`, the
directories of `RUN --mount=type=cache`. Images keep their layers as blobs in the
content store, so pruning the build cache never breaks an image: the next build just
runs its steps again.

Pruning holds the store's exclusive GC lock, which every build holds shared for its
whole run, so it waits for running builds to end and no build starts meanwhile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from etage.cache.index import CacheIndex
from etage.runtime.snapshots import SnapshotStore


@dataclass(frozen=True, slots=True)
class BuildCacheUsage:
    snapshots: int
    snapshot_bytes: int  # content bytes of the snapshots' diffs
    entries: int  # cached steps
    cache_mounts: int
    cache_mount_bytes: int

    @property
    def bytes(self) -> int:
        return self.snapshot_bytes + self.cache_mount_bytes


def _cache_mounts_dir(root: Path) -> Path:
    return root / "cachemounts"


def _tree_bytes(path: Path) -> int:
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue
    return total


def build_cache_usage(root: Path) -> BuildCacheUsage:
    snapshots = SnapshotStore(root)
    cache = CacheIndex(root)
    try:
        all_snapshots = snapshots.all()
        entries = cache.count_entries()
    finally:
        cache.close()
        snapshots.close()
    mounts = _cache_mounts_dir(root)
    dirs = [p for p in mounts.iterdir() if p.is_dir()] if mounts.is_dir() else []
    return BuildCacheUsage(
        snapshots=len(all_snapshots),
        snapshot_bytes=sum(s.size for s in all_snapshots),
        entries=entries,
        cache_mounts=len(dirs),
        cache_mount_bytes=sum(_tree_bytes(d) for d in dirs),
    )


def prune_build_cache(
    root: Path, *, cache_mounts: bool = False, dry_run: bool = False
) -> BuildCacheUsage:
    """Remove the build cache (see the module doc); what was (or would be) removed."""
    import shutil

    from etage.oci.store import ContentStore

    store = ContentStore(root)
    try:
        with store.exclusive():
            usage = build_cache_usage(root)
            if not cache_mounts:
                usage = BuildCacheUsage(usage.snapshots, usage.snapshot_bytes, usage.entries, 0, 0)
            if dry_run:
                return usage
            cache = CacheIndex(root)
            try:
                cache.clear()  # first: an entry must never name a removed snapshot
            finally:
                cache.close()
            snapshots = SnapshotStore(root)
            try:
                with snapshots.collecting():
                    # Children have larger ids than their parents: remove them first.
                    for snapshot in sorted(snapshots.all(), key=lambda s: -int(s.id)):
                        snapshots.remove(snapshot.id)
            finally:
                snapshots.close()
            if cache_mounts and _cache_mounts_dir(root).is_dir():
                shutil.rmtree(_cache_mounts_dir(root))
            return usage
    finally:
        store.close()
