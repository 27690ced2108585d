"""The gzip layer writer: pigz's block scheme on zlib-ng (`etage.oci.gzip_blocks`).

Its output must be a function of the input, the level and the block size alone (never of
the number of threads or of how the caller's writes were cut), a single valid gzip member
that every decoder reads (gzip -d, Python's gzip and zlib, isal, Go's compress/gzip), with
Go's header and a correct CRC-32 and ISIZE. A known answer pins the bytes themselves: they
depend on the zlib-ng that python-zlib-ng bundles, so an upgrade that changes them (and
every layer digest etage computes) fails here first.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest
from isal import isal_zlib

from etage.oci.compress import (
    GZIP_BLOCK_SIZE,
    GZIP_HEADER,
    GZIP_LEVEL,
    CompressionError,
    LayerWriter,
    blob_digests,
    open_decompressed,
)
from etage.oci.gzip_blocks import FINAL_BLOCK, BlockGzipWriter, deflate_block

MIB = 1 << 20


def kat_payload() -> bytes:
    """About 3.3 MiB of text-like, random and zero bytes, the same on every Python."""
    words = [hashlib.sha256(b"w%d" % i).hexdigest()[: 2 + i % 11].encode() for i in range(700)]
    picks = hashlib.shake_256(b"etage words").digest(2 * 380_000)
    text = b" ".join(words[(picks[2 * k] << 8 | picks[2 * k + 1]) % 700] for k in range(380_000))
    noise = hashlib.shake_256(b"etage noise").digest(300_000)
    return text[: 3 * MIB - 7] + noise + bytes(100_000) + text[:50_001]


# sha256 of the gzip blob of kat_payload() at the default level and block size.
KAT_DIGEST = "1d66a0c60a96e43384e933a9ff63215d8c4d6d33ff19599097511a66f4f49214"


@pytest.fixture(scope="module")
def payload() -> bytes:
    return kat_payload()


def gz(data: bytes, *, write: int = MIB, **options: int) -> bytes:
    out = io.BytesIO()
    with LayerWriter(out, "gzip", **options) as writer:  # type: ignore[arg-type]
        view = memoryview(data)
        for pos in range(0, len(data), write):
            writer.write(view[pos : pos + write])
    return out.getvalue()


def single_member(blob: bytes) -> bytes:
    """Decompress with zlib, checking that the blob is exactly one gzip member."""
    d = zlib.decompressobj(31)
    plain = d.decompress(blob) + d.flush()
    assert d.eof and d.unused_data == b""
    return plain


def test_known_answer(payload: bytes) -> None:
    assert (GZIP_LEVEL, GZIP_BLOCK_SIZE) == (5, MIB)
    blob = gz(payload)
    assert hashlib.sha256(blob).hexdigest() == KAT_DIGEST, (
        "the gzip bytes changed: zlib-ng's version or etage's block scheme? Every layer digest "
        "changes with them."
    )


@pytest.mark.parametrize("level", [1, 4, 9])
def test_same_bytes_whatever_the_threads_and_write_sizes(payload: bytes, level: int) -> None:
    data = payload[: 2 * MIB + 12345]
    blobs = {
        gz(data, write=write, threads=threads, level=level)
        for threads in (1, 2, 4)
        for write in (1, 4095, 65536, MIB, 3 * MIB)
    }
    assert len(blobs) == 1
    assert single_member(blobs.pop()) == data


def test_bytes_depend_on_the_block_size_but_all_decompress(payload: bytes) -> None:
    data = payload[: MIB + 999]
    blobs = {bs: gz(data, block_size=bs) for bs in (4096, 32768, 128 * 1024, MIB, 4 * MIB)}
    for blob in blobs.values():
        assert single_member(blob) == data
    assert len(set(blobs.values())) == len(blobs)


def test_header_and_trailer(payload: bytes) -> None:
    blob = gz(payload)
    assert blob[:10] == GZIP_HEADER  # mtime 0, no name, XFL 0, OS 255: as Go writes it
    assert blob[-10:-8] == FINAL_BLOCK
    assert struct.unpack("<II", blob[-8:]) == (zlib.crc32(payload), len(payload))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"x",
        bytes(MIB),  # exactly one block
        bytes(3 * MIB),  # exactly three
        os.urandom(MIB + 1),  # incompressible: stored blocks
        b"ab" * (MIB + 5),
    ],
    ids=["empty", "one-byte", "one-block", "three-blocks", "random", "repetitive"],
)
def test_edge_sizes_decompress_everywhere(data: bytes, tmp_path: Path) -> None:
    blob = gz(data)
    assert single_member(blob) == data
    assert gzip.decompress(blob) == data
    assert isal_zlib.decompress(blob, wbits=31) == data
    with open_decompressed(io.BytesIO(blob)) as plain:
        assert plain.read() == data
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(blob)
    subprocess.run(["gzip", "-t", str(path)], check=True)
    assert (
        subprocess.run(["gzip", "-dc", str(path)], check=True, capture_output=True).stdout == data
    )


def test_blocks_see_the_previous_32_kib() -> None:
    # 16 KiB of noise repeated: with 32 KiB blocks, only the dictionary finds the repeats
    # at the start of each block.
    noise = hashlib.shake_256(b"dictionary").digest(16 * 1024)
    data = noise * 64
    blob = gz(data, block_size=32 * 1024)
    assert single_member(blob) == data
    assert len(blob) < 2 * len(noise)
    blocks = [data[pos : pos + 32 * 1024] for pos in range(0, len(data), 32 * 1024)]
    independent = sum(len(b) + len(t) for b, t, _ in (deflate_block(x, b"", 4) for x in blocks))
    assert independent > 16 * len(noise)


def test_a_window_spanning_small_blocks() -> None:
    # Blocks smaller than the window: the dictionary is the last 32 KiB over several blocks.
    noise = hashlib.shake_256(b"small blocks").digest(30_000)
    data = noise + bytes(1000) + noise  # the repeat is 31,000 bytes back: within reach
    blob = gz(data, block_size=4096)
    assert single_member(blob) == data
    assert len(blob) < len(noise) + 2000


def test_levels_and_a_bad_level(payload: bytes) -> None:
    data = payload[: MIB // 2]
    sizes = [len(gz(data, level=level)) for level in range(10)]
    assert sizes[0] > len(data) > sizes[1] > sizes[9]
    with pytest.raises(CompressionError, match="level"):
        LayerWriter(io.BytesIO(), "gzip", level=10)


def test_the_writer_copies_what_it_is_given() -> None:
    out = io.BytesIO()
    writer = BlockGzipWriter(out, level=4, threads=2)
    buf = bytearray(b"a" * 65536)
    writer.write_block(buf)
    buf[:] = b"b" * 65536  # the caller reuses its buffer at once
    writer.write_block(buf)
    writer.close()
    assert single_member(out.getvalue()) == b"a" * 65536 + b"b" * 65536


def _gzip_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("etage-gzip")]


def test_an_error_stops_the_threads(payload: bytes) -> None:
    def fail() -> None:
        with LayerWriter(io.BytesIO(), "gzip") as writer:
            writer.write(payload)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    assert not _gzip_threads()
    writer = LayerWriter(io.BytesIO(), "gzip")
    writer.write(payload)
    writer.close()
    assert not _gzip_threads()


def test_a_failing_target_is_an_error_not_a_hang(payload: bytes) -> None:
    class Full(io.RawIOBase):
        """Takes the header, then the disk is full."""

        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            if len(data) != len(GZIP_HEADER):  # type: ignore[arg-type]
                raise OSError(28, "No space left on device")
            return len(GZIP_HEADER)

    with pytest.raises(OSError, match="No space"), LayerWriter(Full(), "gzip") as writer:  # type: ignore[arg-type]
        writer.write(payload)
    assert not _gzip_threads()


@pytest.mark.slow
def test_isize_wraps_past_4_gib() -> None:
    zeros = memoryview(bytes(4 * MIB))
    out = io.BytesIO()
    with LayerWriter(out, "gzip") as writer:
        for _ in range(1024):
            writer.write(zeros)
        writer.write(b"tail!")
    blob = out.getvalue()
    crc = zlib.crc32(b"tail!", _crc_of_zeros(4 << 30))
    assert struct.unpack("<II", blob[-8:]) == (crc, 5)
    digests = blob_digests(io.BytesIO(blob))  # isal: checks the CRC and the size
    assert digests.uncompressed_size == (4 << 30) + 5
    assert digests.diff_id == writer.digests.diff_id


def _crc_of_zeros(n: int) -> int:
    crc, block = 0, bytes(4 * MIB)
    for _ in range(n // len(block)):
        crc = zlib.crc32(block, crc)
    return crc


GO_READER = r"""
package main

