"""The build context on disk: which ignore file applies, and which entries are sent.

The selection is BuildKit's (tonistiigi/fsutil ``filterFS.Walk`` over the patterns of
moby/patternmatcher, see ``etage.dockerfile.ignore``):

* entries are visited depth first, the entries of a directory sorted by name (Go's
  ``filepath.WalkDir`` order), the root itself is not reported;
* an excluded entry is left out; an excluded directory is not even read unless an
  exception after the pattern that excluded it could match something below it;
* a directory that is excluded but holds re-included entries is reported, just before
  the first of them (so every reported entry has its parent directories reported);
* symbolic links are reported as links, never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from etage.dockerfile.ignore import DirectoryMatch, DockerIgnore
from etage.errors import ContextError

__all__ = [
    "DEFAULT_DOCKERFILE",
    "DEFAULT_IGNORE_FILE",
    "ContextEntry",
    "find_ignore_file",
    "load_ignore",
    "walk_context",
]

DEFAULT_DOCKERFILE = "Dockerfile"
DEFAULT_IGNORE_FILE = ".dockerignore"

_S_IFMT = stat.S_IFMT
_S_IFDIR = stat.S_IFDIR
_S_IFREG = stat.S_IFREG
_S_IFLNK = stat.S_IFLNK
_by_name = attrgetter("name")


def find_ignore_file(context_dir: Path, dockerfile: Path | None) -> Path | None:
    """The ignore file BuildKit uses for this build, or None.

    ``<Dockerfile>.dockerignore`` next to the Dockerfile wins (BuildKit's dockerui reads
    ``<filename>.dockerignore`` from the Dockerfile's directory, so ``-f
    ci/build.Dockerfile`` looks for ``ci/build.Dockerfile.dockerignore``); otherwise
    ``<context>/.dockerignore``. Without ``-f`` the Dockerfile is ``<context>/Dockerfile``,
    so ``<context>/Dockerfile.dockerignore`` is looked for first. The file's existence
    decides, even when it is empty. A relative ``dockerfile`` is taken from the current
    directory, as a ``-f`` argument is.
    """
    dockerfile = Path(context_dir) / DEFAULT_DOCKERFILE if dockerfile is None else dockerfile
    specific = dockerfile.with_name(dockerfile.name + DEFAULT_IGNORE_FILE)
    if specific.is_file():
        return specific
    general = Path(context_dir) / DEFAULT_IGNORE_FILE
    if general.is_file():
        return general
    return None


def load_ignore(context_dir: Path, dockerfile: Path | None) -> DockerIgnore:
    """Read and compile the ignore file of a build; ``DockerIgnore.empty()`` if none."""
    path = find_ignore_file(context_dir, dockerfile)
    if path is None:
        return DockerIgnore.empty()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContextError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="make the ignore file readable, or remove it",
        ) from exc
    # Names on disk are decoded with os.fsdecode (surrogateescape); decode the patterns
    # the same way so that a byte that is not UTF-8 matches the same byte in a name.
    text = data.decode("utf-8", "surrogateescape")
    return DockerIgnore.parse(text, source=_display_name(path, context_dir))


def _display_name(path: Path, context_dir: Path) -> str:
    try:
        return path.relative_to(context_dir).as_posix()
    except ValueError:
        return str(path)


@dataclass(frozen=True, slots=True)
class ContextEntry:
    """One entry of the build context as it is sent."""

    path: str  # relative to the context root, "/"-separated, no leading "./"
    kind: str  # "file", "dir", "symlink" or "other" (fifo, socket, device)
    size: int  # bytes for regular files, 0 for everything else (as fsutil does)
    mode: int  # st_mode from lstat: type and permission bits


def _entry(path: str, st: os.stat_result) -> ContextEntry:
    mode = st.st_mode
    fmt = _S_IFMT(mode)
    if fmt == _S_IFREG:
        return ContextEntry(path, "file", st.st_size, mode)
    if fmt == _S_IFDIR:
        return ContextEntry(path, "dir", 0, mode)
    if fmt == _S_IFLNK:
        return ContextEntry(path, "symlink", 0, mode)
    return ContextEntry(path, "other", 0, mode)


def _scan(directory: str, rel: str, *, excluded: bool) -> list[os.DirEntry[str]] | None:
    """The entries of a directory sorted by name; None if it vanished or may be skipped."""
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except (FileNotFoundError, NotADirectoryError):
        return None  # removed while walking: BuildKit skips it too
    except PermissionError as exc:
        if excluded:
            return None  # BuildKit ignores EPERM in a directory it only peeks into
        raise ContextError(
            f"cannot read directory {rel or '.'} of the build context: permission denied",
            hint="make it readable, or exclude it in .dockerignore",
        ) from exc
    except OSError as exc:
        raise ContextError(
            f"cannot read directory {rel or '.'} of the build context: {exc.strerror or exc}",
        ) from exc
    entries.sort(key=_by_name)
    return entries


class _Frame:
    __slots__ = ("entries", "index", "match", "path", "pending")

    def __init__(
        self,
        path: str,
        entries: list[os.DirEntry[str]],
        match: DirectoryMatch,
        pending: ContextEntry | None,
    ) -> None:
        self.path = path  # absolute path of the directory
        self.entries = entries
        self.index = 0
        self.match = match
        # The directory's own entry while it is excluded and not reported yet.
        self.pending = pending


def walk_context(context_dir: Path, ignore: DockerIgnore) -> Iterator[ContextEntry]:
    """Yield the entries of the build context that ``ignore`` keeps, in walk order."""
    root = os.fspath(context_dir)
    if not os.path.isdir(root):
        raise ContextError(
            f"build context {root} is not a directory",
            hint="pass the directory that holds the files the Dockerfile copies",
        )
    entries = _scan(root, "", excluded=False)
    if entries is None:
        raise ContextError(f"build context {root} disappeared")
    stack = [_Frame(root, entries, ignore.root(), None)]
    pending = 0  # how many frames hold a pending (excluded, unreported) directory
    while stack:
        frame = stack[-1]
        entries = frame.entries
        index = frame.index
        if index >= len(entries):
            stack.pop()
            if frame.pending is not None:
                pending -= 1
            continue
        frame.index = index + 1
        entry = entries[index]
        match = frame.match
        name = entry.name
        prefix = match.prefix
        if match.constant:
            vector, excluded = match.vector, match.excluded
        else:
            vector, excluded = match.match(name)
        if excluded:
            if entry.is_dir(follow_symlinks=False) and match.may_include_below(name, vector):
                rel = prefix + name
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                children = _scan(entry.path, rel, excluded=True)
                if children:
                    stack.append(
                        _Frame(
                            entry.path,
                            children,
                            match.enter(name, vector, excluded),
                            _entry(rel, st),
                        )
                    )
                    pending += 1
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while walking
        if pending:
            for holder in stack:
                if holder.pending is not None:
                    yield holder.pending
                    holder.pending = None
            pending = 0
        rel = prefix + name
        mode = st.st_mode
        fmt = _S_IFMT(mode)
        if fmt == _S_IFREG:
            yield ContextEntry(rel, "file", st.st_size, mode)
        elif fmt == _S_IFDIR:
            yield ContextEntry(rel, "dir", 0, mode)
            children = _scan(entry.path, rel, excluded=False)
            if children:
                stack.append(_Frame(entry.path, children, match.enter(name, vector, False), None))
        elif fmt == _S_IFLNK:
            yield ContextEntry(rel, "symlink", 0, mode)
        else:
            yield ContextEntry(rel, "other", 0, mode)
