"""Snapshots on real overlayfs mounts, and the copying fallback held to the same diffs.

Every test ends with nothing mounted below its temporary directory (the `store` fixture
checks /proc/self/mountinfo), whatever the test did: commits, discards, exceptions,
Ctrl-C, processes killed with SIGKILL.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from etage.oci.apply import apply_entries
from etage.oci.tar import EntryType, LayerError, TarWriter, path_sort_key
from etage.oci.tar_reader import iter_tar
from etage.oci.tar_tree import write_tree
from etage.runtime.layers import export_diff, unpack_layer
from etage.runtime.snapshot_copy import CopySnapshotter, default_snapshotter, overlay_problem
from etage.runtime.snapshot_mounts import PAGE_SIZE, is_mount_point, mounts_under, overlay_data
from etage.runtime.snapshot_overlay import OverlaySnapshotter, OverlayWorkingTree
from etage.runtime.snapshots import (
    KIND_LAYER,
    Snapshot,
    SnapshotError,
    SnapshotStore,
    Snapshotter,
)
from tests.layer_fixtures import all_paths, describe, info, make_tree, raw_tar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts, devices and chown need root")

TAR = "application/vnd.oci.image.layer.v1.tar"
SNAPSHOTTERS = {"overlay": OverlaySnapshotter, "copy": CopySnapshotter}
_OVERLAY_PRIVATE = ("trusted.overlay.origin", "trusted.overlay.impure", "trusted.overlay.uuid")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SnapshotStore]:
    s = SnapshotStore(tmp_path / "store")
    yield s
    s.close()
    assert mounts_under(tmp_path) == []


@pytest.fixture(params=sorted(SNAPSHOTTERS))
def snapper(request: pytest.FixtureRequest, store: SnapshotStore) -> Snapshotter:
    return SNAPSHOTTERS[request.param](store)  # type: ignore[no-any-return]


def commit_tree(
    snap: Snapshotter, parent: Snapshot | None, build: Callable[[Path], None]
) -> Snapshot:
    with snap.prepare(parent) as wt:
        build(wt.path)
        return wt.commit()


def base_tree(root: Path) -> None:
    for rel, text in {
        "etc/passwd": "root\n", "etc/group": "g\n", "d/a": "a\n", "d/sub/x": "x\n",
        "keep/file": "k\n", "f": "file\n", "g/inner": "i\n", "m/y": "y\n", "mode": "m\n",
    }.items():  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def step_ops(root: Path) -> None:
    (root / "etc/passwd").unlink()
    (root / "etc/new").write_text("n\n")
    shutil.rmtree(root / "d")
    (root / "d").mkdir()
    (root / "d/b").write_text("b\n")
    (root / "f").unlink()
    (root / "f").mkdir()
    (root / "f/c").write_text("c\n")
    shutil.rmtree(root / "g")
    (root / "g").write_text("G\n")
    shutil.move(root / "m", root / "m2")  # overlayfs refuses the rename: copy and delete
    (root / "mode").chmod(0o600)
    (root / "new").mkdir()
    (root / "new/z").write_text("z\n")
    os.symlink("etc/group", root / "ln")


def shape(root: Path) -> dict[str, tuple[object, ...]]:
    """A diff directory, as overlayfs reads it: whiteouts, opaque dirs, contents, modes."""
    out: dict[str, tuple[object, ...]] = {}
    for path in all_paths(root):
        rel = path.relative_to(root).as_posix()
        st = os.lstat(path)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out[rel] = ("whiteout",)
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), opaque(path))
        elif stat.S_ISREG(st.st_mode):
            out[rel] = ("file", stat.S_IMODE(st.st_mode), path.read_text())
        elif stat.S_ISLNK(st.st_mode):
            out[rel] = ("symlink", os.readlink(path))
        else:
            out[rel] = ("other", stat.S_IFMT(st.st_mode), st.st_rdev)
    return out


def opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def rich(root: Path) -> dict[str, tuple[object, ...]]:
    """Everything but mtimes and overlayfs' private bookkeeping xattrs."""
    out = {}
    for rel, desc in describe(root, mtimes=False).items():
        xattrs = tuple(x for x in desc[7] if x[0] not in _OVERLAY_PRIVATE)  # type: ignore[attr-defined]
        whiteout = desc[0] == stat.S_IFCHR and desc[6] == 0
        out[rel] = (*desc[:7], xattrs, "" if whiteout else desc[8])  # overlayfs links whiteouts
    return out


