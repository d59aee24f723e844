"""Manifests from kustomize directories and Helm values files, located back in their sources."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from deploy_kit.errors import LintFailed, ToolMissing
from deploy_kit.resources import LWS_API
from deploy_kit.validate.discover import KUSTOMIZATION_NAMES, LintFile
from deploy_kit.validate.documents import (
    LINT_SIZE_HINT,
    MAX_LINT_FILE_BYTES,
    YamlDoc,
    parse_yaml_docs,
)
from deploy_kit.validate.findings import Finding
from deploy_kit.validate.structural import tools
from deploy_kit.validate.structural import validators as structural
from deploy_kit.yamlio import OpenFailed, read_bounded

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


def kustomize_docs(
    kdir: Path, known: Mapping[Path, LintFile], *, use_kubectl: bool, direct: bool = True
) -> Built:
    """`kubectl kustomize DIR` when kubectl is there (documents located in the resource files
    they came from), else the documents of the resources it lists, read directly.

    With `direct`, a kustomization that only lists local resource files (and maybe sets a
    namespace) is built here, exactly as kustomize would build it (see `build_directly`), and
    kubectl runs only for the others."""
    out = Built()
    sources = _resources(kdir, known, out, depth=0)
    source_docs = [d for docs in sources.values() for d in docs]
    out.consumed = {p.resolve() for p in sources}
    if not use_kubectl or not tools.tool_available("kubectl"):
        if use_kubectl:
            out.notes.append(f"{kdir}: kubectl not found; read the resources it lists instead")
        out.docs = source_docs
        return out
    kfile = _kustomization_file(kdir)
    built_directly = build_directly(kdir) if direct else None
    if built_directly is not None:
        out.docs = [_locate(doc, source_docs, str(kfile)) for doc in built_directly]
        return out
    kubectl = tools.find_tool("kubectl")
    with tempfile.TemporaryDirectory(prefix="dk-kustomize-") as home:
        env = {k: v for k, v in os.environ.items() if k == "PATH"} | {"HOME": home}
        result = structural.run_per_file([kubectl, "kustomize", kdir], env=env, timeout=120.0)
    out.kubectl_runs = 1
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


def kustomization_bases(kdirs: Iterable[Path], known: Mapping[Path, LintFile]) -> set[Path]:
    """Directories that a kustomization among `kdirs` lists as a resource (its bases)."""
    bases: set[Path] = set()
    for kdir in kdirs:
        data = _load(_kustomization_file(kdir), known)
        if not isinstance(data, dict):
            continue
        for key in ("resources", "bases", "components"):
            entries = data.get(key)
            for entry in entries if isinstance(entries, list) else ():
                target = (kdir / str(entry)).resolve()
                if target.is_dir():
                    bases.add(target)
    return bases


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
        elif target.exists():  # a FIFO or device is refused by _docs, never opened
            found[target] = _docs(target, known)
    return found


def _load(path: Path, known: Mapping[Path, LintFile]) -> Any:
    lint_file = known.get(path.resolve())
    if lint_file is not None and lint_file.docs:
        return lint_file.docs[0].data
    try:
        text = _read_bounded(path)
    except (OpenFailed, UnicodeDecodeError):
        return None
    try:
        docs = parse_yaml_docs(text, str(path))
    except yaml.YAMLError:  # broken YAML; over the parse limits raises InputError (exit 2)
        return None
    return docs[0].data if len(docs) == 1 else None


def _docs(path: Path, known: Mapping[Path, LintFile]) -> list[YamlDoc]:
    lint_file = known.get(path.resolve())
    if lint_file is not None:
        return list(lint_file.docs)
    try:
        text = _read_bounded(path)
    except (OpenFailed, UnicodeDecodeError):
        return []
    try:
        return parse_yaml_docs(text, str(path))
    except yaml.YAMLError:  # broken YAML; over the parse limits raises InputError (exit 2)
        return []


def _read_bounded(path: Path) -> str:
    """A file a kustomization names, read like every lint file: a file over the size bound or
    one that is not a regular file is refused (InputError, exit 2) before it is read."""
    raw = read_bounded(path, what="file", limit=MAX_LINT_FILE_BYTES, hint=LINT_SIZE_HINT)
    return raw.decode("utf-8")


def _locate(doc: YamlDoc, sources: list[YamlDoc], fallback: str) -> YamlDoc:
    """The built document with the file, index and line table of the source it came from."""
    for src in sources:
        if src.kind == doc.kind and src.name and (doc.name == src.name or src.name in doc.name):
            return YamlDoc(src.file, src.index, src.line, doc.data, src.lines)
    return YamlDoc(fallback, doc.index, 1, doc.data, {})


# --- kustomizations built without kubectl ---------------------------------------------------------
#
# `kubectl kustomize` of a kustomization that only lists local resource files (and maybe sets a
# namespace) loads each document, sets metadata.namespace, sorts the documents in kustomize's
# "legacy" order and prints each as JSON converted to YAML: keys sorted, an empty
# metadata.annotations dropped, every scalar re-typed by go-yaml. `build_directly` does the same,
# but only where that is provably the same result: every scalar must mean the same to PyYAML and
# to go-yaml (a plain `yes`, `1e3`, `0755` or a date do not), no anchors, unique objects, known
# namespaced kinds when a namespace is set. Anything else returns None: kubectl builds it.

_MAX_DIRECT_BYTES = 1024 * 1024
_KUSTOMIZE_KEYS = frozenset({"apiVersion", "kind", "resources", "namespace"})
_KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
# Kinds kustomize's namespace transformer only touches at metadata.namespace (RoleBinding
# subjects, webhook services, APIService and CRD conversion have more field specs: kubectl).
_NAMESPACED = frozenset(
    {
        "ConfigMap",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "LeaderWorkerSet",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Pod",
        "PodDisruptionBudget",
        "PodMonitor",
        "ScaledObject",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
        "StatefulSet",
    }
)
# kustomize (api/resid, legacy sort): these kinds first, in this order; the webhooks last.
_ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
_ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_TYPE_ORDER = {k: i - len(_ORDER_FIRST) for i, k in enumerate(_ORDER_FIRST)} | {
    k: i + 1 for i, k in enumerate(_ORDER_LAST)
}
# Annotations kustomize uses internally and strips from its output.
_INTERNAL_ANNOTATIONS = ("config.kubernetes.io/", "internal.config.kubernetes.io/", "kustomize.")
_TAG = "tag:yaml.org,2002:"
_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})  # the same to both
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
# What go-yaml v3 reads as a number or a timestamp (after dropping underscores).
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")


def build_directly(kdir: Path) -> list[YamlDoc] | None:
    """The documents `kubectl kustomize kdir` prints, for a simple kustomization; else None."""
    names = [kdir / n for n in KUSTOMIZATION_NAMES if (kdir / n).is_file()]
    if len(names) != 1:
        return None
    kustomization = _safe_documents(names[0])
    if kustomization is None or len(kustomization) != 1:
        return None
    spec = kustomization[0]
    if not isinstance(spec, dict) or not set(spec) <= _KUSTOMIZE_KEYS:
        return None
    if spec.get("apiVersion", _KUSTOMIZE_API) != _KUSTOMIZE_API:
        return None
    namespace = spec.get("namespace")
    resources = spec.get("resources", [])
    if spec.get("kind", "Kustomization") != "Kustomization" or not isinstance(resources, list):
        return None
    if namespace is not None and (not isinstance(namespace, str) or not namespace):
        return None
    if len(set(map(str, resources))) != len(resources):
        return None
    objects: list[dict[str, Any]] = []
    for entry in resources:
        path = _local_file(kdir, entry)
        docs = _safe_documents(path) if path is not None else None
        if docs is None:
            return None
        objects += [d for d in docs if d is not None]
    built = _transform(objects, namespace)
    if built is None:
        return None
    return [YamlDoc(str(names[0]), i, 1, data, {}) for i, data in enumerate(built)]


def _local_file(kdir: Path, entry: Any) -> Path | None:
    """A resource entry naming a regular file inside the kustomization directory."""
    if not isinstance(entry, str) or not entry or "://" in entry:
        return None
    rel = PurePosixPath(entry)
    if rel.is_absolute() or ".." in rel.parts:
        return None
    path = kdir / rel
    if path.is_symlink() or not path.is_file():
        return None
    root = kdir.resolve()
    return path if root in path.resolve().parents else None


def _transform(objects: list[Any], namespace: str | None) -> list[dict[str, Any]] | None:
    """kustomize's output for these resource documents, or None where it would differ."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for obj in objects:
        if not isinstance(obj, dict):
            return None
        api, kind, meta = obj.get("apiVersion"), obj.get("kind"), obj.get("metadata")
        if not (isinstance(api, str) and api and isinstance(kind, str) and kind):
            return None
        if kind.endswith("List") or not isinstance(meta, dict):
            return None
        if not _nonempty(meta.get("name")):
            return None
        if "namespace" in meta and not _nonempty(meta["namespace"]):
            return None
        labels, notes = meta.get("labels", {}), meta.get("annotations", {})
        if not (_string_map(labels) and _string_map(notes)):  # kustomize re-types these
            return None
        if any(k.startswith(_INTERNAL_ANNOTATIONS) for k in notes):
            return None
        if (api, kind) in seen:  # one object per API and kind: no ties in the sort, no clashes
            return None
        seen.add((api, kind))
        if namespace is not None:
            if kind not in _NAMESPACED:
                return None
            obj = {**obj, "metadata": {**meta, "namespace": namespace}}
        # kustomize prints JSON turned into YAML: keys sorted at every level.
        data = json.loads(json.dumps(obj, sort_keys=True))
        if data["metadata"].get("annotations") == {}:
            del data["metadata"]["annotations"]
        out.append(data)
    return sorted(out, key=_legacy_order)


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _legacy_order(data: dict[str, Any]) -> tuple[int, str]:
    api, kind = str(data["apiVersion"]), str(data["kind"])
    group, _, version = api.rpartition("/")
    return _TYPE_ORDER.get(kind, 0), f"{group or '~G'}_{version or '~V'}_{kind}"


