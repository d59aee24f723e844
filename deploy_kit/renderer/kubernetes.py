"""Kubernetes target: Deployment or LeaderWorkerSet, Service, cache, PDB and options from a plan."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from deploy_kit.catalog import load_catalog
from deploy_kit.renderer import docker
from deploy_kit.renderer.context import GIB, RenderContext, header_lines
from deploy_kit.renderer.templating import render_template
from deploy_kit.resources import LWS_API
from deploy_kit.vllm import argv as vllm

LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
# LWS injects these into every container of a group; Kubernetes expands $(NAME) in args.
LWS_LEADER_ADDRESS = "LWS_LEADER_ADDRESS"
LWS_WORKER_INDEX = "LWS_WORKER_INDEX"
SHELL = ("/bin/sh", "-c")
HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
HF_HOME = "HF_HOME"
HOME = "HOME"
# Non-root pods (NVIDIA) run as the Dockerfile target's uid, with HOME on an emptyDir: vLLM,
# Triton, FlashInfer and torch.compile keep their caches under $HOME/.cache, and the image's
# HOME (/root) is not writable for that uid. fsGroup makes the model cache claim writable;
# OnRootMismatch chowns a big cache once instead of at every pod start.
NON_ROOT_ID = docker.NON_ROOT_UID
NON_ROOT_HOME = docker.NON_ROOT_HOME
FS_GROUP_CHANGE_POLICY = "OnRootMismatch"
COMPONENT = "app.kubernetes.io/component"
# app.kubernetes.io/name is the application (as the chart names it), instance this deployment:
# the same selector labels as `helm install <name> charts/deepseek-v4`.
APP_NAME = "deepseek-v4"
MANAGED_BY = "deploy-kit"

# Node label holding the GPU product: NVIDIA GPU feature discovery and AMD's node labeller.
PRODUCT_LABEL = {"nvidia": "nvidia.com/gpu.product", "amd": "amd.com/gpu.product-name"}
# Pods on the cluster network (no hostNetwork) talk through the CNI's interface, eth0 under
# every common CNI; NCCL and Gloo pick a wrong one (lo, docker0) when left to guess.
POD_INTERFACE = "eth0"
# NCCL_IB_HCA is a prefix filter: mlx5 matches every ConnectX port the RDMA device plugin
# passes in; without RDMA devices in the pod NCCL falls back to sockets on POD_INTERFACE.
IB_HCA_PREFIX = "mlx5"

# Host resources per pod (estimates; the planner has no host-side figures). CPU: one vLLM
# worker process per GPU needs ~4 cores to keep its GPU fed, plus ~4 for the API server and
# engine core (tokenising, scheduling, detokenising). The CPU limit is twice the request:
# start-up (weight loading, torch.compile, CUDA graphs) is CPU-bound for minutes.
CPU_BASE = 4
CPU_PER_GPU = 4
CPU_LIMIT_FACTOR = 2
# Memory (GiB): ~16 for the API server and engine core, ~16 per GPU worker (CUDA context,
# pinned staging buffers, compile caches), plus /dev/shm, which a memory-backed emptyDir charges
# to the pod. The limit adds the node's share of the weights: loading passes them through host
# memory (page cache, staging copies) once, and an OOM kill there would loop forever.
MEM_BASE_GIB = 16
MEM_PER_GPU_GIB = 16

READINESS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 5,
    "failureThreshold": 3,
}
LIVENESS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 30,
    "timeoutSeconds": 10,
    "failureThreshold": 3,
}
PROBE_TIMEOUT_S = 5
TERMINATION_GRACE_S = 60
# Autoscaling on the queue: from the planned engines up to twice as many.
AUTOSCALE_FACTOR = 2
WAITING_METRIC = "vllm:num_requests_waiting"
# prometheus-adapter's usual name for the metric above (colons are not allowed in its rules).
ADAPTER_METRIC = "vllm_num_requests_waiting"
WAITING_PER_ENGINE = "4"
# prometheus-operator's governing Service; edit it in scaledobject.yaml for another Prometheus.
PROMETHEUS_ADDRESS = "http://prometheus-operated.monitoring.svc:9090"
SCRAPE_INTERVAL = "30s"
SCRAPE_TIMEOUT = "10s"

CacheKind = Literal["pvc", "claimTemplate", "hostPath", "emptyDir"]


@dataclass(frozen=True)
class Role:
    """Container command and args of one pod role."""

    command: list[str]
    args: list[str]


@dataclass(frozen=True)
class EnvEntry:
    """One container env var: a literal, the pod IP, or a Secret key (never a secret value)."""

    name: str
    value: str | None = None
    field_path: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class Pod:
    """Everything one pod template places."""

    component: str
    labels: dict[str, str]
    role: Role
    env: list[EnvEntry]
    serves: bool
    requests: dict[str, str | int]
    limits: dict[str, str | int]
    capabilities_add: list[str]
    volumes: list[dict[str, Any]] = field(default_factory=list)


# --- what the kubernetes and helm targets share -------------------------------------------


def multi_node(ctx: RenderContext) -> bool:
    return ctx.plan.nodes > 1


def roles(ctx: RenderContext) -> dict[str, Role]:
    """leader (and worker for LWS) argv; LWS addressing through the variables LWS injects."""
    plan = ctx.plan
    ck = load_catalog().checkpoints[plan.checkpoint_id]
    if not multi_node(ctx):
        argv = vllm.serve_argv(plan, ck, 0, vllm.Addressing.concrete("127.0.0.1", 0, 0))
        return {"leader": _split_serve(argv)}
    head = f"$({LWS_LEADER_ADDRESS})"
    leader = vllm.serve_argv(
        plan, ck, 0, vllm.Addressing(head=head, node_rank="0", dp_start_rank="0")
    )
    if plan.multi_node == "data-parallel":
        # The start rank is index x ranks per node: arithmetic Kubernetes cannot do, so sh -c.
        start = f"$(({LWS_WORKER_INDEX} * {plan.data_parallel_local}))"
        addr = vllm.Addressing(
            head=f"${LWS_LEADER_ADDRESS}", node_rank=f"${LWS_WORKER_INDEX}", dp_start_rank=start
        )
        argv = ["exec", *vllm.serve_argv(plan, ck, None, addr)]
        worker = Role(command=list(SHELL), args=[vllm.shell_join(argv)])
    else:
        addr = vllm.Addressing(head=head, node_rank=f"$({LWS_WORKER_INDEX})", dp_start_rank="0")
        worker = _split_serve(vllm.serve_argv(plan, ck, None, addr))
    return {"leader": _split_serve(leader), "worker": worker}


def _split_serve(argv: list[str]) -> Role:
    n = len(vllm.SERVE)
    if tuple(argv[:n]) != vllm.SERVE:
        raise AssertionError(f"serve argv does not start with {' '.join(vllm.SERVE)}: {argv[:n]}")
    return Role(command=list(vllm.SERVE), args=argv[n:])


def literal_env(ctx: RenderContext) -> list[tuple[str, str]]:
    """Literal env of every vLLM pod: the planner's, plus the network settings of multi-node."""
    env = sorted(ctx.env.items())
    values = {name: POD_INTERFACE for name in vllm.NETWORK_IF_ENV}
    values[vllm.ENV_NCCL_IB_HCA] = IB_HCA_PREFIX
    for name in ctx.node_env:
        if name == vllm.ENV_HOST_IP:
            continue  # from the pod IP (fieldRef), not a literal
        if name not in values:
            raise AssertionError(f"no Kubernetes value for per-node variable {name}")
        env.append((name, values[name]))
    return env


