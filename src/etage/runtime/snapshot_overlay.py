"""The overlayfs snapshotter: a working tree is an overlay mount on its parent's chain.

`prepare(parent)` mounts an overlay at tmp/<name>/merged with the parent chain's diff
directories as lower directories (top first), tmp/<name>/fs as the upper directory and
tmp/<name>/work as overlayfs' work directory; for no parent, the working tree is a plain
empty directory. Whatever is written in the merged tree lands in the upper directory in
overlayfs' format (whiteouts, opaque directories), which is what a snapshot's diff is, so
`commit()` only unmounts, removes the work directory and records the upper directory.

`view(snapshot)` mounts a read-only overlay of the chain with no upper directory (or a
read-only bind mount of the diff directory for a snapshot with no parent); every view has
its own mount point, so any number can be open on the same snapshot at once.

Mount options follow containerd's overlay snapshotter: `index=off` (and, for a diff that
is exported as a layer, `redirect_dir=off,metacopy=off`); lower directories are named
relative to the snapshots directory when absolute paths would not fit the page the
kernel copies options into (see `etage.runtime.snapshot_mounts`). Every mount is undone
on commit, discard, error and Ctrl-C; those of a killed process by the store's next
`cleanup()`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from etage.runtime import snapshot_mounts
from etage.runtime.snapshots import (
    KIND_STEP,
    Scratch,
    Snapshot,
    SnapshotError,
    SnapshotStore,
    WorkingTree,
)


class OverlaySnapshotter:
    """Working trees and views as overlayfs mounts over the snapshots of `store`."""

    name = "overlay"

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def prepare(self, parent: Snapshot | None) -> OverlayWorkingTree:
        return OverlayWorkingTree(self.store, parent)

    @contextlib.contextmanager
    def view(self, snapshot: Snapshot) -> Iterator[Path]:
        chain = self.store.chain(snapshot)
        scratch = self.store.scratch("view-")
        try:
            target = scratch.path / "merged"
            target.mkdir()
            try:
                if len(chain) == 1:
                    snapshot_mounts.bind_readonly(chain[0].diff_dir, target)
                else:
                    snapshot_mounts.mount_overlay(target, cwd=self.store.dir, lowers=_lowers(chain))
            except OSError as exc:
                raise _mount_error(snapshot, chain, exc) from exc
            yield target
        finally:
            scratch.remove()


class OverlayWorkingTree(WorkingTree):
    """A working tree mounted as an overlay (or a plain directory, with no parent)."""

    busy_wait = 2.0  # seconds a commit waits for the mount to be released

    def __init__(self, store: SnapshotStore, parent: Snapshot | None) -> None:
        self.store = store
        self.parent = parent
        chain = store.chain(parent) if parent is not None else []
        self._scratch: Scratch = store.scratch("wt-")
        try:
            upper = self._scratch.path / "fs"
            upper.mkdir()
            if not chain:
                upper.chmod(0o755)
                self.path = upper
                self._mounted = False
                return
            top = os.lstat(chain[-1].diff_dir)  # the merged root's owner and mode
            os.chown(upper, top.st_uid, top.st_gid)
            upper.chmod(top.st_mode & 0o7777)
            (self._scratch.path / "work").mkdir()
            self.path = self._scratch.path / "merged"
            self.path.mkdir()
            try:
                snapshot_mounts.mount_overlay(
                    self.path,
                    cwd=store.dir,
                    lowers=_lowers(chain),
                    upper=f"tmp/{self._scratch.name}/fs",
                    work=f"tmp/{self._scratch.name}/work",
                )
            except OSError as exc:
                assert parent is not None
                raise _mount_error(parent, chain, exc) from exc
            self._mounted = True
        except BaseException:
            self._scratch.remove()
            raise

    def _commit(self, key: str | None) -> Snapshot:
        if self._mounted:
            try:
                snapshot_mounts.unmount(self.path, wait=self.busy_wait)
            except OSError as exc:
                raise SnapshotError(
                    f"cannot commit the working tree at {self.path}: {exc.strerror}",
                    hint="a process started in it may still be running or hold files open",
                ) from exc
            self._mounted = False
            shutil.rmtree(self._scratch.path / "work")
            self.path.rmdir()
        return self.store.commit(self._scratch, parent=self.parent, kind=KIND_STEP, key=key)

    def _discard(self) -> None:
        self._scratch.remove()  # lazily unmounts whatever is still mounted in it


def _lowers(chain: list[Snapshot]) -> list[str]:
    """The chain's diff directories relative to the snapshots directory, top first."""
    return [f"{s.id}/fs" for s in reversed(chain)]


def _mount_error(snapshot: Snapshot, chain: list[Snapshot], exc: OSError) -> SnapshotError:
    hint = None
    if isinstance(exc, snapshot_mounts.OptionsTooLong):
        hint = "squash some layers: overlayfs cannot name this many lower directories"
    elif len(chain) > 500:
        hint = "overlayfs stacks at most 500 layers; squash some layers"
    return SnapshotError(
        f"cannot mount snapshot {snapshot.id} ({len(chain)} layers): {exc.strerror}", hint=hint
    )
