"""Walk lint paths and classify each file: manifests, compose, Dockerfiles, Helm values, bundles."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from deploy_kit.errors import InputError
from deploy_kit.validate.documents import (
    LINT_SIZE_HINT,
    MAX_LINT_FILE_BYTES,
    YamlDoc,
    duplicate_key_findings,
    parse_yaml_docs,
)
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.placeholders import parse_documents
from deploy_kit.yamlio import (
    MAX_FILE_BYTES,
    OpenFailed,
    check_file,
    parse_yaml,
    read_bounded,
    read_text,
)

Kind = Literal["kubernetes", "compose", "dockerfile", "helm-values", "kustomization", "yaml"]

BUNDLE_MANIFEST = ".deploy-kit-manifest.json"
CHART_NAME = "deepseek-v4"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")
# Directories nobody lints: VCS data, virtualenvs, caches, the tools deploy-kit installs.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__"})
# Files a rendered bundle carries beside what is linted.
BUNDLE_METADATA = frozenset({"plan.json", "README.md", BUNDLE_MANIFEST, ".gitignore"})
_COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.-][\w.-]+)?\.ya?ml$|\.compose\.ya?ml$")
_DOCKERFILE_NAME = re.compile(r"^(?:Dockerfile|Containerfile)(?:\.[\w.-]+)?$|\.Dockerfile$")
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class LintFile:
    """One file to lint with what it is and its parsed YAML documents (YAML kinds only)."""

    path: Path
    kind: Kind
    docs: tuple[YamlDoc, ...] = ()
    parsed: bool = True  # False: the YAML did not parse (a finding says why)
    bundle: Path | None = None  # the rendered bundle it belongs to, if any
    chart: Path | None = None  # helm values: the chart directory it belongs to, if known


@dataclass(frozen=True)
class Skipped:
    """A file discovery did not lint, and why (listed with --verbose)."""

    path: Path
    reason: str


@dataclass
class Discovery:
    """Everything the walk found."""

    files: list[LintFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    bundles: list[Path] = field(default_factory=list)
    kustomizations: list[Path] = field(default_factory=list)  # directories
    crd_files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def of_kind(self, *kinds: Kind) -> list[LintFile]:
        return [f for f in self.files if f.kind in kinds]


def discover(paths: Sequence[Path]) -> Discovery:
    """Walk files and directories (sorted, deterministic) and classify what is found."""
    out = Discovery()
    seen: set[Path] = set()
    for given in paths:
        if not given.exists():
            raise InputError(f"{given}: no such file or directory")
        if not given.is_dir() and not given.is_file():
            # A FIFO or device named on the command line is refused by stat, never opened.
            check_file(given, what="file", limit=MAX_LINT_FILE_BYTES)
        candidates = [given] if given.is_file() else list(_walk(given, out))
        for path in candidates:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            _classify(path, out, explicit=path == given)
    out.bundles = sorted(set(out.bundles))
    out.kustomizations = sorted(set(out.kustomizations))
    return out


def chart_values_keys() -> frozenset[str]:
    """Top-level keys of charts/deepseek-v4/values.yaml (what a values file for it may set)."""
    return _chart_keys()


@cache
def _chart_keys() -> frozenset[str]:
    from deploy_kit.resources import resource_dir

    try:
        text = (resource_dir("charts") / CHART_NAME / "values.yaml").read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, FileNotFoundError, yaml.YAMLError):
        return frozenset({"model", "image", "parallelism", "vllm"})
    return frozenset(data) if isinstance(data, dict) else frozenset()


def packaged_chart() -> Path | None:
    """The deepseek-v4 chart shipped with deploy-kit (wheel copy, else the checkout's)."""
    from deploy_kit.resources import resource_dir

    try:
        chart = resource_dir("charts") / CHART_NAME
    except FileNotFoundError:
        return None
    return chart if (chart / "Chart.yaml").is_file() else None


# --- walking ----------------------------------------------------------------------------------


def _walk(root: Path, out: Discovery) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if _is_chart_dir(here):
            # A chart's templates are Go templates, not YAML: only its values files are linted.
            dirnames[:] = []
            filenames = [n for n in filenames if n.startswith("values") and n.endswith(".yaml")]
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        names = set(filenames)
        if BUNDLE_MANIFEST in names:
            out.bundles.append(here)
        if names & set(KUSTOMIZATION_NAMES):
            out.kustomizations.append(here)
        yield from (here / n for n in sorted(filenames))


def _is_chart_dir(path: Path) -> bool:
    return (path / "Chart.yaml").is_file() and (path / "templates").is_dir()


def _bundle_of(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if (parent / BUNDLE_MANIFEST).is_file():
            return parent
    return None


def _chart_of(path: Path) -> Path | None:
    chart = path.parent
    if not (chart / "Chart.yaml").is_file():
        return None
    # Bounded like every read: a Chart.yaml that is huge or a FIFO is refused (exit 2).
    text = read_text(chart / "Chart.yaml", what="chart file", limit=MAX_FILE_BYTES)
    try:
        meta = parse_yaml(text, origin=str(chart / "Chart.yaml"))
    except InputError:  # not a chart deploy-kit can use: the values file is linted alone
        return None
    if isinstance(meta, dict) and meta.get("name") == CHART_NAME:
        return chart
    return None


# --- classification ---------------------------------------------------------------------------


def _classify(path: Path, out: Discovery, *, explicit: bool) -> None:
    name = path.name
    bundle = _bundle_of(path)
    if bundle is not None and name in BUNDLE_METADATA:
        out.skipped.append(Skipped(path, "bundle metadata"))
        return
    is_yaml = name.endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_NAMES
    is_dockerfile = bool(_DOCKERFILE_NAME.search(name))
    if not (is_yaml or is_dockerfile or name.endswith(".json")):
        out.skipped.append(Skipped(path, "not YAML, JSON or a Dockerfile"))
        return
    try:
        text = _read_text(path)
    except OpenFailed as exc:
        out.findings.append(_unreadable(path, f"cannot be read: {exc.reason}"))
        return
    if text is None:
        if is_yaml or is_dockerfile or explicit:
            out.findings.append(_unreadable(path))
        else:
            out.skipped.append(Skipped(path, "not UTF-8 text"))
        return
    if is_dockerfile:
        out.files.append(LintFile(path, "dockerfile", bundle=bundle))
        return
    _classify_yaml(path, text, out, bundle=bundle, explicit=explicit)


def _classify_yaml(
    path: Path, text: str, out: Discovery, *, bundle: Path | None, explicit: bool
) -> None:
    name = path.name
    is_json = name.endswith(".json")
    try:
        docs = tuple(parse_yaml_docs(text, str(path)))
    except yaml.YAMLError as exc:
        if is_json and not explicit:
            out.skipped.append(Skipped(path, "JSON that is not a manifest"))
            return
        # One broken document (a template placeholder) must not hide the file's others.
        good, broken = parse_documents(text, str(path))
        out.findings += broken or [_syntax_finding(path, exc)]
        kind: Kind = "compose" if _COMPOSE_NAME.search(name) else "yaml"
        if name in KUSTOMIZATION_NAMES:
            kind = "kustomization"
        kind = (_kind_of(path, good, bundle) or kind) if good and broken else kind
        docs = tuple(good) if broken else ()
        out.findings += duplicate_key_findings(docs)
        out.files.append(LintFile(path, kind, docs, parsed=False, bundle=bundle))
        return
    except RecursionError:
        out.findings.append(_syntax_finding(path, None))
        out.files.append(LintFile(path, "yaml", parsed=False, bundle=bundle))
        return
    except InputError as exc:
        # Over the parse limits (values, nesting, aliases): the message names the one crossed,
        # and the rest of the lint paths are still linted.
        out.findings.append(
            Finding(
                rule="yaml/limit",
                severity="error",
                message=exc.message,
                file=str(path),
                hint=exc.hint,
                source="deploy-kit",
            )
        )
        out.files.append(LintFile(path, "yaml", parsed=False, bundle=bundle))
        return
    kind_or_none = _kind_of(path, docs, bundle)
    if kind_or_none is None:
        reason = "empty" if not docs else "YAML that is not a manifest, compose file or values"
        out.skipped.append(Skipped(path, reason))
        return
    if is_json and kind_or_none != "kubernetes":
        out.skipped.append(Skipped(path, "JSON that is not a manifest"))
        return
    out.findings += duplicate_key_findings(docs)
    if kind_or_none == "kubernetes" and any(d.kind == "CustomResourceDefinition" for d in docs):
        out.crd_files.append(path)
    chart = None
    if kind_or_none == "helm-values":
        chart = _chart_of(path)
    out.files.append(LintFile(path, kind_or_none, docs, bundle=bundle, chart=chart))


def _kind_of(path: Path, docs: Sequence[YamlDoc], bundle: Path | None) -> Kind | None:
    name = path.name
    if name in KUSTOMIZATION_NAMES:
        return "kustomization"
    maps = [d.data for d in docs if isinstance(d.data, dict)]
    if not maps:
        return None
    if any(d.kind and d.api_version for d in docs):
        if all(d.kind in ("Kustomization", "Component") for d in docs if d.kind):
            return "kustomization"
        return "kubernetes"
    first = maps[0]
    if _COMPOSE_NAME.search(name) or _looks_like_compose(first):
        return "compose"
    if _looks_like_values(path, first, bundle):
        return "helm-values"
    return None


def _looks_like_compose(data: dict[str, Any]) -> bool:
    services = data.get("services")
    return isinstance(services, dict) and bool(services) and "apiVersion" not in data


def _looks_like_values(path: Path, data: dict[str, Any], bundle: Path | None) -> bool:
    if bundle is not None and path.parent.name == "helm" and path.name == "values.yaml":
        return True
    keys = set(data)
    chart_keys = chart_values_keys()
    # A values file for this chart sets only the chart's keys and at least the vLLM part.
    return bool(keys) and keys <= chart_keys and bool(keys & {"vllm", "parallelism"})


def _read_text(path: Path) -> str | None:
    """The UTF-8 text of a file to lint, None if it is not text. A file over the size bound, a
    FIFO or a device raises InputError (exit 2) before it is read or opened."""
    raw = read_bounded(path, what="file", limit=MAX_LINT_FILE_BYTES, hint=LINT_SIZE_HINT)
    if b"\0" in raw[:_SNIFF_BYTES]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unreadable(path: Path, why: str | None = None) -> Finding:
    return Finding(
        rule="lint/unreadable" if why else "lint/not-text",
        severity="error",
        message=why or "not UTF-8 text (binary or another encoding): cannot be linted",
        file=str(path),
        hint="fix its permissions"
        if why
        else "save it as UTF-8, or leave it out of the lint paths",
        source="deploy-kit",
    )


def _syntax_finding(path: Path, exc: yaml.YAMLError | None) -> Finding:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc) if exc else "nesting too deep")
    return Finding(
        rule="yaml/syntax",
        severity="error",
        message=f"YAML does not parse: {problem}",
        file=str(path),
        line=mark.line + 1 if mark is not None else None,
        hint="fix the YAML syntax at this line",
        source="pyyaml",
    )
