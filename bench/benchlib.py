"""Shared pieces of the build benchmarks (bench_build, bench_stages, bench_big_layer).

* `reexec_in_venv()`: rerun the script with the project's .venv python if etage's
  dependencies are missing from the interpreter that started it.
* `Dockerd`: a private dockerd (Debian's docker.io 20.10, BuildKit embedded) started as
  design.md says, with its own data/exec roots under /tmp; stopped, unmounted and
  removed on exit, error or Ctrl-C (SIGTERM is turned into KeyboardInterrupt).
* `run()`: a command's wall time, output (also written to a log file) and the peak
  memory of its whole process tree, sampled from /proc (no psutil needed).
* `Table`: plain-text tables; `median`, `ratio`, `human` formatting helpers.

Only 127.0.0.1 is used, plus what the builds themselves download (npm registry).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOCKER = "/usr/bin/docker"  # Debian's 20.10 client; /usr/local/bin/docker has no BuildKit
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
for _p in (str(ROOT / "src"), str(BENCH)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def reexec_in_venv() -> None:
    """Re-run this script with .venv/bin/python when etage's dependencies are missing."""
    try:
        import click  # noqa: F401
        import zlib_ng  # noqa: F401
    except ImportError:
        if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        raise SystemExit("etage's dependencies are missing: run scripts/setup.sh") from None


def etage_argv() -> list[str]:
    """How to run the etage CLI: the venv's console script, else `python -m etage`."""
    script = Path(sys.executable).with_name("etage")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "etage"]


_ETAGE_ENV: dict[str, str] = {}


def etage_env() -> dict[str, str]:
    """The environment etage runs in: with Python's bytecode cache.

    An installed etage has its .pyc files; run from src/ with PYTHONDONTWRITEBYTECODE=1
    (as in this project's shells) every run would compile about 90 modules (~0.1 s at
    start). So the bytecode goes under $ETAGE_BENCH_DIR/pycache (PYTHONPYCACHEPREFIX:
    nothing is written into src/), compiled once here.
    """
    if not _ETAGE_ENV:
        cache = Path(os.environ.get("ETAGE_BENCH_DIR") or "/var/cache/etage-bench") / "pycache"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(cache)
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "etage")],
            env=env, check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _ETAGE_ENV.update(env)
    return dict(_ETAGE_ENV)


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so `finally:` blocks clean up."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main_guard(main: Callable[[], int], name: str) -> None:
    """Run a benchmark's main: exit with its status, 130 (no traceback) when interrupted."""
    started = time.monotonic()
    try:
        code = main()
    except KeyboardInterrupt:
        log(f"{name}: interrupted; everything it started is stopped and removed")
        code = 130
    log(f"{name}: {time.monotonic() - started:.0f} s")
    raise SystemExit(code)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- statistics and formatting ---------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    if len(values) < 2:
        return ""
    return f"({min(values):.2f}-{max(values):.2f})"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def human(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


class Table:
    def __init__(self, *headers: str) -> None:
        self.headers = list(headers)
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else _fmt(c) for c in cells])

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], len(c))

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"

        out = [line(self.headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(r) for r in self.rows]
        return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.2f}"
    return str(value)


# ---- memory of a process tree ------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _status_kb(pid: int, keys: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in keys:
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


@dataclass
class MemorySampler:
    """Polls the RSS of a process and its descendants.

    `peak_tree_kb`: the largest sum of VmRSS over the tree seen at one sample.
    `peak_self_kb`: the root process's own VmHWM (exact, kernel-tracked peak).
    `peak_by_comm`: the largest VmHWM seen per command name (python, runc, sh, ...).
    `exclude_comms`: processes not counted in the tree sum (e.g. the build's own RUN
    payload like `head`, which is the workload, not the builder).
    `leaf_comms`: processes counted, but not their descendants: `runc` is the builder's,
    the container it starts (the RUN's own processes) is the workload.
    """

    pid: int
    interval: float = 0.05
    exclude_comms: tuple[str, ...] = ()
    leaf_comms: tuple[str, ...] = ()
    peak_tree_kb: int = 0
    peak_self_kb: int = 0
    peak_by_comm: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        kids = _children_map()
        todo, tree = [self.pid], []
        while todo:
            p = todo.pop()
            comm = _comm(p)
            tree.append((p, comm))
            if comm not in self.leaf_comms:
                todo.extend(kids.get(p, ()))
        total = 0
        for p, comm in tree:
            st = _status_kb(p, ("VmRSS", "VmHWM"))
            if p == self.pid:
                self.peak_self_kb = max(self.peak_self_kb, st.get("VmHWM", 0))
            self.peak_by_comm[comm] = max(self.peak_by_comm.get(comm, 0), st.get("VmHWM", 0))
            if comm not in self.exclude_comms:
                total += st.get("VmRSS", 0)
        self.peak_tree_kb = max(self.peak_tree_kb, total)


