"""ARG and ENV scoping and expansion, and WORKDIR (created when missing, relative after
absolute, with ENV expansion): etage vs BuildKit, with and without --build-arg."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.conformance.harness import (
    Build,
    Pair,
    Scenario,
    assert_same_config,
    assert_same_fs,
    assert_same_history,
    assert_same_text,
)

Run = Callable[[Scenario], list[Pair]]

DOCKERFILE = """\
ARG BASE=localhost/busybox:1
ARG GLOBAL=global-default
ARG ONLY_IN_FROM=from-only
FROM $BASE AS one
ARG GLOBAL
ARG LOCAL=local-default
ARG FROMCLI
ARG EXPANDED=${GLOBAL}-and-${LOCAL}
ENV FROMENV=env-$LOCAL
ARG OVERRIDDEN=arg-value
ENV OVERRIDDEN=env-value
ARG OVERRIDDEN=arg-again
RUN mkdir /out && echo "global=$GLOBAL only_in_from=[$ONLY_IN_FROM] local=$LOCAL cli=[$FROMCLI] expanded=$EXPANDED env=$FROMENV overridden=$OVERRIDDEN" > /out/one
RUN echo "[$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$BUILDPLATFORM|$BUILDARCH]" > /out/predefined-undeclared
ARG TARGETPLATFORM
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
ARG BUILDPLATFORM
ARG BUILDOS
ARG BUILDARCH
RUN echo "[$TARGETPLATFORM|$TARGETOS|$TARGETARCH|$TARGETVARIANT|$BUILDPLATFORM|$BUILDOS|$BUILDARCH]" > /out/predefined
RUN env | grep -v -e '^HOME=' -e '^PWD=' -e '^SHLVL=' | sort > /out/env
ENV PLAIN=$LOCAL QUOTED="$LOCAL" SINGLE='$LOCAL' ESCAPED=\\$LOCAL DEFAULTED=${UNSET:-dflt} ALT=${LOCAL:+alt}
WORKDIR /work/$LOCAL
RUN pwd > /out/workdir

FROM $BASE AS sibling
ARG LOCAL
RUN echo "local=[$LOCAL] global=[$GLOBAL] cli=[$FROMCLI]" > /sibling

FROM $BASE AS multi
ARG A1=1 A2=${A1}2 A3=$A2-3
RUN echo "a1=[$A1] a2=[$A2] a3=[$A3]" > /multi

FROM $BASE
ENV DIR=/srv
WORKDIR $DIR/app
WORKDIR relative
WORKDIR ../up
WORKDIR /abs
WORKDIR ${DIR}/${NOPE:-dflt}
COPY --from=one /out /out
COPY --from=sibling /sibling /out/sibling
ARG LOCAL=final-default
ARG GLOBAL
ARG NOVALUE
ARG FROMCLI
ARG EXPANDED_FINAL=${LOCAL}-x
RUN echo "final local=[$LOCAL] global=[$GLOBAL] novalue=[$NOVALUE] cli=[$FROMCLI]" > /out/final \
    && echo "expanded=[$EXPANDED_FINAL] only_in_from=[$ONLY_IN_FROM]" >> /out/final \
    && pwd >> /out/final
COPY --from=multi /multi /out/multi
"""

ARGS = {"GLOBAL": "global-cli", "LOCAL": "local-cli", "FROMCLI": "cli", "UNUSED": "x"}
SCENARIO = Scenario("args", (Build(DOCKERFILE), Build(DOCKERFILE, build_args=ARGS)))


@pytest.fixture(params=["defaults", "build-args"])
def pair(run: Run, request: pytest.FixtureRequest) -> Pair:
    return run(SCENARIO)[0 if request.param == "defaults" else 1]


@pytest.mark.parametrize(
    "name", ["one", "predefined-undeclared", "predefined", "env", "workdir", "sibling", "final"]
)
def test_values_seen_by_run(pair: Pair, name: str) -> None:
    assert_same_text(pair, f"/out/{name}")


def test_arg_values_do_not_leak_between_sibling_stages(run: Run) -> None:
    bk = run(SCENARIO)[1].buildkit
    assert bk.text("/out/sibling") == "local=[local-cli] global=[] cli=[]\n"


def test_workdirs_are_created(pair: Pair) -> None:
    assert_same_fs(pair, "/srv", "/abs", "/work")


def test_whole_filesystem_and_config(pair: Pair) -> None:
    assert_same_fs(pair, exclude=("/out/multi",))  # see the last test
    assert_same_config(pair)


def test_history(pair: Pair) -> None:
    # COPY --from entries: see test_multistage.py::test_copy_from_history
    # ARG entries (N11): see the next test
    assert_same_history(pair, ignore=("COPY",))


# The final stage's ARG history entries: as BuildKit 20.10 writes them (the default as
# written, after expansion; a bare key without one) and as current BuildKit does.
FINAL_ARGS = {
    ("20.10", "defaults"): [
        "ARG LOCAL=final-default", "ARG GLOBAL", "ARG NOVALUE", "ARG FROMCLI",
        "ARG EXPANDED_FINAL=final-default-x",
    ],
    ("20.10", "build-args"): [
        "ARG LOCAL=final-default", "ARG GLOBAL", "ARG NOVALUE", "ARG FROMCLI",
        "ARG EXPANDED_FINAL=local-cli-x",
    ],
    ("current", "defaults"): [
        "ARG LOCAL=final-default", "ARG GLOBAL=global-default", "ARG NOVALUE", "ARG FROMCLI",
        "ARG EXPANDED_FINAL=final-default-x",
    ],
    ("current", "build-args"): [
        "ARG LOCAL=local-cli", "ARG GLOBAL=global-cli", "ARG NOVALUE", "ARG FROMCLI=cli",
        "ARG EXPANDED_FINAL=local-cli-x",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", ["defaults", "build-args"])
def test_arg_history_records_the_value_taken(run: Run, name: str) -> None:
    """Current BuildKit records `ARG KEY=<the value the ARG took>` (dispatchArg in
    dockerfile2llb/convert.go, since 47a52a17b, Apr 2024): the --build-arg value, else
    the default expanded, else the global ARG's value for a redeclared global, else the
    bare key. BuildKit 20.10 records the default as written (N11). Checked against 20.10's
    rule on BuildKit's side (so the test sees the entries it means) and against the
    current rule on etage's."""
    pair = run(SCENARIO)[0 if name == "defaults" else 1]
    bk = [h["created_by"] for h in pair.buildkit.history if h["created_by"].startswith("ARG ")]
    assert bk == FINAL_ARGS["20.10", name]
    et = [h["created_by"] for h in pair.etage.history if h["created_by"].startswith("ARG ")]
    assert et == FINAL_ARGS["current", name]


def test_several_args_in_one_instruction_expand_in_order(pair: Pair) -> None:
    """`ARG A1=1 A2=${A1}2`: current BuildKit expands each default after the ARGs before
    it are set (dispatchArg expands in its loop, with the state it updates: 47a52a17b,
    Apr 2024), so A2=12; BuildKit 20.10 expanded the whole instruction first (A2=2).
    Compared with current BuildKit."""
    assert pair.buildkit.text("/out/multi") == "a1=[1] a2=[2] a3=[-3]\n"  # 20.10
    assert pair.etage.text("/out/multi") == "a1=[1] a2=[12] a3=[12-3]\n"
