"""Structural validators: yamllint, kubernetes-validate, CRD schemas, compose, hadolint, helm."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from deploy_kit.errors import DeployKitError, InputError, LintFailed, ToolMissing
from deploy_kit.validate.documents import (
    SCHEMA_HINTS,
    YamlDoc,
    json_path,
    load_yaml_docs,
    no_kind_finding,
    no_schema_finding,
    parse_yaml_docs,
)
from deploy_kit.validate.findings import Finding, Severity
from deploy_kit.validate.structural.crd import (
    crd_key,
    crd_validate_docs,
    crd_validate_one,
    load_crds,
)
from deploy_kit.validate.structural.tools import ToolResult, find_tool, install_hint, run_tool

__all__ = [
    "DEFAULT_K8S_VERSION",
    "YamlDoc",
    "compose_config_files",
    "crd_validate_docs",
    "hadolint_files",
    "helm_lint",
    "helm_template",
    "k8s_validate_docs",
    "load_yaml_docs",
    "parse_yaml_docs",
    "validate_manifests",
    "yamllint_files",
]

DEFAULT_K8S_VERSION = "1.33.0"
MAX_WORKERS = 4  # 2-core machines: enough to overlap process start-up, not more
# Tools that take one file per process (docker compose config, helm template/lint, kubectl
# kustomize) share these slots across a whole lint run. More processes than cores only starve
# the one long batch process (yamllint over every file), which is a large lint's critical path.
PER_FILE_SLOTS = max(2, os.cpu_count() or 2)
_slots = threading.BoundedSemaphore(PER_FILE_SLOTS)
# Each of those runs lives a fraction of a second: garbage collection is wasted CPU there
# (15-25 % of helm's and compose's), and the memory limit still collects if one grows large.
_GO_SHORT_RUN = {"GOGC": "off", "GOMEMLIMIT": "1GiB"}

YAMLLINT_CONFIG: dict[str, Any] = {
    "extends": "default",
    "rules": {
        # PyYAML keeps the last of two equal keys without a word: always an error.
        "key-duplicates": {"level": "error"},
        "anchors": {"level": "error"},
        # `on`/`yes` load as booleans in YAML 1.1, a classic env-var and label surprise.
        "truthy": {"level": "warning", "allowed-values": ["true", "false"], "check-keys": False},
        "octal-values": {"level": "warning", "forbid-implicit-octal": True},
        "trailing-spaces": {"level": "warning"},
        "new-line-at-end-of-file": {"level": "warning"},
        # Layout rules are taste, and generated files are already consistent.
        "line-length": "disable",
        "document-start": "disable",
        "comments": "disable",
        "comments-indentation": "disable",
        "indentation": "disable",
        "empty-lines": "disable",
        "braces": "disable",
        "brackets": "disable",
        "colons": "disable",
        "commas": "disable",
        "hyphens": "disable",
    },
}

_T = TypeVar("_T")
_R = TypeVar("_R")
_YAMLLINT_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): \[(?P<level>error|warning)\] "
    r"(?P<message>.*?)(?: \((?P<rule>[\w-]+)\))?$"
)
_COMPOSE_WARNING = re.compile(r'level=warning msg="(?P<msg>(?:[^"\\]|\\.)*)"')
_HELM_LINE = re.compile(
    r"^\[(?P<level>ERROR|WARNING|INFO)\] (?:(?P<where>[^:\s][^:]*|): )?(?P<msg>.*)$"
)
_K8S_RUNNER = Path(__file__).resolve().parent / "_k8s_runner.py"


def yamllint_files(paths: Sequence[Path], *, timeout: float = 120.0) -> list[Finding]:
    """yamllint over all files in one process: duplicate keys and syntax errors are errors."""
    if not paths:
        return []
    exe = find_tool("yamllint")
    config = json.dumps(YAMLLINT_CONFIG, sort_keys=True)
    result = run_tool([exe, "-f", "parsable", "-d", config, *paths], timeout=timeout)
    findings: list[Finding] = []
    for line in result.stdout.splitlines():
        m = _YAMLLINT_LINE.match(line.strip())
        if m is None:
            continue
        rule = m.group("rule") or "syntax"
        findings.append(
            Finding(
                rule=f"yamllint/{rule}",
                severity="error" if m.group("level") == "error" else "warning",
                message=m.group("message"),
                file=m.group("file"),
                line=int(m.group("line")),
                hint=_YAMLLINT_HINTS.get(rule),
                source="yamllint",
            )
        )
    if result.returncode not in (0, 1) or (result.returncode == 1 and not findings):
        findings.append(_tool_error("yamllint", result.stderr or result.stdout, paths))
    return findings


_YAMLLINT_HINTS = {
    "key-duplicates": "remove one of the keys; YAML loaders silently keep the last one",
    "truthy": 'quote the value ("yes", "on") if a string is meant',
    "syntax": "fix the YAML syntax at this line",
}


def k8s_validate_docs(
    docs: Sequence[YamlDoc],
    k8s_version: str = DEFAULT_K8S_VERSION,
    *,
    strict: bool = True,
    timeout: float = 180.0,
) -> list[Finding]:
    """Built-in kinds against kubernetes-validate's schemas, every error of every document,
    in one subprocess for the whole batch. A kind without a schema gets a warning."""
    if not docs:
        return []
    python = find_tool("kubernetes-validate")
    request = {
        "version": k8s_version,
        "strict": strict,
        "docs": [{"id": i, "doc": d.data} for i, d in enumerate(docs)],
    }
    result = run_tool(
        [python, _K8S_RUNNER],
        input_text=json.dumps(request, default=str),
        timeout=timeout,
    )
    try:
        reply = json.loads(result.stdout)
    except ValueError:
        if "No module named" in result.stderr:
            raise ToolMissing(
                f"{python} cannot import kubernetes-validate: {result.stderr.strip()[-200:]}",
                hint=install_hint("kubernetes-validate"),
            ) from None
        raise DeployKitError(
            f"the kubernetes-validate runner failed (exit {result.returncode}): "
            f"{result.stderr.strip()[-300:]}"
        ) from None
    if "fatal" in reply:
        raise InputError(str(reply["fatal"]), hint="pick a Kubernetes version it supports")
    findings: list[Finding] = []
    for item in reply["results"]:
        findings.extend(_k8s_result(docs[item["id"]], item, str(reply["schema_version"])))
    return findings


def validate_manifests(
    docs: Sequence[YamlDoc],
    crd_paths: Sequence[Path] = (),
    k8s_version: str = DEFAULT_K8S_VERSION,
) -> list[Finding]:
    """Route each document to its CRD schema or to kubernetes-validate (one batch)."""
    registry = load_crds(crd_paths)
    custom = [d for d in docs if crd_key(d) in registry]
    builtin = [d for d in docs if crd_key(d) not in registry]
    findings = [f for d in custom for f in crd_validate_one(d, registry)]
    return findings + k8s_validate_docs(builtin, k8s_version)


def compose_config_files(paths: Sequence[Path], *, timeout: float = 60.0) -> list[Finding]:
    """`docker-compose config -q` per file (separate projects), a few at a time."""
    if not paths:
        return []
    exe = find_tool("docker-compose")
    return _concurrently(lambda p: _compose_one(exe, p, timeout), paths)


def hadolint_files(
    paths: Sequence[Path], config: Path | None = None, *, timeout: float = 120.0
) -> list[Finding]:
    """hadolint over all Dockerfiles in one process (JSON output)."""
    if not paths:
        return []
    exe = find_tool("hadolint")
    argv: list[str | Path] = [exe, "--no-fail", "-f", "json"]
    if config is not None:
        argv += ["--config", config]
    result = run_tool([*argv, *paths], timeout=timeout)
    try:
        items = json.loads(result.stdout or "[]")
    except ValueError:
        items = None
    if not isinstance(items, list) or result.returncode != 0:
        return [_tool_error("hadolint", result.stderr or result.stdout, paths)]
    levels: dict[str, Severity] = {"error": "error", "warning": "warning"}
    return [
        Finding(
            rule=f"hadolint/{item['code']}",
            severity=levels.get(str(item.get("level")), "info"),
            message=str(item["message"]),
            file=str(item["file"]),
            line=int(item["line"]) if item.get("line") else None,
            hint=f"hadolint rule {item['code']}; ignore it in .hadolint.yaml only with a reason",
            source="hadolint",
        )
        for item in items
    ]


def helm_lint(
    chart_dir: Path,
    values_files: Sequence[Path] = (),
    *,
    strict: bool = True,
    timeout: float = 120.0,
) -> list[Finding]:
    """`helm lint [--strict]` of the chart, once per values file (helm would merge them)."""
    exe = find_tool("helm")
    runs: list[Path | None] = list(values_files) or [None]
    return _concurrently(lambda v: _helm_lint_one(exe, chart_dir, v, strict, timeout), runs)


def helm_template(
    chart_dir: Path,
    values_file: Path | None = None,
    api_versions: Sequence[str] = (),
    *,
    release: str = "deepseek-v4",
    namespace: str | None = None,
    kube_version: str | None = None,
    timeout: float = 120.0,
) -> str:
    """The manifests `helm template` renders; raises LintFailed when the chart does not render."""
    exe = find_tool("helm")
    argv: list[str | Path] = [exe, "template", release, chart_dir]
    if values_file is not None:
        argv += ["-f", values_file]
    for api in api_versions:
        argv += ["--api-versions", api]
    if namespace:
        argv += ["--namespace", namespace]
    if kube_version:
        argv += ["--kube-version", kube_version]
    with tempfile.TemporaryDirectory(prefix="dk-helm-") as home:
        result = run_per_file(argv, timeout=timeout, env=_helm_env(home))
    if result.returncode != 0:
        raise LintFailed(
            f"helm template {chart_dir} failed: {result.stderr.strip()}",
            hint="run the same helm template command to see the failing template",
        )
    return result.stdout


def run_per_file(
    argv: Sequence[str | Path], *, timeout: float, env: Mapping[str, str]
) -> ToolResult:
    """run_tool for a one-file-per-process tool (all Go programs), within the shared slots."""
    with _slots:
        return run_tool(argv, timeout=timeout, env={**env, **_GO_SHORT_RUN})


# --- per-tool details -------------------------------------------------------------------


def _k8s_result(doc: YamlDoc, item: Mapping[str, Any], schema_version: str) -> list[Finding]:
    where = {"file": doc.file, "document": doc.index, "source": "kubernetes-validate"}
    status = item["status"]
    if status == "no_kind":
        return [no_kind_finding(doc, "kubernetes-validate")]
    if status == "no_schema":
        what = f"no Kubernetes {schema_version} schema or CRD for"
        return [no_schema_finding(doc, what, "kubernetes-validate")]
    if status == "error":
        return [
            Finding(
                rule="k8s-schema/tool-error",
                severity="error",
                message=f"{doc.kind} {doc.name!r} could not be validated: {item.get('detail')}",
                line=doc.line,
                **where,
            )
        ]
    return [
        Finding(
            rule="k8s-schema",
            severity="error",
            message=f"{doc.kind} {doc.name!r}: {err['message']}",
            line=doc.line_of(err["path"]),
            path=json_path(err["path"]) or None,
            hint=SCHEMA_HINTS.get(err["validator"]),
            **where,
        )
        for err in item["errors"]
    ]


def _compose_one(exe: Path, path: Path, timeout: float) -> list[Finding]:
    argv: list[str | Path] = [exe, "-f", path, "--project-directory", path.parent]
    argv += ["--project-name", "deploy-kit-lint"]  # a directory name may not be a valid one
    for candidate in (".env", ".env.example"):
        env_file = path.parent / candidate
        if env_file.is_file():
            argv += ["--env-file", env_file]
            break
    argv += ["config", "-q"]
    # Only PATH and HOME: an exported HEAD_IP on this machine must not change the result.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    result = run_per_file(argv, timeout=timeout, env=env)
    findings: list[Finding] = []
    for m in _COMPOSE_WARNING.finditer(result.stderr):
        message = m.group("msg").replace('\\"', '"')
        findings.append(
            Finding(
                rule="compose/warning",
                severity="warning",
                message=message.replace(f"{path}: ", ""),
                file=str(path),
                hint="set it in the .env file beside the compose file"
                if "variable is not set" in message
                else None,
                source="docker-compose",
            )
        )
    if result.returncode != 0:
        text = _COMPOSE_WARNING.sub("", result.stderr)
        text = re.sub(r'time="[^"]*"', "", text).strip() or result.stdout.strip()
        message = text.splitlines()[-1] if text else f"exit {result.returncode}"
        finding_path = None
        if m2 := re.match(r"validating (?P<file>.+?): (?P<path>\S+) (?P<rest>.*)$", message):
            finding_path, message = m2.group("path"), f"{m2.group('path')} {m2.group('rest')}"
        line = None
        if m3 := re.search(r"\byaml: line (\d+):", message):
            line = int(m3.group(1))
        findings.append(
            Finding(
                rule="compose/config",
                severity="error",
                message=message,
                file=str(path),
                line=line,
                path=finding_path,
                hint="docker compose reports only the first error; fix it and lint again",
                source="docker-compose",
            )
        )
    return findings


def _helm_env(home: str) -> dict[str, str]:
    # helm writes caches and config under $HOME; keep lint runs from touching the user's.
    env = {k: v for k, v in os.environ.items() if k in ("PATH",)}
    env.update(
        HOME=home,
        HELM_CACHE_HOME=f"{home}/cache",
        HELM_CONFIG_HOME=f"{home}/config",
        HELM_DATA_HOME=f"{home}/data",
    )
    return env


def _helm_lint_one(
    exe: Path, chart_dir: Path, values: Path | None, strict: bool, timeout: float
) -> list[Finding]:
    argv: list[str | Path] = [exe, "lint", chart_dir]
    if strict:
        argv.append("--strict")
    if values is not None:
        argv += ["-f", values]
    with tempfile.TemporaryDirectory(prefix="dk-helm-") as home:
        result = run_per_file(argv, timeout=timeout, env=_helm_env(home))
    suffix = f" (values: {values})" if values is not None else ""
    findings: list[Finding] = []
    levels: dict[str, Severity] = {
        "ERROR": "error",
        # --strict makes helm fail on warnings, so they are errors here too.
        "WARNING": "error" if strict else "warning",
        "INFO": "info",
    }
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        m = _HELM_LINE.match(line.strip())
        if m is None:
            continue
        where = (m.group("where") or "").strip()
        file = str(chart_dir / where) if where else str(values or chart_dir)
        findings.append(
            Finding(
                rule="helm/lint",
                severity=levels[m.group("level")],
                message=m.group("msg").strip() + suffix,
                file=file,
                source="helm",
            )
        )
    if result.returncode != 0 and not any(f.severity == "error" for f in findings):
        detail = result.stderr.strip() or result.stdout.strip()
        findings.append(_tool_error("helm", detail, [values or chart_dir]))
    return findings


def _tool_error(tool: str, detail: str, paths: Sequence[Path]) -> Finding:
    lines = [ln for ln in detail.strip().splitlines() if ln.strip()]
    return Finding(
        rule=f"{tool}/tool-error",
        severity="error",
        message=f"{tool} failed: {lines[0] if lines else 'no output'}",
        file=str(paths[0]) if len(paths) == 1 else ", ".join(str(p) for p in paths[:3]),
        hint=f"run {tool} on the file by hand to see the full error",
        source=tool,
    )


def _concurrently(fn: Callable[[_T], list[_R]], items: Sequence[_T]) -> list[_R]:
    if len(items) == 1:
        return fn(items[0])
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(items))) as pool:
        # map keeps input order, so output is deterministic.
        return [f for chunk in pool.map(fn, items) for f in chunk]