# ---- running commands --------------------------------------------------------------------------


@dataclass
class Result:
    argv: list[str]
    seconds: float
    returncode: int
    output: str
    log: Path | None = None
    memory: MemorySampler | None = None
    maxrss_children_kb: int = 0  # ru_maxrss of the largest single process in the tree
    cpu_seconds: float = 0.0  # user + system CPU of the process and the children it waited for

    def check(self) -> Result:
        if self.returncode != 0:
            tail = "\n".join(self.output.splitlines()[-40:])
            where = f" (log: {self.log})" if self.log else ""
            raise CommandFailed(
                f"{' '.join(self.argv)} exited {self.returncode}{where}\n{tail}", self
            )
        return self


class CommandFailed(RuntimeError):
    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_path: Path | None = None,
    sample_memory: bool = False,
    exclude_comms: tuple[str, ...] = (),
    leaf_comms: tuple[str, ...] = (),
    timeout: float | None = None,
) -> Result:
    """Run a command, time it (wall, perf_counter), capture stdout+stderr.

    etage itself (argv starting with `etage_argv()`) runs in `etage_env()` by default."""
    argv = [str(a) for a in argv]
    if env is None and argv[: len(etage_argv())] == etage_argv():
        env = etage_env()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    sampler = (
        MemorySampler(proc.pid, exclude_comms=exclude_comms, leaf_comms=leaf_comms).start()
        if sample_memory
        else None
    )
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.005)
    except BaseException:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        if sampler is not None:
            sampler.stop()
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    output = b"".join(chunks).decode(errors="replace")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{output}\n# exit {proc.returncode} in {seconds:.3f}s\n")
    return Result(
        argv, seconds, proc.returncode, output, log_path, sampler, usage.ru_maxrss,
        usage.ru_utime + usage.ru_stime,
    )  # fmt: skip


# ---- a private dockerd ----------------------------------------------------------------------


class Dockerd:
    """`dockerd --bridge=none --iptables=false ...` on a socket under /tmp, ours alone."""

    def __init__(self, base: Path | None = None) -> None:
        # short path: unix socket length limit
        self.base = base or Path(f"/tmp/etage-bench-dockerd-{os.getpid()}")
        self.socket = self.base / "d.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.base.with_name(self.base.name + ".log")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "1"}

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> Dockerd:
        if shutil.which("dockerd") is None or not os.path.exists(DOCKER):
            raise SystemExit("dockerd / /usr/bin/docker missing: scripts/setup.sh test")
        self._cleanup_dirs()
        self.base.mkdir(parents=True)
        log_file = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                "dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false",
                "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
                "--pidfile", str(self.base / "d.pid"), "-H", self.host,
            ],
            stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in stop()
        )  # fmt: skip
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists() and self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.3)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise SystemExit(f"dockerd did not start:\n{tail}")

    def docker(
        self, *args: str, check: bool = True, log_path: Path | None = None, **kw: object
    ) -> Result:
        r = run([DOCKER, *args], env=self.env, log_path=log_path, **kw)  # type: ignore[arg-type]
        return r.check() if check else r

    def load(self, archive: Path) -> None:
        with open(archive, "rb") as f:
            subprocess.run(
                [DOCKER, "load"], env=self.env, stdin=f, check=True, stdout=subprocess.DEVNULL
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._cleanup_dirs()
        self.log_path.unlink(missing_ok=True)

    def _cleanup_dirs(self) -> None:
        if self.base.exists():
            unmount_below(self.base)
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Dockerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def unmount_below(path: Path) -> None:
    """Unmount whatever is mounted under `path`, deepest first."""
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p.startswith(prefix) or p + "/" == prefix),
                        key=len, reverse=True):  # fmt: skip
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


@contextlib.contextmanager
def workdir(keep: bool, prefix: str = "etage-bench-") -> Iterator[Path]:
    """A scratch directory (under /var/tmp: big layers do not fit a tmpfs /tmp)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    try:
        yield base
    finally:
        unmount_below(base)
        if keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def buildah_available() -> bool:
    return shutil.which("buildah") is not None


def versions() -> dict[str, str]:
    out = {}
    for name, argv in (
        ("etage", [*etage_argv(), "--version"]),
        ("python", [sys.executable, "--version"]),
        ("docker", [DOCKER, "--version"]),
        ("buildah", ["buildah", "--version"]),
        ("runc", ["runc", "--version"]),
    ):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
            out[name] = (p.stdout or p.stderr).splitlines()[0] if p.returncode == 0 else "n/a"
        except (OSError, subprocess.TimeoutExpired, IndexError):
            out[name] = "n/a"
    return out


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
