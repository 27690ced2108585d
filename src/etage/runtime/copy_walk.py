"""Walking one matched COPY/ADD source in fsutil's copy order, with its patterns.

Shared by the copy (`etage.runtime.copy_dest`) and the build cache checksum
(`etage.runtime.checksum`): both see exactly the same entries, in the same order (the
entries of a directory sorted by name as bytes, a directory before its entries), with the
same include patterns (`COPY --parents`), exclude patterns (`--exclude`) and, for the
build context, .dockerignore rules. See `walk` for the events.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any

from etage.dockerfile.ignore import DirectoryMatch, DockerIgnore
from etage.dockerfile.ignore_match import Compiled
from etage.runtime.copy_source import Match, SourceTree, list_dir

__all__ = [
    "EAGER",
    "ENTER",
    "LAZY_IGNORE",
    "LAZY_PATTERN",
    "LEAF",
    "LEAVE",
    "MATERIALIZE",
    "Node",
    "walk",
]

ENTER, LEAVE, LEAF, MATERIALIZE = range(4)
EAGER, LAZY_PATTERN, LAZY_IGNORE = range(3)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Node:
    """One entry met by `walk`.

    `fd` is an `O_RDONLY` fd of a directory itself, `parent_fd` one of the directory
    holding the entry (None for the root of the tree); both are valid from the event that
    yields the node until its LEAVE (directories) or the next event (other entries).
    `data` is free for the consumer (the copy keeps the destination there).
    """

    __slots__ = ("data", "fd", "lazy", "name", "parent", "parent_fd", "rel", "st")

    def __init__(
        self, name: str, rel: str, st: os.stat_result, parent: Node | None, lazy: int = EAGER
    ) -> None:
        self.name = name
        self.rel = rel  # below the matched source, "/"-separated; "" for the source itself
        self.st = st
        self.fd: int = -1
        self.parent_fd: int | None = parent.fd if parent is not None else None
        self.parent = parent
        self.lazy = lazy
        self.data: Any = None

    @property
    def xattr_source(self) -> int | str:
        """The entry for `list_xattrs`: its own fd (directories), else a /proc path of it."""
        if self.fd >= 0:
            return self.fd
        return f"/proc/self/fd/{self.parent_fd}/{self.name}"

    def open(self) -> int:
        """Open a regular file for reading (never following a symlink)."""
        assert self.parent_fd is not None
        return os.open(self.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.parent_fd)


class _Frame:
    __slots__ = ("can_include", "exc", "ign", "inc", "it", "materialized", "node", "prefix")

    def __init__(
        self,
        node: Node,
        entries: list[os.DirEntry[str]],
        ign: DirectoryMatch | None,
        inc: DirectoryMatch | None,
        exc: DirectoryMatch | None,
    ) -> None:
        self.node = node
        self.it = iter(entries)
        self.prefix = node.rel + "/" if node.rel else ""
        self.can_include: Callable[[str], bool] = _always
        self.ign = ign
        self.inc = inc
        self.exc = exc
        self.materialized = node.lazy == EAGER


def walk(
    tree: SourceTree,
    match: Match,
    *,
    include: DockerIgnore | None = None,
    exclude: DockerIgnore | None = None,
) -> Iterator[tuple[int, Node]]:
    """What copying `match` reads, as (event, node) pairs in fsutil's copy order.

    * `(LEAF, node)`: a file, symlink or special file to copy (the source itself if it is
      not a directory);
    * `(ENTER, node)` ... `(LEAVE, node)`: a directory to copy, its entries in between
      (the source itself first, with `rel == ""`);
    * `(MATERIALIZE, node)` ... `(LEAVE, node)`: a directory copied only because
      something below it is: one that the include patterns do not match or the exclude
      patterns exclude (`node.lazy == LAZY_PATTERN`, fsutil's `createParentDirs`), or one
      that .dockerignore excludes but an exception re-includes from (`LAZY_IGNORE`: in
      BuildKit's transferred context it is an ordinary directory). It is announced just
      before the first entry that needs it; never if nothing does.

    Excluded files are skipped; excluded directories are entered only if a later "!"
    pattern could re-include something below them.
    """
    top_parts = list(match.parts)
    root_fd = -1
    parent_fd: int | None = None
    if top_parts:
        parent_fd = tree.open_dir(top_parts[:-1])
        root_fd = parent_fd
    top = Node(top_parts[-1] if top_parts else "", "", match.st, None)
    top.parent_fd = parent_fd
    try:
        if not match.is_dir:
            yield LEAF, top
            return
        top.fd = (
            os.open(top.name, _DIR_FLAGS, dir_fd=parent_fd)
            if parent_fd is not None
            else tree.open_dir([])
        )
        ign = tree.ignore_state(top_parts) if tree.ignore is not None else None
        first = _Frame(
            top,
            list_dir(top.fd),
            ign,
            include.root() if include is not None else None,
            exclude.root() if exclude is not None else None,
        )
        if include is not None:
            first.can_include = _include_pruner(include)
        stack = [first]
        yield ENTER, top
        yield from _walk_frames(stack)
    finally:
        if top.fd >= 0:
            os.close(top.fd)
        if root_fd >= 0:
            os.close(root_fd)


def _always(prefix: str) -> bool:
    return True


def _include_pruner(include: DockerIgnore) -> Callable[[str], bool]:
    """Can an include pattern match something below the directory `prefix` ("a/b/")?"""
    compiled = [
        Compiled(i, p, include.source, str(p))
        for i, p in enumerate(include.patterns)
        if not p.exclusion
    ]

    def can_include(prefix: str) -> bool:
        depth = prefix.count("/")
        return any(c.can_match_within(prefix, depth) for c in compiled)

    return can_include


def _walk_frames(stack: list[_Frame]) -> Iterator[tuple[int, Node]]:
    pending = 0  # lazy directories on the stack not announced yet
    lstat = os.stat
    is_dir_mode = stat.S_ISDIR
    try:
        while stack:
            frame = stack[-1]
            entry = next(frame.it, None)
            if entry is None:
                stack.pop()
                node = frame.node
                if frame.materialized:
                    yield LEAVE, node
                else:
                    pending -= 1
                if node.parent is not None:
                    os.close(node.fd)
                    node.fd = -1
                continue
            name = entry.name
            lazy = EAGER
            ign = frame.ign
            ign_vector, ign_excluded = 0, False
            if ign is not None:
                ign_vector, ign_excluded = ign.match(name)
                if ign_excluded:
                    if not (
                        entry.is_dir(follow_symlinks=False)
                        and ign.may_include_below(name, ign_vector)
                    ):
                        continue  # not in the context at all
                    lazy = LAZY_IGNORE
            parent = frame.node
            try:
                st = lstat(name, dir_fd=parent.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while walking
            is_dir = is_dir_mode(st.st_mode)
            if lazy == LAZY_IGNORE and not is_dir:
                continue
            inc = frame.inc
            sub_inc: DirectoryMatch | None = None
            if inc is not None:
                vector, matched = inc.match(name)
                if not matched:
                    if not is_dir or not frame.can_include(frame.prefix + name + "/"):
                        continue  # a file not included, or a directory nothing below can be
                    lazy = LAZY_PATTERN
                if is_dir:
                    sub_inc = inc.enter(name, vector, matched)
            exc = frame.exc
            sub_exc: DirectoryMatch | None = None
            if exc is not None:
                vector, excluded = exc.match(name)
                if excluded:
                    if not is_dir or not exc.may_include_below(name, vector):
                        continue
                    lazy = LAZY_PATTERN
                if is_dir:
                    sub_exc = exc.enter(name, vector, excluded)
            node = Node(name, frame.prefix + name, st, parent, lazy)
            if not is_dir:
                if pending:
                    yield from _announce(stack)
                    pending = 0
                yield LEAF, node
                continue
            try:
                node.fd = os.open(name, _DIR_FLAGS, dir_fd=parent.fd)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    continue  # replaced while walking
                raise
            try:
                children = list_dir(node.fd)
            except BaseException:
                os.close(node.fd)
                raise
            sub_ign = ign.enter(name, ign_vector, ign_excluded) if ign is not None else None
            child = _Frame(node, children, sub_ign, sub_inc, sub_exc)
            child.can_include = frame.can_include
            stack.append(child)
            if lazy == EAGER:
                if pending:
                    yield from _announce(stack[:-1])
                    pending = 0
                yield ENTER, node
            else:
                pending += 1
    finally:
        for frame in stack:
            if frame.node.parent is not None and frame.node.fd >= 0:
                os.close(frame.node.fd)
                frame.node.fd = -1


def _announce(stack: list[_Frame]) -> Iterator[tuple[int, Node]]:
    for frame in stack:
        if not frame.materialized:
            frame.materialized = True
            yield MATERIALIZE, frame.node