def _safe_documents(path: Path) -> list[Any] | None:
    """The documents of a YAML file when PyYAML and go-yaml read every scalar the same way."""
    try:
        if path.stat().st_size > _MAX_DIRECT_BYTES:  # kubectl (and its bounds) read big ones
            return None
        text = path.read_text(encoding="utf-8")
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        nodes = list(yaml.compose_all(text, Loader=loader))
        if not all(node is None or _same_for_go(node) for node in nodes):
            return None
        return [None if n is None else loader("").construct_document(n) for n in nodes]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None


def _same_for_go(root: yaml.Node) -> bool:
    """No aliases, no merge keys, no explicit or exotic tags, string keys, and every plain
    scalar read by go-yaml v3 (then printed through JSON) as PyYAML reads it."""
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias
            return False
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            if not _scalar_ok(node):
                return False
        elif isinstance(node, yaml.MappingNode):
            if node.tag != _TAG + "map":
                return False
            keys = [k for k, _ in node.value]
            if not all(isinstance(k, yaml.ScalarNode) and k.tag == _TAG + "str" for k in keys):
                return False
            if len({k.value for k in keys}) != len(keys):  # go-yaml refuses duplicate keys
                return False
            stack += _flatten(node.value)
        elif isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                return False
            stack += node.value
        else:
            return False
    return True


