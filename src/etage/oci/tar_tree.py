"""Writing a directory tree into a layer tar, deterministically.

`write_tree(writer, root)` walks `root` depth-first with each directory's names in byte
order, which is the order `TarWriter` requires (BuildKit's), so two runs on the same tree
give the same bytes. It never follows a symlink (they are stored as links), stores a file
with several names once and the other names as hardlinks (by `st_dev`/`st_ino`, the first
name in walk order being the file), keeps device nodes and fifos, skips sockets (as Docker
does), and reads file contents in chunks. Extended attributes are read without following
symlinks; `default_xattr_filter` leaves out overlayfs' own attributes and the host's
SELinux labels, which describe the build machine, not the image.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from etage.oci.tar import EntryType, LayerError, TarEntry, TarWriter

XattrFilter = Callable[[str], bool]
_HOST_XATTRS = ("trusted.overlay.", "user.overlay.", "security.selinux")


def default_xattr_filter(name: str) -> bool:
    """Keep every extended attribute but overlayfs' metadata and SELinux labels."""
    return not name.startswith(_HOST_XATTRS)


@dataclass(slots=True)
class TreeStats:
    """What `write_tree` wrote."""

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    fifos: int = 0
    sockets_skipped: int = 0
    bytes: int = 0


def read_xattrs(path: str, keep: XattrFilter | None = default_xattr_filter) -> dict[str, bytes]:
    """The extended attributes of `path` itself (symlinks not followed), sorted by name."""
    if keep is None:
        return {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            return {}
        raise
    out = {}
    for name in sorted(names):
        if not keep(name):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed meanwhile
                raise
    return out


def _children(directory: str, rel: str) -> Iterator[tuple[str, str]]:
    with os.scandir(directory) as it:
        names = sorted((e.name for e in it), key=os.fsencode)
    for name in names:
        yield (f"{rel}/{name}" if rel else name), os.path.join(directory, name)


def write_tree(
    writer: TarWriter,
    root: str | os.PathLike[str],
    *,
    prefix: str = "",
    xattr_filter: XattrFilter | None = default_xattr_filter,
) -> TreeStats:
    """Write every entry under `root` (not `root` itself) to `writer`, under `prefix`.

    Entries the caller adds around this call must keep the writer's order: with a prefix,
    write the prefix's directories first.
    """
    walk = _Walk(writer, xattr_filter)
    top = os.fspath(Path(root))
    base = prefix.strip("/")
    stack: list[Iterator[tuple[str, str]]] = [_children(top, "")]
    while stack:
        try:
            rel, path = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        except OSError as exc:
            raise LayerError(f"{exc.filename}: cannot list the directory: {exc.strerror}") from exc
        name = f"{base}/{rel}" if base else rel
        try:
            st = os.lstat(path)
            is_dir = walk.one(name, path, st)
        except OSError as exc:
            raise LayerError(f"{path}: cannot add to the layer: {exc.strerror}") from exc
        if is_dir:
            stack.append(_children(path, rel))
    return walk.stats


class _Walk:
    def __init__(self, writer: TarWriter, xattr_filter: XattrFilter | None) -> None:
        self.writer = writer
        self.xattr_filter = xattr_filter
        self.stats = TreeStats()
        self.links: dict[tuple[int, int], str] = {}

    def one(self, name: str, path: str, st: os.stat_result) -> bool:
        """Write one entry; True if it is a directory to descend into."""
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK:
            self.stats.sockets_skipped += 1
            return False
        mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        mtime = st.st_mtime_ns // 1_000_000_000
        if fmt != stat.S_IFDIR and st.st_nlink > 1:
            first = self.links.setdefault((st.st_dev, st.st_ino), name)
            if first != name:
                self.writer.add(
                    TarEntry(name, EntryType.HARDLINK, mode, uid, gid, mtime, linkname=first)
                )
                self.stats.hardlinks += 1
                return False
        xattrs = read_xattrs(path, self.xattr_filter)
        if fmt == stat.S_IFDIR:
            self.writer.add(TarEntry(name, EntryType.DIR, mode, uid, gid, mtime, xattrs=xattrs))
            self.stats.dirs += 1
            return True
        if fmt == stat.S_IFREG:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, "rb", buffering=0) as f:
                now = os.fstat(fd)
                if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (
                    st.st_dev,
                    st.st_ino,
                ):
                    raise LayerError(f"{path}: replaced while the layer was written")
                entry = TarEntry(
                    name, EntryType.FILE, mode, uid, gid, mtime, now.st_size, xattrs=xattrs
                )
                self.writer.add(entry, f)
            self.stats.files += 1
            self.stats.bytes += now.st_size
        elif fmt == stat.S_IFLNK:
            target = os.readlink(path)
            self.writer.add(
                TarEntry(
                    name, EntryType.SYMLINK, mode, uid, gid, mtime, linkname=target, xattrs=xattrs
                )
            )
            self.stats.symlinks += 1
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            kind = EntryType.CHAR if fmt == stat.S_IFCHR else EntryType.BLOCK
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.writer.add(
                TarEntry(
                    name, kind, mode, uid, gid, mtime, devmajor=major, devminor=minor, xattrs=xattrs
                )
            )
            self.stats.devices += 1
        elif fmt == stat.S_IFIFO:
            self.writer.add(TarEntry(name, EntryType.FIFO, mode, uid, gid, mtime, xattrs=xattrs))
            self.stats.fifos += 1
        else:  # pragma: no cover - no other file types on Linux
            raise LayerError(f"{path}: unsupported file type {fmt:o}")
        return False
