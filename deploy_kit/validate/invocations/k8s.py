"""Containers of Kubernetes workloads (pods, controllers, LeaderWorkerSets) with their context."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from deploy_kit.errors import InputError
from deploy_kit.validate.documents import YamlDoc
from deploy_kit.validate.invocations.base import (
    Container,
    DeclaredLayout,
    EnvVar,
    GpuRequest,
    LwsRole,
    Probe,
    ProbeKind,
    RayRole,
    ServeLlm,
    Shm,
    Where,
    expand_k8s,
    find_vllm,
    looks_like_program,
    runs_vllm_server,
)
from deploy_kit.vllm.argv import SERVE
from deploy_kit.yamlio import parse_yaml

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
_ACCELERATORS = ("/gpu", "google.com/tpu")
# Kubernetes probe defaults (core/v1 Probe).
_PROBE_PERIOD_S = 10
_PROBE_FAILURES = 3


def k8s_containers(docs: Sequence[YamlDoc], version: str) -> list[Container]:
    """Every container of every pod template in `docs`."""
    out: list[Container] = []
    for doc in docs:
        for pod_path, place in _pod_specs(doc):
            pod = _get(doc.data, pod_path)
            if isinstance(pod, dict):
                out.extend(_pod_containers(doc, pod_path, pod, place, version))
        out.extend(_kserve_model(doc, version))
    return out


def _kserve_model(doc: YamlDoc, version: str) -> list[Container]:
    """KServe InferenceService `spec.predictor.model`: a container (args, env, resources) that
    KServe merges into its ServingRuntime's; walked for the env, secret and GPU rules."""
    path: tuple[str | int, ...] = ("spec", "predictor", "model")
    predictor, model = _get(doc.data, path[:2]), _get(doc.data, path)
    if doc.kind != "InferenceService" or not _is_map(predictor) or not _is_map(model):
        return []
    volumes = {
        str(v.get("name")): (i, v)
        for i, v in enumerate(_list(predictor.get("volumes")))
        if _is_map(v)
    }
    place = Place()
    return [_container(doc, path, path[:2], predictor, model, volumes, place, version, first=True)]


@dataclass(frozen=True)
class Place:
    """Where a pod template sits in its workload: LWS role, Ray role, pods per group, layout."""

    lws: LwsRole | None = None
    ray: Literal["head", "worker"] | None = None  # KubeRay groups: the first container
    ray_how: str = ""
    # KubeRay writes the Ray container's command itself (`ray start ...`, then the command
    # given, if any): the image's ENTRYPOINT does not run there.
    replaces_entrypoint: bool = False
    # KubeRay mounts an emptyDir (medium Memory) at /dev/shm in the Ray container unless
    # rayStartParams sets plasma-directory (ray-operator/controllers/ray/common/pod.go, v1.7.0).
    kuberay_shm: bool = False
    ray_num_gpus: int | None = None  # rayStartParams num-gpus: what the node offers Ray
    serve_llm: tuple[ServeLlm, ...] = ()
    pods: int | None = 1
    max_pods: int | None = 1  # the most pods an autoscaler may give it (None: unbounded)
    declared: DeclaredLayout | None = None
    env: tuple[tuple[str, str], ...] = ()  # variables the controller injects, known values


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


def _pod_specs(doc: YamlDoc) -> Iterator[tuple[tuple[str | int, ...], Place]]:
    data = doc.data
    if not isinstance(data, dict):
        return
    kind = doc.kind
    if kind == "Pod":
        yield ("spec",), Place()
    elif kind == "CronJob":
        yield ("spec", "jobTemplate", "spec", "template", "spec"), Place()
    elif kind == "LeaderWorkerSet":
        yield from _lws_specs(doc)
    elif kind in _RAY_CLUSTER_AT:
        yield from _ray_specs(doc, _RAY_CLUSTER_AT[kind])
    elif kind == "LLMInferenceService":
        yield from _llmisvc_specs(doc)
    elif kind in ("ServingRuntime", "ClusterServingRuntime"):
        # The runtime's pod fields sit inline in spec; workerSpec adds Ray worker pods
        # (KServe multi-node serving), whose count KServe derives: not known here.
        multi = isinstance(_get(data, ("spec", "workerSpec")), dict)
        head = Place(ray="head", ray_how="KServe workerSpec") if multi else Place()
        yield ("spec",), head
        if multi:
            worker = Place(ray="worker", ray_how="KServe workerSpec", pods=None, max_pods=None)
            yield ("spec", "workerSpec"), worker
    elif kind == "InferenceService":
        yield ("spec", "predictor"), Place()
        if isinstance(_get(data, ("spec", "predictor", "workerSpec")), dict):
            yield ("spec", "predictor", "workerSpec"), Place(pods=None, max_pods=None)
    elif kind in _TEMPLATE_KINDS or isinstance(_get(data, ("spec", "template", "spec")), dict):
        yield ("spec", "template", "spec"), Place()