def _flatten(pairs: Iterable[tuple[yaml.Node, yaml.Node]]) -> list[yaml.Node]:
    return [n for pair in pairs for n in pair]


def _scalar_ok(node: yaml.ScalarNode) -> bool:
    tag, value = node.tag.removeprefix(_TAG), node.value
    if tag == "str":
        return _string_ok(value, plain=not node.style)
    if node.style:  # a quoted or block scalar tagged as something else
        return False
    if tag == "int":
        return bool(_DECIMAL.fullmatch(value)) and abs(int(value)) < 2**63
    if tag == "bool":
        return value in _BOOLS
    if tag == "null":
        return value in _NULLS
    return False  # floats (1.0 prints as 1), timestamps, binary, merge keys, custom tags


def _string_ok(value: str, *, plain: bool) -> bool:
    """A string to PyYAML: is it one to go-yaml v3 too, and does the YAML kustomize prints for
    it (go-yaml v2 quotes what it would read as another type) read back as this string?"""
    if value in ("=", "<<") or _GO_DATE.match(value):  # v2 may print these unquoted
        return False
    if not plain or value[:1] not in "-+.0123456789<":
        return True
    if value.lower() in (".inf", "-.inf", "+.inf", ".nan"):
        return False
    bare = value.replace("_", "")
    return not (_GO_INT.fullmatch(bare) or _GO_FLOAT.fullmatch(bare))
