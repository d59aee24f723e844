"""Server-side apply of a rendered bundle: pre-checks (CRDs, namespace, Secrets), then in order."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from deploy_kit.cluster.client import Connection, HttpStatusError, api_call, fatal_error, json_body
from deploy_kit.cluster.objects import (
    Bundle,
    ManifestObject,
    apply_order,
    as_map,
    as_maps,
    secret_references,
)
from deploy_kit.errors import DeployKitError, EnvironmentMissing, InputError
from deploy_kit.resources import LWS_GROUP
from deploy_kit.spec import Base

FIELD_MANAGER = "deploy-kit"
LWS_INSTALL = "https://lws.sigs.k8s.io/docs/installation/"

DryRun = Literal["none", "server", "client"]
Action = Literal["created", "changed", "unchanged", "planned", "failed", "skipped"]


class ApplyResult(Base):
    """What applying one object did."""

    kind: str = Field(description="Object kind")
    name: str = Field(description="Object name")
    namespace: str | None = Field(description="Namespace (None: cluster-scoped)")
    action: Action = Field(description="created, changed, unchanged, planned, failed, skipped")
    source: str = Field(description="File and document the object came from")
    detail: str = Field(default="", description="Why it failed or was skipped")


class ApplyFailure(Base):
    """The error that stopped an apply part-way."""

    message: str = Field(description="One line: what failed")
    hint: str | None = Field(default=None, description="What to do next")
    exit_code: int = Field(description="Exit code the CLI returns")


class ApplyReport(Base):
    """The result of applying a bundle."""

    bundle: str = Field(description="Bundle path")
    namespace: str = Field(description="Namespace of namespaced objects")
    dry_run: DryRun = Field(description="none, server or client")
    field_manager: str = Field(description="Server-side apply field manager")
    results: tuple[ApplyResult, ...] = Field(description="One per object, in apply order")
    warnings: tuple[str, ...] = Field(default=(), description="Checks that could not be made")
    failure: ApplyFailure | None = Field(default=None, description="Set when an object failed")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.action] = out.get(r.action, 0) + 1
        return out


def apply_bundle(
    bundle: Bundle,
    conn: Connection | None,
    *,
    namespace: str | None = None,
    dry_run: DryRun = "none",
    force_conflicts: bool = False,
) -> ApplyReport:
    """Server-side apply in dependency order after pre-checks; `conn` None only for client dry-run.

    Pre-check failures (missing CRD, namespace, Secret or key) raise EnvironmentMissing before
    anything is applied; a failure part-way is returned in `failure` with what ran before it.
    """
    ordered = apply_order(bundle.objects)
    ns = _target_namespace(bundle, namespace, conn.namespace if conn else "default")
    override = bool(namespace or bundle.namespace)
    if dry_run == "client" or conn is None:
        results = [_result(o, _namespace_of(o, ns, override), "planned") for o in ordered]
        return _report(bundle, ns, "client", results)
    kinds = _resolve_all(conn, ordered)
    problems = [k for k in kinds.values() if isinstance(k, str)]
    problems = list(dict.fromkeys(problems)) + _precheck(conn, ordered, ns)
    if problems:
        raise EnvironmentMissing(
            f"apply pre-checks failed ({len(problems)}): " + "; ".join(problems),
            hint="fix these in the cluster, then apply again; nothing was applied",
        )
    results = []
    pending: set[str] = set()
    failure: ApplyFailure | None = None
    for o in ordered:
        k = kinds[o.source]
        assert not isinstance(k, str)  # pre-checks refused every unresolved kind
        body, target = _placed(o, k, ns, override)
        if failure is not None:
            results.append(_result(o, target, "skipped", "an earlier object failed"))
            continue
        if dry_run == "server" and target in pending:
            note = f"not sent: namespace {target} does not exist until applied"
            results.append(_result(o, target, "created", note))
            continue
        try:
            before = _get(conn, k, o.name, target)
            after = _apply(conn, k, body, target, dry_run == "server", force_conflicts)
        except HttpStatusError as err:
            failure = _apply_failure(o, err)
            results.append(_result(o, target, "failed", failure.message))
            continue
        except DeployKitError as exc:
            failure = ApplyFailure(message=exc.message, hint=exc.hint, exit_code=int(exc.exit_code))
            results.append(_result(o, target, "failed", failure.message))
            continue
        if before is None:
            if o.kind == "Namespace" and dry_run == "server":
                pending.add(o.name)
            results.append(_result(o, target, "created"))
        else:
            same = _comparable(before) == _comparable(after)
            results.append(_result(o, target, "unchanged" if same else "changed"))
    return _report(bundle, ns, dry_run, results, failure)


_CORE_CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "Node"}


@dataclass(frozen=True)
class _Kind:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool


class _Resolver:
    """Kind -> REST resource; non-core groups through the server's discovery (CRD check)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.groups: dict[tuple[str, str], dict[str, _Kind] | None] = {}

    def resolve(self, o: ManifestObject) -> _Kind | str:
        """The resource, or a one-line reason the cluster does not serve it."""
        if not o.group:
            from kubernetes import client

            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", o.kind).lower()
            k = _Kind("", o.version, o.kind, snake, o.kind not in _CORE_CLUSTER_SCOPED)
            if o.version != "v1" or not hasattr(client.CoreV1Api, _core_method("patch", k)):
                return f"{o.api_version} {o.kind} is not a core Kubernetes kind deploy-kit applies"
            return k
        key = (o.group, o.version)
        if key not in self.groups:
            self.groups[key] = self._discover(o.group, o.version)
        kinds = self.groups[key]
        if kinds is None:
            return f"{o.kind} ({o.api_version}) is not served: its CRD is not installed"
        if o.kind not in kinds:
            return f"the cluster serves {o.api_version} but not kind {o.kind}"
        return kinds[o.kind]

    def _discover(self, group: str, version: str) -> dict[str, _Kind] | None:
        from kubernetes import client

        api = client.CustomObjectsApi(self.conn.api)
        action = f"discover {group}/{version}"
        try:
            doc = json_body(
                api_call(
                    self.conn, action, api.get_api_resources, group, version, _preload_content=False
                )
            )
        except HttpStatusError as err:
            if err.status == 404:
                return None
            raise fatal_error(self.conn, action, err) from None
        out: dict[str, _Kind] = {}
        for r in as_maps(doc.get("resources")):
            name, kind = r.get("name"), r.get("kind")
            if isinstance(name, str) and "/" not in name and isinstance(kind, str):
                out[kind] = _Kind(group, version, kind, name, bool(r.get("namespaced")))
        return out


