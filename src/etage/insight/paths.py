"""Bytes per path in a layer's filesystem diff.

A layer's sizes are kept as {path: bytes}: every directory down to MAX_DEPTH with the
bytes below it, and the files of at least MIN_FILE bytes. That is enough to say which
paths make a layer big (`main_paths`) without keeping a listing of every file; a snapshot
never changes, so its sizes are computed once and remembered by the build cache.
"""

from __future__ import annotations

from collections import defaultdict

MAX_DEPTH = 6
MIN_FILE = 256 * 1024
DOMINANT = 0.8  # a directory is named by its child when the child holds this share of it


def path_sizes(files: dict[str, int]) -> dict[str, int]:
    """{path: bytes} from a layer's files ({path: bytes}, "/" being the layer's root, each
    hard-linked inode's bytes counted once, as etage.insight.listing lists them)."""
    sizes: dict[str, int] = {"/": 0}
    for path, n in files.items():
        if not n:
            continue
        parts = path.split("/")  # ["", "app", "node_modules", ...]
        if n >= MIN_FILE and len(parts) - 1 <= MAX_DEPTH:
            sizes[path] = n
        sizes["/"] += n
        for depth in range(2, min(len(parts) - 1, MAX_DEPTH + 1) + 1):
            directory = "/".join(parts[:depth])
            sizes[directory] = sizes.get(directory, 0) + n
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
