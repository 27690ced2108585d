"""Benchmark layer compression: ``python bench/bench_compress.py [LAYER.tar] [--size MiB]``.

Without a path, builds a 1 GiB layer with etage's own tar writer from real files: /usr
walked in BuildKit's order until the layer reaches the size (the time this takes is the tar
writer's throughput). Then compresses that same layer with:

* etage's gzip pipeline (`LayerWriter`: zlib-ng level 5 in pigz's scheme, 1 MiB blocks
  deflated on a thread pool, single pass computing the diffID and the blob digest), writing
  the blob to a temporary file; `--level` tries another zlib-ng level;
* Python's stdlib gzip at level 6 (zlib), the baseline for throughput;
* `gzip -6 -n` from the command line, the baseline for size;
* etage's zstd pipeline (level 3), for comparison.

Each etage and stdlib run happens in a child process that reports its peak RSS
(`ru_maxrss`). Targets: etage gzip >= 3x stdlib gzip -6 throughput, its blob within 10% of
`gzip -6`'s size, and its peak RSS below 150 MB. `--strict` makes a missed target an exit
status of 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from etage.oci.tar import TarEntry, TarWriter
from etage.oci.tar_tree import write_tree

MIB = 1 << 20
CHUNK = MIB


class _Full(Exception):
    """The layer being built has reached its size."""


class _Counter:
    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.size += len(data)
        return self.target.write(data)


class _SizedWriter(TarWriter):
    """A TarWriter that stops taking entries once `limit` bytes are written."""

    def __init__(self, out: _Counter, limit: int) -> None:
        super().__init__(out, source_date_epoch=0)
        self.counter = out
        self.limit = limit

    def add(self, entry: TarEntry, content: BinaryIO | None = None) -> None:
        if self.counter.size + MIB > self.limit:
            raise _Full
        if self.counter.size + entry.size + 4096 <= self.limit:  # skip what would overflow
            super().add(entry, content)


def build_layer(path: Path, limit: int, source: str) -> tuple[int, float, int]:
    """Write a layer of real files; returns (size, seconds, entries)."""
    start = time.perf_counter()
    with path.open("wb") as f:
        counter = _Counter(f)
        writer = _SizedWriter(counter, limit - 1024)
        with contextlib.suppress(_Full):
            write_tree(writer, source, prefix=source.strip("/"), xattr_filter=None)
        entries = writer.entries
        writer.close()
    return counter.size, time.perf_counter() - start, entries


def child(mode: str, src: str, out: str, level: int | None) -> None:
    """Compress `src` into `out` one way; print timings and peak memory as JSON."""
    start = time.perf_counter()
    result: dict[str, object] = {}
    with open(src, "rb", buffering=0) as f, open(out, "wb") as target:
        if mode in ("gzip", "zstd"):
            from etage.oci.compress import LayerWriter

            writer = LayerWriter(target, mode, level=level if mode == "gzip" else None)
            while chunk := f.read(CHUNK):
                writer.write(chunk)
            digests = writer.close()
            result = {"digest": str(digests.digest), "diff_id": str(digests.diff_id)}
        else:
            import gzip
            import hashlib

            diff = hashlib.sha256()
            with gzip.GzipFile(fileobj=target, mode="wb", compresslevel=6, mtime=0) as gz:
                while chunk := f.read(CHUNK):
                    diff.update(chunk)
                    gz.write(chunk)
    seconds = time.perf_counter() - start
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.update(seconds=seconds, size=os.path.getsize(out), rss_mb=rss_kib / 1024)
    print(json.dumps(result))


def run_child(mode: str, src: Path, work: Path, level: int | None = None) -> dict[str, float]:
    out = work / f"out.{mode}"
    extra = [] if level is None else ["--level", str(level)]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(src), str(out), *extra],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    out.unlink()
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def gzip_cli(src: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with subprocess.Popen(["gzip", "-6", "-n", "-c", str(src)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        size = 0
        while chunk := proc.stdout.read(CHUNK):
            size += len(chunk)
    if proc.returncode:
        raise SystemExit("gzip failed")
    return size, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layer", nargs="?", help="an existing uncompressed layer tar")
    parser.add_argument("--size", type=int, default=1024, help="MiB to build (default 1024)")
    parser.add_argument("--source", default="/usr", help="tree to build the layer from")
    parser.add_argument("--runs", type=int, default=2, help="runs of the etage pipelines")
    parser.add_argument("--level", type=int, help="etage gzip's zlib-ng level (default: etage's)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, src, out = args.child
        child(mode, src, out, args.level)
        return 0
    work = Path(tempfile.mkdtemp(prefix="etage-bench-"))
    try:
        if args.layer:
            layer = Path(args.layer)
        else:
            layer = work / "layer.tar"
            size, seconds, entries = build_layer(layer, args.size * MIB, args.source)
            print(f"built {layer.name}: {size / MIB:,.0f} MiB, {entries:,} entries from "
                  f"{args.source} in {seconds:.1f} s ({size / MIB / seconds:,.0f} MiB/s: etage's "
                  "tar writer)")  # fmt: skip
        total = layer.stat().st_size
        mb = total / 1e6
        results = {}
        for mode in ("gzip", "zstd"):
            runs = [run_child(mode, layer, work, args.level) for _ in range(args.runs)]
            results[mode] = min(runs, key=lambda r: r["seconds"])
        results["stdlib"] = run_child("stdlib", layer, work)
        cli_size, cli_seconds = gzip_cli(layer)
    finally:
        shutil.rmtree(work)
    from etage.oci.compress import GZIP_BLOCK_SIZE, GZIP_LEVEL, default_threads

    base = results["stdlib"]
    level = GZIP_LEVEL if args.level is None else args.level
    gzip_name = f"etage gzip (zlib-ng {level}, {default_threads()} thr)"
    print(f"\nlayer: {total / MIB:,.0f} MiB ({mb:,.0f} MB); CPUs: {len(os.sched_getaffinity(0))}; "
          f"etage gzip: zlib-ng level {level}, {GZIP_BLOCK_SIZE >> 10} KiB blocks, "
          f"{default_threads()} threads")  # fmt: skip
    print(f"{'pipeline':<34}{'MB/s':>8}{'x stdlib':>10}{'size MB':>10}{'ratio':>8}"
          f"{'vs gzip -6':>12}{'RSS MB':>9}")  # fmt: skip
    rows = [
        (gzip_name, results["gzip"]),
        ("etage zstd (level 3)", results["zstd"]),
        ("stdlib gzip level 6 (zlib)", base),
        ("gzip -6 (command line)", {"seconds": cli_seconds, "size": cli_size, "rss_mb": 0.0}),
    ]
    for name, r in rows:
        rss = f"{r['rss_mb']:>9.0f}" if r["rss_mb"] else f"{'-':>9}"
        print(f"{name:<34}{mb / r['seconds']:>8.0f}{base['seconds'] / r['seconds']:>10.1f}"
              f"{r['size'] / 1e6:>10.1f}"
              f"{r['size'] / total:>8.3f}{r['size'] / cli_size - 1:>+12.1%}{rss}")  # fmt: skip
    gz = results["gzip"]
    speedup = base["seconds"] / gz["seconds"]
    over = gz["size"] / cli_size - 1
    checks = [
        (f"throughput {speedup:.1f}x stdlib gzip -6 (target >= 3x)", speedup >= 3),
        (f"size {over:+.1%} vs gzip -6 (target within 10%)", over <= 0.10),
        (f"peak RSS {gz['rss_mb']:.0f} MB (target < 150 MB)", gz["rss_mb"] < 150),
    ]
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 1 if args.strict and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
