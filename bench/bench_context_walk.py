"""Benchmark the build-context walker: ``python bench/bench_context_walk.py``.

Builds a synthetic context in a temporary directory: 100,000 files in 1,000 directories
(src/dNNNN/fNNN.txt) plus a node_modules tree of 100,000 files (1,000 packages) that
the .dockerignore excludes. Then times, in the same run and with a warm page cache (best of N):

* walk_context with the ignore file (node_modules is pruned, never read);
* a naive baseline: os.walk over everything, every path matched with is_excluded
  and the kept ones lstat'ed (the same answer, without pruning);
* walk_context with no ignore file at all (everything is sent).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from etage.dockerfile.ignore import DockerIgnore
from etage.runtime.context import walk_context

IGNORE_TEXT = """\
# a realistic .dockerignore
.git
node_modules
**/*.log
*.md
!README.md
dist/
coverage
"""


def build_context(root: Path, dirs: int, files: int, nm_dirs: int, nm_files: int) -> None:
    for d in range(dirs):
        sub = root / "src" / f"d{d:04d}"
        sub.mkdir(parents=True)
        for f in range(files):
            fd = os.open(sub / f"f{f:03d}.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * (f % 7))
            os.close(fd)
    for d in range(nm_dirs):
        sub = root / "node_modules" / f"pkg{d:04d}" / "lib"
        sub.mkdir(parents=True)
        for f in range(nm_files):
            fd = os.open(sub / f"m{f:03d}.js", os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
    (root / ".dockerignore").write_text(IGNORE_TEXT)
    (root / "README.md").write_text("hello\n")
    (root / "NOTES.md").write_text("left out\n")


def naive(root: Path, ignore: DockerIgnore) -> int:
    """os.walk everything, match every path, lstat what is kept (no pruning)."""
    count = 0
    base = len(os.fspath(root)) + 1
    lstat = os.lstat
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = dirpath[base:]
        prefix = rel_dir + "/" if rel_dir else ""
        for name in sorted(dirnames + filenames):
            if not ignore.is_excluded(prefix + name):
                lstat(os.path.join(dirpath, name))
                count += 1
    return count


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirs", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--nm-dirs", type=int, default=1000)
    parser.add_argument("--nm-files", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="etage-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        build_context(root, args.dirs, args.files, args.nm_dirs, args.nm_files)
        total = args.dirs * args.files + args.nm_dirs * args.nm_files
        print(f"context: {total:,} files in {root} (built in {time.perf_counter() - start:.1f} s)")
        ignore = DockerIgnore.parse(IGNORE_TEXT)

        def pruned() -> int:
            return sum(1 for _ in walk_context(root, ignore))

        def everything() -> int:
            return sum(1 for _ in walk_context(root, DockerIgnore.empty()))

        def baseline() -> int:
            # a fresh matcher each run, so that its per-directory cache starts cold
            return naive(root, DockerIgnore.parse(IGNORE_TEXT))

        t_walk, n_walk = best_of(args.runs, pruned)
        t_naive, n_naive = best_of(args.runs, baseline)
        t_all, n_all = best_of(args.runs, everything)
        print(
            f"walk_context, .dockerignore prunes node_modules: {n_walk:,} entries "
            f"in {t_walk:.3f} s = {n_walk / t_walk:,.0f} entries/s"
        )
        print(
            f"naive os.walk + is_excluded on every path:       {n_naive:,} entries "
            f"in {t_naive:.3f} s = {n_naive / t_naive:,.0f} entries/s"
        )
        print(f"speed-up of walk_context over the naive walk:    {t_naive / t_walk:.1f}x")
        print(
            f"walk_context, nothing excluded (with lstat):    {n_all:,} entries "
            f"in {t_all:.3f} s = {n_all / t_all:,.0f} entries/s"
        )


if __name__ == "__main__":
    main()
