"""REFERENCE-SPEC TESTS, NOT DIFFERENTIAL: features the BuildKit in dockerd 20.10 predates
(heredocs, COPY --link, COPY --parents, COPY/ADD --exclude, RUN --network, ADD --checksum,
ARG expansion in --mount options, named build contexts). etage alone builds these, and
the assertions are what the current Dockerfile reference
(moby/buildkit frontend/dockerfile/docs/reference.md) specifies, quoted in each test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tests.conformance.harness import Build, Conformance, F, Side, write_context

from etage import transfer
from etage.oci.store import ContentStore

HEREDOCS = """\
# syntax=docker/dockerfile:1
FROM localhost/busybox:1
ARG FOO=bar
RUN <<EOT
mkdir -p /h
echo a > /h/only-heredoc
EOT
RUN <<EOT sh
  echo "with a command $FOO" > /h/with-command
EOT
RUN <<EOT
#!/bin/busybox sh
echo "shebang" > /h/shebang
EOT
RUN <<FILE1 cat > /h/file1 && <<FILE2 cat > /h/file2
I am
first
FILE1
I am
second
FILE2
COPY <<EOF /h/greeting.txt
hello world
EOF
COPY <<-EOT /h/expanded.sh
\techo "hello ${FOO}"
\tEOT
COPY <<-"EOT" /h/quoted.sh
\techo "hello ${FOO}"
\tEOT
COPY --chmod=755 <<EOF /h/script
#!/bin/sh
EOF
"""


@pytest.fixture(scope="module")
def heredocs(conformance: Conformance) -> Side:
    side = conformance.etage_only(Build(HEREDOCS), "heredocs")
    side.need()
    return side


def test_heredoc_run_uses_the_default_shell(heredocs: Side) -> None:
    """ "If the command only contains a here-document, its contents is evaluated with
    the default shell." """
    assert heredocs.text("/h/only-heredoc") == "a\n"


def test_heredoc_run_feeds_the_command(heredocs: Side) -> None:
    """`RUN <<EOT bash ... EOT`: the here-document is the command's standard input."""
    assert heredocs.text("/h/with-command") == "with a command bar\n"


def test_heredoc_run_with_a_shebang(heredocs: Side) -> None:
    """ "Alternatively, shebang header can be used to define an interpreter." """
    assert heredocs.text("/h/shebang") == "shebang\n"


def test_several_heredocs_in_one_run(heredocs: Side) -> None:
    """`RUN <<FILE1 cat > file1 && <<FILE2 cat > file2`"""
    assert heredocs.text("/h/file1") == "I am\nfirst\n"
    assert heredocs.text("/h/file2") == "I am\nsecond\n"


def test_copy_heredoc_creates_a_file(heredocs: Side) -> None:
    """`COPY <<EOF greeting.txt` "creates a greeting.txt file containing hello world"."""
    assert heredocs.text("/h/greeting.txt") == "hello world\n"


def test_copy_heredoc_expands_variables_unless_the_word_is_quoted(heredocs: Side) -> None:
    """ "the file script prints "hello bar", because the variable is expanded when the
    COPY instruction gets executed"; "If instead you were to quote any part of the
    here-document word EOT, the variable would not be expanded". `<<-` strips tabs."""
    assert heredocs.text("/h/expanded.sh") == 'echo "hello bar"\n'
    assert heredocs.text("/h/quoted.sh") == 'echo "hello ${FOO}"\n'


def test_copy_heredoc_with_chmod(heredocs: Side) -> None:
    assert heredocs.fs["/h/script"]["mode"] == "0755"


CONTEXT: dict[str, str | bytes | F] = {
    "x/a.txt": "xa\n",
    "y/a.txt": "ya\n",
    "p/x/y/a.txt": "pa\n",
    "p/x/y/b.txt": "pb\n",
    "p/x/y/c.md": "pc\n",
    "src/a.txt": "sa\n",
    "src/x/b.txt": "sb\n",
    "src/x/y/c.txt": "sc\n",
    "src/x/y/d.md": "sd\n",
    "src/e.md": "se\n",
    "hom1.txt": "1\n",
    "hom2.md": "2\n",
    "hom3.sh": "3\n",
    "home/inner.txt": "i\n",
    "home/notes.md": "n\n",
}
COPY_FLAGS = """\
FROM localhost/busybox:1
RUN mkdir -p /real && ln -s /real /linked
COPY ./x/a.txt ./y/a.txt /no_parents/
COPY --parents ./x/a.txt ./y/a.txt /parents/
COPY --parents ./p/x/./y/*.txt /pivot/
COPY --parents ./src/**/*.txt /globstar/
COPY --exclude=*.txt hom* /excl-one/
COPY --exclude=*.txt --exclude=*.md hom* /excl-two/
ADD --exclude=*.md src /add-excl/
COPY --link x/a.txt /link/dir/
COPY --link y/a.txt /linked/
"""


