"""RUN (shell and exec form), SHELL, the environment a RUN sees, what a RUN leaves in a
layer (modes, owners, links, deletions): etage vs BuildKit, one build for the family."""

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
    assert_same_text,
    current_buildkit_id,
)

Run = Callable[[Scenario], list[Pair]]

RUN_FAMILY = Scenario(
    "run",
    (
        Build(
            """\
FROM localhost/busybox:1
RUN mkdir -p /out && echo shell-form > /out/shell
RUN ["/bin/sh", "-c", "echo exec-form > /out/exec"]
RUN ["/bin/busybox", "touch", "/out/exec-no-shell"]
ENV GREETING=hello
RUN ["/bin/sh", "-c", "echo \\"$0|$1|$GREETING\\" > /out/exec-no-expansion", "$GREETING", "${HOME}"]
RUN echo "$GREETING ${GREETING}" '$GREETING' > /out/shell-expansion
RUN echo "a  b" 'c  d' \\
    continued > /out/continuation
RUN env | sort > /out/env; id > /out/id; umask > /out/umask; pwd > /out/pwd; \\
    hostname > /out/hostname; echo "$0 $-" > /out/shell-flags
SHELL ["/bin/sh", "-ec"]
RUN echo "$0 $-" > /out/shell-ec
SHELL ["/bin/busybox", "sh", "-c"]
RUN echo after-shell "$0" > /out/after-shell
RUN mkdir -p /out/modes && cd /out/modes && touch suid sgid plain && chown 123:456 suid \\
    && chmod 4755 suid && chmod 2711 sgid && chmod 600 plain \\
    && mkdir sticky && chmod 1777 sticky && mkdir owned && chown 7:8 owned
RUN cd /out/modes && ln -s ../shell link && ln -s /nowhere dangling && ln plain hard \\
    && mkfifo fifo
RUN rm /out/exec && rm -rf /out/modes/owned && echo changed > /out/shell
RUN mkdir -p /opq/keep && touch /opq/a /opq/b /opq/keep/k
RUN rm -rf /opq && mkdir /opq && touch /opq/c
RUN mkdir /base-replaced && rm -rf /var && echo file > /var
WORKDIR /w
RUN pwd > /out/pwd-in-workdir && touch relative-file
""",
        ),
    ),
)


@pytest.fixture
def pair(run: Run) -> Pair:
    return run(RUN_FAMILY)[0]


def test_shell_form_and_exec_form(pair: Pair) -> None:
    assert pair.buildkit.text("/out/exec-no-shell") == ""
    for path in ("/out/shell", "/out/exec-no-shell", "/out/continuation"):
        assert_same_fs(pair, path)


def test_exec_form_does_not_expand_variables(pair: Pair) -> None:
    """The exec form's words reach the process as written (the environment still has
    ENV's variables); the shell form's shell expands them."""
    assert pair.buildkit.text("/out/exec-no-expansion") == "$GREETING|${HOME}|hello\n"
    assert_same_text(pair, "/out/exec-no-expansion")
    assert_same_text(pair, "/out/shell-expansion")


@pytest.mark.parametrize("name", ["env", "umask", "pwd", "hostname", "shell-flags"])
def test_the_environment_a_run_sees(pair: Pair, name: str) -> None:
    assert_same_text(pair, f"/out/{name}")


def test_the_ids_a_run_has(pair: Pair) -> None:
    """BuildKit since v0.12 (moby/buildkit a0ef27c, "Ensures that the primary GID is also
    included in the additional GIDs") gives the process its primary group as a
    supplementary group too; 20.10's BuildKit does not. Compared with current BuildKit."""
    assert pair.etage.text("/out/id") == current_buildkit_id(pair.buildkit.text("/out/id"))


def test_shell_instruction_changes_the_shell_of_later_runs(pair: Pair) -> None:
    assert_same_text(pair, "/out/shell-ec")
    assert_same_text(pair, "/out/after-shell")
    assert_same_config(pair, "Shell")


def test_modes_owners_and_special_files(pair: Pair) -> None:
    """setuid/setgid/sticky bits, numeric owners, symlinks (dangling too), hardlinks, FIFOs."""
    assert pair.buildkit.fs["/out/modes/suid"]["mode"] == "4755"
    assert_same_fs(pair, "/out/modes")


def test_deletions_reach_the_image(pair: Pair) -> None:
    """Files and directories removed by a RUN are gone (whiteouts), replaced ones changed."""
    assert "/out/exec" not in pair.buildkit.fs
    assert_same_fs(pair, "/out/exec", "/out/shell", "/var", "/base-replaced")


def test_a_directory_recreated_after_rm_rf_holds_only_the_new_content(pair: Pair) -> None:
    assert_same_fs(pair, "/opq")


def test_workdir_is_the_cwd_of_run(pair: Pair) -> None:
    assert_same_fs(pair, "/w")
    assert_same_text(pair, "/out/pwd-in-workdir")


def test_whole_filesystem(pair: Pair) -> None:
    assert_same_fs(pair, exclude=("/out/id",))


def test_config_and_history(pair: Pair) -> None:
    assert_same_config(pair)
    assert_same_history(pair, ignore=("SHELL",))


def test_shell_history_entry(pair: Pair) -> None:
    shells = [h for h in pair.buildkit.history if h["created_by"].startswith("SHELL")]
    assert shells and shells[0]["created_by"] == "SHELL [/bin/sh -ec]"
    assert [h for h in pair.etage.history if h["created_by"].startswith("SHELL")] == shells


RUN_ERRORS = Scenario(
    "run-errors",
    (
        Build("FROM localhost/busybox:1\nRUN exit 3\n"),
        Build('FROM localhost/busybox:1\nRUN ["/no/such/binary"]\n'),
        Build("FROM localhost/busybox:1\nRUN echo ok && false\n"),
    ),
)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["exit-status", "missing-binary", "and-list"])
def test_a_failing_run_fails_the_build(run: Run, index: int) -> None:
    assert_both_fail(run(RUN_ERRORS)[index])
