"""Deterministic parallel gzip: pigz's block scheme on zlib-ng.

The caller cuts the uncompressed stream into blocks (all of one size but the last) and hands
them to `BlockGzipWriter.write_block` in order. Each block is deflated on its own, by a
fresh raw-deflate compressor primed with the last 32 KiB of the input before it as a preset
dictionary, and ended with a sync flush (an empty stored block that byte-aligns the output).
Nothing but the bytes of the stream reaches a compressor, so the deflate data of a block
depends only on that block, its dictionary and the level: the same whether one thread
compresses every block or several take them in any order. The outputs are written in
order between Go's gzip header and the trailer; an empty final block (fixed Huffman codes,
`03 00`) ends the deflate stream, so that no block needs to know whether it is the last.

The CRC-32 of each block is computed by the thread that compresses it and combined in order
(`crc32_combine`); ISIZE is the input length modulo 2**32.

At most `2 * threads` blocks are in flight: memory stays flat whatever the layer's size.
The compressed bytes depend on zlib-ng's version, which python-zlib-ng bundles: the
dependency is pinned, and a known-answer test guards the output.
"""

from __future__ import annotations

import struct
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from zlib_ng import zlib_ng

# Go's compress/gzip header (BuildKit, containerd): no flags, mtime 0, XFL 0, OS 255.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty final deflate block with fixed codes: BFINAL=1, BTYPE=01, end-of-block.
FINAL_BLOCK = b"\x03\x00"
WINDOW = 1 << 15  # deflate's window: a block may refer this far back into the previous ones
MEM_LEVEL = 8  # zlib's default; part of the output's definition, like the level


class Target(Protocol):
    def write(self, data: bytes, /) -> int: ...


def deflate_block(block: bytes, dictionary: bytes, level: int) -> tuple[bytes, bytes, int]:
    """Raw deflate of one block, primed with `dictionary`, ended by a sync flush.

    Returns the compressed bytes (in two parts, not to copy them) and the block's CRC-32.
    Releases the GIL while it compresses: worker threads run it in parallel.
    """
    if dictionary:
        comp = zlib_ng.compressobj(
            level, zlib_ng.DEFLATED, -15, MEM_LEVEL, zlib_ng.Z_DEFAULT_STRATEGY, dictionary
        )
    else:
        comp = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15, MEM_LEVEL)
    body = comp.compress(block)
    tail = comp.flush(zlib_ng.Z_SYNC_FLUSH)
    return body, tail, zlib_ng.crc32(block)


class BlockGzipWriter:
    """A gzip member written block by block, the blocks compressed on a thread pool.

    `write_block` takes one block (copied: the caller may reuse its buffer); `close` writes
    the remaining blocks and the trailer; `abort` drops the blocks still in flight. The
    output is a function of the blocks and the level alone.
    """

    def __init__(self, target: Target, *, level: int, threads: int) -> None:
        if not 0 <= level <= 9:
            raise ValueError(f"gzip level {level} is not between 0 and 9")
        target.write(GZIP_HEADER)
        self._target = target
        self._level = level
        self._max_pending = 2 * max(1, threads)
        self._pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="etage-gzip")
        self._pending: deque[tuple[Future[tuple[bytes, bytes, int]], int]] = deque()
        self._window = b""  # the last WINDOW bytes of input so far
        self._crc = 0
        self._size = 0
        self._closed = False

    def write_block(self, block: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("write to a closed gzip stream")
        data = bytes(block)
        if not data:
            return
        while len(self._pending) >= self._max_pending:
            self._write_oldest()
        future = self._pool.submit(deflate_block, data, self._window, self._level)
        self._pending.append((future, len(data)))
        if len(data) >= WINDOW:
            self._window = data[-WINDOW:]
        else:
            self._window = (self._window + data)[-WINDOW:]

    def _write_oldest(self) -> None:
        future, length = self._pending.popleft()
        body, tail, crc = future.result()
        self._target.write(body)
        self._target.write(tail)
        self._crc = zlib_ng.crc32_combine(self._crc, crc, length)
        self._size += length

    def close(self) -> None:
        """Write the blocks still in flight, the final block and the trailer."""
        if self._closed:
            return
        try:
            while self._pending:
                self._write_oldest()
            self._target.write(FINAL_BLOCK)
            self._target.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        finally:
            self._closed = True
            self._pending.clear()
            self._pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop without finishing the stream: cancel queued blocks, wait for running ones."""
        self._closed = True
        for future, _ in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
