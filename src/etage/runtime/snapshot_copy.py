"""The copying snapshotter, for where overlayfs cannot be mounted; and the choice of one.

`prepare(parent)` copies the parent's whole merged tree (`snapshot_tree.materialize`:
owners, modes, xattrs, timestamps, devices, hardlinks) into a plain directory, then
notes the identity of every entry it made: inode number and ctime (which no user call can
set back: any write, chmod, chown, rename or link moves it) and, for directories, the
inode generation, so that a directory deleted and made again is told apart from the
original even when the inode number is reused.

`commit()` compares the tree with the parent's merged tree and writes the diff in
overlayfs' format, entry for entry what an overlay mount would have left in its upper
directory for the same operations: changed or new entries whole, their parent
directories, a 0/0 character device for each deleted name, and `trusted.overlay.opaque=y`
on a directory made where the lower layers had an entry of that name. Snapshots of both
snapshotters can therefore be mixed in one chain. Known difference: a file with several
names that is changed through one of them is changed under all of them (a copy keeps the
link; overlayfs breaks it at copy-up).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etage.runtime import snapshot_mounts, snapshot_tree
from etage.runtime.snapshot_overlay import OverlaySnapshotter
from etage.runtime.snapshots import (
    KIND_STEP,
    Snapshot,
    SnapshotStore,
    Snapshotter,
    WorkingTree,
)

log = logging.getLogger(__name__)
FS_IOC_GETVERSION = 0x80087601  # _IOR('v', 1, long)
OPAQUE_XATTR = "trusted.overlay.opaque"
_probes: dict[int, str | None] = {}


class CopySnapshotter:
    """Working trees as full copies, diffed against their parent at commit."""

    name = "copy"

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def prepare(self, parent: Snapshot | None) -> CopyWorkingTree:
        return CopyWorkingTree(self.store, parent)

    @contextlib.contextmanager
    def view(self, snapshot: Snapshot) -> Iterator[Path]:
        """A private copy of the merged tree, read-only if a bind mount can make it so."""
        layers = _layers(self.store.chain(snapshot))
        scratch = self.store.scratch("view-")
        try:
            target = scratch.path / "merged"
            target.mkdir()
            snapshot_tree.materialize(layers, os.fspath(target))
            with contextlib.suppress(OSError):  # no mounts here: a plain copy then
                snapshot_mounts.bind_readonly(target, target)
            yield target
        finally:
            scratch.remove()


@dataclass(frozen=True, slots=True)
class _Ident:
    ino: int
    ctime_ns: int
    generation: int | None  # directories only


class CopyWorkingTree(WorkingTree):
    """A plain directory holding a copy of the parent's tree."""

    def __init__(self, store: SnapshotStore, parent: Snapshot | None) -> None:
        self.store = store
        self.parent = parent
        self._layers = _layers(store.chain(parent)) if parent is not None else []
        self._scratch = store.scratch("wt-")
        try:
            self.path = self._scratch.path / "merged"
            self.path.mkdir(mode=0o755)
            (self._scratch.path / "fs").mkdir(mode=0o755)
            snapshot_tree.materialize(self._layers, os.fspath(self.path))
            self._idents = _record(os.fspath(self.path))
            _wait_for_a_later_ctime(self._scratch.path, self._idents)
        except BaseException:
            self._scratch.remove()
            raise

    def _commit(self, key: str | None) -> Snapshot:
        out = self._scratch.path / "fs"
        _Differ(os.fspath(self.path), os.fspath(out), self._idents).run(self._layers)
        shutil.rmtree(self.path)
        return self.store.commit(self._scratch, parent=self.parent, kind=KIND_STEP, key=key)

    def _discard(self) -> None:
        self._scratch.remove()


def _layers(chain: list[Snapshot]) -> list[str]:
    return [os.fspath(s.diff_dir) for s in reversed(chain)]


def _generation(path: str) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETVERSION, buf)
        return int(struct.unpack_from("=i", buf)[0])
    except OSError:
        return None  # not every filesystem has generations: the inode number must do
    finally:
        os.close(fd)


def _ident(path: str, st: os.stat_result) -> _Ident:
    gen = _generation(path) if stat.S_ISDIR(st.st_mode) else None
    return _Ident(st.st_ino, st.st_ctime_ns, gen)


def _wait_for_a_later_ctime(scratch: Path, idents: dict[str, _Ident]) -> None:
    """Return once a change made now gets a ctime above every recorded one. Timestamps
    come from the kernel's coarse clock (a few ms per tick): a chown in the same tick as
    the copy would otherwise leave the ctime as recorded and the change unseen."""
    newest = max((i.ctime_ns for i in idents.values()), default=0)
    probe = scratch / "ctime-probe"
    for _ in range(1000):
        probe.touch()
        if os.lstat(probe).st_ctime_ns > newest:
            break
        time.sleep(0.001)
    probe.unlink()


