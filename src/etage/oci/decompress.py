"""Reading layer blobs: sniffing the compression, streaming decompression, digest checks.

`open_decompressed` gives the uncompressed tar stream of a gzip (isal), zstd or plain blob
without loading it; `blob_digests` recomputes, in one streaming pass, a blob's digest and
size and its diffID (for docker archives, or to verify a blob against its config).

A truncated blob is an error, never a shorter layer: isal raises on a gzip stream that ends
early, and zstd streams are checked frame by frame (the `zstandard` stream reader alone
would end silently at a cut).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, cast

from etage.errors import EtageError
from etage.oci import mediatypes as mt
from etage.oci.digest import Digest, HashingReader, HashingWriter

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_MAGIC_INT = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE = 0xFFFFFFF0, 0x184D2A50


class CompressionError(EtageError):
    """A layer blob cannot be compressed or decompressed (corrupt, truncated, unknown)."""


def sniff_compression(head: bytes) -> str:
    """ "gzip", "zstd" or "none", from the first bytes of a blob."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Prefixed(io.RawIOBase):
    """A source with its first bytes (read to sniff them) put back in front; optionally
    reporting every byte read to a zstd frame checker."""

    def __init__(self, head: bytes, source: BinaryIO, check: _ZstdFrames | None) -> None:
        self._head = memoryview(head)
        self._source = source
        self._check = check

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            data = self._source.read(len(b))
            n = len(data)
            b[:n] = data
        if self._check is not None:
            if n:
                self._check.feed(memoryview(b)[:n])
            else:
                self._check.finish()
        return n


class _ZstdFrames:
    """Follows the frame and block structure of a zstd stream without decompressing it,
    to tell a complete stream from a truncated one."""

    def __init__(self) -> None:
        self._state = "magic"
        self._need = 4
        self._pending = bytearray()
        self._skip = 0
        self._checksum = False

    def feed(self, data: memoryview) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                n = min(self._skip, end - pos)
                self._skip -= n
                pos += n
                continue
            n = min(self._need - len(self._pending), end - pos)
            self._pending += data[pos : pos + n]
            pos += n
            if len(self._pending) == self._need:
                field = bytes(self._pending)
                self._pending.clear()
                self._step(field)

    def _step(self, field: bytes) -> None:
        if self._state == "magic":
            (magic,) = struct.unpack("<I", field)
            if magic == _ZSTD_MAGIC_INT:
                self._state, self._need = "fhd", 1
            elif magic & _SKIPPABLE_MASK == _SKIPPABLE:
                self._state, self._need = "skippable", 4
            else:
                raise CompressionError("corrupt zstd stream: bad frame magic")
        elif self._state == "skippable":
            self._skip = struct.unpack("<I", field)[0]
            self._state, self._need = "magic", 4
        elif self._state == "fhd":
            fhd = field[0]
            single = (fhd >> 5) & 1
            self._checksum = bool((fhd >> 2) & 1)
            fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
            self._skip = (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs
            self._state, self._need = "block", 3
        else:  # a block header
            header = int.from_bytes(field, "little")
            last, kind, size = header & 1, (header >> 1) & 3, header >> 3
            if kind == 3:
                raise CompressionError("corrupt zstd stream: reserved block type")
            self._skip = 1 if kind == 1 else size
            if last:
                self._skip += 4 if self._checksum else 0
                self._state, self._need = "magic", 4

    def finish(self) -> None:
        if self._state != "magic" or self._pending or self._skip:
            raise CompressionError("truncated zstd stream: the blob ends inside a frame")


def _read_head(source: BinaryIO, n: int) -> bytes:
    head = b""
    while len(head) < n:
        more = source.read(n - len(head))
        if not more:
            break
        head += more
    return head


def _open(source: BinaryIO, media_type: str | None) -> tuple[str, BinaryIO]:
    head = _read_head(source, 4)
    found = sniff_compression(head)
    if media_type is not None:
        declared = mt.layer_compression(media_type)
        # An "uncompressed" media type over compressed bytes is tolerated (some tools label
        # docker-save layers so); a compressed type over other bytes is a broken image.
        if declared not in ("none", found):
            raise CompressionError(
                f"the blob is {found if found != 'none' else 'not'} compressed, "
                f"but its media type {media_type} says {declared}"
            )
    check = _ZstdFrames() if found == "zstd" else None
    raw = io.BufferedReader(_Prefixed(head, source, check), CHUNK)
    if found == "gzip":
        from isal import igzip

        return found, cast(BinaryIO, igzip.IGzipFile(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
    if found == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=CHUNK, read_across_frames=True, closefd=False
        )
        return found, cast(BinaryIO, reader)
    return found, cast(BinaryIO, raw)


def open_decompressed(source: BinaryIO, media_type: str | None = None) -> BinaryIO:
    """A readable binary stream of the uncompressed content of a layer blob.

    The compression is sniffed from the magic bytes; when `media_type` names a compression,
    the bytes must match it. Closing the returned stream does not close `source`.
    Decompression errors surface from `read()` as `CompressionError`, `EOFError` (gzip cut
    short) or the codec's own error; `blob_digests` turns them all into `CompressionError`.
    """
    return _open(source, media_type)[1]


@dataclass(frozen=True, slots=True)
class BlobDigests:
    """A blob's digest and size as stored, and the diffID and size of its content."""

    digest: Digest
    size: int
    diff_id: Digest
    uncompressed_size: int
    compression: str


def is_decompression_error(exc: BaseException) -> bool:
    """Whether an exception comes from a corrupt or truncated compressed stream."""
    if isinstance(exc, (CompressionError, EOFError, OSError)):
        return True
    return type(exc).__name__ in {"IsalError", "ZstdError", "error"}


def blob_digests(
    source: BinaryIO,
    media_type: str | None = None,
    *,
    sink: Callable[[memoryview], object] | None = None,
) -> BlobDigests:
    """Digest a (possibly compressed) layer blob and its content in one streaming pass.

    `sink`, if given, receives the uncompressed bytes as they go by (to spool them).
    """
    hashing_in = HashingReader(source)
    diff = HashingWriter()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        compression, plain = _open(cast(BinaryIO, hashing_in), media_type)
        with plain:
            while n := cast(io.BufferedIOBase, plain).readinto(buf):
                diff.write(view[:n])
                if sink is not None:
                    sink(view[:n])
        # Whatever follows the compressed stream (padding) still belongs to the blob.
        while hashing_in.read(CHUNK):
            pass
    except CompressionError:
        raise
    except Exception as exc:
        if is_decompression_error(exc):
            raise CompressionError(f"cannot decompress the layer blob: {exc}") from exc
        raise
    return BlobDigests(hashing_in.digest, hashing_in.size, diff.digest, diff.size, compression)
