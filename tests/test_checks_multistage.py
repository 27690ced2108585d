"""etage's multi-stage rules: each fires where it should, at the right line, and only
on the stages that ship."""

from __future__ import annotations

from pathlib import Path

import pytest

from etage.checks.context import CheckInput
from etage.checks.model import Finding, Severity
from etage.checks.multistage import check_multistage
from etage.plan.graph import PlanOptions, build_plan
from tests.conftest import dockerfile


def findings(text: str, *, target: str | None = None, context: Path | None = None) -> list[Finding]:
    plan = build_plan(dockerfile(text), PlanOptions(target=target))
    return list(
        check_multistage(CheckInput(plan, context_dir=context, explicit_target=bool(target)))
    )


def rules(text: str, **kw: object) -> list[tuple[str, int]]:
    return [(f.rule.id, f.line) for f in findings(text, **kw)]  # type: ignore[arg-type]


WELL_MADE_NODE = """
    FROM node:18 AS builder
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci
    COPY . .
    RUN npm run build

    FROM node:18 AS prod-deps
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci --omit=dev

    FROM node:18-slim AS runtime
    WORKDIR /app
    COPY --from=prod-deps /app/node_modules ./node_modules
    COPY --from=builder /app/dist ./dist
    CMD ["node", "dist/index.js"]
"""

WELL_MADE_GO = """
    FROM golang:1.22 AS build
    WORKDIR /src
    COPY go.mod go.sum ./
    RUN go mod download
    COPY . .
    RUN CGO_ENABLED=0 go build -o /out/server ./cmd/server

    FROM gcr.io/distroless/static-debian12 AS runtime
    COPY --from=build /out/server /server
    ENTRYPOINT ["/server"]
"""

WELL_MADE_PYTHON = """
    FROM python:3.12 AS builder
    RUN python -m venv /venv
    ENV PATH=/venv/bin:$PATH
    COPY requirements.txt .
    RUN pip install --no-cache-dir -r requirements.txt
    FROM python:3.12 AS test
    COPY requirements-dev.txt .
    RUN pip install -r requirements-dev.txt && pytest

    FROM python:3.12-slim AS runtime
    COPY --from=builder /venv /venv
    COPY app ./app
    ENV PATH=/venv/bin:$PATH
    CMD ["python", "-m", "app"]
"""


@pytest.mark.parametrize("text", [WELL_MADE_NODE, WELL_MADE_GO, WELL_MADE_PYTHON])
def test_well_made_files_have_nothing_above_info(text: str) -> None:
    assert [f for f in findings(text) if f.severity is not Severity.INFO] == []


def test_unnamed_stages_are_named_by_role() -> None:
    out = findings(
        """
        FROM golang:1.22
        RUN go build -o /app .
        FROM alpine
        COPY --from=0 /app /app
        """
    )
    unnamed = [f for f in out if f.rule.id == "UnnamedStage"]
    assert [(f.line, f.severity, f.fix) for f in unnamed] == [
        (1, Severity.WARNING, "FROM golang:1.22 AS builder"),
        (3, Severity.INFO, "FROM alpine AS runtime"),
    ]
    numeric = [f for f in out if f.rule.id == "NumericStageReference"]
    assert len(numeric) == 1 and numeric[0].line == 4
    assert numeric[0].fix is not None and numeric[0].fix.startswith("COPY --from=builder /app /app")


def test_single_stage_is_not_asked_for_names() -> None:
    assert "UnnamedStage" not in [r for r, _ in rules("FROM alpine\nRUN echo hi\n")]


def test_numeric_reference_to_named_stage_suggests_the_name() -> None:
    out = findings("FROM a AS builder\nRUN make\nFROM b AS runtime\nCOPY --from=0 /x /x\n")
    (f,) = [f for f in out if f.rule.id == "NumericStageReference"]
    assert f.fix == "COPY --from=builder /x /x"
    assert f.column == 6


