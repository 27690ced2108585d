"""What each layer of an image holds and what the image's filesystem is made of.

A layer's listing is read from its snapshot's diff directory (overlayfs' upper-dir form:
a whiteout is a 0/0 character device, an opaque directory has the overlay xattr) and is
remembered per snapshot, which never changes. `merge` stacks the listings as a container
sees them and counts, as dive does, the bytes a later layer deletes or overwrites.
"""

from __future__ import annotations

import os
import stat
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from etage.runtime.snapshot_tree import is_opaque, is_whiteout


@dataclass(slots=True)
class Listing:
    """One layer: files (regular and symlinks) with their bytes (a hard link's bytes
    count at its first path only), directories, whiteouts and opaque directories."""

    files: dict[str, int] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"f": self.files, "d": self.dirs, "w": self.whiteouts, "o": self.opaque}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Listing:
        return cls(dict(doc["f"]), list(doc["d"]), list(doc["w"]), list(doc["o"]))


def list_layer(diff_dir: Path) -> Listing:
    out = Listing()
    seen: set[int] = set()
    stack = [(os.fspath(diff_dir), "")]
    while stack:
        path, rel = stack.pop()
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            child = f"{rel}/{entry.name}"
            if stat.S_ISDIR(st.st_mode):
                out.dirs.append(child)
                if is_opaque(entry.path):
                    out.opaque.append(child)
                stack.append((entry.path, child))
            elif stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                first = st.st_nlink < 2 or st.st_ino not in seen
                if st.st_nlink > 1:
                    seen.add(st.st_ino)
                out.files[child] = st.st_size if first else 0
            elif is_whiteout(st):
                out.whiteouts.append(child)
    return out


@dataclass(slots=True)
class Merged:
    """The image's filesystem: path -> (index of the layer it comes from, bytes), and the
    bytes each layer holds that a later one deleted or overwrote: (added in, removed by)."""

    files: dict[str, tuple[int, int]]
    dirs: dict[str, int]  # directory -> the layer that last listed it
    wasted: dict[tuple[int, int], int]
    wasted_paths: dict[tuple[int, int], list[str]]
    _keys: list[str] = field(default_factory=list)

    def under(self, directory: str) -> list[str]:
        """The files below `directory`, sorted."""
        if len(self._keys) != len(self.files):
            self._keys = sorted(self.files)
        return _below(self._keys, directory)

    def bytes_under(self, directory: str) -> int:
        return sum(self.files[p][1] for p in self.under(directory))


def _below(keys: list[str], directory: str) -> list[str]:
    prefix = directory.rstrip("/") + "/"
    start = bisect_left(keys, prefix)
    end = bisect_left(keys, prefix[:-1] + "0")  # "0" sorts right after "/"
    return keys[start:end]


def merge(listings: list[Listing]) -> Merged:
    files: dict[str, tuple[int, int]] = {}
    dirs: dict[str, int] = {}
    wasted: dict[tuple[int, int], int] = defaultdict(int)
    wasted_paths: dict[tuple[int, int], list[str]] = defaultdict(list)

    def remove(path: str, by: int) -> None:
        entry = files.pop(path, None)
        if entry is not None and entry[1]:
            wasted[(entry[0], by)] += entry[1]
            wasted_paths[(entry[0], by)].append(path)

    for i, listing in enumerate(listings):
        if listing.opaque or listing.whiteouts:
            file_keys, dir_keys = sorted(files), sorted(dirs)
            for target, itself in [(d, False) for d in listing.opaque] + [
                (w, True) for w in listing.whiteouts
            ]:
                doomed = _below(file_keys, target) + ([target] if itself else [])
                for p in doomed:
                    remove(p, i)
                for d in _below(dir_keys, target) + ([target] if itself else []):
                    dirs.pop(d, None)
        for path, size in listing.files.items():
            remove(path, i)  # overwritten
            files[path] = (i, size)
        for d in listing.dirs:
            dirs[d] = i
    return Merged(files, dirs, dict(wasted), dict(wasted_paths))
