"""The build context on disk: ignore-file lookup and the walker (real files)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etage.dockerfile.ignore import DockerIgnore
from etage.errors import ContextError
from etage.runtime.context import (
    ContextEntry,
    find_ignore_file,
    load_ignore,
    walk_context,
)


def make_tree(root: Path, files: dict[str, str]) -> None:
    """Create files (a name ending in "/" is an empty directory)."""
    for rel, content in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def walked(root: Path, ignore_text: str | None = None) -> list[str]:
    ignore = DockerIgnore.empty() if ignore_text is None else DockerIgnore.parse(ignore_text)
    return [entry.path for entry in walk_context(root, ignore)]


# -- which ignore file -----------------------------------------------------------------


def test_no_ignore_file(tmp_path: Path) -> None:
    assert find_ignore_file(tmp_path, None) is None
    assert load_ignore(tmp_path, None) == DockerIgnore.empty()


def test_context_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("node_modules\n")
    assert find_ignore_file(tmp_path, None) == tmp_path / ".dockerignore"
    ignore = load_ignore(tmp_path, tmp_path / "Dockerfile")
    assert ignore.source == ".dockerignore"
    assert ignore.is_excluded("node_modules/x")


def test_default_dockerfile_specific_ignore_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("b\n")
    assert find_ignore_file(tmp_path, None) == tmp_path / "Dockerfile.dockerignore"
    ignore = load_ignore(tmp_path, None)
    assert ignore.source == "Dockerfile.dockerignore"
    assert ignore.is_excluded("b")
    assert not ignore.is_excluded("a")


def test_dash_f_dockerfile_specific_ignore_next_to_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "ci").mkdir()
    dockerfile = tmp_path / "ci" / "build.Dockerfile"
    dockerfile.write_text("FROM scratch\n")
    # not next to the Dockerfile: does not count
    (tmp_path / "build.Dockerfile.dockerignore").write_text("c\n")
    assert find_ignore_file(tmp_path, dockerfile) == tmp_path / ".dockerignore"
    (tmp_path / "ci" / "build.Dockerfile.dockerignore").write_text("b\n")
    assert find_ignore_file(tmp_path, dockerfile) == dockerfile.parent / (
        "build.Dockerfile.dockerignore"
    )
    ignore = load_ignore(tmp_path, dockerfile)
    assert ignore.source == "ci/build.Dockerfile.dockerignore"
    assert [p.text for p in ignore.patterns] == ["b"]


def test_dockerfile_outside_the_context(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / ".dockerignore").write_text("a\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile.dockerignore").write_text("b\n")
    ignore = load_ignore(context, elsewhere / "Dockerfile")
    assert ignore.source == str(elsewhere / "Dockerfile.dockerignore")
    assert [p.text for p in ignore.patterns] == ["b"]


def test_empty_specific_ignore_file_still_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "Dockerfile.dockerignore").write_text("")
    assert find_ignore_file(tmp_path, None) == tmp_path / "Dockerfile.dockerignore"
    assert not load_ignore(tmp_path, None).is_excluded("a")


def test_directory_named_dockerignore_is_not_an_ignore_file(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").mkdir()
    assert find_ignore_file(tmp_path, None) is None


def test_invalid_ignore_file_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile.dockerignore").write_text("ok\n\n[oops\n")
    with pytest.raises(ContextError) as info:
        load_ignore(tmp_path, tmp_path / "app" / "Dockerfile")
    assert info.value.location is not None
    assert info.value.location.file == "app/Dockerfile.dockerignore"
    assert info.value.location.line == 3
    assert str(info.value).startswith("app/Dockerfile.dockerignore:3: ")


def test_non_utf8_pattern_matches_the_same_bytes_in_a_name(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"caf\xe9*\n")
    name = os.fsdecode(b"caf\xe9.txt")
    (tmp_path / name).write_text("x")
    (tmp_path / "cafe.txt").write_text("x")
    ignore = load_ignore(tmp_path, None)
    assert walked_with(tmp_path, ignore) == [".dockerignore", "cafe.txt"]


def walked_with(root: Path, ignore: DockerIgnore) -> list[str]:
    return [entry.path for entry in walk_context(root, ignore)]


# -- the walk --------------------------------------------------------------------------


def test_walk_order_is_depth_first_by_name(tmp_path: Path) -> None:
    make_tree(tmp_path, {"a/b": "", "a-c": "", "a.d/e": "", "B": "", "a/0/z": ""})
    assert walked(tmp_path) == ["B", "a", "a/0", "a/0/z", "a/b", "a-c", "a.d", "a.d/e"]


def test_walk_reports_kind_size_and_mode(tmp_path: Path) -> None:
    make_tree(tmp_path, {"dir/file.txt": "hello", "empty/": ""})
    os.chmod(tmp_path / "dir" / "file.txt", 0o640)
    os.symlink("dir", tmp_path / "link-to-dir")
    os.symlink("missing", tmp_path / "dangling")
    os.mkfifo(tmp_path / "fifo")
    entries = {e.path: e for e in walk_context(tmp_path, DockerIgnore.empty())}
    assert set(entries) == {
        "dangling",
        "dir",
        "dir/file.txt",
        "empty",
        "fifo",
        "link-to-dir",
    }  # the link to a directory is not followed
    assert entries["dir/file.txt"] == ContextEntry("dir/file.txt", "file", 5, 0o100640)
    assert entries["dir"].kind == "dir"
    assert stat.S_ISDIR(entries["dir"].mode)
    assert entries["dir"].size == 0
    assert entries["empty"].kind == "dir"
    assert entries["link-to-dir"].kind == "symlink"
    assert stat.S_ISLNK(entries["link-to-dir"].mode)
    assert entries["link-to-dir"].size == 0
    assert entries["dangling"].kind == "symlink"
    assert entries["fifo"].kind == "other"
    assert stat.S_ISFIFO(entries["fifo"].mode)


def test_excluded_entries_are_left_out(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            ".dockerignore": "",
            ".git/HEAD": "",
            "node_modules/a/index.js": "",
            "src/app.py": "",
            "src/app.log": "",
            "README.md": "",
            "NOTES.md": "",
        },
    )
    text = ".git\nnode_modules\n**/*.log\n*.md\n!README.md\n"
    assert walked(tmp_path, text) == [".dockerignore", "README.md", "src", "src/app.py"]


def test_reincluded_entries_bring_their_parent_directories(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        {
            "node_modules/keep/x.js": "",
            "node_modules/keep/y.js": "",
            "node_modules/other/z.js": "",
            "node_modules/zz.js": "",
            "node_modules/empty/": "",
            "src/a.py": "",
        },
    )
    text = "node_modules\n!node_modules/keep/x.js\n"
    assert walked(tmp_path, text) == [
        "node_modules",
        "node_modules/keep",
        "node_modules/keep/x.js",
        "src",
        "src/a.py",
    ]


def test_reincluded_directory_is_sent_whole(tmp_path: Path) -> None:
    make_tree(tmp_path, {"vendor/a/b/c": "", "vendor/d": "", "x": ""})
    assert walked(tmp_path, "*\n!vendor/a\n") == [
        "vendor",
        "vendor/a",
        "vendor/a/b",
        "vendor/a/b/c",
    ]


def test_excluded_directory_with_nothing_reincluded_is_not_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, {"docs/a.txt": "", "docs/sub/b.txt": "", "docs/empty/": ""})
    assert walked(tmp_path, "docs\n!docs/**/*.md\n") == []


def test_included_empty_directory_is_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, {"cache/": "", "cache2/x.tmp": ""})
    assert walked(tmp_path, "*.tmp\n**/*.tmp\n") == ["cache", "cache2"]


def test_buildkit_walker_quirk_is_reproduced(tmp_path: Path) -> None:
    # "docs" re-excluded after an exception: BuildKit's walker does not try the last
    # "docs" on docs/README.md's parent again, so README.md stays in the context.
    make_tree(tmp_path, {"docs/README.md": "", "docs/other.md": ""})
    assert walked(tmp_path, "docs\n!docs/README.md\ndocs\n") == ["docs", "docs/README.md"]


def test_symlink_to_excluded_dir_is_a_link_not_a_walk(tmp_path: Path) -> None:
    make_tree(tmp_path, {"secret/key": ""})
    os.symlink("secret", tmp_path / "alias")
    assert walked(tmp_path, "secret\n") == ["alias"]


class ScandirSpy:
    """Records the directories os.scandir reads; the real os.scandir does the work."""

    def __init__(self, real: Callable[..., Iterator[os.DirEntry[str]]]) -> None:
        self.real = real
        self.read: list[str] = []

    def __call__(self, path: str) -> Iterator[os.DirEntry[str]]:
        self.read.append(os.fspath(path))
        return self.real(path)


def test_excluded_directories_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(
        tmp_path,
        {
            "node_modules/pkg/index.js": "",
            "node_modules/pkg/README.md": "",
            "dist/keep/a": "",
            "dist/b/c": "",
            "src/a.py": "",
        },
    )
    spy = ScandirSpy(os.scandir)
    monkeypatch.setattr(os, "scandir", spy)
    text = "**/*.md\n!**/README.md\nnode_modules\ndist\n!dist/keep\n"
    assert walked(tmp_path, text) == ["dist", "dist/keep", "dist/keep/a", "src", "src/a.py"]
    read = {os.path.relpath(p, tmp_path) for p in spy.read}
    # node_modules: the only exception that could reach into it (**/README.md) comes
    # before "node_modules", so it is skipped; dist/b cannot hold dist/keep.
    assert read == {".", "dist", "dist/keep", "src"}


def test_missing_context_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="not a directory"):
        list(walk_context(tmp_path / "missing", DockerIgnore.empty()))
    (tmp_path / "file").write_text("")
    with pytest.raises(ContextError, match="not a directory"):
        list(walk_context(tmp_path / "file", DockerIgnore.empty()))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable directories")
def test_unreadable_directory(tmp_path: Path) -> None:
    make_tree(tmp_path, {"locked/x": "", "peek/y": ""})
    os.chmod(tmp_path / "locked", 0)
    os.chmod(tmp_path / "peek", 0)
    try:
        # an excluded directory that is only peeked into may be unreadable
        assert walked(tmp_path, "locked\npeek\n!peek/y\n") == []
        with pytest.raises(ContextError, match="permission denied"):
            walked(tmp_path)
    finally:
        os.chmod(tmp_path / "locked", 0o755)
        os.chmod(tmp_path / "peek", 0o755)


# -- property: pruning changes nothing -------------------------------------------------

NAMES = ["a", "b", "ab", "x.md", "README.md", "node_modules", "keep.js", ".git"]
TREE = st.lists(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join),
    min_size=1,
    max_size=25,
)
PART = st.sampled_from(
    [*NAMES, "*", "?", "**", "*.md", "README*", "[ab]", "[^a]*", "*.js", "a*", "**/b"]
)
PATTERN = st.tuples(
    st.sampled_from(["", "", "!", "/", "./"]),
    st.lists(PART, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["", "", "/", "/**", "/*"]),
).map("".join)


def brute_force(root: Path, ignore: DockerIgnore) -> list[str]:
    """Everything on disk, filtered with is_excluded, plus the parents of what is kept."""
    every: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        prefix = "" if rel == "." else rel + "/"
        every.extend(prefix + name for name in dirnames + filenames)
    kept = {path for path in every if not ignore.is_excluded(path)}
    for path in list(kept):
        parts = path.split("/")
        kept.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return sorted(kept, key=lambda p: p.split("/"))


def build(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        # a name used both as a file and as a directory: the directory wins
        for parent in reversed(path.parents):
            if parent.is_file():
                parent.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=TREE, patterns=st.lists(PATTERN, min_size=1, max_size=6))
def test_pruned_walk_equals_brute_force(files: list[str], patterns: list[str]) -> None:
    ignore = DockerIgnore.parse("\n".join(patterns))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, files)
        got = [entry.path for entry in walk_context(root, ignore)]
        assert got == brute_force(root, ignore)
