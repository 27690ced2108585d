"""`etage fix`: each rewrite where it applies and nowhere else, the bytes around it kept,
idempotence and faithfulness over every Dockerfile in the repository, the CLI end to end,
and agreement with `etage check` on what was fixed."""

from __future__ import annotations

import difflib
import json
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from etage import api
from etage.dockerfile.instructions import VALID_STAGE_NAME
from etage.dockerfile.parse import parse_dockerfile
from etage.dockerfile.syntax import Node
from etage.errors import DockerfileError, EtageError
from etage.rewrite.fix import FixResult, fix_dockerfile

ROOT = Path(__file__).resolve().parents[2]


def fix(text: str) -> FixResult:
    return fix_dockerfile(textwrap.dedent(text).lstrip("\n"))


def fixed(text: str) -> str:
    return fix(text).text


def names(text: str) -> list[str | None]:
    return [s.name for s in parse_dockerfile(text).stages]


# ---- naming stages by role -----------------------------------------------------------------

NODE_UNNAMED = """
    FROM node:18
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci
    COPY . .
    RUN npm run build

    FROM node:18
    WORKDIR /app
    COPY package.json package-lock.json ./
    RUN npm ci --omit=dev

    FROM node:18-slim
    WORKDIR /app
    COPY --from=1 /app/node_modules ./node_modules
    COPY --from=0 /app/dist ./dist
    CMD ["node", "dist/index.js"]
"""


def test_names_the_canonical_stages_and_their_references() -> None:
    result = fix(NODE_UNNAMED)
    assert result.text == textwrap.dedent("""\
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
    """)
    assert [(c.line, c.description) for c in result.changes] == [
        (1, "named stage 0 'builder' (it builds what stage 'runtime' copies)"),
        (
            8,
            "named stage 1 'prod-deps' (it installs the production dependencies stage "
            "'runtime' copies)",
        ),
        (13, "named stage 2 'runtime' (the last stage: the image that ships)"),
        (15, "COPY --from=1 -> --from=prod-deps (stage 1 by name)"),
        (16, "COPY --from=0 -> --from=builder (stage 0 by name)"),
    ]


@pytest.mark.parametrize(
    "run",
    [
        "go build -o /out/app ./cmd/app",
        "CGO_ENABLED=0 go build -o /app .",
        "cargo build --release",
        "./mvnw -B package -DskipTests",
        "gradle clean bootJar",
        "make -j4",
        "npx tsc -p .",
        "npm run build:prod",
        "yarn build",
        "pip wheel --wheel-dir /wheels -r requirements.txt",
        "python -m build",
        "dotnet publish -c Release -o /out",
        "apt-get update && apt-get install -y gcc && gcc -o /app main.c",
    ],
)
def test_a_copied_stage_that_builds_is_the_builder(run: str) -> None:
    text = f"FROM base-image\nRUN {run}\nFROM alpine\nCOPY --from=0 /out /out\n"
    assert names(fixed(text)) == ["builder", "runtime"]


@pytest.mark.parametrize(
    ("run", "role"),
    [
        ("npm ci", "deps"),
        ("npm ci --omit=dev", "prod-deps"),
        ("npm install --only=production", "prod-deps"),
        ("NODE_ENV=production npm ci", "prod-deps"),
        ("npm ci && npm prune --omit=dev", "prod-deps"),
        ("yarn install --frozen-lockfile --production", "prod-deps"),
        ("pip install --no-cache-dir -r requirements.txt", "prod-deps"),
        ("pip install -r requirements-dev.txt", "deps"),
        ("poetry install --only main", "prod-deps"),
        ("poetry install", "deps"),
        ("composer install --no-dev", "prod-deps"),
        ("go mod download", "deps"),
    ],
)
def test_a_copied_stage_that_only_installs_is_deps_or_prod_deps(run: str, role: str) -> None:
    text = f"FROM base-image\nRUN {run}\nFROM alpine\nCOPY --from=0 /deps /deps\n"
    assert names(fixed(text)) == [role, "runtime"]


