"""Deterministic OCI layer tars: the entry model, the entry order, and a streaming writer.

`TarWriter` writes POSIX.1-2001 (PAX) tar streams to any object with `write()`; it never
seeks, and copies file contents in fixed chunks, so memory stays flat whatever the layer
size. Its output is a pure function of the entries given to it:

* entries must come in BuildKit's order (`path_sort_key`: byte order of the path with `/`
  lower than any other byte, i.e. a depth-first walk with each directory's names sorted),
  and the writer refuses any other order; parents therefore come before their children;
* uid/gid are numeric, uname/gname empty; mtimes are whole seconds (truncated, as
  containerd does), clamped to `source_date_epoch` when given; no atime or ctime;
* directories end with `/`; modes keep the setuid, setgid and sticky bits;
* headers are encoded as Go's `archive/tar` encodes them (`etage.oci.tar_header`): plain
  ustar when everything fits, else PAX records (sorted by key) for long or non-ASCII names
  and link names, large numbers, and extended attributes as `SCHILY.xattr.<name>` with the
  raw, possibly binary, value (`security.capability`);
* the archive ends with two zero blocks (no padding to 10 KiB records, like Go).

The headers are encoded here rather than by `tarfile`: `tarfile` can only store a binary
xattr value by switching the whole header to `hdrcharset=BINARY`, pads the archive to
10 KiB records, and its exact bytes are not a promise across Python versions, while layer
digests must not change when Python does. (The reader does use `tarfile`'s header parser.)

OCI whiteouts: `whiteout(path)` writes `.wh.<name>`, `opaque(dir)` writes
`<dir>/.wh..wh..opq` (OCI image spec, layer.md).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from etage.errors import EtageError
from etage.oci.tar_header import BLOCK, encode_headers, padding

CHUNK = 1 << 20
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


class LayerError(EtageError):
    """A layer cannot be written, read or applied; the message names the entry."""


class EntryType(enum.Enum):
    """Kinds of tar entries in a layer, valued by their ustar type flag."""

    FILE = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR = "3"
    BLOCK = "4"
    DIR = "5"
    FIFO = "6"


@dataclass(frozen=True, slots=True)
class TarEntry:
    """One entry of a layer.

    Written entries have a clean relative path (no leading `/` or `./`, no `..`, no trailing
    slash). Read entries keep the path as stored in the tar, less any trailing slash: apply
    code must clean it (see `etage.oci.apply`). `mtime` is in whole seconds; a reader puts
    any fraction in `mtime_nsec`.
    """

    path: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, bytes] = field(default_factory=dict, hash=False)
    mtime_nsec: int = 0

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_opaque(self) -> bool:
        return self.name == OPAQUE_MARKER

    @property
    def is_whiteout(self) -> bool:
        """A `.wh.NAME` entry (not the opaque marker)."""
        return self.name.startswith(WHITEOUT_PREFIX) and not self.is_opaque

    @property
    def whiteout_target(self) -> str:
        """For `dir/.wh.NAME`, the path it removes: `dir/NAME`."""
        head, _, base = self.path.rstrip("/").rpartition("/")
        target = base[len(WHITEOUT_PREFIX) :]
        return f"{head}/{target}" if head else target


def path_sort_key(path: str) -> bytes:
    """BuildKit's (continuity's `ComparePath`) order: bytes, with `/` before everything."""
    return os.fsencode(path).replace(b"/", b"\x00")


def clean_path(path: str) -> str:
    """The canonical relative form of a path to write; refuses `..` and the root itself."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"{path!r}: a layer path cannot contain '..'")
    if not parts:
        raise LayerError(f"{path!r}: a layer entry cannot be the root directory")
    if any("\x00" in p for p in parts):
        raise LayerError(f"{path!r}: a path cannot contain a NUL byte")
    return "/".join(parts)


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