@pytest.fixture(scope="module")
def copy_flags(conformance: Conformance) -> Side:
    side = conformance.etage_only(Build(COPY_FLAGS, CONTEXT), "copy-flags")
    side.need()
    return side


def _files(side: Side, root: str) -> dict[str, str]:
    return {
        p: str(e.get("text"))
        for p, e in side.fs.items()
        if p.startswith(root + "/") and e["type"] == "file"
    }


def test_copy_parents(copy_flags: Side) -> None:
    """`COPY --parents ./x/a.txt ./y/a.txt /parents/` gives /parents/x/a.txt and
    /parents/y/a.txt; without --parents both land on /no_parents/a.txt (the last wins)."""
    assert _files(copy_flags, "/no_parents") == {"/no_parents/a.txt": "ya\n"}
    assert _files(copy_flags, "/parents") == {
        "/parents/x/a.txt": "xa\n",
        "/parents/y/a.txt": "ya\n",
    }


def test_copy_parents_pivot(copy_flags: Side) -> None:
    """ "only parent directories after [./] will be preserved": ./x/./y/*.txt gives
    /parents/y/a.txt and /parents/y/b.txt."""
    assert _files(copy_flags, "/pivot") == {"/pivot/y/a.txt": "pa\n", "/pivot/y/b.txt": "pb\n"}


def test_copy_parents_globstar(copy_flags: Side) -> None:
    """ "The ** wildcard matches any number of path components, including none"."""
    assert _files(copy_flags, "/globstar") == {
        "/globstar/src/a.txt": "sa\n",
        "/globstar/src/x/b.txt": "sb\n",
        "/globstar/src/x/y/c.txt": "sc\n",
    }


def test_copy_exclude(copy_flags: Side) -> None:
    """`COPY --exclude=*.txt hom* /mydir/`: files "excluding files with a .txt
    extension"; "You can specify the --exclude option multiple times". The patterns
    match paths inside each source, relative to it (fsutil copy.go matches
    `srcComponents`): hom* matches the directory `home`, whose inner.txt is excluded.

    Not asserted: whether a *top-level* source matched by the wildcard (hom1.txt) is
    excluded. The reference's example says so, but BuildKit's code as read (fsutil
    `copier.copy` skips pattern matching when srcComponents == "", and the solver's
    ResolveWildcards does not filter) would copy it; etage copies it. Unresolved
    without a current BuildKit to run."""
    one = set(_files(copy_flags, "/excl-one"))
    two = set(_files(copy_flags, "/excl-two"))
    assert {"/excl-one/hom2.md", "/excl-one/hom3.sh", "/excl-one/notes.md"} <= one
    assert "/excl-one/inner.txt" not in one
    assert "/excl-two/hom3.sh" in two
    assert "/excl-two/inner.txt" not in two and "/excl-two/notes.md" not in two


def test_add_exclude(copy_flags: Side) -> None:
    """ADD --exclude: "See COPY --exclude". Patterns follow Go's filepath.Match on the
    path relative to the source: `*.md` excludes src/e.md, not src/x/y/d.md (`*` does
    not cross `/`)."""
    assert set(_files(copy_flags, "/add-excl")) == {
        "/add-excl/a.txt",
        "/add-excl/x/b.txt",
        "/add-excl/x/y/c.txt",
        "/add-excl/x/y/d.md",
    }


def test_copy_link(copy_flags: Side) -> None:
    """`COPY --link` copies into an empty directory turned into a layer."""
    assert copy_flags.text("/link/dir/a.txt") == "xa\n"
    assert copy_flags.fs["/link"]["type"] == "dir"
    assert copy_flags.fs["/link/dir"]["type"] == "dir"