def test_env_in_the_stage_makes_an_install_production_only() -> None:
    text = "FROM node:18\nENV NODE_ENV=production\nRUN npm ci\nFROM node:18-slim\nCOPY --from=0 /a /a\n"
    assert names(fixed(text)) == ["prod-deps", "runtime"]


@pytest.mark.parametrize(
    ("run", "role"),
    [
        ("npm test", "test"),
        ("python -m pytest -q", "test"),
        ("go test ./...", "test"),
        ("poetry run pytest", "test"),
        ("npm run lint", "lint"),
        ("golangci-lint run", "lint"),
        ("npx tsc --noEmit", "lint"),
    ],
)
def test_stages_nobody_copies_are_named_for_what_they_check(run: str, role: str) -> None:
    text = f'FROM base-image\nRUN {run}\nFROM alpine\nCMD ["true"]\n'
    assert names(fixed(text)) == [role, "runtime"]


def test_last_stage_that_only_runs_tests_is_test() -> None:
    text = "FROM golang:1.22 AS build\nRUN go build ./...\nFROM build\nRUN go test ./...\n"
    assert names(fixed(text)) == ["build", "test"]


def test_copied_stage_that_runs_nothing_holds_assets_and_unknown_roles_get_the_index() -> None:
    text = """
        FROM alpine
        COPY static /static
        FROM alpine
        RUN echo hello
        FROM nginx:alpine
        COPY --from=0 /static /usr/share/nginx/html
    """
    assert names(fixed(text)) == ["assets", "stage1", "runtime"]


def test_a_single_stage_file_gets_no_name() -> None:
    text = 'FROM golang:1.22\nRUN go build -o /app .\nCMD ["/app"]\n'
    assert fixed(text) == text


def test_existing_names_are_kept_and_never_reused() -> None:
    text = """
        FROM node:18 AS builder
        RUN npm run build
        FROM node:18
        RUN npm run build
        FROM alpine AS runtime
        COPY --from=0 /a /a
        COPY --from=1 /b /b
        FROM runtime
        CMD ["true"]
    """
    # `runtime` is taken, so the last stage takes the next candidate; the second
    # builder is numbered.
    out = fixed(text)
    assert names(out) == ["builder", "builder-2", "runtime", "final"]
    assert "COPY --from=builder /a /a" in out and "COPY --from=builder-2 /b /b" in out


def test_a_chain_of_builders_is_numbered() -> None:
    text = """
        FROM alpine
        RUN make
        FROM alpine
        COPY --from=0 /a /a
        RUN make
        FROM alpine
        COPY --from=1 /a /a
        RUN make
        FROM alpine
        COPY --from=2 /a /a
    """
    assert names(fixed(text)) == ["builder", "builder-2", "builder-3", "runtime"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # `FROM runtime` pulls an image: a stage named runtime above it would replace it.
        ("FROM golang\nRUN go build\nFROM runtime\nCOPY --from=0 /a /a\n", ["builder", "final"]),
        # the same through an ARG default
        (
            "ARG BASE=runtime\nFROM golang\nRUN go build\nFROM ${BASE}\nCOPY --from=0 /a /a\n",
            ["builder", "final"],
        ),
        # COPY --from=builder:1.2 names an image; its repository name is not taken either
        (
            "FROM golang\nRUN go build\nFROM alpine\nCOPY --from=0 /a /a\n"
            "COPY --from=builder:1.2 /b /b\n",
            ["builder-2", "runtime"],
        ),
        # reserved and BuildKit-label-like names are never produced
        ("FROM scratch\nFROM context\nFROM alpine\n", ["stage0", "stage1", "runtime"]),
    ],
)
def test_names_never_shadow_images_or_reserved_names(text: str, expected: list[str]) -> None:
    assert names(fixed(text)) == expected


def test_names_follow_an_environment_convention() -> None:
    text = 'FROM node:18 AS base\nFROM base AS dev\nCMD ["npm", "run", "dev"]\nFROM base\n'
    assert names(fixed(text)) == ["base", "dev", "prod"]