STEP_DIFF = {
    "etc": ("dir", 0o755, False), "etc/passwd": ("whiteout",), "etc/new": ("file", 0o644, "n\n"),
    "d": ("dir", 0o755, True), "d/b": ("file", 0o644, "b\n"),
    "f": ("dir", 0o755, True), "f/c": ("file", 0o644, "c\n"),
    "g": ("file", 0o644, "G\n"),
    "m": ("whiteout",), "m2": ("dir", 0o755, False), "m2/y": ("file", 0o644, "y\n"),
    "mode": ("file", 0o600, "m\n"),
    "new": ("dir", 0o755, False), "new/z": ("file", 0o644, "z\n"),
    "ln": ("symlink", "etc/group"),
}  # fmt: skip


# ---- working trees and commits ------------------------------------------------------------


def test_a_commit_keeps_exactly_the_changes_in_overlay_format(snapper: Snapshotter) -> None:
    base = commit_tree(snapper, None, base_tree)
    assert base.parent is None and shape(base.diff_dir)["etc/passwd"] == ("file", 0o644, "root\n")
    with snapper.prepare(base) as wt:
        step_ops(wt.path)
        before = describe(wt.path)
        top = wt.commit()
    assert top.parent == base.id
    assert shape(top.diff_dir) == STEP_DIFF
    assert top.size == sum(len(v[2]) for v in STEP_DIFF.values() if v[0] == "file") + len(
        "etc/group"
    )
    with snapper.view(top) as view:
        assert describe(view) == before
        assert not (view / "etc/passwd").exists() and not (view / "d/a").exists()
        assert (view / "keep/file").read_text() == "k\n"


def test_the_copying_snapshotter_makes_the_same_diffs_as_overlayfs(store: SnapshotStore) -> None:
    base = commit_tree(OverlaySnapshotter(store), None, base_tree)
    os.chown(base.diff_dir / "etc/group", 7, 7)
    os.symlink("/etc/group", base.diff_dir / "abs-link")

    def ops(root: Path) -> None:
        step_ops(root)
        os.chown(root / "etc/group", 1000, 1001)
        os.setxattr(root / "keep/file", "user.note", b"v")
        os.link(root / "etc/group", root / "etc/group-link")
        os.mkfifo(root / "fifo", 0o640)
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        (root / "d2").mkdir()
        (root / "m2/y").write_text("changed\n")
        os.utime(root / "keep", ns=(5 * 10**9, 5 * 10**9))
        os.lchown(root / "abs-link", 3, 3)

    diffs = {name: commit_tree(cls(store), base, ops) for name, cls in SNAPSHOTTERS.items()}
    assert rich(diffs["copy"].diff_dir) == rich(diffs["overlay"].diff_dir)
    assert shape(diffs["copy"].diff_dir)["keep"] == ("dir", 0o755, False)
    # and both read back the same, through either snapshotter
    views = []
    for snap in diffs.values():
        for cls in SNAPSHOTTERS.values():
            with cls(store).view(snap) as view:
                views.append(describe(view))
    assert all(v == views[0] for v in views)


