"""Bytes per path in a layer's filesystem diff.

A layer's sizes are kept as {path: bytes}: every directory down to MAX_DEPTH with the
bytes below it, and the files of at least MIN_FILE bytes. That is enough to say which
paths make a layer big (`main_paths`) without keeping a listing of every file; a snapshot
never changes, so its sizes are computed once and remembered by the build cache.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from pathlib import Path

MAX_DEPTH = 6
MIN_FILE = 256 * 1024
DOMINANT = 0.8  # a directory is named by its child when the child holds this share of it


def path_sizes(diff_dir: Path) -> dict[str, int]:
    """{path: bytes} for `diff_dir`, "/" being its root. Bytes count regular files and
    symlinks, each inode once (as the snapshot's size counts them)."""
    sizes: dict[str, int] = {}
    seen: set[int] = set()

    def walk(path: str, rel: str, depth: int) -> int:
        total = 0
        try:
            entries = os.scandir(path)
        except OSError:
            return 0
        with entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                child = f"{rel}/{entry.name}"
                if stat.S_ISDIR(st.st_mode):
                    n = walk(entry.path, child, depth + 1)
                elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                    if st.st_nlink > 1:
                        if st.st_ino in seen:
                            continue
                        seen.add(st.st_ino)
                    n = st.st_size
                    if n >= MIN_FILE and depth < MAX_DEPTH:
                        sizes[child] = n
                else:
                    continue  # whiteouts and device nodes hold no data
                total += n
        if depth <= MAX_DEPTH and (total or depth == 0):
            sizes[rel or "/"] = total
        return total

    walk(os.fspath(diff_dir), "", 0)
    return sizes


def main_paths(sizes: dict[str, int]) -> list[tuple[str, int]]:
    """The paths that make up a layer, largest first: a directory whose one child holds
    most of it is named by that child (/app/node_modules rather than /app)."""
    children: dict[str, list[str]] = defaultdict(list)
    for path in sizes:
        if path != "/":
            children[path.rsplit("/", 1)[0] or "/"].append(path)

    def descend(path: str) -> str:
        while kids := children.get(path):
            biggest = max(kids, key=sizes.__getitem__)
            if sizes[biggest] < DOMINANT * sizes[path]:
                break
            path = biggest
        return path

    top = descend("/")
    found = [top] if top != "/" else [descend(k) for k in children.get("/", [])]
    return sorted(((p, sizes[p]) for p in found if sizes[p]), key=lambda x: (-x[1], x[0]))
