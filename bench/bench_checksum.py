"""Benchmark the COPY source checksum: ``python bench/bench_checksum.py [--files N]``.

Builds a synthetic build context in a temporary directory: N files (default 10,000,
1 KiB to 16 KiB) in 100 directories under src/, plus a node_modules tree of N/2 files
that the .dockerignore excludes. Then times `source_checksum(ctx, (".",))`:

* cold: no stat cache, every file is read and hashed;
* first build: an empty persistent StatCache (SQLite), files hashed and stored;
* no-op rebuild, same process: the stat cache answers from memory;
* no-op rebuild, new process: a new StatCache on the same SQLite file (rows loaded once);
* one file changed: only that file is read again.

The no-op numbers are what a rebuild pays to decide that COPY . is a cache hit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from etage.dockerfile.ignore import DockerIgnore
from etage.runtime.checksum import source_checksum
from etage.runtime.statcache import StatCache


def build_context(root: Path, files: int) -> None:
    per_dir = max(1, files // 100)
    for i in range(files):
        sub = root / "src" / f"d{i // per_dir:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.txt").write_bytes(os.urandom(1024 + (i % 16) * 1024))
    for i in range(files // 2):
        sub = root / "node_modules" / f"pkg{i // 50:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i:05d}.js").write_bytes(b"module.exports = 1\n")
    (root / ".dockerignore").write_text("node_modules\n**/*.log\n")


def timed(label: str, files: int, fn: object, repeat: int = 5) -> None:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    ms = best * 1000
    extra = (
        f"  hashed {result.hashed_files} files / {result.hashed_bytes / 1e6:.1f} MB,"  # type: ignore[attr-defined]
        f" {result.cache_hits} from the stat cache"  # type: ignore[attr-defined]
    )
    print(f"{label:<34} {ms:8.1f} ms  {ms / files * 1000:6.2f} ms per 1000 files{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="etage-bench-checksum-") as tmp:
        ctx = Path(tmp) / "ctx"
        ctx.mkdir()
        build_context(ctx, args.files)
        ignore = DockerIgnore.parse((ctx / ".dockerignore").read_text())
        # files changed within 2 s of hashing are not cached (racy timestamps): let them age
        time.sleep(2.1)
        db = Path(tmp) / "statcache.db"
        n = args.files
        print(f"context: {n} files kept, {n // 2} ignored (node_modules)")
        timed("cold (no stat cache)", n, lambda: source_checksum(ctx, (".",), ignore=ignore), 3)
        first = StatCache(db)
        timed(
            "first build (empty cache)",
            n,
            lambda: source_checksum(ctx, (".",), ignore=ignore, cache=first),
            1,
        )
        timed(
            "no-op rebuild, same process",
            n,
            lambda: source_checksum(ctx, (".",), ignore=ignore, cache=first),
        )
        first.close()

        def new_process() -> object:
            with StatCache(db) as cache:
                return source_checksum(ctx, (".",), ignore=ignore, cache=cache)

        timed("no-op rebuild, new StatCache", n, new_process)
        changed = ctx / "src" / "d000" / "f00000.txt"
        changed.write_bytes(b"changed")
        cache = StatCache(db, racy_ns=0)
        timed(
            "one file changed",
            n,
            lambda: source_checksum(ctx, (".",), ignore=ignore, cache=cache),
            1,
        )
        cache.close()


if __name__ == "__main__":
    main()
