"""What every RUN sandbox needs, whichever executor runs it (runc, crun, chroot).

* Docker's defaults: capabilities, masked and read-only paths;
* the /etc/hosts and /etc/resolv.conf a build container sees (BuildKit's content);
* checks of a ProcessSpec, exit statuses, the error for a sandbox that cannot start;
* the output pump: merged stdout+stderr read line by line, passed on, its tail kept.

Mount points and the working directory are `etage.runtime.mount_stubs`'s job.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import os
import resource
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from etage.errors import EtageError
from etage.runtime.spec import ProcessSpec

DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
# Bit number -> name, from linux/capability.h (0..40).
CAP_NAMES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
)
MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
NOFILE_LIMIT = 1 << 20  # Docker's (and dockerd's systemd unit's) open files limit
TAIL_LINES = 20
_PUBLIC_DNS = ("8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844")
_MOUNT_KINDS = ("bind", "cache", "tmpfs", "secret")


class ExecutorError(EtageError):
    """The sandbox itself failed (not the command): the runtime could not start it."""


def exit_status(returncode: int, *, shell_convention: bool) -> tuple[int, int]:
    """(exit code, signal) from a wait status; a signal death is reported as 128+signal.

    With `shell_convention` (an OCI runtime's own exit status), a code above 128 is taken
    to be 128+signal: runc reports a signal death so, and cannot tell `exit 137` apart.
    """
    if returncode < 0:
        return 128 - returncode, -returncode
    if shell_convention and 128 < returncode <= 128 + 64:
        return returncode, returncode - 128
    return returncode, 0


def capability_mask(names: Iterable[str]) -> int:
    return sum(1 << CAP_NAMES.index(n.removeprefix("CAP_")) for n in names)


def current_caps() -> list[str]:
    """The capabilities this process holds (what `--security=insecure` can grant)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split()[1], 16)
            return [f"CAP_{n}" for i, n in enumerate(CAP_NAMES) if mask >> i & 1]
    return list(DEFAULT_CAPS)  # pragma: no cover - every Linux has CapEff


def caps_for(spec: ProcessSpec) -> list[str]:
    return current_caps() if spec.security == "insecure" else list(DEFAULT_CAPS)


def nofile_limit() -> int:
    """Docker's 1048576, lowered to what we may set: our hard limit, the kernel's nr_open."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = NOFILE_LIMIT
    if hard != resource.RLIM_INFINITY and "CAP_SYS_RESOURCE" not in current_caps():
        limit = min(limit, hard)
    with contextlib.suppress(OSError, ValueError):
        limit = min(limit, int(Path("/proc/sys/fs/nr_open").read_text()))
    return limit


def check_spec(spec: ProcessSpec) -> None:
    if not spec.args:
        raise ValueError("RUN needs a command")
    if spec.network not in ("host", "none"):
        raise ValueError(f"unsupported network mode {spec.network!r}")
    for m in spec.mounts:
        if m.kind not in _MOUNT_KINDS:
            raise ValueError(f"unsupported mount type {m.kind!r}")
        if not m.target.startswith("/"):
            raise ValueError(f"mount target {m.target!r} is not absolute")
        if m.kind != "tmpfs" and m.source is None:
            raise ValueError(f"{m.kind} mount at {m.target} has no source")


def hosts_file(hostname: str, extra_hosts: Sequence[tuple[str, str]] = ()) -> str:
    """BuildKit's /etc/hosts: localhost and the hostname, ::1, then the extra hosts.

    `extra_hosts` are (name, ip) pairs, in the order of `--add-host name:ip`.
    """
    text = f"127.0.0.1\tlocalhost {hostname or 'buildkitsandbox'}\n"
    text += "::1\tlocalhost ip6-localhost ip6-loopback\n"
    for host, ip in extra_hosts:
        text += f"{ip}\t{host}\n"
    return text


def resolv_conf(network: str, host_file: str = "/etc/resolv.conf") -> str:
    """BuildKit's /etc/resolv.conf for a build container.

    The host's file, regenerated (nameserver, search, options lines only). Without host
    networking, a systemd-resolved stub (127.0.0.53 alone) is replaced by the file
    systemd-resolved writes, and loopback nameservers (unreachable from another network
    namespace) are dropped; with none left, Google's public resolvers are used.
    """
    path = Path(host_file)
    text = path.read_text(errors="replace") if path.is_file() else ""
    conf = _parse_resolv(text)
    if network != "host" and conf["nameserver"] == ["127.0.0.53"]:
        alt = Path("/run/systemd/resolve/resolv.conf")
        if alt.is_file():
            conf = _parse_resolv(alt.read_text(errors="replace"))
    servers = conf["nameserver"]
    if network != "host" or not servers:
        servers = [s for s in servers if not ipaddress.ip_address(s.split("%")[0]).is_loopback]
        servers = servers or list(_PUBLIC_DNS)
    out = "".join(f"nameserver {s}\n" for s in servers)
    for key in ("search", "options"):
        if conf[key]:
            out += f"{key} {' '.join(conf[key])}\n"
    return out + "".join(f"{line}\n" for line in conf["other"])


def _parse_resolv(text: str) -> dict[str, list[str]]:
    """BuildKit's reading: comments in the first column only, unknown lines kept."""
    conf: dict[str, list[str]] = {"nameserver": [], "search": [], "options": [], "other": []}
    for line in text.splitlines():
        words = line.split()
        if not words or line[0] in "#;":
            continue
        key, args = words[0], words[1:]
        if key == "nameserver" and args:
            try:
                ipaddress.ip_address(args[0].split("%")[0])
            except ValueError:
                continue
            conf[key].append(args[0])
        elif key in ("search", "domain") and args:
            conf["search"] = args  # the last one wins
        elif key == "options" and args:
            conf[key] += args
        elif key not in ("nameserver", "search", "domain", "options"):
            conf["other"].append(line)
    return conf


class OutputPump:
    """Reads merged output from a pipe in a thread: lines to `output`, the tail kept."""

    def __init__(self, fd: int, output: Callable[[bytes], None] | None) -> None:
        self._fd = fd
        self._output = output
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._thread = threading.Thread(target=self._pump, name="etage-run-output", daemon=True)
        self._thread.start()

    def _emit(self, line: bytes) -> None:
        self.tail.append(line.rstrip(b"\n").decode("utf-8", "replace"))
        if self._output is not None:
            try:
                self._output(line)
            except Exception:  # a broken callback must not hang the run
                self._output = None

    def _pump(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._emit(line + b"\n")
            if len(buf) > 65536:
                self._emit(buf)
                buf = b""
        if buf:
            self._emit(buf)

    def join(self, timeout: float = 5.0) -> tuple[str, ...]:
        self._thread.join(timeout)
        return tuple(self.tail)

    def note(self, message: str) -> None:
        """An executor's own message, as if the command had printed it."""
        self._emit(message.encode() + b"\n")