import (
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func main() {
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			panic(err)
		}
		r, err := gzip.NewReader(f)
		if err != nil {
			panic(err)
		}
		r.Multistream(false)
		h := sha256.New()
		n, err := io.Copy(h, r)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%x %d %d %t %q\n", h.Sum(nil), n, r.Header.OS, r.Header.ModTime.IsZero(), r.Header.Name)
		f.Close()
	}
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed")
def test_gos_compress_gzip_reads_the_output(payload: bytes, tmp_path: Path) -> None:
    cases = [payload, b"", b"x", bytes(2 * MIB), os.urandom(MIB + 3)]
    paths = []
    for i, data in enumerate(cases):
        path = tmp_path / f"{i}.gz"
        path.write_bytes(gz(data, threads=2))
        paths.append(str(path))
    program = tmp_path / "main.go"
    program.write_text(GO_READER)
    env = {**os.environ, "GOPROXY": "off", "GO111MODULE": "off",
           "GOCACHE": str(tmp_path / "gocache")}  # fmt: skip
    go = subprocess.run(
        ["go", "run", str(program), *paths], env=env, capture_output=True, text=True,
        check=True, timeout=300,
    )  # fmt: skip
    expected = [f'{hashlib.sha256(d).hexdigest()} {len(d)} 255 true ""' for d in cases]
    assert go.stdout.splitlines() == expected