class TarWriter:
    """Streams a deterministic PAX layer tar to `out` (any object with `write`).

    `close()` writes the end-of-archive marker; it does not close `out`.
    """

    def __init__(self, out: _Writable, *, source_date_epoch: int | None = None) -> None:
        self._out = out
        self.source_date_epoch = source_date_epoch
        self._last: bytes | None = None
        self._last_path = ""
        self._buf = bytearray(CHUNK)
        self.entries = 0
        self.closed = False

    # -- entry-level API ----------------------------------------------------------------

    def add(self, entry: TarEntry, content: BinaryIO | None = None) -> None:
        """Write one entry; a regular file's `entry.size` bytes are read from `content`."""
        if self.closed:
            raise LayerError(f"{entry.path}: the layer tar is already closed")
        path = clean_path(entry.path)
        key = path_sort_key(path)
        if self._last is not None and key <= self._last:
            raise LayerError(
                f"{path}: layer entries out of order (after {self._last_path})",
                hint="add entries sorted by etage.oci.tar.path_sort_key, parents first",
            )
        if entry.type is EntryType.FILE and entry.size and content is None:
            raise LayerError(f"{path}: a regular file entry needs its content")
        self._out.write(self._headers(entry, path))
        if entry.type is EntryType.FILE and entry.size:
            assert content is not None
            self._copy(path, content, entry.size)
            self._out.write(padding(entry.size))
        self._last, self._last_path = key, path
        self.entries += 1

    def file(
        self,
        path: str,
        content: BinaryIO,
        size: int,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> None:
        self.add(
            TarEntry(path, EntryType.FILE, mode, uid, gid, mtime, size, xattrs=xattrs or {}),
            content,
        )

    def directory(
        self,
        path: str,
        *,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> None:
        self.add(TarEntry(path, EntryType.DIR, mode, uid, gid, mtime, xattrs=xattrs or {}))

    def symlink(
        self,
        path: str,
        target: str,
        *,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> None:
        self.add(
            TarEntry(
                path,
                EntryType.SYMLINK,
                0o777,
                uid,
                gid,
                mtime,
                linkname=target,
                xattrs=xattrs or {},
            )
        )

    def hardlink(
        self,
        path: str,
        target: str,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
    ) -> None:
        """`path` is another name for the entry already written at `target`."""
        self.add(
            TarEntry(path, EntryType.HARDLINK, mode, uid, gid, mtime, linkname=clean_path(target))
        )

    def device(
        self,
        path: str,
        kind: EntryType,
        major: int,
        minor: int,
        *,
        mode: int = 0o666,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
    ) -> None:
        if kind not in (EntryType.CHAR, EntryType.BLOCK):
            raise LayerError(f"{path}: a device is EntryType.CHAR or EntryType.BLOCK")
        self.add(TarEntry(path, kind, mode, uid, gid, mtime, devmajor=major, devminor=minor))

    def fifo(
        self, path: str, *, mode: int = 0o644, uid: int = 0, gid: int = 0, mtime: int = 0
    ) -> None:
        self.add(TarEntry(path, EntryType.FIFO, mode, uid, gid, mtime))

    def whiteout(self, path: str, *, mtime: int | None = None) -> None:
        """Record that `path`, present in a lower layer, is deleted: writes `.wh.NAME`."""
        clean = clean_path(path)
        head, _, base = clean.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            raise LayerError(f"{clean}: cannot white out a name that starts with .wh.")
        name = WHITEOUT_PREFIX + base
        self._marker(f"{head}/{name}" if head else name, mtime)

    def opaque(self, directory: str, *, mtime: int | None = None) -> None:
        """Hide everything lower layers put in `directory`: writes `.wh..wh..opq` in it."""
        self._marker(f"{clean_path(directory)}/{OPAQUE_MARKER}", mtime)

    def _marker(self, path: str, mtime: int | None) -> None:
        when = mtime if mtime is not None else (self.source_date_epoch or 0)
        self.add(TarEntry(path, EntryType.FILE, 0, 0, 0, when))

    def close(self) -> None:
        """Write the end-of-archive marker (two zero blocks)."""
        if not self.closed:
            self._out.write(b"\x00" * (2 * BLOCK))
            self.closed = True

    # -- encoding ---------------------------------------------------------------------

    def _headers(self, entry: TarEntry, path: str) -> bytes:
        mtime = entry.mtime
        if self.source_date_epoch is not None:
            mtime = min(mtime, self.source_date_epoch)
        try:
            return encode_headers(entry, path, mtime)
        except ValueError as exc:
            raise LayerError(f"{path}: {exc}") from None

    def _copy(self, path: str, content: BinaryIO, size: int) -> None:
        left = size
        view = memoryview(self._buf)
        readinto = getattr(content, "readinto", None)
        while left:
            want = min(left, CHUNK)
            if readinto is not None:
                n = readinto(view[:want])
                chunk: bytes | memoryview = view[:n]
            else:
                chunk = content.read(want)
                n = len(chunk)
            if not n:
                raise LayerError(
                    f"{path}: the file has {size - left} bytes, not the {size} announced "
                    "(did it change while the layer was written?)"
                )
            self._out.write(chunk)
            left -= n
