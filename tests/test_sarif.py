"""SARIF 2.1.0 output, validated against the OASIS schema vendored in tests/fixtures/sarif/."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deploy_kit.cli.main import main
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.lint import lint_paths
from deploy_kit.validate.report import LintReport, make_report, to_sarif
from deploy_kit.validate.rules.facts import RULES
from deploy_kit.validate.structural.tools import tool_available

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "tests" / "fixtures" / "sarif" / "sarif-2.1.0-rtm.5.json"
BAD = REPO / "tests" / "fixtures" / "lint" / "bad"
GOOD = REPO / "tests" / "fixtures" / "lint" / "good"


@cache
def validator() -> Any:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid(log: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


@cache
def bad_report() -> LintReport:
    return lint_paths([BAD / "k8s", BAD / "compose", BAD / "docker"], tools=False)


def test_schema_is_the_sarif_2_1_0_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    assert (SCHEMA.parent / "SOURCE.md").is_file()


def test_bad_fixtures_sarif_is_valid_and_complete() -> None:
    report = bad_report()
    log = to_sarif(report, REPO)
    assert_valid(log)
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert set(RULES) <= set(ids) and len(ids) == len(set(ids))
    for rule in rules:
        if rule["id"] in RULES:
            assert rule["shortDescription"]["text"] and rule["help"]["text"]
            assert (
                rule["defaultConfiguration"]["level"]
                == {"error": "error", "warning": "warning"}[RULES[rule["id"]].severity]
            )
    results = run["results"]
    assert len(results) == len(report.findings)
    for result, finding in zip(results, report.findings, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding.rule
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "SRCROOT"
        assert artifact["uri"].startswith("tests/fixtures/lint/bad/")
        if finding.line:
            assert location["physicalLocation"]["region"]["startLine"] == finding.line
        if finding.path:
            assert location["logicalLocations"][0]["fullyQualifiedName"] == finding.path
    assert {r["level"] for r in results} == {"error", "warning"}


def test_clean_report_is_valid_sarif() -> None:
    log = to_sarif(lint_paths([GOOD / "k8s"], tools=False), REPO)
    assert_valid(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["invocations"][0]["exitCode"] == 0


def test_locations_outside_the_base_and_odd_names() -> None:
    findings = [
        Finding(
            rule="yamllint/syntax",
            severity="info",
            message="m",
            file="/elsewhere/a file #1.yaml",
            line=3,
            source="yamllint",
        ),
        Finding(rule="DK111", severity="error", message="m", file="rel/x.yaml", source="x"),
    ]
    report = make_report(
        vllm_version="0.33.0",
        k8s_version="1.33.0",
        strict=False,
        external_tools=False,
        findings=findings,
        files=[],
        skipped=[],
        tool_runs=[],
        notes=["a note"],
    )
    log = to_sarif(report, Path("/work/base"))
    assert_valid(log)
    first, second = log["runs"][0]["results"]
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith(
        "file:///elsewhere/a%20file%20%231.yaml"
    )
    assert first["level"] == "note"
    assert "region" not in second["locations"][0]["physicalLocation"]


def test_cli_writes_sarif(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "lint.sarif"
    code = main(["lint", "--no-tools", "-o", "sarif", "--out", str(out), str(BAD / "compose")])
    capsys.readouterr()
    assert code == 1
    log = json.loads(out.read_text(encoding="utf-8"))
    assert_valid(log)
    assert log["version"] == "2.1.0"


@pytest.mark.tools
@pytest.mark.skipif(
    not all(tool_available(t) for t in ("yamllint", "kubernetes-validate", "hadolint")),
    reason="run `make tools`",
)
def test_tool_findings_are_valid_sarif() -> None:
    report = lint_paths([BAD / "k8s", BAD / "docker"])
    log = to_sarif(report, REPO)
    assert_valid(log)
    ids = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"yamllint/key-duplicates", "k8s-schema", "hadolint/DL3007"} <= ids