def test_whole_workdir_copied_into_final_stage() -> None:
    text = """
        FROM node:18 AS builder
        WORKDIR /app
        COPY . .
        RUN npm install && npm run build
        FROM node:18-slim AS runtime
        WORKDIR /app
        COPY --from=builder /app .
        CMD ["node", "dist/index.js"]
    """
    (f,) = [f for f in findings(text) if f.rule.id == "CopyWholeBuildTree"]
    assert f.line == 7
    assert "node_modules with dev dependencies" in f.message
    assert f.fix == "COPY --from=builder /app/dist ./dist"


def test_copying_root_of_an_export_stage_is_fine() -> None:
    text = """
        FROM golang:1.22 AS build
        RUN go build -o /out/app .
        FROM scratch AS export
        COPY --from=build /out/app /app
        FROM alpine AS runtime
        COPY --from=export / /
    """
    assert "CopyWholeBuildTree" not in [r for r, _ in rules(text)]
    text2 = text.replace("COPY --from=export / /", "COPY --from=build / /")
    assert ("CopyWholeBuildTree", 6) in rules(text2)


def test_node_modules_from_full_install_vs_prod_install() -> None:
    bad = """
        FROM node:18 AS builder
        WORKDIR /app
        COPY . .
        RUN npm ci && npm run build
        FROM node:18-slim AS runtime
        COPY --from=builder /app/node_modules ./node_modules
        COPY --from=builder /app/dist ./dist
    """
    (f,) = [f for f in findings(bad) if f.rule.id == "DevDependenciesCopied"]
    assert f.line == 6 and "line 4" in f.message and "npm ci --omit=dev" in (f.fix or "")
    pruned = bad.replace("npm run build", "npm run build && npm prune --omit=dev")
    assert "DevDependenciesCopied" not in [r for r, _ in rules(pruned)]
    assert "DevDependenciesCopied" not in [r for r, _ in rules(WELL_MADE_NODE)]


def test_python_venv_from_dev_requirements() -> None:
    text = """
        FROM python:3.12 AS builder
        RUN python -m venv /venv && /venv/bin/pip install -r requirements-dev.txt
        FROM python:3.12-slim AS runtime
        COPY --from=builder /venv /venv
    """
    # The source path is /venv (not named like a dependency tree): copy of a venv dir.
    text_tree = text.replace("/venv /venv", "/venv/lib/python3.12/site-packages /site")
    assert ("DevDependenciesCopied", 4) in rules(text_tree)


def test_dev_install_in_final_stage_only() -> None:
    text = """
        FROM node:18 AS builder
        RUN npm install
        FROM node:18-slim AS runtime
        RUN npm install
        RUN pip install -r requirements-dev.txt
        RUN poetry install
        RUN yarn install --production
        RUN pnpm install --prod
    """
    got = [(r, line) for r, line in rules(text) if r == "DevInstallInFinalStage"]
    assert got == [
        ("DevInstallInFinalStage", 4),
        ("DevInstallInFinalStage", 5),
        ("DevInstallInFinalStage", 6),
    ]


def test_node_env_production_makes_npm_ci_prod_only() -> None:
    text = "FROM node:18 AS builder\nRUN npm run build\nFROM node:18-slim\nENV NODE_ENV=production\nRUN npm ci\n"
    assert "DevInstallInFinalStage" not in [r for r, _ in rules(text)]


def test_build_tools_in_final_stage_unless_removed() -> None:
    text = """
        FROM alpine AS builder
        RUN apk add --no-cache gcc make
        FROM debian:12-slim AS runtime
        RUN apt-get update && apt-get install -y --no-install-recommends git curl
        RUN apk add --virtual .build-deps gcc musl-dev && pip install x && apk del .build-deps
        RUN npm install -g typescript
    """
    got = [
        (f.line, f.message.split(" installed")[0])
        for f in findings(text)
        if f.rule.id == "BuildToolsInFinalStage"
    ]
    assert got == [(4, "git"), (6, "typescript")]


def test_build_in_single_stage() -> None:
    text = "FROM node:18\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD node dist/index.js\n"
    got = [f for f in findings(text) if f.rule.id == "BuildInSingleStage"]
    assert [f.line for f in got] == [4]
    assert "node:18-slim" in (got[0].fix or "")
    assert "BuildInSingleStage" not in [r for r, _ in rules(WELL_MADE_NODE)]


