"""The content checksum of COPY/ADD sources (etage.runtime.checksum), with real files."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from etage.dockerfile.ignore import DockerIgnore
from etage.runtime.checksum import ChecksumResult, StatCache, source_checksum
from etage.runtime.copy import CopyError, CopyRequest, copy_into

ROOT = os.geteuid() == 0


def write(path: Path, data: str = "", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    write(root / "a.txt", "A")
    write(root / "dir/f", "F")
    write(root / "dir/sub/g", "G")
    (root / "dir/link").symlink_to("f")
    return root


def digest(root: Path, *sources: str, **kw: object) -> str:
    return str(source_checksum(root, sources or (".",), **kw).digest)  # type: ignore[arg-type]


def changes(ctx: Path, edit: Callable[[], object], *sources: str, **kw: object) -> bool:
    before = digest(ctx, *sources, **kw)
    edit()
    return digest(ctx, *sources, **kw) != before


def test_stable_and_counts_entries(ctx: Path) -> None:
    one = source_checksum(ctx, (".",))
    two = source_checksum(ctx, (".",))
    assert one.digest == two.digest
    assert one.files == 6  # a.txt dir dir/f dir/link dir/sub dir/sub/g
    assert one.explain[0] == "/ (matched, directory)"
    assert "/dir/f f 0644 " + one.explain[3].split()[-1] == one.explain[3]


def test_rename_changes_it(ctx: Path) -> None:
    assert changes(ctx, lambda: (ctx / "a.txt").rename(ctx / "b.txt"))


def test_directory_checksum_includes_child_names(ctx: Path) -> None:
    assert changes(ctx, lambda: (ctx / "dir/f").rename(ctx / "dir/f2"), "dir")
    assert changes(ctx, lambda: (ctx / "dir/sub").rename(ctx / "dir/sub2"), "dir")


def test_content_change_changes_it(ctx: Path) -> None:
    assert changes(ctx, lambda: write(ctx / "dir/sub/g", "G2"), "dir")


def test_chmod_changes_it(ctx: Path) -> None:
    assert changes(ctx, lambda: (ctx / "dir/f").chmod(0o755), "dir")
    assert changes(ctx, lambda: (ctx / "dir/sub").chmod(0o700), "dir")
    assert changes(ctx, lambda: (ctx / "dir/f").chmod(0o4755), "dir")


def test_top_directory_metadata_is_not_copied_so_does_not_count(ctx: Path) -> None:
    assert not changes(ctx, lambda: (ctx / "dir").chmod(0o700), "dir")


def test_symlink_retarget_changes_it(ctx: Path) -> None:
    def retarget() -> None:
        (ctx / "dir/link").unlink()
        (ctx / "dir/link").symlink_to("sub/g")

    assert changes(ctx, retarget, "dir")


def test_mtime_only_change_does_not(ctx: Path) -> None:
    def touch() -> None:
        os.utime(ctx / "dir/f", (1, 1))
        os.utime(ctx / "dir/sub", (2, 2))
        os.utime(ctx / "dir/link", (3, 3), follow_symlinks=False)

    assert not changes(ctx, touch, "dir")


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_ownership_counts_only_when_asked(ctx: Path) -> None:
    assert not changes(ctx, lambda: os.chown(ctx / "dir/f", 1234, 5678), "dir")
    assert changes(ctx, lambda: os.chown(ctx / "dir/f", 4321, 5678), "dir", include_ownership=True)
    assert changes(
        ctx,
        lambda: os.chown(ctx / "dir/link", 7, 7, follow_symlinks=False),
        "dir",
        include_ownership=True,
    )


def test_xattrs_count(ctx: Path) -> None:
    try:
        os.setxattr(ctx / "dir/f", "user.probe", b"1")
    except OSError as exc:
        pytest.skip(f"no user xattrs here: {exc}")
    assert changes(ctx, lambda: os.setxattr(ctx / "dir/f", "user.probe", b"2"), "dir")


def test_hard_link_structure_counts(tmp_path: Path) -> None:
    apart, linked = tmp_path / "apart", tmp_path / "linked"
    for root in (apart, linked):
        write(root / "d/a", "same")
    write(apart / "d/b", "same")
    os.link(linked / "d/a", linked / "d/b")
    assert digest(apart, "d") != digest(linked, "d")


def test_wildcard_covers_the_expanded_set(ctx: Path) -> None:
    assert changes(ctx, lambda: write(ctx / "b.txt", "B"), "*.txt")
    assert not changes(ctx, lambda: write(ctx / "c.md", "C"), "*.txt")
    assert changes(ctx, (ctx / "b.txt").unlink, "*.txt")


def test_wildcard_matching_nothing_still_has_a_checksum(ctx: Path) -> None:
    result = source_checksum(ctx, ("*.none",))
    assert result.files == 0
    assert changes(ctx, lambda: write(ctx / "x.none", ""), "*.none")


def test_dockerignored_files_never_count(ctx: Path) -> None:
    ignore = DockerIgnore.parse("*.log\ndir/sub\n")
    write(ctx / "x.log", "1")
    assert not changes(ctx, lambda: write(ctx / "x.log", "2"), ignore=ignore)
    assert not changes(ctx, lambda: write(ctx / "y.log", "new"), ignore=ignore)
    assert not changes(ctx, lambda: write(ctx / "dir/sub/g", "G2"), ignore=ignore)
    assert changes(ctx, lambda: write(ctx / "a.txt", "A2"), ignore=ignore)
    with pytest.raises(CopyError, match="not found"):
        source_checksum(ctx, ("x.log",), ignore=ignore)


def test_dockerignore_cannot_reach_outside_the_context(ctx: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", "O")
    ignore = DockerIgnore.parse("../outside\n!../outside\n/etc/passwd\n!/etc/passwd\n")
    assert not changes(ctx, lambda: write(outside, "O2"), ignore=ignore)
    with pytest.raises(CopyError, match='"/outside" not found'):
        source_checksum(ctx, ("../outside",), ignore=ignore)
    with pytest.raises(CopyError, match='"/etc/passwd" not found'):
        source_checksum(ctx, ("/etc/passwd",), ignore=ignore)


def test_symlinks_out_of_the_context_are_not_read(ctx: Path, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", "O")
    (ctx / "out").symlink_to(outside)
    before = digest(ctx)  # the link itself is an entry (its target text), never followed
    write(outside, "O2")
    assert digest(ctx) == before
    with pytest.raises(CopyError, match="not found"):
        source_checksum(ctx, ("out",))


def test_exclude_patterns(ctx: Path) -> None:
    write(ctx / "dir/x.png", "1")
    assert not changes(ctx, lambda: write(ctx / "dir/x.png", "2"), "dir", excludes=("*.png",))
    assert changes(ctx, lambda: write(ctx / "dir/f", "F2"), "dir", excludes=("*.png",))
    assert digest(ctx, "dir", excludes=("*.png",)) != digest(ctx, "dir")


def test_no_ambiguous_concatenation(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "ab").symlink_to("c")
    (two / "a").symlink_to("bc")
    assert digest(one) != digest(two)
    for root in (one, two):
        for name in ("ab", "c", "a", "bc"):
            if not (root / name).is_symlink():
                write(root / name, "x")
    assert digest(one, "ab", "c") != digest(one, "a", "bc")
    write(tmp_path / "three/d/ab", "")
    write(tmp_path / "four/d/a", "")
    (tmp_path / "four/d/a").unlink()
    write(tmp_path / "four/d/a/b", "")
    assert digest(tmp_path / "three", "d") != digest(tmp_path / "four", "d")


def test_sources_and_order_count(ctx: Path) -> None:
    assert digest(ctx, "a.txt", "dir") != digest(ctx, "dir", "a.txt")
    assert digest(ctx, "dir", parents=True) != digest(ctx, "dir")


def test_missing_source_and_urls_are_errors(ctx: Path) -> None:
    with pytest.raises(CopyError, match='"/missing" not found'):
        source_checksum(ctx, ("missing",))
    with pytest.raises(CopyError, match="source can't be a URL for COPY"):
        source_checksum(ctx, ("https://example.com/x",))


def test_parents(ctx: Path) -> None:
    result = source_checksum(ctx, ("dir/sub/g",), parents=True)
    assert result.explain[1:] == ["/dir d 0755 (parent)", "/dir/sub d 0755 (parent)",
                                  result.explain[3]]  # fmt: skip
    assert changes(ctx, lambda: (ctx / "dir").chmod(0o700), "dir/sub/g", parents=True)
    with pytest.raises(CopyError, match='"/dir/nope": not found'):
        source_checksum(ctx, ("dir/nope",), parents=True)


def copied_paths(root: Path) -> set[str]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(Path(dirpath, name).relative_to(root).as_posix())
    return out


@pytest.mark.parametrize(
    ("sources", "kw"),
    [
        (("dir",), {}),
        (("a.txt", "dir"), {}),
        (("*",), {"excludes": ("sub/*", "!sub/g")}),
        (("dir",), {"excludes": ("sub", "!sub/g")}),
        (("dir/sub/g", "a.txt"), {"parents": True}),
    ],
)
def test_covers_exactly_what_the_copy_writes(
    ctx: Path, tmp_path: Path, sources: tuple[str, ...], kw: dict[str, object]
) -> None:
    write(ctx / "dir/sub/h", "H")
    dest = tmp_path / "dest"
    dest.mkdir()
    copy_into(CopyRequest(sources, "/", **kw), ctx, dest)  # type: ignore[arg-type]
    result = source_checksum(ctx, sources, **kw)  # type: ignore[arg-type]
    covered = set()
    match = ""
    for line in result.explain:
        path = line.split()[0]
        if line.endswith("(matched, directory)") or line.endswith("(matched, not a directory)"):
            match = path.rstrip("/")
            continue
        if kw.get("parents"):
            covered.add(path.lstrip("/"))
        elif path == match:  # a file source: copied under its own name
            covered.add(path.rsplit("/", 1)[-1])
        else:  # a directory source: its contents
            covered.add(path[len(match) + 1 :])
    assert len(covered) == result.files
    assert covered == copied_paths(dest)


# -- the stat cache ------------------------------------------------------------------------


def run(ctx: Path, cache: StatCache, **kw: object) -> ChecksumResult:
    return source_checksum(ctx, (".",), cache=cache, **kw)  # type: ignore[arg-type]


def test_stat_cache_avoids_rereading(ctx: Path) -> None:
    cache = StatCache(racy_ns=0)
    first = run(ctx, cache)
    assert (first.hashed_files, first.hashed_bytes, first.cache_hits) == (3, 3, 0)
    again = run(ctx, cache)
    assert (again.hashed_files, again.hashed_bytes, again.cache_hits) == (0, 0, 3)
    assert again.digest == first.digest
    write(ctx / "dir/f", "F2")
    after = run(ctx, cache)
    assert (after.hashed_files, after.hashed_bytes, after.cache_hits) == (1, 2, 2)
    assert after.digest == source_checksum(ctx, (".",)).digest != first.digest


def test_stat_cache_persists_in_sqlite(ctx: Path, tmp_path: Path) -> None:
    db = tmp_path / "cache/stat.db"
    with StatCache(db, racy_ns=0) as cache:
        first = run(ctx, cache)
    with StatCache(db, racy_ns=0) as cache:
        again = run(ctx, cache)
    assert again.cache_hits == 3 and again.hashed_bytes == 0
    assert again.digest == first.digest


def test_stat_cache_does_not_keep_racily_changed_files(ctx: Path) -> None:
    cache = StatCache()  # the default: files changed in the last 2 s are not kept
    run(ctx, cache)
    assert run(ctx, cache).hashed_files == 3


def test_stat_cache_notices_a_same_size_rewrite(ctx: Path) -> None:
    cache = StatCache(racy_ns=0)
    run(ctx, cache)
    st = (ctx / "a.txt").stat()
    write(ctx / "a.txt", "Z")  # same size; ctime moves even if mtime is put back
    os.utime(ctx / "a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    result = run(ctx, cache)
    assert result.hashed_files == 1
    assert result.digest == source_checksum(ctx, (".",)).digest


def test_stat_cache_survives_a_damaged_database(ctx: Path, tmp_path: Path) -> None:
    db = tmp_path / "stat.db"
    db.write_bytes(b"this is not a sqlite database" * 100)
    with StatCache(db, racy_ns=0) as cache:
        run(ctx, cache)
    with StatCache(db, racy_ns=0) as cache:
        assert run(ctx, cache).cache_hits == 3
    assert (tmp_path / "stat.db.damaged").exists()


def test_stat_cache_is_thread_safe(ctx: Path, tmp_path: Path) -> None:
    for i in range(200):
        write(ctx / f"many/f{i:03d}", str(i))
    expected = source_checksum(ctx, (".",)).digest
    results: list[object] = []
    with StatCache(tmp_path / "stat.db", racy_ns=0) as cache:

        def worker() -> None:
            for _ in range(3):
                results.append(run(ctx, cache).digest)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [expected] * 12


def test_checksum_follows_source_moves(ctx: Path, tmp_path: Path) -> None:
    cache = StatCache(racy_ns=0)
    first = run(ctx, cache)
    moved = tmp_path / "moved"
    shutil.copytree(ctx, moved, symlinks=True)
    result = source_checksum(moved, (".",), cache=cache)
    assert result.digest == first.digest  # same content, another place
    assert result.hashed_files == 3  # the cache is keyed by path: nothing wrongly reused