def test_platform_flag_and_continuation_lines_are_kept() -> None:
    text = (
        "FROM --platform=$BUILDPLATFORM \\\n"
        "    # a comment inside the instruction\n"
        "    golang:1.22\n"
        "RUN go build -o /app .\n"
        "FROM --platform=linux/amd64 gcr.io/distroless/static\n"
        "COPY --from=0 /app /app\n"
    )
    assert fixed(text) == (
        "FROM --platform=$BUILDPLATFORM \\\n"
        "    # a comment inside the instruction\n"
        "    golang:1.22 AS builder\n"
        "RUN go build -o /app .\n"
        "FROM --platform=linux/amd64 gcr.io/distroless/static AS runtime\n"
        "COPY --from=builder /app /app\n"
    )


def test_the_last_stage_stays_unnamed_where_targetstage_is_read() -> None:
    # TARGETSTAGE is the last stage's name in a default build, "default" without one.
    text = "FROM golang\nRUN go build\nFROM alpine\nARG TARGETSTAGE\nRUN echo $TARGETSTAGE\n"
    assert names(fixed(text)) == ["builder", None]


def test_check_skip_keeps_stages_unnamed() -> None:
    text = (
        "# check=skip=UnnamedStage\nFROM golang\nRUN go build\nFROM alpine\nCOPY --from=0 /a /a\n"
    )
    assert fixed(text) == text


# ---- references to stages ---------------------------------------------------------------


def test_numeric_reference_to_a_named_stage_uses_its_name() -> None:
    text = "FROM golang AS compile\nRUN go build\nFROM alpine AS run\nCOPY --from=0 /a /a\n"
    assert fixed(text) == text.replace("--from=0", "--from=compile")


def test_only_copy_takes_an_index() -> None:
    # BuildKit looks `RUN --mount=from=` and `FROM` up by name only: `0` there is an image.
    text = (
        "FROM golang AS build\nRUN go build\n"
        "FROM alpine AS run\nRUN --mount=type=bind,from=0,target=/x cat /x/y\n"
        "FROM 0 AS zero\n"
    )
    assert fixed(text) == text


def test_an_index_whose_name_a_later_stage_takes_over_is_left_alone() -> None:
    # COPY --from=x finds the last stage named x: rewriting --from=0 would change its source.
    text = "FROM alpine AS x\nFROM alpine AS x\nFROM alpine AS y\nCOPY --from=0 /a /a\n"
    assert fixed(text) == text


def test_a_quoted_index_is_rewritten_whole() -> None:
    text = 'FROM golang AS build\nFROM alpine AS run\nCOPY --from="0" --chown=1:1 /a /a\n'
    assert fixed(text).splitlines()[2] == "COPY --from=build --chown=1:1 /a /a"


def test_references_inside_onbuild_and_in_single_stage_files_are_left_alone() -> None:
    onbuild = "FROM golang AS build\nFROM alpine AS run\nONBUILD COPY --from=0 /a /a\n"
    assert fixed(onbuild) == onbuild
    single = "FROM alpine\nCOPY --from=0 /a /b\n"
    assert fixed(single) == single


def test_check_skip_on_the_instruction_keeps_the_index() -> None:
    text = (
        "FROM golang AS build\nFROM alpine AS run\n"
        "# check=skip=NumericStageReference\nCOPY --from=0 /a /a\n"
    )
    assert fixed(text) == text


# ---- casing -----------------------------------------------------------------------------


def test_keywords_take_the_majority_casing_and_as_follows_from() -> None:
    text = """
        from golang:1.22
        run go build -o /app .
        FROM scratch
        copy --from=0 /app /app
        entrypoint ["/app"]
    """
    assert fixed(text) == textwrap.dedent("""\
        from golang:1.22 as builder
        run go build -o /app .
        from scratch as runtime
        copy --from=builder /app /app
        entrypoint ["/app"]
    """)


def test_a_tie_is_upper_case() -> None:
    assert fixed("from scratch\nCOPY a /a\n") == "FROM scratch\nCOPY a /a\n"


