"""Compare checkov's failed checks with security/checkov-exceptions.yaml and write the report.

usage: python scripts/checkov_compare.py --exceptions FILE --report-dir DIR
           [--matrix MATRIX_DIR] RESULT.json...

Each RESULT.json is checkov's `-o json` output (one framework: an object; several: a list).
File paths in a result are relative to the directory checkov scanned; under MATRIX_DIR they
start with <model>/<preset>[+variant], which names a case of MATRIX_DIR/matrix.json (its GPU
vendor and node count feed the `gpu_vendor` and `multi_node` conditions).

Writes DIR/checkov-report.json and DIR/checkov-report.md. Exit 0 when every failure is covered
by an exception, 1 when some are not, 2 when the inputs are unusable (a result that is not
checkov JSON, a framework that scanned nothing, parse errors, a malformed exceptions file).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONDITIONS = ("gpu_vendor", "multi_node")
PATTERNS = ("resource", "file")
ENTRY_KEYS = {"check", "reason", *CONDITIONS, *PATTERNS}
SHOWN = 20  # uncovered failures printed; the report has every one


class Unusable(Exception):
    """Inputs this script cannot judge (exit 2)."""


@dataclass(frozen=True)
class Exception_:
    """One documented exception (trailing underscore: `Exception` is the builtin)."""

    index: int
    check: str
    reason: str
    resource: str | None = None
    file: str | None = None
    gpu_vendor: str | None = None
    multi_node: bool | None = None

    def matches(self, failure: Failure) -> bool:
        if failure.check != self.check:
            return False
        if self.resource is not None and not fnmatch.fnmatchcase(failure.resource, self.resource):
            return False
        if self.file is not None and not fnmatch.fnmatchcase(failure.file, self.file):
            return False
        if self.gpu_vendor is not None and failure.gpu_vendor != self.gpu_vendor:
            return False
        return self.multi_node is None or failure.multi_node is self.multi_node


@dataclass
class Failure:
    """One failed check on one resource."""

    framework: str
    check: str
    name: str
    resource: str
    file: str
    case: str | None
    gpu_vendor: str | None
    multi_node: bool | None
    exception: int | None = None
    reason: str | None = None


@dataclass
class Report:
    """Everything the markdown and JSON reports say."""

    frameworks: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    matrix: str = ""

    @property
    def unexpected(self) -> list[Failure]:
        return [f for f in self.failures if f.exception is None]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="checkov -o json outputs")
    parser.add_argument("--exceptions", type=Path, required=True)
    parser.add_argument("--report-dir", type=Path, required=True)
    parser.add_argument("--matrix", type=Path, help="The render_matrix.py output directory.")
    args = parser.parse_args(argv)
    try:
        exceptions = load_exceptions(args.exceptions)
        cases = load_cases(args.matrix) if args.matrix else {}
        report = compare([load_result(p) for p in args.results], exceptions, cases)
        report.matrix = _matrix_line(cases)
    except Unusable as exc:
        print(f"security: {exc}", file=sys.stderr)
        return 2
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "checkov-report.json").write_text(to_json(report, exceptions), "utf-8")
    (args.report_dir / "checkov-report.md").write_text(to_markdown(report, exceptions), "utf-8")
    print(summary(report))
    for failure in report.unexpected[:SHOWN]:
        print(
            f"  NOT EXCEPTED {failure.check} {failure.name!r}: {failure.resource} ({failure.file})",
            file=sys.stderr,
        )
    if len(report.unexpected) > SHOWN:
        more = len(report.unexpected) - SHOWN
        print(f"  ... and {more} more (checkov-report.md lists them all)", file=sys.stderr)
    for index in report.stale:
        print(f"  stale exception #{index} ({exceptions[index].check}): matched nothing")
    return 1 if report.unexpected else 0


def load_exceptions(path: Path) -> list[Exception_]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise Unusable(f"{path}: {exc}") from None
    entries = data.get("exceptions") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise Unusable(f"{path}: expected a mapping with an `exceptions:` list")
    out = []
    for i, entry in enumerate(entries):
        where = f"{path}: exceptions[{i}]"
        if not isinstance(entry, dict):
            raise Unusable(f"{where}: expected a mapping")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise Unusable(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        check, reason = entry.get("check"), entry.get("reason")
        if not isinstance(check, str) or not check:
            raise Unusable(f"{where}.check: a checkov id is required")
        if not isinstance(reason, str) or len(reason.split()) < 8:
            raise Unusable(f"{where}.reason: say why (a sentence at least)")
        multi = entry.get("multi_node")
        if multi is not None and not isinstance(multi, bool):
            raise Unusable(f"{where}.multi_node: true or false")
        for key in (*PATTERNS, "gpu_vendor"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise Unusable(f"{where}.{key}: a string")
        out.append(
            Exception_(
                index=i,
                check=check,
                reason=" ".join(reason.split()),
                resource=entry.get("resource"),
                file=entry.get("file"),
                gpu_vendor=entry.get("gpu_vendor"),
                multi_node=multi,
            )
        )
    return out


def load_cases(matrix: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((matrix / "matrix.json").read_text(encoding="utf-8"))
        return {str(c["case"]): c for c in data["cases"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unusable(f"{matrix}/matrix.json: {exc}") from None


def _matrix_line(cases: dict[str, dict[str, Any]]) -> str:
    if not cases:
        return ""
    multi = sum(1 for c in cases.values() if c["nodes"] > 1)
    amd = sum(1 for c in cases.values() if c["gpu_vendor"] == "amd")
    return (
        f"Matrix: {len(cases)} bundles ({multi} multi-node, {amd} AMD), each scanned as "
        "rendered Kubernetes manifests, the chart rendered with its values.yaml (helm "
        "template), the LeaderWorkerSet pod templates as Pods, and the Dockerfile; plus the "
        "chart with its default values (helm framework). Compose files have no checkov "
        "framework: deploy-kit lint and the property tests check them."
    )


def load_result(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Unusable(f"{path}: not checkov JSON ({exc})") from None
    runs = data if isinstance(data, list) else [data]
    for run in runs:
        if not isinstance(run, dict) or "check_type" not in run or "summary" not in run:
            raise Unusable(f"{path}: not checkov JSON (no check_type/summary)")
        summary_ = run["summary"]
        if summary_.get("parsing_errors"):
            raise Unusable(f"{path}: checkov could not parse {summary_['parsing_errors']} file(s)")
        if not summary_.get("resource_count"):
            raise Unusable(f"{path}: checkov's {run['check_type']} run scanned no resource")
    return runs


def compare(
    results: list[list[dict[str, Any]]],
    exceptions: list[Exception_],
    cases: dict[str, dict[str, Any]],
) -> Report:
    report = Report()
    used: set[int] = set()
    for runs in results:
        for run in runs:
            framework = str(run["check_type"])
            counts = report.frameworks.setdefault(
                framework, {"passed": 0, "failed": 0, "resources": 0}
            )
            counts["passed"] += int(run["summary"].get("passed", 0))
            counts["failed"] += int(run["summary"].get("failed", 0))
            counts["resources"] += int(run["summary"].get("resource_count", 0))
            for item in run["results"].get("failed_checks", []):
                failure = _failure(framework, item, cases)
                for exc in exceptions:
                    if exc.matches(failure):
                        failure.exception, failure.reason = exc.index, exc.reason
                        used.add(exc.index)
                        break
                report.failures.append(failure)
    report.failures.sort(key=lambda f: (f.exception is not None, f.check, f.file, f.resource))
    report.stale = [e.index for e in exceptions if e.index not in used]
    return report


def _failure(framework: str, item: dict[str, Any], cases: dict[str, dict[str, Any]]) -> Failure:
    file = str(item.get("file_path", "")).lstrip("/")
    parts = file.split("/")
    case = cases.get("/".join(parts[:2])) if len(parts) > 2 else None
    return Failure(
        framework=framework,
        check=str(item["check_id"]),
        name=str(item.get("check_name", "")),
        resource=str(item.get("resource", "")).lstrip("/"),
        file=file,
        case=case["case"] if case else None,
        gpu_vendor=case["gpu_vendor"] if case else None,
        multi_node=case["nodes"] > 1 if case else None,
    )


def summary(report: Report) -> str:
    runs = ", ".join(
        f"{fw}: {c['resources']} resources, {c['passed']} passed, {c['failed']} failed"
        for fw, c in sorted(report.frameworks.items())
    )
    excepted = len(report.failures) - len(report.unexpected)
    return (
        f"checkov ({runs}); {excepted} failure(s) covered by documented exceptions, "
        f"{len(report.unexpected)} not covered"
    )


def to_json(report: Report, exceptions: list[Exception_]) -> str:
    data = {
        "summary": summary(report),
        "matrix": report.matrix,
        "frameworks": report.frameworks,
        "unexpected": len(report.unexpected),
        "failures": [asdict(f) for f in report.failures],
        "exceptions": [asdict(e) for e in exceptions],
        "stale_exceptions": report.stale,
    }
    return json.dumps(data, indent=2) + "\n"


def to_markdown(report: Report, exceptions: list[Exception_]) -> str:
    lines = ["# checkov over the render matrix", "", summary(report), ""]
    if report.matrix:
        lines += [report.matrix, ""]
    groups = Counter((f.check, f.name, f.exception) for f in report.failures)
    lines += ["| check | name | failures | status |", "|---|---|---|---|"]
    for (check, name, index), count in sorted(
        groups.items(), key=lambda kv: (kv[0][2] is not None, kv[0][0])
    ):
        status = f"exception #{index}" if index is not None else "**not covered**"
        lines.append(f"| {check} | {name} | {count} | {status} |")
    if report.unexpected:
        lines += ["", "## Failures not covered by an exception", ""]
        lines += [f"- {f.check} {f.resource} in `{f.file}`" for f in report.unexpected]
    lines += ["", "## Exceptions", ""]
    for entry in exceptions:
        scope = ", ".join(
            f"{key}={value}"
            for key in (*PATTERNS, *CONDITIONS)
            if (value := getattr(entry, key)) is not None
        )
        stale = " (stale: matched nothing)" if entry.index in report.stale else ""
        where = f" ({scope})" if scope else ""
        lines.append(f"{entry.index}. **{entry.check}**{where}{stale}: {entry.reason}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
