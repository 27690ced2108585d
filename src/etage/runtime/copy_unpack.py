"""ADD of a local tar archive: detected by content, extracted into the destination.

BuildKit (`solver/llbsolver/file/unpack.go`) treats a source as an archive when it is a
regular file (after following a symlink source) whose content, decompressed if it starts
with a bzip2, gzip, xz or zstd magic number (file names do not matter), begins with a
valid tar header. It then makes the destination a directory (`MkdirAll`, 0755, owned by
the --chown user) and extracts there with moby/go-archive's `Untar`, chrooted into the
destination, so that:

* every entry stays inside the destination directory (`../x`, `/x` and symlinked
  parents all land below it); symlinks are created as they are written;
* an existing entry is replaced, except a directory by a directory (merged); the
  archive's root entry (`./`) leaves the destination's own metadata alone;
* missing parents are created 0755, owned by root; owners are the archive's, or the
  --chown ids for every entry when given; modes (special bits included), xattrs and
  mtimes are the archive's (a hard link entry's header applies to the shared inode);
  directories get their mtimes last; --chmod does not apply;
* `.wh.*` names are ordinary files here (no whiteout processing).
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import lzma
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from etage.oci.decompress import open_decompressed
from etage.oci.securejoin import Root, clean_parts
from etage.oci.tar import EntryType, LayerError, TarEntry
from etage.oci.tar_header import BLOCK
from etage.oci.tar_reader import iter_tar
from etage.runtime.copy_dest import Counts
from etage.runtime.copy_source import CopyError

__all__ = ["extract_archive", "open_archive"]

_BZIP2 = b"BZh"
_GZIP = b"\x1f\x8b\x08"
_XZ = b"\xfd7zXZ\x00"
_ZSTD = b"\x28\xb5\x2f\xfd"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_TIME = (1 << 63) // 1_000_000_000  # Go's maximum time.Unix(0, MaxInt64), in seconds
_SKIP_XATTR = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)


def _compression(head: bytes) -> str:
    if head.startswith(_BZIP2):
        return "bzip2"
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_XZ):
        return "xz"
    if head.startswith(_ZSTD) or (
        len(head) >= 8 and int.from_bytes(head[:4], "little") & 0xFFFFFFF0 == 0x184D2A50
    ):
        return "zstd"
    return "none"


@contextlib.contextmanager
def _decompressed(raw: BinaryIO) -> Iterator[BinaryIO]:
    head = raw.read(8)
    raw.seek(0)
    kind = _compression(head)
    if kind == "bzip2":
        with bz2.BZ2File(raw) as plain:
            yield plain  # type: ignore[misc]
    elif kind == "xz":
        with lzma.LZMAFile(raw) as plain:
            yield plain  # type: ignore[misc]
    elif kind in ("gzip", "zstd"):
        with open_decompressed(raw) as plain:
            yield plain
    else:
        yield raw


def _is_tar(raw: BinaryIO) -> bool:
    """Does the (decompressed) stream start with a tar header Go's reader accepts?"""
    try:
        with _decompressed(raw) as plain:
            block = plain.read(BLOCK)
    except Exception:  # any decompression error: not an archive, as in BuildKit
        return False
    if len(block) < BLOCK or block == b"\x00" * BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def open_archive(fd: int) -> BinaryIO | None:
    """A regular file opened as `fd`, as a stream if it is a tar archive, else None.

    Takes ownership of `fd` (closed when the result is None).
    """
    raw = os.fdopen(fd, "rb")
    try:
        if _is_tar(raw):
            raw.seek(0)
            return raw
    except BaseException:
        raw.close()
        raise
    raw.close()
    return None


def extract_archive(
    raw: BinaryIO,
    dest_dir: str,
    *,
    owner: tuple[int, int] | None,
    counts: Counts,
    shown: str = "",
) -> None:
    """Extract the archive `raw` into the directory `dest_dir` (a path naming it).

    `shown` is the directory's path in the destination root, for `counts.paths`.
    """
    try:
        with Root(dest_dir) as root, _decompressed(raw) as plain:
            extractor = _Extractor(root, owner, counts, shown.rstrip("/"))
            for entry, content in iter_tar(plain):
                extractor.apply(entry, content)
            extractor.finish()
    except LayerError as exc:
        raise CopyError(f"cannot extract the archive: {exc}") from exc
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise CopyError(f"cannot extract the archive: {exc.strerror or exc}{where}") from exc


