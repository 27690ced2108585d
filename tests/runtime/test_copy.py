"""COPY and ADD semantics (etage.runtime.copy), with real files.

Cases run through a real BuildKit (Docker 20.10.24's embedded BuildKit, `DOCKER_BUILDKIT=1
docker build -o type=tar`, the tar compared entry by entry with etage's tree: type, mode,
owner, content or link target) and found identical:

* several sources, and a wildcard with several matches, to a dest without a trailing "/":
  no error, each copied in turn, the last file wins (`COPY a.txt b.txt /x` -> /x = b.txt);
* a wildcard matching nothing: no error, nothing created (not even the dest directory);
* a missing source: `"/missing" not found: not found`;
* a directory source copies its contents; to a new dest (with or without "/") the dest
  directory is created 0755 whatever the source directory's mode;
* `../../a.txt` is `/a.txt` of the context;
* a symlink named as the source (or matched by a wildcard) is followed inside the
  context: a link to a directory copies its contents, a relative link to a file copies
  the file under the link's name; a link to /etc/passwd looks for the context's
  /etc/passwd (`"/etc/passwd" not found`); symlinks inside a copied directory stay links;
* `d*/x/f.txt` matches per component; `**/x` is `*/x` (`**/f.txt` does not match
  `d1/x/f.txt`); matched directories are merged into the dest in lexical order;
* .dockerignore: ignored files are absent from `COPY .`, an ignored file named as a
  source is "not found", a symlink to an ignored file is "not found", an ignored
  directory with a `!` exception exists with only the re-included entries (named or
  matched by a wildcard), a fully ignored directory matched by a wildcard is not there;
* relative dests are relative to WORKDIR (`rel/`, `.`, `./x/../y`);
* file into an existing directory without "/" goes inside it; a directory onto a file,
  a file onto a directory inside the tree, a symlink onto a directory, a directory onto
  a symlink to a directory: the errors below;
* the top dest directory, when it exists, keeps its mode and owner; existing
  subdirectories take the source's mode and owner;
* dest paths through symlinks of the image: a link to a directory is followed, a dangling
  link creates its target, a link to a file has its target replaced;
* context files are 0:0 whatever their owner; setuid bits and user xattrs kept; hard links
  within a copied directory kept; file mtimes kept;
* --chown: "app" -> passwd uid and primary gid, "1500" -> 1500:1500 (gid = uid even if
  the passwd entry has another group), "svc:staff", "4242:4343" without entries, an unknown
  user -> 0:0, an unknown group keeps the user's gid, ":staff" -> 0:gid, "app:" -> uid:0;
  created parent directories get the --chown owner;
* ADD of local tars, gzip/bzip2/xz (also without an extension): extracted into dest (a
  directory even without "/"), `../../x` and `/abs/x` land inside dest, existing files
  replaced, implied parents 0755 root, `.wh.*` kept as files, modes and owners from the
  archive, --chmod ignored; a file starting with a gzip magic that is not a tar and an
  empty file are copied as files; COPY never extracts; ADD onto an existing file fails;
* ADD of a URL: named after the URL path (`__unnamed__` for "/"), mode 0600, mtime from
  Last-Modified (0 without), a 404 is "invalid response status 404".

Where BuildKit 20.10 differs from current BuildKit (fsutil, dockerfile2llb), etage follows
current BuildKit's source:

* octal --chmod: current BuildKit sets exactly the given bits (setuid included) and also
  gives them to the parent directories it creates; 20.10 kept the source's special bits
  (`--chmod=640` on a 4751 file gave 4640), dropped the given ones (4711 gave 0711) and
  created parents 0755;
* ADD --chown of a tar: current BuildKit chowns every extracted entry, 20.10 only the
  dest directory;
* ADD --chmod of a URL: applied by current BuildKit, ignored by 20.10;
* directory mtimes: current fsutil keeps them (20.10's context transfer did not);
* fifos in the build context: transferred and copied by current BuildKit, dropped by 20.10;
* symbolic --chmod, --exclude, --parents, --link and ADD --checksum/--unpack do not exist
  in 20.10: their semantics come from the current source (and fsutil's own tests for
  symbolic modes).

Deliberate differences: a block device is copied as a block device (fsutil's mknod turns
it into a character device, a bug); `COPY --link --chown=name` resolves the name in
`user_root` (current BuildKit rejects it: "invalid user index: -1").
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import http.server
import io
import lzma
import os
import socket
import stat
import tarfile
import threading
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import ClassVar

import pytest

from etage.dockerfile.ignore import DockerIgnore
from etage.runtime.copy import (
    CopyError,
    CopyRequest,
    CopyResult,
    copy_into,
    normalize_dest,
    resolve_chown,
)
from etage.runtime.copy_chmod import ChmodError, parse_chmod
from etage.runtime.copy_match import go_match, split_wildcards

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (chown, mknod)")


# -- helpers --------------------------------------------------------------------------


def write(path: Path, data: str | bytes = "", mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """rel path -> (kind, mode, content or link target)."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", oct(mode))
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("f", oct(mode), path.read_bytes())
            else:
                out[rel] = ("other", oct(st.st_mode))
    return out


