"""The lint report and its reporters: text grouped by file, JSON and SARIF 2.1.0."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from pydantic import BaseModel, ConfigDict, Field

from deploy_kit.validate.findings import Finding, Severity
from deploy_kit.validate.rules.facts import RULES
from deploy_kit.version import __version__

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFORMATION_URI = "https://github.com/deploy-kit/deploy-kit"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_COLOUR = {"error": "red", "warning": "yellow", "info": "blue"}
_TOOL_RULES = {
    "yamllint": "yamllint check (YAML syntax, duplicate keys, truthy values)",
    "yaml": "YAML that does not parse",
    "k8s-schema": "Kubernetes object against the API schema of the chosen Kubernetes version",
    "crd-schema": "custom resource against its CRD's openAPIV3Schema (unknown fields are errors)",
    "compose": "docker compose config -q (the real Compose v2 binary)",
    "hadolint": "Dockerfile check by hadolint",
    "helm": "helm template of the deepseek-v4 chart with this values file",
    "kustomize": "kubectl kustomize of the directory",
    "lint": "a file the linter cannot read",
}


class LintedFile(BaseModel):
    """A file the linter checked and what it took it for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="path as discovered")
    kind: str = Field(
        description="kubernetes, compose, dockerfile, helm-values, kustomization, yaml"
    )


class SkippedFile(BaseModel):
    """A file the walk found but did not lint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="path as discovered")
    reason: str = Field(description="why it was skipped")


class ToolRun(BaseModel):
    """How often one external tool ran and over how many files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tool: str = Field(description="tool name")
    runs: int = Field(description="processes started")
    files: int = Field(description="files (or documents) handed to it")


class LintReport(BaseModel):
    """Everything one `deploy-kit lint` found, sorted deterministically."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deploy_kit_version: str = Field(default=__version__, description="deploy-kit version")
    vllm_version: str = Field(description="vLLM version whose flag table was used")
    k8s_version: str = Field(description="Kubernetes version the schemas are for")
    hardware: str | None = Field(default=None, description="--hardware, when given")
    strict: bool = Field(description="warnings fail the lint")
    external_tools: bool = Field(description="False with --no-tools: structural checks skipped")
    findings: list[Finding] = Field(description="sorted by file, line, rule")
    files: list[LintedFile] = Field(description="files linted")
    skipped: list[SkippedFile] = Field(description="files found but not linted")
    tool_runs: list[ToolRun] = Field(description="external tool processes started")
    notes: list[str] = Field(description="what was not checked, and why")
    errors: int = Field(description="findings of severity error")
    warnings: int = Field(description="findings of severity warning")
    exit_code: int = Field(description="0 clean, 1 errors (or warnings with --strict)")


def make_report(**fields: Any) -> LintReport:
    """A report with the counts and the exit code computed from the findings."""
    findings: list[Finding] = fields["findings"]
    counts = Counter(f.severity for f in findings)
    failed = counts["error"] > 0 or (fields["strict"] and counts["warning"] > 0)
    return LintReport(
        **fields, errors=counts["error"], warnings=counts["warning"], exit_code=int(failed)
    )


def sort_key(f: Finding) -> tuple[Any, ...]:
    return (f.file, f.line or 0, f.document or 0, f.rule, f.path or "", f.message, f.severity)


# --- text -----------------------------------------------------------------------------------


def to_text(report: LintReport, *, color: bool = False, verbose: bool = False) -> str:
    """Findings grouped by file, then a one-line summary (and details with verbose)."""

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    lines: list[str] = []
    for file, items in groupby(report.findings, key=lambda f: f.file):
        lines.append(style(file, bold=True))
        for f in items:
            where = f"{f.line}" if f.line else "-"
            extra = []
            if f.document is not None:
                extra.append(f"doc {f.document}")
            if f.path:
                extra.append(f.path)
            suffix = f"  [{', '.join(extra)}]" if extra else ""
            severity = style(f"{f.severity:<7}", fg=_COLOUR[f.severity])
            lines.append(f"  {where:>5}  {severity}  {f.rule}  {f.message}{suffix}")
            if f.hint:
                lines.append(style(f"{'':>16}hint: {f.hint}", dim=True))
        lines.append("")
    if verbose:
        lines += _verbose(report)
    for note in report.notes:
        lines.append(style(f"note: {note}", fg="cyan"))
    lines.append(_summary(report, style))
    return "\n".join(lines) + "\n"


def _verbose(report: LintReport) -> list[str]:
    lines = [f"linted ({len(report.files)}):"]
    lines += [f"  {f.kind:<14} {f.path}" for f in report.files]
    if report.skipped:
        lines.append(f"skipped ({len(report.skipped)}):")
        lines += [f"  {s.path}: {s.reason}" for s in report.skipped]
    if report.tool_runs:
        lines.append("tools:")
        lines += [f"  {t.tool}: {t.runs} run(s) over {t.files} input(s)" for t in report.tool_runs]
    return [*lines, ""]


def _summary(report: LintReport, style: Callable[..., str]) -> str:
    counts = f"{report.errors} error(s), {report.warnings} warning(s)"
    text = f"{counts} in {len(report.files)} file(s)"
    if report.skipped:
        text += f", {len(report.skipped)} skipped"
    if report.tool_runs:
        text += "; tools: " + ", ".join(f"{t.tool} x{t.runs}" for t in report.tool_runs)
    colour = "red" if report.exit_code else "green"
    return style(text, fg=colour, bold=True)


# --- JSON -------------------------------------------------------------------------------------


def to_json(report: LintReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


# --- SARIF ------------------------------------------------------------------------------------


def to_sarif(report: LintReport, base: Path | None = None) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (one run; rule metadata; file + line locations)."""
    root = (base or Path.cwd()).resolve()
    rule_ids = sorted(RULES) + sorted({f.rule for f in report.findings} - set(RULES))
    index = {rule: i for i, rule in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "deploy-kit",
                "version": report.deploy_kit_version,
                "semanticVersion": report.deploy_kit_version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(rule) for rule in rule_ids],
            }
        },
        "originalUriBaseIds": {"SRCROOT": {"uri": root.as_uri() + "/"}},
        "invocations": [
            {
                "executionSuccessful": True,
                "exitCode": report.exit_code,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": note}} for note in report.notes
                ],
            }
        ],
        "results": [_result(f, index[f.rule], root) for f in report.findings],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "vllmVersion": report.vllm_version,
            "kubernetesVersion": report.k8s_version,
            "externalTools": report.external_tools,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def to_sarif_text(report: LintReport, base: Path | None = None) -> str:
    return json.dumps(to_sarif(report, base), indent=2) + "\n"