def test_snapshots_of_both_snapshotters_stack(store: SnapshotStore) -> None:
    overlay, copy = OverlaySnapshotter(store), CopySnapshotter(store)
    s1 = commit_tree(copy, None, base_tree)
    s2 = commit_tree(overlay, s1, step_ops)
    s3 = commit_tree(copy, s2, lambda r: (r / "m2/y").unlink())
    s4 = commit_tree(overlay, s3, lambda r: shutil.rmtree(r / "m2"))
    assert shape(s3.diff_dir) == {"m2": ("dir", 0o755, False), "m2/y": ("whiteout",)}
    assert shape(s4.diff_dir) == {"m2": ("whiteout",)}
    for snap in (overlay, copy):
        with snap.view(s4) as view:
            assert sorted(os.listdir(view)) == [
                "d", "etc", "f", "g", "keep", "ln", "mode", "new",
            ]  # fmt: skip
            assert sorted(os.listdir(view / "etc")) == ["group", "new"]


def test_an_empty_commit_and_keys(snapper: Snapshotter, store: SnapshotStore) -> None:
    base = commit_tree(snapper, None, base_tree)
    with snapper.prepare(base) as wt:
        same = wt.commit(key="step:abc")
    assert shape(same.diff_dir) == {} and same.key == "step:abc" and same.size == 0
    assert store.by_key("step:abc") == same and store.get(same.id) == same
    with snapper.prepare(base) as wt:
        (wt.path / "x").write_text("x")
        again = wt.commit(key="step:abc")
    assert again == same  # a key names one snapshot: the first commit wins
    assert store.chain(same) == [base, same] and store.all() == [base, same]


def test_a_tree_is_discarded_on_exceptions_and_ctrl_c(
    snapper: Snapshotter, store: SnapshotStore
) -> None:
    base = commit_tree(snapper, None, base_tree)
    seen: list[Path] = []

    def in_tree(exc: BaseException) -> None:
        with snapper.prepare(base) as wt:
            seen.append(wt.path)
            (wt.path / "x").write_text("x")
            raise exc

    def in_view(exc: BaseException) -> None:
        with snapper.view(base) as view:
            seen.append(view)
            assert (view / "etc/passwd").exists()
            raise exc

    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        for where in (in_tree, in_view):
            with pytest.raises(type(exc)):
                where(exc)
            assert not seen[-1].exists()
    with snapper.prepare(base) as wt:
        pass  # never committed: discarded too
    with pytest.raises(SnapshotError, match="already committed or gone"):
        wt.commit()
    assert store.all() == [base]
    assert os.listdir(store.tmp_dir) == []
    assert mounts_under(store.root) == []


def test_a_busy_tree_is_not_committed_and_still_unmounted(
    store: SnapshotStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OverlayWorkingTree, "busy_wait", 0.05)
    snap = OverlaySnapshotter(store)
    base = commit_tree(snap, None, base_tree)
    wt = snap.prepare(base)
    assert is_mount_point(wt.path)
    with open(wt.path / "held", "w"):
        with pytest.raises(SnapshotError, match="cannot commit") as err:
            wt.commit()
        assert err.value.hint and "still be running" in err.value.hint
        assert mounts_under(store.root) == []
    assert store.all() == [base] and os.listdir(store.tmp_dir) == []


# ---- views --------------------------------------------------------------------------------


def test_views_are_read_only_and_concurrent(snapper: Snapshotter) -> None:
    base = commit_tree(snapper, None, base_tree)
    top = commit_tree(snapper, base, step_ops)
    for snap in (base, top):  # one layer: a bind mount; more: an overlay without upper
        with snapper.view(snap) as view, pytest.raises(OSError, match="Read-only"):
            (view / "etc/x").write_text("no")

    def read(i: int) -> tuple[str, str]:
        with snapper.view(top) as view:
            time.sleep(0.05)
            return str(view), (view / "etc/new").read_text() + (view / "keep/file").read_text()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(read, range(16)))
    assert {r[1] for r in results} == {"n\nk\n"}
    with snapper.view(top) as v1, snapper.view(top) as v2:  # nested, in one thread
        assert v1 != v2 and describe(v1) == describe(v2)
    # working trees on one parent, at once
    with snapper.prepare(top) as a, snapper.prepare(top) as b:
        (a.path / "new/z").write_text("from a")
        assert (b.path / "new/z").read_text() == "z\n"
        sa, sb = a.commit(), b.commit()
    assert shape(sa.diff_dir)["new/z"] == ("file", 0o644, "from a") and shape(sb.diff_dir) == {}


