"""Shared helpers of the layer tests: a tree with every kind of entry, and tree snapshots."""

from __future__ import annotations

import hashlib
import io
import os
import random
import socket
import stat
import tarfile
from pathlib import Path

# security.capability for cap_net_raw+ep (VFS_CAP_REVISION_2), as setcap writes it.
CAP_NET_RAW = bytes.fromhex("0100000200200000000000000000000000000000")
NON_UTF8 = os.fsdecode(b"caf\xe9-latin1")
LONG_DIR = "d" * 120 + "/" + "e" * 150
LONG_FILE = LONG_DIR + "/file-with-a-long-name-" + "f" * 100
LONG_TARGET = "t" * 150 + "/target"


def make_tree(root: Path) -> Path:
    """A tree with every kind of entry a layer can hold, and metadata that tests notice."""
    rnd = random.Random(7)
    root.mkdir(parents=True)
    (root / "bin").mkdir()
    ping = root / "bin" / "ping"
    ping.write_bytes(b"\x7fELF" + bytes(range(256)) * 40)
    os.chmod(ping, 0o4755)
    os.setxattr(ping, "security.capability", CAP_NET_RAW)
    (root / "big.bin").write_bytes(rnd.randbytes(3 * 1024 * 1024 + 17))
    (root / "empty").write_bytes(b"")
    os.setxattr(root / "empty", "user.comment", "héllo wörld".encode())
    os.setxattr(root / "empty", "user.binary", b"\x00\xff\x80binary")
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    srv = root / "srv"
    srv.mkdir()
    os.chmod(srv, 0o2775)
    os.chown(srv, 1000, 2000)
    owned = srv / "owned"
    owned.write_text("large ids need PAX records\n")
    os.chown(owned, 3_000_000, 4_000_000)
    os.chmod(owned, 0o640)
    (root / LONG_DIR).mkdir(parents=True)
    (root / LONG_FILE).write_text("deep\n")
    (root / "données").mkdir()
    (root / "données" / "日本語.txt").write_text("こんにちは\n")
    (root / NON_UTF8).write_text("latin-1 name\n")
    os.symlink("bin/ping", root / "link-rel")
    os.symlink("/etc/passwd", root / "link-abs")
    os.symlink(LONG_TARGET, root / "link-long")
    os.symlink("nowhere", root / "link-dangling")
    hl = root / "hl"
    hl.mkdir()
    (hl / "one").write_text("three names, one inode\n")
    os.link(hl / "one", hl / "two")
    os.link(hl / "one", root / "hl-three")
    os.mkfifo(root / "fifo", 0o640)
    os.mknod(root / "dev-null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(root / "dev-loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
    (root / "a").mkdir()
    (root / "a" / "b").write_text("a/b sorts before a-b\n")
    (root / "a-b").write_text("a-b\n")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(root / "sock"))
    # mtimes last, deepest first, so that creating children does not move them
    t = 1_600_000_000
    for i, path in enumerate(sorted(all_paths(root), key=lambda p: -str(p).count("/"))):
        os.utime(path, ns=((t + i) * 10**9, (t + i) * 10**9 + 123), follow_symlinks=False)
    os.utime(root / "big.bin", ns=(4_000_000_000 * 10**9, 4_000_000_000 * 10**9))
    return root


def all_paths(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(Path(dirpath) / name)
    return out


def describe(root: Path, *, mtimes: bool = True, skip: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Everything a layer should preserve about a tree, by relative path."""
    out: dict[str, tuple] = {}
    inodes: dict[tuple[int, int], str] = {}
    for path in sorted(all_paths(root), key=os.fsencode):
        rel = path.relative_to(root).as_posix()
        st = os.lstat(path)
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFSOCK or rel in skip:
            continue
        key = (st.st_dev, st.st_ino)
        link_group = inodes.setdefault(key, rel) if st.st_nlink > 1 and fmt != stat.S_IFDIR else ""
        content = ""
        if fmt == stat.S_IFREG:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        target = os.readlink(path) if fmt == stat.S_IFLNK else ""
        xattrs = tuple(
            (k, os.getxattr(path, k, follow_symlinks=False))
            for k in sorted(os.listxattr(path, follow_symlinks=False))
        )
        mtime = st.st_mtime_ns // 10**9 if mtimes and fmt != stat.S_IFLNK else None
        out[rel] = (
            fmt,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            content,
            target,
            st.st_rdev if fmt in (stat.S_IFCHR, stat.S_IFBLK) else 0,
            xattrs,
            link_group,
            mtime,
        )
    return out


def snapshot(root: Path) -> dict[str, tuple]:
    """A byte-for-byte picture of a tree, its directories' mtimes and link counts included."""
    out: dict[str, tuple] = {}
    for path in [root, *all_paths(root)]:
        st = os.lstat(path)
        content = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        out[str(path)] = (st.st_mode, st.st_uid, st.st_gid, st.st_nlink, st.st_mtime_ns,
                          st.st_ino, content, target)  # fmt: skip
    return out


def raw_tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    """A tar built with Python's tarfile, for layers etage's writer would refuse to write."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def info(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(ti, key, value)
    return ti
