"""The content checksum of what a COPY/ADD reads, for the build cache key.

`source_checksum(root, sources, ...)` walks exactly what `copy_into` would copy (the same
expansion, .dockerignore, --exclude and --parents rules: both use
`etage.runtime.copy_source` and `etage.runtime.copy_walk`) and hashes, in copy order, one
record per entry:

    S  source      the source as written (after ARG expansion)
    M  match       the path it expanded to (wildcards), and its type
    E  entry       an entry copied for itself
    P  parent      a directory created only to hold an included entry (--parents,
                   --exclude with "!" exceptions)

An entry record holds its path below the matched source, its type, its mode (permission,
setuid/setgid/sticky bits), the owner when `include_ownership` (sources from stages and
images keep it; build context files are all 0:0), the symlink target, the device
numbers, the sha256 of a file's content, the digest of its extended attributes (as
BuildKit: `security.capability` and every non-`security.*`, non-`system.*` one), and, for
a second hard link to an inode, the path of the first. The top directory of a matched
source contributes only its match record: its own metadata is not copied. Mtimes never
count (BuildKit ignores them too); names always do.

Encoding: a fixed header, then records, each a one-letter tag and its fields; a field of
free text (a path, a symlink target) is its length in decimal, ":", then its bytes; the
others have a fixed alphabet and end with ":" (mode in octal, "uid:gid", hex digests).
The encoding is prefix-free, so no two different record sequences give the same bytes
("a" + "bc" is not "ab" + "c").

File contents are hashed once and remembered in a `StatCache` keyed by the file's stat,
so a no-op rebuild reads no file content at all.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from etage.dockerfile.ignore import DockerIgnore
from etage.oci.digest import Digest
from etage.runtime.copy_fetch import is_url
from etage.runtime.copy_match import pattern_depth, split_wildcards
from etage.runtime.copy_source import (
    CopyError,
    SourceTree,
    clean_source,
    compile_patterns,
    get_xattr,
    list_xattrs,
    missing_required,
    parents_source,
)
from etage.runtime.copy_walk import ENTER, LAZY_PATTERN, LEAF, LEAVE, MATERIALIZE, Node, walk
from etage.runtime.statcache import HASH_HEX, KEY, StatCache, now_ns, stat_key

__all__ = ["ChecksumResult", "StatCache", "source_checksum"]

_HEADER = b"etage.copy-source-checksum.v1\x00"
_TYPES = {
    stat.S_IFREG: b"f",
    stat.S_IFDIR: b"d",
    stat.S_IFLNK: b"l",
    stat.S_IFIFO: b"p",
    stat.S_IFCHR: b"c",
    stat.S_IFBLK: b"b",
    stat.S_IFSOCK: b"s",
}
_CHUNK = 1 << 20
_pack = KEY.pack


@dataclass(frozen=True)
class ChecksumResult:
    """The digest of what a COPY/ADD reads, and how it was computed."""

    digest: Digest
    files: int  # entries covered (files, directories, links...)
    hashed_files: int = 0  # files whose content was read (not answered by the stat cache)
    hashed_bytes: int = 0
    cache_hits: int = 0
    _entries: tuple[tuple[bytes, str, str, bytes, int, bytes], ...] = field(default=(), repr=False)
    # Every path of the source root the walk looked at (entries, the directories above
    # them, the directories a pattern was looked up in), for the no-op replay's witness;
    # None when a wildcard spans directories, whose listings cannot all be named.
    paths: tuple[str, ...] | None = field(default=None, repr=False)

    @property
    def explain(self) -> list[str]:
        """One line per entry, in order: "path type mode content-digest-prefix". Diff two
        builds' lists: the first differing lines say what changed (for --explain-cache)."""
        lines = []
        for tag, shown, rel, kind, perm, content in self._entries:
            path = f"{shown}/{rel}" if rel else shown or "/"
            if tag == b"M":
                lines.append(
                    f"{path} (matched, {'directory' if kind == b'd' else 'not a directory'})"
                )
                continue
            line = f"{path} {kind.decode()} {perm:04o}"
            if tag == b"P":
                line += " (parent)"
            if content:
                line += " " + content[:12].decode()
            lines.append(line)
        return lines

    def manifest(self) -> dict[str, str]:
        """Path -> "type mode content-digest" for every entry: kept beside the cache key,
        so a later miss can name the files that were added, removed or changed."""
        out: dict[str, str] = {}
        for tag, shown, rel, kind, perm, content in self._entries:
            if tag == b"M":
                continue
            path = f"{shown}/{rel}" if rel else shown or "/"
            out[path] = f"{kind.decode()} {perm:04o} {content.decode()}".rstrip()
        return out