def _record(root: str) -> dict[str, _Ident]:
    """The identity of every entry below `root`, by relative path ("" for the root)."""
    out = {"": _ident(root, os.lstat(root))}
    stack = [("", root)]
    while stack:
        rel, path = stack.pop()
        with os.scandir(path) as it:
            for entry in it:
                crel = f"{rel}/{entry.name}" if rel else entry.name
                st = entry.stat(follow_symlinks=False)
                out[crel] = _ident(entry.path, st)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((crel, entry.path))
    return out


class _Differ:
    """Writes into `out` the overlayfs diff between the lower layers and `work`."""

    def __init__(self, work: str, out: str, idents: dict[str, _Ident]) -> None:
        self.work = work
        self.out = out
        self.idents = idents
        self.links: dict[tuple[int, int], str] = {}

    def run(self, layers: list[str]) -> None:
        self._dir("", layers)
        snapshot_tree.finish_dir(self.work, os.lstat(self.work), self.out)

    def _dir(self, rel: str, lower_dirs: list[str]) -> bool:
        """Diff the directory `rel`; True if anything in it goes into the diff."""
        lower = snapshot_tree.merged_children(lower_dirs) if lower_dirs else {}
        wdir = os.path.join(self.work, rel)
        with os.scandir(wdir) as it:
            entries = sorted((e.name, e.stat(follow_symlinks=False)) for e in it)
        changed = False
        for name, st in entries:
            crel = f"{rel}/{name}" if rel else name
            src = os.path.join(self.work, crel)
            low = lower.get(name)
            known = self.idents.get(crel)
            if stat.S_ISDIR(st.st_mode):
                same = (
                    low is not None
                    and stat.S_ISDIR(low.st.st_mode)
                    and known is not None
                    and known.ino == st.st_ino
                    and known.generation == _generation(src)
                )
                if same:
                    assert low is not None
                    assert known is not None
                    inner = self._dir(crel, low.dirs)
                    if inner or known.ctime_ns != st.st_ctime_ns:
                        self._ensure(crel)
                        snapshot_tree.finish_dir(src, st, os.path.join(self.out, crel))
                        changed = True
                    continue
                self._ensure(rel)
                dst = os.path.join(self.out, crel)
                snapshot_tree.copy_entry(src, st, dst, self.links)
                snapshot_tree.copy_tree(src, dst, self.links)
                snapshot_tree.finish_dir(src, st, dst)
                if low is not None:  # made where the lower layers had this name
                    os.setxattr(dst, OPAQUE_XATTR, b"y", follow_symlinks=False)
                changed = True
            elif known is None or (known.ino, known.ctime_ns) != (st.st_ino, st.st_ctime_ns):
                self._ensure(rel)
                snapshot_tree.copy_entry(src, st, os.path.join(self.out, crel), self.links)
                changed = True
        present = {name for name, _ in entries}
        for name in sorted(set(lower) - present):
            self._ensure(rel)
            os.mknod(os.path.join(self.out, rel, name), stat.S_IFCHR, os.makedev(0, 0))
            changed = True
        return changed

    def _ensure(self, rel: str) -> None:
        """Make `rel` and its parents in the diff (their metadata is set on the way out)."""
        if rel:
            os.makedirs(os.path.join(self.out, rel), mode=0o700, exist_ok=True)


def overlay_problem(store: SnapshotStore) -> str | None:
    """Why an overlay cannot be mounted in `store`, or None if it can.

    Mounts a two-lower overlay, deletes a lower file through it and looks for the
    whiteout, as containerd's `SupportsMultipleLowerDir` probes; the answer is kept for
    the process's lifetime (per filesystem).
    """
    device = os.stat(store.tmp_dir).st_dev
    if device in _probes:
        return _probes[device]
    problem: str | None = None
    scratch = store.scratch("probe-")
    try:
        for sub in ("l1", "l2", "upper", "work", "merged"):
            (scratch.path / sub).mkdir()
        (scratch.path / "l2" / "file").write_bytes(b"probe")
        merged = scratch.path / "merged"
        snapshot_mounts.mount_overlay(
            merged, cwd=scratch.path, lowers=["l2", "l1"], upper="upper", work="work"
        )
        try:
            os.unlink(merged / "file")
            if not snapshot_tree.is_whiteout(os.lstat(scratch.path / "upper" / "file")):
                problem = "overlayfs leaves no whiteout in the upper directory"
        finally:
            snapshot_mounts.unmount(merged, detach=True)
    except OSError as exc:
        problem = f"overlayfs does not work here: {exc.strerror or exc}"
    finally:
        scratch.remove()
    _probes[device] = problem
    return problem


def default_snapshotter(store: SnapshotStore) -> Snapshotter:
    """The overlay snapshotter if an overlay mount works on the store, else the copying
    one; the choice (and why) is logged, and the snapshotter's `name` tells it."""
    problem = overlay_problem(store)
    if problem is None:
        log.debug("snapshots: overlayfs on %s", store.dir)
        return OverlaySnapshotter(store)
    log.info("snapshots: copying (slower), because %s", problem)
    return CopySnapshotter(store)