def _lws_specs(doc: YamlDoc) -> Iterator[tuple[tuple[str | int, ...], Place]]:
    base: tuple[str | int, ...] = ("spec", "leaderWorkerTemplate")
    template = _get(doc.data, base)
    if not isinstance(template, dict):
        return
    raw_size = template.get("size", 1)
    size = as_int(raw_size)
    size_where = _where(doc, (*base, "size") if "size" in template else base)
    # LeaderWorkerSet injects LWS_GROUP_SIZE into every pod of the group (with
    # LWS_LEADER_ADDRESS and LWS_WORKER_INDEX, which differ per group or pod).
    env = (("LWS_GROUP_SIZE", str(size)),) if size is not None else ()
    if isinstance(template.get("leaderTemplate"), dict):
        workers = size - 1 if size is not None else None
        yield (*base, "leaderTemplate", "spec"), Place(LwsRole("leader", size, size_where), env=env)
        yield (
            (*base, "workerTemplate", "spec"),
            Place(LwsRole("worker", size, size_where), pods=workers, max_pods=workers, env=env),
        )
    else:
        yield (
            (*base, "workerTemplate", "spec"),
            Place(LwsRole("both", size, size_where), pods=size, max_pods=size, env=env),
        )


# Where the RayCluster spec sits in each kind that embeds one: KubeRay RayCluster, RayService
# (rayClusterConfig) and RayJob (rayClusterSpec); AIBrix RayClusterFleet (template.spec).
_RAY_CLUSTER_AT: dict[str, tuple[str, ...]] = {
    "RayCluster": ("spec",),
    "RayService": ("spec", "rayClusterConfig"),
    "RayJob": ("spec", "rayClusterSpec"),
    "RayClusterFleet": ("spec", "template", "spec"),
}


def _ray_specs(
    doc: YamlDoc, base: tuple[str, ...]
) -> Iterator[tuple[tuple[str | int, ...], Place]]:
    cluster = _get(doc.data, base)
    if not isinstance(cluster, dict):
        return
    if isinstance(_get(cluster, ("headGroupSpec", "template", "spec")), dict):
        yield (
            (*base, "headGroupSpec", "template", "spec"),
            Place(
                ray="head",
                ray_how=f"{doc.kind} headGroupSpec",
                replaces_entrypoint=True,
                kuberay_shm=_kuberay_shm(cluster.get("headGroupSpec")),
                ray_num_gpus=_ray_num_gpus(cluster.get("headGroupSpec")),
                serve_llm=_serve_llm(doc) if doc.kind == "RayService" else (),
            ),
        )
    groups = cluster.get("workerGroupSpecs")
    autoscaling = cluster.get("enableInTreeAutoscaling") is True
    for i, group in enumerate(groups if isinstance(groups, list) else []):
        if not _is_map(group) or not isinstance(_get(group, ("template", "spec")), dict):
            continue
        fewest, most = _ray_pods(group, autoscaling)
        yield (
            (*base, "workerGroupSpecs", i, "template", "spec"),
            Place(
                ray="worker",
                ray_how=f"{doc.kind} workerGroupSpecs[{i}]",
                pods=fewest if fewest == most else None,
                max_pods=most,
                replaces_entrypoint=True,
                kuberay_shm=_kuberay_shm(group),
                ray_num_gpus=_ray_num_gpus(group),
            ),
        )


def _ray_num_gpus(group: Any) -> int | None:
    """rayStartParams num-gpus: KubeRay passes it to `ray start`, overriding the GPU limit."""
    params = group.get("rayStartParams") if _is_map(group) else None
    value = params.get("num-gpus") if _is_map(params) else None
    count = as_int(value) if value is not None else None
    return count if count is not None and count >= 0 else None


def _serve_llm(doc: YamlDoc) -> tuple[ServeLlm, ...]:
    """The models of Ray Serve LLM apps in a RayService's serveConfigV2 (a YAML string):
    engine_kwargs tensor/pipeline/data_parallel_size (vLLM's defaults, 1) and the fewest
    replicas (deployment_config num_replicas, else autoscaling_config min_replicas, Serve's
    default 1). Ray docs: serve/llm, LLMConfig."""
    text = _get(doc.data, ("spec", "serveConfigV2"))
    if not isinstance(text, str):
        return ()
    try:
        config = parse_yaml(text, origin=f"{doc.file} serveConfigV2")
    except InputError:
        return ()
    where = _where(doc, ("spec", "serveConfigV2"))
    out: list[ServeLlm] = []
    apps = config.get("applications") if _is_map(config) else None
    for app in apps if isinstance(apps, list) else []:
        llm_configs = _get(app, ("args", "llm_configs"))
        for llm in llm_configs if isinstance(llm_configs, list) else []:
            found = _serve_llm_one(llm, where)
            if found is not None:
                out.append(found)
    return tuple(out)


