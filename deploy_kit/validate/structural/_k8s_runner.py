"""Validate Kubernetes documents (JSON on stdin) with kubernetes-validate's schemas; all errors."""

# Runs under the .tools/venv interpreter, which has kubernetes-validate but not deploy_kit:
# keep this file free of deploy_kit imports and of anything newer than Python 3.9.
from __future__ import annotations

import json
import re
import sys
from importlib import resources
from typing import Any

import jsonschema
from packaging.version import Version
from referencing import Registry, Resource

_SCHEMA_ROOT = "kubernetes-json-schema"


def main() -> int:
    """Read {"version", "strict", "docs": [{"id", "doc"}]}; print {"results": [...]}."""
    request = json.load(sys.stdin)
    try:
        schema_version = _schema_version(str(request["version"]))
    except ValueError as exc:
        json.dump({"fatal": str(exc)}, sys.stdout)
        return 2
    schema_dir = f"v{schema_version}-local{'-strict' if request.get('strict') else ''}"
    validators: dict[tuple[str, str], Any] = {}
    results = []
    for item in request["docs"]:
        results.append(_validate(item["id"], item["doc"], schema_dir, validators))
    json.dump(
        {"schema_version": schema_version, "schema_dir": schema_dir, "results": results},
        sys.stdout,
        sort_keys=True,
    )
    return 0


def _versions() -> list[str]:
    root = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT)
    found = {m.group(1) for e in root.iterdir() if (m := re.match(r"^v([\d.]+)-local", e.name))}
    return sorted(found, key=Version)


def _schema_version(desired: str) -> str:
    # Like kubernetes-validate: the newest schema set not newer than the requested minor.
    want = Version(desired.lstrip("v"))
    usable = [v for v in _versions() if Version(v).release[:2] <= want.release[:2]]
    if not usable:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {desired}")
    newest = _versions()[-1]
    if want.release[:2] > Version(newest).release[:2]:
        raise ValueError(f"kubernetes-validate supports Kubernetes up to {newest}, not {desired}")
    return usable[-1]


def _load(schema_dir: str, name: str) -> Any:
    ref = resources.files("kubernetes_validate").joinpath(_SCHEMA_ROOT, schema_dir, name)
    if not ref.is_file():
        return None
    return json.loads(ref.read_text(encoding="utf-8"))


def _validator(schema_dir: str, kind: str, api_version: str, cache: dict[Any, Any]) -> Any:
    key = (kind, api_version)
    if key not in cache:
        # rbac.authorization.k8s.io/v1 -> rbac-v1, the file naming kubernetes-validate uses.
        group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
        schema = _load(schema_dir, f"{kind.lower()}-{group_version}.json")
        if schema is None:
            cache[key] = None
        else:
            if "defs" not in cache:
                cache["defs"] = Resource.from_contents(_load(schema_dir, "_definitions.json"))
            registry = cache["defs"] @ (Resource.from_contents(schema) @ Registry())
            cache[key] = jsonschema.validators.Draft202012Validator(schema, registry=registry)
    return cache[key]


def _validate(doc_id: Any, doc: Any, schema_dir: str, cache: dict[Any, Any]) -> dict[str, Any]:
    if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
        return {"id": doc_id, "status": "no_kind", "errors": []}
    try:
        validator = _validator(schema_dir, str(doc["kind"]), str(doc["apiVersion"]), cache)
    except Exception as exc:  # a broken schema file must not hide the other documents
        return {"id": doc_id, "status": "error", "detail": repr(exc), "errors": []}
    if validator is None:
        return {"id": doc_id, "status": "no_schema", "errors": []}
    errors = []
    # validate() stops at the first error; iter_errors() yields every one.
    for err in validator.iter_errors(doc):
        errors.extend(_describe(err))
    errors.sort(key=lambda e: (json.dumps(e["path"]), e["message"]))
    return {"id": doc_id, "status": "ok" if not errors else "invalid", "errors": errors}


def _describe(err: Any) -> list[dict[str, Any]]:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = set(err.schema.get("properties", {}))
        extras = sorted(k for k in err.instance if k not in known)
        if extras:
            return [
                {
                    "path": [*path, k],
                    "message": f"unknown field {k!r}",
                    "validator": "unknown-field",
                }
                for k in extras
            ]
    message = _without_value(err)
    if err.context:
        # anyOf/oneOf (int-or-string, quantities): say what each alternative wanted.
        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            message = f"{message} ({_without_value(best)})"
    return [{"path": path, "message": message, "validator": str(err.validator)}]


def _without_value(err: Any) -> str:
    """jsonschema's message minus the offending value: it may be a pasted secret."""
    message = str(err.message)
    shown = repr(err.instance)
    return "value" + message[len(shown) :] if message.startswith(shown) else message


if __name__ == "__main__":
    sys.exit(main())