def _rule(rule_id: str) -> dict[str, Any]:
    rule = RULES.get(rule_id)
    if rule is not None:
        return {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": f"{rule.title}."},
            "help": {"text": rule.hint},
            "defaultConfiguration": {"level": _LEVEL[rule.severity]},
            "properties": {"tags": ["deploy-kit", "vllm", "deepseek-v4"]},
        }
    family = rule_id.split("/", 1)[0]
    description = _TOOL_RULES.get(family, f"{family} check")
    return {
        "id": rule_id,
        "name": rule_id.replace("/", "-"),
        "shortDescription": {"text": description},
        "helpUri": INFORMATION_URI,
        "properties": {"tags": [family]},
    }


def _result(f: Finding, rule_index: int, root: Path) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(f.file, root)}
    if f.line:
        physical["region"] = {"startLine": f.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if f.path:
        location["logicalLocations"] = [{"fullyQualifiedName": f.path, "kind": "element"}]
    properties: dict[str, Any] = {"source": f.source}
    if f.hint:
        properties["hint"] = f.hint
    if f.document is not None:
        properties["document"] = f.document
    text = f.message if not f.hint else f"{f.message} (hint: {f.hint})"
    return {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "locations": [location],
        "properties": properties,
    }


def _artifact(file: str, root: Path) -> dict[str, Any]:
    path = Path(file)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        relative = Path(os.path.relpath(absolute.resolve(), root))
    except ValueError:
        relative = None
    if relative is not None and not relative.as_posix().startswith("../"):
        return {"uri": quote(relative.as_posix(), safe="/"), "uriBaseId": "SRCROOT"}
    return {"uri": absolute.resolve().as_uri()}


def level_of(severity: Severity) -> str:
    return _LEVEL[severity]
