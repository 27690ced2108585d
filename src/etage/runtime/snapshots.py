"""Snapshots: the committed filesystem of each build step, as overlayfs diffs, and their store.

A `Snapshot` is immutable: a diff directory in overlayfs' upper-directory format (a deleted
entry is a 0/0 character device, a directory that replaces the lower one carries
`trusted.overlay.opaque=y`) over its parent. A `Snapshotter` prepares a mutable
`WorkingTree` on a parent; committing it gives the next snapshot. Only committed
snapshots are diffed, cached, exported or used as parents.

    <store root>/snapshots/
        snapshots.db        the index (SQLite, WAL): id, parent, created, size, kind, key
        <id>/fs/            a committed snapshot's diff directory; ids are small integers,
                            so that overlay options naming many layers stay short
        tmp/<name>/         work in progress: a working tree (fs/ upper, work/, merged/),
                            a view's mount point, a layer being unpacked
        tmp/<name>.lock     held (flock) by the live process that owns tmp/<name>/
        gc.lock             shared by every tmp/ owner, exclusive for garbage collection

A kill -9 at any moment leaves a usable store. A snapshot is built under tmp/, then a
row is recorded as pending, the directory renamed to <id>/, and the row marked
committed: readers only ever see committed rows, whose directories are complete. The
next `cleanup()` (run when a store is opened) removes what a dead process left: its
mounts under tmp/ (found in /proc/self/mountinfo), its tmp/ directories, its pending
rows, and directories no row names. A tmp/ entry whose lock is held belongs to a live
process and is left alone, so several processes can share a store.

Snapshot data is not fsynced: a power loss (not a kill) may leave a committed snapshot
with data the disk never got. Snapshots are a cache that a build can recreate; the
content store holds what must survive.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from etage.oci.sqlite_wal import connect
from etage.runtime.snapshot_scratch import Scratch, SnapshotError, lock_if_dead, remove_tree

__all__ = [
    "KIND_LAYER",
    "KIND_STEP",
    "Scratch",
    "Snapshot",
    "SnapshotError",
    "SnapshotStore",
    "Snapshotter",
    "WorkingTree",
    "diff_size",
]

_COLUMNS = "id, parent, size, kind, key"
KIND_LAYER = "layer"  # a base image layer, unpacked
KIND_STEP = "step"  # a committed working tree


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A committed, immutable diff over `parent`; `size`: bytes of file data in it."""

    id: str
    parent: str | None
    diff_dir: Path
    size: int
    kind: str = KIND_STEP
    key: str | None = None  # a unique label, e.g. "layer:<chainid>"


class WorkingTree(abc.ABC):
    """A writable tree on a parent snapshot, at `path`.

    `commit()` turns it into the next snapshot; `discard()` throws it away. Either ends
    it: mounts are gone and later calls raise. As a context manager, a tree that was not
    committed when the block ends (an exception, Ctrl-C, or no commit) is discarded.
    """

    path: Path
    parent: Snapshot | None
    _done: bool = False

    @abc.abstractmethod
    def _commit(self, key: str | None) -> Snapshot: ...

    @abc.abstractmethod
    def _discard(self) -> None: ...

    @property
    def closed(self) -> bool:
        return self._done

    def commit(self, *, key: str | None = None) -> Snapshot:
        """Commit the tree as a snapshot whose parent is `parent`, labelled `key`."""
        self._check_open()
        self._done = True
        try:
            return self._commit(key)
        except BaseException:
            self._discard()
            raise

    def discard(self) -> None:
        if not self._done:
            self._done = True
            self._discard()

    def _check_open(self) -> None:
        if self._done:
            raise SnapshotError(f"{self.path}: this working tree is already committed or gone")

    def __enter__(self) -> WorkingTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class Snapshotter(Protocol):
    """Makes working trees and read-only views of snapshots kept in `store`."""

    name: str  # "overlay" or "copy"
    store: SnapshotStore

    def prepare(self, parent: Snapshot | None) -> WorkingTree: ...

    def view(self, snapshot: Snapshot) -> AbstractContextManager[Path]:
        """The whole filesystem of `snapshot`, read-only, until the context ends."""
        ...