def _serve_llm_one(llm: Any, where: Where) -> ServeLlm | None:
    if not _is_map(llm):
        return None  # a path to a config file: not read here
    engine = llm.get("engine_kwargs") or {}
    deploy = llm.get("deployment_config") or {}
    if not _is_map(engine) or not _is_map(deploy):
        return None
    sizes = [
        as_int(engine.get(key, 1))
        for key in ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size")
    ]
    auto = deploy.get("autoscaling_config")
    if "num_replicas" in deploy:
        replicas = as_int(deploy["num_replicas"])  # "auto" is not a count
    else:
        replicas = as_int(auto.get("min_replicas", 1)) if _is_map(auto) else 1
    if replicas is None or any(size is None or size < 1 for size in sizes):
        return None
    tp, pp, dp = (size or 1 for size in sizes)
    model = str(_get(llm, ("model_loading_config", "model_id")) or "?")
    return ServeLlm(model, tp * pp * dp, replicas, where)


def _kuberay_shm(group: Any) -> bool:
    params = group.get("rayStartParams") if _is_map(group) else None
    return not (_is_map(params) and "plasma-directory" in params)


# KubeRay's CRD defaults (ray.io_rayclusters.yaml, v1.7.0): replicas 0, minReplicas 0,
# maxReplicas 2147483647 (no bound), numOfHosts 1.
_RAY_MAX_REPLICAS = 2147483647


def _ray_pods(group: dict[str, Any], autoscaling: bool) -> tuple[int | None, int | None]:
    """(fewest, most) pods of a KubeRay worker group. Without the autoscaler: replicas clamped
    to [minReplicas, maxReplicas], x numOfHosts, 0 when suspended (ray-operator utils
    GetWorkerGroupDesiredReplicas, v1.7.0); with it, anything from minReplicas to maxReplicas.
    None where a value is not a number, or maxReplicas is unbounded."""
    if group.get("suspend") is True:
        return 0, 0
    replicas = as_int(group.get("replicas", 0))
    low = as_int(group.get("minReplicas", 0))
    high = as_int(group.get("maxReplicas", _RAY_MAX_REPLICAS))
    hosts = as_int(group.get("numOfHosts", 1))
    if replicas is None or low is None or high is None or hosts is None:
        return None, None
    most = high * hosts if high < _RAY_MAX_REPLICAS else None
    if autoscaling:
        return low * hosts, most
    desired = min(max(replicas, low), high) * hosts
    return desired, desired


def _llmisvc_specs(doc: YamlDoc) -> Iterator[tuple[tuple[str | int, ...], Place]]:
    """KServe LLMInferenceService: template (and worker, for data parallelism over a
    LeaderWorkerSet), the same under prefill; KServe writes the vLLM command from
    `parallelism` (config/llmisvcconfig/config-llm-template.yaml: --tensor-parallel-size only;
    config-llm-worker-data-parallel.yaml: TP plus --data-parallel-size(-local) per pod)."""
    for base in (("spec",), ("spec", "prefill")):
        section = _get(doc.data, base)
        if not _is_map(section):
            continue
        multi = _is_map(section.get("worker"))
        declared = _declared(doc, base, section, multi)
        for key in ("template", "worker"):
            if _is_map(section.get(key)):
                pods = 1 if key == "template" else None
                yield (*base, key), Place(pods=pods, max_pods=pods, declared=declared)


def _declared(
    doc: YamlDoc, base: tuple[str, ...], section: dict[str, Any], multi: bool
) -> DeclaredLayout | None:
    par = section.get("parallelism")
    if not _is_map(par):
        return None
    if as_int(par.get("pipeline", 1)) not in (None, 1):
        return None  # KServe's pipeline-parallel path is Ray's: counted elsewhere, not here
    tensor, data = as_int(par.get("tensor", 1)), as_int(par.get("data", 1))
    local = as_int(par.get("dataLocal", 1))
    if tensor is None or data is None or local is None or min(tensor, data, local) < 1:
        return None
    return DeclaredLayout(tensor, data, local, multi, _where(doc, (*base, "parallelism")))


