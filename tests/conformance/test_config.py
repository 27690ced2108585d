"""The image config: ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, HEALTHCHECK,
ENTRYPOINT and CMD (and how they interplay with the base image's), SHELL, MAINTAINER,
ONBUILD (stored, then triggered by a build FROM the image), with their history entries.
Config-only stages are cheap to build: one Dockerfile, one build per --target."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conformance.harness import (
    Build,
    Pair,
    Scenario,
    Side,
    assert_same_config,
    assert_same_fs,
    assert_same_history,
)

Run = Callable[[Scenario], list[Pair]]

DOCKERFILE = """\
FROM localhost/busybox:1 AS everything
MAINTAINER Jane Doe <jane@example.com>
ENV A=1 B="two words" C=$A-x
ENV LEGACY value with  spaces
ENV D=${A}${B:+-set} E=${NOPE:-fallback} F=${NOPE:+never}
LABEL version="1.0" description="multi word" "quoted key"=v empty=""
LABEL version=2 from-env=$A
EXPOSE 80 443/tcp 53/udp $A
VOLUME /data /data2
VOLUME ["/logs", "/cache"]
VOLUME /data/$A
USER 1234:5678
WORKDIR /app
WORKDIR sub
WORKDIR $C/dir
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=4 CMD ["/bin/true"]
ENTRYPOINT ["/bin/echo", "entry"]
CMD ["cmd", "args"]
SHELL ["/bin/sh", "-xc"]
ONBUILD RUN echo onbuild
ONBUILD ENV FROM_ONBUILD=1

FROM localhost/busybox:1 AS entrypoint-resets-cmd
ENTRYPOINT ["/bin/echo"]

FROM localhost/busybox:1 AS cmd-then-entrypoint
CMD ["kept"]
ENTRYPOINT ["/bin/echo"]

FROM cmd-then-entrypoint AS entrypoint-resets-inherited-cmd
ENTRYPOINT ["/bin/cat"]

FROM cmd-then-entrypoint AS cmd-keeps-inherited-entrypoint
CMD ["/etc/hostname"]

FROM localhost/busybox:1 AS shell-forms
SHELL ["/bin/busybox", "sh", "-c"]
ENTRYPOINT echo "shell form" $HOME
CMD echo cmd in shell form
HEALTHCHECK CMD wget -q localhost || exit 1

FROM everything AS inherits
HEALTHCHECK NONE
CMD []
ENV A=overridden
LABEL version=3
EXPOSE 9000
STOPSIGNAL 9

FROM localhost/busybox:1 AS expose-range
EXPOSE 8080-8081 9000-9000/udp