class _Extractor:
    def __init__(
        self, root: Root, owner: tuple[int, int] | None, counts: Counts, shown: str
    ) -> None:
        self.shown = shown
        self.root = root
        self.owner = owner
        self.counts = counts
        self.is_root = os.geteuid() == 0
        self.dirs: list[tuple[list[str], int]] = []
        self.buf = bytearray(1 << 20)

    def apply(self, entry: TarEntry, content: BinaryIO) -> None:
        parts = clean_parts(entry.path)
        if not parts:
            if entry.type is EntryType.DIR:
                return  # "." over the existing destination: go-archive skips it
            raise CopyError(f"{entry.path}: the archive replaces its root with a file")
        opened = self.root.open_dir(parts[:-1], create=True)
        assert opened is not None
        pfd, real = opened
        name = parts[-1]
        try:
            existing = _lstat(pfd, name)
            if existing is not None and not (
                stat.S_ISDIR(existing.st_mode) and entry.type is EntryType.DIR
            ):
                _remove(pfd, name)
                existing = None
            self._create(entry, pfd, name, existing, content)
            self._metadata(entry, pfd, name, real)
        finally:
            os.close(pfd)
        if entry.type is EntryType.DIR:
            self.dirs.append(([*real, name], _mtime(entry)))

    def _create(
        self,
        entry: TarEntry,
        pfd: int,
        name: str,
        existing: os.stat_result | None,
        content: BinaryIO,
    ) -> None:
        kind = entry.type
        if kind is EntryType.DIR:
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=pfd)
                self.counts.dirs += 1
        elif kind is EntryType.FILE:
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=pfd)
            with os.fdopen(fd, "wb", closefd=True) as out:
                shutil.copyfileobj(content, out, len(self.buf))
            self.counts.files += 1
            self.counts.bytes += entry.size
        elif kind is EntryType.SYMLINK:
            os.symlink(entry.linkname, name, dir_fd=pfd)
            self.counts.symlinks += 1
        elif kind is EntryType.HARDLINK:
            target = clean_parts(entry.linkname)
            opened = self.root.open_dir(target[:-1]) if target else None
            if opened is None:
                raise CopyError(f"{entry.path}: hard link target {entry.linkname} not found")
            tfd = opened[0]
            try:
                os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(tfd)
            self.counts.hardlinks += 1
        else:
            fmt = {
                EntryType.CHAR: stat.S_IFCHR,
                EntryType.BLOCK: stat.S_IFBLK,
                EntryType.FIFO: stat.S_IFIFO,
            }[kind]
            device = os.makedev(entry.devmajor, entry.devminor) if fmt != stat.S_IFIFO else 0
            os.mknod(name, fmt | (entry.mode & 0o7777), device, dir_fd=pfd)
            self.counts.specials += 1

    def _metadata(self, entry: TarEntry, pfd: int, name: str, real: list[str]) -> None:
        kind = entry.type
        self.counts.paths.append("/".join([self.shown, *real, name]))
        uid, gid = self.owner if self.owner is not None else (entry.uid, entry.gid)
        if self.is_root:
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        path = f"/proc/self/fd/{pfd}/{name}"
        for attr, value in entry.xattrs.items():
            try:
                os.setxattr(path, attr, value, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _SKIP_XATTR:
                    raise
        link_to_symlink = False
        if kind is EntryType.HARDLINK:
            st = _lstat(pfd, name)
            link_to_symlink = st is None or stat.S_ISLNK(st.st_mode)
        ns = _mtime(entry)
        if kind is EntryType.SYMLINK:
            os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
            return
        if link_to_symlink:
            return
        os.chmod(name, entry.mode & 0o7777, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)

    def finish(self) -> None:
        for parts, ns in self.dirs:
            opened = self.root.open_dir(parts, follow=False)
            if opened is None:
                continue
            fd = opened[0]
            try:
                os.utime(f"/proc/self/fd/{fd}", ns=(ns, ns))
            finally:
                os.close(fd)


def _mtime(entry: TarEntry) -> int:
    """go-archive's `boundTime`: times before 1970 or past 2262 become the epoch."""
    if entry.mtime < 0 or entry.mtime >= _MAX_TIME:
        return 0
    return entry.mtime * 1_000_000_000 + entry.mtime_nsec


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(dir_fd: int, name: str) -> None:
    st = _lstat(dir_fd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)
