"""Containers of Kubernetes workloads (pods, controllers, LeaderWorkerSets) with their context."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from deploy_kit.validate.documents import YamlDoc
from deploy_kit.validate.invocations import (
    Container,
    EnvVar,
    GpuRequest,
    LwsRole,
    Probe,
    ProbeKind,
    Shm,
    Where,
    expand_k8s,
    find_vllm,
    is_vllm_image,
)
from deploy_kit.vllm.argv import SERVE

_TEMPLATE_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}
)
_QUANTITY = re.compile(r"^\s*([0-9.]+(?:[eE][+-]?\d+)?)\s*([KMGTPE]i?|[kmunp]?)\s*$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: dict[str, float] = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
}
_DECIMAL |= {"E": 10**18, "m": 1e-3, "u": 1e-6, "n": 1e-9}
# Kubernetes probe defaults (core/v1 Probe).
_PROBE_PERIOD_S = 10
_PROBE_FAILURES = 3


def k8s_containers(docs: Sequence[YamlDoc], version: str) -> list[Container]:
    """Every container of every pod template in `docs`."""
    out: list[Container] = []
    for doc in docs:
        for pod_path, lws in _pod_specs(doc):
            pod = _get(doc.data, pod_path)
            if isinstance(pod, dict):
                out.extend(_pod_containers(doc, pod_path, pod, lws, version))
    return out


def quantity_bytes(value: Any) -> int | None:
    """A Kubernetes quantity ("9Gi", "512M", 1e9) in bytes; None when it does not parse."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    m = _QUANTITY.match(str(value))
    if m is None:
        return None
    try:
        number = float(m.group(1))
    except ValueError:
        return None
    unit = m.group(2)
    factor = _BINARY.get(unit) or _DECIMAL.get(unit)
    return None if factor is None else int(number * factor)


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


# --- walking workloads -------------------------------------------------------------------------


def _pod_specs(doc: YamlDoc) -> Iterator[tuple[tuple[str | int, ...], LwsRole | None]]:
    data = doc.data
    if not isinstance(data, dict):
        return
    kind = doc.kind
    if kind == "Pod":
        yield ("spec",), None
    elif kind == "CronJob":
        yield ("spec", "jobTemplate", "spec", "template", "spec"), None
    elif kind == "LeaderWorkerSet":
        yield from _lws_specs(doc)
    elif kind in _TEMPLATE_KINDS or isinstance(_get(data, ("spec", "template", "spec")), dict):
        yield ("spec", "template", "spec"), None


def _lws_specs(doc: YamlDoc) -> Iterator[tuple[tuple[str | int, ...], LwsRole | None]]:
    base: tuple[str | int, ...] = ("spec", "leaderWorkerTemplate")
    template = _get(doc.data, base)
    if not isinstance(template, dict):
        return
    raw_size = template.get("size", 1)
    size = as_int(raw_size)
    size_where = _where(doc, (*base, "size") if "size" in template else base)
    if isinstance(template.get("leaderTemplate"), dict):
        yield (*base, "leaderTemplate", "spec"), LwsRole("leader", size, size_where)
        yield (*base, "workerTemplate", "spec"), LwsRole("worker", size, size_where)
    else:
        yield (*base, "workerTemplate", "spec"), LwsRole("both", size, size_where)


def _pod_containers(
    doc: YamlDoc,
    pod_path: tuple[str | int, ...],
    pod: dict[str, Any],
    lws: LwsRole | None,
    version: str,
) -> Iterator[Container]:
    volumes = {
        str(v.get("name")): (i, v) for i, v in enumerate(_list(pod.get("volumes"))) if _is_map(v)
    }
    for field_name in ("initContainers", "containers"):
        for index, spec in enumerate(_list(pod.get(field_name))):
            if not _is_map(spec):
                continue
            path = (*pod_path, field_name, index)
            yield _container(doc, path, pod_path, pod, spec, volumes, lws, version)


def _container(
    doc: YamlDoc,
    path: tuple[str | int, ...],
    pod_path: tuple[str | int, ...],
    pod: dict[str, Any],
    spec: dict[str, Any],
    volumes: Mapping[str, tuple[int, dict[str, Any]]],
    lws: LwsRole | None,
    version: str,
) -> Container:
    env = _env(doc, path, spec)
    image = spec.get("image")
    image = str(image) if image is not None else None
    tokens, wheres = _argv(doc, path, spec, image, env)
    found = find_vllm(tokens, wheres, version=version)
    name = spec.get("name", path[-1])
    label = f"{doc.kind or 'object'}/{doc.name or '?'} container {name}"
    if lws is not None and lws.role != "both":
        label += f" ({lws.role})"
    return Container(
        source="kubernetes",
        file=doc.file,
        document=doc.index,
        label=label,
        workload_kind=doc.kind,
        where=_where(doc, path),
        image=image,
        image_where=_where(doc, (*path, "image")),
        env=(*env, *found.inline_env),
        env_complete=not spec.get("envFrom"),
        gpus=_gpus(doc, path, spec),
        shm=_shm(doc, path, pod_path, pod, spec, volumes),
        probes=_probes(doc, path, spec),
        lws=lws,
        host_network=bool(pod.get("hostNetwork")),
        vllm=found.call,
        argv=tuple(tokens),
        argv_wheres=tuple(wheres),
        shell_error=found.shell_error,
        group=f"{doc.file}#{doc.index}",
        service=str(name),
    )