def non_root(ctx: RenderContext) -> bool:
    """NVIDIA pods run as uid 10001; AMD keeps root (ROCm device group ids vary per host)."""
    return docker.non_root(ctx)


def cache_mount(ctx: RenderContext) -> str:
    """Where the model cache is mounted and HF_HOME points: under the non-root HOME."""
    return docker.hf_home(ctx)


def pod_security_context(ctx: RenderContext) -> dict[str, Any]:
    """Pod securityContext fields besides seccomp (the same as the chart's defaults)."""
    if not non_root(ctx):
        return {"runAsNonRoot": False}
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_ID,
        "runAsGroup": NON_ROOT_ID,
        "fsGroup": NON_ROOT_ID,
        "fsGroupChangePolicy": FS_GROUP_CHANGE_POLICY,
    }


def container_env(ctx: RenderContext) -> list[EnvEntry]:
    env = [EnvEntry(name=HF_HOME, value=cache_mount(ctx))]
    if non_root(ctx):
        env.append(EnvEntry(name=HOME, value=NON_ROOT_HOME))
    if multi_node(ctx):
        env.append(EnvEntry(name=vllm.ENV_HOST_IP, field_path="status.podIP"))
    for s in ctx.secrets:
        env.append(EnvEntry(name=s.env, secret_name=s.name, secret_key=s.key, optional=s.optional))
    env += [EnvEntry(name=k, value=v) for k, v in literal_env(ctx)]
    return env


def host_resources(ctx: RenderContext) -> tuple[dict[str, str], dict[str, str]]:
    """CPU and memory (requests, limits) of one pod from the constants above."""
    gpus = ctx.gpus_per_pod
    cpu = CPU_BASE + CPU_PER_GPU * gpus
    shm_gib = ctx.shm_bytes // GIB
    memory = MEM_BASE_GIB + MEM_PER_GPU_GIB * gpus + shm_gib
    weights = math.ceil(ctx.plan.memory["per_gpu"].weights_gib * gpus)
    requests = {"cpu": str(cpu), "memory": f"{memory}Gi"}
    limits = {"cpu": str(cpu * CPU_LIMIT_FACTOR), "memory": f"{memory + weights}Gi"}
    return requests, limits


