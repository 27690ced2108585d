"""Which executor runs RUN steps: the Protocol the solver calls, and the default choice.

`default_executor()` prefers runc, then crun, each only if it can really start a container
on this machine (crun 1.8 cannot on a cgroup v1 "hybrid" host, for one), and falls back to
the chroot executor with a one-time warning, since its isolation is weaker.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from etage.runtime.sandbox import ExecutorError
from etage.runtime.spec import ExecResult, ProcessSpec

__all__ = ["Executor", "ExecutorError", "default_executor", "runtime_works"]

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

    name: str

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
    gets as far as the exec (namespaces, mounts and cgroups done) works.
    """
    from etage.runtime.executor_runc import RuncExecutor

    path = shutil.which(binary)
    if path is None:
        return False
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