def test_global_args_are_recased_but_onbuild_triggers_keep_their_text() -> None:
    text = "arg V=1\nFROM alpine\nonbuild run echo hi\nRUN true\nRUN true\n"
    # the trigger text is stored in the image as written: only ONBUILD itself changes
    assert fixed(text) == "ARG V=1\nFROM alpine\nONBUILD run echo hi\nRUN true\nRUN true\n"


def test_as_matches_from() -> None:
    assert fixed("FROM alpine as base\n") == "FROM alpine AS base\n"
    assert fixed("from alpine AS base\n") == "from alpine as base\n"


def test_stage_names_are_lower_cased_with_their_references() -> None:
    text = """
        FROM golang AS Build
        RUN go build
        FROM alpine AS run
        COPY --from=Build /a /a
        RUN --mount=type=cache,from=BUILD,target=/c ls /c
        FROM Build
    """
    # `FROM Build` is matched case-sensitively by BuildKit: it never meant the stage
    # (it names an image), so it stays as written.
    assert fixed(text) == textwrap.dedent("""\
        FROM golang AS build
        RUN go build
        FROM alpine AS run
        COPY --from=build /a /a
        RUN --mount=type=cache,from=build,target=/c ls /c
        FROM Build AS runtime
    """)


def test_check_skip_keeps_casing() -> None:
    text = "# check=skip=ConsistentInstructionCasing,FromAsCasing\nfrom alpine AS a\nRUN x\nRUN y\n"
    assert fixed(text) == text


# ---- shell form to exec form --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("node server.js", ["node", "server.js"]),
        ("exec node server.js", ["node", "server.js"]),
        ("python -m http.server 8000", ["python", "-m", "http.server", "8000"]),
        (
            "gunicorn --bind=0.0.0.0:8000 app:create_app",
            ["gunicorn", "--bind=0.0.0.0:8000", "app:create_app"],
        ),
        ("echo 'hello   world'", ["echo", "hello   world"]),
        ('echo "a * b" x', ["echo", "a * b", "x"]),
        ("say 'he said \"hi\"'", ["say", 'he said "hi"']),
        ("/usr/bin/app\t--x", ["/usr/bin/app", "--x"]),
        ("café --menu", ["café", "--menu"]),
    ],
)
def test_shell_form_without_shell_semantics_becomes_exec_form(
    command: str, words: list[str]
) -> None:
    out = fixed(f"FROM alpine\nCMD {command}\n")
    assert out == f"FROM alpine\nCMD {json.dumps(words, ensure_ascii=False)}\n"
    assert parse_dockerfile(out).parsed.nodes[1].args == tuple(words)


@pytest.mark.parametrize(
    "command",
    [
        "node $APP",
        "node ${APP:-app.js}",
        "node *.js",
        "app > /log",
        "app 2>&1",
        "app | tee log",
        "migrate && serve",
        "migrate; serve",
        "(serve)",
        "serve &",
        "echo a\\ b",
        "cat ~/x",
        "PORT=80 serve",
        "cd /app",
        "source env.sh",
        "if true",
        'echo "$HOME"',
        "echo 'unterminated",
        "serve # comment",
        "echo `date`",
        "echo {a,b}",
        "ls [ab]",
        "! false",
        "exec -a name serve",
        "serve\u00a0now",
    ],
)
def test_commands_that_need_a_shell_stay_in_shell_form(command: str) -> None:
    text = f"FROM alpine\nCMD {command}\n"
    assert fixed(text) == text


@pytest.mark.parametrize(
    ("shell", "converted"),
    [
        ('["/bin/bash", "-o", "pipefail", "-c"]', True),
        ('["/bin/sh", "-eu", "-c"]', True),
        ('["/bin/bash", "-l", "-c"]', False),  # a login shell reads profiles (PATH...)
        ('["powershell", "-Command"]', False),
        ('["/bin/bash", "-c", "-x"]', False),
    ],
)
def test_shell_form_under_a_changed_shell(shell: str, converted: bool) -> None:
    text = f"FROM alpine\nSHELL {shell}\nCMD serve --port 80\n"
    out = fixed(text)
    assert (out != text) is converted
    # inherited by a stage built on this one
    inherited = f"FROM alpine AS base\nSHELL {shell}\nFROM base AS app\nCMD serve\n"
    assert (fixed(inherited) != inherited) is converted


