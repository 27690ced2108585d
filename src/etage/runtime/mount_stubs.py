"""Mount points made for one run, and taken away after it so the layer never sees them.

A mount needs an existing file or directory at its target. When the rootfs lacks one
(/etc/hosts in a busybox image, /run/secrets/token, a cache directory), `MountStubs.make`
creates it, and its missing parents, through the root (`etage.oci.securejoin`: a symlink
never leads out). After the run, `remove()` deletes them again, deepest first, if they are
still empty: BuildKit's `MountStubsCleaner`, recursive as its Dockerfile frontend asks.
The parent directory's times are put back as they were before the run unless the command
itself changed that directory meanwhile.

`ensure_cwd` creates a missing working directory, owned by the user as BuildKit does;
that one stays (it is the command's view of WORKDIR).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from etage.oci.securejoin import MAX_SYMLINKS, Root, clean_parts
from etage.runtime.sandbox import ExecutorError, hosts_file, resolv_conf
from etage.runtime.spec import ProcessSpec


@dataclass
class _Stub:
    real: list[str]  # components of the stub's real path below the root
    parent_times: tuple[int, int] | None  # the parent's (atime, mtime) ns before the run
    parent_after: int | None  # the parent's mtime ns once the stub was made


@dataclass
class MountStubs:
    """Mount points made in a rootfs for one run; `remove()` takes them away again."""

    rootfs: str
    stubs: list[_Stub] = field(default_factory=list)

    def make(self, path: str, *, is_dir: bool) -> None:
        """Create `path` (and missing parents) inside the root unless it exists.

        Symlinks on the way, the last component included, are followed inside the root, as
        the runtime will: a dangling /etc/resolv.conf -> ../run/systemd/resolve/stub.conf
        gets its target made here (and removed after), not by the runtime behind our back.
        """
        parts = clean_parts(path)
        with Root(self.rootfs) as root:
            for _ in range(MAX_SYMLINKS):
                rest = self._make(root, parts, is_dir=is_dir)
                if rest is None:
                    return
                parts = rest
        raise OSError(errno.ELOOP, "too many levels of symbolic links", path)

    def _make(self, root: Root, parts: list[str], *, is_dir: bool) -> list[str] | None:
        """Make what `parts` lacks; at a symlink, return the path to go on with instead."""
        for i, name in enumerate(parts):
            opened = root.open_dir(parts[:i], follow=False)
            if opened is None:  # pragma: no cover - each parent was checked or just made
                return None
            fd, real = opened
            try:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    if not stat.S_ISLNK(st.st_mode):
                        continue
                    target = os.readlink(name, dir_fd=fd)
                    base = [] if target.startswith("/") else real
                    return clean_parts("/".join([*base, target])) + parts[i + 1 :]
                times = _times(self.rootfs, real)
                try:
                    if i == len(parts) - 1 and not is_dir:
                        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC
                        os.close(os.open(name, flags, 0o644, dir_fd=fd))
                    else:
                        os.mkdir(name, 0o755, dir_fd=fd)
                        os.chmod(name, 0o755, dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    continue  # made meanwhile by someone else: not ours to remove
                after = _times(self.rootfs, real)
                self.stubs.append(_Stub([*real, name], times, after[1] if after else None))
            finally:
                os.close(fd)
        return None

    def remove(self) -> None:
        """Remove the stubs that are still empty, deepest first; put parent times back."""
        with Root(self.rootfs) as root:
            for stub in reversed(self.stubs):
                try:
                    _remove_stub(root, stub)
                except OSError:
                    continue
        self.stubs.clear()


def _times(rootfs: str, real: list[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(os.path.join(rootfs, *real), follow_symlinks=False)
    except OSError:
        return None
    return st.st_atime_ns, st.st_mtime_ns


def _remove_stub(root: Root, stub: _Stub) -> None:
    parent, name = stub.real[:-1], stub.real[-1]
    opened = root.open_dir(parent, follow=False)
    if opened is None:
        return
    fd, real = opened
    try:
        if real != parent:
            return
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        before = _times(root.path, parent)
        if stat.S_ISDIR(st.st_mode):
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY):
                    return
                raise
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(name, dir_fd=fd)
        else:
            return
    finally:
        os.close(fd)
    # Untouched by the command: as before the run; else keep what the command left.
    untouched = before is not None and before[1] == stub.parent_after
    times = stub.parent_times if untouched else before
    if times is not None:
        os.utime(os.path.join(root.path, *parent), ns=times, follow_symlinks=False)


def prepare_stubs(stubs: MountStubs, spec: ProcessSpec) -> None:
    """Make every mount point of a run that the rootfs lacks, recorded in `stubs`."""
    for path in ("/proc", "/dev", "/sys"):
        stubs.make(path, is_dir=True)
    for path in ("/etc/resolv.conf", "/etc/hosts"):
        stubs.make(path, is_dir=False)
    for m in spec.mounts:
        is_dir = m.kind == "tmpfs" or (m.source is not None and m.source.is_dir())
        if clean_parts(m.target)[:1] in (["dev"], ["proc"], ["sys"]):
            continue  # on the sandbox's own filesystems: its runtime makes the mount point
        try:
            stubs.make(m.target, is_dir=is_dir)
        except OSError as exc:
            stubs.remove()
            raise ExecutorError(
                f"cannot mount at {m.target}: {exc.strerror or exc}",
                hint="the mount target or one of its parents is not a directory in the image",
            ) from exc


def ensure_cwd(rootfs: str, cwd: str, uid: int, gid: int) -> None:
    """Create the working directory if missing, the new directories owned by the user."""
    parts = clean_parts(cwd)
    with Root(rootfs) as root:
        for i, name in enumerate(parts):
            opened = root.open_dir(parts[:i], create=True)
            if opened is None:  # pragma: no cover - create=True always opens
                return
            fd = opened[0]
            try:
                try:
                    os.stat(name, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    os.mkdir(name, 0o755, dir_fd=fd)
                    os.chmod(name, 0o755, dir_fd=fd, follow_symlinks=False)
                    os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)


def prepare_sandbox(work: Path, spec: ProcessSpec, stubs: MountStubs, uid: int, gid: int) -> None:
    """What every executor does before it starts a RUN: the /etc/hosts and
    /etc/resolv.conf it binds in (written to `work`), the mount-point stubs, the cwd."""
    (work / "hosts").write_text(hosts_file(spec.hostname, spec.extra_hosts))
    (work / "resolv.conf").write_text(resolv_conf(spec.network))
    for name in ("hosts", "resolv.conf"):
        os.chmod(work / name, 0o644)
    prepare_stubs(stubs, spec)
    ensure_cwd(str(spec.rootfs), spec.cwd, uid, gid)
