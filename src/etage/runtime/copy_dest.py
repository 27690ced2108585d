"""The destination side of COPY/ADD: writing into a root filesystem, never out of it.

`DestTree` resolves destination paths as BuildKit's `fs.RootPath` does (every existing
symlink followed, inside the root) and creates missing directories (fsutil's `MkdirAll`:
the given mode, owned by the --chown user if any). `TreeWriter` applies the events of
`etage.runtime.copy_walk.walk` with the semantics of fsutil's copier (`copy.go`):

* a directory is created with the source's mode, or merged into an existing directory;
  below the top, an existing directory takes the source's mode and then, after its
  entries, the copied metadata; the top directory keeps its own metadata (only its times
  are set from the source); copying a directory onto something else fails with
  "cannot copy to non-directory";
* anything else replaces what is there, except a directory: "cannot replace to directory
  ... with file";
* regular files sharing an inode in the source (hard links) are linked again in the copy
  (per matched source); symlinks are copied as they are; fifos and devices are recreated
  (sockets become empty files, as in fsutil);
* every copied entry gets: owner (the --chown ids, else 0:0 for the build context, else
  the source's), mode (--chmod applied to the source's mode; never on symlinks), the
  source's extended attributes (best effort, overlayfs' own never), then its access and
  modification times.

Everything happens through directory fds with `O_NOFOLLOW`, so a symlink in the
destination tree is never written through (BuildKit resolves only the destination path
itself, inside the root).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from etage.dockerfile.ignore import DockerIgnore
from etage.oci.securejoin import Root
from etage.runtime.copy_chmod import ChmodSpec
from etage.runtime.copy_source import (
    CopyError,
    Match,
    SourceTree,
    get_xattr,
    list_xattrs,
    resolve_in_root,
)
from etage.runtime.copy_walk import ENTER, LAZY_IGNORE, LEAF, MATERIALIZE, Node, walk

__all__ = ["Counts", "DestTree", "TreeWriter"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")


@dataclass
class Counts:
    """What a copy did (see `etage.runtime.copy.CopyResult`)."""

    files: int = 0
    bytes: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    specials: int = 0
    paths: list[str] = field(default_factory=list)


def _show(parts: list[str] | tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


class DestTree:
    """The root filesystem being built."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = os.fspath(root)
        try:
            self.root = Root(root)
        except OSError as exc:
            raise CopyError(f"cannot open the copy destination {self.path}: {exc}") from exc

    def close(self) -> None:
        self.root.close()

    def __enter__(self) -> DestTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resolve(self, path: str) -> list[str]:
        return resolve_in_root(self.root.fd, path)

    def lstat(self, parts: list[str]) -> os.stat_result | None:
        if not parts:
            return os.stat(self.root.fd)
        try:
            return os.stat("/".join(parts), dir_fd=self.root.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            raise CopyError(f"{_show(parts)}: not a directory") from None

    def open_dir(self, parts: list[str]) -> int:
        """An `O_RDONLY` fd of the real directory `parts` (which must exist, no symlink)."""
        fd = os.open(".", _DIR_FLAGS, dir_fd=self.root.fd)
        try:
            for name in parts:
                try:
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENOENT):
                        raise CopyError(f"{_show(parts)}: not a directory") from None
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def mkdir_all(
        self, parts: list[str], mode: int, owner: tuple[int, int] | None, counts: Counts
    ) -> None:
        """fsutil's `MkdirAll` of a resolved path: create what is missing with `mode`."""
        fd = os.open(".", _PATH_FLAGS, dir_fd=self.root.fd)
        try:
            for i, name in enumerate(parts):
                try:
                    nfd = os.open(name, _PATH_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(name, 0o700, dir_fd=fd)
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    if owner is not None:
                        os.fchown(nfd, *owner)
                    os.fchmod(nfd, mode)
                    counts.dirs += 1
                    counts.paths.append(_show(parts[: i + 1]))
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    raise CopyError(
                        f"mkdir {_show(parts[: i + 1])}: not a directory",
                        hint=f"{_show(parts[: i + 1])} exists and is not a directory",
                    ) from None
                os.close(fd)
                fd = nfd
        finally:
            os.close(fd)


@dataclass(slots=True)
class _Dest:
    parent_fd: int  # the destination directory holding the entry (-1: the root itself)
    name: str
    parts: list[str]
    fd: int = -1  # the destination directory itself, once opened
    info_at_leave: bool = False
    restore_times: bool = False


class TreeWriter:
    """Copies matched sources into a `DestTree` (one writer per COPY/ADD)."""

    def __init__(
        self,
        dest: DestTree,
        counts: Counts,
        *,
        owner: tuple[int, int] | None,
        reset_owner: bool,
        chmod: ChmodSpec | None,
    ) -> None:
        self.dest = dest
        self.counts = counts
        self.owner = owner  # the --chown ids
        self.reset_owner = reset_owner  # build context: everything is 0:0 unless --chown
        self.chmod = chmod
        self.can_chown = os.geteuid() == 0
        self.inodes: dict[tuple[int, int], list[str]] = {}
        self.buf = bytearray(1 << 20)

    def copy_match(
        self,
        tree: SourceTree,
        match: Match,
        target: list[str],
        *,
        include: DockerIgnore | None = None,
        exclude: DockerIgnore | None = None,
        on_copied: Callable[[str], None] | None = None,
    ) -> None:
        """Copy `match` to the resolved destination path `target` (the entry's own path).

        `on_copied` is told the source path of every entry copied for itself (not the
        directories created only to hold one), for `--parents`' required paths.
        """
        self.inodes = {}  # fsutil links hard links again within one source only
        parent_fd = self.dest.open_dir(target[:-1]) if target else -1
        shown = match.display.rstrip("/")
        try:
            top_dest = _Dest(parent_fd, target[-1] if target else "", list(target))
            for event, node in walk(tree, match, include=include, exclude=exclude):
                if node.data is None:
                    if node.parent is None:
                        node.data = top_dest
                    else:
                        up: _Dest = node.parent.data
                        node.data = _Dest(up.fd, node.name, [*up.parts, node.name])
                if event == LEAF:
                    self._leaf(node)
                elif event == ENTER:
                    self._enter(node, top=node.parent is None)
                elif event == MATERIALIZE:
                    if node.lazy == LAZY_IGNORE:
                        self._enter(node, top=False)
                    else:
                        self._materialize(node)
                else:
                    self._leave(node)
                if on_copied is not None and event in (LEAF, ENTER):
                    on_copied(f"{shown}/{node.rel}" if node.rel else (shown or "/"))
        finally:
            if parent_fd >= 0:
                os.close(parent_fd)

    # -- directories -------------------------------------------------------------------

    def _open_or_create(self, node: Node, *, overwrite: bool) -> bool:
        """fsutil's `copyDirectoryOnly`; opens `node.data.fd`. True if it created it."""
        d: _Dest = node.data
        created = False
        if d.parent_fd < 0:  # the root of the destination
            d.fd = os.open(".", _DIR_FLAGS, dir_fd=self.dest.root.fd)
            existing: os.stat_result | None = os.fstat(d.fd)
        else:
            existing = _lstat(d.parent_fd, d.name)
            if existing is None:
                mode = (stat.S_IMODE(node.st.st_mode) & 0o777) | 0o700  # set exactly later
                os.mkdir(d.name, mode, dir_fd=d.parent_fd)
                created = True
            elif not stat.S_ISDIR(existing.st_mode):
                raise CopyError(
                    f"cannot copy to non-directory: {_show(d.parts)}",
                    hint=f"{_show(d.parts)} exists and is not a directory",
                )
            d.fd = os.open(d.name, _DIR_FLAGS, dir_fd=d.parent_fd)
        if created:
            self.counts.dirs += 1
            self.counts.paths.append(_show(d.parts))
        elif overwrite:
            os.fchmod(d.fd, stat.S_IMODE(node.st.st_mode))
        return created

    def _enter(self, node: Node, *, top: bool) -> None:
        d: _Dest = node.data
        created = self._open_or_create(node, overwrite=not top)
        d.info_at_leave = created or not top
        d.restore_times = top and not created

    def _materialize(self, node: Node) -> None:
        d: _Dest = node.data
        if self._open_or_create(node, overwrite=True):
            self._info(node, d.fd, None)

    def _leave(self, node: Node) -> None:
        d: _Dest = node.data
        try:
            if d.info_at_leave:
                self._info(node, d.fd, None)
            elif d.restore_times:
                st = node.st
                os.utime(d.fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        finally:
            os.close(d.fd)
            d.fd = -1

    # -- everything else -----------------------------------------------------------------

    def _leaf(self, node: Node) -> None:
        d: _Dest = node.data
        st = node.st
        pfd = d.parent_fd
        existing = _lstat(pfd, d.name)
        if existing is not None:
            if stat.S_ISDIR(existing.st_mode):
                raise CopyError(
                    f"cannot replace to directory {_show(d.parts)} with file",
                    hint=f"{_show(d.parts)} is a directory in the destination; copy into it "
                    "or choose another name",
                )
            os.unlink(d.name, dir_fd=pfd)
        self.counts.paths.append(_show(d.parts))
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFREG:
            fd = self._file(node, d)
            try:
                self._info(node, fd, None)
            finally:
                os.close(fd)
            return
        if fmt == stat.S_IFLNK:
            assert node.parent_fd is not None
            os.symlink(os.readlink(node.name, dir_fd=node.parent_fd), d.name, dir_fd=pfd)
            self.counts.symlinks += 1
        elif fmt == stat.S_IFSOCK:
            os.close(os.open(d.name, _NEW_FILE, 0o600, dir_fd=pfd))  # fsutil: a stub file
            self.counts.specials += 1
        else:
            os.mknod(d.name, fmt | 0o600, st.st_rdev, dir_fd=pfd)
            self.counts.specials += 1
        self._info(node, pfd, d.name)

    def _file(self, node: Node, d: _Dest) -> int:
        st = node.st
        key = (st.st_dev, st.st_ino)
        first = self.inodes.get(key) if st.st_nlink > 1 else None
        if first is not None:
            ffd = self.dest.open_dir(first[:-1])
            try:
                os.link(first[-1], d.name, src_dir_fd=ffd, dst_dir_fd=d.parent_fd,
                        follow_symlinks=False)  # fmt: skip
            finally:
                os.close(ffd)
            self.counts.hardlinks += 1
            return os.open(d.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d.parent_fd)
        if st.st_nlink > 1:
            self.inodes[key] = list(d.parts)
        src = node.open()
        try:
            out = os.open(d.name, _NEW_FILE, 0o600, dir_fd=d.parent_fd)
            try:
                self.counts.bytes += _copy_data(src, out, self.buf)
            except BaseException:
                os.close(out)
                raise
        finally:
            os.close(src)
        self.counts.files += 1
        return out

    def _info(self, node: Node, fd: int, name: str | None) -> None:
        """fsutil's `copyFileInfo` and `copyXAttrs`: owner, mode, xattrs, times.

        `fd` is the entry itself when `name` is None, else its directory.
        """
        st = node.st
        is_link = stat.S_ISLNK(st.st_mode)
        if self.owner is not None:
            uid, gid = self.owner
        elif self.reset_owner:
            uid, gid = 0, 0
        else:
            uid, gid = st.st_uid, st.st_gid
        if self.can_chown:
            if name is None:
                os.fchown(fd, uid, gid)
            else:
                os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
        if not is_link:
            mode = self.chmod.apply(st.st_mode) if self.chmod else stat.S_IMODE(st.st_mode)
            if name is None:
                os.fchmod(fd, mode)
            else:
                os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
        _copy_xattrs(node.xattr_source, fd if name is None else f"/proc/self/fd/{fd}/{name}")
        times = (st.st_atime_ns, st.st_mtime_ns)
        if name is None:
            os.utime(fd, ns=times)
        else:
            os.utime(name, ns=times, dir_fd=fd, follow_symlinks=False)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _copy_data(src: int, out: int, buf: bytearray) -> int:
    """Copy a whole file (copy_file_range, else read/write); the number of bytes."""
    total = 0
    try:
        while True:
            n = os.copy_file_range(src, out, 1 << 30)
            if n == 0:
                return total
            total += n
    except OSError as exc:
        if total or exc.errno not in (
            errno.EXDEV,
            errno.ENOSYS,
            errno.EINVAL,
            errno.EOPNOTSUPP,
            errno.EPERM,
            errno.EIO,
        ):
            raise
    view = memoryview(buf)
    while True:
        n = os.readv(src, [view])
        if n == 0:
            return total
        chunk = view[:n]
        while chunk:
            chunk = chunk[os.write(out, chunk) :]
        total += n


def _copy_xattrs(source: int | str, target: int | str) -> None:
    """Copy every extended attribute, best effort (fsutil logs and ignores failures).

    An int is an fd of the entry itself; a str a /proc path of it, not followed.
    """
    try:
        names = list_xattrs(source)
    except OSError:
        return
    for attr in names:
        if attr.startswith(_OVERLAY_XATTRS):
            continue
        try:
            value = get_xattr(source, attr)
            if isinstance(target, int):
                os.setxattr(target, attr, value)
            else:
                os.setxattr(target, attr, value, follow_symlinks=False)
        except OSError:
            continue