def test_a_chain_of_120_layers(store: SnapshotStore) -> None:
    snap = OverlaySnapshotter(store)
    parent = None
    for i in range(120):
        parent = commit_tree(snap, parent, lambda r, i=i: (r / f"f{i:03}").write_text(str(i)))
    assert parent is not None and len(store.chain(parent)) == 120
    absolute = [str(s.diff_dir) for s in store.chain(parent)]
    assert len(overlay_data(absolute, None, None)) > PAGE_SIZE  # relative paths were needed
    with snap.prepare(parent) as wt:
        assert len(os.listdir(wt.path)) == 120
        (wt.path / "f000").unlink()
        top = wt.commit()
    assert shape(top.diff_dir) == {"f000": ("whiteout",)}
    with snap.view(top) as view:
        names = sorted(os.listdir(view))
        assert len(names) == 119 and names[0] == "f001"
        assert (view / "f119").read_text() == "119"


# ---- layers -------------------------------------------------------------------------------


def tar_of(build: Callable[[TarWriter], None]) -> bytes:
    out = io.BytesIO()
    writer = TarWriter(out)
    build(writer)
    writer.close()
    return out.getvalue()


def test_export_writes_oci_whiteouts(snapper: Snapshotter) -> None:
    base = commit_tree(snapper, None, base_tree)
    top = commit_tree(snapper, base, step_ops)
    out = io.BytesIO()
    size = export_diff(top, out, source_date_epoch=1_000)
    data = out.getvalue()
    assert size == len(data)
    entries = [entry for entry, _ in iter_tar(io.BytesIO(data))]
    names = [e.path for e in entries]
    assert names == sorted(names, key=path_sort_key)
    assert names == [
        ".wh.m", "d", "d/.wh..wh..opq", "d/b", "etc", "etc/.wh.passwd", "etc/new",
        "f", "f/.wh..wh..opq", "f/c", "g", "ln", "m2", "m2/y", "mode", "new", "new/z",
    ]  # fmt: skip
    by_name = {e.path: e for e in entries}
    assert by_name[".wh.m"].type is EntryType.FILE and by_name[".wh.m"].size == 0
    assert all(e.mtime <= 1_000 for e in entries)
    assert not [x for e in entries for x in e.xattrs if "overlay" in x]
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:  # and another reader agrees
        assert [m.name for m in tf.getmembers()] == names
    again = io.BytesIO()
    export_diff(top, again, source_date_epoch=1_000)
    assert again.getvalue() == data


