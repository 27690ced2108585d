"""COPY and ADD from the build context: destination rules (file vs directory, trailing
slash, directory contents), wildcards, --chmod, --chown (names and ids, through
/etc/passwd and /etc/group), ADD of local archives (plain and gzipped: extracted) and
of other files (copied as they are), relative destinations after WORKDIR.
One build of one Dockerfile, etage vs BuildKit; errors get a build each."""

from __future__ import annotations

import gzip
from collections.abc import Callable

import pytest
from tests.conformance.harness import (
    Build,
    F,
    Pair,
    Scenario,
    assert_both_fail,
    assert_etage_fs,
    assert_same_config,
    assert_same_fs,
    assert_same_history,
    assert_same_outcome,
    bk_subtree,
    tar_bytes,
)

Run = Callable[[Scenario], list[Pair]]

CONTEXT: dict[str, bytes | str | F] = {
    "hello.txt": "hello\n",
    "script.sh": F("#!/bin/sh\necho hi\n", mode=0o755),
    "secret.key": F("key\n", mode=0o600),
    "setuid-file": F("suid\n", mode=0o4755),
    "dir/a.txt": "a\n",
    "dir/b.txt": F("b\n", mode=0o640),
    "dir/.hidden": "h\n",
    "dir/sub/c.txt": "c\n",
    "dir/link": F(link="a.txt"),
    "dir/sub": F(dir=True, mode=0o750),
    "wild/x1.txt": "x1\n",
    "wild/x2.txt": "x2\n",
    "wild/y1.md": "y1\n",
    "wild/y2.txt": "y2\n",
    "wild/xdir/inner.txt": "inner\n",
    "empty-dir": F(dir=True, mode=0o700),
    "toplink": F(link="hello.txt"),
    "app.tar": tar_bytes(
        {"app/bin/run": "#!/bin/sh\n", "app/README": "readme\n", "top.txt": "t\n"}
    ),
    "app.tar.gz": tar_bytes({"gz/inside.txt": "gz\n"}, compress="gz"),
    "app.tar.bz2": tar_bytes({"bz2/inside.txt": "bz2\n"}, compress="bz2"),
    "app.tar.xz": tar_bytes({"xz/inside.txt": "xz\n"}, compress="xz"),
    "links.tar": tar_bytes(
        {
            "l/file": F("f\n", mode=0o4750),
            "l/sym": F(link="file"),
            # a hardlink member's mode is applied to the inode it shares: 0640 in the end
            "l/hard": F(link="l/file", hard=True, mode=0o640),
            "l/emptydir": F(dir=True, mode=0o700),
            "l/abs-sym": F(link="/etc/passwd"),
        }
    ),
    "hard/one": "same inode\n",
    "hard/two": F(link="hard/one", hard=True),
    "notatar.tar": "this is not a tar archive\n",
    "data.gz": gzip.compress(b"gzipped, but not a tar\n", mtime=0),
}

DOCKERFILE = """\
FROM localhost/users:1
COPY hello.txt /c/file-to-file
COPY hello.txt /c/into-dir/
COPY hello.txt script.sh /c/multi/
COPY dir /c/dir-contents
COPY dir/ /c/dir-trailing/
COPY dir/sub /c/subdir-contents/
COPY wild/x*.txt /c/wild-star/
COPY wild/?1.* /c/wild-question/
COPY wild/[xy]2.txt /c/wild-class/
COPY wild/x* /c/wild-dir-match/
COPY empty-dir /c/empty-dir
COPY toplink /c/toplink-followed
COPY dir/link /c/link-in-dir
COPY script.sh secret.key setuid-file /c/modes/
COPY hello.txt /c/existing-file
COPY script.sh /c/existing-file
COPY --chmod=640 hello.txt /c/chmod/file
COPY --chmod=755 dir /c/chmod/dir/
COPY --chmod=4750 script.sh /c/chmod/suid
COPY --chown=alice hello.txt /c/chown/alice
COPY --chown=alice:staff hello.txt /c/chown/alice-staff
COPY --chown=bob hello.txt /c/chown/bob
COPY --chown=1234:5678 hello.txt /c/chown/ids
COPY --chown=1234 hello.txt /c/chown/uid-only
COPY --chown=alice:1234 hello.txt /c/chown/name-and-gid
COPY --chown=alice:3000 dir /c/chown/dir/
COPY --chown=bob:devs hello.txt /c/chown/new/parents/file
COPY --chown=alice --chmod=600 hello.txt /c/chown/both
ADD app.tar /c/add-tar/
ADD app.tar.gz /c/add-targz
ADD notatar.tar /c/add-notatar/
ADD data.gz /c/add-gz/
ADD hello.txt /c/add-file
ADD --chown=alice:staff app.tar /c/add-tar-chown/
ADD --chown=bob dir /c/add-dir-chown/
COPY app.tar /c/copy-tar/
WORKDIR /c/rel
COPY hello.txt .
COPY hello.txt ./renamed
COPY dir/sub ../relsub/
COPY wild/y2.txt sub/
COPY script.sh /c/into-dir
COPY wild /c/dir-contents
ENV D=/c/env
COPY hello.txt $D/
COPY hello.txt ${D}-file
RUN mkdir /c/real && ln -s /c/real /c/symlinked-dir && ln -s real /c/rel-symlinked-dir
COPY hello.txt /c/symlinked-dir/
COPY script.sh /c/rel-symlinked-dir/
COPY dir/sub /c/symlinked-dir/sub/
ADD app.tar.bz2 /c/add-tarbz2/
ADD app.tar.xz /c/add-tarxz/
ADD links.tar /c/add-links/
COPY hard /c/hardlinks/
"""

