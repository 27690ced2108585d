"""The stage graph: references, pruning, waves, ARG scoping, and the errors around them."""

from __future__ import annotations

import pytest

from etage.errors import DockerfileError, ExpansionError, PlanError
from etage.platforms import Platform
from tests.conftest import dockerfile, plan_of

MULTI = """
    ARG NODE=18
    FROM node:${NODE} AS deps
    WORKDIR /app
    COPY package*.json ./
    RUN npm ci

    FROM deps AS builder
    COPY . .
    RUN npm run build

    FROM alpine:3.19 AS assets
    RUN echo hi > /logo.svg

    FROM deps AS test
    RUN npm test

    FROM node:${NODE}-slim AS runtime
    COPY --from=builder /app/dist ./dist
    COPY --from=assets /logo.svg /static/
    COPY --from=nginx:1.25 /etc/nginx/mime.types /etc/
    CMD ["node", "dist/index.js"]
"""


def labels(plan, indexes):  # type: ignore[no-untyped-def]
    return [plan.label(i) for i in indexes]


def test_needed_pruned_and_waves() -> None:
    p = plan_of(MULTI)
    assert p.target_stage.label == "runtime"
    assert [s.label for s in p.needed] == ["deps", "builder", "assets", "runtime"]
    assert [s.label for s in p.pruned] == ["test"]
    assert [labels(p, w) for w in p.waves] == [["deps", "assets"], ["builder"], ["runtime"]]
    assert p.external_images == ("node:18", "alpine:3.19", "node:18-slim", "nginx:1.25")
    runtime = p.target_stage
    assert [(e.source, e.source_stage, e.sources, e.dest) for e in runtime.copies_from] == [
        ("builder", 1, ("/app/dist",), "./dist"),
        ("assets", 2, ("/logo.svg",), "/static/"),
        ("nginx:1.25", None, ("/etc/nginx/mime.types",), "/etc/"),
    ]
    assert "not needed" in p.stages[3].reason
    assert p.stages[0].reason == "base of stage builder"


def test_target_selects_and_prunes() -> None:
    p = plan_of(MULTI, target="test")
    assert [s.label for s in p.needed] == ["deps", "test"]
    assert [labels(p, w) for w in p.waves] == [["deps"], ["test"]]
    assert p.external_images == ("node:18",)


def test_target_is_case_insensitive_and_unknown_target_suggests() -> None:
    assert plan_of(MULTI, target="BUILDER").target_stage.label == "builder"
    with pytest.raises(PlanError) as err:
        plan_of(MULTI, target="biulder")
    assert 'target stage "biulder" could not be found' in err.value.message
    assert 'did you mean "builder"' in err.value.message


def test_from_stage_is_case_sensitive_but_copy_from_is_not() -> None:
    # BuildKit stores names lower-cased; FROM matches the expanded name exactly,
    # COPY --from lower-cases the reference.
    p = plan_of(
        """
        FROM alpine AS Build
        FROM Build
        FROM alpine
        COPY --from=BUILD /a /a
        """
    )
    assert p.stages[1].base_stage is None and p.stages[1].base == "Build"
    assert p.stages[2].copies_from[0].source_stage == 0


def test_numeric_references_and_invalid_index() -> None:
    p = plan_of(
        """
        FROM golang:1.22
        RUN go build -o /out/app .
        FROM scratch
        COPY --from=0 /out/app /app
        """
    )
    assert p.stages[1].depends_on == (0,)
    assert p.stages[1].copies_from[0].source == "0"
    with pytest.raises(PlanError, match="invalid stage index 5"):
        plan_of("FROM a\nFROM b\nCOPY --from=5 /x /x\n")


def test_run_mount_from_is_a_dependency() -> None:
    p = plan_of(
        """
        FROM alpine AS src
        RUN echo > /x
        FROM alpine
        RUN --mount=type=bind,from=src,source=/x,target=/mnt/x cat /mnt/x
        RUN --mount=type=cache,target=/root/.cache true
        """
    )
    edge = p.stages[1].copies_from[0]
    assert (edge.source, edge.kind, edge.sources, edge.dest) == ("src", "mount", ("/x",), None)
    assert p.stages[1].depends_on == (0,)


def test_cycles_and_self_references_are_errors() -> None:
    with pytest.raises(PlanError, match="circular dependency") as err:
        plan_of("FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nCOPY --from=one /y /y\n")
    assert err.value.location is not None
    with pytest.raises(PlanError, match="uses itself") as err:
        plan_of("FROM a AS one\nCOPY --from=one /x /x\n")
    assert err.value.location is not None and err.value.location.line == 2


def test_forward_reference_is_an_error_only_when_built() -> None:
    text = "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\nFROM c AS three\n"
    with pytest.raises(PlanError, match='cannot copy from stage "two"'):
        plan_of(text, target="one")
    assert plan_of(text).target_stage.label == "three"  # stage one is pruned


def test_variable_in_copy_from_is_rejected_like_buildkit() -> None:
    with pytest.raises(PlanError, match="variable expansion is not supported for --from"):
        plan_of("ARG SRC=a\nFROM b AS a\nFROM c\nCOPY --from=$SRC /x /x\n")


def test_global_arg_visible_in_from_only_unless_redeclared() -> None:
    p = plan_of(
        """
        ARG VERSION=1.2
        ARG DIR=/opt
        FROM alpine:${VERSION} AS src
        FROM alpine
        COPY --from=src ${DIR}/a /a
        ARG DIR
        COPY --from=src ${DIR}/b /b
        """
    )
    assert p.stages[0].base == "alpine:1.2"
    sources = [e.sources for e in p.stages[1].copies_from]
    assert sources == [("/a",), ("/opt/b",)]
    assert [v.name for v in p.stages[1].undefined_vars] == ["DIR"]