def test_unpacked_whiteouts_hide_lower_files(snapper: Snapshotter, store: SnapshotStore) -> None:
    def lower(w: TarWriter) -> None:
        w.directory("bin", mtime=5)
        w.file("bin/ping", io.BytesIO(b"p"), 1)
        w.file("bin/sh", io.BytesIO(b"s"), 1)
        w.file("gone", io.BytesIO(b"g"), 1)
        w.directory("usr", mode=0o750, uid=5, gid=6, mtime=77)
        w.file("usr/old", io.BytesIO(b"o"), 1)

    def upper(w: TarWriter) -> None:
        w.whiteout("gone")
        w.directory("bin", mtime=9)
        w.opaque("bin")
        w.file("bin/sh", io.BytesIO(b"new"), 3)
        w.file("usr/new", io.BytesIO(b"n"), 1)  # no "usr" entry: it comes from below

    s1 = unpack_layer(store, io.BytesIO(tar_of(lower)), TAR, parent=None, key="layer:1")
    s2 = unpack_layer(store, io.BytesIO(tar_of(upper)), TAR, parent=s1, key="layer:2")
    assert s1.kind == KIND_LAYER and s2.parent == s1.id and s2.key == "layer:2"
    assert shape(s2.diff_dir) == {
        "bin": ("dir", 0o755, True), "bin/sh": ("file", 0o644, "new"), "gone": ("whiteout",),
        "usr": ("dir", 0o750, False), "usr/new": ("file", 0o644, "n"),
    }  # fmt: skip
    st = os.lstat(s2.diff_dir / "usr")
    assert (st.st_uid, st.st_gid, st.st_mtime_ns) == (5, 6, 77 * 10**9)
    with snapper.view(s2) as view:
        assert sorted(os.listdir(view)) == ["bin", "usr"]
        assert os.listdir(view / "bin") == ["sh"] and (view / "bin/sh").read_text() == "new"
        assert sorted(os.listdir(view / "usr")) == ["new", "old"]
    assert unpack_layer(store, _Unreadable(), TAR, parent=s1, key="layer:2") == s2


class _Unreadable(io.RawIOBase):
    def readinto(self, b: object) -> int:
        raise AssertionError("an unpacked layer is not read again")


