"""FROM and the build options around it: FROM --platform (the native platform, given
literally, as $BUILDPLATFORM and as $TARGETPLATFORM), FROM an image named by a global
ARG (default and --build-arg), `--platform` (native) and `--label` on the command line,
RUN on a scratch stage. etage vs BuildKit."""

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
)

from etage.platforms import host

Run = Callable[[Scenario], list[Pair]]

NATIVE = str(host())  # os/arch[/variant]

DOCKERFILE = f"""\
ARG BASE=localhost/busybox:1
FROM --platform={NATIVE} $BASE AS explicit
ARG TARGETPLATFORM
ARG BUILDPLATFORM
RUN echo "$TARGETPLATFORM $BUILDPLATFORM" > /explicit && cat /etc/passwd >> /explicit

FROM --platform=$BUILDPLATFORM localhost/busybox:1 AS on-build-platform
ARG TARGETARCH
ARG BUILDARCH
RUN echo "$TARGETARCH $BUILDARCH" > /on-build-platform

FROM --platform=$TARGETPLATFORM $BASE AS final
COPY --from=explicit /explicit /
COPY --from=on-build-platform /on-build-platform /
LABEL from-dockerfile=1 overridden=dockerfile
RUN cat /etc/passwd > /base-passwd
"""

FROM_OPTIONS = Scenario(
    "from",
    (
        Build(DOCKERFILE),
        Build(DOCKERFILE, platform=NATIVE),
        Build(
            DOCKERFILE,
            labels={"overridden": "command-line", "cli-only": "x y", "empty": ""},
        ),
        # the global ARG names the image of FROM: --build-arg changes it
        Build(DOCKERFILE, build_args={"BASE": "localhost/users:1"}),
    ),
)
NAMES = ["default", "platform", "labels", "base-arg"]


@pytest.fixture(params=NAMES)
def pair(run: Run, request: pytest.FixtureRequest) -> Pair:
    return run(FROM_OPTIONS)[NAMES.index(request.param)]


@pytest.mark.parametrize("name", ["explicit", "on-build-platform", "base-passwd"])
def test_what_runs_see(pair: Pair, name: str) -> None:
    assert_same_text(pair, f"/{name}")


def test_platform_args_are_the_native_platform(run: Run) -> None:
    bk = run(FROM_OPTIONS)[0].buildkit
    assert bk.text("/explicit").startswith(f"{NATIVE} {NATIVE}\n")


def test_whole_filesystem_and_config(pair: Pair) -> None:
    """The config includes the image's platform (architecture, os, variant)."""
    assert_same_fs(pair)
    assert_same_config(pair)


def test_history(pair: Pair) -> None:
    assert_same_history(pair, ignore=("COPY",))  # see test_multistage::test_copy_from_history


def test_command_line_labels_override_the_dockerfile(run: Run) -> None:
    labels = run(FROM_OPTIONS)[2].buildkit.config.get("Labels")
    assert labels == {
        "from-dockerfile": "1", "overridden": "command-line", "cli-only": "x y", "empty": "",
    }  # fmt: skip


def test_the_base_image_comes_from_the_build_arg(run: Run) -> None:
    bk = run(FROM_OPTIONS)[3].buildkit
    assert "alice" in bk.text("/base-passwd") and "alice" in bk.text("/explicit")
    assert bk.config["Labels"]["base"] == "users"


RUN_ON_SCRATCH = Scenario(
    "run-on-scratch",
    (
        Build('FROM scratch\nRUN ["/bin/true"]\n'),
        Build("FROM scratch\nRUN true\n"),
    ),
)


@pytest.mark.parametrize("index", [0, 1], ids=["exec-form", "shell-form"])
def test_run_on_an_empty_scratch_stage_fails(run: Run, index: int) -> None:
    """Nothing to run on an empty filesystem: both builders fail."""
    assert_both_fail(run(RUN_ON_SCRATCH)[index])


SCRATCH_WITH_BINARY = Scenario(
    "run-on-scratch-with-binary",
    (
        Build(
            """\
FROM scratch
COPY --from=localhost/busybox:1 /bin/busybox /bin/busybox
RUN ["/bin/busybox", "mkdir", "-p", "/made/by/run"]
RUN ["/bin/busybox", "sh", "-c", "echo $PATH > /made/path"]
""",
            bk_scratch_stubs=("/dev", "/etc", "/proc", "/sys"),  # N12
        ),
    ),
)


def test_run_on_scratch_with_a_binary_copied_in(run: Run) -> None:
    """Only what COPY and RUN made is in the image (harness N12: BuildKit's runtime
    mount points are dropped from its side)."""
    (pair,) = run(SCRATCH_WITH_BINARY)
    assert pair.buildkit.text("/made/path") == pair.etage.text("/made/path")
    assert_same_fs(pair)
    assert_same_history(pair, ignore=("COPY",))