COPY = Scenario("copy", (Build(DOCKERFILE, CONTEXT),))


@pytest.fixture
def pair(run: Run) -> Pair:
    return run(COPY)[0]


@pytest.mark.parametrize(
    "paths",
    [
        ("/c/file-to-file", "/c/into-dir", "/c/multi"),
        ("/c/dir-contents", "/c/dir-trailing", "/c/subdir-contents"),
        ("/c/empty-dir",),
        ("/c/existing-file",),
        ("/c/env", "/c/env-file"),
        ("/c/real", "/c/symlinked-dir", "/c/rel-symlinked-dir"),
    ],
    ids=[
        "file-dest-rules", "directory-contents", "empty-directory", "overwrite-file",
        "env-in-destination", "symlinked-destination",
    ],
)  # fmt: skip
def test_destination_rules(pair: Pair, paths: tuple[str, ...]) -> None:
    assert_same_fs(pair, *paths)


def test_wildcards(pair: Pair) -> None:
    assert_same_fs(pair, "/c/wild-star", "/c/wild-question", "/c/wild-class", "/c/wild-dir-match")


def test_symlinks_in_sources(pair: Pair) -> None:
    """A symlink named as the source is followed; one inside a copied tree is kept."""
    assert pair.buildkit.fs["/c/toplink-followed"]["type"] == "file"
    assert_same_fs(pair, "/c/toplink-followed", "/c/link-in-dir", "/c/dir-contents/link")


def test_hardlinks_in_the_context_are_kept(pair: Pair) -> None:
    assert pair.buildkit.fs["/c/hardlinks/one"].get("links") == [
        "/c/hardlinks/one",
        "/c/hardlinks/two",
    ]
    assert_same_fs(pair, "/c/hardlinks")


def test_copy_into_an_existing_directory_without_a_slash(pair: Pair) -> None:
    """`COPY file /existing-dir` copies into it; `COPY dir /existing-dir` merges."""
    assert pair.buildkit.text("/c/into-dir/script.sh") == "#!/bin/sh\necho hi\n"
    assert pair.buildkit.text("/c/dir-contents/x1.txt") == "x1\n"
    assert_same_fs(pair, "/c/into-dir", "/c/dir-contents")


def test_modes_are_kept(pair: Pair) -> None:
    assert pair.buildkit.fs["/c/modes/setuid-file"]["mode"] == "4755"
    assert_same_fs(pair, "/c/modes")


def test_chmod(pair: Pair) -> None:
    assert_same_fs(pair, "/c/chmod/file", "/c/chmod/dir")


def test_chmod_special_bits_and_created_parents(pair: Pair) -> None:
    """Two changes since BuildKit 20.10, compared with current BuildKit:
    - --chmod keeps setuid/setgid/sticky bits (fsutil copy_unix.go, vendored in BuildKit
      d6d008b, Feb 2024); 20.10 drops them (04750 -> 0750);
    - the parent directories COPY creates take the --chmod mode (fsutil copy.go
      `perm = *ci.Mode`, vendored in cd3d075, Feb 2025); 20.10 creates them 0755."""
    expected = bk_subtree(pair, "/c/chmod")
    assert expected["/c/chmod/suid"]["mode"] == "0750"
    assert expected["/c/chmod"]["mode"] == "0755"
    expected["/c/chmod/suid"]["mode"] = "4750"
    expected["/c/chmod"]["mode"] = "0640"  # created by the first COPY --chmod=640
    assert_etage_fs(pair, expected, "/c/chmod")


@pytest.mark.parametrize(
    "path",
    ["alice", "alice-staff", "bob", "ids", "uid-only", "name-and-gid", "dir", "new", "both"],
)
def test_chown(pair: Pair, path: str) -> None:
    assert_same_fs(pair, f"/c/chown/{path}")


