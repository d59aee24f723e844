"""Manifests from kustomize directories and Helm values files, located back in their sources."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy_kit.errors import LintFailed, ToolMissing
from deploy_kit.render.kubernetes import LWS_API
from deploy_kit.validate import structural, tools
from deploy_kit.validate.discover import KUSTOMIZATION_NAMES, LintFile
from deploy_kit.validate.documents import YamlDoc, parse_yaml_docs
from deploy_kit.validate.findings import Finding

# APIs the chart's optional objects need; helm template renders them only when told they exist.
HELM_API_VERSIONS = (LWS_API, "monitoring.coreos.com/v1", "keda.sh/v1alpha1")
_MAX_DEPTH = 8


@dataclass
class Built:
    """Documents of one kustomization and the files they came from."""

    docs: list[YamlDoc] = field(default_factory=list)
    consumed: set[Path] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kubectl_runs: int = 0


def kustomize_docs(kdir: Path, known: Mapping[Path, LintFile], *, use_kubectl: bool) -> Built:
    """`kubectl kustomize DIR` when kubectl is there (documents located in the resource files
    they came from), else the documents of the resources it lists, read directly."""
    out = Built()
    sources = _resources(kdir, known, out, depth=0)
    source_docs = [d for docs in sources.values() for d in docs]
    out.consumed = {p.resolve() for p in sources}
    if not use_kubectl or not tools.tool_available("kubectl"):
        if use_kubectl:
            out.notes.append(f"{kdir}: kubectl not found; read the resources it lists instead")
        out.docs = source_docs
        return out
    kubectl = tools.find_tool("kubectl")
    with tempfile.TemporaryDirectory(prefix="dk-kustomize-") as home:
        env = {k: v for k, v in os.environ.items() if k == "PATH"} | {"HOME": home}
        result = tools.run_tool([kubectl, "kustomize", kdir], env=env, timeout=120.0)
    out.kubectl_runs = 1
    kfile = _kustomization_file(kdir)
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        out.findings.append(
            Finding(
                rule="kustomize/build",
                severity="error",
                message=f"kubectl kustomize failed: {lines[-1] if lines else 'no output'}",
                file=str(kfile),
                hint="run `kubectl kustomize` on it; its resources were read as they are",
                source="kubectl",
            )
        )
        out.docs = source_docs
        return out
    try:
        built = parse_yaml_docs(result.stdout, str(kfile))
    except yaml.YAMLError:
        out.docs = source_docs
        return out
    out.docs = [_locate(doc, source_docs, str(kfile)) for doc in built]
    return out


def helm_docs(
    values: LintFile, chart: Path | None, k8s_version: str
) -> tuple[list[YamlDoc], list[Finding]]:
    """`helm template` of the deepseek-v4 chart with one values file; documents are located in
    the values file (the line of its `vllm` key)."""
    file = str(values.path)
    if chart is None:
        raise ToolMissing(
            "the deepseek-v4 chart is not found (neither packaged nor in the checkout)",
            hint="reinstall deploy-kit",
        )
    try:
        text = structural.helm_template(
            chart, values.path, HELM_API_VERSIONS, kube_version=k8s_version
        )
    except LintFailed as exc:
        text = exc.message.split(" failed: ", 1)[-1]
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "--debug" not in ln]
        message = re.sub(r"^Error: (execution error at \([^)]*\): )?", "", " ".join(lines))
        return [], [
            Finding(
                rule="helm/template",
                severity="error",
                message=message[:500] or "helm template failed",
                file=file,
                hint=f"run helm template {chart} -f {file} to see the failing template",
                source="helm",
            )
        ]
    line = _values_line(values)
    docs: list[YamlDoc] = []
    try:
        rendered = parse_yaml_docs(text, file)
    except yaml.YAMLError as exc:
        return [], [
            Finding(
                rule="helm/template",
                severity="error",
                message=f"helm template output does not parse: {exc}"[:500],
                file=file,
                line=line,
                source="helm",
            )
        ]
    # Located in the values file: the objects are named in each message, the line is `vllm:`.
    docs = [YamlDoc(file, i, line, doc.data, {}) for i, doc in enumerate(rendered)]
    return docs, []


def _values_line(values: LintFile) -> int:
    for doc in values.docs:
        return doc.line_of(["vllm"])
    return 1


def _kustomization_file(kdir: Path) -> Path:
    for name in KUSTOMIZATION_NAMES:
        if (kdir / name).is_file():
            return kdir / name
    return kdir


def _resources(
    kdir: Path, known: Mapping[Path, LintFile], out: Built, depth: int
) -> dict[Path, list[YamlDoc]]:
    kfile = _kustomization_file(kdir)
    if depth > _MAX_DEPTH or not kfile.is_file():
        return {}
    data = _load(kfile, known)
    if not isinstance(data, dict):
        return {}
    found: dict[Path, list[YamlDoc]] = {}
    entries: list[Any] = []
    for key in ("resources", "bases", "components"):
        value = data.get(key)
        if isinstance(value, list):
            entries += value
    for entry in entries:
        if not isinstance(entry, str):
            continue
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            out.notes.append(f"{kfile}: remote resource {entry} not read")
            continue
        target = (kdir / entry).resolve()
        if target.is_dir():
            found |= _resources(target, known, out, depth + 1)
        elif target.is_file():
            found[target] = _docs(target, known)
    return found


def _load(path: Path, known: Mapping[Path, LintFile]) -> Any:
    lint_file = known.get(path.resolve())
    if lint_file is not None and lint_file.docs:
        return lint_file.docs[0].data
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _docs(path: Path, known: Mapping[Path, LintFile]) -> list[YamlDoc]:
    lint_file = known.get(path.resolve())
    if lint_file is not None:
        return list(lint_file.docs)
    try:
        return parse_yaml_docs(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []


def _locate(doc: YamlDoc, sources: list[YamlDoc], fallback: str) -> YamlDoc:
    """The built document with the file, index and line table of the source it came from."""
    for src in sources:
        if src.kind == doc.kind and src.name and (doc.name == src.name or src.name in doc.name):
            return YamlDoc(src.file, src.index, src.line, doc.data, src.lines)
    return YamlDoc(fallback, doc.index, 1, doc.data, {})