FROM localhost/busybox:1 AS stopsignal-and-user-names
USER nobody:nogroup
STOPSIGNAL SIGRTMIN+3
WORKDIR /
"""

TARGETS = (
    "everything", "entrypoint-resets-cmd", "cmd-then-entrypoint",
    "entrypoint-resets-inherited-cmd", "cmd-keeps-inherited-entrypoint", "shell-forms", "inherits",
    "stopsignal-and-user-names", "expose-range",
)  # fmt: skip
CONFIG = Scenario("config", tuple(Build(DOCKERFILE, target=t) for t in TARGETS))


@pytest.fixture
def pairs(run: Run) -> dict[str, Pair]:
    return dict(zip(TARGETS, run(CONFIG), strict=True))


@pytest.mark.parametrize("target", TARGETS)
def test_config(pairs: dict[str, Pair], target: str) -> None:
    assert_same_config(pairs[target])


# History entries whose text BuildKit 20.10 writes in an older format than current
# BuildKit (each checked against the current format by a test below).
KNOWN_HISTORY_DIFFERENCES = ("EXPOSE", "HEALTHCHECK")


@pytest.mark.parametrize("target", TARGETS)
def test_history(pairs: dict[str, Pair], target: str) -> None:
    assert_same_history(pairs[target], ignore=KNOWN_HISTORY_DIFFERENCES)


def _history_of(side: Side, keyword: str) -> list[str]:
    side.need()
    return [h["created_by"] for h in side.history if h["created_by"].startswith(keyword + " ")]


def test_volume_history(pairs: dict[str, Pair]) -> None:
    pair = pairs["everything"]
    expected = ["VOLUME [/data /data2]", "VOLUME [/logs /cache]", "VOLUME [/data/1]"]
    assert _history_of(pair.buildkit, "VOLUME") == expected  # 20.10 and current alike
    assert _history_of(pair.etage, "VOLUME") == expected


def test_expose_history(pairs: dict[str, Pair]) -> None:
    """BuildKit 20.10 writes Go's %v of a map (`EXPOSE map[1/tcp:{} 443/tcp:{}]`);
    current BuildKit writes %v of the list of expanded ports, in the order written
    (convert_expose.go: `fmt.Sprintf("EXPOSE %v", psp)`). Compared with current."""
    assert _history_of(pairs["everything"].buildkit, "EXPOSE")[0].startswith("EXPOSE map[")
    assert _history_of(pairs["everything"].etage, "EXPOSE") == [
        "EXPOSE [80/tcp 443/tcp 53/udp 1/tcp]"
    ]
    assert _history_of(pairs["expose-range"].etage, "EXPOSE") == [
        "EXPOSE [8080/tcp 8081/tcp 9000/udp]"
    ]


def test_healthcheck_history(pairs: dict[str, Pair]) -> None:
    """BuildKit 20.10 writes `HEALTHCHECK &{["CMD" "/bin/true"] "5s" "3s" "10s" '\\x04'}`;
    current BuildKit `fmt.Sprintf("HEALTHCHECK %+v", *d.image.Config.Healthcheck)` of
    docker-image-spec's HealthcheckConfig (Test, Interval, Timeout, StartPeriod,
    StartInterval, Retries). Compared with current."""
    assert _history_of(pairs["everything"].buildkit, "HEALTHCHECK")[0].startswith("HEALTHCHECK &{")
    assert _history_of(pairs["everything"].etage, "HEALTHCHECK") == [
        "HEALTHCHECK {Test:[CMD /bin/true] Interval:5s Timeout:3s StartPeriod:10s "
        "StartInterval:0s Retries:4}"
    ]
    assert _history_of(pairs["inherits"].etage, "HEALTHCHECK")[-1] == (
        "HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_filesystem(pairs: dict[str, Pair], target: str) -> None:
    """Only WORKDIR touches the filesystem (it creates missing directories)."""
    assert_same_fs(pairs[target])


def test_entrypoint_resets_the_base_cmd(pairs: dict[str, Pair]) -> None:
    bk = pairs["entrypoint-resets-cmd"].buildkit
    bk.need()
    assert "Cmd" not in bk.config and bk.config["Entrypoint"] == ["/bin/echo"]
    assert pairs["cmd-then-entrypoint"].buildkit.config["Cmd"] == ["kept"]
    assert "Cmd" not in pairs["entrypoint-resets-inherited-cmd"].buildkit.config
    inherited = pairs["cmd-keeps-inherited-entrypoint"].buildkit.config
    assert inherited["Entrypoint"] == ["/bin/echo"] and inherited["Cmd"] == ["/etc/hostname"]


ONBUILD_PARENT = """\
FROM localhost/busybox:1
ONBUILD RUN echo triggered > /triggered && cat /from-context >> /triggered
ONBUILD ENV CHILD=1
ONBUILD LABEL child=yes
ONBUILD WORKDIR /child
RUN echo parent > /parent
"""
ONBUILD_COPY_FIRST = """\
FROM localhost/busybox:1
ONBUILD COPY from-context /from-context
"""
ONBUILD_CHILD = """\
FROM localhost/conformance-onbuild-parent:1 AS child
RUN pwd > /child-pwd && echo "$CHILD" >> /child-pwd

FROM child AS grandchild
RUN echo grandchild > /grandchild
"""

ONBUILD = Scenario(
    "onbuild",
    (
        Build(ONBUILD_COPY_FIRST, tag="localhost/conformance-onbuild-base:1"),
        Build(
            ONBUILD_PARENT.replace("localhost/busybox:1", "localhost/conformance-onbuild-base:1"),
            {"from-context": "parent's context\n"},
            tag="localhost/conformance-onbuild-parent:1",
        ),
        Build(ONBUILD_CHILD, {"from-context": "child's context\n"}, target="child"),
        Build(ONBUILD_CHILD, {"from-context": "child's context\n"}, target="grandchild"),
    ),
)


@pytest.fixture
def onbuild(run: Run) -> list[Pair]:
    return run(ONBUILD)


def test_onbuild_triggers_are_stored(onbuild: list[Pair]) -> None:
    assert_same_config(onbuild[0])
    assert onbuild[0].buildkit.config["OnBuild"] == ["COPY from-context /from-context"]


def test_onbuild_triggers_run_in_the_next_build_only(onbuild: list[Pair]) -> None:
    """The parent build runs its base's trigger (a COPY from the parent's own context)
    and stores its own triggers; the child runs them; the grandchild, FROM the child
    stage, runs none."""
    for pair in onbuild[1:]:
        assert_same_fs(pair)
        assert_same_config(pair)
    child = onbuild[2].buildkit
    assert child.text("/triggered") == "triggered\nparent's context\n"
    assert child.text("/child-pwd") == "/child\n1\n"


def test_onbuild_history(onbuild: list[Pair]) -> None:
    for pair in onbuild:
        assert_same_history(pair)