def test_a_shell_set_after_the_command_does_not_matter() -> None:
    text = 'FROM alpine\nCMD serve\nSHELL ["powershell", "-Command"]\n'
    assert fixed(text).splitlines()[1] == 'CMD ["serve"]'


def test_windows_stages_keep_shell_form() -> None:
    text = "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nCMD app.exe\n"
    assert fixed(text) == text
    text = "FROM --platform=windows/amd64 alpine\nCMD app\n"
    assert fixed(text) == text


@pytest.mark.parametrize(
    ("text", "converted"),
    [
        ("FROM alpine\nENTRYPOINT serve --port 80\n", True),
        # shell form ignores CMD, exec form would append it
        ('FROM alpine\nENTRYPOINT serve\nCMD ["--debug"]\n', False),
        ('FROM alpine\nCMD ["--debug"]\nENTRYPOINT serve\n', False),
        ('FROM alpine AS base\nENTRYPOINT serve\nFROM base AS app\nCMD ["--debug"]\n', False),
        ('FROM alpine AS base\nENTRYPOINT serve\nONBUILD CMD ["--debug"]\n', False),
        (
            'FROM alpine AS base\nONBUILD CMD ["--debug"]\nFROM base AS app\nENTRYPOINT serve\n',
            False,
        ),
        # a CMD in an unrelated stage does not reach it
        ('FROM alpine AS other\nCMD ["x"]\nFROM alpine AS app\nENTRYPOINT serve\n', True),
    ],
)
def test_entrypoint_is_converted_only_when_no_cmd_can_reach_it(text: str, converted: bool) -> None:
    assert (fixed(text) != text) is converted


@pytest.mark.parametrize(
    ("text", "converted"),
    [
        # CMD is the arguments of an exec-form ENTRYPOINT: `sh -c 'x'` is not `x`
        ('FROM alpine\nENTRYPOINT ["/entry.sh"]\nCMD serve\n', False),
        ('FROM alpine AS base\nENTRYPOINT ["/entry.sh"]\nFROM base AS app\nCMD serve\n', False),
        # a shell-form ENTRYPOINT ignores CMD either way
        ("FROM alpine\nENTRYPOINT /entry.sh\nCMD serve\n", True),
    ],
)
def test_cmd_under_an_entrypoint(text: str, converted: bool) -> None:
    assert (fixed(text).splitlines()[-1] == 'CMD ["serve"]') is converted


def test_continued_commands_healthchecks_and_skipped_checks_stay() -> None:
    for text in (
        "FROM alpine\nCMD serve \\\n  --port 80\n",
        "FROM alpine\nHEALTHCHECK CMD curl -f http://localhost/\n",
        "FROM alpine\n# check=skip=JSONArgsRecommended\nCMD serve\n",
        "FROM alpine\nONBUILD CMD serve\n",
    ):
        assert fixed(text) == text


# ---- every other byte kept ------------------------------------------------------------------


def test_comments_blank_lines_directives_and_trailing_whitespace_are_kept() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "# check=error=true\n"
        "\n"
        "# the build\n"
        "from golang:1.22   \n"
        "\n"
        "   # indented comment\n"
        "run go build \\\n"
        "  # between continuation lines\n"
        "\n"
        "  -o /app .\t\n"
        "FROM scratch\n"
        "copy --from=0 /app /app  \n"
        "cmd /app\n"
    )
    assert fixed(text) == (
        "# syntax=docker/dockerfile:1\n"
        "# check=error=true\n"
        "\n"
        "# the build\n"
        "from golang:1.22 as builder   \n"
        "\n"
        "   # indented comment\n"
        "run go build \\\n"
        "  # between continuation lines\n"
        "\n"
        "  -o /app .\t\n"
        "from scratch as runtime\n"
        "copy --from=builder /app /app  \n"
        'cmd ["/app"]\n'
    )