def _pod_containers(
    doc: YamlDoc,
    pod_path: tuple[str | int, ...],
    pod: dict[str, Any],
    place: Place,
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
            # KubeRay runs Ray in the pod's first container; the others are sidecars.
            first = field_name == "containers" and index == 0
            yield _container(doc, path, pod_path, pod, spec, volumes, place, version, first=first)


def _container(
    doc: YamlDoc,
    path: tuple[str | int, ...],
    pod_path: tuple[str | int, ...],
    pod: dict[str, Any],
    spec: dict[str, Any],
    volumes: Mapping[str, tuple[int, dict[str, Any]]],
    place: Place,
    version: str,
    *,
    first: bool,
) -> Container:
    env = _env(doc, path, spec)
    shm = _shm(doc, path, pod_path, pod, spec, volumes)
    known = dict(place.env)
    known |= {v.name: v.value for v in env if v.value is not None and "$" not in v.value}
    image = spec.get("image")
    image = str(image) if image is not None else None
    entry_image = None if (place.replaces_entrypoint and first) else image
    tokens, wheres, program_in_args = _argv(doc, path, spec, entry_image, env, dict(place.env))
    found = find_vllm(tokens, wheres, version=version, env=known)
    name = spec.get("name", path[-1])
    label = f"{doc.kind or 'object'}/{doc.name or '?'} container {name}"
    lws = place.lws
    if lws is not None and lws.role != "both":
        label += f" ({lws.role})"
    ray = found.ray
    if ray is None and place.ray is not None and first:
        ray = RayRole(place.ray, place.ray_how, _where(doc, pod_path), None, place.ray_num_gpus)
    elif place.ray is not None and first and ray is not None:
        gpus = ray.num_gpus if ray.num_gpus is not None else place.ray_num_gpus
        ray = RayRole(place.ray, ray.how, ray.where, ray.cluster_size, gpus)
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
        shm=_kuberay(doc, pod_path, spec)
        if (place.kuberay_shm and first and not shm.present)
        else shm,
        probes=_probes(doc, path, spec),
        lws=lws,
        host_network=bool(pod.get("hostNetwork")),
        vllm=found.call,
        argv=tuple(tokens),
        argv_wheres=tuple(wheres),
        shell_error=found.shell_error,
        group=f"{doc.file}#{doc.index}",
        service=str(name),
        ray=ray,
        pods=place.pods,
        max_pods=place.max_pods,
        serve_llm=place.serve_llm if first else (),
        declared=place.declared if first else None,
        program_in_args=program_in_args,
    )


def _argv(
    doc: YamlDoc,
    path: tuple[str | int, ...],
    spec: dict[str, Any],
    image: str | None,
    env: Sequence[EnvVar],
    injected: Mapping[str, str],
) -> tuple[list[str], list[Where], Where | None]:
    """The process argv (image ENTRYPOINT `vllm serve` + args for vLLM images without a
    command), and where args repeat a program that ENTRYPOINT already runs."""
    tokens: list[str] = []
    wheres: list[Where] = []
    command = _list(spec.get("command"))
    args = _list(spec.get("args"))
    program_in_args = None
    first = str(args[0]) if args and not isinstance(args[0], dict | list) else ""
    if not command and runs_vllm_server(image, first):
        if looks_like_program(first):
            # `vllm serve python3 -m ...`: the image's ENTRYPOINT is already the server, so
            # args that name a program are a mistake; read them as the command meant.
            program_in_args = _where(doc, (*path, "args", 0))
        else:
            tokens += list(SERVE)
            wheres += [_where(doc, (*path, "image"))] * len(SERVE)
    expandable = [*env, *(EnvVar(k, v, Where(doc.file)) for k, v in injected.items())]
    for key, items in (("command", command), ("args", args)):
        for i, item in enumerate(items):
            if isinstance(item, dict | list) or item is None:
                continue
            tokens.append(expand_k8s(str(item), expandable))
            wheres.append(_where(doc, (*path, key, i)))
    return tokens, wheres, program_in_args


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
            # GPUs (nvidia.com/gpu, amd.com/gpu, ...) and TPU chips (google.com/tpu): vLLM runs
            # one rank per device on either.
            if str(key).endswith(_ACCELERATORS):
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


def _kuberay(doc: YamlDoc, pod_path: tuple[str | int, ...], spec: dict[str, Any]) -> Shm:
    """The /dev/shm KubeRay adds: sized to the container's memory limit, else its request, else
    unbounded (ray-operator pod.go makeEmptyDirVolume / findMemoryReqOrLimit, v1.7.0)."""
    resources = spec.get("resources")
    size = None
    for section in ("limits", "requests"):
        values = resources.get(section) if _is_map(resources) else None
        if _is_map(values) and values.get("memory") is not None:
            size = quantity_bytes(values["memory"])
            break
    how = "emptyDir medium Memory that KubeRay mounts"
    return Shm(True, size, how, _where(doc, pod_path))


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
