"""Streaming reader of layer tars: entries and their contents, without loading the layer.

`iter_layer(blob)` decompresses (gzip, zstd or none, sniffed) and `iter_tar(stream)` reads
an uncompressed tar; both yield `(TarEntry, content)` pairs, where `content` is a readable
binary stream of a regular file's bytes, valid until the next entry is asked for (the
reader skips whatever was not read). Memory does not grow with the layer: nothing is kept
from one entry to the next but PAX global headers.

Formats read: ustar, POSIX.1-2001 PAX (local and global headers; `path`, `linkpath`,
`size`, `uid`, `gid`, `mtime` with fractions; xattrs as `SCHILY.xattr.*` and libarchive's
`LIBARCHIVE.xattr.*`), GNU long names and long link names, GNU base-256 numbers, and V7
directories written as files with a trailing slash. Sparse files, multi-volume archives and
other exotic types are refused with a `LayerError`, and so are truncated or corrupt
streams: a cut never passes for a shorter layer. Headers are decoded by
`tarfile.TarInfo.frombuf` (checksum, octal and base-256 numbers); names are taken from the
raw header bytes, so that the ustar prefix is used only in ustar headers, which is where
`tarfile` and Go differ.
"""

from __future__ import annotations

import base64
import io
import os
import tarfile
import urllib.parse
from collections.abc import Iterator
from typing import BinaryIO

from etage.oci.decompress import is_decompression_error, open_decompressed
from etage.oci.tar import EntryType, LayerError, TarEntry
from etage.oci.tar_header import BLOCK

MAX_META = 16 << 20  # a PAX header or GNU long name larger than this is refused
_TYPES = {
    b"0": EntryType.FILE,
    b"\x00": EntryType.FILE,
    b"7": EntryType.FILE,  # contiguous file: a regular file everywhere that matters
    b"1": EntryType.HARDLINK,
    b"2": EntryType.SYMLINK,
    b"3": EntryType.CHAR,
    b"4": EntryType.BLOCK,
    b"5": EntryType.DIR,
    b"6": EntryType.FIFO,
}
_POSIX_MAGIC = b"ustar\x00"


