"""The RUN executors, for real: runc and the chroot fallback on a busybox rootfs.

Every test runs with both executors. The rootfs is an overlay over a shared busybox
tree (as the solver's working trees are), so the upper directory shows exactly what a
run would put in the layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from etage.runtime.executor import Executor, default_executor, runtime_works
from etage.runtime.executor_chroot import ChrootExecutor
from etage.runtime.executor_runc import RuncExecutor
from etage.runtime.sandbox import ExecutorError, resolv_conf
from etage.runtime.spec import ExecResult, Mount, ProcessSpec
from etage.runtime.users import UserError
from etage.testing import busybox_rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="executors need root")

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_CAPS = "00000000a80425fb"
PASSWD = "alice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n"
GROUP = "alice:x:1000:\nbob:x:1001:\naudio:x:29:alice\nstaff:x:50:alice,bob\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")
    with (root / "etc/passwd").open("a") as f:
        f.write(PASSWD)
    with (root / "etc/group").open("a") as f:
        f.write(GROUP)
    (root / "home/alice").mkdir(parents=True)
    os.chown(root / "home/alice", 1000, 1000)
    return root


@dataclass
class Tree:
    merged: Path
    upper: Path
    lower: Path


@contextlib.contextmanager
def overlay(base: Path, where: Path) -> Iterator[Tree]:
    upper, work, merged = where / "upper", where / "work", where / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    opts = f"lowerdir={base},upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
    try:
        yield Tree(merged, upper, base)
    finally:
        # A mount or process the executor left behind would make this fail (busy).
        subprocess.run(["umount", str(merged)], check=True)


@pytest.fixture
def tree(base: Path, tmp_path: Path) -> Iterator[Tree]:
    with overlay(base, tmp_path) as t:
        yield t


@pytest.fixture(params=["runc", "chroot"])
def executor(request: pytest.FixtureRequest) -> Executor:
    if request.param == "runc":
        if not runtime_works("runc"):
            pytest.skip("runc does not work here")
        return RuncExecutor("runc")
    return ChrootExecutor()


@dataclass
class Run:
    result: ExecResult
    lines: list[bytes]

    @property
    def text(self) -> str:
        return b"".join(self.lines).decode()


def run(ex: Executor, tree: Tree, script: str, **kw: object) -> Run:
    lines: list[bytes] = []
    env = kw.pop("env", (PATH,))
    spec = ProcessSpec(args=("sh", "-c", script), rootfs=tree.merged, env=env, **kw)  # type: ignore[arg-type]
    return Run(ex.run(spec, output=lines.append), lines)


def layer_changes(tree: Tree) -> set[str]:
    """What BuildKit's overlay differ would record from the upper directory.

    A directory that is only there because something in it was copied up, with the mode
    and owner of the lower one, is not a change (BuildKit's `sameDirent`).
    """
    changes = set()
    for dirpath, dirnames, filenames in os.walk(tree.upper):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(tree.upper)
            st = path.lstat()
            try:
                low = (tree.lower / rel).lstat()
            except FileNotFoundError:
                changes.add(str(rel))
                continue
            same = (st.st_mode, st.st_uid, st.st_gid) == (low.st_mode, low.st_uid, low.st_gid)
            if not (stat.S_ISDIR(st.st_mode) and same):
                changes.add(str(rel))
    return changes


def our_mounts(*paths: Path) -> list[str]:
    prefixes = tuple(str(p) for p in paths)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p.startswith(prefixes) or "etage-run-" in p]


def processes_with(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# --- exit codes, output ---------------------------------------------------------------


def test_exit_code(executor: Executor, tree: Tree) -> None:
    assert run(executor, tree, "true").result.exit_code == 0
    r = run(executor, tree, "echo failing; exit 3").result
    assert (r.exit_code, r.signal, r.output_tail) == (3, 0, ("failing",))


def test_output_lines_and_tail(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, "for i in $(seq 1 100); do echo line $i; done")
    assert r.lines == [f"line {i}\n".encode() for i in range(1, 101)]
    assert r.result.output_tail == tuple(f"line {i}" for i in range(81, 101))
    # stdout and stderr go to one pipe (the shell buffers its stdout: order is its own)
    r = run(executor, tree, "echo out; echo err >&2")
    assert sorted(r.lines) == [b"err\n", b"out\n"]
    r = run(executor, tree, "printf 'no newline'")
    assert r.lines == [b"no newline"] and r.result.output_tail == ("no newline",)


def test_output_streams_while_running(executor: Executor, tree: Tree) -> None:
    seen: list[float] = []
    spec = ProcessSpec(
        args=("sh", "-c", "echo first; sleep 1; echo second"), rootfs=tree.merged, env=(PATH,)
    )
    r = executor.run(spec, output=lambda _line: seen.append(time.monotonic()))
    end = time.monotonic()
    assert r.output_tail == ("first", "second")
    assert end - seen[0] > 0.7  # the first line came before the command ended


def test_killed_child_and_pid1(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, 'sh -c "kill -9 \\$\\$"; echo "child=$?"; kill -9 $$; echo survived')
    # The command is pid 1 of its namespace: like in Docker, it ignores its own SIGKILL.
    assert {"child=137", "survived"} <= set(r.result.output_tail) and r.result.exit_code == 0


def test_command_not_found(executor: Executor, tree: Tree) -> None:
    spec = ProcessSpec(args=("no-such-command", "x"), rootfs=tree.merged, env=(PATH,))
    r = executor.run(spec)
    assert r.exit_code == 127
    assert any('"no-such-command": executable file not found in $PATH' in t for t in r.output_tail)
    assert run(executor, tree, "no-such-command").result.exit_code == 127


def test_env_and_home(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, 'echo "$FOO|$EMPTY|$HOME"', env=(PATH, "FOO=a b  c", "EMPTY="))
    assert r.result.output_tail == ("a b  c||/root",)
    r = run(executor, tree, 'echo "$HOME"', env=(PATH, "HOME=/elsewhere"), user="alice")
    assert r.result.output_tail == ("/elsewhere",)


def test_cwd_is_created_and_kept(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, "pwd; touch here", cwd="/work/dir", user="alice")
    assert r.result.output_tail == ("/work/dir",)
    made = tree.merged / "work/dir"
    assert (made / "here").is_file() and made.stat().st_uid == 1000
    assert layer_changes(tree) == {"work", "work/dir", "work/dir/here"}


# --- users ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", "0 0 0"),
        ("root", "0 0 0"),
        ("alice", "1000 1000 1000 29 50"),
        ("1000", "1000 1000 1000 29 50"),
        ("1001", "1001 1001 1001 50"),
        ("bob:audio", "1001 29 29"),
        ("alice:50", "1000 50 50"),
        ("4242", "4242 0 0"),
        ("4242:4343", "4242 4343 4343"),
        ("nobody", "65534 65534 65534"),
    ],
)
def test_user(executor: Executor, tree: Tree, user: str, expected: str) -> None:
    r = run(executor, tree, 'echo "$(id -u) $(id -g) $(id -G)"', user=user)
    uid, gid, *groups = expected.split()
    out_uid, out_gid, *out_groups = r.result.output_tail[0].split()
    assert (out_uid, out_gid) == (uid, gid) and sorted(out_groups) == sorted(groups)


def test_unknown_user_or_group(executor: Executor, tree: Tree) -> None:
    with pytest.raises(
        UserError, match="unable to find user ghost: no matching entries in passwd file"
    ):
        run(executor, tree, "true", user="ghost")
    with pytest.raises(
        UserError, match="unable to find group ghosts: no matching entries in group file"
    ):
        run(executor, tree, "true", user="alice:ghosts")
    assert layer_changes(tree) == set()


def test_non_root_can_reopen_its_output(executor: Executor, tree: Tree) -> None:
    r = run(
        executor, tree, "echo to-stdout > /dev/stdout; echo to-stderr > /dev/stderr", user="alice"
    )
    assert sorted(r.result.output_tail) == ["to-stderr", "to-stdout"]


# --- namespaces, files, capabilities --------------------------------------------------


def test_pid_namespace(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, "echo $$; ps -o pid,comm | tail -n +2")
    assert r.result.output_tail[0] == "1"
    assert len(r.result.output_tail) <= 4  # $$, then the shell, ps and tail


def test_hostname_hosts_and_resolv_conf(executor: Executor, tree: Tree) -> None:
    r = run(
        executor,
        tree,
        "hostname; cat /etc/hosts; echo ---; cat /etc/resolv.conf; { echo x >> /etc/hosts; } 2>/dev/null || echo ro",
        hostname="builder",
        extra_hosts=(("db", "10.0.0.5"),),
    )
    out = r.text
    hosts = (
        "127.0.0.1\tlocalhost builder\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.5\tdb\n"
    )
    assert out.startswith("builder\n" + hosts + "---\n" + resolv_conf("host"))
    assert out.endswith("ro\n")
    r = run(executor, tree, "hostname; head -1 /etc/hosts")
    assert r.result.output_tail == ("buildkitsandbox", "127.0.0.1\tlocalhost buildkitsandbox")


def test_dangling_resolv_conf_symlink(executor: Executor, tree: Tree) -> None:
    # systemd images: /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf (missing)
    (tree.merged / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    r = run(executor, tree, "cat /etc/resolv.conf", network="none")
    assert r.text == resolv_conf("none")
    assert not (tree.merged / "run").exists()
    assert layer_changes(tree) == {"etc/resolv.conf"}  # the link itself, made by this test


def test_network_none_has_loopback_only(executor: Executor, tree: Tree) -> None:
    r = run(
        executor, tree, "tail -n +3 /proc/net/dev | cut -d: -f1; ip link show lo", network="none"
    )
    assert r.result.output_tail[0].strip() == "lo"
    assert "UP" in r.result.output_tail[1] and len(r.result.output_tail) <= 3


def test_network_host_sees_host_interfaces(executor: Executor, tree: Tree) -> None:
    host = {
        line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]
    }
    r = run(executor, tree, "tail -n +3 /proc/net/dev | cut -d: -f1", network="host")
    assert {line.strip() for line in r.result.output_tail} == host


def test_capabilities(executor: Executor, tree: Tree) -> None:
    r = run(executor, tree, "grep -E '^Cap(Bnd|Eff|Prm|Inh)' /proc/self/status")
    caps = dict(line.split(":\t") for line in r.result.output_tail)
    assert caps == {
        "CapInh": "0" * 16,
        "CapPrm": DOCKER_CAPS,
        "CapEff": DOCKER_CAPS,
        "CapBnd": DOCKER_CAPS,
    }
    r = run(executor, tree, "grep -E '^Cap(Bnd|Eff)' /proc/self/status", user="alice")
    assert dict(line.split(":\t") for line in r.result.output_tail) == {
        "CapEff": "0" * 16,
        "CapBnd": DOCKER_CAPS,
    }
    ours = next(
        line.split()[1]
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("CapEff")
    )
    r = run(executor, tree, "grep CapEff /proc/self/status", security="insecure")
    assert r.result.output_tail == (f"CapEff:\t{ours}",)


def test_sys_and_proc_protections(executor: Executor, tree: Tree) -> None:
    r = run(
        executor,
        tree,
        "touch /sys/x 2>/dev/null || echo sys-ro; "
        "{ echo 1 > /proc/sys/vm/drop_caches; } 2>/dev/null || echo procsys-ro; "
        "wc -c < /proc/keys; ls /sys/firmware | wc -l; "
        "ls /dev | tr '\\n' ' '",
    )
    tail = r.result.output_tail
    assert tail[:4] == ("sys-ro", "procsys-ro", "0", "0")
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"} <= set(
        tail[4].split()
    )


# --- mounts ---------------------------------------------------------------------------


def test_cache_bind_tmpfs_and_secret_mounts(executor: Executor, tree: Tree, tmp_path: Path) -> None:
    cache, src, secret = tmp_path / "cache", tmp_path / "src", tmp_path / "secret"
    cache.mkdir()
    src.mkdir()
    (src / "input").write_text("from the context\n")
    secret.write_text("s3cret")
    secret.chmod(0o400)
    mounts = (
        Mount("cache", "/root/.cache/pip", source=cache),
        Mount("bind", "/src", source=src),
        Mount("tmpfs", "/scratch", size=1 << 20),
        Mount("secret", "/run/secrets/token", source=secret),
    )
    r = run(
        executor,
        tree,
        "echo kept > /root/.cache/pip/f; cat /src/input; touch /src/x 2>/dev/null || echo src-ro; "
        "ls -A /scratch | wc -l; echo tmp > /scratch/t; grep ' /scratch ' /proc/mounts | grep -o 'size=[0-9]*k'; "
        "cat /run/secrets/token; echo; { echo x > /run/secrets/token; } 2>/dev/null || echo secret-ro",
        mounts=mounts,
    )
    assert r.result.output_tail == (
        "from the context",
        "src-ro",
        "0",
        "size=1024k",
        "s3cret",
        "secret-ro",
    )
    assert (cache / "f").read_text() == "kept\n" and not (src / "x").exists()
    # The mount points were made for the run and are gone: nothing reaches the layer.
    for gone in ("root/.cache", "src", "scratch", "run"):
        assert not (tree.merged / gone).exists()
    assert layer_changes(tree) == set()


def test_mount_under_dev(executor: Executor, tree: Tree, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho from a heredoc\n")
    script.chmod(0o755)
    mounts = (Mount("bind", "/dev/pipes/script", source=script),)
    r = run(executor, tree, "/dev/pipes/script", mounts=mounts)
    assert r.result.output_tail == ("from a heredoc",)
    assert layer_changes(tree) == set() and not (tree.merged / "dev/pipes").exists()


def test_writable_bind(executor: Executor, tree: Tree, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    mounts = (Mount("bind", "/tmp/src", source=src, readonly=False),)
    assert run(executor, tree, "touch /tmp/src/x", mounts=mounts).result.exit_code == 0
    assert (src / "x").exists()


def test_mount_point_with_command_output_is_kept(
    executor: Executor, tree: Tree, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    mounts = (Mount("cache", "/var/cache/app/data", source=cache),)
    run(executor, tree, "touch /var/cache/app/mine", mounts=mounts)
    assert (tree.merged / "var/cache/app/mine").exists()
    assert not (tree.merged / "var/cache/app/data").exists()
    assert layer_changes(tree) == {"var/cache", "var/cache/app", "var/cache/app/mine"}


# --- nothing left behind --------------------------------------------------------------


def _listing(root: Path) -> dict[str, tuple[int, int, int, int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p.relative_to(root))] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_size,
                st.st_mtime_ns,
            )
    return out


@pytest.mark.parametrize("outcome", ["success", "failure", "cancel", "interrupt"])
def test_nothing_left_behind(
    executor: Executor, tree: Tree, tmp_path: Path, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where bundles and state go
    marker = f"etage-marker-{uuid.uuid4().hex}"
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    before = _listing(tree.merged)
    script = {
        "success": "cat /proc/self/cgroup > /cgroups; echo written > /root/out",
        "failure": "cat /proc/self/cgroup > /cgroups; echo written > /root/out; exit 7",
        "cancel": "cat /proc/self/cgroup > /cgroups; echo written > /root/out; sleep 100 &  sleep 100",
        "interrupt": "cat /proc/self/cgroup > /cgroups; echo written > /root/out; sleep 100",
    }[outcome]
    cancel = threading.Event()
    mounts = (Mount("secret", "/run/secrets/s", source=secret), Mount("tmpfs", "/tmp/t"))
    spec = ProcessSpec(
        args=("sh", "-c", f"{script} # {marker}"), rootfs=tree.merged, env=(PATH,), mounts=mounts
    )
    started = time.monotonic()
    if outcome == "cancel":
        threading.Timer(0.5, cancel.set).start()
    if outcome == "interrupt":  # Ctrl-C: SIGINT to the main thread while it waits
        main = threading.main_thread().ident
        assert main is not None
        threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            executor.run(spec, cancel=cancel)
    else:
        r = executor.run(spec, cancel=cancel)
        assert r.exit_code == {"success": 0, "failure": 7, "cancel": 137}[outcome]
        assert r.signal == (9 if outcome == "cancel" else 0)
    assert time.monotonic() - started < 5
    assert processes_with(marker) == []
    assert our_mounts(tree.merged, tmp_path) == [str(tree.merged)]
    assert list(temp.iterdir()) == []  # bundle, runtime state, hosts, resolv.conf: gone
    after = _listing(tree.merged)
    assert {k: v for k, v in after.items() if k not in (".", "cgroups", "root", "root/out")} == {
        k: v for k, v in before.items() if k not in (".", "root")
    }
    assert layer_changes(tree) == {"cgroups", "root/out"}
    cgroup_lines = (tree.merged / "cgroups").read_text().splitlines()
    if isinstance(executor, RuncExecutor):  # the container's cgroups were removed
        pids = next(line.split(":", 2)[2] for line in cgroup_lines if ":pids:" in line)
        assert "etage-" in pids and not Path("/sys/fs/cgroup/pids", pids.lstrip("/")).exists()


def test_parallel_runs(executor: Executor, base: Path, tmp_path: Path) -> None:
    results: list[Run] = []

    def one(i: int) -> None:
        with overlay(base, tmp_path / str(i)) as tree:
            results.append(run(executor, tree, f"sleep 0.3; echo {i}", network="none"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.result.output_tail for r in results) == [("0",), ("1",), ("2",), ("3",)]
    assert time.monotonic() - started < 1.2  # they did run at the same time


def test_bad_spec_is_refused(executor: Executor, tree: Tree) -> None:
    with pytest.raises(ValueError, match="unsupported mount type"):
        run(executor, tree, "true", mounts=(Mount("ssh", "/x"),))
    with pytest.raises(ValueError, match="unsupported network"):
        run(executor, tree, "true", network="bridge")


def test_mount_on_a_file_path_fails_cleanly(executor: Executor, tree: Tree, tmp_path: Path) -> None:
    src = tmp_path / "dir"
    src.mkdir()
    with pytest.raises(ExecutorError):
        run(executor, tree, "true", mounts=(Mount("bind", "/etc/passwd/x", source=src),))
    assert layer_changes(tree) == set() and our_mounts(tree.merged) == [str(tree.merged)]


# --- choosing the executor ------------------------------------------------------------


def test_default_executor_prefers_runc() -> None:
    if not runtime_works("runc"):
        pytest.skip("runc does not work here")
    assert default_executor().name == "runc"
    assert default_executor("chroot").name == "chroot"


def test_fallback_is_announced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from etage.runtime import executor as executor_module

    monkeypatch.setattr(executor_module, "runtime_works", lambda _binary: False)
    monkeypatch.setattr(executor_module, "_warned", threading.Event())
    warnings: list[str] = []
    assert default_executor(warn=warnings.append).name == "chroot"
    assert default_executor(warn=warnings.append).name == "chroot"
    assert warnings == [executor_module.FALLBACK_WARNING]
    assert "no OCI runtime found (runc, crun)" in warnings[0]


def test_runtime_probe_rejects_a_broken_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "fakeruntime"
    fake.write_text("#!/bin/sh\necho 'cgroups in hybrid mode not supported' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert runtime_works("fakeruntime") is False
    assert runtime_works("no-such-runtime") is False
    assert shutil.which("fakeruntime")
