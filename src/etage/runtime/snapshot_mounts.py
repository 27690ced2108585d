"""The few mount operations snapshots need: overlay and read-only bind mounts, unmounts,
and the list of mounts below a directory (for the cleanup of a killed process's mounts).

Mounts are made with the `mount(2)` system call through ctypes, not `/bin/mount`: no
process to start, no helper rewriting the options, and the errno of a failure.

The options of a legacy `mount(2)` call are copied into one page (4096 bytes here), so an
overlay over many layers cannot name its lower directories by absolute path. As
containerd does (core/mount/mount_linux.go, `compactLowerdirOption` and `mountAt`), the
mount is made from a thread that has its own working directory (`unshare(CLONE_FS)`, then
`chdir` to the directory that holds the layers), with the lower, upper and work
directories given relative to it: `12/fs:11/fs:...`. The thread then ends; the process's
own working directory never moves.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path

MNT_DETACH = 2
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
CLONE_FS = 0x200
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
OVERLAY_PARAMETERS = Path("/sys/module/overlay/parameters")


class OptionsTooLong(OSError):
    """The overlay options do not fit in one page, even with relative paths."""


@cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


def _check(result: int, what: str, path: str | os.PathLike[str]) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", os.fspath(path))


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    result = _libc().mount(
        source.encode(),
        os.fsencode(target),
        fstype.encode() if fstype else None,
        flags,
        os.fsencode(data) if data is not None else None,
    )
    _check(result, f"mount {fstype or 'bind'}", target)


@cache
def overlay_defaults() -> tuple[str, ...]:
    """Options that keep an upper directory a plain, self-contained diff.

    `index=off` as containerd sets it (no hardlink index tying an upper to its lowers);
    `redirect_dir=off` and `metacopy=off` because the upper directory is exported as a
    layer: a renamed directory must be copied up whole (not recorded as a redirect xattr),
    and a chmod must copy the file's data (not only its metadata). Each is given only if
    the kernel knows it.
    """
    return tuple(
        f"{name}=off" for name in ("index", "redirect_dir", "metacopy")
        if (OVERLAY_PARAMETERS / name).exists()
    )  # fmt: skip


def overlay_data(lowers: Sequence[str], upper: str | None, work: str | None) -> str:
    """The option string of an overlay mount (`lowers` top first)."""
    opts = [f"lowerdir={':'.join(_escape(p) for p in lowers)}"]
    if upper is not None and work is not None:
        opts += [f"upperdir={_escape(upper)}", f"workdir={_escape(work)}"]
    return ",".join([*opts, *overlay_defaults()])


def _escape(path: str) -> str:
    # overlayfs splits lowerdir at ':' and options at ','; both can be escaped with '\'
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def mount_overlay(
    target: Path,
    *,
    cwd: Path,
    lowers: Sequence[str],
    upper: str | None = None,
    work: str | None = None,
) -> None:
    """Mount an overlay at `target`; `lowers` (top first), `upper` and `work` are paths
    relative to `cwd`. Without an upper directory the overlay is read-only (and needs two
    lowers or more). Absolute paths are used when they fit in a page, else relative ones
    from a thread whose working directory is `cwd`."""
    flags = MS_RDONLY if upper is None else 0
    base = os.fspath(cwd.absolute())
    absolute = overlay_data(
        [os.path.join(base, p) for p in lowers],
        None if upper is None else os.path.join(base, upper),
        None if work is None else os.path.join(base, work),
    )
    if len(os.fsencode(absolute)) < PAGE_SIZE:
        _mount("overlay", os.fspath(target), "overlay", flags, absolute)
        return
    data = overlay_data(lowers, upper, work)
    if len(os.fsencode(data)) >= PAGE_SIZE:
        raise OptionsTooLong(
            errno.E2BIG,
            f"overlay options of {len(data)} bytes for {len(lowers)} layers do not fit "
            f"in a page ({PAGE_SIZE} bytes)",
            os.fspath(target),
        )
    error: list[BaseException] = []

    def run() -> None:
        try:
            _check(_libc().unshare(CLONE_FS), "unshare(CLONE_FS)", cwd)
            os.chdir(base)  # this thread's own working directory, after the unshare
            _mount("overlay", os.fspath(target.absolute()), "overlay", flags, data)
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=run, name="etage-overlay-mount")
    thread.start()
    interrupted: BaseException | None = None
    while thread.is_alive():  # wait for the mount even on Ctrl-C, so the caller undoes it
        try:
            thread.join()
        except BaseException as exc:
            interrupted = exc
    if error:
        raise error[0]
    if interrupted is not None:
        raise interrupted


def bind_readonly(source: Path, target: Path) -> None:
    """A read-only bind mount of `source` at `target` (two calls: bind, then remount)."""
    _mount(os.fspath(source), os.fspath(target), None, MS_BIND | MS_REC, None)
    try:
        _mount("", os.fspath(target), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    except BaseException:
        unmount(target, detach=True)
        raise


def unmount(target: str | os.PathLike[str], *, detach: bool = False, wait: float = 0.0) -> None:
    """Unmount `target`; EBUSY is retried for `wait` seconds; EINVAL (not a mount point)
    and ENOENT are not errors. With `detach`, a lazy unmount (MNT_DETACH)."""
    deadline = time.monotonic() + wait
    while True:
        result = _libc().umount2(os.fsencode(target), MNT_DETACH if detach else 0)
        if result == 0:
            return
        err = ctypes.get_errno()
        if err in (errno.EINVAL, errno.ENOENT):
            return
        if err == errno.EBUSY and time.monotonic() < deadline:
            time.sleep(0.01)
            continue
        raise OSError(err, f"umount: {os.strerror(err)}", os.fspath(target))


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (`\\040`)."""
    if "\\" not in field:
        return field
    raw = os.fsencode(field)
    out = bytearray()
    i = 0
    while i < len(raw):
        code = raw[i + 1 : i + 4]
        if raw[i] == 0x5C and len(code) == 3 and code.isdigit():
            out.append(int(code, 8) & 0xFF)
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return os.fsdecode(bytes(out))


def mount_points(mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    """Every mount point of this process's mount namespace, in mount order."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        return [_unescape(line.split(" ")[4]) for line in f if line.strip()]


def mounts_under(directory: Path) -> list[str]:
    """Mount points strictly below `directory`, deepest (most recently mounted) first."""
    prefix = os.fspath(directory.resolve()).rstrip("/") + "/"
    return [p for p in reversed(mount_points()) if p.startswith(prefix)]


def is_mount_point(path: Path) -> bool:
    return os.fspath(path.resolve()) in mount_points()
