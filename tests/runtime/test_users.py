"""resolve_user: Docker's rules for USER and --chown, reading the rootfs safely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etage.runtime.users import (
    MAX_USER_FILE,
    ResolvedUser,
    UserError,
    read_group,
    read_passwd,
    read_root_file,
    resolve_user,
)

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
bob:x:1001:1001::/home/bob:/bin/sh
alice:x:2000:2000:second alice:/other:/bin/sh
nohome:x:1002:1002
"""
GROUP = """\
root:x:0:
wheel:x:10:root
alice:x:1000:
bob:x:1001:
audio:x:29:alice
staff:x:50:alice, bob
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ResolvedUser(0, 0, (10,), "/root")),
        ("root", ResolvedUser(0, 0, (10,), "/root")),
        ("0", ResolvedUser(0, 0, (10,), "/root")),
        ("alice", ResolvedUser(1000, 1000, (29, 50), "/home/alice")),  # the first alice
        ("1000", ResolvedUser(1000, 1000, (29, 50), "/home/alice")),
        ("2000", ResolvedUser(2000, 2000, (29, 50), "/other")),  # matched name: alice
        ("bob", ResolvedUser(1001, 1001, (50,), "/home/bob")),
        ("nohome", ResolvedUser(1002, 1002, (), "/")),
        ("4242", ResolvedUser(4242, 0, (), "/")),
        ("alice:staff", ResolvedUser(1000, 50, (), "/home/alice")),
        ("alice:77", ResolvedUser(1000, 77, (), "/home/alice")),
        ("4242:audio", ResolvedUser(4242, 29, (), "/")),
        ("1000:1000", ResolvedUser(1000, 1000, (), "/")),  # BuildKit's fast path: no lookup
        ("root:root", ResolvedUser(0, 0, (), "/")),
        ("root:50", ResolvedUser(0, 50, (), "/")),
    ],
)
def test_docker_rules(rootfs: Path, user: str, expected: ResolvedUser) -> None:
    assert resolve_user(rootfs, user) == expected


def test_missing_user_and_group(rootfs: Path) -> None:
    with pytest.raises(
        UserError, match=r"^unable to find user ghost: no matching entries in passwd file$"
    ) as err:
        resolve_user(rootfs, "ghost")
    assert err.value.hint
    with pytest.raises(
        UserError, match="unable to find group ghosts: no matching entries in group file"
    ):
        resolve_user(rootfs, "alice:ghosts")
    (rootfs / "etc/group").unlink()
    with pytest.raises(UserError, match="unable to find group staff"):
        resolve_user(rootfs, "1:staff")


def test_without_passwd_file(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "") == ResolvedUser(0, 0, (), "/")
    assert resolve_user(tmp_path, "123") == ResolvedUser(123, 0, (), "/")
    assert resolve_user(tmp_path, "123:45") == ResolvedUser(123, 45, (), "/")
    with pytest.raises(UserError, match="unable to find user app"):
        resolve_user(tmp_path, "app")


def test_symlinks_resolve_inside_the_root(rootfs: Path, tmp_path: Path) -> None:
    (rootfs / "etc/passwd").unlink()
    (rootfs / "alt").mkdir()
    (rootfs / "alt/passwd").write_text("app:x:77:88::/app:/bin/sh\n")
    # Absolute and climbing links would reach the host's files if followed on the host.
    (rootfs / "etc/passwd").symlink_to("/alt/passwd")
    assert resolve_user(rootfs, "app") == ResolvedUser(77, 88, (), "/app")
    (rootfs / "etc/passwd").unlink()
    (rootfs / "etc/passwd").symlink_to("../../../../../../../../alt/passwd")
    assert resolve_user(rootfs, "app").uid == 77
    (rootfs / "etc/passwd").unlink()
    (rootfs / "etc/passwd").symlink_to("/etc/passwd")  # a loop, not the host's passwd
    with pytest.raises(UserError, match="too many levels"):
        read_passwd(rootfs)
    (rootfs / "etc/passwd").unlink()
    os.symlink("/etc", rootfs / "etc2")
    (rootfs / "etc/passwd").symlink_to("../etc2/../alt/passwd")
    assert read_root_file(rootfs, "/etc/passwd") == b"app:x:77:88::/app:/bin/sh\n"


def test_odd_files_are_not_read(rootfs: Path) -> None:
    (rootfs / "etc/passwd").unlink()
    os.mkfifo(rootfs / "etc/passwd")  # would block a naive open()
    assert read_passwd(rootfs) is None
    assert resolve_user(rootfs, "") == ResolvedUser(0, 0, (), "/")  # no entry: no groups
    (rootfs / "etc/group").unlink()
    (rootfs / "etc/group").mkdir()
    assert read_group(rootfs) is None
    (rootfs / "etc/passwd").unlink()
    with (rootfs / "etc/passwd").open("wb") as f:
        f.truncate(MAX_USER_FILE + 1)
    with pytest.raises(UserError, match="exceeds"):
        resolve_user(rootfs, "alice")
    (rootfs / "etc/passwd").unlink()
    (rootfs / "etc/passwd").write_text("alice:x:1000:1000:A:/home/alice:/bin/sh\n")
    assert resolve_user(rootfs, "alice") == ResolvedUser(1000, 1000, (), "/home/alice")
    (rootfs / "etc").rename(rootfs / "etc.d")
    (rootfs / "etc").write_text("not a directory")
    assert read_passwd(rootfs) is None


def test_parsing(rootfs: Path) -> None:
    passwd = read_passwd(rootfs)
    assert passwd is not None and [e.name for e in passwd][:3] == ["root", "daemon", "alice"]
    group = read_group(rootfs)
    assert group is not None and group[-1].members == ("alice", "bob")