class _Source:
    """The tar stream, read exactly, with its offset for error messages."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def read(self, n: int, what: str) -> bytes:
        parts = []
        left = n
        while left:
            try:
                data = self.stream.read(min(left, 1 << 20))
            except LayerError:
                raise
            except Exception as exc:
                if is_decompression_error(exc):
                    raise LayerError(f"corrupt layer while reading {what}: {exc}") from exc
                raise
            if not data:
                break
            parts.append(data)
            left -= len(data)
        out = b"".join(parts)
        self.offset += len(out)
        if len(out) != n and n:
            if not out and what == "a header":
                return b""
            raise LayerError(f"truncated layer: it ends inside {what} (offset {self.offset})")
        return out

    def skip(self, n: int, what: str) -> None:
        while n:
            step = min(n, 1 << 20)
            self.read(step, what)
            n -= step


class _Content(io.RawIOBase):
    """The bytes of one regular file entry."""

    def __init__(self, source: _Source, size: int, path: str) -> None:
        self._source = source
        self.left = size
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.left)
        if not n:
            return 0
        data = self._source.read(n, f"the content of {self._path}")
        b[:n] = data
        self.left -= n
        return n


def _cstring(raw: bytes) -> bytes:
    return raw.split(b"\x00", 1)[0]


def _parse_pax(data: bytes, offset: int) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # some writers pad the records with NULs
            break
        space = data.find(b" ", pos)
        digits = data[pos:space]
        if space < 0 or not digits.isdigit():
            raise LayerError(f"corrupt PAX header at offset {offset}: bad record length")
        length = int(digits)
        record = data[pos : pos + length]
        if length <= len(digits) + 1 or len(record) != length or not record.endswith(b"\n"):
            raise LayerError(f"corrupt PAX header at offset {offset}: bad record")
        key, eq, value = record[len(digits) + 1 : -1].partition(b"=")
        if not eq:
            raise LayerError(f"corrupt PAX header at offset {offset}: record without '='")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


def _int(records: dict[str, bytes], key: str, default: int, where: str) -> int:
    value = records.get(key)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise LayerError(f"{where}: invalid PAX {key} {value!r}") from None


def _mtime(value: bytes, default: int, where: str) -> tuple[int, int]:
    """PAX time "[-]seconds[.fraction]" as whole seconds (floor) and nanoseconds."""
    if not value:
        return default, 0
    text = value.decode("ascii", "replace")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise LayerError(f"{where}: invalid PAX mtime {text!r}")
    nsec = int((frac + "000000000")[:9])
    seconds = int(whole)
    if negative:
        seconds, nsec = (-seconds - 1, 1_000_000_000 - nsec) if nsec else (-seconds, 0)
    return seconds, nsec


def _xattrs(records: dict[str, bytes], where: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in records.items():
        if key.startswith("SCHILY.xattr."):
            out[key[len("SCHILY.xattr.") :]] = value
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr.") :], errors="surrogateescape")
            try:
                out.setdefault(name, base64.b64decode(value + b"=" * (-len(value) % 4)))
            except ValueError:
                raise LayerError(f"{where}: invalid LIBARCHIVE.xattr value") from None
    return out


def iter_tar(stream: BinaryIO) -> Iterator[tuple[TarEntry, BinaryIO]]:
    """Entries of an uncompressed tar stream, with their content (see the module doc)."""
    source = _Source(stream)
    global_pax: dict[str, bytes] = {}
    local_pax: dict[str, bytes] = {}
    long_name: bytes | None = None
    long_link: bytes | None = None
    empty = io.BytesIO(b"")
    while True:
        at = source.offset
        block = source.read(BLOCK, "a header")
        if not block or block == b"\x00" * BLOCK:
            return  # end of archive (a missing second zero block is tolerated, as in Go)
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise LayerError(f"corrupt layer: invalid tar header at offset {at} ({exc})") from exc
        flag = block[156:157]
        where = f"tar header at offset {at}"
        if flag in (b"x", b"g", b"L", b"K"):
            if not 0 <= info.size <= MAX_META:
                raise LayerError(f"{where}: {info.size}-byte metadata entry is too large")
            data = source.read(info.size, "a metadata entry")
            source.skip(-info.size % BLOCK, "padding")
            if flag == b"x":
                local_pax.update(_parse_pax(data, at))
            elif flag == b"g":
                global_pax.update(_parse_pax(data, at))
            elif flag == b"L":
                long_name = _cstring(data)
            else:
                long_link = _cstring(data)
            continue
        pax = {**global_pax, **local_pax}
        name = _cstring(block[0:100])
        if block[257:263] == _POSIX_MAGIC and (prefix := _cstring(block[345:500])):
            name = prefix + b"/" + name
        name = pax.get("path") or long_name or name
        link = pax.get("linkpath") or long_link or _cstring(block[157:257])
        path = os.fsdecode(name)
        where = path or where
        kind = _TYPES.get(flag)
        if kind is EntryType.FILE and flag == b"\x00" and name.endswith(b"/"):
            kind = EntryType.DIR  # V7: a directory is a file whose name ends with a slash
        if kind is None:
            raise LayerError(f"{where}: unsupported tar entry type {flag!r}")
        if any(k.startswith("GNU.sparse.") for k in pax):
            raise LayerError(f"{where}: sparse files are not supported in layers")
        size = _int(pax, "size", info.size, where) if kind is EntryType.FILE else 0
        if size < 0:
            raise LayerError(f"{where}: negative size")
        mtime, nsec = _mtime(pax.get("mtime", b""), int(info.mtime), where)
        entry = TarEntry(
            path=path.rstrip("/") or path,
            type=kind,
            mode=info.mode & 0o7777,
            uid=_int(pax, "uid", info.uid, where),
            gid=_int(pax, "gid", info.gid, where),
            mtime=mtime,
            size=size,
            linkname=os.fsdecode(link) if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else "",
            devmajor=info.devmajor if kind in (EntryType.CHAR, EntryType.BLOCK) else 0,
            devminor=info.devminor if kind in (EntryType.CHAR, EntryType.BLOCK) else 0,
            xattrs=_xattrs(pax, where),
            mtime_nsec=nsec,
        )
        local_pax, long_name, long_link = {}, None, None
        if size:
            content = _Content(source, size, path)
            yield entry, content  # type: ignore[misc]
            source.skip(content.left + (-size % BLOCK), f"the content of {path}")
        else:
            empty.seek(0)
            yield entry, empty


def iter_layer(
    blob: BinaryIO, media_type: str | None = None
) -> Iterator[tuple[TarEntry, BinaryIO]]:
    """Entries of a layer blob, decompressed on the fly (see `iter_tar`)."""
    with open_decompressed(blob, media_type) as plain:
        yield from iter_tar(plain)
