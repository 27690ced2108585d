"""Layer tars and their compression: determinism, PAX round trips, interop, digests."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from etage.oci import mediatypes as mt
from etage.oci.compress import (
    GZIP_HEADER,
    CompressionError,
    LayerWriter,
    blob_digests,
    compress_stream,
    open_decompressed,
)
from etage.oci.tar import EntryType, LayerError, TarEntry, TarWriter, path_sort_key
from etage.oci.tar_reader import iter_layer, iter_tar
from etage.oci.tar_tree import write_tree
from tests.layer_fixtures import (
    CAP_NET_RAW,
    LONG_FILE,
    LONG_TARGET,
    NON_UTF8,
    describe,
    info,
    make_tree,
    raw_tar,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="devices, chown and xattrs need root")
pytestmark = needs_root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


def tar_of(root: Path, **options: int) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out, **options)  # type: ignore[arg-type]
    write_tree(writer, root)
    writer.close()
    return out.getvalue()


def entries_of(data: bytes) -> list[tuple[TarEntry, bytes]]:
    return [(e, c.read()) for e, c in iter_tar(io.BytesIO(data))]


# ---- determinism ---------------------------------------------------------------------------


def test_two_runs_give_identical_bytes(tree: Path) -> None:
    first = tar_of(tree, source_date_epoch=1_700_000_000)
    for path in tree.rglob("*"):  # atime and ctime change; the layer must not
        if path.is_file() and not path.is_symlink():
            path.read_bytes()
            os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode))
    assert tar_of(tree, source_date_epoch=1_700_000_000) == first
    assert len(first) % 512 == 0 and first.endswith(b"\0" * 1024)


def test_copy_of_the_tree_gives_identical_bytes(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(tree), str(copy)], check=True)
    assert tar_of(copy) == tar_of(tree)


def test_mtimes_are_clamped_to_source_date_epoch(tree: Path) -> None:
    epoch = 1_600_000_010
    by_path = {e.path: e for e, _ in entries_of(tar_of(tree, source_date_epoch=epoch))}
    on_disk = {
        p.relative_to(tree).as_posix(): os.lstat(p).st_mtime_ns // 10**9 for p in tree.rglob("*")
    }
    assert by_path["big.bin"].mtime == epoch  # was in 2096
    for path, entry in by_path.items():
        assert entry.mtime == min(on_disk[path], epoch), path
        assert entry.mtime_nsec == 0
    unclamped = {e.path: e.mtime for e, _ in entries_of(tar_of(tree))}
    assert unclamped["big.bin"] == 4_000_000_000


def test_owners_are_numeric_and_names_empty(tree: Path) -> None:
    data = tar_of(tree)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
    assert all(m.uname == "" and m.gname == "" for m in members.values())
    assert (members["srv"].uid, members["srv"].gid) == (1000, 2000)
    assert (members["srv/owned"].uid, members["srv/owned"].gid) == (3_000_000, 4_000_000)
    assert members["srv/owned"].pax_headers["uid"] == "3000000"
    # no atime or ctime anywhere, and no uname/gname in the raw headers either
    assert b"atime=" not in data and b"ctime=" not in data
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            assert not {"atime", "ctime", "uname", "gname"} & set(member.pax_headers)


def test_entries_are_sorted_parents_first(tree: Path) -> None:
    paths = [e.path for e, _ in entries_of(tar_of(tree))]
    assert paths == sorted(paths, key=path_sort_key)
    assert paths.index("a") < paths.index("a/b") < paths.index("a-b")
    seen: set[str] = set()
    for path in paths:
        parent = path.rpartition("/")[0]
        assert not parent or parent in seen, path
        seen.add(path)


def test_directories_have_a_trailing_slash_and_modes_are_kept(tree: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_of(tree))) as tar:
        raw_names = [m.name for m in tar]  # tarfile strips the slash; check the raw header
    data = tar_of(tree)
    assert b"srv/\0" in data and b"tmp/\0" in data
    modes = {e.path: e.mode for e, _ in entries_of(data)}
    assert modes["bin/ping"] == 0o4755 and modes["tmp"] == 0o1777 and modes["srv"] == 0o2775
    assert "srv" in raw_names


def test_writer_refuses_bad_order_and_bad_paths() -> None:
    writer = TarWriter(io.BytesIO())
    writer.directory("b")
    with pytest.raises(LayerError, match="out of order"):
        writer.directory("a")
    with pytest.raises(LayerError, match="out of order"):
        writer.directory("b")  # duplicates too
    writer.directory("b/c")
    with pytest.raises(LayerError, match="out of order"):
        writer.file("b/a", io.BytesIO(b""), 0)
    for bad in ("../x", "x/../../y", "/", ".", ""):
        with pytest.raises(LayerError):
            writer.directory(bad)
    with pytest.raises(LayerError, match="announced"):
        writer.file("c", io.BytesIO(b"short"), 10)


# ---- PAX round trips -------------------------------------------------------------------------


def test_round_trip_through_the_reader(tree: Path) -> None:
    got = {e.path: (e, c) for e, c in entries_of(tar_of(tree))}
    assert "sock" not in got
    ping, content = got["bin/ping"]
    assert ping.type is EntryType.FILE and content == (tree / "bin/ping").read_bytes()
    assert ping.xattrs == {"security.capability": CAP_NET_RAW}
    assert got["empty"][0].xattrs == {
        "user.binary": b"\x00\xff\x80binary",
        "user.comment": "héllo wörld".encode(),
    }
    assert got[LONG_FILE][1] == b"deep\n"
    assert got["link-long"][0].linkname == LONG_TARGET
    assert got["link-abs"][0].linkname == "/etc/passwd"
    assert got["données/日本語.txt"][1] == "こんにちは\n".encode()
    assert got[NON_UTF8][1] == b"latin-1 name\n"
    assert got["big.bin"][1] == (tree / "big.bin").read_bytes()
    assert got["dev-null"][0].type is EntryType.CHAR
    assert (got["dev-null"][0].devmajor, got["dev-null"][0].devminor) == (1, 3)
    assert got["dev-loop9"][0].type is EntryType.BLOCK and got["dev-loop9"][0].devminor == 9
    assert got["fifo"][0].type is EntryType.FIFO and got["fifo"][0].mode == 0o640
    # a file with three names: written once, then hardlinks to the first name in walk order
    assert got["hl/one"][0].type is EntryType.FILE
    assert got["hl/two"][0].type is EntryType.HARDLINK and got["hl/two"][0].linkname == "hl/one"
    assert got["hl-three"][0].linkname == "hl/one"


def test_gnu_tar_lists_and_extracts_identically(tree: Path, tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    layer.write_bytes(tar_of(tree))
    listing = subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "-tvf", str(layer)],
        check=True, capture_output=True, text=True, errors="surrogateescape",
    ).stdout  # fmt: skip
    assert "hl-three link to hl/one" in listing
    assert f"link-long -> {LONG_TARGET}" in listing
    assert LONG_FILE in listing and "données/日本語.txt" in listing
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(
        ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", str(layer), "-C",
         str(out)],
        check=True,
    )  # fmt: skip
    assert describe(out) == describe(tree)


def test_python_tarfile_reads_every_field(tree: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_of(tree))) as tar:
        members = {m.name: m for m in tar}
        assert tar.extractfile(members[LONG_FILE]).read() == b"deep\n"  # type: ignore[union-attr]
    assert members["link-long"].linkname == LONG_TARGET
    assert members["hl/two"].islnk() and members["hl/two"].linkname == "hl/one"
    assert members["dev-null"].ischr() and members["dev-null"].devminor == 3
    assert members[NON_UTF8].name == NON_UTF8
    cap = members["bin/ping"].pax_headers["SCHILY.xattr.security.capability"]
    assert cap.encode("utf-8", "surrogateescape") == CAP_NET_RAW


@pytest.mark.parametrize("fmt", ["posix", "gnu"])
def test_reader_reads_gnu_tar_archives(tree: Path, tmp_path: Path, fmt: str) -> None:
    layer = tmp_path / "gnu.tar"
    subprocess.run(
        ["tar", f"--format={fmt}", "--xattrs", "--xattrs-include=*", "--sort=name", "-cf",
         str(layer), "-C", str(tree), "."],
        check=True, capture_output=True,
    )  # fmt: skip
    with layer.open("rb") as f:
        got = {e.path.removeprefix("./"): (e, c.read()) for e, c in iter_tar(f)}
    assert got[LONG_FILE][1] == b"deep\n"
    assert got["link-long"][0].linkname == LONG_TARGET
    assert got[NON_UTF8][1] == b"latin-1 name\n"
    assert got["srv/owned"][0].uid == 3_000_000
    assert got["big.bin"][1] == (tree / "big.bin").read_bytes()
    assert got["dev-loop9"][0].devminor == 9
    if fmt == "posix":
        assert got["bin/ping"][0].xattrs["security.capability"] == CAP_NET_RAW
        assert got["empty"][0].xattrs["user.binary"] == b"\x00\xff\x80binary"


def test_large_numbers_go_to_pax_records() -> None:
    size = 8 * 1024**3 + 1  # one more than an 11-digit octal size field holds

    class Zeros(io.RawIOBase):
        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            b[:] = bytes(len(b))
            return len(b)

    class Sink:
        def __init__(self) -> None:
            self.head = b""
            self.size = 0

        def write(self, data: bytes) -> int:
            if len(self.head) < 4096:
                self.head += bytes(data[: 4096 - len(self.head)])
            self.size += len(data)
            return len(data)

    sink = Sink()
    writer = TarWriter(sink)
    writer.add(TarEntry("huge", EntryType.FILE, 0o600, 2**31, 7, -5, size), Zeros())
    writer.close()
    assert sink.size == 3 * 512 + (size + 511) // 512 * 512 + 1024  # PAX, header, data, end
    assert b"size=8589934593\n" in sink.head and b"uid=2147483648\n" in sink.head
    assert b"mtime=-5\n" in sink.head
    with tarfile.open(fileobj=io.BytesIO(sink.head[:1536]), mode="r|") as tar:
        member = tar.next()
        assert member is not None and member.size == size and member.uid == 2**31


def test_whiteouts_and_opaque_markers() -> None:
    out = io.BytesIO()
    writer = TarWriter(out, source_date_epoch=42)
    writer.opaque("etc")
    writer.whiteout("etc/passwd")
    writer.whiteout("var/log")
    with pytest.raises(LayerError, match=r"\.wh\."):
        writer.whiteout("var/.wh.x")
    writer.close()
    entries = [e for e, _ in iter_tar(io.BytesIO(out.getvalue()))]
    assert [e.path for e in entries] == ["etc/.wh..wh..opq", "etc/.wh.passwd", "var/.wh.log"]
    assert entries[0].is_opaque and not entries[0].is_whiteout
    assert entries[1].is_whiteout and entries[1].whiteout_target == "etc/passwd"
    assert all(e.mtime == 42 and e.size == 0 and e.type is EntryType.FILE for e in entries)


def test_reader_refuses_truncated_and_corrupt_tars(tree: Path) -> None:
    data = tar_of(tree)
    for cut in (100, 1024 + 300, len(data) // 2):
        with pytest.raises(LayerError, match="truncated"):
            entries_of(data[:cut])
    corrupt = bytearray(data)
    corrupt[512 * 3 + 10] ^= 0xFF  # a name byte of a later header: the checksum fails
    with pytest.raises(LayerError, match="invalid tar header"):
        list(iter_tar(io.BytesIO(bytes(corrupt))))
    sparse = raw_tar((info("s", tarfile.GNUTYPE_SPARSE), b""))
    with pytest.raises(LayerError, match="unsupported"):
        list(iter_tar(io.BytesIO(sparse)))


def test_reader_skips_unread_content_and_never_loads_the_layer(tree: Path) -> None:
    data = tar_of(tree)
    partial = [(e.path, c.read(3)) for e, c in iter_tar(io.BytesIO(data))]
    assert dict(partial)["big.bin"] == (tree / "big.bin").read_bytes()[:3]
    assert len(partial) == len(entries_of(data))


# ---- compression ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def payload() -> bytes:
    rnd = random.Random(3)
    words = [rnd.randbytes(rnd.randint(2, 12)) for _ in range(2000)]
    text = b" ".join(rnd.choice(words) for _ in range(700_000))
    return text[: 6 * 1024 * 1024 + 123] + rnd.randbytes(512 * 1024)


def compress(data: bytes, compression: str, chunks: int = 65536, **options: int) -> bytes:
    out = io.BytesIO()
    with LayerWriter(out, compression, **options) as writer:  # type: ignore[arg-type]
        rnd = random.Random(chunks)
        pos = 0
        while pos < len(data):
            n = rnd.choice([1, 511, 512, chunks, 3 << 20])
            writer.write(data[pos : pos + n])
            pos += n
    return out.getvalue()


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_single_pass_digests_match_separate_hashes(
    payload: bytes, compression: str, tmp_path: Path
) -> None:
    blob_path = tmp_path / "blob"
    with blob_path.open("wb") as f:
        writer = LayerWriter(f, compression)
        writer.write(payload)
        result = writer.close()
    blob = blob_path.read_bytes()
    assert result.digest.hex == hashlib.sha256(blob).hexdigest()
    assert result.size == len(blob)
    assert result.diff_id.hex == hashlib.sha256(payload).hexdigest()
    assert result.uncompressed_size == len(payload)
    assert result.media_type == mt.layer_media_type(compression)
    with blob_path.open("rb") as f, open_decompressed(f, result.media_type) as plain:
        assert plain.read() == payload
    with blob_path.open("rb") as f:
        again = blob_digests(f)
    assert (again.digest, again.size, again.diff_id) == (result.digest, result.size, result.diff_id)
    assert again.compression == compression
    if compression == "none":
        assert result.digest == result.diff_id


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_output_does_not_depend_on_threads_or_write_sizes(payload: bytes, compression: str) -> None:
    outputs = {
        compress(payload, compression, chunks=chunks, threads=threads)
        for threads in (1, 2, 4, 8)
        for chunks in (512, 65536, 1 << 20)
    }
    assert len(outputs) == 1


def test_gzip_header_is_gos_and_the_command_line_reads_it(payload: bytes, tmp_path: Path) -> None:
    blob = compress(payload, "gzip")
    assert blob[:10] == GZIP_HEADER  # mtime 0, no name, XFL 0, OS 255: as Go writes it
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(blob)
    plain = subprocess.run(["gzip", "-dc", str(path)], check=True, capture_output=True).stdout
    assert plain == payload


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_zstd_command_reads_the_output(payload: bytes, tmp_path: Path) -> None:
    path = tmp_path / "layer.tar.zst"
    path.write_bytes(compress(payload, "zstd"))
    plain = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    assert plain == payload


def test_docker_media_types_and_zstd_refusal(payload: bytes) -> None:
    writer = LayerWriter(io.BytesIO(), "gzip", docker=True)
    assert writer.close().media_type == mt.DOCKER_LAYER_GZIP
    with pytest.raises(CompressionError, match="zstd"):
        LayerWriter(io.BytesIO(), "zstd", docker=True)
    with pytest.raises(CompressionError, match="unknown"):
        LayerWriter(io.BytesIO(), "bzip2")


def test_decompression_sniffs_and_checks_the_media_type(payload: bytes) -> None:
    gz = compress(payload, "gzip")
    with open_decompressed(io.BytesIO(gz)) as plain:
        assert plain.read() == payload
    with pytest.raises(CompressionError, match="media type"):
        open_decompressed(io.BytesIO(gz), mt.OCI_LAYER_ZSTD)
    with pytest.raises(CompressionError, match="media type"):
        open_decompressed(io.BytesIO(payload), mt.OCI_LAYER_GZIP)
    with open_decompressed(io.BytesIO(gz), mt.DOCKER_LAYER) as plain:  # mislabelled: tolerated
        assert plain.read() == payload


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_blobs_are_errors(payload: bytes, compression: str) -> None:
    blob = compress(payload, compression)
    for cut in (5, 100, len(blob) // 2, len(blob) - 1):
        with pytest.raises(CompressionError):
            blob_digests(io.BytesIO(blob[:cut]))


def test_concatenated_members_and_frames_are_read_whole(payload: bytes) -> None:
    half = len(payload) // 2
    for compression in ("gzip", "zstd"):
        blob = compress(payload[:half], compression) + compress(payload[half:], compression)
        assert blob_digests(io.BytesIO(blob)).diff_id.hex == hashlib.sha256(payload).hexdigest()


def test_tree_to_compressed_layer_and_back(tree: Path, tmp_path: Path) -> None:
    for compression in ("gzip", "zstd"):
        blob = tmp_path / f"layer.{compression}"
        with blob.open("wb") as f, LayerWriter(f, compression) as layer:
            writer = TarWriter(layer, source_date_epoch=1_700_000_000)
            write_tree(writer, tree)
            writer.close()
        assert layer.digests.digest.hex == hashlib.sha256(blob.read_bytes()).hexdigest()
        with blob.open("rb") as f:
            paths = [e.path for e, _ in iter_layer(f)]
        assert "bin/ping" in paths and LONG_FILE in paths
        with blob.open("rb") as f, io.BytesIO() as plain:
            compress_stream(open_decompressed(f), plain, "none")
            assert hashlib.sha256(plain.getvalue()).hexdigest() == layer.digests.diff_id.hex


# ---- differential: Go's archive/tar, which BuildKit and containerd write layers with -------------

GO_WRITER = r"""
package main

