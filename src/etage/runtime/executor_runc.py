"""RUN through an OCI runtime (runc, or crun which takes the same commands).

Each run gets a bundle (a temp dir with config.json, the runtime's state root, its log,
/etc/hosts and /etc/resolv.conf) and a unique container id, and is started with
`runc --root STATE run --bundle DIR ID`, stdin from /dev/null, stdout and stderr into one
pipe. The config follows BuildKit's (containerd's default spec as BuildKit adjusts it):
Docker's capabilities, devices, masked and read-only paths; /proc, /dev, /dev/pts,
/dev/shm, /dev/mqueue, /sys and /sys/fs/cgroup; /etc/resolv.conf and /etc/hosts bound
read-only; mount, pid, ipc and uts namespaces, and a network namespace (loopback only)
unless the network is "host"; no user namespace; cgroups nested under our own as
`etage/<id>`. Whatever happens (exit, failure, exception, cancel), the container is
killed and deleted and the bundle, the state and the mount stubs are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import subprocess
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
    caps_for,
    check_spec,
    exit_status,
    nofile_limit,
)
from etage.runtime.spec import ExecResult, ProcessSpec
from etage.runtime.users import resolve_user

_NS = "nosuid", "noexec", "nodev"
_DEFAULT_MOUNTS: list[dict[str, Any]] = [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": [*_NS]},
    {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
        "destination": "/dev/shm",
        "type": "tmpfs",
        "source": "shm",
        "options": [*_NS, "mode=1777", "size=65536k"],
    },
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": [*_NS]},
]
# The device nodes every container gets (runc adds them anyway; listed as Docker documents).
_DEVICES = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
]
# Docker's device cgroup: deny all, then mknod of anything, the nodes above, the console,
# ptmx and pseudo-terminals (/dev/pts/*), and tun.
_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},
    {"allow": True, "type": "b", "access": "m"},
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)]
    ),
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
]
_KILL_GRACE = 10.0  # seconds to wait for `runc kill` to take before killing runc itself
_STAGING_GRACE = 60.0  # a bundle dir still being set up (named ".*") is left alone this long


def runs_dir() -> Path:
    """Where run bundles live: /run/etage/runc as root (tmpfs, gone at reboot)."""
    base = Path("/run") if os.geteuid() == 0 and os.access("/run", os.W_OK) else None
    if base is None:
        base = Path(tempfile.gettempdir())
    path = base / "etage" / "runc"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class RunDir:
    """A bundle directory owned by this process: an exclusive flock on its owner.lock,
    held until `close()`, tells a live run from what a killed etage left behind (the lock
    dies with its process; kill -9 included). Created under a dot name and renamed once
    locked, so `reap_orphans` never mistakes one being set up for an orphan."""

    def __init__(self, parent: Path) -> None:
        staging = Path(tempfile.mkdtemp(prefix=".run-", dir=parent))
        os.chmod(staging, 0o700)  # config.json holds the env, which may hold secrets
        self._lock = os.open(staging / "owner.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.path = parent / staging.name[1:]
        staging.rename(self.path)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def reap_orphans(parent: Path | None = None) -> list[str]:
    """Kill and delete the containers of runs whose etage process died (kill -9, power
    loss of the client...), and remove their bundles. Returns the container ids reaped."""
    parent = parent or runs_dir()
    reaped = []
    for entry in sorted(parent.iterdir()):
        if entry.name.startswith("."):
            with contextlib.suppress(OSError):
                if time.time() - entry.stat().st_mtime > _STAGING_GRACE:
                    shutil.rmtree(entry, ignore_errors=True)
            continue
        try:
            fd = os.open(entry / "owner.lock", os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its owner is alive
            with contextlib.suppress(OSError, ValueError):
                binary, cid = (entry / "container").read_text().split("\n")[:2]
                runtime = [binary, "--root", str(entry / "state")]
                subprocess.run([*runtime, "kill", cid, "KILL"], capture_output=True, check=False)
                deadline = time.monotonic() + _KILL_GRACE
                while time.monotonic() < deadline:
                    subprocess.run(
                        [*runtime, "delete", "--force", cid], capture_output=True, check=False
                    )
                    state = subprocess.run(
                        [*runtime, "state", cid], capture_output=True, check=False
                    )
                    if state.returncode != 0:
                        break
                    time.sleep(0.05)
                reaped.append(cid)
            # mount stubs were made in the dead build's working tree, removed with it
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            os.close(fd)
    return reaped


def oci_config(
    spec: ProcessSpec,
    *,
    uid: int,
    gid: int,
    additional_gids: tuple[int, ...],
    resolv: Path,
    hosts: Path,
    cgroups_path: str,
) -> dict[str, Any]:
    """The config.json of one RUN."""
    insecure = spec.security == "insecure"
    caps = caps_for(spec)
    capabilities: dict[str, list[str]] = {"bounding": caps, "effective": caps, "permitted": caps}
    if insecure:  # as BuildKit's WithInsecureSpec: ambient too, so non-root users keep them
        capabilities |= {"inheritable": caps, "ambient": caps}
    sys_ro = [] if insecure else ["ro"]
    mounts = [
        *_DEFAULT_MOUNTS,
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*_NS, *sys_ro]},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": [*_NS, *sys_ro],
        },
        _bind(resolv, "/etc/resolv.conf", ["nosuid", "noexec", "nodev", "rbind", "ro"]),
        _bind(hosts, "/etc/hosts", ["nosuid", "noexec", "nodev", "rbind", "ro"]),
    ]
    for m in spec.mounts:
        if m.kind == "tmpfs":
            opts = ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else [])
            mounts.append(
                {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": opts}
            )
        elif m.kind == "secret":
            noexec = [] if m.mode & 0o111 else ["noexec"]
            mounts.append(_bind(m.source, m.target, ["ro", "rbind", "nodev", "nosuid", *noexec]))
        else:
            ro = m.kind == "bind" and m.readonly
            mounts.append(_bind(m.source, m.target, ["rbind", "ro" if ro else "rw"]))
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network != "host":
        namespaces.append({"type": "network"})  # runc brings its loopback up
    nofile = nofile_limit()
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups_path,
        "resources": {"devices": _DEVICE_RULES},
        "devices": [
            {
                "path": p,
                "type": "c",
                "major": ma,
                "minor": mi,
                "fileMode": 0o666,
                "uid": 0,
                "gid": 0,
            }
            for p, ma, mi in _DEVICES
        ],
        "maskedPaths": [] if insecure else list(MASKED_PATHS),
        "readonlyPaths": [] if insecure else list(READONLY_PATHS),
    }
    if insecure:
        linux["resources"] = {"devices": [{"allow": True, "access": "rwm"}]}
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": uid, "gid": gid, "additionalGids": [gid, *additional_gids]},
            "args": list(spec.args),
            "env": list(spec.env),
            "cwd": spec.cwd or "/",
            "capabilities": capabilities,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": False,
            "oomScoreAdj": _oom_score_adj(),
        },
        "root": {"path": str(spec.rootfs), "readonly": False},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux,
    }


def _oom_score_adj() -> int:
    """Docker's 0, unless ours is higher: lowering it needs CAP_SYS_RESOURCE."""
    try:
        return max(0, int(Path("/proc/self/oom_score_adj").read_text()))
    except (OSError, ValueError):
        return 0


