"""ADD <http URL>, the files served from 127.0.0.1 by the harness while both builders
run: the file name taken from the URL's path (not its query), destinations (directory,
file, existing directory, relative to WORKDIR), several URLs at once, --chown, archives
(never extracted from a URL), a missing file (404). etage vs BuildKit."""

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
    tar_bytes,
)

Run = Callable[[Scenario], list[Pair]]

SERVED: dict[str, bytes | str] = {
    "payload.txt": "payload\n",
    "sub/nested.txt": "nested\n",
    "archive.tar": tar_bytes({"inside/a.txt": "a\n"}),
    "archive.tar.gz": tar_bytes({"inside/b.txt": "b\n"}, compress="gz"),
}

DOCKERFILE = """\
FROM localhost/users:1
ADD {HTTP}/payload.txt /dl/
ADD {HTTP}/payload.txt /dl/renamed
ADD {HTTP}/archive.tar {HTTP}/archive.tar.gz /dl/archives/
ADD --chown=alice:staff {HTTP}/payload.txt /dl/owned
ADD --chown=1234 {HTTP}/sub/nested.txt /dl/owned-by-id/
ADD {HTTP}/sub/nested.txt?version=1&x=y /dl/query/
RUN mkdir /existing
ADD {HTTP}/payload.txt /existing
WORKDIR /w
ADD {HTTP}/payload.txt relative
ADD {HTTP}/sub/nested.txt .
"""

ADD_URL = Scenario("add-url", (Build(DOCKERFILE, http=SERVED),))


@pytest.fixture
def pair(run: Run) -> Pair:
    return run(ADD_URL)[0]


@pytest.mark.parametrize(
    "paths",
    [
        ("/dl/payload.txt", "/dl/renamed"),
        ("/dl/archives",),
        ("/dl/owned", "/dl/owned-by-id"),
        ("/dl/query",),
        ("/existing",),
        ("/w",),
    ],
    ids=["name-from-url", "archives-not-extracted", "chown", "query", "existing-dir", "workdir"],
)
def test_downloaded_files(pair: Pair, paths: tuple[str, ...]) -> None:
    assert_same_fs(pair, *paths)


def test_downloads_are_0600_and_named_after_the_url_path(pair: Pair) -> None:
    fs = pair.buildkit.fs
    assert fs["/dl/payload.txt"]["mode"] == "0600"
    assert fs["/dl/archives/archive.tar"]["type"] == "file"
    assert pair.buildkit.text("/dl/query/nested.txt") == "nested\n"


def test_whole_filesystem_config_and_history(pair: Pair) -> None:
    assert_same_fs(pair)
    assert_same_config(pair)
    assert_same_history(pair)


ADD_MISSING = Scenario(
    "add-url-missing",
    (Build("FROM localhost/busybox:1\nADD {HTTP}/missing.txt /x\n", http={"other": "o"}),),
)


def test_a_missing_url_fails_the_build(run: Run) -> None:
    assert_both_fail(run(ADD_MISSING)[0])
