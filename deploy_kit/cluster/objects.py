"""Pure functions over Kubernetes objects: bundle reading, apply order, Secret refs, pod stage."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from deploy_kit.errors import InputError
from deploy_kit.spec import Base
from deploy_kit.yamlio import parse_yaml, read_text

__all__ = [
    "Bundle",
    "ManifestObject",
    "PodStatus",
    "SecretRef",
    "apply_order",
    "bundle_selectors",
    "load_bundle",
    "pod_status",
    "secret_references",
]


def one_line(text: object, limit: int = 240) -> str:
    """Whitespace collapsed to single spaces and cut to `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def as_map(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (manifests are checked by the server)."""
    return value if isinstance(value, dict) else {}


def as_maps(value: Any) -> list[Mapping[str, Any]]:
    """The mappings in `value` if it is a list, else none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- data ---------------------------------------------------------------------------------------


class ManifestObject(Base):
    """One Kubernetes object read from a bundle."""

    source: str = Field(description="File and document number, e.g. deployment.yaml#1")
    api_version: str = Field(description="apiVersion, e.g. apps/v1")
    kind: str = Field(description="kind, e.g. Deployment")
    name: str = Field(description="metadata.name")
    namespace: str | None = Field(default=None, description="metadata.namespace as written")
    body: dict[str, Any] = Field(description="The object as written")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


class Bundle(Base):
    """The objects of a rendered bundle, in file order."""

    path: str = Field(description="Directory or file the bundle was read from")
    objects: tuple[ManifestObject, ...] = Field(description="Objects in file order")
    namespace: str | None = Field(default=None, description="kustomization.yaml namespace")


class SecretRef(Base):
    """A Secret a workload references and that must exist before it starts."""

    name: str = Field(description="Secret name")
    key: str | None = Field(default=None, description="Key the reference needs, if one")
    used_by: str = Field(description="Object and field that references it")


class PodStatus(Base):
    """One pod of the workload and the vLLM startup stage it is in."""

    pod: str = Field(description="Pod name")
    node: str | None = Field(description="Node it runs on (None: not scheduled)")
    phase: str = Field(description="Pod phase")
    ready: str = Field(description="Ready containers / containers")
    restarts: int = Field(description="Container restarts")
    stage: str = Field(description="scheduling, pulling image, loading model, serving, ...")
    detail: str = Field(default="", description="The event or status message behind the stage")


# --- bundles ------------------------------------------------------------------------------------

_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_KUSTOMIZE_KEYS = {"apiVersion", "kind", "metadata", "resources", "namespace"}
_DOC_START = re.compile(r"^---(?:[ \t]+(.*))?$")


def _split_documents(text: str) -> Iterator[tuple[int, str]]:
    """(first line index, text) of each YAML document; text padded so line numbers hold."""
    start, lines = 0, []
    for i, line in enumerate(text.splitlines()):
        m = _DOC_START.match(line)
        if m is None:
            lines.append(line)
            continue
        yield start, "\n" * start + "\n".join(lines)
        rest = (m.group(1) or "").strip()
        start, lines = i, ([rest] if rest and not rest.startswith("#") else [""])
    yield start, "\n" * start + "\n".join(lines)


def _manifests(file: Path, label: str) -> list[ManifestObject]:
    text = read_text(file, what="manifest")
    out: list[ManifestObject] = []
    for number, (_, doc) in enumerate(_split_documents(text), start=1):
        data = parse_yaml(doc, origin=label)
        if data is None:
            continue
        here = f"{label}#{number}"
        items = data.get("items") if isinstance(data, dict) else None
        is_list = isinstance(data, dict) and str(data.get("kind", "")).endswith("List")
        if is_list and isinstance(items, list):
            docs = [(f"{here}.items[{i}]", item) for i, item in enumerate(items)]
        else:
            docs = [(here, data)]
        out.extend(_manifest(where, item) for where, item in docs)
    return out


def _manifest(where: str, data: Any) -> ManifestObject:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a Kubernetes object (a mapping), got {data!r:.40}")
    api_version, kind = data.get("apiVersion"), data.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
        raise InputError(
            f"{where}: not a Kubernetes object (apiVersion and kind missing)",
            hint="pass the directory of a rendered kubernetes bundle",
        )
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: {kind} has no metadata.name")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    if ns is not None and not isinstance(ns, str):
        raise InputError(f"{where}: metadata.namespace must be a string")
    return ManifestObject(
        source=where, api_version=api_version, kind=kind, name=name, namespace=ns, body=data
    )


def load_bundle(path: Path, *, _depth: int = 0) -> Bundle:
    """A bundle directory (resources of kustomization.yaml, else every *.yaml) or one file."""
    if not path.exists():
        raise InputError(
            f"bundle {path} does not exist",
            hint="render one: deploy-kit render --target kubernetes --out DIR",
        )
    if path.is_file():
        return Bundle(path=str(path), objects=tuple(_manifests(path, path.name)))
    if _depth > 8:
        raise InputError(f"{path}: kustomization resources nest too deeply")
    kfile = next((path / k for k in _KUSTOMIZATIONS if (path / k).is_file()), None)
    nested = path / "kubernetes"  # `render --out DIR` writes the bundle to DIR/kubernetes
    if (
        kfile is None
        and _depth == 0
        and nested.is_dir()
        and not any(p.suffix in (".yaml", ".yml") for p in path.iterdir())
    ):
        return load_bundle(nested, _depth=1)
    namespace: str | None = None
    objects: list[ManifestObject] = []
    if kfile is None:
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            raise InputError(f"{path} holds no YAML files", hint="pass a rendered bundle directory")
        for f in files:
            objects.extend(_manifests(f, f.name))
    else:
        namespace, resources = _kustomization(kfile)
        for entry in resources:
            target = path / entry
            if target.is_dir():
                sub = load_bundle(target, _depth=_depth + 1)
                for o in sub.objects:
                    update = {"source": f"{entry}/{o.source}"}
                    if sub.namespace and o.kind != "Namespace":
                        update["namespace"] = sub.namespace
                    objects.append(o.model_copy(update=update))
            elif target.is_file():
                objects.extend(_manifests(target, entry))
            else:
                raise InputError(f"{kfile}: resource {entry!r} does not exist in {path}")
    if not objects:
        raise InputError(f"{path}: no Kubernetes objects found")
    _check_duplicates(objects)
    return Bundle(path=str(path), objects=tuple(objects), namespace=namespace)


def _kustomization(kfile: Path) -> tuple[str | None, list[str]]:
    data = parse_yaml(read_text(kfile, what="kustomization"), origin=str(kfile)) or {}
    if not isinstance(data, dict):
        raise InputError(f"{kfile}: expected a mapping")
    extra = sorted(set(data) - _KUSTOMIZE_KEYS)
    if extra:
        raise InputError(
            f"{kfile}: uses kustomize features deploy-kit apply does not implement: "
            f"{', '.join(map(str, extra))}",
            hint=f"apply it with: kubectl apply --server-side -k {kfile.parent}",
        )
    namespace = data.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise InputError(f"{kfile}: namespace must be a string")
    resources = data.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise InputError(f"{kfile}: resources must be a list of file names")
    for r in resources:
        if "://" in r or r.startswith(("github.com/", "git@")) or Path(r).is_absolute():
            raise InputError(f"{kfile}: resource {r!r} is not a local relative path")
    return namespace, resources


def _check_duplicates(objects: Sequence[ManifestObject]) -> None:
    seen: dict[tuple[str, str, str | None, str], str] = {}
    for o in objects:
        key = (o.group, o.kind, o.namespace, o.name)
        if key in seen:
            raise InputError(f"{o.source}: {o.ref} is defined twice (also in {seen[key]})")
        seen[key] = o.source


# Dependency order: what others need first; unknown kinds (PDB, HPA, monitors) go last.
_RANK = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "ServiceAccount": 2,
    "Role": 2,
    "ClusterRole": 2,
    "RoleBinding": 3,
    "ClusterRoleBinding": 3,
    "Secret": 4,
    "ConfigMap": 4,
    "PersistentVolume": 5,
    "PersistentVolumeClaim": 5,
    "Deployment": 6,
    "StatefulSet": 6,
    "DaemonSet": 6,
    "LeaderWorkerSet": 6,
    "Job": 6,
    "Pod": 6,
    "Service": 7,
}


def apply_order(objects: Sequence[ManifestObject]) -> list[ManifestObject]:
    """Namespace, access, config and secrets, PVCs, workloads, Services, then the rest."""
    return sorted(objects, key=lambda o: _RANK.get(o.kind, 8))


def _pod_specs(o: ManifestObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    spec = as_map(o.body.get("spec"))
    if o.kind == "Pod":
        yield o.ref, spec
    elif o.kind == "LeaderWorkerSet":
        lwt = as_map(spec.get("leaderWorkerTemplate"))
        for role in ("leaderTemplate", "workerTemplate"):
            yield f"{o.ref} {role}", as_map(as_map(lwt.get(role)).get("spec"))
    elif o.kind == "CronJob":
        job = as_map(as_map(spec.get("jobTemplate")).get("spec"))
        yield o.ref, as_map(as_map(job.get("template")).get("spec"))
    elif "template" in spec:
        yield o.ref, as_map(as_map(spec.get("template")).get("spec"))


def secret_references(objects: Sequence[ManifestObject]) -> list[SecretRef]:
    """Secrets the workloads need (optional references left out), in the order found."""
    refs: list[SecretRef] = []
    for o in objects:
        for where, pod in _pod_specs(o):
            for c in [*as_maps(pod.get("initContainers")), *as_maps(pod.get("containers"))]:
                cname = c.get("name", "?")
                for env in as_maps(c.get("env")):
                    ref = as_map(as_map(env.get("valueFrom")).get("secretKeyRef"))
                    if ref.get("name") and not ref.get("optional"):
                        used = f"{where} container {cname} env {env.get('name')}"
                        refs.append(SecretRef(name=ref["name"], key=ref.get("key"), used_by=used))
                for src in as_maps(c.get("envFrom")):
                    ref = as_map(src.get("secretRef"))
                    if ref.get("name") and not ref.get("optional"):
                        used = f"{where} container {cname} envFrom"
                        refs.append(SecretRef(name=ref["name"], used_by=used))
            for vol in as_maps(pod.get("volumes")):
                sec = as_map(vol.get("secret"))
                if sec.get("secretName") and not sec.get("optional"):
                    used = f"{where} volume {vol.get('name')}"
                    refs.append(SecretRef(name=sec["secretName"], used_by=used))
                for src in as_maps(as_map(vol.get("projected")).get("sources")):
                    sec = as_map(src.get("secret"))
                    if sec.get("name") and not sec.get("optional"):
                        used = f"{where} volume {vol.get('name')}"
                        refs.append(SecretRef(name=sec["name"], used_by=used))
            for ips in as_maps(pod.get("imagePullSecrets")):
                if ips.get("name"):
                    refs.append(SecretRef(name=ips["name"], used_by=f"{where} imagePullSecrets"))
    return refs


def bundle_selectors(bundle: Bundle) -> list[str]:
    """Label selectors of the bundle's workloads' pods."""
    out: list[str] = []
    for o in bundle.objects:
        if o.kind == "LeaderWorkerSet":
            out.append(f"leaderworkerset.sigs.k8s.io/name={o.name}")
        elif o.kind in ("Deployment", "StatefulSet", "DaemonSet"):
            labels = as_map(as_map(as_map(o.body.get("spec")).get("selector")).get("matchLabels"))
            if labels:
                out.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return out


# --- status -------------------------------------------------------------------------------------

_PULL_ERRORS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}


def _event_time(e: Mapping[str, Any]) -> str:
    meta = as_map(e.get("metadata"))
    return str(e.get("lastTimestamp") or e.get("eventTime") or meta.get("creationTimestamp") or "")


def pod_status(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> PodStatus:
    """The vLLM startup stage of one pod from its status and its events (pure)."""
    meta, spec, status = (
        as_map(pod.get("metadata")),
        as_map(pod.get("spec")),
        as_map(pod.get("status")),
    )
    statuses = as_maps(status.get("containerStatuses"))
    total = len(as_maps(spec.get("containers"))) or len(statuses)
    ready_n = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    phase = str(status.get("phase") or "Unknown")
    evs = sorted(events, key=_event_time)
    last = {str(e.get("reason")): e for e in evs}
    stage, detail = _stage(meta, status, statuses, phase, last)
    return PodStatus(
        pod=str(meta.get("name") or "?"),
        node=spec.get("nodeName"),
        phase=phase,
        ready=f"{ready_n}/{total}",
        restarts=restarts,
        stage=stage,
        detail=one_line(detail, 200),
    )


def _stage(
    meta: Mapping[str, Any],
    status: Mapping[str, Any],
    statuses: list[Mapping[str, Any]],
    phase: str,
    last: Mapping[str, Mapping[str, Any]],
) -> tuple[str, str]:
    def msg(reason: str) -> str:
        return str(last[reason].get("message") or "") if reason in last else ""

    conditions = {c.get("type"): c for c in as_maps(status.get("conditions"))}
    if meta.get("deletionTimestamp"):
        return "terminating", ""
    if phase in ("Succeeded", "Failed"):
        return ("exited" if phase == "Succeeded" else "failed"), str(
            status.get("message") or status.get("reason") or ""
        )
    sched = as_map(conditions.get("PodScheduled"))
    if phase == "Pending" and sched.get("status") == "False":
        return "unschedulable", str(sched.get("message") or msg("FailedScheduling"))
    for c in statuses:
        waiting = as_map(as_map(c.get("state")).get("waiting"))
        reason = str(waiting.get("reason") or "")
        if reason in _PULL_ERRORS:
            return "image pull failed", str(waiting.get("message") or msg("Failed"))
        if reason == "CrashLoopBackOff":
            term = as_map(as_map(c.get("lastState")).get("terminated"))
            why = f"last exit {term.get('reason', '?')} (code {term.get('exitCode', '?')})"
            return "crash loop", why
        if reason in ("CreateContainerConfigError", "CreateContainerError"):
            return "container config error", str(waiting.get("message") or "")
    if phase == "Pending":
        init = as_maps(status.get("initContainerStatuses"))
        if any(not c.get("ready") for c in init) and init:
            return "init containers", ""
        if "FailedMount" in last:
            return "volume mount failed", msg("FailedMount")
        if "Pulling" in last and "Pulled" not in last:
            return "pulling image", msg("Pulling")
        if not sched:
            return "scheduling", ""
        return "creating container", ""
    if statuses and all(c.get("ready") for c in statuses):
        return "serving", ""
    if any(as_map(c.get("state")).get("running") and c.get("started") is False for c in statuses):
        return "loading model", msg("Unhealthy") or "startup probe not passing yet"
    if any(as_map(c.get("state")).get("running") for c in statuses):
        return "not ready", msg("Unhealthy") or "readiness probe not passing"
    return phase.lower(), ""
