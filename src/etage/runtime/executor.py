"""Which executor runs RUN steps: the Protocol the solver calls, and the default choice.

`default_executor()` prefers runc, then crun, each only if it can really start a container
on this machine (crun 1.8 cannot on a cgroup v1 "hybrid" host, for one), and falls back to
the chroot executor with a one-time warning, since its isolation is weaker.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from etage.runtime.sandbox import ExecutorError
from etage.runtime.spec import ExecResult, ProcessSpec

__all__ = [
    "Executor",
    "ExecutorError",
    "LazyExecutor",
    "default_executor",
    "reap_orphaned_runs",
    "runtime_works",
]

log = logging.getLogger(__name__)
FALLBACK_WARNING = (
    "no OCI runtime found (runc, crun): RUN steps use the chroot+unshare fallback, "
    "with weaker isolation"
)
_warned = threading.Event()


class Executor(Protocol):
    """Runs one RUN: `spec.args` in `spec.rootfs`, isolated; output lines as they come.

    `output` receives each line of the merged stdout and stderr (bytes, newline included).
    Setting `cancel` kills the command (the result then has signal 9). Whatever happens,
    nothing the executor mounted, started or created is left behind (the command's own
    writes to the rootfs are kept). A command that fails gives a nonzero exit code (127
    for one that is not found); a sandbox that cannot be set up raises `ExecutorError`; a
    USER that the image cannot satisfy raises `etage.runtime.users.UserError`.
    """

    @property
    def name(self) -> str: ...

    def run(
        self,
        spec: ProcessSpec,
        *,
        output: Callable[[bytes], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExecResult: ...


@functools.cache
def runtime_works(binary: str) -> bool:
    """Whether the OCI runtime `binary` can start a container here (tried once, cached).

    The probe starts a container on an empty rootfs to exec a missing file: a runtime that
    gets as far as the exec (namespaces, mounts and cgroups done) works. The answer is
    remembered under /run (cleared at reboot) for this binary, so a build does not pay
    for the probe (~50 ms) each time.
    """
    path = shutil.which(binary)
    if path is None:
        return False
    memo = _probe_memo(path)
    if memo is not None:
        with contextlib.suppress(OSError):
            return memo[0].read_text() == memo[1] + "yes"
    works = _probe(path, binary)
    if memo is not None:
        with contextlib.suppress(OSError):
            tmp = memo[0].with_suffix(f".{os.getpid()}")
            tmp.write_text(memo[1] + ("yes" if works else "no"))
            tmp.replace(memo[0])
    return works


def _probe_memo(path: str) -> tuple[Path, str] | None:
    """(file, identity of the binary) for remembering a probe; None if /run is not ours."""
    if os.geteuid() != 0 or not os.path.isdir("/run"):
        return None
    st = os.stat(path)
    memo_dir = Path("/run/etage")
    memo_dir.mkdir(mode=0o700, exist_ok=True)
    return memo_dir / f"probe-{Path(path).name}", f"{path}:{st.st_ino}:{st.st_mtime_ns}:"


def _probe(path: str, binary: str) -> bool:
    from etage.runtime.executor_runc import RuncExecutor

    with tempfile.TemporaryDirectory(prefix="etage-probe-") as tmp:
        rootfs = Path(tmp, "rootfs")
        rootfs.mkdir()
        try:
            result = RuncExecutor(path).run(
                ProcessSpec(args=("/etage-probe",), rootfs=rootfs, network="none")
            )
        except Exception as exc:  # any failure means: not usable here
            log.debug("%s does not work here: %s", binary, exc)
            return False
    return result.exit_code == 127


class LazyExecutor:
    """The default executor, chosen when the first RUN needs it: a build whose steps are
    all cached never probes a runtime."""

    def __init__(
        self, prefer: str | None = None, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self._prefer = prefer
        self._warn = warn
        self._chosen: Executor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> Executor:
        with self._lock:
            if self._chosen is None:
                self._chosen = default_executor(self._prefer, warn=self._warn)
            return self._chosen

    @property
    def name(self) -> str:
        return self._executor().name

    def run(
        self,
        spec: ProcessSpec,
        *,
        output: Callable[[bytes], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExecResult:
        return self._executor().run(spec, output=output, cancel=cancel)


def reap_orphaned_runs() -> list[str]:
    """Kill what runs a killed etage left (see `executor_runc.reap_orphans`); cheap when
    there is nothing to do, so every build starts with it."""
    for base in ("/run", tempfile.gettempdir()):
        runs = Path(base, "etage", "runc")
        with contextlib.suppress(OSError):
            if any(runs.iterdir()):
                from etage.runtime.executor_runc import reap_orphans

                return reap_orphans(runs)
    return []


def default_executor(
    prefer: str | None = None, *, warn: Callable[[str], None] | None = None
) -> Executor:
    """runc if it works here, else crun if it does, else the chroot fallback (announced).

    `prefer` ("runc", "crun", "chroot") is tried first; the warning about the fallback
    goes to `warn` if given, else to the logging module, once per process.
    """
    from etage.runtime.executor_chroot import ChrootExecutor
    from etage.runtime.executor_runc import RuncExecutor

    order = ["runc", "crun"]
    if prefer == "chroot":
        return ChrootExecutor()
    if prefer is not None:
        order = [prefer, *(o for o in order if o != prefer)]
    for binary in order:
        if runtime_works(binary):
            return RuncExecutor(binary)
    if not _warned.is_set():
        _warned.set()
        (warn or log.warning)(FALLBACK_WARNING)
    return ChrootExecutor()
