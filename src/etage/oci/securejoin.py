"""Resolving paths inside a root directory so that no symlink ever leads out of it.

The "securejoin" semantics of containerd and runc: a path is cleaned as if it were absolute
(`..` never climbs above the root), then resolved one component at a time with directory
file descriptors (`openat` with `O_NOFOLLOW`). A symlink met on the way is read and its
target resolved *inside the root* (an absolute target starts again from the root; `..`
stops at the root), so whatever the links say, every directory reached is below the root.
Nothing is ever looked up by a full path string, so a link swapped in between two calls
cannot redirect a write either.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

MAX_SYMLINKS = 255  # Linux allows 40 per lookup; the walk here counts the whole resolution
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def clean_parts(path: str) -> list[str]:
    """Components of `path` cleaned like Go's `filepath.Clean("/" + path)`, root-relative."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts


class Root:
    """An open root directory. Close it (or use it as a context manager) when done."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_dir(
        self, parts: Sequence[str], *, create: bool = False, follow: bool = True
    ) -> tuple[int, list[str]] | None:
        """Open the directory at `parts` below the root: an `O_PATH` fd and its real path.

        Symlinks met on the way are resolved inside the root (unless `follow` is false: then
        a symlink is treated as a missing directory). Missing directories are created with
        mode 0755 if `create`, else the result is None. A component that is neither a
        directory nor a symlink raises `NotADirectoryError`. The caller closes the fd.
        """
        stack: list[int] = []
        names: list[str] = []
        todo = list(reversed(parts))
        links = 0
        try:
            while todo:
                name = todo.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if stack:
                        os.close(stack.pop())
                        names.pop()
                    continue
                cur = stack[-1] if stack else self.fd
                try:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        return None
                    try:
                        os.mkdir(name, 0o755, dir_fd=cur)
                    except FileExistsError:  # pragma: no cover - created meanwhile
                        pass
                    else:
                        os.chmod(name, 0o755, dir_fd=cur, follow_symlinks=False)
                    todo.append(name)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise NotADirectoryError(
                            errno.ENOTDIR, "not a directory", "/".join([*names, name])
                        ) from None
                    if not follow:
                        return None
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise OSError(
                            errno.ELOOP, "too many levels of symbolic links", "/".join(parts)
                        ) from None
                    target = os.readlink(name, dir_fd=cur)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop())
                        names.clear()
                    todo.extend(reversed(target.split("/")))
                    continue
                stack.append(fd)
                names.append(name)
            top = stack.pop() if stack else os.dup(self.fd)
            return top, names
        finally:
            for fd in stack:
                os.close(fd)