@pytest.mark.parametrize(
    "path",
    [
        "add-tar", "add-targz", "add-tarbz2", "add-tarxz", "add-links", "add-notatar",
        "add-gz", "add-file", "copy-tar",
    ],
)  # fmt: skip
def test_add_extracts_local_archives_only(pair: Pair, path: str) -> None:
    assert_same_fs(pair, f"/c/{path}")


def test_add_chown_of_a_directory(pair: Pair) -> None:
    assert_same_fs(pair, "/c/add-dir-chown")


def test_add_chown_of_an_archive(pair: Pair) -> None:
    """BuildKit 20.10 ignores --chown for what ADD extracts from an archive (the entries
    keep the archive's owners); current BuildKit gives every extracted entry the --chown
    owner (solver/llbsolver/file/unpack.go, 46e52f4 "file: add chown to archive unpack
    from copy", May 2025). Compared with current BuildKit."""
    expected = bk_subtree(pair, "/c/add-tar-chown")
    assert expected["/c/add-tar-chown/top.txt"]["uid"] == 1234  # the archive's owner
    for path, entry in expected.items():
        if path != "/c/add-tar-chown":  # the destination directory: chowned by both
            entry["uid"], entry["gid"] = 1000, 2000
    assert_etage_fs(pair, expected, "/c/add-tar-chown")


def test_relative_destinations_follow_workdir(pair: Pair) -> None:
    assert_same_fs(pair, "/c/rel", "/c/relsub")


def test_copy_history_names_chown_and_chmod(pair: Pair) -> None:
    """BuildKit 20.10 writes `COPY hello.txt /c/chmod/file # buildkit` for a COPY with
    --chmod; current BuildKit writes the flags too (convert_copy.go: `--chown=` then
    `--chmod=` after the keyword). Compared with current BuildKit."""
    bk = [h["created_by"] for h in pair.buildkit.history]
    assert "COPY hello.txt /c/chown/both # buildkit" in bk  # 20.10: no flags
    et = [h["created_by"] for h in pair.etage.history]
    assert "COPY --chmod=640 hello.txt /c/chmod/file # buildkit" in et
    assert "COPY --chown=alice --chmod=600 hello.txt /c/chown/both # buildkit" in et
    assert "ADD --chown=alice:staff app.tar /c/add-tar-chown/ # buildkit" in et


def test_whole_filesystem_config_and_history(pair: Pair) -> None:
    # the paths where current BuildKit differs from 20.10 are checked by the tests above
    changed = [p for p in pair.buildkit.fs if p.startswith("/c/add-tar-chown/")]
    assert_same_fs(pair, exclude=("/c/chmod", "/c/chmod/suid", *changed))
    assert_same_config(pair)
    # history as BuildKit 20.10 writes it (COPY --chown/--chmod: see the test above)
    assert_same_history(pair)


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM localhost/busybox:1\nCOPY missing.txt /x\n",
        "FROM localhost/busybox:1\nCOPY ../outside /x\n",
    ],
    ids=["missing-source", "outside-the-context"],
)
def test_errors(run: Run, dockerfile: str) -> None:
    """Both builders refuse. (`../outside` is cleaned against the context root, so it
    names `outside`, which does not exist.)"""
    (pair,) = run(Scenario("copy-error", (Build(dockerfile, {"hello.txt": "hi\n"}),)))
    assert_both_fail(pair)


@pytest.mark.parametrize(
    "dockerfile",
    [
        # the reference says the destination "must be a directory (must end with a
        # slash)", but BuildKit (20.10 and current: no check in dockerfile2llb) creates it
        "FROM localhost/busybox:1\nCOPY hello.txt script.sh /multi-without-slash\n",
        # a wildcard matching nothing copies nothing (AllowEmptyWildcard)
        "FROM localhost/busybox:1\nCOPY nomatch*.txt /x/\n",
        # an unknown user name gives 0:0 (ops/user_linux.go readUser, still so)
        "FROM localhost/busybox:1\nCOPY --chown=nosuchuser hello.txt /x\n",
        "FROM localhost/busybox:1\nADD --chmod=600 hello.txt /x\n",
    ],
    ids=[
        "multiple-sources-without-slash",
        "wildcard-matching-nothing",
        "unknown-user",
        "add-chmod",
    ],
)
def test_edge_cases_have_the_same_outcome(run: Run, dockerfile: str) -> None:
    files = {"hello.txt": "hi\n", "script.sh": "s\n"}
    (pair,) = run(Scenario("copy-edge", (Build(dockerfile, files),)))
    assert_same_outcome(pair)
