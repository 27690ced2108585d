"""RUN without an OCI runtime: namespaces, chroot and a user switch, from Python.

The fallback for machines without runc or crun. The sandbox is built by a child Python
process (`etage.runtime.chroot_init`, standard library only): new mount, pid, ipc, uts (and
network, unless "host") namespaces, /proc, a minimal /dev, a read-only /sys, the RUN's
mounts, Docker's capabilities, then chroot and exec. It is weaker than runc's: no cgroups,
no pivot_root (a chroot), no device cgroup, no seccomp, and /sys/fs/cgroup is not
mounted. The contract is the executors': the same ExecResult, output and cancellation, and
the same cleanup (the mounts live in a namespace that dies with the command; the mount
stubs and temp files are removed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etage.runtime.mount_stubs import MountStubs, prepare_sandbox
from etage.runtime.sandbox import (
    MASKED_PATHS,
    READONLY_PATHS,
    ExecutorError,
    OutputPump,
    capability_mask,
    caps_for,
    check_spec,
    exit_status,
    nofile_limit,
)
from etage.runtime.spec import ExecResult, ProcessSpec
from etage.runtime.users import resolve_user

_INIT = Path(__file__).with_name("chroot_init.py")
_STOP_GRACE = 5.0  # seconds for the namespace to empty after a cancel


class ChrootExecutor:
    """Runs each RUN in fresh namespaces with a chroot (no OCI runtime needed)."""

    name = "chroot"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def run(
        self,
        spec: ProcessSpec,
        *,
        output: Callable[[bytes], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ExecResult:
        check_spec(spec)
        rootfs = str(spec.rootfs)
        user = resolve_user(rootfs, spec.user)
        work = Path(tempfile.mkdtemp(prefix="etage-run-"))
        os.chmod(work, 0o700)  # config.json holds the env, which may hold secrets
        stubs = MountStubs(rootfs)
        proc: subprocess.Popen[bytes] | None = None
        pump: OutputPump | None = None
        status_r = -1
        try:
            prepare_sandbox(work, spec, stubs, user.uid, user.gid)
            config: dict[str, Any] = {
                "rootfs": rootfs,
                "args": list(spec.args),
                "env": list(spec.env),
                "cwd": spec.cwd or "/",
                "uid": user.uid,
                "gid": user.gid,
                "groups": [user.gid, *user.additional_gids],
                "home": user.home,
                "hostname": spec.hostname,
                "network": spec.network,
                "insecure": spec.security == "insecure",
                "caps": capability_mask(caps_for(spec)),
                "nofile": nofile_limit(),
                "files": {
                    "/etc/resolv.conf": str(work / "resolv.conf"),
                    "/etc/hosts": str(work / "hosts"),
                },
                "mounts": [
                    {
                        "kind": m.kind,
                        "target": m.target,
                        "source": None if m.source is None else str(m.source),
                        "readonly": m.readonly,
                        "size": m.size,
                        "mode": m.mode,
                        "is_dir": m.source is not None and m.source.is_dir(),
                    }
                    for m in spec.mounts
                ],
                "masked": [] if spec.security == "insecure" else list(MASKED_PATHS),
                "readonly": [] if spec.security == "insecure" else list(READONLY_PATHS),
            }
            (work / "config.json").write_text(json.dumps(config))
            status_r, status_w = os.pipe()
            read_end, write_end = os.pipe()
            try:
                os.fchown(write_end, user.uid, user.gid)  # so /dev/stdout can be reopened
                started = time.monotonic()
                proc = subprocess.Popen(
                    [self.python, "-I", "-S", str(_INIT), str(work / "config.json"), str(status_w)],
                    stdin=subprocess.DEVNULL,
                    stdout=write_end,
                    stderr=write_end,
                    pass_fds=(status_w,),
                    process_group=0,  # Ctrl-C reaches us, not the command: we cancel
                )
            except BaseException:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
                os.close(status_w)
            pump = OutputPump(read_end, output)
            finished = threading.Event()
            if cancel is not None:
                threading.Thread(target=_watch, args=(proc, cancel, finished), daemon=True).start()
            try:
                code = proc.wait()
            finally:
                finished.set()
            duration = time.monotonic() - started
            exit_code, sig = exit_status(code, shell_convention=False)
            status = _read_status(status_r)
            if status.get("exec"):
                pump.note(f"unable to start container process: {status.get('error')}")
                exit_code = int(status["exec"])
            elif status.get("error"):
                raise ExecutorError(f"the chroot sandbox could not be set up: {status['error']}")
            tail = pump.join()
            pump = None
            return ExecResult(exit_code, duration, tail, sig)
        finally:
            if proc is not None and proc.poll() is None:
                _stop(proc)
            if status_r >= 0:
                os.close(status_r)
            if pump is not None:
                pump.join(1.0)
            stubs.remove()
            _rmtree(work)


def _watch(
    proc: subprocess.Popen[bytes], cancel: threading.Event, finished: threading.Event
) -> None:
    while not finished.is_set():
        if cancel.wait(0.05):
            if not finished.is_set():
                _stop(proc)
            return


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command's namespace and wait until it is empty (SIGKILL if that hangs)."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGUSR1)
    try:
        proc.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()  # its pid 1 follows (parent-death signal), and the rest with it
        proc.wait()


def _read_status(fd: int) -> dict[str, Any]:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    if not data:
        return {}
    try:
        status = json.loads(data)
    except ValueError:
        return {"error": data.decode(errors="replace")}
    return status if isinstance(status, dict) else {}


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
