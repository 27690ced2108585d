"""Applying a layer onto a directory, safely: how base images are unpacked.

`apply_layer(root, blob)` extracts a (possibly compressed) layer over what lower layers
left in `root`, with the OCI image spec's semantics (layer.md) and containerd's safety:

* every entry path is cleaned as if absolute (`/etc/x`, `../../etc/x` -> `<root>/etc/x`);
  parent directories are resolved with directory fds, symlinks among them being resolved
  inside the root (`etage.oci.securejoin`); missing parents are created (0755);
* the final component is never followed: whatever was there (a symlink to the outside
  included) is removed and replaced; a regular file is created with `O_EXCL|O_NOFOLLOW`;
  a directory entry over an existing directory keeps it (and its content), any other
  combination replaces what was there;
* hardlink targets are resolved inside the root in the same way, must exist and must not
  be directories; the link is made to the target entry itself (not through a symlink);
* `.wh.NAME` removes NAME, `.wh..wh..opq` removes what lower layers put in its directory;
  both spare what this same layer added, whatever the order of the entries; other
  `.wh..wh.*` names (AUFS metadata) are skipped;
* device nodes are created only if allowed (default: when running as root), else skipped
  and counted; owners (lchown), modes (setuid, setgid and sticky bits included), xattrs and
  mtimes are applied without following symlinks, directories' modes and mtimes last;
  overlayfs' own xattrs (`trusted.overlay.*`, `user.overlay.*`) are never applied.

With `overlay=True` the root is an empty overlayfs upper ("diff") directory to fill, not
the lower layers' tree: whiteouts are kept as overlayfs keeps them instead of removing
anything. `.wh.NAME` becomes a 0/0 character device NAME (or, if this layer holds a
directory NAME, that directory is made opaque: it replaces the lower one); `.wh..wh..opq`
sets `trusted.overlay.opaque=y` on its directory; both are resolved at the end of the layer,
so the order of the entries does not matter. Directories the layer implies without listing
them take their metadata from the first of `lower_dirs` (the lower diff directories, top
first) that has them, as an overlayfs copy-up would; with no lower directories there is
nothing to hide and whiteouts are skipped.

Errors raise `LayerError` naming the entry. Nothing is written outside the root, ever,
errors included; a failed apply leaves a partly applied root for the caller to discard.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import BinaryIO

from etage.oci.securejoin import Root, clean_parts
from etage.oci.tar import OPAQUE_MARKER, WHITEOUT_PREFIX, EntryType, LayerError, TarEntry
from etage.oci.tar_reader import iter_layer

CHUNK = 1 << 20
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_SKIP_XATTR_ERRORS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)
# overlayfs' own metadata: never image content, and in a lower directory it would steer
# overlayfs lookups (redirect, metacopy, opaque)
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True, slots=True)
class ApplySummary:
    """What applying a layer did."""

    entries: int = 0  # entries read from the layer
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    fifos: int = 0
    bytes: int = 0  # bytes of regular file content written
    whiteouts: int = 0  # whiteouts and opaque markers applied
    skipped_devices: int = 0
    skipped_xattrs: int = 0
    skipped_entries: int = 0  # the root itself, AUFS metadata


def apply_layer(
    root: str | os.PathLike[str],
    blob: BinaryIO,
    *,
    media_type: str | None = None,
    allow_devices: bool | None = None,
    preserve_owners: bool | None = None,
    overlay: bool = False,
    lower_dirs: Sequence[str | os.PathLike[str]] = (),
) -> ApplySummary:
    """Apply a layer blob (gzip, zstd or plain tar, sniffed) onto the directory `root`."""
    return apply_entries(
        root,
        iter_layer(blob, media_type),
        allow_devices=allow_devices,
        preserve_owners=preserve_owners,
        overlay=overlay,
        lower_dirs=lower_dirs,
    )


def apply_entries(
    root: str | os.PathLike[str],
    entries: Iterable[tuple[TarEntry, BinaryIO]],
    *,
    allow_devices: bool | None = None,
    preserve_owners: bool | None = None,
    overlay: bool = False,
    lower_dirs: Sequence[str | os.PathLike[str]] = (),
) -> ApplySummary:
    """Apply layer entries (as `etage.oci.tar_reader.iter_tar` yields them) onto `root`.

    `allow_devices` and `preserve_owners` default to whether the process runs as root.
    `overlay` and `lower_dirs`: fill an overlayfs diff directory (see the module's doc).
    """
    try:
        handle = Root(root)
    except OSError as exc:
        raise LayerError(f"{os.fspath(root)}: cannot open the root: {exc.strerror}") from exc
    applier = _Applier(handle, allow_devices, preserve_owners)
    if overlay:
        applier.overlay = _OverlayMarks([os.fspath(d) for d in lower_dirs])
    try:
        for entry, content in entries:
            applier.apply(entry, content)
        applier.finish()
    finally:
        handle.close()
    return ApplySummary(**applier.counts)


class _Applier:
    def __init__(self, root: Root, allow_devices: bool | None, owners: bool | None) -> None:
        is_root = os.geteuid() == 0
        self.root = root
        self.devices_default = allow_devices is None
        self.allow_devices = is_root if allow_devices is None else allow_devices
        self.owners = is_root if owners is None else owners
        self.counts = {f.name: 0 for f in fields(ApplySummary)}
        self.added: set[str] = set()  # real paths this layer created or replaced
        self.parents: set[str] = set()  # directories holding something this layer added
        self.dirs: dict[str, tuple[int, int]] = {}  # real path -> (mode, mtime in ns)
        self.buf = bytearray(CHUNK)
        self.overlay: _OverlayMarks | None = None

    # -- one entry ------------------------------------------------------------------

    def apply(self, entry: TarEntry, content: BinaryIO) -> None:
        self.counts["entries"] += 1
        parts = clean_parts(entry.path)
        try:
            if not parts or parts[-1].startswith(WHITEOUT_PREFIX) or _is_aufs(parts[0]):
                self._special(entry, parts)
                return
            kind = entry.type
            if kind in (EntryType.CHAR, EntryType.BLOCK) and not self.allow_devices:
                self.counts["skipped_devices"] += 1
                return
            opened = self.root.open_dir(parts[:-1], create=True)
            assert opened is not None
            pfd, real = opened
            try:
                key = "/".join([*real, parts[-1]])
                if self._create(entry, pfd, parts[-1], key, content):
                    self._mark(key)
            finally:
                os.close(pfd)
        except LayerError:
            raise
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
            raise LayerError(
                f"{entry.path}: cannot apply this layer entry: {reason}{where}"
            ) from exc

    def _mark(self, key: str) -> None:
        self.added.add(key)
        head = key.rpartition("/")[0]
        while head and head not in self.parents:
            self.parents.add(head)
            head = head.rpartition("/")[0]

    def _special(self, entry: TarEntry, parts: list[str]) -> None:
        if not parts or _is_aufs(parts[0]) or _is_aufs(parts[-1]):
            self.counts["skipped_entries"] += 1  # the root itself, or AUFS metadata
            return
        if parts[-1] == OPAQUE_MARKER:
            if self.overlay is not None:
                self.overlay.opaque.add(tuple(parts[:-1]))
            else:
                self._opaque(parts[:-1])
            return
        name = parts[-1][len(WHITEOUT_PREFIX) :]
        if name in ("", ".", ".."):
            raise LayerError(f"{entry.path}: invalid whiteout (it names {name!r})")
        if self.overlay is not None:
            self.overlay.whiteouts.add((*parts[:-1], name))
            return
        opened = self.root.open_dir(parts[:-1])
        if opened is None:
            return  # the directory does not exist: nothing to remove
        pfd, real = opened
        try:
            key = "/".join([*real, name])
            if key in self.added:
                return  # whiteouts hide lower layers only, not this one's entries
            if key in self.parents:  # this layer put things in it: hide the rest
                self._opaque([*real, name])
            elif _remove(pfd, name):
                self.counts["whiteouts"] += 1
        finally:
            os.close(pfd)

    def _opaque(self, parts: list[str]) -> None:
        opened = self.root.open_dir(parts)
        if opened is None:
            return
        dfd, real = opened
        try:
            self._prune(dfd, real)
        finally:
            os.close(dfd)
        self.counts["whiteouts"] += 1

    def _prune(self, dfd: int, real: list[str]) -> None:
        """Remove from a directory whatever this layer did not add, recursively."""
        rfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
        try:
            names = sorted(os.listdir(rfd))
        finally:
            os.close(rfd)
        for name in names:
            key = "/".join([*real, name])
            if key not in self.added and key not in self.parents:
                _remove(dfd, name)
                continue
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                cfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
                try:
                    self._prune(cfd, [*real, name])
                finally:
                    os.close(cfd)

    def _create(self, entry: TarEntry, pfd: int, name: str, key: str, content: BinaryIO) -> bool:
        kind = entry.type
        if kind is EntryType.HARDLINK:
            return self._hardlink(entry, pfd, name, key)
        existing = _lstat(pfd, name)
        if existing is not None and not (kind is EntryType.DIR and stat.S_ISDIR(existing.st_mode)):
            _remove(pfd, name)
            existing = None
        if kind is EntryType.DIR:
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=pfd)
            self._chown(pfd, name, entry)
            if entry.xattrs:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=pfd)
                try:
                    self._xattrs(fd, entry)
                finally:
                    os.close(fd)
            self.dirs[key] = (entry.mode, _ns(entry))
            self.counts["dirs"] += 1
            return True
        if kind is EntryType.FILE:
            self._file(entry, pfd, name, content)
            return True
        if kind is EntryType.SYMLINK:
            os.symlink(entry.linkname, name, dir_fd=pfd)
            self.counts["symlinks"] += 1
        elif kind is EntryType.FIFO:
            os.mkfifo(name, 0o600, dir_fd=pfd)
            self.counts["fifos"] += 1
        else:
            fmt = stat.S_IFCHR if kind is EntryType.CHAR else stat.S_IFBLK
            try:
                os.mknod(name, fmt | 0o600, os.makedev(entry.devmajor, entry.devminor), dir_fd=pfd)
            except PermissionError:
                if not self.devices_default:
                    raise
                self.counts["skipped_devices"] += 1  # root in a user namespace
                return False
            self.counts["devices"] += 1
        self._chown(pfd, name, entry)
        if kind is not EntryType.SYMLINK:
            os.chmod(name, entry.mode, dir_fd=pfd, follow_symlinks=False)
        self._xattrs(f"/proc/self/fd/{pfd}/{name}", entry)
        ns = _ns(entry)
        os.utime(name, ns=(ns, ns), dir_fd=pfd, follow_symlinks=False)
        return True

    def _file(self, entry: TarEntry, pfd: int, name: str, content: BinaryIO) -> None:
        fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            view = memoryview(self.buf)
            left = entry.size
            while left:
                n = content.readinto(view[: min(left, CHUNK)])  # type: ignore[attr-defined]
                if not n:
                    raise LayerError(f"{entry.path}: the layer ends inside this file")
                chunk = view[:n]
                while chunk:
                    chunk = chunk[os.write(fd, chunk) :]
                left -= n
            if self.owners:
                os.fchown(fd, entry.uid, entry.gid)
            os.fchmod(fd, entry.mode)  # after chown, which clears setuid and setgid
            self._xattrs(fd, entry)  # after chown, which clears security.capability
            ns = _ns(entry)
            os.utime(fd, ns=(ns, ns))
        finally:
            os.close(fd)
        self.counts["files"] += 1
        self.counts["bytes"] += entry.size

    def _hardlink(self, entry: TarEntry, pfd: int, name: str, key: str) -> bool:
        target = clean_parts(entry.linkname)
        if not target:
            raise LayerError(f"{entry.path}: a hardlink to the root directory")
        opened = self.root.open_dir(target[:-1])
        if opened is None:
            raise LayerError(f"{entry.path}: hardlink target {entry.linkname} does not exist")
        tfd, treal = opened
        try:
            st = _lstat(tfd, target[-1])
            if st is None:
                raise LayerError(f"{entry.path}: hardlink target {entry.linkname} does not exist")
            if stat.S_ISDIR(st.st_mode):
                raise LayerError(f"{entry.path}: hardlink target {entry.linkname} is a directory")
            if "/".join([*treal, target[-1]]) == key:
                return False  # a link to itself: nothing to do
            if _lstat(pfd, name) is not None:
                _remove(pfd, name)
            os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)
        self.counts["hardlinks"] += 1
        return True

    # -- metadata -----------------------------------------------------------------------

    def _chown(self, pfd: int, name: str, entry: TarEntry) -> None:
        if self.owners:
            os.chown(name, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)

    def _xattrs(self, target: int | str, entry: TarEntry) -> None:
        for attr, value in entry.xattrs.items():
            if attr.startswith(_OVERLAY_XATTRS):
                self.counts["skipped_xattrs"] += 1
                continue
            try:
                if isinstance(target, int):
                    os.setxattr(target, attr, value)
                else:
                    os.setxattr(target, attr, value, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _SKIP_XATTR_ERRORS:
                    raise
                self.counts["skipped_xattrs"] += 1

    def finish(self) -> None:
        """Set directories' modes and mtimes, deepest first, now that their content is in."""
        if self.overlay is not None:
            self._overlay_finish(self.overlay)
        for key in sorted(self.dirs, key=lambda k: k.count("/"), reverse=True):
            mode, ns = self.dirs[key]
            opened = self.root.open_dir(key.split("/"), follow=False)
            if opened is None:
                continue  # replaced by a later entry
            pfd = opened[0]
            try:
                fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
            finally:
                os.close(pfd)
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(ns, ns))
            except OSError as exc:
                raise LayerError(
                    f"{key}: cannot set the directory's mode and mtime: {exc}"
                ) from exc
            finally:
                os.close(fd)

    # -- overlayfs diff directories ------------------------------------------------------

    def _overlay_finish(self, marks: _OverlayMarks) -> None:
        """Write the whiteouts and opaque markers, then give implied directories the
        metadata of the lower layers' ones."""
        if marks.lower:
            todo = [(p, True) for p in marks.opaque] + [(p, False) for p in marks.whiteouts]
            for parts, opaque in sorted(todo, key=lambda t: len(t[0]), reverse=True):
                where = "/".join([*parts, OPAQUE_MARKER] if opaque else parts)
                try:
                    self._overlay_mark(marks, list(parts), opaque)
                except (OSError, ValueError) as exc:
                    raise LayerError(f"{where}: cannot write this whiteout: {exc}") from exc
        implied = {k for k in self.parents | marks.implied if k and k not in self.dirs}
        for key in implied:
            try:
                self._copy_lower_dir(marks, key)
            except OSError as exc:
                raise LayerError(f"{key}: cannot copy the lower directory: {exc}") from exc

    def _overlay_mark(self, marks: _OverlayMarks, parts: list[str], opaque: bool) -> None:
        head = parts if opaque else parts[:-1]
        try:
            opened = self.root.open_dir(head, create=True)
        except NotADirectoryError:
            return  # this layer replaced the directory by something else
        assert opened is not None
        pfd, real = opened
        try:
            key = "/".join(real)
            head_key = key
            while head_key:
                marks.implied.add(head_key)
                head_key = head_key.rpartition("/")[0]
            if opaque:
                _set_opaque(pfd, ".")
            else:
                st = _lstat(pfd, parts[-1])
                if st is None:  # the character device 0/0 overlayfs reads as a whiteout
                    os.mknod(parts[-1], stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
                elif stat.S_ISDIR(st.st_mode):
                    _set_opaque(pfd, parts[-1])  # a directory of this layer replaces the lower
                else:
                    return  # an entry of this layer already hides the lower one
            self.counts["whiteouts"] += 1
        finally:
            os.close(pfd)

    def _copy_lower_dir(self, marks: _OverlayMarks, key: str) -> None:
        """Give the implied directory `key` the owner, xattrs, mode and mtime of the first
        lower directory of that path, as overlayfs' copy-up would."""
        parts = key.split("/")
        for lower in marks.lower:
            with Root(lower) as root:
                lfd = _read_dir(root, parts)
            if lfd is None:
                continue
            try:
                st = os.fstat(lfd)
                xattrs = {
                    name: os.getxattr(lfd, name)
                    for name in os.listxattr(lfd)
                    if not name.startswith(_OVERLAY_XATTRS)
                }
            finally:
                os.close(lfd)
            fd = _read_dir(self.root, parts)
            if fd is None:
                return  # replaced by a later entry
            try:
                if self.owners:
                    os.fchown(fd, st.st_uid, st.st_gid)
                for name, value in xattrs.items():
                    try:
                        os.setxattr(fd, name, value)
                    except OSError as exc:
                        if exc.errno not in _SKIP_XATTR_ERRORS:
                            raise
                        self.counts["skipped_xattrs"] += 1
            finally:
                os.close(fd)
            self.dirs[key] = (stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            return


def _read_dir(root: Root, parts: list[str]) -> int | None:
    """A readable fd of the directory at `parts` below `root`, reached without following
    any symlink; None if there is no directory there."""
    try:
        opened = root.open_dir(parts, follow=False)
    except NotADirectoryError:
        return None
    if opened is None:
        return None
    try:
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=opened[0])
    finally:
        os.close(opened[0])


@dataclass
class _OverlayMarks:
    """What an overlay-mode apply writes at the end: markers, as cleaned entry paths."""

    lower: list[str]
    whiteouts: set[tuple[str, ...]] = field(default_factory=set)  # dir parts + the name
    opaque: set[tuple[str, ...]] = field(default_factory=set)  # dir parts
    implied: set[str] = field(default_factory=set)  # real paths of the markers' directories


def _set_opaque(dfd: int, name: str) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    try:
        os.setxattr(fd, OVERLAY_OPAQUE_XATTR, b"y")
    finally:
        os.close(fd)


def _is_aufs(name: str) -> bool:
    """AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`...), which Docker's applier skips."""
    return name.startswith(WHITEOUT_PREFIX * 2) and name != OPAQUE_MARKER


def _ns(entry: TarEntry) -> int:
    return entry.mtime * 1_000_000_000 + entry.mtime_nsec


def _lstat(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(dfd: int, name: str) -> bool:
    """Remove `name` in the directory `dfd` (a tree, recursively), following no symlink."""
    st = _lstat(dfd, name)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)
    return True
