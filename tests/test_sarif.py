"""SARIF output validates against the SARIF 2.1.0 schema (OASIS, via npm: see scripts/setup.sh)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from etage.checks.context import CheckInput
from etage.checks.render import render_sarif
from etage.checks.runner import run_checks
from etage.plan.graph import build_plan
from tests.conftest import dockerfile

SCHEMA = Path(__file__).resolve().parent.parent / ".cache" / "sarif-schema-2.1.0.json"

TEXT = """
    FROM golang:1.22
    RUN go build -o /app .
    FROM golang:1.22
    MAINTAINER someone
    RUN apt-get install -y gcc
    COPY --from=0 /app /app
    CMD /app
"""


def test_sarif_is_valid_and_complete() -> None:
    assert SCHEMA.exists(), "run `scripts/setup.sh test` (or `make test`) to fetch the SARIF schema"
    schema = json.loads(SCHEMA.read_text())
    report = run_checks(CheckInput(build_plan(dockerfile(TEXT))))
    assert report.findings
    doc = json.loads(render_sarif(report))
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)
    run = doc["runs"][0]
    results = run["results"]
    assert len(results) == len(report.findings)
    rules = run["tool"]["driver"]["rules"]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
    assert {"NumericStageReference", "BuildToolsInFinalStage", "MaintainerDeprecated"} <= {
        r["ruleId"] for r in results
    }


def test_sarif_rejects_what_the_schema_rejects() -> None:
    # The validation is real: a result without a message is refused.
    schema = json.loads(SCHEMA.read_text())
    doc = json.loads(render_sarif(run_checks(CheckInput(build_plan(dockerfile(TEXT))))))
    del doc["runs"][0]["results"][0]["message"]
    try:
        jsonschema.validate(doc, schema, cls=jsonschema.Draft7Validator)
    except jsonschema.ValidationError:
        return
    raise AssertionError("an invalid SARIF document passed validation")
