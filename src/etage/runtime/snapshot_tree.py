"""Overlayfs' merge rules in user space, for the copying snapshotter.

A chain of diff directories (top first) is read the way overlayfs reads its lower
directories: the topmost entry of a name wins; a 0/0 character device hides the name in
the layers below; a directory merges with the directories of the same name below it, up
to and including the first opaque one (`trusted.overlay.opaque=y`) or the first layer
where the name is not a directory. `merged_children` lists one merged directory;
`materialize` copies a whole merged tree into a plain directory, keeping owners, modes,
extended attributes (overlayfs' own left out), timestamps, device numbers and the
hardlinks within a layer. Nothing here follows a symlink.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from dataclasses import dataclass

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_NO_XATTRS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA)


@dataclass(slots=True)
class Node:
    """The visible entry of a name: where it comes from and, for a directory, the
    directories of that name that merge into it (top first)."""

    path: str
    st: os.stat_result
    dirs: list[str]
    closed: bool  # no lower layer adds to `dirs` any more


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError as exc:
            if exc.errno not in _NO_XATTRS:
                raise
    return False


def merged_children(dirs: list[str]) -> dict[str, Node]:
    """The visible entries of the merged directory made of `dirs` (top first)."""
    seen: dict[str, Node | None] = {}  # None: hidden by a whiteout
    for directory in dirs:
        with os.scandir(directory) as it:
            entries = [(e.name, e.path, e.stat(follow_symlinks=False)) for e in it]
        for name, path, st in entries:
            if name not in seen:
                if is_whiteout(st):
                    seen[name] = None
                elif stat.S_ISDIR(st.st_mode):
                    seen[name] = Node(path, st, [path], is_opaque(path))
                else:
                    seen[name] = Node(path, st, [], True)
                continue
            node = seen[name]
            if node is None or node.closed:
                continue
            if stat.S_ISDIR(st.st_mode):
                node.dirs.append(path)
                node.closed = is_opaque(path)
            else:
                node.closed = True  # a file or a whiteout ends the merge
    return {name: node for name, node in seen.items() if node is not None}


def read_xattrs(path: str) -> dict[str, bytes]:
    """Extended attributes of `path` itself, overlayfs' own left out."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in _NO_XATTRS:
            return {}
        raise
    out = {}
    for name in names:
        if name.startswith(_OVERLAY_XATTRS):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in _NO_XATTRS:
                raise
    return out


def set_metadata(path: str, st: os.stat_result, xattrs: dict[str, bytes]) -> None:
    """Owner, mode, xattrs and timestamps of `st` on `path` (in the order that keeps
    setuid bits and file capabilities, which chown clears)."""
    os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    for name, value in xattrs.items():
        try:
            os.setxattr(path, name, value, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
                raise
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_entry(
    src: str,
    st: os.stat_result,
    dst: str,
    links: dict[tuple[int, int], str],
    *,
    share_files: bool = False,
) -> bool:
    """Copy one entry but a directory's content; a directory gets its metadata later, from
    `finish_dir`. Files with several names are linked to the first copy (`links`); with
    `share_files`, every regular file is a hard link to its source (for trees that are
    never written again). Returns True for a directory."""
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFDIR:
        os.mkdir(dst, 0o700)
        return True
    if share_files and fmt == stat.S_IFREG:
        os.link(src, dst, follow_symlinks=False)
        return False
    if st.st_nlink > 1:
        first = links.get((st.st_dev, st.st_ino))
        if first is not None:
            os.link(first, dst, follow_symlinks=False)
            return False
        links[(st.st_dev, st.st_ino)] = dst
    if fmt == stat.S_IFREG:
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif fmt == stat.S_IFLNK:
        os.symlink(os.readlink(src), dst)
    elif fmt == stat.S_IFIFO:
        os.mkfifo(dst, 0o600)
    else:  # devices and sockets
        os.mknod(dst, fmt | 0o600, st.st_rdev)
    set_metadata(dst, st, read_xattrs(src))
    return False


def finish_dir(src: str, st: os.stat_result, dst: str) -> None:
    set_metadata(dst, st, read_xattrs(src))


def materialize(layers: list[str], dest: str) -> None:
    """Copy the merged tree of `layers` (diff directories, top first) into the existing,
    empty directory `dest`; `dest` itself takes the metadata of the top layer's root."""
    links: dict[tuple[int, int], str] = {}
    _copy_dir(layers, dest, links)
    if layers:
        finish_dir(layers[0], os.lstat(layers[0]), dest)


def _copy_dir(dirs: list[str], dest: str, links: dict[tuple[int, int], str]) -> None:
    for name, node in sorted(merged_children(dirs).items()):
        target = os.path.join(dest, name)
        if copy_entry(node.path, node.st, target, links):
            _copy_dir(node.dirs, target, links)
            finish_dir(node.path, node.st, target)


def copy_tree(
    src: str, dest: str, links: dict[tuple[int, int], str], *, share_files: bool = False
) -> None:
    """Copy the plain tree `src` (its content; `dest` exists) with its metadata."""
    with os.scandir(src) as it:
        entries = sorted((e.name, e.path, e.stat(follow_symlinks=False)) for e in it)
    for name, path, st in entries:
        target = os.path.join(dest, name)
        if copy_entry(path, st, target, links, share_files=share_files):
            copy_tree(path, target, links, share_files=share_files)
            finish_dir(path, st, target)
