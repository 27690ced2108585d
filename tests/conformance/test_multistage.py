"""Multi-stage builds: FROM an earlier stage, FROM scratch, COPY --from by stage name, by
index and by image; --target; pruning (stages the target does not need are not built,
even one that would fail); .dockerignore. etage vs BuildKit."""

from __future__ import annotations

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
    bk_subtree,
    copy_flags_of_20_10,
)

Run = Callable[[Scenario], list[Pair]]

DOCKERFILE = """\
FROM localhost/busybox:1 AS builder
RUN mkdir -p /out/sub && echo built > /out/artifact && echo nested > /out/sub/n \\
    && ln -s artifact /out/alink && chmod 700 /out/sub && chown 42:43 /out/artifact
ENV FROM_BUILDER=1
WORKDIR /out

FROM localhost/busybox:1 AS Mixed-Case
RUN echo second > /second

FROM localhost/busybox:1 AS broken
RUN echo "this stage must not be built" && exit 1

FROM builder AS derived
RUN echo derived > derived-here && pwd > /derived-pwd

FROM scratch AS final
COPY --from=builder /out /from-name/
COPY --from=0 /out/artifact /from-index
COPY --from=1 /second /
COPY --from=localhost/users:1 /etc/passwd /from-image/passwd
COPY --from=builder /out/alink /alink-followed
COPY --from=builder /out/sub /sub-contents
COPY --from=builder /out/* /globbed/
COPY --from=derived /out/derived-here /derived-pwd /from-derived/
COPY --from=mixed-case /second /case-insensitive
COPY --from=builder --chown=7:8 /out /chowned/
COPY --from=builder --chmod=600 /out/artifact /out/alink /chmodded/

FROM broken AS after-final
"""

MULTI = Scenario(
    "multistage",
    (
        Build(DOCKERFILE, target="final"),
        Build(DOCKERFILE, target="derived"),
        Build(DOCKERFILE),  # the last stage needs the broken one: both fail
    ),
)


@pytest.fixture
def final(run: Run) -> Pair:
    return run(MULTI)[0]


@pytest.mark.parametrize(
    "paths",
    [
        ("/from-name",),
        ("/from-index", "/second"),
        ("/from-image",),
        ("/alink-followed", "/sub-contents", "/globbed"),
        ("/from-derived",),
        ("/case-insensitive",),
        ("/chowned",),
    ],
    ids=[
        "by-name", "by-index", "by-image", "links-and-globs", "from-derived-stage",
        "stage-names-are-case-insensitive", "chown",
    ],
)  # fmt: skip
def test_copy_from(final: Pair, paths: tuple[str, ...]) -> None:
    assert_same_fs(final, *paths)


def test_copy_from_with_chmod(final: Pair) -> None:
    """Compared with current BuildKit: the directory COPY --chmod creates for its
    destination takes the --chmod mode (fsutil copy.go `perm = *ci.Mode`, vendored in
    BuildKit cd3d075, Feb 2025); 20.10 creates it 0755 (see test_copy.py)."""
    expected = bk_subtree(final, "/chmodded")
    assert expected["/chmodded"]["mode"] == "0755"
    assert expected["/chmodded/alink"]["type"] == "file"  # a symlink source is followed
    expected["/chmodded"]["mode"] = "0600"
    assert_etage_fs(final, expected, "/chmodded")


def test_scratch_final_stage(final: Pair) -> None:
    """Only what was copied is there (with the parent directories COPY creates)."""
    assert_same_fs(final, exclude=("/chmodded",))  # see the test above
    assert_same_config(final, "Env", "Entrypoint", "Cmd", "User", "Labels")


def test_scratch_config(final: Pair) -> None:
    """BuildKit's emptyImage() (dockerfile2llb/image.go, 20.10 and current) sets
    WorkingDir "/" and the default PATH."""
    assert final.buildkit.config["WorkingDir"] == "/"
    assert_same_config(final)


def test_unneeded_stages_are_pruned(final: Pair) -> None:
    """`broken` would fail: the target does not need it, so neither builder builds it."""
    final.buildkit.need()
    final.etage.need()


def test_from_an_earlier_stage_inherits_its_filesystem_and_config(run: Run) -> None:
    derived = run(MULTI)[1]
    assert_same_fs(derived)
    assert_same_config(derived)
    assert_same_history(derived)
    assert derived.buildkit.config["WorkingDir"] == "/out"


def test_a_failing_stage_fails_the_build_that_needs_it(run: Run) -> None:
    assert_both_fail(run(MULTI)[2])


def test_history(final: Pair) -> None:
    assert_same_history(final)


def test_copy_from_history(final: Pair) -> None:
    """BuildKit (20.10 and current, convert_copy.go) never writes --from in the history;
    current BuildKit writes --chown (N13)."""
    bk = [h["created_by"] for h in final.buildkit.history]
    assert bk[0] == "COPY /out /from-name/ # buildkit"
    ours = [h["created_by"] for h in final.etage.history]
    assert ours[0] == bk[0]
    assert "COPY --chown=7:8 /out /chowned/ # buildkit" in ours
    assert [copy_flags_of_20_10(x) for x in ours] == bk


IGNORE = """\
# comments are ignored
*.log
!keep.log
secret/
**/*.tmp
nested/**/drop-*
Dockerfile
.dockerignore
"""
IGNORED_CONTEXT: dict[str, str | bytes | F] = {
    ".dockerignore": IGNORE,
    "a.log": "a",
    "keep.log": "keep",
    "secret/key": "k",
    "sub/y.tmp": "y",
    "sub/z.txt": "z",
    "deep/er/q.tmp": "q",
    "nested/x/drop-me": "d",
    "nested/x/keep-me": "k",
    "top.tmp": "t",
}
IGNORE_DOCKERFILE = """\
FROM localhost/busybox:1
COPY . /ctx/
RUN --mount=type=bind,target=/b find /b | sort > /bind-view
"""
DOCKERIGNORE = Scenario(
    "dockerignore",
    (Build(IGNORE_DOCKERFILE, IGNORED_CONTEXT, bk_mount_stubs=("/b",)),),
)


def test_dockerignore_filters_copy(run: Run) -> None:
    (pair,) = run(DOCKERIGNORE)
    assert "/ctx/keep.log" in pair.buildkit.fs and "/ctx/a.log" not in pair.buildkit.fs
    assert_same_fs(pair, "/ctx")


def test_dockerignore_filters_bind_mounts_of_the_context(run: Run) -> None:
    (pair,) = run(DOCKERIGNORE)
    assert "/b/secret/key" not in pair.buildkit.text("/bind-view")
    assert_same_fs(pair, "/bind-view")