def _argv(
    doc: YamlDoc,
    path: tuple[str | int, ...],
    spec: dict[str, Any],
    image: str | None,
    env: Sequence[EnvVar],
) -> tuple[list[str], list[Where]]:
    tokens: list[str] = []
    wheres: list[Where] = []
    command = _list(spec.get("command"))
    if not command and is_vllm_image(image):
        # The image's ENTRYPOINT is `vllm serve`; args are the server's arguments.
        tokens += list(SERVE)
        wheres += [_where(doc, (*path, "image"))] * len(SERVE)
    for key, items in (("command", command), ("args", _list(spec.get("args")))):
        for i, item in enumerate(items):
            if isinstance(item, dict | list) or item is None:
                continue
            tokens.append(expand_k8s(str(item), env))
            wheres.append(_where(doc, (*path, key, i)))
    return tokens, wheres


def _env(doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any]) -> list[EnvVar]:
    out: list[EnvVar] = []
    for i, item in enumerate(_list(spec.get("env"))):
        if not _is_map(item) or "name" not in item:
            continue
        value = item.get("value")
        literal = None if "valueFrom" in item else ("" if value is None else str(value))
        out.append(EnvVar(str(item["name"]), literal, _where(doc, (*path, "env", i, "value"))))
    return out


def _gpus(doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any]) -> GpuRequest | None:
    resources = spec.get("resources")
    if not _is_map(resources):
        return None
    for section in ("limits", "requests"):
        values = resources.get(section)
        if not _is_map(values):
            continue
        for key in sorted(values):
            if str(key).endswith("/gpu"):
                where = _where(doc, (*path, "resources", section, key))
                return GpuRequest(as_int(values[key]), where)
    return None


def _shm(
    doc: YamlDoc,
    path: tuple[str | int, ...],
    pod_path: tuple[str | int, ...],
    pod: dict[str, Any],
    spec: dict[str, Any],
    volumes: Mapping[str, tuple[int, dict[str, Any]]],
) -> Shm:
    if pod.get("hostIPC"):
        return Shm(True, None, "hostIPC", _where(doc, (*pod_path, "hostIPC")))
    for i, mount in enumerate(_list(spec.get("volumeMounts"))):
        if not _is_map(mount) or str(mount.get("mountPath", "")).rstrip("/") != "/dev/shm":
            continue
        where = _where(doc, (*path, "volumeMounts", i))
        found = volumes.get(str(mount.get("name")))
        if found is None:
            return Shm(True, None, "volume (not defined in the pod)", where)
        vol_index, volume = found
        empty = volume.get("emptyDir")
        if _is_map(empty):
            limit = empty.get("sizeLimit")
            size = quantity_bytes(limit) if limit is not None else None
            vol_where = _where(doc, (*pod_path, "volumes", vol_index, "emptyDir"))
            return Shm(True, size, f"emptyDir medium {empty.get('medium') or 'disk'}", vol_where)
        return Shm(True, None, "volume", where)
    return Shm(False, None, "runtime default", _where(doc, path))


def _probes(doc: YamlDoc, path: tuple[str | int, ...], spec: dict[str, Any]) -> tuple[Probe, ...]:
    out: list[Probe] = []
    kinds: tuple[tuple[str, ProbeKind, bool], ...] = (
        ("startupProbe", "startup", True),
        ("livenessProbe", "liveness", True),
        ("readinessProbe", "readiness", False),
    )
    for key, kind, kills in kinds:
        probe = spec.get(key)
        if not _is_map(probe):
            continue
        delay = as_int(probe.get("initialDelaySeconds", 0)) or 0
        period = as_int(probe.get("periodSeconds", _PROBE_PERIOD_S)) or _PROBE_PERIOD_S
        failures = as_int(probe.get("failureThreshold", _PROBE_FAILURES)) or _PROBE_FAILURES
        budget = float(delay + period * failures)
        out.append(Probe(kind, budget, kills, _where(doc, (*path, key))))
    return tuple(out)


def _where(doc: YamlDoc, path: tuple[str | int, ...]) -> Where:
    return Where(doc.file, doc.index, path, doc.line_of(path))


def _get(data: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return None
        elif not isinstance(data, dict):
            return None
        data = data[key] if isinstance(key, int) else data.get(key)
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_map(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict)
