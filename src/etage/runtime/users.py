"""Users and groups of a root filesystem: who `USER` (or `COPY --chown`) means.

`resolve_user(rootfs, "name:group")` follows Docker's rules (runc's `GetExecUser`, as
BuildKit calls it):

* "" is root (0:0), with root's passwd entry if there is one;
* "uid:gid" with both numeric (or "root") needs no lookup and gets no supplementary groups;
* a name is looked up in /etc/passwd (the first match wins) and is an error if missing:
  "unable to find user X: no matching entries in passwd file";
* a numeric uid needs no passwd entry, but if it has one it takes the entry's primary gid
  and home;
* an explicit group (name or number) replaces the primary gid and drops the supplementary
  groups; a group name that is not in /etc/group is an error;
* without an explicit group, a user matched in passwd gets as supplementary groups every
  group of /etc/group that lists its name.

The files are read through the root (`etage.oci.securejoin`): a symlinked /etc/passwd is
resolved inside the root, never on the host, and files over 10 MiB are refused.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from etage.errors import EtageError
from etage.oci.securejoin import MAX_SYMLINKS, Root, clean_parts

__all__ = [
    "GroupEntry",
    "PasswdEntry",
    "ResolvedUser",
    "UserError",
    "read_group",
    "read_passwd",
    "read_root_file",
    "resolve_user",
]

MAX_USER_FILE = 10 << 20  # BuildKit's limit on /etc/passwd and /etc/group
_MAX_ID = (1 << 31) - 1


class UserError(EtageError):
    """A USER (or --chown) that the image's /etc/passwd or /etc/group cannot satisfy."""


class PasswdEntry(NamedTuple):
    name: str
    uid: int
    gid: int
    home: str


class GroupEntry(NamedTuple):
    name: str
    gid: int
    members: tuple[str, ...]


class ResolvedUser(NamedTuple):
    """The ids a process runs with; `additional_gids` excludes the primary `gid`."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def read_root_file(
    rootfs: str | os.PathLike[str], path: str, limit: int = MAX_USER_FILE
) -> bytes | None:
    """The content of the regular file `path` inside `rootfs`; None if there is none.

    Every symlink on the way, the last component included, is resolved inside the root.
    Anything but a regular file (a FIFO, a device, a directory) counts as missing and is
    never opened for reading.
    """
    with Root(rootfs) as root:
        parts = clean_parts(path)
        for _ in range(MAX_SYMLINKS):
            if not parts:
                return None
            try:
                opened = root.open_dir(parts[:-1])
            except NotADirectoryError:
                return None
            if opened is None:
                return None
            dirfd, names = opened
            try:
                try:
                    st = os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False)
                except (FileNotFoundError, NotADirectoryError):
                    return None
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(parts[-1], dir_fd=dirfd)
                    base = [] if target.startswith("/") else names
                    parts = clean_parts("/".join([*base, target]))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    return None  # as BuildKit: a passwd that is not a file is no passwd
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                fd = os.open(parts[-1], flags, dir_fd=dirfd)
            finally:
                os.close(dirfd)
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped meanwhile
                    return None
                data = f.read(limit + 1)
            if len(data) > limit:
                raise UserError(f"{path} exceeds {limit} bytes")
            return data
        raise UserError(f"{path}: too many levels of symbolic links")


def _fields(data: bytes | None) -> list[list[str]]:
    if data is None:
        return []
    rows = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(line.split(":"))
    return rows


def _int(text: str) -> int | None:
    try:
        value = int(text, 10)
    except ValueError:
        return None
    return value if text.strip() == text and 0 <= value <= _MAX_ID else None


def read_passwd(rootfs: str | os.PathLike[str]) -> list[PasswdEntry] | None:
    """The entries of the rootfs's /etc/passwd, None if there is no such file."""
    data = read_root_file(rootfs, "/etc/passwd")
    if data is None:
        return None
    entries = []
    for fields in _fields(data):
        row = fields + [""] * (7 - len(fields))
        uid, gid = _int(row[2]) or 0, _int(row[3]) or 0
        entries.append(PasswdEntry(row[0], uid, gid, row[5]))
    return entries


def read_group(rootfs: str | os.PathLike[str]) -> list[GroupEntry] | None:
    """The entries of the rootfs's /etc/group, None if there is no such file."""
    data = read_root_file(rootfs, "/etc/group")
    if data is None:
        return None
    entries = []
    for fields in _fields(data):
        row = fields + [""] * (4 - len(fields))
        members = tuple(m.strip() for m in row[3].split(",") if m.strip())
        entries.append(GroupEntry(row[0], _int(row[2]) or 0, members))
    return entries


def _numeric_or_root(text: str) -> int | None:
    return 0 if text == "root" else _int(text)


def resolve_user(rootfs: str | os.PathLike[str], user: str) -> ResolvedUser:
    """Resolve `user` ("name", "uid", "name:group", "uid:gid", "" = root) in `rootfs`."""
    is_default = user == ""
    spec = user or "0"
    user_arg, _, group_arg = spec.partition(":")
    if group_arg:  # BuildKit's fast path: both sides numeric, no files read
        fast_uid, fast_gid = _numeric_or_root(user_arg), _numeric_or_root(group_arg)
        if fast_uid is not None and fast_gid is not None:
            return ResolvedUser(fast_uid, fast_gid, (), "/")
    try:
        return _exec_user(rootfs, user_arg, group_arg)
    except UserError:
        if is_default:
            return ResolvedUser(0, 0, (), "/")
        raise


def _exec_user(rootfs: str | os.PathLike[str], user_arg: str, group_arg: str) -> ResolvedUser:
    uid_arg, gid_arg = _int(user_arg), _int(group_arg)
    uid, gid, home, matched = 0, 0, "/", ""
    passwd = read_passwd(rootfs)
    found = [
        e for e in passwd or () if (e.uid == uid_arg if uid_arg is not None else e.name == user_arg)
    ]
    if found:
        matched, uid, gid, home = found[0].name, found[0].uid, found[0].gid, found[0].home or "/"
    elif uid_arg is None:
        raise UserError(
            f"unable to find user {user_arg}: no matching entries in passwd file",
            hint="add the user to /etc/passwd in an earlier step (useradd, adduser) or use a "
            "numeric uid",
        )
    else:
        uid = uid_arg
    additional: tuple[int, ...] = ()
    if group_arg or matched:
        groups = read_group(rootfs) or []
        if group_arg:
            by_group = [
                g
                for g in groups
                if (g.gid == gid_arg if gid_arg is not None else g.name == group_arg)
            ]
            if by_group:
                gid = by_group[0].gid
            elif gid_arg is None:
                raise UserError(
                    f"unable to find group {group_arg}: no matching entries in group file",
                    hint="add the group to /etc/group in an earlier step or use a numeric gid",
                )
            else:
                gid = gid_arg
        else:
            additional = tuple(g.gid for g in groups if matched in g.members)
    return ResolvedUser(uid, gid, additional, home)
