"""USER (name, name:group, uid:gid, uid alone) and what a RUN then is; WORKDIR and cache
mount directories made for that user: etage vs BuildKit on a base with named users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conformance.harness import (
    Build,
    Pair,
    Scenario,
    assert_both_fail,
    assert_same_config,
    assert_same_fs,
    assert_same_history,
    current_buildkit_id,
)

Run = Callable[[Scenario], list[Pair]]

DOCKERFILE = """\
FROM localhost/users:1
RUN mkdir /out && chmod 777 /out
USER alice
RUN id > /out/alice && touch /out/alice-file && echo "$HOME" > /out/alice-home
USER bob:devs
RUN id > /out/bob-devs && touch /out/bob-devs-file
USER 1234:5678
RUN id > /out/numeric && touch /out/numeric-file
USER 1000
RUN id > /out/uid-only && touch /out/uid-only-file
USER alice:2000
RUN id > /out/name-and-gid
USER alice
WORKDIR /made-by-alice
COPY hello.txt /copied-as-alice/
ADD hello.txt /added-as-alice
USER root
WORKDIR /made-by-root
USER bob
"""
USERS = Scenario("user", (Build(DOCKERFILE, {"hello.txt": "hi\n"}),))
IDS = ["alice", "bob-devs", "numeric", "uid-only", "name-and-gid"]


@pytest.fixture
def pair(run: Run) -> Pair:
    return run(USERS)[0]


@pytest.mark.parametrize("name", IDS)
def test_ids_of_run(pair: Pair, name: str) -> None:
    """Compared with current BuildKit: the primary group is also a supplementary group
    since v0.12 (see test_run.py::test_the_ids_a_run_has)."""
    path = f"/out/{name}"
    assert pair.etage.text(path) == current_buildkit_id(pair.buildkit.text(path))


def test_files_created_by_users(pair: Pair) -> None:
    assert_same_fs(pair, "/out", exclude=tuple(f"/out/{n}" for n in IDS))


def test_workdir_owner(pair: Pair) -> None:
    assert_same_fs(pair, "/made-by-alice", "/made-by-root")


def test_copy_and_add_ignore_user(pair: Pair) -> None:
    """COPY and ADD make files owned by root (0:0) whatever USER says, unless --chown."""
    assert pair.buildkit.fs["/copied-as-alice/hello.txt"]["uid"] == 0
    assert_same_fs(pair, "/copied-as-alice", "/added-as-alice")


UNKNOWN_USER = Scenario(
    "user-unknown",
    (
        Build("FROM localhost/users:1\nUSER nosuchuser\nRUN true\n"),
        Build("FROM localhost/users:1\nUSER alice:nosuchgroup\nRUN true\n"),
        Build("FROM localhost/users:1\nUSER nosuchuser\n"),  # no RUN: nothing resolves it
        Build("FROM localhost/users:1\nUSER 4242:4343\nRUN id > /tmp/id\n"),
    ),
)


@pytest.mark.parametrize("index", [0, 1], ids=["user", "group"])
def test_an_unknown_user_name_fails_the_run(run: Run, index: int) -> None:
    assert_both_fail(run(UNKNOWN_USER)[index])


def test_an_unknown_user_name_without_a_run_is_only_config(run: Run) -> None:
    pair = run(UNKNOWN_USER)[2]
    assert_same_fs(pair)
    assert_same_config(pair)
    assert pair.buildkit.config["User"] == "nosuchuser"


def test_ids_need_no_passwd_entry(run: Run) -> None:
    pair = run(UNKNOWN_USER)[3]
    assert pair.etage.text("/tmp/id") == current_buildkit_id(pair.buildkit.text("/tmp/id"))


def test_config_and_history(pair: Pair) -> None:
    assert_same_config(pair)
    assert_same_history(pair)