def test_copy_link_does_not_follow_symlinks_in_the_destination(copy_flags: Side) -> None:
    """ "if in previous state the destination directory was a path that contained a
    symlink, COPY/ADD can not follow it. In the final image the destination path created
    with --link will always be a path containing only directories." """
    assert copy_flags.fs["/linked"]["type"] == "dir"
    assert copy_flags.text("/linked/a.txt") == "ya\n"
    assert "/real/a.txt" not in copy_flags.fs


def test_run_network_none(conformance: Conformance) -> None:
    """`RUN --network=none`: "The command is run with no network access (lo is still
    available, but is isolated to this process)"."""
    dockerfile = """\
FROM localhost/busybox:1
RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /ifaces
RUN --network=default echo ok > /default
"""
    side = conformance.etage_only(Build(dockerfile), "network")
    assert side.text("/ifaces") == "lo\n"
    assert side.text("/default") == "ok\n"


def test_mount_options_expand_args(conformance: Conformance) -> None:
    """Current BuildKit expands ARG/ENV in --mount options (BuildKit 20.10 did not)."""
    dockerfile = """\
FROM localhost/busybox:1
ARG DIR=/cache-dir
ARG ID=expanded-id
RUN --mount=type=cache,id=$ID,target=$DIR echo one > $DIR/f
RUN --mount=type=cache,id=expanded-id,target=/other cat /other/f > /seen
"""
    side = conformance.etage_only(Build(dockerfile), "mount-expansion")
    assert side.text("/seen") == "one\n"
    assert "/cache-dir" not in side.fs


def test_add_checksum(conformance: Conformance) -> None:
    """`ADD --checksum=sha256:<hash> <url>`: "For HTTP sources, the checksum is the
    SHA-256 content digest"; a mismatch fails the build."""
    served = {"payload.txt": "payload\n"}
    good = "sha256:" + hashlib.sha256(b"payload\n").hexdigest()
    bad = "sha256:" + hashlib.sha256(b"other\n").hexdigest()
    ok = conformance.etage_only(
        Build(
            f"FROM localhost/busybox:1\nADD --checksum={good} {{HTTP}}/payload.txt /dl/\n",
            http=served,
        ),
        "checksum-ok",
    )
    assert ok.text("/dl/payload.txt") == "payload\n"
    assert ok.fs["/dl/payload.txt"]["mode"] == "0600"  # downloads are 0600
    wrong = conformance.etage_only(
        Build(
            f"FROM localhost/busybox:1\nADD --checksum={bad} {{HTTP}}/payload.txt /dl/\n",
            http=served,
        ),
        "checksum-bad",
    )
    assert wrong.error is not None and "checksum" in wrong.error.lower()


def test_named_oci_layout_context_is_the_same_base(
    conformance: Conformance, tmp_path: Path
) -> None:
    """`--build-context NAME=oci-layout:///path:TAG` (the buildx convention): FROM NAME
    builds on the layout's image, as FROM the same image in the store does."""
    layout = tmp_path / "layout"
    store = ContentStore(conformance.store_root)
    try:
        transfer.save(store, ["localhost/users:1"], layout, fmt="oci", directory=True)
    finally:
        store.close()
    dockerfile = "FROM users-base\nRUN id alice > /alice\n"
    via_layout = conformance.etage_only(
        Build(dockerfile, build_contexts=(f"users-base=oci-layout://{layout}:1",)),
        "named-layout",
    )
    via_store = conformance.etage_only(
        Build(dockerfile.replace("users-base", "localhost/users:1")), "named-store"
    )
    via_layout.need()
    assert via_layout.fs == via_store.fs
    assert via_layout.config == via_store.config


def test_write_context_helper_keeps_modes_and_links(tmp_path: Path) -> None:
    """The harness's context writer keeps modes and symlinks (the differential tests
    rely on it for their inputs)."""
    files: dict[str, str | bytes | F] = {
        "a": F("x", mode=0o4755),
        "l": F(link="a"),
        "d": F(dir=True, mode=0o700),
    }
    write_context(tmp_path, files)
    assert (tmp_path / "a").stat().st_mode & 0o7777 == 0o4755
    assert (tmp_path / "l").readlink() == Path("a")
    assert (tmp_path / "d").stat().st_mode & 0o7777 == 0o700
