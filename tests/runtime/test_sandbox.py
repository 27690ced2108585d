"""The pieces every executor shares: hosts, resolv.conf, mount stubs, cwd, exit status."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from etage.runtime.mount_stubs import MountStubs, ensure_cwd
from etage.runtime.sandbox import (
    DEFAULT_CAPS,
    OutputPump,
    capability_mask,
    exit_status,
    hosts_file,
    resolv_conf,
)


def test_hosts_file_as_buildkit_writes_it() -> None:
    assert hosts_file("buildkitsandbox") == (
        "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    )
    assert hosts_file("box", [("db", "10.0.0.5"), ("v6", "fd00::1")]).endswith(
        "10.0.0.5\tdb\nfd00::1\tv6\n"
    )


@pytest.mark.parametrize(
    ("host", "network", "expected"),
    [
        (
            "nameserver 10.0.0.2\nsearch a.example b.example\n",
            "host",
            "nameserver 10.0.0.2\nsearch a.example b.example\n",
        ),
        ("nameserver 10.0.0.2\n", "none", "nameserver 10.0.0.2\n"),
        # a stub resolver on loopback is reachable only from the host's network namespace
        (
            "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
            "host",
            "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
        ),
        (
            "# generated\nnameserver 127.0.0.11\nnameserver ::1\noptions ndots:0\n",
            "none",
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\n"
            "nameserver 2001:4860:4860::8844\noptions ndots:0\n",
        ),
        ("nameserver 127.0.0.1\nnameserver 1.1.1.1\n", "none", "nameserver 1.1.1.1\n"),
        (
            "",
            "host",
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n",
        ),
        (
            "nameserver not-an-ip\ndomain corp.example\n  # indented\nnameserver 10.1.1.1 # dc\nsortlist 10.0.0.0\n",
            "host",
            "nameserver 10.1.1.1\nsearch corp.example\n  # indented\nsortlist 10.0.0.0\n",
        ),
    ],
)
def test_resolv_conf(tmp_path: Path, host: str, network: str, expected: str) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(host)
    assert resolv_conf(network, str(path)) == expected


def test_stubs_are_made_and_removed_leaving_times_as_they_were(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    old = 1_000_000_000_000_000_000
    os.utime(root / "etc", ns=(old, old))
    stubs = MountStubs(str(root))
    stubs.make("/etc/hosts", is_dir=False)
    stubs.make("/run/secrets/token", is_dir=False)
    stubs.make("/run/cache", is_dir=True)
    stubs.make("/etc", is_dir=True)  # exists: not a stub
    assert (root / "etc/hosts").is_file() and (root / "run/secrets/token").is_file()
    stubs.remove()
    assert sorted(p.name for p in root.iterdir()) == ["etc"]
    assert list((root / "etc").iterdir()) == []
    assert (root / "etc").stat().st_mtime_ns == old


def test_stubs_with_content_stay(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    old = 1_000_000_000_000_000_000
    os.utime(root / "etc", ns=(old, old))
    stubs = MountStubs(str(root))
    stubs.make("/etc/hosts", is_dir=False)
    stubs.make("/var/lib/thing", is_dir=True)
    (root / "etc/hosts").write_text("the command wrote this\n")
    time.sleep(0.01)
    (root / "etc/new").write_text("and this\n")
    (root / "var/lib/mine").write_text("")
    stubs.remove()
    assert (root / "etc/hosts").exists() and (root / "var/lib/mine").exists()
    assert not (root / "var/lib/thing").exists()
    assert (root / "etc").stat().st_mtime_ns != old  # the command changed /etc: kept


def test_stubs_never_follow_links_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "etc").symlink_to(outside)  # absolute: must resolve inside the root
    stubs = MountStubs(str(root))
    stubs.make("/etc/hosts", is_dir=False)
    assert list(outside.iterdir()) == []
    stubs.remove()


def test_stubs_follow_links_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/resolv.conf").symlink_to("/run/systemd/resolve/stub-resolv.conf")
    (root / "var").symlink_to("../../../../private/var")
    stubs = MountStubs(str(root))
    stubs.make("/etc/resolv.conf", is_dir=False)
    stubs.make("/var/cache/x", is_dir=True)
    assert (root / "run/systemd/resolve/stub-resolv.conf").is_file()
    assert (root / "private/var/cache/x").is_dir()
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError, match="too many levels"):
        stubs.make("/loop/x", is_dir=True)
    stubs.remove()
    assert sorted(p.name for p in root.iterdir()) == ["etc", "loop", "var"]


def test_cwd_is_created_owned_by_the_user(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    ensure_cwd(str(tmp_path), "/app/src/../build/out", 1000, 1001)
    assert (tmp_path / "app").stat().st_uid == os.getuid()  # existing: untouched
    st = (tmp_path / "app/build/out").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1001, 0o755)
    assert not (tmp_path / "app/src").exists()


def test_exit_status() -> None:
    assert exit_status(0, shell_convention=True) == (0, 0)
    assert exit_status(137, shell_convention=True) == (137, 9)
    assert exit_status(137, shell_convention=False) == (137, 0)
    assert exit_status(-15, shell_convention=False) == (143, 15)
    assert exit_status(255, shell_convention=True) == (255, 0)


def test_docker_capability_mask() -> None:
    assert f"{capability_mask(DEFAULT_CAPS):016x}" == "00000000a80425fb"


def test_output_pump_splits_lines_and_survives_a_broken_callback() -> None:
    r, w = os.pipe()
    got: list[bytes] = []

    def callback(line: bytes) -> None:
        got.append(line)
        if len(got) == 2:
            raise RuntimeError("broken")

    pump = OutputPump(r, callback)
    os.write(w, b"a\nb")
    os.write(w, b"c\n" + b"x" * 70000 + b"\nlast")
    os.close(w)
    tail = pump.join()
    os.close(r)
    assert got == [b"a\n", b"bc\n"]
    assert tail[:2] == ("a", "bc") and tail[-1] == "last"
    assert "".join(tail[2:-1]) == "x" * 70000  # a line longer than 64 KiB comes in pieces