def _resource_call(
    conn: Connection,
    k: _Kind,
    verb: Literal["read", "patch"],
    name: str,
    ns: str | None,
    *body: dict[str, Any],
    **opts: Any,
) -> dict[str, Any]:
    """GET or PATCH one object through the typed core API or the generic custom-object API."""
    from kubernetes import client

    if not k.group:
        fn = getattr(client.CoreV1Api(conn.api), _core_method(verb, k))
        args: tuple[Any, ...] = (name, ns, *body) if k.namespaced else (name, *body)
    else:
        scope = "namespaced" if k.namespaced else "cluster"
        custom = "get" if verb == "read" else "patch"
        fn = getattr(client.CustomObjectsApi(conn.api), f"{custom}_{scope}_custom_object")
        where = (ns,) if k.namespaced else ()
        args = (k.group, k.version, *where, k.plural, name, *body)
    action = f"{verb} {k.kind}/{name}"
    return dict(json_body(api_call(conn, action, fn, *args, _preload_content=False, **opts)))


def _core_method(verb: str, k: _Kind) -> str:
    return f"{verb}_namespaced_{k.plural}" if k.namespaced else f"{verb}_{k.plural}"


def _get(conn: Connection, k: _Kind, name: str, ns: str | None) -> dict[str, Any] | None:
    try:
        return _resource_call(conn, k, "read", name, ns)
    except HttpStatusError as err:
        if err.status == 404:
            return None
        raise fatal_error(conn, f"read {k.kind}/{name}", err) from None


def _apply(
    conn: Connection, k: _Kind, body: dict[str, Any], ns: str | None, dry: bool, force: bool
) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "field_manager": FIELD_MANAGER,
        "_content_type": "application/apply-patch+yaml",
    }
    if dry:
        opts["dry_run"] = "All"
    if force:
        opts["force"] = True
    return _resource_call(conn, k, "patch", body["metadata"]["name"], ns, body, **opts)


_VOLATILE = ("resourceVersion", "generation", "managedFields", "creationTimestamp", "uid")


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "status"}
    meta = dict(as_map(out.get("metadata")))
    for key in _VOLATILE:
        meta.pop(key, None)
    out["metadata"] = meta
    return out


def _target_namespace(bundle: Bundle, flag: str | None, default: str) -> str:
    if flag:
        for o in bundle.objects:
            if o.namespace and o.namespace != flag and o.kind != "Namespace":
                raise InputError(
                    f"{o.source}: {o.ref} is in namespace {o.namespace} but --namespace {flag} "
                    "was given",
                    hint="drop --namespace, or remove metadata.namespace from the manifest",
                )
        return flag
    if bundle.namespace:
        return bundle.namespace
    written = {o.namespace for o in bundle.objects if o.namespace and o.kind != "Namespace"}
    return written.pop() if len(written) == 1 else default


