"""What the build engine asks of its runtime: processes to run and their mounts.

Plain frozen data shared by the solver and the executors (runc, chroot), so each
executor can be tested alone and the solver never builds an OCI config itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Mount:
    """A mount inside the build container, besides /proc, /dev, /sys... which every RUN gets.

    kind:
      "bind"    host `source` at `target` (read-only unless `readonly` is False; a writable
                bind of a snapshot or the context gets a throw-away overlay from the caller)
      "cache"   host directory `source` (a persistent cache dir) at `target`, read-write
      "tmpfs"   a fresh tmpfs at `target` (`size` bytes, 0 = default)
      "secret"  host file `source` (already written by the solver, mode `mode`) at `target`,
                read-only
    """

    kind: str
    target: str  # absolute path inside the container
    source: Path | None = None
    readonly: bool = True
    size: int = 0
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One RUN: the command, its environment and its view of the world."""

    args: tuple[str, ...]  # argv, shell already prepended for the shell form
    rootfs: Path  # the mounted, writable root filesystem (an overlay working tree)
    env: tuple[str, ...] = ()  # "KEY=value", in order (PATH included by the caller)
    cwd: str = "/"
    user: str = ""  # as written in USER: "name", "uid", "name:group", "uid:gid", "" = root
    network: str = "host"  # "host" or "none"
    mounts: tuple[Mount, ...] = ()
    hostname: str = "buildkitsandbox"  # what BuildKit names the build container
    extra_hosts: tuple[tuple[str, str], ...] = ()
    security: str = "sandbox"  # "insecure" = all capabilities, no seccomp (RUN --security)


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_code: int
    duration: float  # seconds of the command itself
    output_tail: tuple[str, ...] = field(default=())  # the last lines of stdout+stderr
    signal: int = 0  # the signal that killed the process, if one did