def _run(bundle: Path, cid: str) -> list[str]:
    return ["run", "--bundle", str(bundle), cid]


def _bind(source: Path | None, target: str, options: list[str]) -> dict[str, Any]:
    return {"destination": target, "type": "bind", "source": str(source), "options": options}


class RuncExecutor:
    """Runs each RUN in a fresh container of an OCI runtime (`runc` or `crun`)."""

    def __init__(self, binary: str = "runc", *, name: str | None = None) -> None:
        self.binary = shutil.which(binary) or binary
        self.name = name or Path(binary).name

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
        cid = f"etage-{secrets.token_hex(8)}"
        run_dir = RunDir(runs_dir())
        work = run_dir.path
        (work / "container").write_text(f"{self.binary}\n{cid}\n")
        state = work / "state"
        stubs = MountStubs(rootfs)
        runtime = [self.binary, "--root", str(state)]
        proc: subprocess.Popen[bytes] | None = None
        pump: OutputPump | None = None
        try:
            prepare_sandbox(work, spec, stubs, user.uid, user.gid)
            config = oci_config(
                spec,
                uid=user.uid,
                gid=user.gid,
                additional_gids=user.additional_gids,
                resolv=work / "resolv.conf",
                hosts=work / "hosts",
                cgroups_path=f"etage/{cid}",
            )
            (work / "config.json").write_text(json.dumps(config, indent=1))
            log = work / "runtime-log.json"
            read_end, write_end = os.pipe()
            try:
                os.fchown(write_end, user.uid, user.gid)  # so /dev/stdout can be reopened
                started = time.monotonic()
                proc = subprocess.Popen(
                    [*runtime, "--log", str(log), "--log-format", "json", *_run(work, cid)],
                    stdin=subprocess.DEVNULL,
                    stdout=write_end,
                    stderr=write_end,
                    process_group=0,  # Ctrl-C reaches us, not runc: we cancel in order
                )
            except BaseException:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
            pump = OutputPump(read_end, output)
            finished = threading.Event()
            if cancel is not None:
                threading.Thread(
                    target=self._watch, args=(proc, runtime, cid, cancel, finished), daemon=True
                ).start()
            try:
                code = proc.wait()
            finally:
                finished.set()
            duration = time.monotonic() - started
            exit_code, sig = exit_status(code, shell_convention=True)
            exit_code = self._start_failure(log, exit_code, pump)
            tail = pump.join()
            pump = None
            return ExecResult(exit_code, duration, tail, sig)
        finally:
            if proc is not None and proc.poll() is None:
                self._kill(proc, runtime, cid)
            # `runc run` removes its container when it exits; a delete is needed only if
            # its state is still there (runc itself was killed): that saves a process per RUN.
            if proc is not None and (state / cid).exists():
                subprocess.run(
                    [*runtime, "delete", "--force", cid], capture_output=True, check=False
                )
            if pump is not None:
                pump.join(1.0)
            stubs.remove()
            run_dir.close()

    def _watch(
        self,
        proc: subprocess.Popen[bytes],
        runtime: list[str],
        cid: str,
        cancel: threading.Event,
        finished: threading.Event,
    ) -> None:
        while not finished.is_set():
            if cancel.wait(0.05):
                if not finished.is_set():
                    self._kill(proc, runtime, cid)
                return

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes], runtime: list[str], cid: str) -> None:
        """Kill the container (retrying while it is still being created), then runc."""
        deadline = time.monotonic() + _KILL_GRACE
        while proc.poll() is None and time.monotonic() < deadline:
            subprocess.run([*runtime, "kill", cid, "KILL"], capture_output=True, check=False)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0.1)
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    @staticmethod
    def _start_failure(log: Path, exit_code: int, pump: OutputPump) -> int:
        """Exit code of a command the runtime could not start; other failures raise."""
        if exit_code == 0:
            return 0
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            return exit_code
        errors: list[str] = []
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                    errors.append(str(entry.get("msg", "")))
        if not errors:
            return exit_code
        message = errors[-1]
        if "exec:" in message or "exec format error" in message:
            if "permission denied" in message or "exec format error" in message:
                return 126
            return 127  # not found: what a shell (and `docker run`) reports
        raise ExecutorError(f"the OCI runtime could not start the container: {message}")