def test_crlf_line_endings_bom_and_missing_final_newline_are_kept() -> None:
    text = (
        "\ufeffFROM golang\r\nRUN go build\r\n\r\nFROM alpine\r\nCOPY --from=0 /a /a\r\nCMD serve"
    )
    assert fixed(text) == (
        "\ufeffFROM golang AS builder\r\nRUN go build\r\n\r\nFROM alpine AS runtime\r\n"
        'COPY --from=builder /a /a\r\nCMD ["serve"]'
    )


def test_an_escaped_escape_at_the_end_of_a_line_is_not_a_continuation() -> None:
    text = "FROM alpine\nrun echo a\\\\\nrun echo b \\\\ \\\n  c\nRUN x\nRUN y\n"
    assert fixed(text) == text.replace("run", "RUN")


def test_escape_directive() -> None:
    text = (
        "# escape=`\n"
        "FROM mcr.microsoft.com/dotnet/sdk:8.0 `\n"
        "    AS Build\n"
        "RUN dotnet publish -o C:\\out\n"
        "FROM mcr.microsoft.com/dotnet/aspnet:8.0\n"
        "COPY --from=Build C:\\out C:\\app\n"
    )
    assert fixed(text) == (
        "# escape=`\n"
        "FROM mcr.microsoft.com/dotnet/sdk:8.0 `\n"
        "    AS build\n"
        "RUN dotnet publish -o C:\\out\n"
        "FROM mcr.microsoft.com/dotnet/aspnet:8.0 AS runtime\n"
        "COPY --from=build C:\\out C:\\app\n"
    )


def test_heredoc_bodies_are_untouched() -> None:
    text = (
        "FROM alpine\n"
        "run <<EOF\n"
        "from x\n"
        "cmd echo hi\n"
        "COPY --from=0 a b\n"
        "EOF\n"
        "COPY <<-EOT /etc/motd\n"
        "\tFROM nothing as Something\n"
        "\tEOT\n"
    )
    assert fixed(text) == text.replace("run <<EOF", "RUN <<EOF", 1)


# ---- the whole corpus -------------------------------------------------------------------------


def _repository_dockerfiles() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for base in (ROOT / "tests", ROOT / "examples"):
        for path in sorted(base.rglob("*")):
            if path.is_file() and ("Dockerfile" in path.name or path.suffix == ".Dockerfile"):
                found.append((str(path.relative_to(ROOT)), path.read_bytes().decode("utf-8")))
    for path in sorted((ROOT / "tests" / "checks").rglob("*.toml")):
        with path.open("rb") as f:
            case = tomllib.load(f)
        if isinstance(case.get("dockerfile"), str):
            found.append((str(path.relative_to(ROOT)), case["dockerfile"]))
    return found


def _parses(text: str) -> bool:
    try:
        parse_dockerfile(text)
    except DockerfileError:
        return False
    return True


CORPUS = _repository_dockerfiles()
PARSING = [pytest.param(text, id=name) for name, text in CORPUS if _parses(text)]
BROKEN = [pytest.param(name, text, id=name) for name, text in CORPUS if not _parses(text)]


def test_the_corpus_is_large_and_mostly_parses() -> None:
    assert len(CORPUS) > 150
    assert len(PARSING) > 120


@pytest.mark.parametrize("text", PARSING)
def test_fixing_twice_changes_nothing_more(text: str) -> None:
    once = fix_dockerfile(text)
    twice = fix_dockerfile(once.text)
    assert twice.text == once.text
    assert twice.changes == ()


def _same_apart_from_the_fix(before: Node, after: Node) -> bool:
    return (
        before.upper == after.upper
        and before.start_line == after.start_line
        and before.end_line == after.end_line
        and before.heredocs == after.heredocs
        and before.comments == after.comments
        and before.sub == after.sub
    )


