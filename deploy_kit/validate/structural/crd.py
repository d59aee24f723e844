"""Custom resources validated against their CRD's openAPIV3Schema, unknown fields as errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from deploy_kit.errors import InputError
from deploy_kit.validate.documents import (
    MAX_LINT_FILE_BYTES,
    SCHEMA_HINTS,
    YamlDoc,
    json_path,
    no_kind_finding,
    no_schema_finding,
    parse_yaml_docs,
)
from deploy_kit.validate.findings import Finding
from deploy_kit.yamlio import read_bounded


def crd_validate_docs(docs: Sequence[YamlDoc], crd_paths: Sequence[Path]) -> list[Finding]:
    """Custom resources against their CRD's openAPIV3Schema, unknown fields as errors.

    A document whose group and kind no given CRD defines gets a "no schema" warning; pass only
    custom resources here (validate_manifests routes built-ins to kubernetes-validate)."""
    registry = load_crds(crd_paths)
    findings: list[Finding] = []
    for doc in docs:
        findings.extend(crd_validate_one(doc, registry))
    return findings


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD with its ready-to-use validator."""

    name: str
    deprecated: bool
    validator: Any  # jsonschema validator; typed Any because jsonschema ships no stubs here


CrdRegistry = dict[tuple[str, str], dict[str, CrdVersion]]


# CRDs shipped inside the package (sources and pinned versions in crds/SOURCES.md).
BUNDLED_CRD_DIR = Path(__file__).resolve().parents[1] / "crds"


def bundled_crds() -> list[Path]:
    """The CRD files deploy-kit ships, in a stable order."""
    return sorted(BUNDLED_CRD_DIR.glob("*.yaml"))


def bundled_crds_for(docs: Sequence[YamlDoc]) -> list[Path]:
    """The bundled CRD files whose API group some document uses.

    Bundled files keep controller-gen's name, `<group>_<plural>.yaml`, so the group is known
    without parsing: a lint run only pays for the schemas it needs (the KServe CRD alone takes
    about 2 s to load)."""
    groups = {doc.api_version.rpartition("/")[0] for doc in docs if "/" in doc.api_version}
    return [p for p in bundled_crds() if p.name.partition("_")[0] in groups]


def load_crds(paths: Sequence[Path]) -> CrdRegistry:
    """(group, kind) -> version -> validator, from CRD files (multi-doc and List files too)."""
    registry: CrdRegistry = {}
    for path in paths:
        stat = path.stat() if path.exists() else None  # a FIFO is refused when read
        if stat is None:
            raise InputError(f"CRD file {path} does not exist")
        for key, versions in _load_crd_file(str(path.resolve()), stat.st_mtime_ns).items():
            registry.setdefault(key, {}).update(versions)
    return registry


@lru_cache(maxsize=32)
def _load_crd_file(path: str, _mtime_ns: int) -> CrdRegistry:
    import jsonschema  # only CRD validation needs it; keep `import structural` light

    try:
        raw = read_bounded(Path(path), what="CRD file", limit=MAX_LINT_FILE_BYTES)
        docs = parse_yaml_docs(raw.decode("utf-8"), path)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read CRD file {path}: {exc}") from exc
    crds: list[dict[str, Any]] = []
    for doc in docs:
        data = doc.data
        if isinstance(data, dict) and data.get("kind", "").endswith("List"):
            crds.extend(i for i in data.get("items") or [] if isinstance(i, dict))
        elif isinstance(data, dict):
            crds.append(data)
    registry: CrdRegistry = {}
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            raise InputError(f"{path}: expected a CustomResourceDefinition, got {crd.get('kind')}")
        spec = crd.get("spec") or {}
        key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")))
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            converted = structural_to_jsonschema(schema, top=True)
            registry.setdefault(key, {})[str(version["name"])] = CrdVersion(
                name=str(version["name"]),
                deprecated=bool(version.get("deprecated")),
                validator=jsonschema.Draft4Validator(converted),
            )
    return registry


