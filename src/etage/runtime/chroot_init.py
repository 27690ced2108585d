"""The child side of the chroot executor: namespaces, mounts, chroot, user, exec.

Run as `python -I -S chroot_init.py CONFIG STATUS_FD` (standard library only, so it starts
fast and needs no package on the path). It unshares the mount, pid, ipc and uts namespaces
(and the network one unless the network is "host"), forks the process that becomes pid 1
of the new pid namespace, and mirrors its exit status. That process gets SIGKILL when its
parent dies (so killing the parent tears the whole namespace down), makes every mount
private, opens the host files it binds (as O_PATH descriptors), chroots into the rootfs
and mounts inside it: /proc, a /dev tmpfs with the usual nodes bound from the host,
/dev/pts, /dev/shm, /dev/mqueue, /sys read-only, /etc/resolv.conf, /etc/hosts and the
RUN's mounts. Docker's masked and read-only paths are applied, the capabilities not
granted are dropped, the user is switched and the command exec'd.

SIGUSR1 asks for cancellation: pid 1 is killed, and this process exits (of SIGKILL) once the
namespace is empty. A failure before the exec is written as one JSON object to STATUS_FD
(closed on exec); the parent turns it into an error (or exit status 126/127 for a command
that cannot run).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE, MS_STRICTATIME = 32, 4096, 16384, 1 << 18, 1 << 24
PR_SET_PDEATHSIG, PR_SET_KEEPCAPS, PR_CAPBSET_DROP = 1, 8, 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
NSD = MS_NOSUID | MS_NOEXEC | MS_NODEV

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode(), flags, data.encode() or None
        ),
        f"mount {fstype or 'bind'} on {target}",
    )


def bind(fd: int, target: str, flags: int, *, readonly: bool, recursive: bool = True) -> None:
    mount(f"/proc/self/fd/{fd}", target, "", MS_BIND | (MS_REC if recursive else 0))
    if readonly or flags:
        ro = MS_RDONLY if readonly else 0
        mount("", target, "", MS_BIND | MS_REMOUNT | flags | ro)


def prctl(option: int, arg: int, arg3: int = 0) -> None:
    _check(_libc.prctl(option, arg, arg3, 0, 0), f"prctl({option})")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = struct.pack(
        "6I",
        effective & 0xFFFFFFFF,
        permitted & 0xFFFFFFFF,
        inheritable & 0xFFFFFFFF,
        effective >> 32,
        permitted >> 32,
        inheritable >> 32,
    )
    _check(_libc.capset(header, data), "capset")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = fcntl.ioctl(s.fileno(), 0x8913, struct.pack("16sh22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sh22x", req)[1]
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sh22x", b"lo", flags | 1))  # SIOCSIFFLAGS


def _mount_point(target: str, *, is_dir: bool) -> None:
    """Make a missing mount point (the parent made those in the rootfs; these are in /dev)."""
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    if is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _open_path(path: str) -> int:
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def setup(cfg: dict[str, Any]) -> None:
    """Everything between the new namespaces and the exec (runs as pid 1)."""
    socket.sethostname(cfg["hostname"])
    if cfg["network"] != "host":
        with contextlib.suppress(OSError):  # no loopback is still no network
            loopback_up()
    mount("", "/", "", MS_REC | MS_PRIVATE)  # nothing done here reaches the host
    sources = {d: _open_path(f"/dev/{d}") for d in DEVICES}
    files = {p: _open_path(src) for p, src in cfg["files"].items()}
    mounts = [(m, _open_path(m["source"]) if m.get("source") else -1) for m in cfg["mounts"]]
    os.chroot(cfg["rootfs"])
    os.chdir("/")
    mount("proc", "/proc", "proc", NSD)
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, fd in sources.items():
        os.close(os.open(f"/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
        bind(fd, f"/dev/{name}", 0, readonly=False, recursive=False)
    for name, target in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ]:
        os.symlink(target, f"/dev/{name}")
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(f"/dev/{name}", 0o755)
    pts = "newinstance,ptmxmode=0666,mode=0620,gid=5"
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, pts)
    mount("shm", "/dev/shm", "tmpfs", NSD, "mode=1777,size=65536k")
    mount("mqueue", "/dev/mqueue", "mqueue", NSD)
    insecure = cfg["insecure"]
    mount("sysfs", "/sys", "sysfs", NSD | (0 if insecure else MS_RDONLY))
    for target, fd in files.items():
        bind(fd, target, NSD, readonly=True)
    for m, fd in mounts:
        _mount_point(m["target"], is_dir=m["kind"] == "tmpfs" or m["is_dir"])
        if m["kind"] == "tmpfs":
            size = f"size={m['size']}" if m["size"] else ""
            mount("tmpfs", m["target"], "tmpfs", MS_NOSUID | MS_NODEV, size)
        elif m["kind"] == "secret":
            noexec = 0 if m["mode"] & 0o111 else MS_NOEXEC
            bind(fd, m["target"], MS_NOSUID | MS_NODEV | noexec, readonly=True)
        else:
            bind(fd, m["target"], 0, readonly=m["kind"] == "bind" and m["readonly"])
    for path in cfg["masked"]:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY)
        elif os.path.exists(path):
            bind(sources["null"], path, 0, readonly=False, recursive=False)
    for path in cfg["readonly"]:
        if os.path.exists(path):
            bind(_open_path(path), path, 0, readonly=True)
    for fd in [*sources.values(), *files.values(), *(fd for _, fd in mounts if fd >= 0)]:
        os.close(fd)
    os.chdir(cfg["cwd"])
    nofile = cfg["nofile"]
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    _switch_user(cfg)


def _switch_user(cfg: dict[str, Any]) -> None:
    keep, uid, insecure = cfg["caps"], cfg["uid"], cfg["insecure"]
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        if not keep >> cap & 1:
            prctl(PR_CAPBSET_DROP, cap)
    if uid != 0 and insecure:
        prctl(PR_SET_KEEPCAPS, 1)
    os.setgroups(cfg["groups"])
    os.setgid(cfg["gid"])
    os.setuid(uid)
    if uid == 0 or insecure:
        capset(keep, keep, keep if insecure else 0)
    if insecure:
        for cap in range(last + 1):
            if keep >> cap & 1:
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def _report(status_fd: int, payload: dict[str, Any]) -> None:
    os.write(status_fd, json.dumps(payload).encode())


def _pid1(cfg: dict[str, Any], status_fd: int, alive: int) -> None:
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([alive], [], [], 0)[0]:  # EOF: the parent died before the prctl
        os._exit(137)
    os.close(alive)
    setup(cfg)
    os.set_inheritable(status_fd, False)
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in cfg["env"])
    env.setdefault("HOME", cfg["home"])
    args = cfg["args"]
    try:
        os.execvpe(args[0], args, env)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            where = "" if "/" in args[0] else " in $PATH"
            message = f'exec: "{args[0]}": executable file not found{where}'
            if "/" in args[0]:
                message = f'exec: "{args[0]}": no such file or directory'
            _report(status_fd, {"exec": 127, "error": message})
            os._exit(127)
        _report(status_fd, {"exec": 126, "error": f'exec: "{args[0]}": {exc.strerror}'})
        os._exit(126)


def main(argv: list[str]) -> None:
    with open(argv[1]) as f:
        cfg = json.load(f)
    status_fd = int(argv[2])
    flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID
    if cfg["network"] != "host":
        flags |= CLONE_NEWNET
    try:
        _check(_libc.unshare(flags), "unshare")
    except SetupError as exc:
        _report(status_fd, {"error": str(exc)})
        os._exit(125)
    alive, alive_w = os.pipe()  # the parent holds the write end until it dies
    pid = os.fork()
    if pid == 0:
        try:
            os.close(alive_w)
            _pid1(cfg, status_fd, alive)
        except BaseException as exc:
            _report(status_fd, {"error": str(exc) or type(exc).__name__})
        finally:
            os._exit(125)
    os.close(status_fd)
    os.close(alive)
    for forwarded in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(forwarded, lambda s, _f: os.kill(pid, s))
    # SIGUSR1 = cancel: SIGKILL from outside the namespace reaches its pid 1, whose death
    # takes every other process of the namespace; we return once they are all gone.
    signal.signal(signal.SIGUSR1, lambda _s, _f: os.kill(pid, signal.SIGKILL))
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):  # die of the same signal, so the parent sees it
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL cannot be handled anyway
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main(sys.argv)
