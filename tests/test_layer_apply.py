"""Applying layers: malicious tars stay inside the root; honest ones give the right tree.

Every attack runs with a sentinel "host" next to the root: `<tmp>/host/etc` holding
`passwd` and `shadow`. Links in the layers point at it by absolute path and by `..`; after
each apply, refused or not, the sentinel must be unchanged byte for byte (contents, modes,
owners, link counts, and the directories' mtimes, which any create or delete would move).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from etage.oci.apply import ApplySummary, apply_entries, apply_layer
from etage.oci.compress import LayerWriter
from etage.oci.tar import LayerError, TarWriter
from etage.oci.tar_reader import iter_tar
from etage.oci.tar_tree import write_tree
from tests.layer_fixtures import describe, info, make_tree, raw_tar, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="devices and chown need root")

SYM, LNK, DIR, REG = tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE, tarfile.REGTYPE


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.root.mkdir()
        self.host = tmp / "host"
        etc = self.host / "etc"
        etc.mkdir(parents=True)
        (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
        (etc / "shadow").write_text("root:*:19000::::::\n")
        (etc / "shadow").chmod(0o600)
        self.etc = etc
        self.before = snapshot(self.host)
        self.host_etc = {p: _host_state(p) for p in ("/etc/passwd", "/etc/shadow")}

    def apply(self, layer: bytes, **options: bool) -> ApplySummary:
        return apply_layer(self.root, io.BytesIO(layer), **options)  # type: ignore[arg-type]

    def check_outside(self) -> None:
        assert snapshot(self.host) == self.before
        assert sorted(os.listdir(self.tmp)) == ["host", "root"]
        for path, state in self.host_etc.items():
            assert _host_state(path) == state
        assert not os.path.lexists("/etc/etage-escape")


def _host_state(path: str) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_nlink, st.st_mtime_ns, st.st_size


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def sym(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    return info(name, SYM, linkname=target), None


def reg(name: str, data: bytes = b"owned\n") -> tuple[tarfile.TarInfo, bytes]:
    return info(name), data


# ---- attacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../host/etc/passwd", "../../../../host/etc/passwd", "a/../../host/etc/passwd"]
)
def test_dotdot_paths_are_contained(env: Env, name: str) -> None:
    env.apply(raw_tar(reg(name)))
    env.check_outside()
    assert (env.root / "host/etc/passwd").read_bytes() == b"owned\n"


def test_absolute_paths_are_contained(env: Env) -> None:
    env.apply(raw_tar(reg(str(env.etc / "passwd")), reg("/etc/etage-escape")))
    env.check_outside()
    assert (env.root / str(env.etc / "passwd").lstrip("/")).read_bytes() == b"owned\n"
    assert (env.root / "etc/etage-escape").exists()


@pytest.mark.parametrize("target", ["ABS", "../host/etc", "../../../host/etc"])
def test_symlinked_parent_is_resolved_inside_the_root(env: Env, target: str) -> None:
    target = str(env.etc) if target == "ABS" else target
    env.apply(raw_tar(sym("a", target), reg("a/passwd"), reg("a/new")))
    env.check_outside()
    inside = env.root / (str(env.etc).lstrip("/") if target.startswith("/") else "host/etc")
    assert (inside / "passwd").read_bytes() == b"owned\n" and (inside / "new").is_file()
    assert os.readlink(env.root / "a") == target  # the link itself is kept as data


def test_symlink_to_dotdots_stops_at_the_root(env: Env) -> None:
    env.apply(raw_tar(sym("a", "../../.."), reg("a/x"), sym("b/c", "../../../../.."), reg("b/c/y")))
    env.check_outside()
    assert (env.root / "x").read_bytes() == b"owned\n"
    assert (env.root / "y").read_bytes() == b"owned\n"


def test_symlink_chain_is_resolved_inside_the_root(env: Env) -> None:
    layer = raw_tar(
        sym("a", "b"), sym("b", "sub/c"), (info("sub", DIR), None), sym("sub/c", "../d"),
        sym("d", str(env.etc)), reg("a/passwd"),
    )  # fmt: skip
    env.apply(layer)
    env.check_outside()
    assert (env.root / str(env.etc).lstrip("/") / "passwd").read_bytes() == b"owned\n"


def test_symlink_loop_is_refused(env: Env) -> None:
    with pytest.raises(LayerError, match=r"a/x.*symbolic links"):
        env.apply(raw_tar(sym("a", "b"), sym("b", "a"), reg("a/x")))
    env.check_outside()


@pytest.mark.parametrize("target", ["/etc/shadow", "../../etc/shadow", "ABS"])
def test_hardlink_to_a_file_outside_is_refused(env: Env, target: str) -> None:
    target = str(env.etc / "shadow") if target == "ABS" else target
    with pytest.raises(LayerError, match=r"h: hardlink target .* does not exist"):
        env.apply(raw_tar((info("h", LNK, linkname=target), None)))
    env.check_outside()
    assert not os.path.lexists(env.root / "h")


def test_hardlink_with_dotdots_is_contained(env: Env) -> None:
    env.apply(raw_tar(reg("x", b"inside\n"), (info("h", LNK, linkname="../../x"), None)))
    env.check_outside()
    assert os.path.samefile(env.root / "h", env.root / "x")


def test_hardlink_through_a_symlinked_directory(env: Env) -> None:
    with pytest.raises(LayerError, match="does not exist"):
        env.apply(raw_tar(sym("a", str(env.etc)), (info("h", LNK, linkname="a/shadow"), None)))
    env.check_outside()
    # when the target exists inside the root, the link is made there, never to the host file
    env.apply(raw_tar(reg("a/shadow", b"inside\n"), (info("h", LNK, linkname="a/shadow"), None)))
    env.check_outside()
    assert (env.root / "h").read_bytes() == b"inside\n"
    assert os.lstat(env.root / "h").st_nlink == 2


def test_hardlink_to_a_symlink_links_the_symlink_itself(env: Env) -> None:
    env.apply(raw_tar(sym("l", str(env.etc / "shadow")), (info("h", LNK, linkname="l"), None)))
    env.check_outside()
    assert os.path.islink(env.root / "h") and os.path.samestat(
        os.lstat(env.root / "h"), os.lstat(env.root / "l")
    )


@pytest.mark.parametrize("name", ["dir/.wh..", "dir/.wh...", ".wh..", ".wh..."])
def test_whiteout_of_dot_or_dotdot_is_refused(env: Env, name: str) -> None:
    (env.root / "dir").mkdir()
    (env.root / "keep").write_text("lower\n")
    with pytest.raises(LayerError, match="invalid whiteout"):
        env.apply(raw_tar(reg(name, b"")))
    env.check_outside()
    assert (env.root / "keep").exists() and (env.root / "dir").is_dir()


def test_whiteouts_through_symlinks_and_dotdots_stay_inside(env: Env) -> None:
    (env.root / "etc").mkdir()
    (env.root / "etc/passwd").write_text("lower\n")
    layer = raw_tar(sym("a", str(env.etc)), reg("a/.wh.passwd", b""), reg("../../.wh.host", b""))
    env.apply(layer)
    env.check_outside()
    layer = raw_tar(sym("b", "../../host/etc"), reg("b/.wh.shadow", b""))
    env.apply(layer)
    env.check_outside()


def test_opaque_whiteout_on_a_symlink_to_outside(env: Env) -> None:
    env.apply(raw_tar(sym("a", str(env.etc)), reg("a/.wh..wh..opq", b"")))
    env.check_outside()
    env.apply(raw_tar(sym("b", "../host/etc"), reg("b/.wh..wh..opq", b"")))
    env.check_outside()
    # the same, with a lower layer that has content where the link resolves inside the root
    lower = env.root / str(env.etc).lstrip("/")
    lower.mkdir(parents=True)
    (lower / "passwd").write_text("lower\n")
    summary = env.apply(raw_tar(reg("a/.wh..wh..opq", b"")))
    env.check_outside()
    assert summary.whiteouts == 1 and list(lower.iterdir()) == []


def test_device_nodes_are_skipped_when_not_allowed(env: Env) -> None:
    layer = raw_tar(
        (info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None),
        (info("dev/mem", tarfile.CHRTYPE, devmajor=1, devminor=1), None),
        reg("dev/ok"),
    )
    summary = env.apply(layer, allow_devices=False)
    env.check_outside()
    assert summary.skipped_devices == 2 and summary.devices == 0
    assert sorted(os.listdir(env.root / "dev")) == ["ok"]
    summary = env.apply(layer, allow_devices=True)
    assert summary.devices == 2 and stat.S_ISBLK(os.lstat(env.root / "dev/sda").st_mode)


def test_file_replaces_an_existing_symlink_pointing_outside(env: Env) -> None:
    os.symlink(env.etc / "passwd", env.root / "passwd")
    os.symlink("../host/etc/shadow", env.root / "shadow")
    os.symlink(env.etc, env.root / "etcdir")
    layer = raw_tar(
        reg("passwd"), reg("shadow"), (info("etcdir", DIR), None), reg("etcdir/passwd"),
        (info("fifo", tarfile.FIFOTYPE), None),
    )  # fmt: skip
    os.symlink(env.etc / "passwd", env.root / "fifo")
    env.apply(layer)
    env.check_outside()
    for name in ("passwd", "shadow"):
        assert stat.S_ISREG(os.lstat(env.root / name).st_mode)
        assert (env.root / name).read_bytes() == b"owned\n"
    assert stat.S_ISDIR(os.lstat(env.root / "etcdir").st_mode)
    assert stat.S_ISFIFO(os.lstat(env.root / "fifo").st_mode)


def test_symlink_then_file_of_the_same_name_in_one_layer(env: Env) -> None:
    env.apply(raw_tar(sym("x", str(env.etc / "passwd")), reg("x")))
    env.check_outside()
    assert not os.path.islink(env.root / "x") and (env.root / "x").read_bytes() == b"owned\n"


def test_very_long_paths(env: Env) -> None:
    deep = "/".join(f"{i:03d}" + "p" * 96 for i in range(45))  # 4,499 bytes: over PATH_MAX
    env.apply(raw_tar(reg(deep + "/file", b"deep\n")))
    env.check_outside()
    fd = os.open(env.root, os.O_PATH)
    try:
        for part in deep.split("/"):
            nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        assert os.stat("file", dir_fd=fd).st_size == 5
    finally:
        os.close(fd)
    with pytest.raises(LayerError, match="name too long"):
        env.apply(raw_tar(reg("x" * 300)))
    env.check_outside()


def test_directory_over_a_file_and_file_over_a_directory(env: Env) -> None:
    (env.root / "was-file").write_text("lower\n")
    (env.root / "was-dir/sub").mkdir(parents=True)
    (env.root / "was-dir/sub/f").write_text("lower\n")
    os.symlink(env.etc, env.root / "was-dir/sub/escape")
    env.apply(raw_tar((info("was-file", DIR), None), reg("was-file/new"), reg("was-dir")))
    env.check_outside()
    assert (env.root / "was-file/new").is_file()
    assert (env.root / "was-dir").read_bytes() == b"owned\n"


def test_regular_entry_under_a_file_is_an_error_naming_the_entry(env: Env) -> None:
    (env.root / "file").write_text("lower\n")
    with pytest.raises(LayerError, match=r"^file/x: .*not a directory"):
        env.apply(raw_tar(reg("file/x")))
    env.check_outside()


def test_overlayfs_xattrs_are_never_applied(env: Env) -> None:
    xattrs = {"trusted.overlay.redirect": "/etc", "trusted.overlay.opaque": "y", "user.ok": "1"}
    pax = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    summary = env.apply(raw_tar((info("d", DIR, pax_headers=pax), None)))
    assert os.listxattr(env.root / "d") == ["user.ok"] and summary.skipped_xattrs == 2


def test_root_entries_are_skipped(env: Env) -> None:
    (env.root).chmod(0o711)
    summary = env.apply(raw_tar((info("./", DIR, mode=0o777), None), (info("/", DIR), None)))
    assert summary.skipped_entries == 2 and stat.S_IMODE(os.stat(env.root).st_mode) == 0o711


# ---- honest layers ------------------------------------------------------------------------


def layer_of(build: object) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out)
    build(writer)  # type: ignore[operator]
    writer.close()
    return out.getvalue()


def test_whiteouts_and_opaque_directories_over_a_lower_layer(env: Env) -> None:
    for path in ("a/1", "a/2", "b/x", "b/y/z", "c", "d/keep"):
        (env.root / path).parent.mkdir(parents=True, exist_ok=True)
        (env.root / path).write_text("lower\n")

    def upper(w: TarWriter) -> None:  # in the writer's order: ".wh.c" sorts first
        w.whiteout("c")
        w.whiteout("a/1")
        w.directory("b")
        w.opaque("b")
        w.file("b/new", io.BytesIO(b"upper\n"), 6)
        w.directory("b/y")
        w.file("b/y/new", io.BytesIO(b"upper\n"), 6)
        w.whiteout("missing/dir")

    summary = env.apply(layer_of(upper))
    assert summary.whiteouts == 3
    assert describe(env.root, mtimes=False).keys() == {
        "a", "a/2", "b", "b/new", "b/y", "b/y/new", "d", "d/keep",
    }  # fmt: skip


def test_whiteouts_spare_entries_of_the_same_layer_whatever_the_order(env: Env) -> None:
    for path in ("b/lower", "b/sub/lower", "c/lower"):
        (env.root / path).parent.mkdir(parents=True, exist_ok=True)
        (env.root / path).write_text("lower\n")
    # written with tarfile: the opaque marker and the whiteout come after this layer's files
    layer = raw_tar(
        reg("b/new"), reg("b/sub/new"), reg("b/.wh..wh..opq", b""),
        reg("n"), reg(".wh.n", b""), reg("c/new"), reg(".wh.c", b""),
    )  # fmt: skip
    env.apply(layer)
    assert describe(env.root, mtimes=False).keys() == {
        "b", "b/new", "b/sub", "b/sub/new", "c", "c/new", "n",
    }  # fmt: skip


def test_aufs_metadata_is_skipped(env: Env) -> None:
    layer = raw_tar(
        (info(".wh..wh.plnk", DIR), None), reg(".wh..wh.plnk/12.34", b""),
        reg(".wh..wh.aufs", b""), reg("d/.wh..wh.orph", b""),
    )  # fmt: skip
    summary = env.apply(layer)
    assert summary.skipped_entries == 4 and os.listdir(env.root) == []


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_applying_a_written_tree_reproduces_it(tmp_path: Path, compression: str) -> None:
    tree = make_tree(tmp_path / "tree")
    blob = io.BytesIO()
    with LayerWriter(blob, compression) as layer:
        writer = TarWriter(layer)
        write_tree(writer, tree)
        writer.close()
    root = tmp_path / "root"
    root.mkdir()
    blob.seek(0)
    summary = apply_layer(root, blob, media_type=layer.digests.media_type)
    assert describe(root) == describe(tree)
    assert summary.devices == 2 and summary.fifos == 1 and summary.hardlinks == 2
    assert (
        summary.bytes
        == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
        - (tree / "hl/one").stat().st_size * 2
    )
    # directories get their mtimes after their content is in
    assert os.stat(root / "srv").st_mtime_ns // 10**9 == os.stat(tree / "srv").st_mtime_ns // 10**9


def test_owners_are_left_alone_when_not_preserved(tmp_path: Path) -> None:
    layer = raw_tar((info("f", uid=1234, gid=5678, mode=0o4755), b"x"))
    root = tmp_path / "root"
    root.mkdir()
    apply_entries(root, iter_tar(io.BytesIO(layer)), preserve_owners=False)
    st = os.stat(root / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o4755)
    apply_entries(root, iter_tar(io.BytesIO(layer)))
    assert (os.stat(root / "f").st_uid, os.stat(root / "f").st_gid) == (1234, 5678)


def test_directory_modes_and_mtimes_are_set_after_their_content(tmp_path: Path) -> None:
    layer = raw_tar(
        (info("ro", DIR, mode=0o555, mtime=1_000_000), None),
        (info("ro/f", mtime=2_000_000), b"data"),
    )
    root = tmp_path / "root"
    root.mkdir()
    apply_entries(root, iter_tar(io.BytesIO(layer)))
    st = os.stat(root / "ro")
    assert stat.S_IMODE(st.st_mode) == 0o555 and st.st_mtime == 1_000_000
    assert os.stat(root / "ro/f").st_mtime == 2_000_000


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_compressed_layer_is_an_error(env: Env, compression: str) -> None:
    blob = io.BytesIO()
    with LayerWriter(blob, compression) as layer:
        layer.write(raw_tar(reg("a", os.urandom(300_000)), reg("b", os.urandom(300_000))))
    data = blob.getvalue()
    with pytest.raises(LayerError, match=r"corrupt layer|truncated"):
        env.apply(data[: len(data) // 2])
    env.check_outside()