@pytest.mark.parametrize("text", PARSING)
def test_fixed_text_parses_to_the_same_instructions_except_the_fixes(text: str) -> None:
    result = fix_dockerfile(text)
    before = parse_dockerfile(text)
    after = parse_dockerfile(result.text)
    assert after.parsed.directives == before.parsed.directives
    assert len(after.parsed.nodes) == len(before.parsed.nodes)
    changed = {c.line for c in result.changes}
    for old, new in zip(before.parsed.nodes, after.parsed.nodes, strict=True):
        assert _same_apart_from_the_fix(old, new)
        if old.start_line not in changed:
            assert (old.keyword, old.flags, old.args, old.json) == (
                new.keyword, new.flags, new.args, new.json,
            )  # fmt: skip
            continue
        assert old.keyword.upper() == new.keyword.upper()
        if old.upper in ("CMD", "ENTRYPOINT") and new.json and not old.json:
            assert new.args == tuple(_words_of(old.args[0]))
        elif old.upper == "FROM" and len(new.args) == 3:
            assert new.args[0] == old.args[0] and len(old.args) in (1, 3)
            assert new.args[1].lower() == "as" and VALID_STAGE_NAME.match(new.args[2])
        else:
            assert old.args == new.args
    # lines outside the changed instructions are byte for byte the same
    old_lines, new_lines = text.split("\n"), result.text.split("\n")
    assert len(old_lines) == len(new_lines)
    touched = {
        n for node in before.parsed.nodes if node.start_line in changed
        for n in range(node.start_line, node.end_line + 1)
    }  # fmt: skip
    for number, (old_line, new_line) in enumerate(zip(old_lines, new_lines, strict=True), 1):
        if number not in touched:
            assert old_line == new_line


def _words_of(command: str) -> list[str]:
    words = shlex.split(command)
    return words[1:] if words[0] == "exec" else words


@pytest.mark.parametrize("text", PARSING)
def test_new_stage_names_are_valid_unique_and_not_implicit_labels(text: str) -> None:
    stages = parse_dockerfile(fix_dockerfile(text).text).stages
    given = [s.name for s in stages if s.name is not None]
    original = {s.name for s in parse_dockerfile(text).stages if s.name is not None}
    new = [n for n in given if n not in original]
    assert len(set(new)) == len(new)
    for name in new:
        assert VALID_STAGE_NAME.match(name)
        assert name not in ("scratch", "context") and not name.startswith("stage-")
    if len(stages) > 1 and "UnnamedStage" not in text:
        assert all(s.name is not None for s in stages)


@pytest.mark.parametrize(("name", "text"), BROKEN)
def test_files_that_do_not_parse_raise_the_parser_error(name: str, text: str) -> None:
    with pytest.raises(DockerfileError) as got:
        fix_dockerfile(text, name)
    with pytest.raises(DockerfileError) as want:
        parse_dockerfile(text, name)
    assert str(got.value) == str(want.value)
    assert got.value.location is not None and got.value.location.file == name


# ---- agreement with `etage check` ---------------------------------------------------------

RULES_FIXED = {
    "UnnamedStage",
    "NumericStageReference",
    "FromAsCasing",
    "ConsistentInstructionCasing",
    "StageNameCasing",
    "JSONArgsRecommended",
}

NEEDS_EVERY_FIX = """\
from golang:1.22
RUN go build -o /out/app .

FROM golang:1.22 as Tools
run go vet ./...

FROM alpine
COPY --from=0 /out/app /app
COPY --from=Tools /go/bin /tools
ENTRYPOINT /app --serve
"""


def _rule_ids(path: Path) -> set[str]:
    report = api.check(path.parent, path)
    return {f.rule.id for f in report.findings}