def test_build_arg_overrides_defaults_in_both_scopes() -> None:
    text = """
        ARG TAG=1
        FROM alpine:${TAG} AS src
        FROM alpine
        ARG WHERE=/default
        COPY --from=src ${WHERE} /x
    """
    p = plan_of(text, build_args={"TAG": "2", "WHERE": "/given"})
    assert p.stages[0].base == "alpine:2"
    assert p.stages[1].copies_from[0].sources == ("/given",)


def test_env_and_arg_later_one_wins_and_same_line_env_uses_old_values() -> None:
    p = plan_of(
        """
        FROM alpine AS s
        FROM alpine
        ARG V=from-arg
        ENV V=from-env
        COPY --from=s /$V /a
        ARG V=again-arg
        COPY --from=s /$V /b
        ENV A=1 B=$A
        COPY --from=s /x$B /c
        """
    )
    assert [e.sources for e in p.stages[1].copies_from] == [
        ("/from-env",),
        ("/again-arg",),
        ("/x",),  # B took A's value from before this ENV: unset
    ]


def test_args_do_not_leak_between_siblings_but_flow_to_children() -> None:
    p = plan_of(
        """
        FROM alpine AS base
        ARG SECRET_DIR=/base
        FROM alpine AS sibling
        COPY --from=base ${SECRET_DIR}/x /x
        FROM base AS child
        COPY --from=sibling ${SECRET_DIR}/y /y
        """
    )
    assert p.stages[1].copies_from[0].sources == ("/x",)
    assert p.stages[2].copies_from[0].sources == ("/base/y",)


def test_predefined_platform_args() -> None:
    p = plan_of(
        """
        FROM --platform=$BUILDPLATFORM golang:1.22 AS build
        ARG TARGETARCH
        FROM alpine
        COPY --from=build /out/app-${TARGETARCH} /app
        ARG TARGETARCH TARGETSTAGE
        COPY --from=build /out/app-${TARGETARCH}-${TARGETSTAGE} /app
        """,
        target_platform=Platform("linux", "arm64"),
        build_platform=Platform("linux", "amd64"),
    )
    assert p.stages[0].platform == "linux/amd64"
    assert p.stages[1].copies_from[0].sources == ("/out/app-",)  # not declared in the stage
    assert p.stages[1].copies_from[1].sources == ("/out/app-arm64-default",)


def test_onbuild_copy_from_in_a_stage_base_is_a_dependency() -> None:
    p = plan_of(
        """
        FROM alpine AS assets
        RUN echo > /a
        FROM alpine AS base
        ONBUILD COPY --from=assets /a /a
        FROM base
        """
    )
    assert p.stages[2].depends_on == (1, 0)
    assert p.stages[2].copies_from[0].kind == "onbuild"
    assert [s.label for s in p.needed] == ["assets", "base", "2"]


def test_blank_base_and_expansion_errors_carry_locations() -> None:
    with pytest.raises(PlanError, match="should not be blank") as err:
        plan_of("ARG IMAGE\nFROM $IMAGE\n")
    assert err.value.location is not None and err.value.location.line == 2
    with pytest.raises(ExpansionError, match="failed to process"):
        plan_of("FROM ${IMAGE\n")


def test_expansion_errors_in_pruned_stages_are_ignored() -> None:
    p = plan_of("FROM a AS broken\nCOPY ${X /x /y\nFROM b\n")
    assert p.target_stage.label == "1"
    with pytest.raises(ExpansionError):
        plan_of("FROM a AS broken\nCOPY ${X /x /y\nFROM b\n", target="broken")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM alpine AS 1st\n", "invalid name for build stage"),
        ("FROM alpine AS my/stage\n", "invalid name for build stage"),
        ("RUN echo\nFROM alpine\n", "before the first FROM"),
        ("ARG A=1\n", "no stages to build"),
        ("# just a comment\n", "file with no instructions"),
        ("", "cannot be empty"),
        ("FROM a\nBOGUS x\n", "unknown instruction: BOGUS"),
        ("FROM a\nCOPY onlyone\n", "requires at least two arguments"),
        ("FROM a\nADD --from=b /x /y\n", "unknown flag: --from"),
    ],
)
def test_dockerfile_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message) as err:
        dockerfile(text)
    assert err.value.location is not None


def test_duplicate_stage_names_last_one_wins_like_buildkit() -> None:
    p = plan_of(
        """
        FROM alpine AS dup
        FROM busybox AS dup
        FROM scratch
        COPY --from=dup /x /x
        """
    )
    assert p.stages[2].copies_from[0].source_stage == 1
    assert [s.label for s in p.pruned] == ["dup"]  # stage 0 is shadowed


def test_predefined_build_args_are_not_reported_unused() -> None:
    p = plan_of(
        "FROM alpine\nARG USED\n",
        build_args={
            "HTTP_PROXY": "http://proxy:3128",
            "SOURCE_DATE_EPOCH": "0",
            "USED": "1",
            "TYPO": "x",
        },
    )
    assert p.unused_build_args == ("TYPO",)


def test_a_stage_index_is_ascii_digits_as_go_parses_it() -> None:
    # "\u0661" is ARABIC-INDIC DIGIT ONE: str.isdigit() says yes, Go's strconv.Atoi (and
    # so BuildKit) says no: it names an image, not stage 1.
    text = "FROM busybox AS a\nRUN true\nFROM busybox\nCOPY --from=\u0661 /x /y\nCOPY --from=+0 /x /z\n"
    edges = [(e.source_stage, e.line) for s in plan_of(text).stages for e in s.copies_from]
    assert edges == [(None, 4), (0, 5)]