def test_unpack_then_export_gives_the_same_layer_bytes(
    store: SnapshotStore, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src")
    out = io.BytesIO()
    writer = TarWriter(out)
    write_tree(writer, src)
    writer.close()
    layer1 = out.getvalue()

    def upper(w: TarWriter) -> None:  # in the writer's order
        w.whiteout("big.bin")
        w.directory("bin", mode=0o711, mtime=1_600_000_000)
        w.opaque("bin")
        w.file("bin/sh", io.BytesIO(b"#!"), 2, mode=0o755, mtime=1_600_000_001)
        w.directory("hl", mtime=1_600_000_002)
        w.whiteout("hl/two")

    layer2 = tar_of(upper)
    s1 = unpack_layer(store, io.BytesIO(layer1), TAR, parent=None, key="layer:a")
    s2 = unpack_layer(store, io.BytesIO(layer2), TAR, parent=s1, key="layer:b")
    for snap, layer in ((s1, layer1), (s2, layer2)):
        again = io.BytesIO()
        export_diff(snap, again)
        assert again.getvalue() == layer
    with OverlaySnapshotter(store).view(s2) as view:
        assert not (view / "big.bin").exists() and os.listdir(view / "bin") == ["sh"]
        assert sorted(os.listdir(view / "hl")) == ["one"]


def test_unpacking_stays_inside_the_diff_directory(store: SnapshotStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("host\n")
    base = unpack_layer(
        store, io.BytesIO(raw_tar((info("a", tarfile.DIRTYPE), None))), TAR, parent=None, key="b"
    )
    sym = info("link", tarfile.SYMTYPE, linkname=str(outside))
    layer = raw_tar(
        (sym, None), (info("link/.wh.passwd"), b""), (info("link/.wh..wh..opq"), b""),
        (info("../../escape"), b"x"), (info("link/evil"), b"x"),
    )  # fmt: skip
    snap = unpack_layer(store, io.BytesIO(layer), TAR, parent=base, key="evil")
    assert os.listdir(outside) == ["passwd"] and (outside / "passwd").read_text() == "host\n"
    inside = snap.diff_dir / str(outside).lstrip("/")
    assert shape(inside.parent)[f"{outside.name}/passwd"] == ("whiteout",)
    assert sorted(os.listdir(snap.diff_dir)) == ["escape", "link", str(outside).split("/")[1]]


@pytest.mark.parametrize(
    "entries",
    [
        [(info(".wh.d"), b""), (info("d/x"), b"x")],
        [(info("d/x"), b"x"), (info(".wh.d"), b"")],
        [(info("d", tarfile.DIRTYPE), None), (info("d/x"), b"x"), (info(".wh.d"), b"")],
    ],
    ids=["whiteout-first", "whiteout-last", "explicit-dir"],
)
def test_a_whiteout_of_a_directory_the_layer_fills_makes_it_opaque(
    tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]
) -> None:
    lower, diff = tmp_path / "lower", tmp_path / "diff"
    (lower / "d").mkdir(parents=True)
    diff.mkdir()
    apply_entries(diff, iter_tar(io.BytesIO(raw_tar(*entries))), overlay=True, lower_dirs=[lower])
    assert shape(diff) == {"d": ("dir", 0o755, True), "d/x": ("file", 0o644, "x")}


def test_a_layer_with_no_lower_keeps_no_whiteouts(tmp_path: Path) -> None:
    layer = raw_tar((info(".wh.x"), b""), (info("d/.wh..wh..opq"), b""), (info("d/y"), b"y"))
    apply_entries(tmp_path, iter_tar(io.BytesIO(layer)), overlay=True)
    assert shape(tmp_path) == {"d": ("dir", 0o755, False), "d/y": ("file", 0o644, "y")}


def test_a_file_named_like_a_whiteout_is_not_exported(store: SnapshotStore) -> None:
    snap = commit_tree(OverlaySnapshotter(store), None, lambda r: (r / ".wh.x").write_text(""))
    with pytest.raises(LayerError, match="would read as a whiteout"):
        export_diff(snap, io.BytesIO())


# ---- the store: removal, crashes, other processes ------------------------------------------


def test_remove_refuses_while_a_child_exists(store: SnapshotStore) -> None:
    snap = OverlaySnapshotter(store)
    base = commit_tree(snap, None, base_tree)
    top = commit_tree(snap, base, step_ops)
    with pytest.raises(SnapshotError, match=f"snapshot {top.id} is built on it"):
        store.remove(base.id)
    store.remove(top.id)
    assert store.get(top.id) is None and not top.diff_dir.exists()
    store.remove(base.id)
    assert store.all() == [] and store.get("nope") is None
    with pytest.raises(SnapshotError, match="no snapshot 'nope'"):
        store.remove("nope")


def test_garbage_collection_waits_for_trees_and_views(store: SnapshotStore) -> None:
    snap = OverlaySnapshotter(store)
    base = commit_tree(snap, None, base_tree)
    entered = threading.Event()

    def collect() -> None:
        with store.collecting():
            entered.set()

    for use in (snap.prepare(base), snap.view(base)):
        with use:
            thread = threading.Thread(target=collect)
            thread.start()
            assert not entered.wait(0.2)  # held off while the tree or view lives
        thread.join(5)
        assert entered.is_set()
        entered.clear()


def test_a_live_processes_trees_survive_another_stores_cleanup(store: SnapshotStore) -> None:
    snap = OverlaySnapshotter(store)
    base = commit_tree(snap, None, base_tree)
    with snap.prepare(base) as wt, snap.view(base) as view:
        other = SnapshotStore(store.root)  # its cleanup runs now
        assert other.cleanup() == []
        assert is_mount_point(wt.path) and is_mount_point(view)
        (wt.path / "x").write_text("x")
        top = wt.commit()
        other.close()
    assert shape(top.diff_dir) == {"x": ("file", 0o644, "x")}


CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from etage.runtime.snapshots import SnapshotStore
    from etage.runtime.snapshot_overlay import OverlaySnapshotter

    store = SnapshotStore(Path(sys.argv[1]))
    snap = OverlaySnapshotter(store)
    base = store.all()[-1]
    mode = sys.argv[2]
    def ready(*args):
        print("ready", flush=True)
        time.sleep(60)
    if mode == "tree":
        wt = snap.prepare(base)
        (wt.path / "x").write_text("x")
        inner = wt.path / "proc"
        inner.mkdir()
        os.system(f"mount -t tmpfs none {inner}")  # what a chroot executor could leave
        ready()
    elif mode == "view":
        view = snap.view(base)
        view.__enter__()
        ready()
    elif mode == "commit":  # killed between the pending row and the committed one
        rename = os.rename
        def slow(a, b):
            rename(a, b)
            ready()
        os.rename = slow
        with snap.prepare(base) as wt:
            (wt.path / "x").write_text("x")
            wt.commit(key="k")
    """
)


@pytest.mark.parametrize("mode", ["tree", "view", "commit"])
def test_cleanup_after_a_kill_9(store: SnapshotStore, tmp_path: Path, mode: str) -> None:
    base = commit_tree(OverlaySnapshotter(store), None, base_tree)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(store.root), mode], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    left = mounts_under(store.root)
    assert len(left) == {"tree": 2, "view": 1, "commit": 0}[mode]
    if mode == "commit":
        db = sqlite3.connect(store.dir / "snapshots.db")
        assert db.execute("SELECT state FROM snapshots ORDER BY id").fetchall() == [
            ("committed",), ("pending",),
        ]  # fmt: skip
        db.close()
    again = SnapshotStore(store.root)  # its cleanup runs at start
    assert mounts_under(store.root) == []
    assert os.listdir(store.tmp_dir) == []
    assert again.all() == [base] and store.all() == [base]
    assert sorted(p for p in os.listdir(store.dir) if p.isdigit()) == [base.id]
    assert again.cleanup() == []  # nothing more to do
    top = commit_tree(OverlaySnapshotter(again), base, step_ops)  # and the store works
    assert shape(top.diff_dir) == STEP_DIFF
    again.close()


def test_cleanup_removes_directories_no_row_names(store: SnapshotStore) -> None:
    (store.dir / "999" / "fs").mkdir(parents=True)
    (store.tmp_dir / "wt-dead").mkdir()
    assert sorted(store.cleanup()) == [str(store.dir / "999"), str(store.tmp_dir / "wt-dead")]
    assert os.listdir(store.tmp_dir) == []


def test_the_default_snapshotter_is_overlay_here(store: SnapshotStore) -> None:
    assert overlay_problem(store) is None
    assert default_snapshotter(store).name == "overlay"
    assert os.listdir(store.tmp_dir) == []


def test_sizes_count_file_bytes_once_per_inode(store: SnapshotStore) -> None:
    def build(root: Path) -> None:
        (root / "a").write_bytes(b"x" * 1000)
        os.link(root / "a", root / "b")
        (root / "d").mkdir()
        (root / "d/c").write_bytes(b"y" * 24)

    snap = commit_tree(OverlaySnapshotter(store), None, build)
    assert snap.size == 1024 and store.get(snap.id) == snap


def test_a_view_of_a_removed_snapshot_is_an_error(store: SnapshotStore) -> None:
    snap = commit_tree(OverlaySnapshotter(store), None, base_tree)
    store.remove(snap.id)
    with pytest.raises(SnapshotError, match="not in the store"):
        OverlaySnapshotter(store).view(snap).__enter__()
    with pytest.raises(SnapshotError, match="not in the store"):
        OverlaySnapshotter(store).prepare(snap)


def test_a_store_whose_path_has_commas_colons_and_spaces(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "odd, dir:name")
    snap = OverlaySnapshotter(store)
    base = commit_tree(snap, None, base_tree)
    top = commit_tree(snap, base, step_ops)
    with snap.prepare(top) as wt:
        assert is_mount_point(wt.path) and mounts_under(store.root) == [str(wt.path)]
        assert (wt.path / "etc/new").read_text() == "n\n"
    with snap.view(top) as view:
        assert sorted(os.listdir(view / "etc")) == ["group", "new"]
    store.close()
    assert mounts_under(tmp_path) == []
