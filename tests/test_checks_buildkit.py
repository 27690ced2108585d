"""BuildKit's build checks: each case is a Dockerfile with every finding it must produce.

The cases live in tests/checks/buildkit/*.toml:

    about = "RuleName"             # the rule the case is about
    note = "..."                   # why the case exists (BuildKit test or doc it comes from)
    dockerfile = '''...'''         # line 1 is the line after the opening quotes
    dockerignore = '''...'''       # optional
    build_args = { KEY = "v" }     # optional --build-arg values
    [[expect]]                     # every finding, none left out
    rule = "RuleName"
    line = 3
    message = "BuildKit's message"
    fix = "..."                    # optional: the fix must be exactly this

A case "fires" when it expects a finding of its own rule; every rule has cases that fire
and close variants that must not.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from etage.checks.buildkit import buildkit_suggest, check_buildkit, exec_form_fix
from etage.checks.context import CheckInput
from etage.checks.model import Finding, Severity
from etage.checks.rules import BUILDKIT_RULES
from etage.checks.runner import run_checks
from etage.dockerfile.ignore import DockerIgnore
from etage.dockerfile.parse import parse_dockerfile
from etage.plan.graph import PlanOptions, build_plan
from etage.platforms import Platform

CASES_DIR = Path(__file__).parent / "checks" / "buildkit"
CASES = sorted(CASES_DIR.glob("*.toml"))
AMD64 = Platform("linux", "amd64")


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def run(
    dockerfile: str,
    *,
    dockerignore: str | None = None,
    build_args: dict[str, str] | None = None,
) -> list[Finding]:
    df = parse_dockerfile(dockerfile)
    plan = build_plan(
        df,
        PlanOptions(build_args=build_args or {}, target_platform=AMD64, build_platform=AMD64),
    )
    ignore = DockerIgnore.parse(dockerignore) if dockerignore is not None else None
    return list(check_buildkit(CheckInput(plan, ignore=ignore)))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    case = load(path)
    findings = run(
        case["dockerfile"],
        dockerignore=case.get("dockerignore"),
        build_args=case.get("build_args"),
    )
    got = sorted((f.line, f.rule.id, f.message) for f in findings)
    want = sorted((e["line"], e["rule"], e["message"]) for e in case.get("expect", []))
    assert got == want
    by_key = {(f.line, f.rule.id, f.message): f for f in findings}
    for e in case.get("expect", []):
        if "fix" in e:
            assert by_key[(e["line"], e["rule"], e["message"])].fix == e["fix"]


def test_every_rule_has_cases_that_fire_and_cases_that_do_not() -> None:
    fires: dict[str, int] = {}
    quiet: dict[str, int] = {}
    for path in CASES:
        case = load(path)
        about = case["about"]
        if any(e["rule"] == about for e in case.get("expect", [])):
            fires[about] = fires.get(about, 0) + 1
        else:
            quiet[about] = quiet.get(about, 0) + 1
    names = {r.id for r in BUILDKIT_RULES}
    assert {name for name in names if not fires.get(name)} == set()
    assert {name for name in names if not quiet.get(name)} == set()
    assert set(fires) | set(quiet) <= names


def test_every_finding_is_a_warning_with_a_fix_and_the_rule_url() -> None:
    findings = run(
        "FROM node:18 as Builder\nMAINTAINER me\nENV A b\nCMD node x\nCMD node y\n"
        "FROM --platform=$TARGETPLATFORM scratch AS builder\nWORKDIR app\nEXPOSE 80:80/TCP\n"
    )
    assert len({f.rule.id for f in findings}) >= 9
    for f in findings:
        assert f.severity is Severity.WARNING
        assert f.fix
        assert f.rule.source == "buildkit"
        assert f.rule.url.startswith("https://docs.docker.com/go/dockerfile/rule/")
        assert f.file == "Dockerfile"
        assert f.stage in ("builder", "1")


def test_findings_are_in_line_order_without_repeats() -> None:
    findings = run("FROM scratch\nCOPY $X $X/b /\nENV A=$X B=$X\n")
    assert [(f.line, f.message) for f in findings] == [
        (2, "Usage of undefined variable '$X'"),
        (3, "Usage of undefined variable '$X'"),
    ]


def test_stage_label_is_the_stage_name_or_index() -> None:
    findings = run("FROM scratch AS a\nCMD x\nFROM scratch\nCMD y\n")
    assert [(f.line, f.stage) for f in findings] == [(2, "a"), (4, "1")]


# ---- building blocks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("PAHT", ["HOME", "PATH"], "PATH"),
        ("DIR_ASSET", ["DIR_BINARIES", "DIR_ASSETS", "DIR_CONFIG"], "DIR_ASSETS"),
        ("abc", ["xyz"], ""),  # 3 edits: too far
        ("ab", ["cd"], "cd"),  # 2 edits: BuildKit suggests even for short names
        ("path", ["PATH"], ""),  # case-sensitive on Linux
        ("foo", ["fooo", "foo"], ""),  # an exact match means nothing to suggest
        ("foo", ["fob", "fop"], "fob"),  # ties go to the first option
    ],
)
def test_buildkit_suggest(value: str, options: list[str], expected: str) -> None:
    assert buildkit_suggest(value, options) == expected


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("node server.js", 'CMD ["node", "server.js"]'),
        ('echo "hello world"', 'CMD ["echo", "hello world"]'),
        ("node --port=8080 app.js", 'CMD ["node", "--port=8080", "app.js"]'),
        ("node server.js --port $PORT", 'CMD ["sh", "-c", "exec node server.js --port $PORT"]'),
        ("exec node $APP", 'CMD ["sh", "-c", "exec node $APP"]'),
        ("npm start && node x", 'CMD ["sh", "-c", "npm start && node x"]'),
        ("NODE_ENV=production node x", 'CMD ["sh", "-c", "NODE_ENV=production node x"]'),
        ("ls *.js", 'CMD ["sh", "-c", "exec ls *.js"]'),
    ],
)
def test_exec_form_fix(command: str, expected: str) -> None:
    fix = exec_form_fix("CMD", command)
    assert fix.split(" — ")[0] == expected
    if "sh" in expected:
        assert " — " in fix  # a note says what the shell still does
    else:
        assert " — " not in fix


# ---- through the runner: BuildKit's configuration comments and directive ---------------
# check_buildkit reports everything; the runner applies `# check=` (file directive and
# comments above instructions) and the experimental filter. These are BuildKit's own
# expectations (dockerfile_check_test.go), end to end.


def run_configured(dockerfile: str) -> list[tuple[int, str, str]]:
    df = parse_dockerfile(dockerfile)
    plan = build_plan(df, PlanOptions(target_platform=AMD64, build_platform=AMD64))
    report = run_checks(CheckInput(plan))
    return sorted(
        (f.line, f.rule.id, f.message) for f in report.findings if f.rule.source == "buildkit"
    )


def test_runner_applies_buildkit_configuration_secrets() -> None:
    case = load(CASES_DIR / "secrets.toml")
    got = run_configured(case["dockerfile"])
    secret = "Do not use ARG or ENV instructions for sensitive data"
    assert got == [
        (4, "SecretsUsedInArgOrEnv", f'{secret} (ARG "SECRET_PASSPHRASE")'),
        (5, "SecretsUsedInArgOrEnv", f'{secret} (ENV "SUPER_Secret")'),
        (6, "SecretsUsedInArgOrEnv", f'{secret} (ENV "password")'),
        (6, "SecretsUsedInArgOrEnv", f'{secret} (ENV "secret")'),
        (7, "SecretsUsedInArgOrEnv", f'{secret} (ARG "auth")'),
        (7, "SecretsUsedInArgOrEnv", f'{secret} (ARG "super_duper_secret_token")'),
        (8, "SecretsUsedInArgOrEnv", f'{secret} (ENV "apikey")'),
        (9, "SecretsUsedInArgOrEnv", f'{secret} (ENV "git_key")'),
    ]


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM scratch\n# check=skip=JSONArgsRecommended\nCMD mycommand\n",
        "FROM scratch\n# check=skip=MaintainerDeprecated\nMAINTAINER me@example.org\n",
        "FROM scratch\n# check=skip=WorkdirRelativePath\nWORKDIR app/\n",
        "FROM scratch\n# check=skip=LegacyKeyValueFormat\nENV testkey value\n"
        "# check=skip=LegacyKeyValueFormat\nLABEL key value\n",
        "# check=skip=RedundantTargetPlatform\nFROM --platform=$TARGETPLATFORM scratch\n",
        "#check=skip=all\nFROM scratch as base\ncopy Dockerfile .\n",
        "#check=skip=ConsistentInstructionCasing,FromAsCasing\nFROM scratch as base\n"
        "copy Dockerfile .\n",
    ],
)
def test_runner_skips_like_buildkit(dockerfile: str) -> None:
    assert run_configured(dockerfile) == []


def test_runner_skip_one_rule_keeps_the_others() -> None:
    got = run_configured(
        "#check=skip=ConsistentInstructionCasing\nFROM scratch as base\ncopy Dockerfile .\n"
    )
    assert got == [(2, "FromAsCasing", "'as' and 'FROM' keywords' casing do not match")]


def test_runner_reports_experimental_rule_only_when_enabled() -> None:
    case = load(CASES_DIR / "definition_description.toml")
    assert [line for line, _, _ in run_configured(case["dockerfile"])] == [3, 5, 7, 9]
    without = case["dockerfile"].split("\n", 1)[1]  # drop the experimental directive
    assert run_configured("# nothing\n" + without) == []