def owner(path: Path) -> tuple[int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    root = tmp_path / "dest"
    root.mkdir()
    return root


def copy(
    ctx: Path, dest: Path, *sources: str, to: str, ignore: DockerIgnore | None = None, **kw: object
) -> CopyResult:
    return copy_into(CopyRequest(sources, to, **kw), ctx, dest, ignore=ignore)  # type: ignore[arg-type]


# -- sources and destinations -----------------------------------------------------------


def test_directory_source_copies_its_contents(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    write(ctx / "dir/sub/g", "G")
    copy(ctx, dest, "dir", to="/app/")
    assert set(tree(dest)) == {"app", "app/f", "app/sub", "app/sub/g"}


def test_directory_to_new_dest_without_slash_is_created_0755(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    (ctx / "dir").chmod(0o700)
    copy(ctx, dest, "dir", to="/newdir")
    assert tree(dest)["newdir"] == ("d", "0o755")
    assert (dest / "newdir/f").read_text() == "F"


def test_several_sources_without_trailing_slash_last_wins(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    write(ctx / "b.txt", "B")
    copy(ctx, dest, "a.txt", "b.txt", to="/x")
    assert tree(dest) == {"x": ("f", "0o644", b"B")}
    copy(ctx, dest, "*.txt", to="/y")
    assert (dest / "y").read_text() == "B"


def test_dest_with_slash_is_a_directory_without_is_the_file_name(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    copy(ctx, dest, "a.txt", to="/d/")
    copy(ctx, dest, "a.txt", to="/n/name")
    copy(ctx, dest, "a.txt", to="/n/dot/.")
    assert (dest / "d/a.txt").read_text() == "A"
    assert (dest / "n/name").read_text() == "A"
    assert (dest / "n/dot/a.txt").read_text() == "A"


def test_file_onto_existing_directory_without_slash_goes_inside(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    (dest / "d").mkdir()
    copy(ctx, dest, "a.txt", to="/d")
    assert (dest / "d/a.txt").read_text() == "A"


def test_relative_dest_is_relative_to_workdir(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    for to in ("rel/", ".", "./x/../y"):
        copy(ctx, dest, "a.txt", to=to, workdir="/w")
    assert set(tree(dest)) == {"w", "w/a.txt", "w/rel", "w/rel/a.txt", "w/y"}


@pytest.mark.parametrize(
    ("dest", "workdir", "expected"),
    [
        ("/x", "/", "/x"),
        ("/x/", "/", "/x/"),
        ("x", "/w", "/w/x"),
        (".", "/w", "/w/"),
        ("", "/w", "/w/"),
        ("./", "/", "/"),
        ("/x/.", "/", "/x/."),
        ("/.", "/", "/."),
        ("../../x", "/w", "/x"),
        ("a//b/../c/", "/w/", "/w/a/c/"),
    ],
)
def test_normalize_dest(dest: str, workdir: str, expected: str) -> None:
    assert normalize_dest(dest, workdir) == expected


def test_missing_parents_are_created_0755(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    result = copy(ctx, dest, "a.txt", to="/p1/p2/")
    assert tree(dest)["p1"] == ("d", "0o755")
    assert tree(dest)["p1/p2"] == ("d", "0o755")
    assert result.paths == ("/p1", "/p1/p2", "/p1/p2/a.txt")
    assert (result.files, result.dirs, result.bytes) == (1, 2, 1)


def test_source_outside_the_context_is_cleaned_inside(
    ctx: Path, dest: Path, tmp_path: Path
) -> None:
    write(tmp_path / "a.txt", "outside")
    write(ctx / "a.txt", "inside")
    copy(ctx, dest, "../../a.txt", to="/p/")
    assert (dest / "p/a.txt").read_text() == "inside"


def test_missing_source_is_not_found(ctx: Path, dest: Path) -> None:
    with pytest.raises(CopyError, match=r'"/missing" not found: not found'):
        copy(ctx, dest, "missing", to="/x/")


# -- wildcards --------------------------------------------------------------------------


def test_wildcard_matching_nothing_is_no_error_and_creates_nothing(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    result = copy(ctx, dest, "nomatch*", to="/x/")
    assert tree(dest) == {}
    assert result.matched == ()


def test_wildcards_match_one_component_and_doublestar_is_a_star(ctx: Path, dest: Path) -> None:
    write(ctx / "d1/x/f.txt", "1")
    write(ctx / "d2/x/f.txt", "2")
    write(ctx / "top.txt", "T")
    result = copy(ctx, dest, "d*/x/f.txt", to="/w/")
    assert result.matched == ("/d1/x/f.txt", "/d2/x/f.txt")
    assert (dest / "w/f.txt").read_text() == "2"  # lexical order: d2 last
    assert copy(ctx, dest, "**/f.txt", to="/v/").matched == ()
    assert copy(ctx, dest, "**/x", to="/u/").matched == ("/d1/x", "/d2/x")
    assert copy(ctx, dest, "*", to="/all/").matched == ("/d1", "/d2", "/top.txt")


def test_wildcard_adds_new_matches(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    write(ctx / "b.md", "B")
    assert copy(ctx, dest, "?.txt", to="/x/").matched == ("/a.txt",)
    assert copy(ctx, dest, "[ab].*", to="/y/").matched == ("/a.txt", "/b.md")
    assert copy(ctx, dest, "[^a].*", to="/z/").matched == ("/b.md",)


def test_wildcard_under_a_missing_directory_fails(ctx: Path, dest: Path) -> None:
    with pytest.raises(CopyError, match="lstat /nodir: no such file or directory"):
        copy(ctx, dest, "nodir/*.txt", to="/x/")


def test_bad_pattern_is_an_error(ctx: Path, dest: Path) -> None:
    write(ctx / "a", "A")
    with pytest.raises(CopyError, match="syntax error in pattern"):
        copy(ctx, dest, "[a", to="/x/")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("*", "abc", True),
        ("*", "a/b", False),
        ("**", "a/b", False),
        ("**/x", "a/x", True),
        ("**/x", "a/b/x", False),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("a[/]b", "a/b", True),  # Go: a class may match the separator
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("[z-a]", "m", False),  # an inverted range matches nothing
        ("*.txt", ".txt", True),
    ],
)
def test_go_match(pattern: str, name: str, expected: bool) -> None:
    assert go_match(pattern, name) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b*/c", ("/a", "b*/c")),
        ("/a/b", ("/a/b", "")),
        ("/*.txt", ("/", "*.txt")),
        ("/a/\\*b/c*", ("/a/\\*b", "c*")),
    ],
)
def test_split_wildcards(path: str, expected: tuple[str, str]) -> None:
    assert split_wildcards(path) == expected


# -- symlinks: sources stay inside the source root ---------------------------------------


def test_named_symlink_is_followed_inside_the_root(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    write(ctx / "a.txt", "A", 0o640)
    (ctx / "dir/rel_link").symlink_to("../a.txt")
    (ctx / "dir_link").symlink_to("dir")
    copy(ctx, dest, "dir/rel_link", to="/m/")
    assert tree(dest)["m/rel_link"] == ("f", "0o640", b"A")
    copy(ctx, dest, "dir_link", to="/n/")
    assert tree(dest)["n/f"] == ("f", "0o644", b"F")
    assert tree(dest)["n/rel_link"] == ("l", "../a.txt")  # below the source: kept as a link
    copy(ctx, dest, "dir_lin*", to="/o/")  # a wildcard match is followed too
    assert "o/f" in tree(dest)


def test_absolute_symlink_never_reads_the_host(ctx: Path, dest: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.txt", "host secret")
    (ctx / "abs").symlink_to(secret)
    (ctx / "up").symlink_to("../../../../../../" + str(secret))
    (ctx / "hostetc").symlink_to("/etc")
    for source in ("abs", "up", "hostetc/passwd", "hostetc"):
        with pytest.raises(CopyError, match="not found"):
            copy(ctx, dest, source, to="/x/")
    # an absolute target means the root's own path
    write(ctx / str(secret).lstrip("/"), "inside")
    copy(ctx, dest, "abs", to="/y/")
    assert (dest / "y/abs").read_text() == "inside"


def test_symlink_loop_is_an_error(ctx: Path, dest: Path) -> None:
    (ctx / "a").symlink_to("b")
    (ctx / "b").symlink_to("a")
    with pytest.raises(CopyError, match="too many levels of symbolic links"):
        copy(ctx, dest, "a", to="/x/")


# -- the destination: resolved inside the root, never out of it ----------------------------


def test_dest_symlinks_are_followed_inside_the_root(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    (dest / "real").mkdir()
    (dest / "lnk").symlink_to("/real")
    (dest / "dangling").symlink_to("/nonexist/deep")
    write(dest / "real/oldfile", "old")
    (dest / "flink").symlink_to("/real/oldfile")
    copy(ctx, dest, "a.txt", to="/lnk/")
    copy(ctx, dest, "a.txt", to="/dangling")
    copy(ctx, dest, "a.txt", to="/flink")
    assert (dest / "real/a.txt").read_text() == "A"
    assert (dest / "nonexist/deep").read_text() == "A"
    assert os.readlink(dest / "flink") == "/real/oldfile"
    assert (dest / "real/oldfile").read_text() == "A"


def test_dest_symlink_to_host_directory_stays_inside(ctx: Path, dest: Path, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    write(ctx / "a.txt", "A")
    write(ctx / "dir/f", "F")
    (dest / "out").symlink_to(host)  # absolute host path: means dest_root + that path
    (dest / "up").symlink_to("../../../../../../../../" + str(host))
    copy(ctx, dest, "a.txt", to="/out/")
    copy(ctx, dest, "dir", to="/up/x/")
    assert list(host.iterdir()) == []
    assert (dest / str(host).lstrip("/") / "a.txt").read_text() == "A"
    assert (dest / str(host).lstrip("/") / "x/f").read_text() == "F"


def test_symlink_inside_the_dest_tree_is_never_written_through(
    ctx: Path, dest: Path, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    write(ctx / "dir/sub/g", "G")
    (dest / "t").mkdir()
    (dest / "t/sub").symlink_to(host)
    with pytest.raises(CopyError, match="cannot copy to non-directory: /t/sub"):
        copy(ctx, dest, "dir", to="/t/")
    assert list(host.iterdir()) == []


def test_conflicts_between_files_and_directories(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    (ctx / "dir/lnk").symlink_to("f")
    write(ctx / "dir/sub/g", "G")
    write(dest / "isfile", "x")
    with pytest.raises(CopyError, match="cannot copy to non-directory: /isfile"):
        copy(ctx, dest, "dir", to="/isfile")
    (dest / "t1/f").mkdir(parents=True)
    with pytest.raises(CopyError, match="cannot replace to directory /t1/f with file"):
        copy(ctx, dest, "dir", to="/t1/")
    write(dest / "t2/sub", "x")
    with pytest.raises(CopyError, match="cannot copy to non-directory: /t2/sub"):
        copy(ctx, dest, "dir", to="/t2/")
    (dest / "t3/lnk").mkdir(parents=True)
    with pytest.raises(CopyError, match="cannot replace to directory /t3/lnk with file"):
        copy(ctx, dest, "dir", to="/t3/")
    with pytest.raises(CopyError, match='"/isfile/x": not a directory'):
        copy(ctx, dest, "dir/f", to="/isfile/x/")


def test_files_and_symlinks_replace_what_is_there(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "new")
    (ctx / "dir/l").symlink_to("f")
    write(dest / "t/f", "old")
    (dest / "t/l").symlink_to("/elsewhere")
    copy(ctx, dest, "dir", to="/t/")
    assert (dest / "t/f").read_text() == "new"
    assert os.readlink(dest / "t/l") == "f"


@needs_root
def test_existing_dest_directories_metadata(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/sub/g", "G")
    (ctx / "dir/sub").chmod(0o750)
    (dest / "e/sub").mkdir(parents=True)
    (dest / "e").chmod(0o700)
    (dest / "e/sub").chmod(0o777)
    os.chown(dest / "e", 7, 7)
    os.chown(dest / "e/sub", 7, 7)
    copy(ctx, dest, "dir", to="/e/")
    assert tree(dest)["e"] == ("d", "0o700") and owner(dest / "e") == (7, 7)
    assert tree(dest)["e/sub"] == ("d", "0o750") and owner(dest / "e/sub") == (0, 0)


# -- metadata -----------------------------------------------------------------------------


def test_modes_mtimes_and_special_bits_are_kept(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F", 0o4751)
    (ctx / "dir/l").symlink_to("f")
    (ctx / "dir/sub").mkdir()
    (ctx / "dir/sub").chmod(0o750)
    os.utime(ctx / "dir/f", ns=(1, 1_000_000_000_123_456_789))
    os.utime(ctx / "dir/l", ns=(1, 1_100_000_000_000_000_000), follow_symlinks=False)
    os.utime(ctx / "dir/sub", ns=(1, 1_200_000_000_000_000_000))
    os.utime(ctx / "dir", ns=(1, 1_300_000_000_000_000_000))
    copy(ctx, dest, "dir", to="/c/")
    assert tree(dest)["c/f"][1] == "0o4751"
    assert tree(dest)["c/sub"] == ("d", "0o750")
    assert (dest / "c/f").stat().st_mtime_ns == 1_000_000_000_123_456_789
    assert (dest / "c/l").lstat().st_mtime_ns == 1_100_000_000_000_000_000
    assert (dest / "c/sub").stat().st_mtime_ns == 1_200_000_000_000_000_000
    # the top dest directory takes the source directory's times (fsutil)
    assert (dest / "c").stat().st_mtime_ns == 1_300_000_000_000_000_000


@needs_root
def test_context_files_are_owned_by_root_stage_files_keep_owners(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    os.chown(ctx / "dir/f", 1234, 5678)
    (ctx / "dir/l").symlink_to("f")
    os.chown(ctx / "dir/l", 1234, 5678, follow_symlinks=False)
    copy(ctx, dest, "dir", to="/ctx/")
    assert owner(dest / "ctx/f") == (0, 0)
    assert owner(dest / "ctx/l") == (0, 0)
    copy(ctx, dest, "dir", to="/stage/", from_context=False)
    assert owner(dest / "stage/f") == (1234, 5678)
    assert owner(dest / "stage/l") == (1234, 5678)


def test_xattrs_are_copied(ctx: Path, dest: Path) -> None:
    f = write(ctx / "dir/f", "F")
    try:
        os.setxattr(f, "user.foo", b"bar")
        os.setxattr(ctx / "dir", "user.dir", b"d")
    except OSError as exc:
        pytest.skip(f"no user xattrs here: {exc}")
    copy(ctx, dest, "dir", to="/c/")
    copy(ctx, dest, "dir/f", to="/single")
    assert os.getxattr(dest / "c/f", "user.foo") == b"bar"
    assert os.getxattr(dest / "single", "user.foo") == b"bar"


def test_hard_links_are_kept_within_a_source(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    os.link(ctx / "dir/f", ctx / "dir/sub_hard")
    (ctx / "dir/sub").mkdir()
    os.link(ctx / "dir/f", ctx / "dir/sub/g")
    result = copy(ctx, dest, "dir", to="/c/")
    assert (dest / "c/f").stat().st_ino == (dest / "c/sub/g").stat().st_ino
    assert (dest / "c/f").stat().st_ino == (dest / "c/sub_hard").stat().st_ino
    assert (result.files, result.hardlinks) == (1, 2)
    copy(ctx, dest, "dir/f", "dir/sub/g", to="/two/")  # separate sources: separate files
    assert (dest / "two/f").stat().st_ino != (dest / "two/g").stat().st_ino


def test_fifos_and_sockets(ctx: Path, dest: Path) -> None:
    (ctx / "dir").mkdir()
    os.mkfifo(ctx / "dir/fifo", 0o640)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(ctx / "dir/sock"))
        result = copy(ctx, dest, "dir", to="/c/")
    assert stat.S_ISFIFO((dest / "c/fifo").lstat().st_mode)
    assert tree(dest)["c/fifo"][1] == oct(stat.S_IFIFO | 0o640)
    assert stat.S_ISREG((dest / "c/sock").lstat().st_mode)  # fsutil: a stub file
    assert result.specials == 2


@needs_root
def test_devices_are_recreated(ctx: Path, dest: Path) -> None:
    (ctx / "dev").mkdir()
    try:
        os.mknod(ctx / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(ctx / "dev/blk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except PermissionError:
        pytest.skip("mknod not permitted here")
    copy(ctx, dest, "dev", to="/dev/", from_context=False)
    st = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK((dest / "dev/blk").lstat().st_mode)


# -- --chown -------------------------------------------------------------------------------


@pytest.fixture
def users_root(tmp_path: Path) -> Path:
    root = tmp_path / "users"
    write(
        root / "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
        "svc:x:1500:2500::/:/bin/sh\n",
    )
    write(root / "etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:\nsvcg:x:2500:\n")
    return root


@pytest.mark.parametrize(
    ("spec", "ids"),
    [
        ("app", (1000, 1000)),
        ("svc", (1500, 2500)),
        ("1500", (1500, 1500)),
        ("svc:staff", (1500, 50)),
        ("4242:4343", (4242, 4343)),
        ("nosuch", (0, 0)),
        ("app:nosuchgroup", (1000, 1000)),
        (":staff", (0, 50)),
        ("app:", (1000, 0)),
        ("root", (0, 0)),
        ("root:svcg", (0, 2500)),
        ("+7", (7, 7)),
    ],
)
def test_resolve_chown(users_root: Path, spec: str, ids: tuple[int, int]) -> None:
    assert resolve_chown(spec, users_root) == ids


def test_resolve_chown_without_passwd_file(tmp_path: Path) -> None:
    assert resolve_chown("app:staff", tmp_path) == (0, 0)
    with pytest.raises(CopyError, match="invalid --chown id -1"):
        resolve_chown("-1", tmp_path)


def test_chown_names_are_looked_up_in_the_destination(
    ctx: Path, dest: Path, users_root: Path
) -> None:
    write(dest / "etc/passwd", "svc:x:1500:2500::/:/bin/sh\n")
    assert resolve_chown("svc", dest) == (1500, 2500)
    assert resolve_chown("app", dest) == (0, 0)  # not the context's or the host's users


@needs_root
def test_chown_applies_to_copied_entries_and_created_parents(
    ctx: Path, dest: Path, users_root: Path
) -> None:
    write(ctx / "dir/f", "F")
    (ctx / "dir/l").symlink_to("f")
    (dest / "existing").mkdir()
    copy_into(
        CopyRequest(("dir",), "/existing/p1/p2/", chown="svc:staff"),
        ctx,
        dest,
        user_root=users_root,
    )
    for rel in ("existing/p1", "existing/p1/p2", "existing/p1/p2/f", "existing/p1/p2/l"):
        assert owner(dest / rel) == (1500, 50), rel
    assert owner(dest / "existing") == (0, 0)


# -- --chmod -------------------------------------------------------------------------------


# fsutil's TestCopyModeTextFormat: file 0644, executable 0755, dir 0750, restricted dir 0700
@pytest.mark.parametrize(
    ("spec", "file", "exe", "dir_", "restricted"),
    [
        ("go-w", 0o644, 0o755, 0o750, 0o700),
        ("u+x", 0o744, 0o755, 0o750, 0o700),
        ("g-rwx", 0o604, 0o705, 0o700, 0o700),
        ("o+r", 0o644, 0o755, 0o754, 0o704),
        ("a-x", 0o644, 0o644, 0o640, 0o600),
        ("o-rwx,g+x", 0o650, 0o750, 0o750, 0o710),
        ("a+X", 0o644, 0o755, 0o751, 0o711),
        ("u=rwX,go=rX", 0o644, 0o755, 0o755, 0o755),
        ("u=rX,go=r", 0o444, 0o544, 0o544, 0o544),
        ("u-x,u+w", 0o644, 0o655, 0o650, 0o600),
        ("u+x,o+x", 0o745, 0o755, 0o751, 0o701),
        ("g+rw,o+rw", 0o666, 0o777, 0o776, 0o766),
        ("a=r", 0o444, 0o444, 0o444, 0o444),
        ("u=rwx,g=,o=", 0o700, 0o700, 0o700, 0o700),
        ("o-rwx", 0o640, 0o750, 0o750, 0o700),
        ("g-r,a+x", 0o715, 0o715, 0o711, 0o711),
        ("u+rw,g+r,o-x,o+w", 0o646, 0o756, 0o752, 0o742),
    ],
)
def test_symbolic_chmod(spec: str, file: int, exe: int, dir_: int, restricted: int) -> None:
    mode = parse_chmod(spec)
    assert mode.apply(stat.S_IFREG | 0o644) == file
    assert mode.apply(stat.S_IFREG | 0o755) == exe
    assert mode.apply(stat.S_IFDIR | 0o750) == dir_
    assert mode.apply(stat.S_IFDIR | 0o700) == restricted


@pytest.mark.parametrize(
    ("spec", "before", "after"),
    [
        ("g=u", 0o740, 0o770),
        ("go=u-w", 0o754, 0o755 & ~0o022),
        ("+t", 0o755, 0o1755),
        ("u+s", 0o755, 0o4755),
        ("o+s", 0o755, 0o755),  # set-id is ignored for "other"
        ("=r", 0o4755, 0o444),
        ("u-X", 0o755, 0o655),  # under "-", X is x
        ("+x,-x", 0o644, 0o644),
    ],
)
def test_symbolic_chmod_more(spec: str, before: int, after: int) -> None:
    assert parse_chmod(spec).apply(stat.S_IFREG | before) == after


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8", "invalid chmod parameter: '8'"),
        ("10000", "invalid chmod parameter: '10000'"),
        ("0x1", "invalid chmod parameter"),
        ("u", "invalid syntax"),
        ("z+x", "invalid syntax"),
        ("u+x,", "invalid syntax"),
        ("u!x", "invalid syntax"),
    ],
)
def test_chmod_errors(text: str, message: str) -> None:
    with pytest.raises(ChmodError, match=message):
        parse_chmod(text)


def test_octal_chmod_applies_to_files_dirs_and_created_parents(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F", 0o4751)
    (ctx / "dir/sub").mkdir()
    (ctx / "dir/l").symlink_to("f")
    copy(ctx, dest, "dir", to="/c1/c2/", chmod="640")
    t = tree(dest)
    assert t["c1"] == ("d", "0o640") and t["c1/c2"] == ("d", "0o640")  # current BuildKit
    assert t["c1/c2/f"][1] == "0o640"  # exactly the given bits, setuid dropped
    assert t["c1/c2/sub"] == ("d", "0o640")
    copy(ctx, dest, "dir/f", to="/s", chmod="4711")
    assert tree(dest)["s"][1] == "0o4711"


def test_symbolic_chmod_on_a_copy(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F", 0o600)
    write(ctx / "dir/x", "X", 0o700)
    (ctx / "dir/sub").mkdir(mode=0o700)
    copy(ctx, dest, "dir", to="/a/b/", chmod="u=rwX,go=rX")
    t = tree(dest)
    assert (t["a/b/f"][1], t["a/b/x"][1], t["a/b/sub"]) == ("0o644", "0o755", ("d", "0o755"))
    assert t["a"] == ("d", "0o755")  # parents: 0755 with a symbolic mode


def test_chmod_validation_in_copy(ctx: Path, dest: Path) -> None:
    write(ctx / "a", "A")
    with pytest.raises(CopyError, match="invalid chmod parameter: '9'"):
        copy(ctx, dest, "a", to="/x", chmod="9")


# -- .dockerignore ----------------------------------------------------------------------


@pytest.fixture
def ignored_ctx(ctx: Path) -> tuple[Path, DockerIgnore]:
    write(ctx / "a.txt", "A")
    write(ctx / "b.log", "L")
    write(ctx / "dir/f.log", "FL")
    write(ctx / "secret/keep", "K")
    write(ctx / "secret/s", "S")
    write(ctx / "hidden/deep/x", "X")
    (ctx / "to_secret").symlink_to("secret/s")
    (ctx / "hidden_link").symlink_to("dir")
    text = "*.log\nsecret\n!secret/keep\nhidden\nhidden_link\n"
    write(ctx / ".dockerignore", text)
    return ctx, DockerIgnore.parse(text)


def test_ignored_files_do_not_exist(ignored_ctx: tuple[Path, DockerIgnore], dest: Path) -> None:
    ctx, ignore = ignored_ctx
    copy(ctx, dest, ".", to="/c/", ignore=ignore)
    assert set(tree(dest)) == {
        "c",
        "c/.dockerignore",
        "c/a.txt",
        "c/dir",
        "c/dir/f.log",  # "*.log" is top-level only
        "c/secret",
        "c/secret/keep",
        "c/to_secret",
    }
    for source in ("b.log", "to_secret", "hidden", "hidden/deep/x", "hidden_link/f.log"):
        with pytest.raises(CopyError, match="not found"):
            copy(ctx, dest, source, to="/x/", ignore=ignore)


def test_partially_ignored_directory(ignored_ctx: tuple[Path, DockerIgnore], dest: Path) -> None:
    ctx, ignore = ignored_ctx
    copy(ctx, dest, "secret", to="/z/", ignore=ignore)
    copy(ctx, dest, "sec*", to="/w/", ignore=ignore)
    assert copy(ctx, dest, "hid*", to="/h/", ignore=ignore).matched == ()
    assert set(tree(dest)) == {"z", "z/keep", "w", "w/keep"}


def test_dockerignore_patterns_cannot_reach_outside(ctx: Path, dest: Path, tmp_path: Path) -> None:
    write(tmp_path / "outside", "O")
    write(ctx / "a.txt", "A")
    ignore = DockerIgnore.parse("../outside\n/etc/passwd\n!../../x\n")
    copy(ctx, dest, ".", to="/c/", ignore=ignore)
    assert set(tree(dest)) == {"c", "c/a.txt"}


# -- --exclude ----------------------------------------------------------------------------


def test_exclude_patterns_apply_below_each_source(ctx: Path, dest: Path) -> None:
    write(ctx / "dir1/a.png", "1")
    write(ctx / "dir1/b.txt", "2")
    write(ctx / "dir2/c.png", "3")
    write(ctx / "dir2/sub/d.png", "4")
    write(ctx / "e.png", "5")
    copy(ctx, dest, ".", to="/1/", excludes=("*/*.png",))
    assert set(tree(dest)) == {"1", "1/dir1", "1/dir1/b.txt", "1/dir2", "1/dir2/sub",
                               "1/dir2/sub/d.png", "1/e.png"}  # fmt: skip
    copy(ctx, dest, "dir*", to="/2/", excludes=("*.png",))  # relative to dir1, dir2
    assert {k for k in tree(dest) if k.startswith("2")} == {"2", "2/b.txt", "2/sub", "2/sub/d.png"}
    copy(ctx, dest, "e.png", to="/3/", excludes=("*.png",))  # the source itself is kept
    assert (dest / "3/e.png").exists()


def test_exclude_with_exception_creates_only_needed_parents(ctx: Path, dest: Path) -> None:
    write(ctx / "src/keep/k.txt", "K")
    write(ctx / "src/drop/d.txt", "D")
    write(ctx / "src/x.txt", "X")
    (ctx / "src/keep").chmod(0o711)
    copy(ctx, dest, ".", to="/c/", excludes=("src", "!src/keep/k.txt"))
    assert set(tree(dest)) == {"c", "c/src", "c/src/keep", "c/src/keep/k.txt"}
    assert tree(dest)["c/src/keep"] == ("d", "0o711")


def test_exclude_everything_leaves_an_empty_dest(ctx: Path, dest: Path) -> None:
    write(ctx / "dir1/a", "1")
    copy(ctx, dest, "dir*", to="/6", excludes=("*",))
    assert tree(dest) == {"6": ("d", "0o755")}


# -- --parents ----------------------------------------------------------------------------


def test_parents_keep_the_source_path(ctx: Path, dest: Path) -> None:
    write(ctx / "x/y/a.txt", "A")
    write(ctx / "x/z/b.txt", "B")
    write(ctx / "x/y/c.md", "C")
    (ctx / "x").chmod(0o711)
    copy(ctx, dest, "x/y/a.txt", "x/*/b.txt", to="/app/", parents=True)
    assert set(tree(dest)) == {"app", "app/x", "app/x/y", "app/x/y/a.txt", "app/x/z",
                               "app/x/z/b.txt"}  # fmt: skip
    assert tree(dest)["app/x"] == ("d", "0o711")  # parents keep their source metadata


def test_parents_pivot_and_doublestar(ctx: Path, dest: Path) -> None:
    write(ctx / "x/y/a.txt", "A")
    write(ctx / "x/y/deep/b.txt", "B")
    copy(ctx, dest, "x/./y/a.txt", to="/p/", parents=True)
    assert set(tree(dest)) == {"p", "p/y", "p/y/a.txt"}
    copy(ctx, dest, "**/*.txt", to="/q/", parents=True)
    assert {"q/x/y/a.txt", "q/x/y/deep/b.txt"} <= set(tree(dest))


def test_parents_required_paths(ctx: Path, dest: Path) -> None:
    write(ctx / "a.txt", "A")
    with pytest.raises(CopyError, match=r'"/missing\.txt": not found'):
        copy(ctx, dest, "missing.txt", to="/p/", parents=True)
    copy(ctx, dest, "missing*.txt", to="/p/", parents=True)  # a wildcard may match nothing


def test_parents_do_not_follow_symlinks(ctx: Path, dest: Path) -> None:
    write(ctx / "dir/f", "F")
    (ctx / "link").symlink_to("dir")
    copy(ctx, dest, "link", to="/p/", parents=True)
    assert tree(dest)["p/link"] == ("l", "dir")


# -- ADD: archives ------------------------------------------------------------------------


def make_tar(compress: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:

        def add(name: str, data: bytes = b"", **kw: object) -> None:
            info = tarfile.TarInfo(name)
            for key, value in kw.items():
                setattr(info, key, value)
            if info.type == tarfile.REGTYPE:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data else None)

        add("top/file", b"hello", mode=0o640, uid=1234, gid=99, mtime=1111111111)
        add("top/dir", type=tarfile.DIRTYPE, mode=0o711, uid=5, gid=6, mtime=1111111111)
        add("../../escape", b"esc", mode=0o644)
        add("/abs/file", b"abs", mode=0o4755)
        add("top/abslink", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("implied/deep/x", b"x", mode=0o600)
        add("top/hl", type=tarfile.LNKTYPE, linkname="top/file", mode=0o640, uid=1234, gid=99)
        add(".wh.whfile", b"wh", mode=0o644)
    raw = buf.getvalue()
    if compress == "gz":
        return gzip.compress(raw)
    if compress == "bz2":
        return bz2.compress(raw)
    if compress == "xz":
        return lzma.compress(raw)
    return raw


EXTRACTED = {
    "t": ("d", "0o755"),
    "t/.wh.whfile": ("f", "0o644", b"wh"),
    "t/abs": ("d", "0o755"),
    "t/abs/file": ("f", "0o4755", b"abs"),
    "t/escape": ("f", "0o644", b"esc"),
    "t/implied": ("d", "0o755"),
    "t/implied/deep": ("d", "0o755"),
    "t/implied/deep/x": ("f", "0o600", b"x"),
    "t/top": ("d", "0o755"),
    "t/top/abslink": ("l", "/etc/passwd"),
    "t/top/dir": ("d", "0o711"),
    "t/top/file": ("f", "0o640", b"hello"),
    "t/top/hl": ("f", "0o640", b"hello"),
}


@pytest.mark.parametrize("compress", ["", "gz", "bz2", "xz"])
def test_add_extracts_local_archives_detected_by_content(
    ctx: Path, dest: Path, compress: str
) -> None:
    write(ctx / "archive.bin", make_tar(compress))
    write(dest / "t/escape", "old")
    copy(ctx, dest, "archive.bin", to="/t", is_add=True)
    assert tree(dest) == EXTRACTED
    assert (dest / "t/top/file").stat().st_ino == (dest / "t/top/hl").stat().st_ino
    assert (dest / "t/top/dir").stat().st_mtime == 1111111111
    if ROOT:
        assert owner(dest / "t/top/file") == (1234, 99)
        assert owner(dest / "t/top/dir") == (5, 6)


@needs_root
def test_add_archive_with_chown_and_chmod(ctx: Path, dest: Path) -> None:
    write(ctx / "a.tgz", make_tar("gz"))
    copy(ctx, dest, "a.tgz", to="/t/", is_add=True, chown="77:88", chmod="700")
    assert tree(dest) == EXTRACTED  # --chmod does not apply to extracted files
    assert owner(dest / "t") == (77, 88)
    assert owner(dest / "t/top/dir") == (77, 88)  # current BuildKit: every entry
    assert owner(dest / "t/implied") == (0, 0)  # implied parents: root


def test_add_archive_stays_inside_dest_even_through_symlinks(
    ctx: Path, dest: Path, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        link = tarfile.TarInfo("out")
        link.type = tarfile.SYMTYPE
        link.linkname = str(host)
        t.addfile(link)
        info = tarfile.TarInfo("out/pwned")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
        info = tarfile.TarInfo("../../../../../../../" + str(host) + "/pwned2")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    write(ctx / "evil.tar", buf.getvalue())
    copy(ctx, dest, "evil.tar", to="/t/", is_add=True)
    assert list(host.iterdir()) == []
    assert (dest / "t" / str(host).lstrip("/") / "pwned").read_bytes() == b"x"


def test_add_not_an_archive_is_copied(ctx: Path, dest: Path) -> None:
    write(ctx / "notatar.gz", b"\x1f\x8b\x08garbage")
    write(ctx / "empty", b"")
    write(ctx / "text.tar", "just text")
    copy(ctx, dest, "notatar.gz", "empty", "text.tar", to="/w/", is_add=True)
    assert set(tree(dest)) == {"w", "w/notatar.gz", "w/empty", "w/text.tar"}


def test_copy_and_unpack_false_never_extract(ctx: Path, dest: Path) -> None:
    write(ctx / "a.tar", make_tar())
    copy(ctx, dest, "a.tar", to="/c/")
    copy(ctx, dest, "a.tar", to="/d/", is_add=True, unpack=False)
    assert set(tree(dest)) == {"c", "c/a.tar", "d", "d/a.tar"}


def test_add_archive_onto_a_file_fails(ctx: Path, dest: Path) -> None:
    write(ctx / "a.tar", make_tar())
    write(dest / "isfile", "x")
    with pytest.raises(CopyError, match="mkdir /isfile: not a directory"):
        copy(ctx, dest, "a.tar", to="/isfile", is_add=True)


# -- ADD: URLs ----------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[bytes, str | None]]] = {}

    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/file.bin")
            self.end_headers()
            return
        found = self.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        body, modified = found
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if modified:
            self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    _Handler.files = {
        "/file.bin": (b"payload", formatdate(1200000000, usegmt=True)),
        "/dir/": (b"listing", None),
        "/": (b"index", None),
        "/archive.tgz": (make_tar("gz"), None),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_url(ctx: Path, dest: Path, http_base: str) -> None:
    copy(ctx, dest, f"{http_base}/file.bin", to="/u/", is_add=True)
    copy(ctx, dest, f"{http_base}/file.bin", to="/u/named", is_add=True)
    copy(ctx, dest, f"{http_base}/redirect", to="/u/", is_add=True)
    copy(ctx, dest, f"{http_base}/", to="/u/dirurl/", is_add=True)
    copy(ctx, dest, f"{http_base}/dir/", to="/u/", is_add=True)
    t = tree(dest)
    assert t["u/file.bin"] == ("f", "0o600", b"payload")
    assert t["u/named"] == ("f", "0o600", b"payload")
    assert t["u/redirect"] == ("f", "0o600", b"payload")
    assert t["u/dir"] == ("f", "0o600", b"listing")
    assert (dest / "u/file.bin").stat().st_mtime == 1200000000
    assert (dest / "u/dirurl/__unnamed__").stat().st_mtime == 0
    if ROOT:
        assert owner(dest / "u/file.bin") == (0, 0)


def test_add_url_checksum(ctx: Path, dest: Path, http_base: str) -> None:
    good = "sha256:" + hashlib.sha256(b"payload").hexdigest()
    copy(ctx, dest, f"{http_base}/file.bin", to="/ok", is_add=True, checksum=good)
    assert (dest / "ok").read_bytes() == b"payload"
    bad = "sha256:" + "0" * 64
    with pytest.raises(CopyError, match=f"digest mismatch for {http_base}/file.bin"):
        copy(ctx, dest, f"{http_base}/file.bin", to="/bad", is_add=True, checksum=bad)
    assert not (dest / "bad").exists()
    with pytest.raises(CopyError, match="invalid checksum digest format"):
        copy(ctx, dest, f"{http_base}/file.bin", to="/bad", is_add=True, checksum="sha256:xyz")


def test_add_url_errors(ctx: Path, dest: Path, http_base: str) -> None:
    with pytest.raises(CopyError, match="invalid response status 404"):
        copy(ctx, dest, f"{http_base}/missing", to="/u/", is_add=True)
    with pytest.raises(CopyError, match="source can't be a URL for COPY"):
        copy(ctx, dest, f"{http_base}/file.bin", to="/u/")
    with pytest.raises(CopyError, match="checksum can't be specified for COPY"):
        copy(ctx, dest, "a", to="/u/", checksum="sha256:" + "0" * 64)
    with pytest.raises(CopyError, match="checksum requires HTTP"):
        copy(ctx, dest, "a", to="/u/", is_add=True, checksum="sha256:" + "0" * 64)
    with pytest.raises(CopyError, match="multiple sources"):
        copy(ctx, dest, "a", "b", to="/u/", is_add=True, checksum="sha256:" + "0" * 64)
    with pytest.raises(CopyError, match="Git repository"):
        copy(ctx, dest, "https://github.com/moby/buildkit.git#v0.1", to="/g/", is_add=True)


@needs_root
def test_add_url_chown_chmod_and_unpack(ctx: Path, dest: Path, http_base: str) -> None:
    copy(ctx, dest, f"{http_base}/file.bin", to="/u/", is_add=True, chown="5:6", chmod="755")
    assert tree(dest)["u/file.bin"][1] == "0o755"
    assert owner(dest / "u/file.bin") == (5, 6)
    copy(ctx, dest, f"{http_base}/archive.tgz", to="/t", is_add=True, unpack=True)
    assert {k: v for k, v in tree(dest).items() if k.startswith("t")} == EXTRACTED
    copy(ctx, dest, f"{http_base}/archive.tgz", to="/kept/", is_add=True)
    assert set(tree(dest / "kept")) == {"archive.tgz"}


# -- the request -------------------------------------------------------------------------


def test_link_layer_is_link_without_chmod() -> None:
    assert CopyRequest(("a",), "/x", link=True).links_layer
    assert not CopyRequest(("a",), "/x", link=True, chmod="755").links_layer
    assert not CopyRequest(("a",), "/x").links_layer


def test_git_ref_in_copy_is_refused(ctx: Path, dest: Path) -> None:
    with pytest.raises(CopyError, match="source can't be a git ref for COPY"):
        copy(ctx, dest, "git@github.com:moby/buildkit.git", to="/g/")