def _f(data: bytes) -> bytes:
    return b"%d:%s" % (len(data), data)


# tag, len(path):path, type, mode (octal) ":", owner ":", len(target):target,
# content hash ":", xattrs hash ":", len(first link):first link
_ENTRY = b"%s%d:%s%s%o:%s:%d:%s%s:%s:%d:%s"


class _Hasher:
    def __init__(self, tree: SourceTree, ownership: bool, cache: StatCache | None) -> None:
        self.tree = tree
        self.ownership = ownership
        self.cache = cache
        self.h = hashlib.sha256(_HEADER)
        self.entries: list[tuple[bytes, str, str, bytes, int, bytes]] = []
        self.hashed_files = 0
        self.hashed_bytes = 0
        self.hits = 0
        self.started = now_ns()
        self.root = os.fsencode(os.path.realpath(tree.path)).rstrip(b"/")
        self.inodes: dict[tuple[int, int], str] = {}
        self.buf = bytearray(_CHUNK)
        self.rows = cache.rows if cache is not None else None
        self.paths: set[str] | None = {os.fsdecode(self.root)}

    def witness_parts(self, parts: list[str] | tuple[str, ...]) -> None:
        """The directories from the root down to `parts`, and `parts` itself."""
        if self.paths is None:
            return
        path = os.fsdecode(self.root)
        for part in parts:
            if part in ("", "."):
                continue
            path = f"{path}/{part}"
            self.paths.add(path)

    def record(self, tag: bytes, *fields: bytes) -> None:
        self.h.update(tag + b"".join(_f(x) for x in fields))

    def entry(self, tag: bytes, node: Node, real_top: bytes, shown: str) -> None:
        st = node.st
        mode = st.st_mode
        kind = _TYPES.get(stat.S_IFMT(mode), b"?")
        owner = b"%d:%d" % (st.st_uid, st.st_gid) if self.ownership else b""
        link = target = content = xattrs = b""
        rel = node.rel
        name = rel.encode("utf-8", "surrogateescape")
        if self.paths is not None:
            self.paths.add(os.fsdecode(real_top + b"/" + name if rel else real_top))
        if kind == b"f":
            real = real_top + b"/" + name if rel else real_top
            row = self.rows.get(real) if self.rows is not None else None
            if row is not None and row[0] == _pack(
                st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev
            ):
                self.hits += 1
                value = row[1]
                content, xattrs = value[:HASH_HEX], value[HASH_HEX:]
            else:
                content, xattrs = self.file(node, real)
            if st.st_nlink > 1:
                first = self.inodes.setdefault((st.st_dev, st.st_ino), rel)
                if first != rel:
                    link = first.encode("utf-8", "surrogateescape")
        else:
            xattrs = self.xattrs(node.xattr_source)
            if kind == b"l":
                assert node.parent_fd is not None
                target = os.fsencode(os.readlink(node.name, dir_fd=node.parent_fd))
            elif kind in (b"c", b"b"):
                target = b"%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        perm = stat.S_IMODE(mode)
        self.h.update(
            _ENTRY
            % (tag, len(name), name, kind, perm, owner, len(target), target, content, xattrs,
               len(link), link)
        )  # fmt: skip
        self.entries.append((tag, shown, rel, kind, perm, content))

    def xattrs(self, source: int | str) -> bytes:
        try:
            names = list_xattrs(source)
        except OSError:
            return b""
        kept = sorted(
            n
            for n in names
            if n == "security.capability" or not n.startswith(("security.", "system."))
        )
        if not kept:
            return b""
        h = hashlib.sha256()
        for name in kept:
            try:
                value = get_xattr(source, name)
            except OSError:
                continue
            h.update(_f(os.fsencode(name)) + _f(value))
        return h.hexdigest().encode()

    def file(self, node: Node, real: bytes) -> tuple[bytes, bytes]:
        """Hash a file's content (the stat cache did not know it)."""
        st = node.st
        key = stat_key(st)
        cache = self.cache
        xattrs = self.xattrs(node.xattr_source)
        fd = node.open()
        try:
            h = hashlib.sha256()
            view = memoryview(self.buf)
            size = 0
            while True:
                n = os.readv(fd, [view])
                if not n:
                    break
                h.update(view[:n])
                size += n
        finally:
            os.close(fd)
        self.hashed_files += 1
        self.hashed_bytes += size
        content = h.hexdigest().encode()
        if cache is not None:
            cache.put(real, key, content, xattrs, self.started)
        return content, xattrs