# ObjectMeta as a user may write it in a manifest; server-set fields are allowed, not checked.
_OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        **{
            k: {}
            for k in (
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            )
        },
    },
}


def structural_to_jsonschema(schema: Any, *, top: bool = False) -> Any:
    """A CRD's structural OpenAPI v3 schema as a strict JSON Schema (draft 4).

    Objects that list `properties` reject other keys (the API server would prune them
    silently) unless marked x-kubernetes-preserve-unknown-fields; int-or-string and nullable
    become type unions; top-level metadata is checked as ObjectMeta.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {k: structural_to_jsonschema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = structural_to_jsonschema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [structural_to_jsonschema(v) for v in value]
        elif key.startswith("x-kubernetes-") or key in ("format", "nullable"):
            continue  # handled below, or not a JSON Schema keyword
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if schema.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        for k in ("apiVersion", "kind"):
            props.setdefault(k, {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    props_in = schema.get("properties")
    if isinstance(out.get("required"), list) and isinstance(props_in, dict):
        # The API server applies a field's `default` before it validates, so a required field
        # with a default is never missing (KubeRay's workerGroupSpecs minReplicas/maxReplicas).
        kept = [
            r
            for r in out["required"]
            if not (isinstance(props_in.get(r), dict) and "default" in props_in[r])
        ]
        if kept:
            out["required"] = kept
        else:
            out.pop("required")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    if schema.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if top:
        props = out.setdefault("properties", {})
        props["metadata"] = _OBJECT_META
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
    return out


def crd_key(doc: YamlDoc) -> tuple[str, str]:
    group = doc.api_version.rpartition("/")[0]
    return group, doc.kind


def crd_validate_one(doc: YamlDoc, registry: CrdRegistry) -> list[Finding]:
    where = {"file": doc.file, "document": doc.index, "source": "crd"}
    if not doc.kind or not doc.api_version:
        return [no_kind_finding(doc, "crd")]
    versions = registry.get(crd_key(doc))
    if versions is None:
        return [no_schema_finding(doc, "no CRD given for", "crd")]
    version = doc.api_version.rpartition("/")[2]
    crd_version = versions.get(version)
    if crd_version is None:
        return [
            Finding(
                rule="crd-schema",
                severity="error",
                message=f"{doc.kind} {doc.name!r}: {doc.api_version} is not a version of its "
                f"CRD (has {', '.join(sorted(versions))})",
                line=doc.line_of(["apiVersion"]),
                path="apiVersion",
                **where,
            )
        ]
    findings: list[Finding] = []
    if crd_version.deprecated:
        findings.append(
            Finding(
                rule="crd-schema/deprecated-version",
                severity="warning",
                message=f"{doc.kind} {doc.api_version} is deprecated by its CRD",
                line=doc.line_of(["apiVersion"]),
                path="apiVersion",
                **where,
            )
        )
    errors = []
    for err in crd_version.validator.iter_errors(doc.data):
        errors.extend(_describe_error(err))
    for path, message, validator in sorted(errors, key=lambda e: (json.dumps(e[0]), e[1])):
        findings.append(
            Finding(
                rule="crd-schema",
                severity="error",
                message=f"{doc.kind} {doc.name!r}: {message}",
                line=doc.line_of(path),
                path=json_path(path) or None,
                hint=SCHEMA_HINTS.get(validator),
                **where,
            )
        )
    return findings


def _describe_error(err: Any) -> list[tuple[list[str | int], str, str]]:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = set(err.schema.get("properties", {}))
        extras = sorted(k for k in err.instance if k not in known)
        if extras:
            return [([*path, k], f"unknown field {k!r}", "unknown-field") for k in extras]
    message = _without_value(err)
    if err.context:
        import jsonschema

        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            message = f"{message} ({_without_value(best)})"
    return [(path, message, str(err.validator))]


def _without_value(err: Any) -> str:
    """jsonschema's message minus the offending value: it may be a pasted secret."""
    message = str(err.message)
    shown = repr(err.instance)
    return "value" + message[len(shown) :] if message.startswith(shown) else message