def _placed(
    o: ManifestObject, k: _Kind, ns: str, override: bool
) -> tuple[dict[str, Any], str | None]:
    body = copy.deepcopy(o.body)
    if not k.namespaced:
        body["metadata"].pop("namespace", None)
        return body, None
    target = ns if override or not o.namespace else o.namespace
    body["metadata"]["namespace"] = target
    return body, target


def _precheck(conn: Connection, objects: Sequence[ManifestObject], ns: str) -> list[str]:
    """Missing namespace and secrets: problems, each with what to run."""
    from kubernetes import client

    core = client.CoreV1Api(conn.api)
    problems: list[str] = []
    creates_ns = any(o.kind == "Namespace" and o.name == ns for o in objects)
    ns_exists = True
    if not creates_ns:
        try:
            api_call(conn, f"read namespace {ns}", core.read_namespace, ns, _preload_content=False)
        except HttpStatusError as err:
            if err.status == 404:
                ns_exists = False
                problems.append(
                    f"namespace {ns} does not exist (kubectl create namespace {ns}, or pass "
                    "--namespace)"
                )
            elif err.status != 403:  # namespace-scoped users may not read namespaces
                raise fatal_error(conn, f"read namespace {ns}", err) from None
    in_bundle = {o.name for o in objects if o.kind == "Secret"}
    checked: dict[str, set[str] | None] = {}
    for ref in secret_references(objects):
        if ref.name in in_bundle:
            continue
        if ref.name not in checked:
            checked[ref.name] = _secret_keys(conn, core, ref.name, ns) if ns_exists else None
        keys = checked[ref.name]
        create = f"kubectl -n {ns} create secret generic {ref.name} --from-literal=KEY=VALUE"
        if keys is None:
            problems.append(
                f"Secret {ref.name} (used by {ref.used_by}) not found in {ns}: {create}"
            )
            checked[ref.name] = set()  # report once
        elif ref.key and keys and ref.key not in keys:
            problems.append(
                f"Secret {ref.name} has no key {ref.key!r} (used by {ref.used_by}); it has "
                f"{', '.join(sorted(keys))}"
            )
    return problems


def _secret_keys(conn: Connection, core: Any, name: str, ns: str) -> set[str] | None:
    action = f"read Secret {name}"
    try:
        doc = json_body(
            api_call(conn, action, core.read_namespaced_secret, name, ns, _preload_content=False)
        )
    except HttpStatusError as err:
        if err.status == 404:
            return None
        raise fatal_error(conn, action, err) from None
    return set(as_map(doc.get("data"))) | set(as_map(doc.get("stringData")))


def _resolve_all(conn: Connection, objects: Sequence[ManifestObject]) -> dict[str, _Kind | str]:
    """Each object's resource, or why the cluster cannot take it (missing CRD: how to install)."""
    resolver = _Resolver(conn)
    out: dict[str, _Kind | str] = {}
    for o in objects:
        k = resolver.resolve(o)
        if isinstance(k, str) and o.group == LWS_GROUP:
            k += f" (install LeaderWorkerSet: {LWS_INSTALL})"
        out[o.source] = k
    return out


def _namespace_of(o: ManifestObject, ns: str, override: bool) -> str | None:
    if not o.group and o.kind in _CORE_CLUSTER_SCOPED:
        return None
    return ns if override or not o.namespace else o.namespace


def _result(o: ManifestObject, ns: str | None, action: Action, detail: str = "") -> ApplyResult:
    return ApplyResult(
        kind=o.kind, name=o.name, namespace=ns, action=action, source=o.source, detail=detail
    )


def _report(
    bundle: Bundle,
    ns: str,
    dry_run: DryRun,
    results: list[ApplyResult],
    failure: ApplyFailure | None = None,
) -> ApplyReport:
    return ApplyReport(
        bundle=bundle.path,
        namespace=ns,
        dry_run=dry_run,
        field_manager=FIELD_MANAGER,
        results=tuple(results),
        failure=failure,
    )


def _apply_failure(o: ManifestObject, err: HttpStatusError) -> ApplyFailure:
    msg = f"{o.source}: applying {o.ref} failed: {err.message}"
    if err.status == 409:
        return ApplyFailure(
            message=msg,
            hint="another field manager owns these fields; rerun with --force-conflicts to take "
            "them over",
            exit_code=2,
        )
    code = 4 if err.status in (401, 403) or err.status >= 500 else 2
    return ApplyFailure(message=msg, exit_code=code)