def source_checksum(
    source_root: Path,
    sources: tuple[str, ...],
    *,
    excludes: tuple[str, ...] = (),
    ignore: DockerIgnore | None = None,
    parents: bool = False,
    include_ownership: bool = False,
    cache: StatCache | None = None,
) -> ChecksumResult:
    """The checksum of what copying `sources` from `source_root` reads (see the module doc).

    Raises `CopyError` exactly where the copy would (a missing source, a bad pattern).
    """
    exclude = compile_patterns(excludes, "--exclude")
    with SourceTree(source_root, ignore) as tree:
        hasher = _Hasher(tree, include_ownership, cache)
        if cache is not None:
            cache.preload(hasher.root)
        hasher.record(b"O", b"1" if include_ownership else b"0")
        for pattern in excludes:
            hasher.record(b"X", os.fsencode(pattern))
        for source in sources:
            _one_source(hasher, tree, source, parents, exclude)
        if cache is not None:
            cache.flush()
    return ChecksumResult(
        Digest("sha256", hasher.h.hexdigest()),
        sum(1 for e in hasher.entries if e[0] != b"M"),
        hasher.hashed_files,
        hasher.hashed_bytes,
        hasher.hits,
        tuple(hasher.entries),
        tuple(sorted(hasher.paths)) if hasher.paths is not None else None,
    )


def _one_source(
    hasher: _Hasher,
    tree: SourceTree,
    source: str,
    parents: bool,
    exclude: DockerIgnore | None,
) -> None:
    if is_url(source):
        raise CopyError("source can't be a URL for COPY", hint=f"use ADD to download {source}")
    hasher.record(b"S", os.fsencode(source), b"1" if parents else b"0")
    include = None
    required: tuple[str, ...] = ()
    base = source
    if parents:
        spec = parents_source(source)
        base, include, required = spec.base, spec.include, spec.required
    seen: set[str] = set()
    head, pattern = split_wildcards(clean_source(base))
    if pattern and pattern_depth(pattern) != 0:
        hasher.paths = None  # matches below several directories: no witness for them all
    hasher.witness_parts(head.split("/"))
    for match in tree.expand(clean_source(base)):
        hasher.witness_parts(match.parts)
        hasher.inodes = {}  # hard links are kept within one matched source
        shown = match.display.rstrip("/")
        kind = b"d" if match.is_dir else b"-"
        hasher.record(b"M", os.fsencode(match.display), kind)
        hasher.entries.append((b"M", match.display, "", kind, 0, b""))
        real_top = hasher.root + b"".join(b"/" + os.fsencode(p) for p in match.parts)
        for event, node in walk(tree, match, include=include, exclude=exclude):
            if event == LEAVE or (event == ENTER and node.parent is None):
                continue
            tag = b"P" if event == MATERIALIZE and node.lazy == LAZY_PATTERN else b"E"
            hasher.entry(tag, node, real_top, shown)
            if required and event in (LEAF, ENTER):
                path = f"{shown}/{node.rel}" if node.rel else shown or "/"
                seen.update(want for want in required if path.startswith(want))
    for want in required:
        if want not in seen:
            raise missing_required(want)
