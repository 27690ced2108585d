"""The source side of COPY/ADD: resolving, expanding and walking what a copy reads.

Shared by the copy (`etage.runtime.copy`) and the content checksum of the build cache
(`etage.runtime.checksum`), so that the checksum covers exactly what the copy reads.

`SourceTree` is a build context or a stage's root filesystem seen the way BuildKit sees
it:

* every lookup stays inside the root: symlinks are resolved as `FollowSymlinkInScope`
  does (an absolute target restarts at the root, `..` stops there), and files are opened
  through directory fds with `O_NOFOLLOW`, never by a host path;
* with a `.dockerignore`, ignored entries do not exist (BuildKit never transfers them):
  an ignored symlink cannot be followed, and an ignored directory exists only if an
  exception re-includes something below it;
* a source with wildcards is expanded as fsutil's `ResolveWildcards`: the part before
  the first wildcard component is resolved (symlinks followed), then walked in lexical
  order; a directory that matches is taken whole and not entered.

`etage.runtime.copy_walk.walk` then yields what one matched source contributes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter

from etage.dockerfile.ignore import DirectoryMatch, DockerIgnore, go_clean, go_trim_space
from etage.dockerfile.ignore_patterns import IgnorePattern
from etage.errors import EtageError
from etage.oci.securejoin import MAX_SYMLINKS, Root, clean_parts
from etage.runtime.copy_match import (
    BadPattern,
    compile_match,
    contains_wildcards,
    pattern_depth,
    split_wildcards,
)

__all__ = [
    "CopyError",
    "Match",
    "Parents",
    "SourceTree",
    "clean_source",
    "compile_patterns",
    "get_xattr",
    "list_dir",
    "list_xattrs",
    "missing_required",
    "parents_source",
    "resolve_in_root",
]


class CopyError(EtageError):
    """A COPY or ADD that cannot be done (missing source, bad flag, conflicting paths...)."""


def compile_patterns(patterns: tuple[str, ...] | list[str], what: str) -> DockerIgnore | None:
    """Patterns given on the command line, compiled as moby/patternmatcher's `New` does.

    Unlike a .dockerignore file there are no comments and a leading "/" is kept (so it
    never matches a relative path); each pattern is trimmed and cleaned, "!" negates.
    """
    compiled: list[IgnorePattern] = []
    for raw in patterns:
        text = go_trim_space(raw)
        if not text:
            continue
        text = go_clean(text)
        exclusion = text.startswith("!")
        if exclusion:
            if len(text) == 1:
                raise CopyError(f'invalid {what} pattern: illegal exclusion pattern: "!"')
            text = text[1:]
        compiled.append(IgnorePattern(text, exclusion, len(compiled) + 1))
    if not compiled:
        return None
    try:
        return DockerIgnore(tuple(compiled), what)
    except EtageError as exc:
        raise CopyError(f"invalid {what} pattern: {exc.message}", hint=exc.hint) from exc


@dataclass(frozen=True, slots=True)
class Match:
    """One path a source expands to."""

    display: str  # as the source names it ("/dir/a.txt"), for messages and checksums
    parts: tuple[str, ...]  # its real location, every symlink resolved (the top is followed)
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


@dataclass(slots=True)
class _Expansion:
    matches: Callable[[str], object]
    depth: int | None
    shown: str
    out: list[Match]


class SourceTree:
    """A source root (build context or stage rootfs), with the context's ignore rules."""

    def __init__(self, root: str | os.PathLike[str], ignore: DockerIgnore | None = None) -> None:
        self.path = os.fspath(root)
        try:
            self.root = Root(root)
        except OSError as exc:
            raise CopyError(f"cannot open the copy source {self.path}: {exc.strerror}") from exc
        self.ignore = ignore if ignore else None
        self.from_context = ignore is not None  # the build context (even with no patterns)

    def close(self) -> None:
        self.root.close()

    def __enter__(self) -> SourceTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lookups ----------------------------------------------------------------------

    def lstat(self, parts: list[str] | tuple[str, ...]) -> os.stat_result | None:
        """lstat of a real path below the root (no visibility rules), None if missing."""
        if not parts:
            return os.stat(self.root.fd)
        try:
            return os.stat("/".join(parts), dir_fd=self.root.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def visible(self, parts: list[str] | tuple[str, ...], st: os.stat_result) -> bool:
        """Does the entry exist in the context as BuildKit transfers it?"""
        ignore = self.ignore
        if ignore is None or not parts:
            return True
        rel = "/".join(parts)
        if not ignore.is_excluded(rel):
            return True
        if not stat.S_ISDIR(st.st_mode) or not ignore.may_include_below(rel):
            return False
        return self._has_visible_entry(list(parts), self.ignore_state(parts))

    def _has_visible_entry(self, parts: list[str], state: DirectoryMatch) -> bool:
        fd = self.open_dir(parts)
        try:
            for e in list_dir(fd):
                vector, excluded = state.match(e.name)
                if not excluded:
                    return True
                if (
                    e.is_dir(follow_symlinks=False)
                    and state.may_include_below(e.name, vector)
                    and self._has_visible_entry(
                        [*parts, e.name], state.enter(e.name, vector, excluded)
                    )
                ):
                    return True
            return False
        finally:
            os.close(fd)

    def ignore_state(self, parts: list[str] | tuple[str, ...]) -> DirectoryMatch:
        """The ignore matching state of the directory at `parts`."""
        assert self.ignore is not None
        state = self.ignore.root()
        for name in parts:
            vector, excluded = state.match(name)
            state = state.enter(name, vector, excluded)
        return state

    def resolve(self, path: str) -> list[str]:
        """`FollowSymlinkInScope`: the real path of `path` inside the root.

        Every symlink met is followed inside the root, the last component included; a
        missing component ends the lookups (the rest is kept as written, cleaned). An
        ignored symlink does not exist, so it is not followed.
        """
        visible = self.visible if self.ignore is not None else None
        return resolve_in_root(self.root.fd, path, visible)

    def find(self, path: str) -> Match:
        """The entry a source path names (the last symlink followed); error if missing."""
        parts = self.resolve(path)
        st = self.lstat(parts)
        if st is None or stat.S_ISLNK(st.st_mode) or not self.visible(parts, st):
            shown = "/" + "/".join(parts)
            raise CopyError(
                f'"{shown}" not found: not found',
                hint=_missing_hint(path, shown, self.from_context),
            )
        return Match(path, tuple(parts), st)

    def expand(self, source: str) -> list[Match]:
        """The entries a source names, wildcards expanded (an empty list if none match)."""
        head, pattern = split_wildcards(source)
        if not pattern:
            return [self.find(head or "/")]
        try:
            regex = compile_match(pattern)
        except BadPattern:
            raise CopyError(
                f"{source}: syntax error in pattern",
                hint="close every '[' of a character class and end no pattern with '\\'",
            ) from None
        base = self.resolve(head)
        st = self.lstat(base)
        if st is None or not self.visible(base, st):
            raise CopyError(
                f"lstat {head}: no such file or directory",
                hint=f"the directory {head} that holds the wildcard does not exist",
            )
        if not stat.S_ISDIR(st.st_mode):
            return []
        depth = pattern_depth(pattern)
        shown = head.rstrip("/")
        out: list[Match] = []
        state = self.ignore_state(base) if self.ignore is not None else None
        self._expand_dir(base, "", state, _Expansion(regex.fullmatch, depth, shown, out))
        return out

    def _expand_dir(
        self, parts: list[str], rel: str, state: DirectoryMatch | None, job: _Expansion
    ) -> None:
        fd = self.open_dir(parts)
        try:
            for e in list_dir(fd):
                name = e.name
                vector, excluded, hidden = 0, False, False
                if state is not None:
                    vector, excluded = state.match(name)
                    if excluded:
                        if not (
                            e.is_dir(follow_symlinks=False)
                            and state.may_include_below(name, vector)
                        ):
                            continue
                        hidden = True
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                if hidden and not is_dir:
                    continue
                sub = state.enter(name, vector, excluded) if state is not None and is_dir else None
                child_rel = f"{rel}/{name}" if rel else name
                child = [*parts, name]
                if job.matches(child_rel):
                    if hidden and not (sub is not None and self._has_visible_entry(child, sub)):
                        continue
                    shown = f"{job.shown}/{child_rel}"
                    if stat.S_ISLNK(st.st_mode):  # fsutil follows a matched symlink too
                        found = self.find("/".join(child))
                        job.out.append(Match(shown, found.parts, found.st))
                    else:
                        job.out.append(Match(shown, tuple(child), st))
                    continue
                if is_dir and (job.depth is None or child_rel.count("/") < job.depth):
                    self._expand_dir(child, child_rel, sub, job)
        finally:
            os.close(fd)

    def open_dir(self, parts: list[str] | tuple[str, ...]) -> int:
        """An `O_RDONLY` fd of the real directory at `parts` (no symlink followed)."""
        try:
            opened = self.root.open_dir(list(parts), follow=False)
        except NotADirectoryError:
            opened = None
        if opened is None:
            raise CopyError(f'"/{"/".join(parts)}" not found: not found')
        pfd = opened[0]
        try:
            return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        finally:
            os.close(pfd)


def resolve_in_root(
    root_fd: int,
    path: str,
    visible: Callable[[list[str], os.stat_result], bool] | None = None,
) -> list[str]:
    """`FollowSymlinkInScope` below the directory `root_fd` (see `SourceTree.resolve`).

    A symlink for which `visible` says False is treated as a plain entry (not followed).
    """
    todo = [p for p in reversed(path.split("/")) if p not in ("", ".")]
    done: list[str] = []
    links = 0
    missing = False
    while todo:
        name = todo.pop()
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = [*done, name]
        if missing:
            done = candidate
            continue
        try:
            st = os.stat("/".join(candidate), dir_fd=root_fd, follow_symlinks=False)
        except FileNotFoundError:
            missing = True
            done = candidate
            continue
        except NotADirectoryError:
            raise CopyError(
                f'"/{"/".join(candidate)}": not a directory',
                hint=f"/{'/'.join(done)} is a file, not a directory",
            ) from None
        if not stat.S_ISLNK(st.st_mode) or (visible is not None and not visible(candidate, st)):
            done = candidate
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise CopyError(f"{path}: too many levels of symbolic links")
        target = os.readlink("/".join(candidate), dir_fd=root_fd)
        if target.startswith("/"):
            done = []
        todo.extend(p for p in reversed(target.split("/")) if p not in ("", "."))
    return done


def list_xattrs(entry: int | str) -> list[str]:
    """The extended attribute names of an fd, or of a path without following it."""
    if isinstance(entry, int):
        return os.listxattr(entry)
    return os.listxattr(entry, follow_symlinks=False)


def get_xattr(entry: int | str, attr: str) -> bytes:
    if isinstance(entry, int):
        return os.getxattr(entry, attr)
    return os.getxattr(entry, attr, follow_symlinks=False)


def _missing_hint(path: str, shown: str, from_context: bool) -> str:
    where = "the build context" if from_context else "the source"
    if shown != path:
        return f"{path} leads to {shown}, which is not in {where} (or is excluded by .dockerignore)"
    if from_context:
        return f"{path} is not in the build context, or .dockerignore excludes it"
    return f"{path} does not exist in the stage or image it is copied from"


def _entry_key(entry: os.DirEntry[str]) -> bytes:
    return os.fsencode(entry.name)


_by_name = attrgetter("name")


def list_dir(fd: int) -> list[os.DirEntry[str]]:
    """The entries of a directory in Go's order (names compared as bytes)."""
    with os.scandir(fd) as it:
        entries = list(it)
    names = "".join(e.name for e in entries)
    if not names.isascii():
        try:
            names.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes: code point order is not byte order
            entries.sort(key=_entry_key)
            return entries
    entries.sort(key=_by_name)
    return entries


def clean_source(source: str) -> str:
    """A local source as BuildKit normalizes it: absolute and cleaned (`../x` -> `/x`)."""
    return "/" + "/".join(clean_parts(source))


@dataclass(frozen=True, slots=True)
class Parents:
    """A `COPY --parents` source as BuildKit's frontend splits it."""

    base: str  # what is copied (its contents): the context root, or the part before "/./"
    include: DockerIgnore | None  # the rest, as an include pattern relative to `base`
    required: tuple[str, ...]  # paths that must exist (when there is no wildcard)


def parents_source(source: str) -> Parents:
    """Split a --parents source at its `/./` pivot (else at the root)."""
    base, sep, pattern = source.partition("/./")
    if not sep:
        base, pattern = "/", source
    pattern = "/".join(clean_parts(pattern))
    required: tuple[str, ...] = ()
    if not contains_wildcards(base) and not contains_wildcards(pattern):
        required = (clean_source(f"{base}/{pattern}"),)
    return Parents(clean_source(base), compile_patterns([pattern], "--parents"), required)


def missing_required(path: str) -> CopyError:
    return CopyError(
        f'"{path}": not found',
        hint=f"--parents copies {path}, which is not in the source",
    )
