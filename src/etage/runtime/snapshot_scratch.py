"""Directories under snapshots/tmp/ owned by a live process, and their safe removal.

The owner of tmp/<name>/ holds an exclusive `flock` on tmp/<name>.lock for as long as the
directory is in use; the lock dies with the process, kill -9 included, which is how a
cleanup tells a dead owner's leftovers from a live process's work. Removal unmounts
whatever is mounted inside first, and never deletes through a mount that is still there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import uuid
from pathlib import Path

from etage.errors import EtageError
from etage.runtime import snapshot_mounts


class SnapshotError(EtageError):
    """A snapshot cannot be prepared, mounted, committed or removed.

    Defined here, the lowest module that raises it; `etage.runtime.snapshots` exports it.
    """


class Scratch:
    """A directory tmp/<name>/ owned by this process: its lock file is held until
    `remove()` or `release()`, and so is a shared lock on `lease` (the store's gc.lock),
    which keeps garbage collection from removing snapshots while they are in use."""

    def __init__(self, tmp_dir: Path, prefix: str, lease: Path) -> None:
        self._lease = os.open(lease, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lease, fcntl.LOCK_SH)
        except BaseException:
            os.close(self._lease)
            raise
        while True:
            name = f"{prefix}{uuid.uuid4().hex[:12]}"
            lock = tmp_dir / f"{name}.lock"
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(lock, fd):
                break
            os.close(fd)  # a cleanup took this name for a dead owner's: take another
        self.name = name
        self.path = tmp_dir / name
        self._lock = lock
        self._fd = fd
        try:
            self.path.mkdir(mode=0o700)
        except BaseException:
            self.release()
            raise

    def remove(self) -> None:
        """Unmount whatever is mounted below (lazily), delete the directory, release."""
        if self._fd < 0:
            return
        try:
            remove_tree(self.path)
        finally:
            self.release()

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._lock)
            os.close(self._fd)
            self._fd = -1
            os.close(self._lease)


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def lock_if_dead(lock: Path) -> int | None:
    """The owner's lock, taken, if its owner is dead (or never took it); else None."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise
    if not _same_file(lock, fd):
        os.close(fd)
        return None
    return fd


def remove_tree(path: Path) -> None:
    """Unmount everything in `path` (lazily), then delete it; never deletes through a mount."""
    for mount in _mounts_in(path):
        snapshot_mounts.unmount(mount, detach=True)
    if _mounts_in(path):
        raise SnapshotError(f"{path}: cannot remove it: something is still mounted in it")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, onerror=_ignore_missing)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _mounts_in(path: Path) -> list[str]:
    """Mount points at or below `path`, deepest first."""
    top = os.fspath(path.resolve())
    return [
        m for m in snapshot_mounts.mounts_under(path.parent) if m == top or m.startswith(f"{top}/")
    ]


def _ignore_missing(
    func: object, path: str, exc_info: tuple[type[BaseException], BaseException, object]
) -> None:
    if not isinstance(exc_info[1], FileNotFoundError):  # removed meanwhile by another cleanup
        raise exc_info[1]