def gpu_resources(ctx: RenderContext) -> tuple[dict[str, str | int], dict[str, str | int]]:
    """Requests and limits of one pod: host estimates plus the GPUs its engine ranks use."""
    requests, limits = host_resources(ctx)
    gpu: dict[str, str | int] = {ctx.gpu_resource: ctx.gpus_per_pod}
    return _sorted({**requests, **gpu}), _sorted({**limits, **gpu})


def _sorted(resources: dict[str, str | int]) -> dict[str, str | int]:
    return dict(sorted(resources.items()))


def capabilities_add(ctx: RenderContext) -> list[str]:
    # RDMA (NCCL's IB/RoCE transport) locks registered buffers in memory; only engines that
    # span nodes use the network, so one-node pods keep every capability dropped.
    return ["IPC_LOCK"] if multi_node(ctx) else []


def product_label(ctx: RenderContext) -> str:
    return PRODUCT_LABEL.get(ctx.gpu_vendor, PRODUCT_LABEL["nvidia"])


def node_affinity(ctx: RenderContext) -> dict[str, Any]:
    """Required node affinity on the GPU product label (any of the catalog's values)."""
    if not ctx.gpu_product_labels:
        return {}
    expression = {"key": product_label(ctx), "operator": "In", "values": ctx.gpu_product_labels}
    terms = [{"matchExpressions": [expression]}]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def tolerations(ctx: RenderContext) -> list[dict[str, str]]:
    return [{"key": ctx.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]


def startup_probe(ctx: RenderContext) -> dict[str, int]:
    return {
        "initialDelaySeconds": 0,
        "periodSeconds": ctx.probe_period_s,
        "timeoutSeconds": PROBE_TIMEOUT_S,
        "failureThreshold": ctx.probe_failure_threshold,
    }


def cache_kind(ctx: RenderContext) -> CacheKind:
    """pvc for one-node engines; a claim per pod (volumeClaimTemplates) for LWS groups."""
    if ctx.options.model_cache != "pvc":
        return ctx.options.model_cache
    return "claimTemplate" if multi_node(ctx) else "pvc"


def cache_access_modes(ctx: RenderContext) -> list[str]:
    # A per-pod claim or a single pod: ReadWriteOnce, which every block storage class offers.
    # Several Deployment pods (replicas or an autoscaler) may land on different nodes and
    # share the one claim: ReadWriteMany.
    shared = cache_kind(ctx) == "pvc" and (ctx.plan.replicas > 1 or autoscaled(ctx))
    return ["ReadWriteMany"] if shared else ["ReadWriteOnce"]


def autoscaled(ctx: RenderContext) -> bool:
    return ctx.options.autoscaling != "none"


def autoscale_bounds(ctx: RenderContext) -> tuple[int, int]:
    return ctx.plan.replicas, AUTOSCALE_FACTOR * ctx.plan.replicas


def keda_query(ctx: RenderContext) -> str:
    matchers = [f'model_name="{ctx.plan.model}"']
    if ctx.options.namespace:
        matchers.insert(0, f'namespace="{ctx.options.namespace}"')
    return f"sum({WAITING_METRIC}{{{','.join(matchers)}}})"


# --- the kubernetes target -----------------------------------------------------------------


def workload_name(ctx: RenderContext) -> str:
    # The LWS controller makes a headless Service named after the LWS: keep it off the API's.
    return f"{ctx.name}-lws" if multi_node(ctx) else ctx.name


def render(ctx: RenderContext) -> dict[str, str]:
    values = _values(ctx)
    files: dict[str, str] = {}
    kind = "leaderworkerset" if multi_node(ctx) else "deployment"
    parts = [kind, "service"]
    if cache_kind(ctx) == "pvc":
        parts.append("pvc")
    parts.append("pdb")
    if ctx.options.network_policy:
        parts.append("networkpolicy")
    if ctx.options.autoscaling == "hpa":
        parts.append("hpa")
    elif ctx.options.autoscaling == "keda":
        parts.append("scaledobject")
    if ctx.options.monitoring != "none":
        parts.append(ctx.options.monitoring)
    if ctx.options.smoke_job:
        parts.append("smoke-job")
    for part in parts:
        files[f"{part}.yaml"] = render_template(f"kubernetes/{part}.yaml.j2", **values)
    resources = list(files)
    files["kustomization.yaml"] = render_template(
        "kubernetes/kustomization.yaml.j2", resources=resources, **values
    )
    return files


def _values(ctx: RenderContext) -> dict[str, Any]:
    common = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": ctx.name,
        "app.kubernetes.io/version": ctx.plan.vllm_version,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": APP_NAME,
    }
    selector = {k: common[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
    service_selector = dict(selector)
    if multi_node(ctx):
        service_selector |= {LWS_NAME_LABEL: workload_name(ctx), LWS_INDEX_LABEL: "0"}
    requests, limits = gpu_resources(ctx)
    env = container_env(ctx)
    pods = [
        Pod(
            component=role,
            labels={**common, COMPONENT: role},
            role=spec,
            env=env,
            serves=role == "leader",
            requests=requests,
            limits=limits,
            capabilities_add=capabilities_add(ctx),
            volumes=_volumes(ctx),
        )
        for role, spec in roles(ctx).items()
    ]
    low, high = autoscale_bounds(ctx)
    affinity = node_affinity(ctx)
    return {
        "header": header_lines(ctx),
        "ctx": ctx,
        "app_name": ctx.name,
        "workload": workload_name(ctx),
        "namespace": ctx.options.namespace,
        "labels": common,
        "selector": selector,
        "service_selector": service_selector,
        "pods": pods,
        "replicas": None if autoscaled(ctx) else ctx.plan.replicas,
        "group_size": ctx.plan.nodes,
        "affinity_key": product_label(ctx) if affinity else None,
        "affinity_values": ctx.gpu_product_labels,
        "tolerations": tolerations(ctx),
        "startup": startup_probe(ctx),
        "readiness": READINESS,
        "liveness": LIVENESS,
        "health_path": HEALTH_PATH,
        "metrics_path": METRICS_PATH,
        "termination_grace_s": TERMINATION_GRACE_S,
        "cache_kind": cache_kind(ctx),
        "cache_claim": f"{ctx.name}-model-cache",
        "cache_size": f"{ctx.cache_size_gi}Gi",
        "cache_access_modes": cache_access_modes(ctx),
        "cache_shared": "ReadWriteMany" in cache_access_modes(ctx),
        "storage_class": ctx.options.storage_class,
        "multi_node": multi_node(ctx),
        "cache_mount": cache_mount(ctx),
        "pod_security": pod_security_context(ctx),
        "home": NON_ROOT_HOME if non_root(ctx) else None,
        "scale_target": {
            "apiVersion": LWS_API if multi_node(ctx) else "apps/v1",
            "kind": "LeaderWorkerSet" if multi_node(ctx) else "Deployment",
            "name": workload_name(ctx),
        },
        "min_replicas": low,
        "max_replicas": high,
        "adapter_metric": ADAPTER_METRIC,
        "waiting_per_engine": WAITING_PER_ENGINE,
        "prometheus_address": PROMETHEUS_ADDRESS,
        "keda_query": keda_query(ctx),
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_TIMEOUT,
        "waiting_metric": WAITING_METRIC,
        # The smoke Job's pod must not match the Service/PDB/NetworkPolicy selector.
        "smoke_labels": {
            **common,
            "app.kubernetes.io/name": f"{APP_NAME}-smoke",
            COMPONENT: "smoke-test",
        },
        "smoke_uid": NON_ROOT_ID,
        "smoke_backoff_limit": smoke_backoff_limit(ctx.probe_window_s),
        "smoke_resources": SMOKE_RESOURCES,
    }


# `deploy-kit smoke` peaks at 71 MiB resident (measured with /usr/bin/time -v against the
# recorded fake server); the chart's smoke.resources use the same figures.
SMOKE_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
# Job pod retries back off 10 s, 20 s, 40 s ... capped at 6 min (Kubernetes docs, "Pod backoff
# failure policy"); the smoke Job may start while the server still loads.
JOB_BACKOFF_FIRST_S = 10
JOB_BACKOFF_CAP_S = 360


def smoke_backoff_limit(window_s: int) -> int:
    """Retries whose back-off delays add up to the startup probe's window (the longest a
    healthy server may take to answer), plus one for a run after it."""
    retries, waited, delay = 0, 0, JOB_BACKOFF_FIRST_S
    while waited < window_s:
        waited += delay
        delay = min(2 * delay, JOB_BACKOFF_CAP_S)
        retries += 1
    return retries + 1


def _volumes(ctx: RenderContext) -> list[dict[str, Any]]:
    kind = cache_kind(ctx)
    if kind == "pvc":
        return [{"kind": "pvc", "claim": f"{ctx.name}-model-cache"}]
    if kind == "hostPath":
        return [{"kind": "hostPath", "path": ctx.options.host_cache_path}]
    if kind == "emptyDir":
        return [{"kind": "emptyDir", "size": f"{ctx.cache_size_gi}Gi"}]
    return []  # claimTemplate: LWS mounts the per-pod claim by name
