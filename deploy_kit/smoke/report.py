"""Smoke results as a table, JSON or JUnit XML; secrets are scrubbed from every format."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from deploy_kit.smoke.results import SmokeReport

FORMATS = ("table", "json", "junit")
REDACTED = "[redacted]"
MARK = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}
SUITE = "deploy-kit smoke"


def redact(report: SmokeReport, secrets: Iterable[str | None]) -> SmokeReport:
    """The same report with every secret value replaced, wherever a server may have echoed it."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not values:
        return report
    text = report.model_dump_json()
    for value in values:
        text = text.replace(json.dumps(value)[1:-1], REDACTED)
    return SmokeReport.model_validate_json(text)


def render(report: SmokeReport, fmt: str, now: datetime | None = None) -> str:
    if fmt == "json":
        return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"
    if fmt == "junit":
        return junit(report, now)
    return table(report)


def table(report: SmokeReport) -> str:
    counts = report.counts()
    head = f"smoke {report.url}"
    if report.model:
        head += f"  model {report.model}"
    if report.server_version:
        head += f"  vLLM {report.server_version}"
    width = max(len(c.name) for c in report.checks) if report.checks else 8
    lines = [head, ""]
    for c in report.checks:
        optional = "" if c.required else " (optional)"
        lines.append(f"  {MARK[c.status]:<4}  {c.name:<{width}}  {c.reason}{optional}")
    if report.load is not None:
        lines += ["", *_load_lines(report)]
    lines += [
        "",
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"
        + ("" if report.ok else "  (a required check failed)"),
    ]
    return "\n".join(lines) + "\n"


def _load_lines(report: SmokeReport) -> list[str]:
    m = report.load
    assert m is not None
    lines = [
        f"load: {m.concurrency} concurrent, isl {m.isl} (server counted {m.measured_isl}), "
        f"osl {m.osl}: {m.requests} request(s), {m.errors} error(s) in {m.duration_s:g} s",
        f"  {'':<44}{'p50':>12}{'p90':>12}",
        f"  {'TTFT ms':<44}{m.ttft_ms.p50:>12.1f}{m.ttft_ms.p90:>12.1f}",
        f"  {'TPOT ms':<44}{m.tpot_ms.p50:>12.2f}{m.tpot_ms.p90:>12.2f}",
        f"  {'output tok/s per user':<44}{m.output_tokens_per_s_per_user.p50:>12.1f}"
        f"{m.output_tokens_per_s_per_user.p90:>12.1f}",
        f"  {'output tok/s total':<44}{m.output_tokens_per_s:>12.1f}",
    ]
    if m.output_tokens_per_s_per_gpu is not None:
        lines.append(
            f"  {f'output tok/s per GPU ({m.gpus})':<44}{m.output_tokens_per_s_per_gpu:>12.1f}"
        )
    if report.comparison:
        lines += ["", f"  {'against the plan':<44}{'measured':>12}{'estimate':>12}{'ratio':>8}"]
        for c in report.comparison:
            ratio = f"{c.ratio:.2f}x" if c.ratio is not None else "-"
            label = f"{c.metric} {c.at} ({c.unit})"
            lines.append(f"  {label:<44}{c.measured:>12.1f}{c.estimate:>12.1f}{ratio:>8}")
        lines += [f"  note: {n}" for n in report.comparison_notes]
    return lines


def junit(report: SmokeReport, now: datetime | None = None) -> str:
    """One <testsuite> in <testsuites>, in the shape the Ant JUnit schema (the strictest common
    one) requires: properties, testcases, system-out and system-err, all counts present."""
    counts = report.counts()
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE,
            "package": "deploy_kit.smoke",
            "id": "0",
            "timestamp": moment,
            "hostname": socket.gethostname() or "localhost",
            "tests": str(len(report.checks)),
            "failures": str(sum(1 for c in report.checks if c.failed)),
            "errors": "0",
            "skipped": str(
                counts["skip"]
                + sum(1 for c in report.checks if c.status == "fail" and not c.required)
            ),
            "time": f"{sum(c.seconds for c in report.checks):.3f}",
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(report):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for c in report.checks:
        case = ET.SubElement(
            suite, "testcase", {"name": c.name, "classname": "smoke", "time": f"{c.seconds:.3f}"}
        )
        if c.failed:
            failure = ET.SubElement(
                case, "failure", {"message": c.reason, "type": "SmokeCheckFailed"}
            )
            failure.text = c.reason
        elif c.status != "pass":
            skipped = ET.SubElement(case, "skipped", {"message": c.reason})
            skipped.text = c.reason
    ET.SubElement(suite, "system-out").text = table(report)
    ET.SubElement(suite, "system-err").text = ""
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _properties(report: SmokeReport) -> list[tuple[str, str]]:
    out = [("url", report.url)]
    if report.model:
        out.append(("model", report.model))
    if report.server_version:
        out.append(("vllm_version", report.server_version))
    if report.load is not None:
        m = report.load
        out += [
            ("load.concurrency", str(m.concurrency)),
            ("load.ttft_ms.p50", str(m.ttft_ms.p50)),
            ("load.tpot_ms.p50", str(m.tpot_ms.p50)),
            ("load.output_tokens_per_s", str(m.output_tokens_per_s)),
        ]
    return out


def summary_line(report: SmokeReport) -> str:
    counts = report.counts()
    return f"smoke: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped"


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
