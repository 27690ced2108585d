"""Arbitrary text through the whole frontend (parse, plan, checks, renderers) never
produces anything but etage's own errors."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etage.checks.context import CheckInput
from etage.checks.render import render_json, render_sarif, render_text
from etage.checks.runner import run_checks
from etage.dockerfile.parse import parse_dockerfile
from etage.errors import EtageError
from etage.plan.graph import PlanOptions, build_plan
from etage.plan.render import RENDERERS

KEYWORDS = [
    "FROM", "from", "RUN", "COPY", "ADD", "ARG", "ENV", "LABEL", "WORKDIR", "USER", "CMD",
    "ENTRYPOINT", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL",
    "MAINTAINER", "AS", "as", "--from=", "--from=0", "--from=1", "--mount=from=", "--target",
    "--platform=$BUILDPLATFORM", "$", "${", "}", "${A:-b}", "${A#*}", "\\", "`", '"', "'", "[",
    "]", '["a", "b"]', "<<EOF", "EOF", "<<-'X'", "X", "#", "# check=error=true", "# escape=`",
    "=", "node:18", "scratch", "builder", "runtime", "/app", ".", "./dist", "npm ci", "npm run build",
    "apt-get install -y gcc", "node_modules", "&&", ";", "|", "\t", " ", "  ",
]  # fmt: skip

lines = st.lists(
    st.one_of(st.sampled_from(KEYWORDS), st.text(max_size=8)), min_size=0, max_size=8
).map(" ".join)
starts = st.sampled_from(
    ["", "FROM node:18 AS builder", "ARG A=1\nFROM $A AS runtime", "FROM scratch"]
)
documents = st.tuples(
    starts,
    st.lists(
        st.one_of(lines, st.sampled_from(["FROM alpine AS runtime", "FROM builder"])), max_size=25
    ),
).map(lambda t: "\n".join([t[0], *t[1]]))


def pipeline(text: str, target: str | None, build_args: dict[str, str]) -> None:
    try:
        df = parse_dockerfile(text)
        plan = build_plan(df, PlanOptions(target=target, build_args=build_args))
        for render in RENDERERS.values():
            render(plan)
        report = run_checks(CheckInput(plan))
        render_json(report)
        render_sarif(report)
        render_text(report, df.parsed.lines)
    except EtageError as exc:
        # Errors for humans: every one says something.
        if not exc.message or not str(exc):
            raise AssertionError(f"empty error message from {type(exc).__name__}") from exc


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "800")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    documents,
    st.sampled_from([None, "builder", "runtime", "0", "missing"]),
    st.dictionaries(st.sampled_from(["A", "NODE", "TARGETARCH"]), st.text(max_size=5), max_size=2),
)
def test_grammar_soup_only_raises_etage_errors(
    text: str, target: str | None, args: dict[str, str]
) -> None:
    pipeline(text, target, args)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_etage_errors(text: str) -> None:
    pipeline(text, None, {})