def test_check_findings_are_gone_after_fix(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(NEEDS_EVERY_FIX)
    assert _rule_ids(path) >= RULES_FIXED
    path.write_text(fix_dockerfile(NEEDS_EVERY_FIX).text)
    assert not _rule_ids(path) & RULES_FIXED


def _claimed_rule(description: str) -> str:
    """The check a change says it fixes, from its description."""
    for prefix, rule in (
        ("named stage", "UnnamedStage"),
        ("keyword", "ConsistentInstructionCasing"),
        ("stage name", "StageNameCasing"),
        ("RUN --mount", "StageNameCasing"),
    ):
        if description.startswith(prefix):
            return rule
    if "in exec form" in description:
        return "JSONArgsRecommended"
    if "by name)" in description:
        return "NumericStageReference"
    if description.startswith("COPY --from="):
        return "StageNameCasing"
    assert "to match" in description, description
    return "FromAsCasing"


def test_check_agrees_over_the_corpus(tmp_path: Path) -> None:
    """On every corpus file `etage check` can plan: the casing and naming findings are
    gone, no finding remains where a change claims its rule, and none is new."""
    path = tmp_path / "Dockerfile"
    checked = 0
    for param in PARSING:
        text = str(param.values[0])
        path.write_text(text, newline="")
        try:
            before = _findings(path)
        except EtageError:
            continue  # the plan fails (an unknown --target, a cycle...): nothing to compare
        checked += 1
        result = fix_dockerfile(text)
        path.write_text(result.text, newline="")
        after = _findings(path)
        assert after <= before, param.id
        gone = {"UnnamedStage", "FromAsCasing", "ConsistentInstructionCasing", "StageNameCasing"}
        assert not {f for f in after if f[0] in gone}, param.id
        for change in result.changes:
            assert (_claimed_rule(change.description), change.line) not in after, param.id
    assert checked > 140


def _findings(path: Path) -> set[tuple[str, int]]:
    return {(f.rule.id, f.line) for f in api.check(path.parent, path).findings}


def test_check_keeps_what_fix_did_not_claim(tmp_path: Path) -> None:
    text = "FROM alpine\nCMD serve > /var/log/app.log\n"
    result = fix_dockerfile(text)
    assert result.text == text
    path = tmp_path / "Dockerfile"
    path.write_text(result.text)
    assert "JSONArgsRecommended" in _rule_ids(path)


# ---- the command line -------------------------------------------------------------------------


def etage(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etage", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_fix_writes_the_file_and_lists_the_changes(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile.app"
    path.write_text(NEEDS_EVERY_FIX)
    run = etage("fix", "-f", "Dockerfile.app", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert path.read_text() == fix_dockerfile(NEEDS_EVERY_FIX).text
    assert "Dockerfile.app:1: named stage 0 'builder'" in run.stderr
    assert "Dockerfile.app:8: COPY --from=0 -> --from=builder (stage 0 by name)" in run.stderr
    again = etage("fix", "-f", "Dockerfile.app", cwd=tmp_path)
    assert again.returncode == 0
    assert "nothing to fix" in again.stderr
    assert path.read_text() == fix_dockerfile(NEEDS_EVERY_FIX).text


def test_cli_diff_prints_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(NEEDS_EVERY_FIX)
    run = etage("fix", "--diff", cwd=tmp_path)
    assert run.returncode == 1
    expected = "".join(
        difflib.unified_diff(
            NEEDS_EVERY_FIX.splitlines(keepends=True),
            fix_dockerfile(NEEDS_EVERY_FIX).text.splitlines(keepends=True),
            "a/Dockerfile",
            "b/Dockerfile",
        )
    )
    assert run.stdout == expected
    assert "+FROM alpine AS runtime\n" in run.stdout
    assert path.read_text() == NEEDS_EVERY_FIX
    path.write_text(fix_dockerfile(NEEDS_EVERY_FIX).text)
    clean = etage("fix", "--diff", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout == ""


def test_cli_bad_file_is_an_error_at_its_line_and_stays_as_it_was(tmp_path: Path) -> None:
    text = "from alpine\nRUN true\nCOPY only-one-argument\n"
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    run = etage("fix", "-f", "Dockerfile", cwd=tmp_path)
    assert run.returncode == 2
    assert "Dockerfile:3:" in run.stderr
    assert path.read_text() == text
    missing = etage("fix", "-f", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_cli_keeps_crlf(tmp_path: Path) -> None:
    text = "FROM golang\r\nRUN go build\r\nFROM alpine\r\nCOPY --from=0 /a /a\r\n"
    path = tmp_path / "Dockerfile"
    path.write_bytes(text.encode())
    assert etage("fix", cwd=tmp_path).returncode == 0
    assert path.read_bytes() == fix_dockerfile(text).text.encode()
    assert path.read_bytes().count(b"\r\n") == 4