class SnapshotStore:
    """Committed snapshots under `<root>/snapshots/` and their SQLite index."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.dir = self.root / "snapshots"
        self.tmp_dir = self.dir / "tmp"
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SnapshotError(f"cannot create {self.tmp_dir}: {exc.strerror}") from exc
        self._lock = threading.Lock()
        db = connect(self.dir / "snapshots.db")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(
            "CREATE TABLE IF NOT EXISTS snapshots ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " parent INTEGER REFERENCES snapshots(id),"
            " created REAL NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL,"
            " key TEXT UNIQUE,"
            " state TEXT NOT NULL,"  # 'pending' until <id>/ is in place, then 'committed'
            " owner TEXT)"  # the tmp/ name of the writer, while pending
        )
        db.execute("CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent)")
        self._db = db
        self.cleanup()

    # -- reading ----------------------------------------------------------------------------

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _snapshot(self, row: tuple[object, ...]) -> Snapshot:
        id_, parent, size, kind, key = row
        assert isinstance(size, int)
        return Snapshot(
            id=str(id_),
            parent=None if parent is None else str(parent),
            diff_dir=self.dir / str(id_) / "fs",
            size=size,
            kind=str(kind),
            key=None if key is None else str(key),
        )

    def get(self, id: str) -> Snapshot | None:
        if not id.isdigit():
            return None
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM snapshots WHERE id=? AND state='committed'", (int(id),)
        )
        return self._snapshot(rows[0]) if rows else None

    def by_key(self, key: str) -> Snapshot | None:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM snapshots WHERE key=? AND state='committed'", (key,)
        )
        return self._snapshot(rows[0]) if rows else None

    def chain(self, snapshot: Snapshot) -> list[Snapshot]:
        """`snapshot` and its ancestors, base first."""
        rows = self._rows(
            "WITH RECURSIVE c(id, parent, size, kind, key, depth) AS ("
            f" SELECT {_COLUMNS}, 0 FROM snapshots WHERE id=? AND state='committed'"
            " UNION ALL SELECT s.id, s.parent, s.size, s.kind, s.key, c.depth + 1"
            " FROM snapshots s JOIN c ON s.id = c.parent)"
            f" SELECT {_COLUMNS} FROM c ORDER BY depth DESC",
            (int(snapshot.id),),
        )
        if not rows:
            raise SnapshotError(f"snapshot {snapshot.id} is not in the store")
        return [self._snapshot(r) for r in rows]

    def children(self, id: str) -> list[Snapshot]:
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM snapshots WHERE parent=? AND state='committed' ORDER BY id",
            (int(id),),
        )
        return [self._snapshot(r) for r in rows]

    def all(self) -> list[Snapshot]:
        rows = self._rows(f"SELECT {_COLUMNS} FROM snapshots WHERE state='committed' ORDER BY id")
        return [self._snapshot(r) for r in rows]

    # -- writing ----------------------------------------------------------------------------

    def scratch(self, prefix: str) -> Scratch:
        """A new directory under tmp/, owned by this process until removed or committed;
        while it lives, `collecting()` waits."""
        return Scratch(self.tmp_dir, prefix, self.dir / "gc.lock")

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Held around a garbage collection pass that calls `remove()`: waits for every
        working tree, view and unpack (of any process) to end, and holds new ones off, so
        that no snapshot is removed while it is mounted or read. Never enter it while
        this thread holds a working tree or a view: it would wait for itself."""
        fd = os.open(self.dir / "gc.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def commit(
        self, scratch: Scratch, *, parent: Snapshot | None, kind: str, key: str | None
    ) -> Snapshot:
        """Make `scratch/fs` a committed snapshot (the caller has unmounted everything and
        left nothing else in `scratch`). With a `key` that another snapshot already has,
        the scratch is removed and that snapshot returned."""
        if key is not None and (existing := self.by_key(key)) is not None:
            scratch.remove()
            return existing
        if parent is not None and self.get(parent.id) is None:
            scratch.remove()
            raise SnapshotError(f"cannot commit on snapshot {parent.id}: it was removed")
        size = diff_size(scratch.path / "fs")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO snapshots(parent, created, size, kind, key, state, owner)"
                " VALUES (?,?,?,?,NULL,'pending',?)",
                (None if parent is None else int(parent.id), time.time(), size, kind, scratch.name),
            )
            id_ = cur.lastrowid
        assert id_ is not None
        final = self.dir / str(id_)
        try:
            os.rename(scratch.path, final)
            with self._lock:
                self._db.execute(
                    "UPDATE snapshots SET state='committed', key=?, owner=NULL WHERE id=?",
                    (key, id_),
                )
        except sqlite3.IntegrityError:  # another process committed this key meanwhile
            self._forget(id_)
            scratch.release()
            existing = self.by_key(key) if key is not None else None
            if existing is None:  # pragma: no cover - the other one was removed at once
                raise SnapshotError(f"cannot commit snapshot {key}") from None
            return existing
        except BaseException:
            self._forget(id_)
            scratch.remove()
            raise
        scratch.release()
        return Snapshot(
            str(id_), None if parent is None else parent.id, final / "fs", size, kind, key
        )

    def rebase(self, layer: Snapshot, parent: Snapshot | None) -> Snapshot:
        """A snapshot on `parent` whose diff is `layer`'s diff (COPY --link: a layer made
        alone, then stacked on whatever the stage has). Files are hard links to `layer`'s,
        since committed diffs are never written again."""
        from etage.runtime import snapshot_tree

        scratch = self.scratch("rebase-")
        try:
            fs = scratch.path / "fs"
            fs.mkdir()
            snapshot_tree.copy_tree(str(layer.diff_dir), str(fs), {}, share_files=True)
            snapshot_tree.finish_dir(str(layer.diff_dir), os.lstat(layer.diff_dir), str(fs))
        except BaseException:
            scratch.remove()
            raise
        return self.commit(scratch, parent=parent, kind=KIND_STEP, key=None)

    def _forget(self, id_: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM snapshots WHERE id=?", (id_,))
        remove_tree(self.dir / str(id_))

    def remove(self, id: str) -> None:
        """Remove a snapshot that has no children (garbage collection, within
        `collecting()` when other processes may be building)."""
        if not id.isdigit():
            raise SnapshotError(f"no snapshot {id!r} in the store")
        with self._lock:
            child = self._db.execute(
                "SELECT id FROM snapshots WHERE parent=? LIMIT 1", (int(id),)
            ).fetchone()
            if child is not None:
                raise SnapshotError(
                    f"cannot remove snapshot {id}: snapshot {child[0]} is built on it",
                    hint="remove the snapshots built on it first",
                )
            self._db.execute("DELETE FROM snapshots WHERE id=?", (int(id),))
        remove_tree(self.dir / id)

    # -- cleanup -------------------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove what dead processes left behind; returns the paths removed."""
        removed: list[str] = []
        names = {p.name.removesuffix(".lock") for p in self.tmp_dir.iterdir()}
        rows = self._rows("SELECT owner FROM snapshots WHERE state='pending'")
        names |= {str(owner) for (owner,) in rows if owner is not None}
        for name in sorted(names):
            lock = lock_if_dead(self.tmp_dir / f"{name}.lock")
            if lock is None:
                continue  # a live process owns it
            try:
                path = self.tmp_dir / name
                if os.path.lexists(path):
                    remove_tree(path)
                    removed.append(str(path))
                # asked again now that the lock is ours: the owner commits before it lets go
                stale = self._rows(
                    "SELECT id FROM snapshots WHERE state='pending' AND owner=?", (name,)
                )
                for (id_,) in stale:
                    assert isinstance(id_, int)
                    self._forget(id_)
                    removed.append(str(self.dir / str(id_)))
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.tmp_dir / f"{name}.lock")
            finally:
                os.close(lock)
        # listed before the rows are read: a directory is renamed into place after its row
        # is written, so one that no row names was left by a remove() that did not finish
        numbered = [p for p in self.dir.iterdir() if p.name.isdigit()]
        known = {str(id_) for (id_,) in self._rows("SELECT id FROM snapshots")}
        for path in numbered:
            if path.name not in known:
                remove_tree(path)
                removed.append(str(path))
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()


def diff_size(path: Path) -> int:
    """Bytes of regular files and symlinks below `path`, each inode counted once."""
    total = 0
    seen: set[int] = set()
    stack = [os.fspath(path)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                    if st.st_nlink > 1:
                        if st.st_ino in seen:
                            continue
                        seen.add(st.st_ino)
                    total += st.st_size
    return total