import (
	"archive/tar"
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"time"
)

type entry struct {
	Name, Linkname, Data string
	Type                 byte
	Mode, Uid, Gid       int64
	Mtime, Size          int64
	Devmajor, Devminor   int64
	Xattrs               map[string]string
}

func b64(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	tw := tar.NewWriter(out)
	dec := json.NewDecoder(os.Stdin)
	for dec.More() {
		var e entry
		if err := dec.Decode(&e); err != nil {
			panic(err)
		}
		h := &tar.Header{
			Format: tar.FormatPAX, Typeflag: e.Type, Name: b64(e.Name), Linkname: b64(e.Linkname),
			Mode: e.Mode, Uid: int(e.Uid), Gid: int(e.Gid), ModTime: time.Unix(e.Mtime, 0),
			Size: e.Size, Devmajor: e.Devmajor, Devminor: e.Devminor,
		}
		for k, v := range e.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = b64(v)
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if _, err := tw.Write([]byte(b64(e.Data))); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	out.Flush()
}
"""


def go_entries() -> list[tuple[TarEntry, bytes]]:
    t = 1_600_000_000
    cases = [
        (TarEntry("bin", EntryType.DIR, 0o755, mtime=t), b""),
        (TarEntry("bin/ping", EntryType.FILE, 0o4755, mtime=t, size=5,
                  xattrs={"security.capability": CAP_NET_RAW, "user.a": b"\x00\xff"}), b"hello"),
        (TarEntry("a" * 100, EntryType.FILE, 0o644, mtime=t, size=1), b"1"),
        (TarEntry("b" * 101, EntryType.FILE, 0o644, mtime=t, size=1), b"2"),
        (TarEntry("c" * 99, EntryType.DIR, 0o700, mtime=t), b""),
        (TarEntry("d" * 100, EntryType.DIR, 0o700, mtime=t), b""),
        (TarEntry("e" * 99 + "/f", EntryType.FILE, 0o644, mtime=t, size=0), b""),
        (TarEntry("h" * 98 + "/i", EntryType.DIR, 0o755, mtime=t), b""),
        (TarEntry("données", EntryType.DIR, 0o755, mtime=t), b""),
        (TarEntry("données/日本語.txt", EntryType.FILE, 0o600, 1000, 1000, t, 3), b"abc"),
        (TarEntry(NON_UTF8, EntryType.FILE, 0o644, mtime=t, size=2), b"hi"),
        (TarEntry("link-long", EntryType.SYMLINK, 0o777, mtime=t, linkname=LONG_TARGET), b""),
        (TarEntry("link-ü", EntryType.SYMLINK, 0o777, mtime=t, linkname="→ünïcode"), b""),
        (TarEntry("hl", EntryType.HARDLINK, 0o4755, mtime=t, linkname="bin/ping"), b""),
        (TarEntry("owned", EntryType.FILE, 0o640, 3_000_000, 2**21, t, 1), b"o"),
        (TarEntry("old", EntryType.FILE, 0o644, mtime=-5, size=0), b""),
        (TarEntry("future", EntryType.FILE, 0o644, mtime=8**11, size=0), b""),
        (TarEntry("null", EntryType.CHAR, 0o666, mtime=t, devmajor=1, devminor=3), b""),
        (TarEntry("loop9", EntryType.BLOCK, 0o660, mtime=t, devmajor=7, devminor=9), b""),
        (TarEntry("pipe", EntryType.FIFO, 0o640, mtime=t), b""),
        (TarEntry("x/.wh.gone", EntryType.FILE, 0, mtime=t), b""),
        (TarEntry("x/.wh..wh..opq", EntryType.FILE, 0, mtime=t), b""),
        (TarEntry("empty", EntryType.FILE, 0o644, mtime=t), b""),
    ]  # fmt: skip
    return sorted(cases, key=lambda c: path_sort_key(c[0].path))


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed")
def test_bytes_identical_to_gos_archive_tar(tmp_path: Path) -> None:
    import base64
    import json

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    out = io.BytesIO()
    writer = TarWriter(out)
    lines = []
    for entry, data in go_entries():
        writer.add(entry, io.BytesIO(data))
        name = os.fsencode(entry.path) + (b"/" if entry.type is EntryType.DIR else b"")
        lines.append(json.dumps({
            "Name": b64(name), "Linkname": b64(os.fsencode(entry.linkname)), "Data": b64(data),
            "Type": ord(entry.type.value), "Mode": entry.mode, "Uid": entry.uid,
            "Gid": entry.gid, "Mtime": entry.mtime, "Size": entry.size,
            "Devmajor": entry.devmajor, "Devminor": entry.devminor,
            "Xattrs": {k: b64(v) for k, v in entry.xattrs.items()},
        }))  # fmt: skip
    writer.close()
    program = tmp_path / "main.go"
    program.write_text(GO_WRITER)
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "GO111MODULE": "off",
           "GOCACHE": str(tmp_path / "gocache")}  # fmt: skip
    go = subprocess.run(
        ["go", "run", str(program)], input="\n".join(lines).encode(), env=env,
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    ours = out.getvalue()
    for offset in range(0, max(len(ours), len(go.stdout)), 512):
        assert ours[offset : offset + 512] == go.stdout[offset : offset + 512], offset
    assert ours == go.stdout
    read_back = [(e, c.read()) for e, c in iter_tar(io.BytesIO(go.stdout))]
    assert read_back == go_entries()