def test_final_stage_on_the_builders_sdk_image() -> None:
    text = """
        FROM node:18 AS builder
        RUN npm ci && npm run build
        FROM node:18
        COPY --from=builder /app/dist /app/dist
    """
    (f,) = [f for f in findings(text) if f.rule.id == "FinalStageOnSdkImage"]
    assert f.line == 3 and f.fix == "FROM node:18-slim"


def test_trivial_multi_stage_is_info() -> None:
    text = """
        FROM alpine AS files
        COPY script.sh /script.sh
        FROM alpine
        COPY --from=files /script.sh /usr/local/bin/
        CMD ["script.sh"]
    """
    (f,) = [f for f in findings(text) if f.rule.id == "TrivialMultiStage"]
    assert f.severity is Severity.INFO and f.line == 1


def test_dockerfile_variants_in_context(tmp_path: Path) -> None:
    for name in ("Dockerfile", "Dockerfile.dev", "prod.Dockerfile", "Dockerfile.naive"):
        (tmp_path / name).write_text("FROM alpine\n")
    out = [
        f for f in findings("FROM alpine\n", context=tmp_path) if f.rule.id == "DockerfileVariants"
    ]
    assert len(out) == 1 and "Dockerfile.dev, prod.Dockerfile" in out[0].message
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "Dockerfile").write_text("FROM alpine\n")
    assert findings("FROM alpine\n", context=empty) == []


def test_unused_stages() -> None:
    text = """
        FROM alpine AS lint
        RUN echo lint
        FROM alpine
        RUN echo dead
        FROM alpine AS runtime
    """
    out = {(f.rule.id, f.line): f for f in findings(text)}
    assert "--target lint" in out[("UnusedStage", 1)].message
    assert "cannot be a --target" in out[("UnusedStage", 3)].message
    assert all(f.severity is Severity.INFO for (r, _), f in out.items() if r == "UnusedStage")


def test_rules_about_what_ships_ignore_builder_and_test_stages() -> None:
    text = """
        FROM node:18 AS builder
        RUN apt-get install -y build-essential git && npm install && npm run build
        FROM builder AS test
        RUN npm install && npm test
        FROM builder AS release
        RUN npm install
        FROM node:18-slim AS runtime
        COPY --from=builder /app/dist /app/dist
    """
    shipped_rules = ("BuildToolsInFinalStage", "DevInstallInFinalStage")
    assert [r for r, _ in rules(text) if r in shipped_rules] == []
    # With --target test nothing ships either: the name says it is a test image.
    assert [r for r, _ in rules(text, target="test") if r in shipped_rules] == []
    # ...but --target release is what ships, with its base stage.
    shipped = rules(text, target="release")
    assert ("DevInstallInFinalStage", 6) in shipped
    assert ("BuildToolsInFinalStage", 2) in shipped  # builder is the base of release


@pytest.mark.parametrize("source", [".", "/", "/app/", "/app/*", "/app/."])
def test_whole_tree_spellings(source: str) -> None:
    text = f"""
        FROM node:18 AS builder
        WORKDIR /app
        RUN npm ci && npm run build
        FROM node:18-slim AS runtime
        COPY --from=builder {source} /srv/
    """
    assert ("CopyWholeBuildTree", 5) in rules(text)


def test_copy_of_a_subdirectory_is_not_the_whole_tree() -> None:
    text = """
        FROM node:18 AS builder
        WORKDIR /app
        RUN npm ci && npm run build
        FROM node:18-slim AS runtime
        COPY --from=builder /app/dist /srv/dist
        COPY --from=builder dist /srv/other
    """
    assert "CopyWholeBuildTree" not in [r for r, _ in rules(text)]


@pytest.mark.parametrize("name", ["development", "dev-envs", "dev", "debug", "test"])
def test_development_targets_are_not_what_ships(name: str) -> None:
    text = f"""
        FROM node:18 AS base
        RUN npm ci
        FROM base AS {name}
        RUN apt-get install -y git && npm install
    """
    assert [
        r for r, _ in rules(text) if r in ("DevInstallInFinalStage", "BuildToolsInFinalStage")
    ] == []
